//! The fuzz targets (fuzz/, cargo-fuzz): cargo-fuzz installed by `setup`, each target run
//! briefly by `test`. Nightly through rustup, as the eBPF build is.

use std::{process::Command, time::Instant};

use anyhow::{bail, Context as _, Result};

use crate::{
    build::{target_dir, workspace_root},
    command::{answer, cargo, shown},
};

/// The targets of fuzz/Cargo.toml, each run this many seconds by `test` (90 s in all, at most).
pub const TARGETS: &[(&str, u32)] = &[
    ("output_url", 20),
    ("kernel_log", 20),
    ("cgroup_path", 20),
    ("ring_record", 20),
];

/// Installs cargo-fuzz when `cargo fuzz` is missing (a few minutes, once).
pub fn install() -> Result<()> {
    if answer(Command::new("cargo").args(["fuzz", "--version"])).is_some() {
        eprintln!("{:<11} cargo-fuzz", "ok");
        return Ok(());
    }
    eprintln!(
        "{:<11} cargo-fuzz (cargo install, a few minutes)",
        "installing"
    );
    crate::command::step(
        cargo().args(["install", "cargo-fuzz", "--locked"]),
        "installing cargo-fuzz",
    )
}

/// Runs every target for its time; an error names each target that crashed, with the input
/// that makes it crash and the command that replays it.
pub fn run() -> Result<()> {
    let total: u32 = TARGETS.iter().map(|t| t.1).sum();
    eprintln!(
        "test: fuzzing our parsers ({} targets, {total} s)",
        TARGETS.len()
    );
    let root = workspace_root();
    let mut crashed = Vec::new();
    for (target, seconds) in TARGETS {
        let started = Instant::now();
        let corpus = root.join("fuzz/corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("creating {}", corpus.display()))?;
        let mut cmd = Command::new("rustup");
        // Its own target dir: the sanitizer flags would otherwise rebuild, in place, what the
        // static exitwatch build keeps under target/<triple>/release, and each would undo the other.
        cmd.args(["run", "nightly", "cargo", "fuzz", "run", target])
            .arg("--target-dir")
            .arg(target_dir().join("fuzz"))
            .arg(&corpus)
            .arg(root.join("fuzz/seeds").join(target))
            .args(["--", &format!("-max_total_time={seconds}")])
            // The release profile's thin LTO costs ~3 min of linking per target on 2 cores and
            // buys nothing a 20 s fuzz run can measure.
            .env("CARGO_PROFILE_RELEASE_LTO", "false")
            .current_dir(&root);
        for var in [
            "RUSTC",
            "RUSTC_WORKSPACE_WRAPPER",
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTUP_TOOLCHAIN",
        ] {
            cmd.env_remove(var);
        }
        let out = cmd
            .output()
            .with_context(|| format!("fuzzing: could not start {}", shown(&cmd)))?;
        let log = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            let runs = log
                .lines()
                .rev()
                .find(|l| l.starts_with("Done "))
                .unwrap_or("done");
            eprintln!(
                "fuzz: {target}: {runs} ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
            continue;
        }
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        for line in tail.iter().rev() {
            eprintln!("  {line}");
        }
        let reproducer = log.lines().find_map(|l| {
            l.split_once("Test unit written to ")
                .map(|(_, p)| p.trim().to_owned())
        });
        match reproducer {
            Some(path) => {
                eprintln!(
                    "fuzz: {target} CRASHED; the input is {path}; replay it with\n  rustup run nightly cargo fuzz run {target} {path}"
                );
                crashed.push(format!("{target} ({path})"));
            }
            None => crashed.push(format!("{target} (did not build or run: {})", out.status)),
        }
    }
    if !crashed.is_empty() {
        bail!(
            "fuzzing found crashes or could not run: {}",
            crashed.join(", ")
        );
    }
    Ok(())
}
