//! `cargo xtask test`: unit tests (no root), then the privileged end-to-end tests on the real binary.

use std::{fmt, time::Instant};

use anyhow::{bail, Result};

use crate::{
    build::{build, workspace_root, Profile},
    command::{cargo, step},
    privilege::is_root,
    setup::setup,
};

#[derive(PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed,
    NotRun,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "FAILED",
            Outcome::NotRun => "not run",
        })
    }
}

pub fn test(unit_only: bool) -> Result<()> {
    // Checked first: finding out after minutes of building would waste them.
    if !unit_only && !is_root()? {
        bail!("the end-to-end tests load eBPF programs and need root: run `sudo -E cargo xtask test`, \
            or `cargo xtask test --unit` for the unit tests alone");
    }
    let started = Instant::now();
    setup()?;
    let unit = outcome(unit_tests());
    let (build, e2e) = if unit_only {
        (Outcome::NotRun, Outcome::NotRun)
    } else {
        e2e_tests()
    };
    eprintln!(
        "test summary: unit {unit}, build {build}, end-to-end {e2e} ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    if [unit, build, e2e].contains(&Outcome::Failed) {
        bail!("tests failed (see the output above)");
    }
    Ok(())
}

fn unit_tests() -> Result<()> {
    eprintln!("test: unit tests");
    // The eBPF crate builds only for the BPF target; the e2e binary needs root. The tests
    // crate's own helpers are still unit-tested.
    let purpose = "running the unit tests";
    step(
        cargo()
            .args([
                "test",
                "--workspace",
                "--exclude",
                "exitwatch-ebpf",
                "--exclude",
                "exitwatch-tests",
            ])
            .current_dir(workspace_root()),
        purpose,
    )?;
    step(
        cargo()
            .args(["test", "--package", "exitwatch-tests", "--lib"])
            .current_dir(workspace_root()),
        purpose,
    )
}

/// The outcomes of the release build and of the end-to-end tests run against it.
fn e2e_tests() -> (Outcome, Outcome) {
    let built = match build(Profile::Release) {
        Ok(built) => built,
        Err(err) => return (outcome(Err(err)), Outcome::NotRun),
    };
    eprintln!(
        "test: end-to-end tests as root against {}",
        built.binary.display()
    );
    let run = step(
        cargo()
            .args([
                "test",
                "--release",
                "--package",
                "exitwatch-tests",
                "--test",
                "e2e",
                "--",
                "--test-threads=1",
            ])
            .env("EXITWATCH_BIN", &built.binary)
            .env("EXITWATCH_BPF_OBJECT", &built.object)
            .current_dir(workspace_root()),
        "running the end-to-end tests",
    );
    (Outcome::Passed, outcome(run))
}

fn outcome(result: Result<()>) -> Outcome {
    match result {
        Ok(()) => Outcome::Passed,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            Outcome::Failed
        }
    }
}
