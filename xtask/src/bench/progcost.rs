//! Part 6: each tracer's program cost per signal as the kernel itself measures it
//! (kernel.bpf_stats_enabled), free of the wall-clock noise of this machine.

use anyhow::{bail, Result};

use super::{
    bpfstats::{attached_by, run_stats, RunStats, StatsEnabled},
    emptyprog::EmptyProgram,
    plan::{self, Plan},
    reported,
    tools::{self, Bins, Running, Storm, Tracer, Victim},
};

#[derive(Clone, Debug)]
pub struct ProgCost {
    pub who: &'static str,
    pub storm: Storm,
    /// Whether the tracer reports these signals (else it filters them out).
    pub reported: bool,
    pub runs: u64,
    pub ns_per_run: f64,
}

/// Reported signals go at a rate every tracer keeps up with: a record that finds the ring
/// buffer full costs less than one written, which would flatter the average.
const REPORTED_RATE: u64 = 20_000;

pub fn run(bins: &Bins, plan: &Plan) -> Result<Vec<ProgCost>> {
    let _stats = StatsEnabled::enable()?;
    let mut costs = Vec::new();
    for storm in [Storm::IgnoredUsr1, Storm::GoLikeUrg] {
        costs.push(measure(bins, plan, "exitwatch", storm, false)?);
        costs.push(measure(bins, plan, "bpftrace count", storm, false)?);
        match measure_empty(bins, plan, storm) {
            Ok(c) => costs.push(c),
            Err(e) => eprintln!("bench: warning: no empty tp_btf program to compare with: {e:#}"),
        }
    }
    costs.push(measure(bins, plan, "exitwatch", Storm::IgnoredUsr1, true)?);
    costs.push(measure(
        bins,
        plan,
        "bpftrace printf",
        Storm::IgnoredUsr1,
        true,
    )?);
    Ok(costs)
}

fn measure(
    bins: &Bins,
    plan: &Plan,
    who: &'static str,
    storm: Storm,
    reported: bool,
) -> Result<ProgCost> {
    let victim = Victim::start(bins, storm)?;
    let tracer = match (who, reported) {
        ("exitwatch", false) => plan::exitwatch_default(),
        ("exitwatch", true) => plan::exitwatch_reporting(victim.pid),
        (_, false) => plan::bpftrace_count(),
        (_, true) => plan::bpftrace_printf(victim.pid),
    };
    let running = Running::start(bins, &tracer)?;
    let ids: Vec<u32> = attached_by(running.pid())
        .into_iter()
        .filter(|a| a.hook == "signal_generate")
        .map(|a| a.prog_id)
        .collect();
    if ids.is_empty() {
        bail!("bpftool shows no signal_generate program attached by {who}");
    }
    let before = total(&ids)?;
    let sent = if reported {
        let count = (plan.stats_calls / 10).max(REPORTED_RATE);
        tools::paced(bins, &victim, count, REPORTED_RATE)?
    } else {
        tools::storm(bins, &victim, plan.stats_calls, 1)?
    };
    let delta = total(&ids)?.since(&before);
    let counts = running.stop()?;
    if matches!(tracer, Tracer::Exitwatch(_)) && reported {
        reported::book("kernel statistics", storm, &sent, &counts);
    }
    let cost = ProgCost {
        who,
        storm,
        reported,
        runs: delta.run_cnt,
        ns_per_run: delta.ns_per_run(),
    };
    eprintln!(
        "bench: kernel statistics, {who}, {} ({}): {:.0} ns per run over {} runs",
        storm.label(),
        if reported { "reported" } else { "filtered out" },
        cost.ns_per_run,
        cost.runs
    );
    Ok(cost)
}

/// The same storm with only a tp_btf program that returns at once on `signal_generate`.
fn measure_empty(bins: &Bins, plan: &Plan, storm: Storm) -> Result<ProgCost> {
    let victim = Victim::start(bins, storm)?;
    let empty = EmptyProgram::attach()?;
    let ids: Vec<u32> = attached_by(std::process::id())
        .into_iter()
        .filter(|a| a.hook == "signal_generate")
        .map(|a| a.prog_id)
        .collect();
    if ids.is_empty() {
        bail!("bpftool shows no signal_generate program attached by the bench");
    }
    let before = total(&ids)?;
    tools::storm(bins, &victim, plan.stats_calls, 1)?;
    let delta = total(&ids)?.since(&before);
    drop(empty);
    let cost = ProgCost {
        who: "empty tp_btf",
        storm,
        reported: false,
        runs: delta.run_cnt,
        ns_per_run: delta.ns_per_run(),
    };
    eprintln!(
        "bench: kernel statistics, empty tp_btf program, {}: {:.0} ns per run over {} runs",
        storm.label(),
        cost.ns_per_run,
        cost.runs
    );
    Ok(cost)
}

fn total(ids: &[u32]) -> Result<RunStats> {
    let mut sum = RunStats::default();
    for &id in ids {
        let s = run_stats(id)?;
        sum.run_time_ns += s.run_time_ns;
        sum.run_cnt += s.run_cnt;
    }
    Ok(sum)
}
