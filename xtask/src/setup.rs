//! `cargo xtask setup`: checks each tool the builds and tests need and installs what is missing.

use std::{env, process::Command, time::Instant};

use anyhow::{bail, Context as _, Result};

use crate::{
    apt,
    command::{answer, cargo, on_path, prepend_path, step},
    privilege::is_root,
};

/// What a command needs installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Building exitwatch (`build`, `run`): LLVM for bpf-linker, bpf-linker, rust-src. Nothing
    /// else is installed or changed on the machine.
    Build,
    /// Building and every test (`test`, `kernels`, `bench`, `image`, `setup`): the runtimes,
    /// QEMU and peers the tests drive too.
    Test,
}

/// LLVM for bpf-linker (it links against libLLVM 22, the LLVM of the nightly that emits the
/// bitcode): all that building needs from Debian.
const BUILD_PACKAGES: &[&str] = &["llvm-22-dev", "libpolly-22-dev"];

/// What only the tests drive: the programs of the privileged tests, QEMU for the kernel matrix
/// (`kernels`), and the real runtimes and receivers. Installed, never configured: the tests
/// start their own containerd and dockerd with their own config files, sockets and state
/// (tests/src/daemons.rs), so nothing here touches /etc/containerd or /etc/docker.
const TEST_PACKAGES: &[&str] = &[
    "bpftool",
    "procps",
    "util-linux",
    "qemu-system-x86",
    // Kernels from suites apt does not list (5.10) are fetched from the archive by URL.
    "curl",
    // The deployment: buildah builds the image without a daemon; containerd, runc and a static
    // busybox run it and its victims (tests/deploy), and the container tests' containers, pods
    // (containerd's CRI plugin) and Docker containers (tests/e2e/containers.rs).
    "buildah",
    "containerd",
    "runc",
    "busybox-static",
    "docker.io",
    // podman's containers for the container tests: a third runtime's cgroup paths and API.
    "podman",
    // A real syslog receiver, and OpenSSL's s_server as a TLS peer, for the SIEM output tests
    // (tests/e2e/siem); rsyslog's gtls netstream driver receives syslog over TLS (RFC 5425).
    "rsyslog",
    "rsyslog-gnutls",
    "openssl",
    // promtool, Prometheus's own parser, checks deploy/prometheus's alert rules (tests/deploy).
    // The package's service is never started by the tests.
    "prometheus",
];
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";
const BPF_LINKER_VERSION: &str = "0.13.0";
const NIGHTLY: &str = "nightly";

pub fn setup(needs: Needs) -> Result<()> {
    let started = Instant::now();
    let mut wanted = BUILD_PACKAGES.to_vec();
    if needs == Needs::Test {
        wanted.extend(TEST_PACKAGES);
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
    if needs == Needs::Test {
        crate::deploy::kubernetes_validate()?;
        crate::fuzz::install()?;
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
