//! The file output: appends events to a file from its own thread, rotating by size like
//! logrotate names its files: `PATH.1` is the newest rotated file, `PATH.<keep>` the oldest kept.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::thread;

use tokio::sync::oneshot;

use super::spec::Rotation;
use super::Queue;

/// A file that rotates itself before it would grow past `rotation.max_size`.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    rotation: Rotation,
    out: BufWriter<File>,
    size: u64,
}

/// `PATH.n`.
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The renames of one rotation, oldest first, so that none overwrites a file still to move:
/// `PATH.(keep-1)` -> `PATH.keep`, ..., `PATH` -> `PATH.1`. Nothing to rename when keep is 0.
pub fn renames(path: &Path, keep: u32) -> Vec<(PathBuf, PathBuf)> {
    let mut plan: Vec<_> = (1..keep)
        .rev()
        .map(|n| (rotated(path, n), rotated(path, n + 1)))
        .collect();
    if keep > 0 {
        plan.push((path.to_owned(), rotated(path, 1)));
    }
    plan
}

/// Whether writing `len` more bytes to a file of `size` bytes needs a rotation first. A line
/// longer than the limit goes alone into a fresh file rather than nowhere.
pub fn needs_rotation(size: u64, len: u64, max_size: u64) -> bool {
    size > 0 && size.saturating_add(len) > max_size
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
}

impl RotatingFile {
    pub fn open(path: PathBuf, rotation: Rotation) -> io::Result<RotatingFile> {
        let file = open(&path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path,
            rotation,
            out: BufWriter::with_capacity(64 * 1024, file),
            size,
        })
    }

    pub fn write(&mut self, line: &[u8]) -> io::Result<()> {
        if needs_rotation(self.size, line.len() as u64, self.rotation.max_size) {
            self.rotate()?;
        }
        self.out.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.out.flush()?;
        for (from, to) in renames(&self.path, self.rotation.keep) {
            match fs::rename(&from, &to) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        if self.rotation.keep == 0 {
            match fs::remove_file(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        self.out = BufWriter::with_capacity(64 * 1024, open(&self.path)?);
        self.size = 0;
        Ok(())
    }

    /// After a failed write: start again on a fresh handle (the file may have been removed).
    fn reopen(&mut self) -> io::Result<()> {
        let file = open(&self.path)?;
        self.size = file.metadata()?.len();
        self.out = BufWriter::with_capacity(64 * 1024, file);
        Ok(())
    }
}

pub fn spawn(queue: Queue, file: RotatingFile, done: oneshot::Sender<()>) -> io::Result<()> {
    thread::Builder::new()
        .name("exitwatch-file".into())
        .spawn(move || {
            write_all(queue, file);
            drop(done);
        })
        .map(drop)
}

/// Appends every queued event, flushing whenever the queue is empty. A failed event is
/// dropped and counted; the next one tries a fresh handle.
fn write_all(mut queue: Queue, mut file: RotatingFile) {
    let mut failing = false;
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while let Some(next) = queue.try_recv() {
            batch.push(next);
        }
        let n = batch.len() as u64;
        let mut result = match failing {
            true => file.reopen(),
            false => Ok(()),
        };
        for rec in &batch {
            result = result.and_then(|()| file.write(&rec.line));
        }
        let result = result.and_then(|()| file.flush());
        queue.settled(batch.len());
        match result {
            Ok(()) => {
                queue.stats.sent.fetch_add(n, Relaxed);
                if failing {
                    eprintln!("exitwatch: output {}: writing again", queue.name());
                    queue.stats.set_error(None);
                }
                failing = false;
            }
            Err(e) => {
                queue.stats.dropped.fetch_add(n, Relaxed);
                if !failing {
                    eprintln!(
                        "exitwatch: warning: output {}: cannot write: {e}; events are dropped until it works again",
                        queue.name()
                    );
                }
                queue.stats.set_error(Some(e.to_string()));
                failing = true;
            }
        }
    }
}

#[cfg(test)]
mod tests;
