//! `cargo xtask bench [--short]`: exitwatch's cost and capacity, side by side with nothing
//! attached and with bpftrace, in one run; fails when a measure regresses past its threshold.

mod bpfstats;
mod cgroupkill;
mod counter;
mod emptyprog;
mod filtered;
mod flood;
mod footprint;
mod ledger;
mod machine;
mod plan;
mod procs;
mod progcost;
mod report;
mod reported;
mod stats;
mod table;
mod tools;

use std::{fs, path::Path, process::Command, time::Instant};

use anyhow::{bail, Context as _, Result};

use crate::{
    apt,
    build::{build, workspace_root, Profile},
    command::{cargo, step},
    privilege::is_root,
    setup::{setup, Needs},
};

/// What the bench drives besides what `setup` installs: the peer it compares with.
const PACKAGES: &[&str] = &["bpftrace", "bpftool", "procps", "perl-base", "util-linux"];
const TRACEFS: &str = "/sys/kernel/tracing";

pub fn bench(short: bool) -> Result<()> {
    if !is_root()? {
        bail!("the bench loads eBPF programs and needs root: run `sudo -E cargo xtask bench`");
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        bail!("the bench pins the sender to CPU 0 and the victim to CPU 1; this machine has {cpus} CPU");
    }
    let started = Instant::now();
    setup(Needs::Test)?;
    let missing = apt::missing(PACKAGES)?;
    if !missing.is_empty() {
        apt::install(&missing)?;
    }
    let bins = binaries()?;
    let _tracefs = Tracefs::mounted()?;
    let plan = plan::Plan::new(short);
    eprintln!(
        "bench: {} run: {plan:?}",
        if short { "short" } else { "full" }
    );
    let machine = machine::describe();
    let idle_before = quiet_check("before");

    let mut results = report::Results {
        filtered: filtered::run(&bins, &plan)?,
        storms: reported::storms(&bins, &plan)?,
        ladder: reported::zero_loss(&bins, &plan, tools::Storm::IgnoredUsr1)?,
        fatal_ladder: reported::zero_loss(&bins, &plan, tools::Storm::BlockedTerm)?,
        footprint: footprint::run(&bins, &plan)?,
        startup: footprint::startup(&bins, &plan)?,
        costs: progcost::run(&bins, &plan)?,
        cgroup: cgroupkill::run(&bins, &plan)?,
        flood: flood::run(&bins, &plan)?,
        books: Vec::new(),
    };
    results.books = ledger::all();
    let idle_after = quiet_check("after");
    let targets = results.targets();
    let regressions = results.regressions();
    let text = format!(
        "Machine: {machine}; idle before/after the run: {:.0}% / {:.0}%.\n\n{}\n{}\n{}\n{}",
        idle_before * 100.0,
        idle_after * 100.0,
        table::markdown(&results),
        table::books(&results),
        table::checks("target (issue)", &targets, "met", "**missed**"),
        table::checks("regression threshold", &regressions, "ok", "**REGRESSED**"),
    );
    println!("{text}");
    let saved = workspace_root().join("target/bench-report.md");
    fs::write(&saved, &text).with_context(|| format!("writing {}", saved.display()))?;
    eprintln!(
        "bench: done in {:.0} s; the tables are also in {}",
        started.elapsed().as_secs_f64(),
        saved.display()
    );
    let regressed: Vec<&str> = regressions
        .iter()
        .filter(|c| !c.holds())
        .map(|c| c.what)
        .collect();
    if !regressed.is_empty() {
        bail!("regressed past the thresholds: {}", regressed.join("; "));
    }
    Ok(())
}

/// How idle the machine is; wall-clock numbers from a busy one are not worth much.
fn quiet_check(when: &str) -> f64 {
    let idle = machine::idle_share(std::time::Duration::from_secs(2));
    eprintln!("bench: CPUs {:.0}% idle {when} the run", idle * 100.0);
    if idle < 0.9 {
        eprintln!(
            "bench: warning: something else is using the CPUs: wall-clock ratios will be noisy"
        );
    }
    idle
}

/// exitwatch (release, as users run it) and the load generators.
fn binaries() -> Result<tools::Bins> {
    let exitwatch = build(Profile::Release)?.binary;
    eprintln!("build: exitwatch-bench (release)");
    step(
        cargo()
            .args(["build", "--release", "--package", "exitwatch-bench"])
            .current_dir(workspace_root()),
        "building the bench's load generators",
    )?;
    // The load generators are native release builds; exitwatch is the static one, elsewhere.
    let dir = crate::build::target_dir().join("release");
    Ok(tools::Bins {
        victim: dir.join("storm-victim"),
        sender: dir.join("storm-sender"),
        exitwatch,
    })
}

/// bpftrace's tracepoints need tracefs; mounted for the bench if it was not, unmounted after.
struct Tracefs {
    mounted_here: bool,
}

impl Tracefs {
    fn mounted() -> Result<Tracefs> {
        if Path::new(TRACEFS).join("events").is_dir() {
            return Ok(Tracefs {
                mounted_here: false,
            });
        }
        step(
            Command::new("mount").args(["-t", "tracefs", "tracefs", TRACEFS]),
            "mounting tracefs for bpftrace's tracepoints",
        )?;
        Ok(Tracefs { mounted_here: true })
    }
}

impl Drop for Tracefs {
    fn drop(&mut self) {
        if self.mounted_here {
            let _ = Command::new("umount").arg(TRACEFS).status();
        }
    }
}
