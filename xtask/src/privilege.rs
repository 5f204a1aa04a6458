//! Whether this process runs as root, read from /proc/self/status.

use anyhow::{Context as _, Result};

pub fn is_root() -> Result<bool> {
    let status = std::fs::read_to_string("/proc/self/status")
        .context("reading /proc/self/status to learn whether we run as root")?;
    effective_uid(&status)
        .map(|uid| uid == 0)
        .context("/proc/self/status has no readable `Uid:` line")
}

/// The effective uid: the second number of the `Uid:` line (real, effective, saved, fs).
fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::effective_uid;

    #[test]
    fn reads_the_effective_not_the_real_uid() {
        assert_eq!(
            effective_uid("Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t1\t1\t1\t1\n"),
            Some(0)
        );
        assert_eq!(effective_uid("Uid:\t0\t1000\t1000\t1000\n"), Some(1000));
        assert_eq!(effective_uid("Name:\tx\n"), None);
    }
}
