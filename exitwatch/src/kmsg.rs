//! The kernel log (/dev/kmsg), read from its end for the OOM killer's `oom-kill:` lines.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;

use tokio::io::unix::AsyncFd;

use crate::oom::{parse_kmsg, OomContext};

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
