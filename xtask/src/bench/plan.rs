//! How much the bench measures: the full run, and the short one CI can afford.

use super::tools::Tracer;

#[derive(Clone, Debug)]
pub struct Plan {
    /// Alternations of baseline, exitwatch and bpftrace for filtered-out signals.
    pub rounds: usize,
    /// Timed batches per storm and calls per batch (their median is the storm's cost).
    pub batches: u64,
    pub calls_per_batch: u64,
    /// Storms of reported signals per tracer, their size, and the timed batches it is sent in.
    pub reported_rounds: usize,
    pub reported_calls: u64,
    pub reported_batches: u64,
    /// How long each step of the zero-loss ladder sends.
    pub ladder_secs: f64,
    pub idle_secs: u64,
    pub load_secs: u64,
    pub startups: usize,
    /// Signals per storm while the kernel's BPF statistics are on.
    pub stats_calls: u64,
    /// Processes in the cgroup killed at once through cgroup.kill.
    pub cgroup_procs: u64,
    /// Calls each unprivileged flooder (one per CPU) makes, and processes killed meanwhile.
    pub flood_calls: u64,
    pub flood_kills: usize,
}

impl Plan {
    pub fn new(short: bool) -> Plan {
        if short {
            Plan {
                rounds: 3,
                batches: 7,
                calls_per_batch: 20_000,
                reported_rounds: 1,
                reported_calls: 100_000,
                reported_batches: 2,
                ladder_secs: 1.5,
                idle_secs: 5,
                load_secs: 4,
                startups: 3,
                stats_calls: 100_000,
                cgroup_procs: 2_000,
                flood_calls: 1_000_000,
                flood_kills: 100,
            }
        } else {
            Plan {
                rounds: 7,
                batches: 9,
                calls_per_batch: 50_000,
                reported_rounds: 3,
                reported_calls: 300_000,
                reported_batches: 3,
                ladder_secs: 3.0,
                idle_secs: 30,
                load_secs: 10,
                startups: 5,
                stats_calls: 300_000,
                cgroup_procs: 10_000,
                flood_calls: 4_000_000,
                flood_kills: 1_000,
            }
        }
    }
}

/// exitwatch as deployed: default filter, JSON.
pub fn exitwatch_default() -> Tracer {
    Tracer::Exitwatch(args(&["--format", "json"]))
}

/// exitwatch reporting every signal sent to `pid`: `--pid` keeps other processes' signals
/// out, so that sent = received + suppressed + lost can be checked exactly. One sender sends
/// them all, so the per-sender budget is turned off (`--nonfatal-budget 0`): these measure
/// what the rings and the JSON output carry, not the budget (the flood measures that).
pub fn exitwatch_reporting(pid: u32) -> Tracer {
    Tracer::Exitwatch(args(&[
        "--pid",
        &pid.to_string(),
        "--all-signals",
        "--nonfatal-budget",
        "0",
        "--format",
        "json",
    ]))
}

/// The count-only one-liner of the issue, on the same tracepoint exitwatch uses.
pub fn bpftrace_count() -> Tracer {
    Tracer::Bpftrace("tracepoint:signal:signal_generate { @[args->sig] = count(); }".into())
}

/// A printf one-liner reporting the same signals as `exitwatch_reporting`.
pub fn bpftrace_printf(pid: u32) -> Tracer {
    Tracer::Bpftrace(format!(
        "tracepoint:signal:signal_generate /args->pid == {pid}/ \
         {{ printf(\"s %d %d %s\\n\", args->sig, pid, comm); }}"
    ))
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}
