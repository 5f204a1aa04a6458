//! `cargo xtask setup`: checks each tool the builds and tests need and installs what is missing.

use std::{env, process::Command, time::Instant};

use anyhow::{bail, Context as _, Result};

use crate::{
    apt,
    command::{answer, cargo, on_path, prepend_path, step},
    privilege::is_root,
};

/// LLVM for bpf-linker (it links against libLLVM 22, the LLVM of the nightly that emits the bitcode),
/// the programs the privileged tests drive, and QEMU for the kernel matrix (`kernels`).
const DEBIAN_PACKAGES: &[&str] = &[
    "llvm-22-dev",
    "libpolly-22-dev",
    "bpftool",
    "procps",
    "util-linux",
    "qemu-system-x86",
    // The deployment: buildah builds the image without a daemon; containerd, runc and a static
    // busybox run it and its victims (tests/deploy), and the container tests' containers, pods
    // (containerd's CRI plugin) and Docker containers (tests/e2e/containers.rs).
    "buildah",
    "containerd",
    "runc",
    "busybox-static",
    "docker.io",
    // A real syslog receiver, and OpenSSL's s_server as a TLS peer, for the SIEM output tests
    // (tests/e2e/siem).
    "rsyslog",
    "openssl",
];
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";
const BPF_LINKER_VERSION: &str = "0.13.0";
const NIGHTLY: &str = "nightly";

pub fn setup() -> Result<()> {
    let started = Instant::now();
    let wanted = DEBIAN_PACKAGES.to_vec();
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
    containerd_config(root)?;
    crate::deploy::kubernetes_validate()?;
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

/// containerd's config for this machine: its CRI plugin must not try to lower a pod
/// sandbox's oom_score_adj (-998), which needs CAP_SYS_RESOURCE; root on these machines lacks it
/// and every RunPodSandbox would fail. Written only when there is no config yet.
fn containerd_config(root: bool) -> Result<()> {
    const PATH: &str = "/etc/containerd/config.toml";
    const SECTION: &str = "[plugins.\"io.containerd.grpc.v1.cri\"]";
    const KEY: &str = "restrict_oom_score_adj = true";
    let text = std::fs::read_to_string(PATH).unwrap_or_default();
    if text.contains(KEY) {
        item(true, "containerd config (restrict_oom_score_adj)");
        return Ok(());
    }
    if !root {
        eprintln!("{:<11} {KEY} in {PATH} (needs root)", "missing");
        return Ok(());
    }
    item(false, "containerd config (restrict_oom_score_adj)");
    // Debian ships a config with the CRI section: add the key under its header; else write one.
    let updated = match text.lines().position(|l| l.trim() == SECTION) {
        Some(at) => {
            let indent = text
                .lines()
                .nth(at)
                .map_or(0, |l| l.len() - l.trim_start().len())
                + 2;
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            lines.insert(at + 1, format!("{:indent$}{KEY}", ""));
            lines.join("\n") + "\n"
        }
        None if text.trim().is_empty() => format!("version = 2\n\n{SECTION}\n  {KEY}\n"),
        None => format!("{text}\n{SECTION}\n  {KEY}\n"),
    };
    std::fs::create_dir_all("/etc/containerd").context("creating /etc/containerd")?;
    std::fs::write(PATH, updated).with_context(|| format!("writing {PATH}"))?;
    if Command::new("pgrep")
        .args(["-x", "containerd"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!(
            "{:<11} containerd is running with its old config: restart it to apply",
            "note"
        );
    }
    Ok(())
}

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
