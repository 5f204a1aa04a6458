//! Parts 4 and 5: what the daemon costs the node (memory, CPU, wakeups) idle and under load,
//! and how long it takes from start to attached.

use std::{
    thread,
    time::{Duration, Instant},
};

use anyhow::Result;

use super::{
    plan::{self, Plan},
    procs::{rates, usage},
    reported,
    tools::{self, Bins, Running, Storm, Victim},
};

#[derive(Clone, Debug)]
pub struct Sample {
    /// Reported signals per second asked of the sender (0: idle, default filter).
    pub rate: u64,
    pub cpu_pct: f64,
    pub wakeups_per_s: f64,
    pub rss_mib: f64,
    pub peak_rss_mib: f64,
    /// What of `rss_mib` is the BPF maps mapped into the daemon (its rings).
    pub maps_rss_mib: f64,
    pub lost: u64,
    /// What it printed meanwhile: idle is only idle if nothing else on the node sent signals.
    pub events: u64,
    /// Under load: the daemon's CPU (all threads) per event it printed, in microseconds, from
    /// the first signal to the end of its backlog.
    pub cpu_us_per_event: f64,
}

/// Lets the daemon finish starting (page faults, first reads) before measuring, and its
/// backlog after the load.
const SETTLE: Duration = Duration::from_secs(1);
pub const LOAD_RATES: [u64; 2] = [10_000, 100_000];

pub fn run(bins: &Bins, plan: &Plan) -> Result<Vec<Sample>> {
    let mut samples = vec![idle(bins, plan)?];
    for rate in LOAD_RATES {
        samples.push(loaded(bins, plan, rate)?);
    }
    Ok(samples)
}

fn idle(bins: &Bins, plan: &Plan) -> Result<Sample> {
    let running = Running::start(bins, &plan::exitwatch_default())?;
    thread::sleep(SETTLE);
    let before = usage(running.pid())?;
    let t0 = Instant::now();
    thread::sleep(Duration::from_secs(plan.idle_secs));
    let after = usage(running.pid())?;
    let (cpu_pct, wakeups_per_s) = rates(&before, &after, t0.elapsed());
    let counts = running.stop()?;
    let mut s = sample(0, cpu_pct, wakeups_per_s, &after, counts.all_lost());
    s.events = counts.signals + counts.other;
    eprintln!(
        "bench: idle {} s: {:.3}% CPU, {:.1} wakeups/s, RSS {:.1} MiB ({:.1} of it the rings' mappings); {} events from elsewhere on the node",
        plan.idle_secs, s.cpu_pct, s.wakeups_per_s, s.rss_mib, s.maps_rss_mib, s.events
    );
    Ok(s)
}

fn loaded(bins: &Bins, plan: &Plan, rate: u64) -> Result<Sample> {
    let victim = Victim::start(bins, Storm::IgnoredUsr1)?;
    let running = Running::start(bins, &plan::exitwatch_reporting(victim.pid))?;
    thread::sleep(SETTLE);
    let before = usage(running.pid())?;
    let t0 = Instant::now();
    let sent = tools::paced(bins, &victim, rate * plan.load_secs, rate)?;
    let after = usage(running.pid())?;
    let (cpu_pct, wakeups_per_s) = rates(&before, &after, t0.elapsed());
    thread::sleep(SETTLE);
    let drained = usage(running.pid())?;
    let counts = running.stop()?;
    reported::book("daemon under load", Storm::IgnoredUsr1, &sent, &counts);
    let mut s = sample(rate, cpu_pct, wakeups_per_s, &after, counts.all_lost());
    s.cpu_us_per_event =
        drained.cpu_ns.saturating_sub(before.cpu_ns) as f64 / 1e3 / counts.signals.max(1) as f64;
    eprintln!(
        "bench: {rate} reported/s for {} s: {:.1}% CPU, {:.0} wakeups/s, RSS {:.1} MiB (peak {:.1}), {} lost, {:.1} us of CPU per event printed",
        plan.load_secs, s.cpu_pct, s.wakeups_per_s, s.rss_mib, s.peak_rss_mib, s.lost, s.cpu_us_per_event
    );
    Ok(s)
}

fn sample(
    rate: u64,
    cpu_pct: f64,
    wakeups_per_s: f64,
    after: &super::procs::Usage,
    lost: u64,
) -> Sample {
    Sample {
        rate,
        cpu_pct,
        wakeups_per_s,
        rss_mib: after.rss_kib as f64 / 1024.0,
        peak_rss_mib: after.peak_rss_kib as f64 / 1024.0,
        maps_rss_mib: after.maps_rss_kib as f64 / 1024.0,
        lost,
        events: 0,
        cpu_us_per_event: f64::NAN,
    }
}

#[derive(Clone, Debug)]
pub struct Startup {
    /// What each ready line said.
    pub attached_ms: Vec<f64>,
    /// From spawn to the ready line, as a user waits for it.
    pub wall_ms: Vec<f64>,
}

pub fn startup(bins: &Bins, plan: &Plan) -> Result<Startup> {
    let mut s = Startup {
        attached_ms: Vec::new(),
        wall_ms: Vec::new(),
    };
    for _ in 0..plan.startups {
        let running = Running::start(bins, &plan::exitwatch_default())?;
        s.attached_ms.push(running.attached_ms.unwrap_or(f64::NAN));
        s.wall_ms.push(running.wall_to_ready.as_secs_f64() * 1000.0);
        running.stop()?;
    }
    eprintln!(
        "bench: start to attached: ready lines {:?} ms, wall {:?} ms",
        s.attached_ms,
        s.wall_ms.iter().map(|w| w.round()).collect::<Vec<_>>()
    );
    Ok(s)
}
