//! `cargo xtask setup`: checks each tool the builds and tests need and installs what is missing.

use std::{env, process::Command, time::Instant};

use anyhow::{bail, Context as _, Result};

use crate::{
    apt,
    command::{answer, cargo, on_path, prepend_path, step},
    privilege::is_root,
};

/// LLVM for bpf-linker (it links against libLLVM 22, the LLVM of the nightly that emits the bitcode)
/// and the programs the privileged tests drive.
const DEBIAN_PACKAGES: &[&str] = &[
    "llvm-22-dev",
    "libpolly-22-dev",
    "bpftool",
    "procps",
    "util-linux",
];
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";
const BPF_LINKER_VERSION: &str = "0.13.0";
const NIGHTLY: &str = "nightly";

pub fn setup() -> Result<()> {
    let started = Instant::now();
    let python = python_jsonschema();
    let mut wanted = DEBIAN_PACKAGES.to_vec();
    if python == Python::NeedsApt {
        wanted.extend(["python3", "python3-jsonschema"]);
    }
    let missing = apt::missing(&wanted)?;
    let root = is_root()?;
    for package in &wanted {
        match (missing.contains(package), root) {
            (false, _) => item(true, package),
            (true, true) => item(false, package),
            (true, false) => eprintln!("{:<11} {package}", "missing"),
        }
    }
    if !missing.is_empty() {
        if !root {
            bail!("Debian packages missing: {}; installing them needs root. Run\n  {}\nthen `cargo xtask setup` again",
                missing.join(" "), apt::install_line(&missing));
        }
        apt::install(&missing)?;
    }
    match python {
        Python::Ready => item(true, "python3 jsonschema"),
        Python::NeedsApt => {}
        Python::NeedsPip => {
            item(false, "python3 jsonschema (pip)");
            step(
                Command::new("python3").args(["-m", "pip", "install", "-q", "jsonschema"]),
                "installing the python3 module jsonschema with pip",
            )?;
        }
    }
    if python != Python::Ready && python_jsonschema() != Python::Ready {
        bail!("python3 still cannot `import jsonschema` after installing it; check which python3 is on PATH");
    }
    rust_src()?;
    bpf_linker()?;
    eprintln!("setup: done ({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

/// One line per item: `ok` when it was there, `installing` when this run installs it
/// (`missing` when it cannot, for lack of root).
fn item(present: bool, what: &str) {
    eprintln!("{:<11} {what}", if present { "ok" } else { "installing" });
}

#[derive(PartialEq, Eq)]
enum Python {
    Ready,
    /// No python3, or Debian's own: the module comes from the python3-jsonschema package
    /// (pip would refuse to touch an externally managed interpreter).
    NeedsApt,
    /// Some other interpreter (pyenv, venv): pip installs into it.
    NeedsPip,
}

/// The end-to-end tests validate exitwatch's JSON against its schema with python3's jsonschema.
fn python_jsonschema() -> Python {
    let probe = "import sys; print(sys.prefix); import jsonschema";
    let out = Command::new("python3")
        .args(["-c", probe])
        .stderr(std::process::Stdio::null())
        .output();
    match out {
        Err(_) => Python::NeedsApt,
        Ok(out) if out.status.success() => Python::Ready,
        Ok(out) if String::from_utf8_lossy(&out.stdout).trim() == "/usr" => Python::NeedsApt,
        Ok(_) => Python::NeedsPip,
    }
}

/// `-Z build-std=core` for the bpfel target compiles core from the nightly's rust-src.
fn rust_src() -> Result<()> {
    let installed = answer(Command::new("rustup").args(["component", "list", "--installed", "--toolchain", NIGHTLY]))
        .with_context(|| format!("`rustup component list --toolchain {NIGHTLY}` failed: the eBPF programs are \
            built with the `{NIGHTLY}` toolchain, which must be installed (`rustup toolchain list`)"))?;
    let present = installed.lines().any(|l| l.trim().starts_with("rust-src"));
    item(present, "rust-src (nightly)");
    if !present {
        step(
            Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", NIGHTLY]),
            "installing rust-src for the nightly toolchain",
        )?;
    }
    Ok(())
}

fn bpf_linker() -> Result<()> {
    let version = answer(Command::new("bpf-linker").arg("--version")).unwrap_or_default();
    let present = version.split_whitespace().any(|w| w == BPF_LINKER_VERSION);
    if present {
        item(true, &format!("bpf-linker {BPF_LINKER_VERSION}"));
        return Ok(());
    }
    item(
        false,
        &format!("bpf-linker {BPF_LINKER_VERSION} (cargo install, about 5 minutes)"),
    );
    let path = prepend_path(
        format!("{LLVM_PREFIX}/bin").into(),
        &env::var_os("PATH").unwrap_or_default(),
    );
    // --force: a bpf-linker that no longer runs (libLLVM removed) is still "installed" to cargo.
    step(
        cargo()
            .args([
                "install",
                "bpf-linker",
                "--version",
                BPF_LINKER_VERSION,
                "--locked",
                "--force",
            ])
            .args(["--no-default-features", "--features", "llvm-22"])
            .env("LLVM_PREFIX", LLVM_PREFIX)
            .env("LLVM_SYS_221_PREFIX", LLVM_PREFIX)
            .env("PATH", path),
        "installing bpf-linker (needs llvm-22-dev and libpolly-22-dev)",
    )?;
    if on_path("bpf-linker").is_none() {
        bail!("bpf-linker was installed but is not on PATH; add ~/.cargo/bin (or $CARGO_HOME/bin) to PATH");
    }
    Ok(())
}
