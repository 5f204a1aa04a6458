//! Renders the results as the markdown tables of BENCHMARKS.md.

use std::fmt::Write as _;

use super::{
    report::{Check, Results},
    stats::median,
};

pub fn markdown(r: &Results) -> String {
    let mut t = String::new();
    t.push_str("| measure | nothing attached | exitwatch | bpftrace |\n|---|---:|---:|---:|\n");
    for f in &r.filtered {
        let _ = writeln!(
            t,
            "| filtered out: {}, ns per call (median) | {:.0} | {:.0} ({}) | {:.0} ({}) |",
            f.storm.label(),
            f.base_ns,
            f.exitwatch_ns,
            pct(f.exitwatch_overhead),
            f.bpftrace_ns,
            pct(f.bpftrace_overhead)
        );
    }
    for c in r
        .costs
        .iter()
        .filter(|c| !c.reported && c.who == "exitwatch")
    {
        let bpftrace = r
            .costs
            .iter()
            .find(|b| b.who == "bpftrace count" && b.storm == c.storm && !b.reported);
        let empty = r
            .costs
            .iter()
            .find(|b| b.who == "empty tp_btf" && b.storm == c.storm);
        let _ = writeln!(
            t,
            "| filtered out: {}, program ns per signal (kernel stats) | {} (empty tp_btf) | {:.0} | {} |",
            c.storm.label(),
            empty.map_or("-".into(), |b| format!("{:.0}", b.ns_per_run)),
            c.ns_per_run,
            bpftrace.map_or("-".into(), |b| format!("{:.0}", b.ns_per_run))
        );
    }
    let storm = |who: &str| r.storms.iter().find(|s| s.who == who);
    if let (Some(base), Some(ew), Some(bt)) = (
        storm("nothing attached"),
        storm("exitwatch"),
        storm("bpftrace"),
    ) {
        let _ = writeln!(
            t,
            "| reported storm (SIGUSR1, unpaced): ns per kill() | {:.0} | {:.0} ({}) | {:.0} ({}) |",
            base.ns_per_call,
            ew.ns_per_call,
            pct(ew.ns_per_call / base.ns_per_call - 1.0),
            bt.ns_per_call,
            pct(bt.ns_per_call / base.ns_per_call - 1.0)
        );
        let _ = writeln!(
            t,
            "| reported storm: events delivered per second | - | {:.0} | {:.0} |",
            ew.delivered_per_s, bt.delivered_per_s
        );
        let _ = writeln!(
            t,
            "| reported storm (--nonfatal-budget 0): received + lost of sent | - | {} + {} of {} | {} + {} of {} |",
            ew.received, ew.lost, ew.sent, bt.received, bt.lost, bt.sent
        );
    }
    let reported = |who: &str| {
        r.costs
            .iter()
            .find(|c| c.reported && c.who == who)
            .map_or("-".into(), |c| format!("{:.0}", c.ns_per_run))
    };
    let _ = writeln!(
        t,
        "| reported (20k/s, --nonfatal-budget 0): program ns per signal (kernel stats) | - | {} | {} |",
        reported("exitwatch"),
        reported("bpftrace printf")
    );
    for l in [&r.ladder, &r.fatal_ladder] {
        let _ = writeln!(
            t,
            "| highest zero-loss rate through the JSON formatter, {} (events/s) | - | {} | - |",
            l.storm.label(),
            l.best.map_or("none".into(), |b| b.to_string())
        );
    }
    let c = &r.cgroup;
    let _ = writeln!(
        t,
        "| cgroup.kill of {} processes: SIGKILLs / exits reported, lost (fatal, nonfatal, identity, exit) | - | {} / {}, {:?} | - |",
        c.members, c.killed, c.exited, c.lost_by
    );
    let _ = writeln!(
        t,
        "| cgroup.kill: ms until the cgroup was empty / until the last signal line | - | {:.0} / {:.0} | - |",
        c.die_ms, c.reported_ms
    );
    let f = &r.flood;
    let _ = writeln!(
        t,
        "| flood, {} unprivileged senders (default budget 200/1000): sent (per s) = printed + suppressed + lost | - | {} ({:.0}/s) = {} + {} + {} | - |",
        f.senders, f.sent, f.rate, f.received, f.suppressed, f.lost_nonfatal
    );
    let _ = writeln!(
        t,
        "| flood: fatal signals reported of sent (half SIGKILL by root, half SIGTERM by uid 65534), lost | - | {} of {}{}, {} | - |",
        f.fatal_reported,
        f.fatal_sent,
        if f.kills_during_flood { "" } else { " (after the flood)" },
        f.lost_fatal
    );
    for s in &r.footprint {
        let what = match s.rate {
            0 if s.events > 0 => format!(
                "idle (default filter; {} events from other processes)",
                s.events
            ),
            0 => "idle (default filter)".to_owned(),
            n => format!("{}k reported/s", n / 1000),
        };
        let _ = writeln!(
            t,
            "| daemon {what}: CPU % / wakeups per s / RSS MiB (peak){} | - | {:.2} / {:.1} / {:.1} ({:.1}){} | - |",
            if s.rate > 0 { " / lost / CPU us per event" } else { "" },
            s.cpu_pct,
            s.wakeups_per_s,
            s.rss_mib,
            s.peak_rss_mib,
            if s.rate > 0 {
                format!(" / {} / {:.1}", s.lost, s.cpu_us_per_event)
            } else {
                String::new()
            }
        );
        if s.rate == 0 {
            let _ = writeln!(
                t,
                "| daemon idle: RSS MiB = the BPF rings' mappings (each ring's data mapped once) + the rest (resident code, heap) | - | {:.1} = {:.1} + {:.1} | - |",
                s.rss_mib,
                s.maps_rss_mib,
                s.rss_mib - s.maps_rss_mib
            );
        }
    }
    let st = &r.startup;
    let max = |v: &[f64]| v.iter().copied().fold(f64::NAN, f64::max);
    let _ = writeln!(
        t,
        "| start to attached: ready line / wall to the line, median (max) ms | - | {:.0} ({:.0}) / {:.0} ({:.0}) | - |",
        median(&st.attached_ms),
        max(&st.attached_ms),
        median(&st.wall_ms),
        max(&st.wall_ms)
    );
    t
}

/// Every scenario's books.
pub fn books(r: &Results) -> String {
    let mut t = String::from(
        "| accounting: scenario (class) | sent | printed | suppressed | lost | dropped | |\n|---|---:|---:|---:|---:|---:|---|\n",
    );
    for b in &r.books {
        let _ = writeln!(
            t,
            "| {} ({}) | {} | {} | {} | {} | {} | {} |",
            b.scenario,
            b.class,
            b.sent,
            b.received,
            b.suppressed,
            b.lost,
            b.dropped,
            if b.exact() { "exact" } else { "**NOT EXACT**" }
        );
    }
    t
}

/// The targets or thresholds as a second table.
pub fn checks(title: &str, checks: &[Check], pass: &str, fail: &str) -> String {
    let mut t = format!("| {title} | measured | limit | |\n|---|---:|---:|---|\n");
    for c in checks {
        let _ = writeln!(
            t,
            "| {} | {} | {} {} | {} |",
            c.what,
            number(c.value),
            if c.at_most { "<=" } else { ">=" },
            number(c.limit),
            match (&c.skipped, c.holds()) {
                (Some(why), _) => format!("not judged: {why}"),
                (None, true) => pass.to_owned(),
                (None, false) => fail.to_owned(),
            }
        );
    }
    t
}

fn pct(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

fn number(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else if x.abs() < 1.0 && x != 0.0 {
        format!("{x:.3}")
    } else if x.abs() < 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}
