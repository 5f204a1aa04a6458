//! The kernel's own accounting of BPF programs: which programs a process attached (bpftool perf),
//! and their run counts and run time (kernel.bpf_stats_enabled, bpftool prog show).

use std::{fs, process::Command};

use anyhow::{Context as _, Result};

use crate::command::answer;

const SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// `kernel.bpf_stats_enabled=1` while alive; the value found is put back on drop.
pub struct StatsEnabled {
    previous: String,
}

impl StatsEnabled {
    pub fn enable() -> Result<StatsEnabled> {
        let previous = fs::read_to_string(SYSCTL)
            .with_context(|| format!("reading {SYSCTL} (kernel.bpf_stats_enabled)"))?;
        fs::write(SYSCTL, "1").with_context(|| format!("enabling BPF statistics in {SYSCTL}"))?;
        Ok(StatsEnabled {
            previous: previous.trim().to_owned(),
        })
    }
}

impl Drop for StatsEnabled {
    fn drop(&mut self) {
        if let Err(e) = fs::write(SYSCTL, &self.previous) {
            eprintln!(
                "bench: warning: could not restore kernel.bpf_stats_enabled={}: {e}",
                self.previous
            );
        }
    }
}

/// One program attached by a process, as `bpftool perf show` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attached {
    pub pid: u32,
    pub prog_id: u32,
    /// The tracepoint (or raw tracepoint) it is attached to.
    pub hook: String,
}

/// `pid 14505  fd 21: prog_id 1124  raw_tracepoint  signal_generate`
pub fn parse_perf_show(text: &str) -> Vec<Attached> {
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = |key: &str| words.iter().position(|w| *w == key);
            let pid = words.get(at("pid")? + 1)?.parse().ok()?;
            let prog_at = at("prog_id")?;
            Some(Attached {
                pid,
                prog_id: words.get(prog_at + 1)?.parse().ok()?,
                hook: words.get(prog_at + 3)?.to_string(),
            })
        })
        .collect()
}

/// The programs `pid` has attached now (empty when bpftool cannot tell).
pub fn attached_by(pid: u32) -> Vec<Attached> {
    attached().into_iter().filter(|a| a.pid == pid).collect()
}

/// Every program attached through a perf event or raw tracepoint now, whoever attached it.
pub fn attached() -> Vec<Attached> {
    let text = answer(Command::new("bpftool").args(["perf", "show"])).unwrap_or_default();
    parse_perf_show(&text)
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    pub run_time_ns: u64,
    pub run_cnt: u64,
}

impl RunStats {
    pub fn since(&self, before: &RunStats) -> RunStats {
        RunStats {
            run_time_ns: self.run_time_ns.saturating_sub(before.run_time_ns),
            run_cnt: self.run_cnt.saturating_sub(before.run_cnt),
        }
    }

    pub fn ns_per_run(&self) -> f64 {
        self.run_time_ns as f64 / self.run_cnt as f64
    }
}

/// `1124: tracing  name signal_generate  tag 0ac5...  gpl run_time_ns 140 run_cnt 1`; the
/// two counters are left out while a program has not run.
pub fn parse_prog_show(text: &str) -> RunStats {
    let words: Vec<&str> = text.split_whitespace().collect();
    let after = |key: &str| {
        words
            .iter()
            .position(|w| *w == key)
            .and_then(|i| words.get(i + 1)?.parse().ok())
            .unwrap_or(0)
    };
    RunStats {
        run_time_ns: after("run_time_ns"),
        run_cnt: after("run_cnt"),
    }
}

pub fn run_stats(prog_id: u32) -> Result<RunStats> {
    let text = answer(Command::new("bpftool").args(["prog", "show", "id", &prog_id.to_string()]))
        .with_context(|| format!("`bpftool prog show id {prog_id}` failed"))?;
    Ok(parse_prog_show(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_show_lines() {
        let text = "pid 14505  fd 21: prog_id 1124  raw_tracepoint  signal_generate\n\
                    pid 13891  fd 7: prog_id 1104  tracepoint  signal_generate\n\
                    garbage\n";
        assert_eq!(
            parse_perf_show(text),
            vec![
                Attached {
                    pid: 14505,
                    prog_id: 1124,
                    hook: "signal_generate".into()
                },
                Attached {
                    pid: 13891,
                    prog_id: 1104,
                    hook: "signal_generate".into()
                },
            ]
        );
    }

    #[test]
    fn prog_show_counters() {
        let ran = "1124: tracing  name signal_generate  tag 0ac5b3e37ea5d8be  gpl run_time_ns 140 run_cnt 1\n\
                   \tloaded_at 2026-11-22T17:31:02+0000  uid 0\n";
        assert_eq!(
            parse_prog_show(ran),
            RunStats {
                run_time_ns: 140,
                run_cnt: 1
            }
        );
        assert_eq!(
            parse_prog_show("1123: tracing  name mark_victim  tag e7b1  gpl\n"),
            RunStats::default()
        );
        let d = RunStats {
            run_time_ns: 1140,
            run_cnt: 11,
        }
        .since(&RunStats {
            run_time_ns: 140,
            run_cnt: 1,
        });
        assert_eq!(d.ns_per_run(), 100.0);
    }
}
