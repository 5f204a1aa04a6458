//! `cargo xtask test`: unit tests (no root), then the privileged end-to-end tests on the real binary.

use std::{
    fmt,
    io::{BufRead as _, BufReader},
    process::Stdio,
    time::Instant,
};

use anyhow::{bail, Context as _, Result};

use crate::{
    build::{build, workspace_root, Built, Profile},
    command::{cargo, shown, step},
    deploy, fuzz,
    privilege::is_root,
    setup::{setup, Needs},
    suite::Summary,
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
    setup(Needs::Test)?;
    let unit = outcome(unit_tests());
    let (fuzz, build, e2e, deploy) = if unit_only {
        (
            Outcome::NotRun,
            Outcome::NotRun,
            Outcome::NotRun,
            Outcome::NotRun,
        )
    } else {
        let fuzz = outcome(fuzz::run());
        let (build, e2e) = e2e_tests();
        // The image is built from the same eBPF object, so it comes after a successful build.
        let deploy = match build {
            Outcome::Passed => outcome(deploy::deploy_tests()),
            _ => Outcome::NotRun,
        };
        (fuzz, build, e2e, deploy)
    };
    eprintln!(
        "test summary: unit {unit}, fuzz {fuzz}, build {build}, end-to-end {e2e}, deployment {deploy} ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    if [unit, fuzz, build, e2e, deploy].contains(&Outcome::Failed) {
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
                // Nightly and cargo-fuzz: run by `fuzz::run`.
                "--exclude",
                "exitwatch-fuzz",
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
    let run = e2e_on_host(&built, &[]).and_then(|run| {
        if !run.passed {
            bail!(
                "running the end-to-end tests: {} of {} failed",
                run.summary.failed,
                run.summary.ran()
            );
        }
        Ok(())
    });
    (Outcome::Passed, outcome(run))
}

/// How the end-to-end suite went on this machine.
pub struct HostRun {
    pub passed: bool,
    pub summary: Summary,
}

/// The end-to-end tests against `built` on this machine's kernel, as root: the e2e part of `test`
/// and the host row of `kernels`. Their output passes through; `Err` when they could not run.
/// `test_args` go to the test binary (libtest filters, `--skip`...).
pub fn e2e_on_host(built: &Built, test_args: &[String]) -> Result<HostRun> {
    eprintln!(
        "test: end-to-end tests as root against {}",
        built.binary.display()
    );
    let mut cmd = cargo();
    cmd.args([
        "test",
        "--release",
        "--package",
        "exitwatch-tests",
        "--test",
        "e2e",
        "--",
        "--test-threads=1",
    ])
    .args(test_args)
    .env("EXITWATCH_BIN", &built.binary)
    .env("EXITWATCH_BPF_OBJECT", &built.object)
    .current_dir(workspace_root())
    .stdout(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| {
        format!(
            "running the end-to-end tests: could not start {}",
            shown(&cmd)
        )
    })?;
    let mut summary = Summary::default();
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = Vec::new();
    while out.read_until(b'\n', &mut line)? > 0 {
        let text = String::from_utf8_lossy(&line);
        print!("{text}");
        summary.feed(&text);
        line.clear();
    }
    let status = child.wait()?;
    Ok(HostRun {
        passed: status.success() && summary.finished,
        summary,
    })
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
