//! The bench's children: stopped and reaped whatever happens, and what /proc says they use.

use std::{
    fs,
    process::{Child, Command, ExitStatus},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use crate::command::shown;

/// A child killed (SIGKILL) and reaped if it is still running when dropped, so a failed
/// bench leaves no tracer attached and no victim behind.
pub struct Guarded {
    pub child: Child,
    pub what: String,
}

impl Guarded {
    pub fn spawn(cmd: &mut Command, what: &str) -> Result<Guarded> {
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {what}: `{}`", shown(cmd)))?;
        Ok(Guarded {
            child,
            what: what.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGINT, the way a user stops a tracer; it then drains and reports what it still holds.
    pub fn interrupt(&self) -> Result<()> {
        let status = Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status()
            .context("running kill(1) to stop a child")?;
        if !status.success() {
            bail!("could not send SIGINT to {} ({})", self.what, self.pid());
        }
        Ok(())
    }

    pub fn wait_for(&mut self, limit: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("{} did not exit within {limit:?}", self.what);
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// What a process has used so far, all its threads together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub cpu_ns: u64,
    /// Times a thread was put on a CPU: each wakeup counts once.
    pub runs: u64,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
    /// What of `rss_kib` is the BPF maps mapped into the process: exitwatch's ring buffers
    /// (the kernel fills a ring's page table at mmap: its whole size counts, idle or not).
    pub maps_rss_kib: u64,
}

pub fn usage(pid: u32) -> Result<Usage> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let mut usage = Usage {
        rss_kib: status_kib(&status, "VmRSS:").unwrap_or(0),
        peak_rss_kib: status_kib(&status, "VmHWM:").unwrap_or(0),
        maps_rss_kib: fs::read_to_string(format!("/proc/{pid}/smaps"))
            .map(|s| bpf_maps_rss_kib(&s))
            .unwrap_or(0),
        ..Usage::default()
    };
    for task in fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        // A thread may end between the listing and the read.
        if let Some((cpu, runs)) = fs::read_to_string(path).ok().and_then(|t| schedstat(&t)) {
            usage.cpu_ns += cpu;
            usage.runs += runs;
        }
    }
    Ok(usage)
}

/// `VmRSS:   10240 kB` -> 10240.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix(key))?;
    line.split_whitespace().next()?.parse().ok()
}

/// The `Rss:` of every mapping of a BPF map in `/proc/PID/smaps`.
fn bpf_maps_rss_kib(smaps: &str) -> u64 {
    let mut in_map = false;
    let mut kib = 0;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if first.ends_with(':') {
            if in_map && first == "Rss:" {
                kib += words
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        } else if first.contains('-') {
            // A mapping's header: range, perms, offset, device, inode, then its name.
            in_map = line.trim_end().ends_with("anon_inode:bpf-map");
        }
    }
    kib
}

/// `/proc/PID/task/TID/schedstat`: ns on CPU, ns waiting, times run.
fn schedstat(text: &str) -> Option<(u64, u64)> {
    let mut words = text.split_whitespace();
    let cpu = words.next()?.parse().ok()?;
    let runs = words.nth(1)?.parse().ok()?;
    Some((cpu, runs))
}

/// CPU use between two samples, as a percentage of one CPU, and wakeups per second.
pub fn rates(before: &Usage, after: &Usage, elapsed: Duration) -> (f64, f64) {
    let secs = elapsed.as_secs_f64();
    let cpu = after.cpu_ns.saturating_sub(before.cpu_ns) as f64 / 1e9 / secs * 100.0;
    let runs = after.runs.saturating_sub(before.runs) as f64 / secs;
    (cpu, runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_formats() {
        let status = "Name:\texitwatch\nVmHWM:\t   12000 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(10240));
        assert_eq!(status_kib(status, "VmHWM:"), Some(12000));
        assert_eq!(status_kib(status, "VmSwap:"), None);
        assert_eq!(schedstat("1500000 200 7\n"), Some((1_500_000, 7)));
        let smaps = "\
7f78d71fc000-7f78d79fd000 r--s 00001000 00:0f 7  anon_inode:bpf-map
Size:               8196 kB
Rss:                8196 kB
7f78d89f6000-7f78d95b2000 r-xp 00000000 fd:01 12 /usr/bin/exitwatch
Size:              12016 kB
Rss:                5376 kB
7f78d79fd000-7f78d79fe000 rw-s 00000000 00:0f 7  anon_inode:bpf-map
Size:                  4 kB
Rss:                   4 kB
VmFlags: rd sh mr mw me ms sd
55556a09c000-55556b23a000 rw-p 00000000 00:00 0  [heap]
Rss:                 916 kB
";
        assert_eq!(bpf_maps_rss_kib(smaps), 8200);
        assert_eq!(bpf_maps_rss_kib(""), 0);
        assert_eq!(schedstat("1500000\n"), None);
    }

    #[test]
    fn rates_per_second() {
        let a = Usage {
            cpu_ns: 1_000_000_000,
            runs: 10,
            ..Usage::default()
        };
        let b = Usage {
            cpu_ns: 1_500_000_000,
            runs: 30,
            ..Usage::default()
        };
        let (cpu, runs) = rates(&a, &b, Duration::from_secs(10));
        assert!((cpu - 5.0).abs() < 1e-9);
        assert!((runs - 2.0).abs() < 1e-9);
    }
}
