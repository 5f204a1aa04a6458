//! Judges the measurements: against the targets (reported, met or missed), and against
//! the regression thresholds that fail the bench.

use super::{
    filtered::Filtered,
    footprint::{Sample, Startup},
    progcost::ProgCost,
    reported::{Ladder, StormResult},
    stats::median,
    tools::Storm,
};

pub struct Results {
    pub filtered: Vec<Filtered>,
    pub storms: Vec<StormResult>,
    pub ladder: Ladder,
    pub footprint: Vec<Sample>,
    pub startup: Startup,
    pub costs: Vec<ProgCost>,
}

/// A number held against a limit.
#[derive(Clone, Debug)]
pub struct Check {
    pub what: &'static str,
    pub value: f64,
    pub limit: f64,
    pub at_most: bool,
    /// Why this run could not judge it (the check then holds).
    pub skipped: Option<String>,
}

impl Check {
    fn most(what: &'static str, value: f64, limit: f64) -> Check {
        Check {
            what,
            value,
            limit,
            at_most: true,
            skipped: None,
        }
    }

    fn least(what: &'static str, value: f64, limit: f64) -> Check {
        Check {
            at_most: false,
            ..Check::most(what, value, limit)
        }
    }

    fn unless(mut self, skip: Option<String>) -> Check {
        self.skipped = skip;
        self
    }

    /// A missing measurement (NaN) never passes.
    pub fn holds(&self) -> bool {
        self.skipped.is_some()
            || if self.at_most {
                self.value <= self.limit
            } else {
                self.value >= self.limit
            }
    }
}

impl Results {
    fn filtered(&self, storm: Storm) -> Option<&Filtered> {
        self.filtered.iter().find(|f| f.storm == storm)
    }

    fn cost(&self, who: &str, storm: Storm, reported: bool) -> f64 {
        self.costs
            .iter()
            .find(|c| c.who == who && c.storm == storm && c.reported == reported)
            .map_or(f64::NAN, |c| c.ns_per_run)
    }

    fn storm(&self, who: &str) -> Option<&StormResult> {
        self.storms.iter().find(|s| s.who == who)
    }

    fn sample(&self, rate: u64) -> Option<&Sample> {
        self.footprint.iter().find(|s| s.rate == rate)
    }

    fn wall_overhead(&self, storm: Storm) -> f64 {
        self.filtered(storm)
            .map_or(f64::NAN, |f| f.exitwatch_overhead)
    }

    fn wall_vs_bpftrace(&self, storm: Storm) -> f64 {
        self.filtered(storm)
            .map_or(f64::NAN, |f| f.exitwatch_overhead / f.bpftrace_overhead)
    }

    /// The kernel-measured program time of a filtered-out signal, as a share of a kill()
    /// with nothing attached: the noise-free form of "at most 5% of a kill()" (it includes
    /// the statistics' own timing, ~40 ns, so it overstates the cost).
    fn kernel_share(&self, storm: Storm) -> f64 {
        let base = self.filtered(storm).map_or(f64::NAN, |f| f.base_ns);
        self.cost("exitwatch", storm, false) / base
    }

    fn kernel_vs_bpftrace(&self, storm: Storm) -> f64 {
        self.cost("exitwatch", storm, false) / self.cost("bpftrace count", storm, false)
    }

    fn reported_vs_bpftrace(&self) -> f64 {
        self.cost("exitwatch", Storm::IgnoredUsr1, true)
            / self.cost("bpftrace printf", Storm::IgnoredUsr1, true)
    }

    fn idle(&self) -> (f64, f64, f64, Option<String>) {
        self.sample(0)
            .map_or((f64::NAN, f64::NAN, f64::NAN, None), |s| {
                let busy = (s.events > 0).then(|| {
                    format!(
                        "{} events from other processes during the idle window",
                        s.events
                    )
                });
                (s.rss_mib, s.cpu_pct, s.wakeups_per_s, busy)
            })
    }

    /// The targets.
    pub fn targets(&self) -> Vec<Check> {
        let (rss, cpu, _, busy) = self.idle();
        let (usr1, urg) = (Storm::IgnoredUsr1, Storm::GoLikeUrg);
        vec![
            Check::most(
                "filtered SIGUSR1: wall-clock overhead per kill()",
                self.wall_overhead(usr1),
                0.05,
            ),
            Check::most(
                "filtered SIGURG: wall-clock overhead per tgkill()",
                self.wall_overhead(urg),
                0.05,
            ),
            Check::most(
                "filtered SIGUSR1: program time / kill() (kernel stats)",
                self.kernel_share(usr1),
                0.05,
            ),
            Check::most(
                "filtered SIGURG: program time / tgkill() (kernel stats)",
                self.kernel_share(urg),
                0.05,
            ),
            Check::most(
                "filtered SIGUSR1: overhead / bpftrace count-only's (wall clock)",
                self.wall_vs_bpftrace(usr1),
                1.0 / 3.0,
            ),
            Check::most(
                "filtered SIGURG: overhead / bpftrace count-only's (wall clock)",
                self.wall_vs_bpftrace(urg),
                1.0 / 3.0,
            ),
            Check::most(
                "filtered SIGUSR1: program time / bpftrace count-only's (kernel stats)",
                self.kernel_vs_bpftrace(usr1),
                1.0 / 3.0,
            ),
            Check::most(
                "filtered SIGURG: program time / bpftrace count-only's (kernel stats)",
                self.kernel_vs_bpftrace(urg),
                1.0 / 3.0,
            ),
            Check::least(
                "highest zero-loss rate through the JSON formatter (events/s)",
                self.best_rate(),
                250_000.0,
            ),
            Check::most("idle RSS (MiB)", rss, 16.0),
            Check::most("idle CPU (% of one CPU)", cpu, 0.1).unless(busy),
            Check::most(
                "start to attached, median of the ready lines (ms)",
                median(&self.startup.attached_ms),
                500.0,
            ),
        ]
    }

    fn best_rate(&self) -> f64 {
        self.ladder.best.unwrap_or(0) as f64
    }

    /// Limits that fail the bench: the measurements of BENCHMARKS.md with room for this
    /// machine's noise. Ratios of kernel statistics taken in the same run (exitwatch's
    /// program against bpftrace's on the same signals) hold across machines and load; wall
    /// clock gets wide margins; exitwatch's loss accounting is checked exactly elsewhere.
    pub fn regressions(&self) -> Vec<Check> {
        let (rss, cpu, wakeups, busy) = self.idle();
        let (usr1, urg) = (Storm::IgnoredUsr1, Storm::GoLikeUrg);
        let delivered = self
            .storm("exitwatch")
            .map_or(f64::NAN, |s| s.delivered_per_s);
        vec![
            Check::most(
                "filtered SIGUSR1: program time / bpftrace count-only's (kernel stats)",
                self.kernel_vs_bpftrace(usr1),
                1.1,
            ),
            Check::most(
                "filtered SIGURG: program time / bpftrace count-only's (kernel stats)",
                self.kernel_vs_bpftrace(urg),
                0.5,
            ),
            Check::most(
                "reported SIGUSR1: program time / bpftrace printf's (kernel stats)",
                self.reported_vs_bpftrace(),
                1.1,
            ),
            Check::most(
                "filtered SIGUSR1: wall-clock overhead per kill()",
                self.wall_overhead(usr1),
                0.6,
            ),
            Check::least(
                "highest zero-loss rate (events/s)",
                self.best_rate(),
                15_000.0,
            ),
            Check::least("storm: events delivered per second", delivered, 20_000.0),
            Check::most("idle RSS (MiB)", rss, 40.0),
            Check::most("idle CPU (%)", cpu, 0.5).unless(busy.clone()),
            Check::most("idle wakeups per second", wakeups, 20.0).unless(busy),
            Check::most(
                "start to attached, median (ms)",
                median(&self.startup.attached_ms),
                1_000.0,
            ),
        ]
    }
}
