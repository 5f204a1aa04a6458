//! Judges the measurements: against the targets (reported, met or missed), and against
//! the regression thresholds that fail the bench.

use super::{
    cgroupkill::CgroupKill,
    filtered::Filtered,
    flood::Flood,
    footprint::{Sample, Startup},
    ledger,
    progcost::ProgCost,
    reported::{Ladder, StormResult},
    stats::median,
    tools::Storm,
};

pub struct Results {
    pub filtered: Vec<Filtered>,
    pub storms: Vec<StormResult>,
    /// Non-fatal signals, one sender, `--nonfatal-budget 0`.
    pub ladder: Ladder,
    /// Fatal signals (never budgeted).
    pub fatal_ladder: Ladder,
    pub footprint: Vec<Sample>,
    pub startup: Startup,
    pub costs: Vec<ProgCost>,
    pub cgroup: CgroupKill,
    pub flood: Flood,
    /// Every scenario's accounting.
    pub books: Vec<ledger::Entry>,
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

    /// A filtered-out signal's program time against a tp_btf program that returns at once.
    fn kernel_vs_empty(&self, storm: Storm) -> f64 {
        self.cost("exitwatch", storm, false) / self.cost("empty tp_btf", storm, false)
    }

    fn reported_ns(&self) -> f64 {
        self.cost("exitwatch", Storm::IgnoredUsr1, true)
    }

    fn inexact_books(&self) -> f64 {
        self.books.iter().filter(|b| !b.exact()).count() as f64
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

    /// The targets ("Never lose a fatal signal"), then the earlier issue's.
    pub fn targets(&self) -> Vec<Check> {
        let (rss, cpu, _, busy) = self.idle();
        let (usr1, urg) = (Storm::IgnoredUsr1, Storm::GoLikeUrg);
        let (c, f) = (&self.cgroup, &self.flood);
        let flood_exact = (f.sent as f64 - (f.received + f.suppressed + f.lost_nonfatal) as f64)
            .abs()
            + f.senders_inexact as f64;
        vec![
            Check::most(
                "reported signal: program ns per signal (kernel stats)",
                self.reported_ns(),
                1500.0,
            ),
            Check::most(
                "reported signal: program time / bpftrace printf's (kernel stats)",
                self.reported_vs_bpftrace(),
                0.3,
            ),
            Check::most(
                "filtered SIGUSR1: program time / an empty tp_btf program's (kernel stats)",
                self.kernel_vs_empty(usr1),
                1.25,
            ),
            Check::most(
                "filtered SIGURG: program time / an empty tp_btf program's (kernel stats)",
                self.kernel_vs_empty(urg),
                1.25,
            ),
            Check::least(
                "zero-loss rate, non-fatal, JSON, default ring, --nonfatal-budget 0 (events/s)",
                self.best_rate(),
                250_000.0,
            ),
            Check::least(
                "zero-loss rate, fatal, JSON, default ring (events/s)",
                self.fatal_ladder.best.unwrap_or(0) as f64,
                250_000.0,
            ),
            Check::most(
                "cgroup.kill: SIGKILLs + exits of members not reported",
                c.missing() as f64,
                0.0,
            ),
            Check::most(
                "cgroup.kill: records lost (all classes)",
                c.lost_by.iter().sum::<u64>() as f64,
                0.0,
            ),
            Check::most(
                "flood: fatal signals not reported",
                (f.fatal_sent - f.fatal_reported.min(f.fatal_sent)) as f64,
                0.0,
            ),
            Check::most("flood: fatal records lost", f.lost_fatal as f64, 0.0).unless(
                (!f.kills_during_flood).then(|| "the flood had ended before the kills".to_owned()),
            ),
            Check::most(
                "flood: sent - printed - suppressed - lost, plus senders not exact",
                flood_exact,
                0.0,
            ),
            Check::most(
                "accounting: scenarios (and classes) not exact",
                self.inexact_books(),
                0.0,
            ),
            Check::most(
                "daemon CPU per JSON event at 100k reported/s (us)",
                self.sample(100_000)
                    .map_or(f64::NAN, |s| s.cpu_us_per_event),
                3.0,
            ),
            Check::most("idle RSS (MiB)", rss, 16.0),
            Check::most(
                "start to attached, median of the ready lines (ms)",
                median(&self.startup.attached_ms),
                500.0,
            ),
            Check::most(
                "earlier: filtered SIGUSR1: wall-clock overhead per kill()",
                self.wall_overhead(usr1),
                0.05,
            ),
            Check::most(
                "earlier: filtered SIGURG: wall-clock overhead per tgkill()",
                self.wall_overhead(urg),
                0.05,
            ),
            Check::most(
                "earlier: filtered SIGUSR1: program time / kill() (kernel stats)",
                self.kernel_share(usr1),
                0.05,
            ),
            Check::most(
                "earlier: filtered SIGURG: program time / tgkill() (kernel stats)",
                self.kernel_share(urg),
                0.05,
            ),
            Check::most(
                "earlier: filtered SIGUSR1: program time / bpftrace count-only's (kernel stats)",
                self.kernel_vs_bpftrace(usr1),
                1.0 / 3.0,
            ),
            Check::most(
                "earlier: filtered SIGURG: program time / bpftrace count-only's (kernel stats)",
                self.kernel_vs_bpftrace(urg),
                1.0 / 3.0,
            ),
            Check::most(
                "earlier: filtered SIGUSR1: overhead / bpftrace count-only's (wall clock)",
                self.wall_vs_bpftrace(usr1),
                1.0 / 3.0,
            ),
            Check::most(
                "earlier: filtered SIGURG: overhead / bpftrace count-only's (wall clock)",
                self.wall_vs_bpftrace(urg),
                1.0 / 3.0,
            ),
            Check::most("earlier: idle CPU (% of one CPU)", cpu, 0.1).unless(busy),
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
                // The ladder's first step: a daemon that keeps up with nothing fails here.
                // (Measured 15-25k/s non-fatal through one pipe reader; see BENCHMARKS.md.)
                10_000.0,
            ),
            // Unpaced, the storm outruns any reader of exitwatch's stdout: what is printed
            // per second is bounded by the output queue and its reader (the rest is counted,
            // lost or dropped). A collapse shows here; a few thousand either way is noise:
            // the same build measured 8.8k and 12.4k/s in two runs on 2026-12-03 (and earlier
            // builds 11.5k-22k), so the floor sits below that spread.
            Check::least("storm: events delivered per second", delivered, 7_500.0),
            Check::most("idle RSS (MiB)", rss, 16.0),
            // The two default 4 MiB rings, each mapped once (data, and a page per position):
            // a reader that maps a ring's data twice, as libbpf's and aya's do, shows as 16.
            Check::most(
                "idle: the BPF rings' mappings (MiB)",
                self.sample(0).map_or(f64::NAN, |s| s.maps_rss_mib),
                8.1,
            ),
            // The daemon's own share (resident code, heap): measured 5.2-5.3 with the hot functions
            // linked together, 8.3 without (BENCHMARKS.md): a list gone stale shows here
            // (`cargo xtask layout` regenerates it).
            Check::most(
                "idle RSS without the BPF rings' mappings (MiB)",
                self.sample(0)
                    .map_or(f64::NAN, |s| s.rss_mib - s.maps_rss_mib),
                7.5,
            ),
            Check::most("idle CPU (%)", cpu, 0.5).unless(busy.clone()),
            Check::most("idle wakeups per second", wakeups, 20.0).unless(busy),
            Check::most(
                "start to attached, median (ms)",
                median(&self.startup.attached_ms),
                1_000.0,
            ),
            Check::most(
                "accounting: scenarios (and classes) not exact",
                self.inexact_books(),
                0.0,
            ),
            Check::most(
                "fatal signals lost or not reported (cgroup.kill, flood)",
                (self.cgroup.missing() + self.cgroup.lost_by[0]) as f64
                    + (self.flood.fatal_sent - self.flood.fatal_reported.min(self.flood.fatal_sent)
                        + self.flood.lost_fatal) as f64,
                0.0,
            ),
        ]
    }
}
