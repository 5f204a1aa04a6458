//! Parts 2 and 3: signals that ARE reported. A storm as fast as the sender can go (cost per
//! call, delivery rate, losses; exitwatch's accounting must be exact), then the highest
//! steady rate that exitwatch's JSON output sustains without losing one event, for non-fatal
//! signals (one sender, `--nonfatal-budget 0`) and for fatal ones (never budgeted).

use std::time::{Duration, Instant};

use anyhow::Result;

use super::{
    counter::Counts,
    ledger,
    plan::{self, Plan},
    stats::median,
    tools::{self, Bins, Running, Sent, Storm, Tracer, Victim},
};

/// One tracer's storm, medians over the rounds.
#[derive(Clone, Debug)]
pub struct StormResult {
    pub who: &'static str,
    pub ns_per_call: f64,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    /// Events the tracer printed per second, from the first call to its last line.
    pub delivered_per_s: f64,
}

pub fn storms(bins: &Bins, plan: &Plan) -> Result<Vec<StormResult>> {
    let who = ["nothing attached", "exitwatch", "bpftrace"];
    let mut runs: Vec<Vec<StormResult>> = vec![Vec::new(); who.len()];
    let batches = plan.reported_batches;
    for round in 0..plan.reported_rounds {
        for (i, name) in who.iter().enumerate() {
            let victim = Victim::start(bins, Storm::IgnoredUsr1)?;
            let tracer = match i {
                0 => None,
                1 => Some(plan::exitwatch_reporting(victim.pid)),
                _ => Some(plan::bpftrace_printf(victim.pid)),
            };
            let (sent, counts, elapsed) =
                traced(bins, &victim, tracer.as_ref(), "reported storm", |victim| {
                    tools::storm(bins, victim, plan.reported_calls / batches, batches)
                })?;
            let lost = match i {
                0 => 0,
                1 => counts.all_lost(),
                _ => sent.sent.saturating_sub(counts.signals),
            };
            let r = StormResult {
                who: name,
                ns_per_call: median(&sent.batch_ns),
                sent: sent.sent,
                received: counts.signals,
                lost,
                delivered_per_s: counts.signals as f64 / elapsed.as_secs_f64(),
            };
            let outcome = match i {
                0 => String::new(),
                1 => format!(
                    ", {} of {} printed ({:.0}/s), {} counted lost",
                    r.received, r.sent, r.delivered_per_s, r.lost
                ),
                _ => format!(
                    ", {} of {} printed ({:.0}/s), {} missing (bpftrace said {} lost)",
                    r.received, r.sent, r.delivered_per_s, r.lost, counts.lost
                ),
            };
            eprintln!(
                "bench: reported storm, round {}/{}, {name}: {:.0} ns per call{outcome}",
                round + 1,
                plan.reported_rounds,
                r.ns_per_call,
            );
            runs[i].push(r);
        }
    }
    Ok(runs.into_iter().map(|r| medians(&r)).collect())
}

fn medians(runs: &[StormResult]) -> StormResult {
    let m = |f: fn(&StormResult) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    StormResult {
        who: runs[0].who,
        ns_per_call: m(|r| r.ns_per_call),
        sent: m(|r| r.sent as f64) as u64,
        received: m(|r| r.received as f64) as u64,
        lost: m(|r| r.lost as f64) as u64,
        delivered_per_s: m(|r| r.delivered_per_s),
    }
}

/// Runs `send` with `tracer` attached, stops the tracer, and books exitwatch's accounting
/// under `scenario`: every signal sent was printed, suppressed, or counted as lost.
pub fn traced(
    bins: &Bins,
    victim: &Victim,
    tracer: Option<&Tracer>,
    scenario: &str,
    send: impl FnOnce(&Victim) -> Result<Sent>,
) -> Result<(Sent, Counts, Duration)> {
    let running = tracer.map(|t| Running::start(bins, t)).transpose()?;
    let started = Instant::now();
    let sent = send(victim)?;
    let Some(running) = running else {
        return Ok((sent, Counts::default(), started.elapsed()));
    };
    let counts = running.stop()?;
    let elapsed = counts
        .last_signal
        .unwrap_or(started)
        .duration_since(started);
    if matches!(tracer, Some(Tracer::Exitwatch(_))) {
        book(scenario, victim.storm, &sent, &counts);
    }
    Ok((sent, counts, elapsed))
}

/// Books a scenario whose signals all went to one victim (exitwatch watching only it).
pub fn book(scenario: &str, storm: Storm, sent: &Sent, counts: &Counts) {
    let class = if storm == Storm::BlockedTerm {
        "fatal"
    } else {
        "nonfatal"
    };
    ledger::book(scenario, class, sent.sent, counts);
}

/// One step of the ladder.
#[derive(Clone, Debug)]
pub struct Step {
    pub rate: u64,
    /// What the sender managed: with every call this expensive it may not reach `rate`.
    pub achieved: f64,
    pub lost: u64,
}

impl Step {
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.achieved >= self.rate as f64 * 0.95
    }
}

#[derive(Clone, Debug)]
pub struct Ladder {
    pub storm: Storm,
    pub steps: Vec<Step>,
    /// The highest rate that passed, before the first rate that failed twice.
    pub best: Option<u64>,
}

const RATES: [u64; 13] = [
    10_000, 25_000, 50_000, 75_000, 100_000, 150_000, 200_000, 250_000, 300_000, 400_000, 500_000,
    750_000, 1_000_000,
];

/// Climbs the rates; a failed step is tried again once (noise), a second failure ends the
/// climb, and one more step halfway between the last pass and the failure refines it.
pub fn zero_loss(bins: &Bins, plan: &Plan, storm: Storm) -> Result<Ladder> {
    let victim = Victim::start(bins, storm)?;
    let mut ladder = Ladder {
        storm,
        steps: Vec::new(),
        best: None,
    };
    let mut failed = None;
    for rate in RATES {
        let passed = step(bins, plan, &victim, rate, &mut ladder)?
            || step(bins, plan, &victim, rate, &mut ladder)?;
        if !passed {
            failed = Some(rate);
            break;
        }
        ladder.best = Some(rate);
    }
    if let Some(fail) = failed {
        let mid = (ladder.best.unwrap_or(0) + fail) / 2 / 5_000 * 5_000;
        if mid > ladder.best.unwrap_or(0) && step(bins, plan, &victim, mid, &mut ladder)? {
            ladder.best = Some(mid);
        }
    }
    Ok(ladder)
}

fn step(bins: &Bins, plan: &Plan, victim: &Victim, rate: u64, ladder: &mut Ladder) -> Result<bool> {
    let count = (rate as f64 * plan.ladder_secs) as u64;
    let tracer = plan::exitwatch_reporting(victim.pid);
    let (sent, counts, _) = traced(bins, victim, Some(&tracer), "zero-loss ladder", |victim| {
        tools::paced(bins, victim, count, rate)
    })?;
    let step = Step {
        rate,
        achieved: sent.sent as f64 / sent.elapsed.as_secs_f64(),
        lost: counts.all_lost(),
    };
    eprintln!(
        "bench: zero-loss ladder ({}): {rate}/s asked, {:.0}/s sent, {} lost: {}",
        victim.storm.label(),
        step.achieved,
        step.lost,
        if step.passed() { "pass" } else { "FAIL" }
    );
    let passed = step.passed();
    ladder.steps.push(step);
    Ok(passed)
}
