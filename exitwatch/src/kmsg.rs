//! The kernel log, read for the OOM killer's `oom-kill:` lines: from /dev/kmsg as a stream, or,
//! where that device is not allowed (a non-privileged pod), through syslog(2) with CAP_SYSLOG.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;

use crate::oom::{oom_lines, parse_kmsg, parse_syslog, OomContext};

/// At most this often, syslog(2) is read while an OOM kill waits for its line (a whole-buffer read).
const SYSLOG_GAP: Duration = Duration::from_millis(50);

/// The kernel log as the daemon reads it: /dev/kmsg as a stream; else, where a pod's device
/// cgroup denies that device, syslog(2) polled while an OOM kill waits for its line; else
/// nothing (and why).
pub enum KernelLog {
    Stream(Kmsg),
    Polled {
        log: Syslog,
        last: Instant,
    },
    Unreadable(String),
    /// Reading failed after it had worked (said once as a warning).
    Stopped,
}

impl KernelLog {
    pub fn open() -> Self {
        match Kmsg::open() {
            Ok(k) => KernelLog::Stream(k),
            Err(device) => match Syslog::open() {
                Ok(log) => KernelLog::Polled {
                    log,
                    last: Instant::now(),
                },
                Err(call) => {
                    KernelLog::Unreadable(format!("/dev/kmsg: {device}; syslog(2): {call}"))
                }
            },
        }
    }

    /// Why the kernel log cannot be read at all, when it cannot.
    pub fn unreadable(&self) -> Option<&str> {
        match self {
            KernelLog::Unreadable(why) => Some(why),
            _ => None,
        }
    }

    pub fn is_stream(&self) -> bool {
        matches!(self, KernelLog::Stream(_))
    }

    /// The stream's next OOM summaries (call only while [`KernelLog::is_stream`]); on an
    /// error the log is given up with a warning and nothing more comes.
    pub async fn next(&mut self) -> Vec<OomContext> {
        let KernelLog::Stream(kmsg) = self else {
            return std::future::pending().await;
        };
        match kmsg.next().await {
            Ok(lines) => lines,
            Err(e) => {
                eprintln!("exitwatch: warning: stopped reading /dev/kmsg: {e}");
                *self = KernelLog::Stopped;
                Vec::new()
            }
        }
    }

    /// Reads syslog(2) when that is how the log is read and `wanted` (an OOM kill waits for its
    /// line), at most every [`SYSLOG_GAP`] unless `now` (its wait is over).
    pub fn poll(&mut self, wanted: bool, now: bool) -> Vec<OomContext> {
        let KernelLog::Polled { log, last } = self else {
            return Vec::new();
        };
        if !wanted || (!now && last.elapsed() < SYSLOG_GAP) {
            return Vec::new();
        }
        *last = Instant::now();
        match log.poll() {
            Ok(lines) => lines,
            Err(e) => {
                eprintln!("exitwatch: warning: stopped reading the kernel log with syslog(2): {e}");
                *self = KernelLog::Stopped;
                Vec::new()
            }
        }
    }
}

pub struct Kmsg {
    fd: AsyncFd<File>,
}

impl Kmsg {
    /// Opens /dev/kmsg positioned after the existing records. Fails without CAP_SYSLOG when
    /// `kernel.dmesg_restrict` is set, or in a container without /dev/kmsg.
    pub fn open() -> io::Result<Self> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/kmsg")?;
        file.seek(SeekFrom::End(0))?;
        // SAFETY: the File owns its descriptor for as long as the AsyncFd owns the File.
        let fd = unsafe { AsyncFd::register_with_interest(file, tokio::io::Interest::READABLE) }
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Kmsg { fd })
    }

    /// Waits for records and returns the OOM summaries among them (possibly none).
    pub async fn next(&mut self) -> io::Result<Vec<OomContext>> {
        let mut guard = self.fd.readable_mut().await?;
        let mut found = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            // One read returns one record.
            match guard.get_inner_mut().read(&mut buf) {
                Ok(0) => break,
                Ok(n) => found.extend(parse_kmsg(&String::from_utf8_lossy(&buf[..n]))),
                // Records were overwritten before we read them: carry on from the next one.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    guard.clear_ready();
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }
}

/// The kernel log through syslog(2) (`klogctl`): CAP_SYSLOG is enough, no device needed. It is
/// not a stream: read the whole buffer when an OOM kill waits for its line (the kernel prints
/// the line before it sends the SIGKILL, so it is there by then).
pub struct Syslog {
    /// The `oom-kill:` lines the buffer held at the last read: not news at the next one.
    seen: HashSet<String>,
}

const SYSLOG_ACTION_READ_ALL: libc::c_int = 3;
const SYSLOG_ACTION_SIZE_BUFFER: libc::c_int = 10;

impl Syslog {
    /// Reads the log once (what is there is history) to check that it may be read at all.
    pub fn open() -> io::Result<Self> {
        let mut log = Syslog {
            seen: HashSet::new(),
        };
        log.poll()?;
        Ok(log)
    }

    /// The OOM summaries logged since the last read, oldest first.
    pub fn poll(&mut self) -> io::Result<Vec<OomContext>> {
        let text = read_all()?;
        let lines = oom_lines(&text);
        let found = lines
            .iter()
            .filter(|l| !self.seen.contains(**l))
            .filter_map(|l| parse_syslog(l))
            .collect();
        self.seen = lines.into_iter().map(str::to_owned).collect();
        Ok(found)
    }
}

/// The whole kernel log buffer, non-destructively (SYSLOG_ACTION_READ_ALL).
fn read_all() -> io::Result<String> {
    // SAFETY: SIZE_BUFFER takes no buffer.
    let size = unsafe { libc::klogctl(SYSLOG_ACTION_SIZE_BUFFER, std::ptr::null_mut(), 0) };
    if size < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; (size as usize).max(4096)];
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    let n = unsafe {
        libc::klogctl(
            SYSLOG_ACTION_READ_ALL,
            buf.as_mut_ptr().cast(),
            buf.len() as libc::c_int,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
