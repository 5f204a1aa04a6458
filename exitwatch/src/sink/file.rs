//! The file output: appends events to a file from its own thread, rotating by size like
//! logrotate names its files: `PATH.1` is the newest rotated file, `PATH.<keep>` the oldest kept.
//!
//! Someone else may rotate (rename) or remove the file: at most every second the open file is
//! compared with what the path names (device and inode), and the path opened again when they
//! differ. The path is opened without following a symbolic link (`O_NOFOLLOW`): a link placed
//! there is refused, not written through. A full disk (ENOSPC) drops and counts events, the
//! part of a batch it took is cut off again, and writing resumes when space returns.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::spec::Rotation;
use super::Queue;

/// A file that rotates itself before it would grow past `rotation.max_size`.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    rotation: Rotation,
    file: File,
    /// Bytes written since the last flush, not yet in the file.
    pending: Vec<u8>,
    /// The file's size once `pending` is written.
    size: u64,
    /// The size it had at the last successful flush: a failed one cuts back to it.
    flushed: u64,
    /// Device and inode of the open file, to tell when the path names another one.
    id: (u64, u64),
    /// When the path was last compared with the open file.
    checked: Instant,
}

/// How often the path is compared with the open file, at most.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Pending bytes written out at once, at most, before more are gathered.
const CHUNK: usize = 64 * 1024;

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

/// Opens `path` for appending, never through a symbolic link; returns the file, its size and
/// its (device, inode).
fn open(path: &Path) -> io::Result<(File, u64, (u64, u64))> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => io::Error::other(
                "it is a symbolic link, which exitwatch does not follow: remove the link or give the real path",
            ),
            _ => e,
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("it is not a regular file"));
    }
    Ok((file, meta.len(), (meta.dev(), meta.ino())))
}

/// Whether `path` still names the file `id` (device, inode): not renamed away, removed, or
/// replaced (by a file or a link: `lstat`, links are not followed).
pub fn still_there(path: &Path, id: (u64, u64)) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == id)
}

impl RotatingFile {
    pub fn open(path: PathBuf, rotation: Rotation) -> io::Result<RotatingFile> {
        let (file, size, id) = open(&path)?;
        Ok(RotatingFile {
            path,
            rotation,
            file,
            pending: Vec::with_capacity(CHUNK),
            size,
            flushed: size,
            id,
            checked: Instant::now(),
        })
    }

    pub fn write(&mut self, line: &[u8]) -> io::Result<()> {
        if needs_rotation(self.size, line.len() as u64, self.rotation.max_size) {
            self.rotate()?;
        }
        self.pending.extend_from_slice(line);
        self.size += line.len() as u64;
        if self.pending.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes what is pending. On failure it is dropped (the caller counts it) and what part
    /// of it reached the file is cut off, so that the file holds whole events only.
    pub fn flush(&mut self) -> io::Result<()> {
        let result = self.file.write_all(&self.pending);
        self.pending.clear();
        match result {
            Ok(()) => self.flushed = self.size,
            Err(e) => {
                let _ = self.file.set_len(self.flushed);
                self.size = self.flushed;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Forgets what is pending: a batch that failed, already counted as dropped.
    fn discard(&mut self) {
        self.pending.clear();
        self.size = self.flushed;
    }

    /// At most every second: when the path no longer names the open file (rotated or removed
    /// by someone else), the path is opened again. True when it was.
    pub fn follow_path(&mut self, now: Instant) -> io::Result<bool> {
        if now.saturating_duration_since(self.checked) < CHECK_EVERY {
            return Ok(false);
        }
        self.checked = now;
        if still_there(&self.path, self.id) {
            return Ok(false);
        }
        self.reopen()?;
        Ok(true)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.flush()?;
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
        self.reopen()
    }

    /// Starts again on a fresh handle of the path (flushed first).
    fn reopen(&mut self) -> io::Result<()> {
        let (file, size, id) = open(&self.path)?;
        self.file = file;
        self.size = size;
        self.flushed = size;
        self.id = id;
        self.checked = Instant::now();
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

/// Appends every queued event, writing whenever the queue is empty. A failed batch is dropped
/// and counted; the next one tries a fresh handle.
fn write_all(mut queue: Queue, mut file: RotatingFile) {
    let mut failing = false;
    let mut batch = Vec::new();
    let mut next = queue.blocking_recv();
    while let Some(first) = next {
        batch.push(first);
        while let Some(next) = queue.try_recv() {
            batch.push(next);
        }
        let n = batch.len() as u64;
        let mut result = match failing {
            true => file.reopen(),
            false => file.follow_path(Instant::now()).map(drop),
        };
        for rec in &batch {
            result = result.and_then(|()| file.write(&rec.line));
        }
        let result = result.and_then(|()| file.flush());
        queue.settled(batch.len());
        queue.give_back(&mut batch);
        match result {
            Ok(()) => {
                queue.stats.sent.fetch_add(n, Relaxed);
                queue.stats.delivered();
                if failing {
                    eprintln!("exitwatch: output {}: writing again", queue.name());
                }
                failing = false;
            }
            Err(e) => {
                file.discard();
                queue.stats.dropped.fetch_add(n, Relaxed);
                let why = match e.raw_os_error() {
                    Some(libc::ENOSPC) => format!("{e}: free space on its filesystem"),
                    _ => e.to_string(),
                };
                if !failing {
                    eprintln!(
                        "exitwatch: warning: output {}: cannot write: {why}; events are dropped (and counted) until it works again",
                        queue.name()
                    );
                }
                queue.stats.set_error(Some(why));
                failing = true;
            }
        }
        next = queue.recv_after_write();
    }
}

#[cfg(test)]
mod tests;
