//! Part 1: what a signal exitwatch does NOT report costs the sender, against nothing attached
//! and against bpftrace's count-only one-liner, alternating in one run.

use anyhow::Result;

use super::{
    bpfstats,
    plan::{self, Plan},
    stats::{bracketed_overheads, median},
    tools::{self, Bins, Running, Storm, Tracer, Victim},
};

pub const STORMS: [Storm; 2] = [Storm::IgnoredUsr1, Storm::GoLikeUrg];

#[derive(Clone, Debug)]
pub struct Filtered {
    pub storm: Storm,
    /// Median ns per kill()/tgkill() call over the rounds.
    pub base_ns: f64,
    pub exitwatch_ns: f64,
    pub bpftrace_ns: f64,
    /// Medians of the per-round overheads, each against the baselines around it.
    pub exitwatch_overhead: f64,
    pub bpftrace_overhead: f64,
}

pub fn run(bins: &Bins, plan: &Plan) -> Result<Vec<Filtered>> {
    let tracers = [plan::exitwatch_default(), plan::bpftrace_count()];
    // [storm][config][round]: config 0 is the baseline (one more round than the others).
    let mut ns = vec![vec![Vec::new(); 3]; STORMS.len()];
    for round in 0..=plan.rounds {
        let mut configs = vec![("nothing attached", None)];
        if round < plan.rounds {
            configs.push(("exitwatch", Some(&tracers[0])));
            configs.push(("bpftrace", Some(&tracers[1])));
        }
        for (c, (name, tracer)) in configs.into_iter().enumerate() {
            let costs = measure(bins, plan, tracer)?;
            eprintln!(
                "bench: filtered-out, round {}/{}, {name}: {:.0} / {:.0} ns per call",
                round + 1,
                plan.rounds + 1,
                costs[0],
                costs[1]
            );
            for (s, cost) in costs.into_iter().enumerate() {
                ns[s][c].push(cost);
            }
        }
    }
    Ok(STORMS
        .iter()
        .zip(ns)
        .map(|(&storm, ns)| Filtered {
            storm,
            base_ns: median(&ns[0]),
            exitwatch_ns: median(&ns[1]),
            bpftrace_ns: median(&ns[2]),
            exitwatch_overhead: median(&bracketed_overheads(&ns[1], &ns[0])),
            bpftrace_overhead: median(&bracketed_overheads(&ns[2], &ns[0])),
        })
        .collect())
}

/// Median ns per call of each storm with `tracer` attached (or nothing).
fn measure(bins: &Bins, plan: &Plan, tracer: Option<&Tracer>) -> Result<Vec<f64>> {
    let running = tracer.map(|t| Running::start(bins, t)).transpose()?;
    if running.is_none() {
        warn_foreign_tracers();
    }
    let mut costs = Vec::new();
    for storm in STORMS {
        let victim = Victim::start(bins, storm)?;
        let sent = tools::storm(bins, &victim, plan.calls_per_batch, plan.batches)?;
        costs.push(median(&sent.batch_ns));
    }
    if let Some(running) = running {
        running.stop()?;
    }
    Ok(costs)
}

/// A baseline is only one if nothing else (a test run's exitwatch, another bpftrace) is
/// attached to the tracepoint meanwhile.
fn warn_foreign_tracers() {
    let foreign: Vec<String> = bpfstats::attached()
        .into_iter()
        .filter(|a| a.hook == "signal_generate")
        .map(|a| a.pid.to_string())
        .collect();
    if !foreign.is_empty() {
        eprintln!(
            "bench: warning: processes {} have programs on signal_generate: this baseline is not one",
            foreign.join(", ")
        );
    }
}
