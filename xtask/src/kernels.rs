//! `cargo xtask kernels`: the end-to-end suite on Debian's 6.1 and 6.12 kernels (QEMU, TCG) and on the
//! host's kernel, with the same binaries, and one PASS/FAIL line per kernel.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

use crate::{
    arch::Arch,
    arm64,
    build::{build, target_dir, workspace_root, Built, Profile},
    command::{cargo, shown},
    debs,
    guest::{self, Suite},
    privilege::is_root,
    qemu::{self, Boot},
    setup::setup,
    suite::Summary,
    test::e2e_on_host,
};

/// The guests: cloud flavours (fewer drivers to probe, so they boot fastest), both with BTF and
/// the signal and oom tracepoints. Exact names, so that every run boots the same kernels.
pub const DEBIAN_KERNELS: &[(&str, &str)] = &[
    ("6.1", "linux-image-6.1.0-50-cloud-amd64"),
    ("6.12", "linux-image-6.12.100+deb12-cloud-amd64"),
];
const BUSYBOX: &str = "busybox-static";
/// A TCG guest boots in seconds but runs everything 5-20 times slower than the host.
/// Per kernel. Each test starts its own exitwatch, and under TCG the verifier's work on a
/// start takes 5 (6.12) to 16 (6.1) seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kernel {
    /// The kernel this machine runs.
    Host,
    /// A Debian kernel package, booted under QEMU.
    Debian(String),
    /// A Debian arm64 kernel package, booted under qemu-system-aarch64 (arm64.rs).
    Arm64(String),
}

impl Kernel {
    /// `host`, a version from DEBIAN_KERNELS (`6.1`), or a package name (`linux-image-...`).
    pub fn parse(s: &str) -> Option<Kernel> {
        if s == "host" {
            return Some(Kernel::Host);
        }
        if let Some(package) = arm64::kernel(s) {
            return Some(Kernel::Arm64(package));
        }
        if s.starts_with("linux-image-") {
            return Some(Kernel::Debian(s.to_string()));
        }
        DEBIAN_KERNELS
            .iter()
            .find(|(version, _)| *version == s)
            .map(|(_, package)| Kernel::Debian(package.to_string()))
    }

    /// The default matrix: the host, then every Debian kernel, arm64 last.
    pub fn all() -> Vec<Kernel> {
        std::iter::once(Kernel::Host)
            .chain(Kernel::guests())
            .chain([Kernel::Arm64(arm64::KERNEL.to_string())])
            .collect()
    }

    /// Every Debian kernel, without the host (for a caller that ran the host suite already).
    pub fn guests() -> Vec<Kernel> {
        DEBIAN_KERNELS
            .iter()
            .map(|(_, p)| Kernel::Debian(p.to_string()))
            .collect()
    }
}

pub struct Options {
    pub timeout: Duration,
    /// Echo the whole guest console.
    pub verbose: bool,
    /// For the test binary, after the matrix's own (libtest filters: `oom::`, `--exact NAME`).
    pub test_args: Vec<String>,
}

/// One kernel's outcome.
pub struct Verdict {
    /// `uname -r`.
    pub kernel: String,
    /// `uname -m`.
    pub arch: Arch,
    pub passed: bool,
    /// What happened, e.g. `12 tests, 71 s: boot 6 s, suite 60 s`.
    pub detail: String,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.passed { "PASS" } else { "FAIL" };
        write!(
            f,
            "kernel {} {}: {verdict} ({})",
            self.kernel,
            self.arch.name(),
            self.detail
        )
    }
}

/// The CLI task: setup, release build, then `run_all`; fails if any kernel failed.
pub fn kernels(chosen: Vec<Kernel>, options: Options) -> Result<()> {
    let chosen = if chosen.is_empty() {
        Kernel::all()
    } else {
        chosen
    };
    if chosen.contains(&Kernel::Host) && !is_root()? {
        bail!(
            "the host run loads eBPF programs and needs root: run `sudo -E cargo xtask kernels`, \
            or `cargo xtask kernels --kernel 6.1 --kernel 6.12` for the guests alone"
        );
    }
    let started = Instant::now();
    setup()?;
    let built = build(Profile::Release)?;
    let verdicts = run_all(&built, &chosen, &options)?;
    eprintln!(
        "kernels: summary ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    for v in &verdicts {
        println!("{v}");
    }
    let failed = verdicts.iter().filter(|v| !v.passed).count();
    if failed > 0 {
        bail!(
            "the end-to-end tests failed on {failed} of {} kernels",
            verdicts.len()
        );
    }
    Ok(())
}

/// Runs the end-to-end suite against `built` on each kernel, in order, printing each verdict as it
/// comes. An `Err` means the matrix could not be run at all (no download, no QEMU...).
pub fn run_all(built: &Built, kernels: &[Kernel], options: &Options) -> Result<Vec<Verdict>> {
    let cache = target_dir().join("kernels");
    fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let guests = kernels.iter().any(|k| matches!(k, Kernel::Debian(_)));
    let initramfs = if guests {
        Some(guest_initramfs(built, &cache, &options.test_args)?)
    } else {
        None
    };
    let mut verdicts = Vec::new();
    for kernel in kernels {
        let verdict = match (kernel, &initramfs) {
            (Kernel::Host, _) => on_host(built, &options.test_args)?,
            (Kernel::Debian(package), Some(initramfs)) => {
                in_guest(package, initramfs, &cache, options)?
            }
            (Kernel::Debian(_), None) => unreachable!("an initramfs is made when there are guests"),
            (Kernel::Arm64(package), _) => arm64::row(built, package, &cache, options)?,
        };
        eprintln!("{verdict}");
        verdicts.push(verdict);
    }
    Ok(verdicts)
}

fn on_host(built: &Built, test_args: &[String]) -> Result<Verdict> {
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "(unknown)".into());
    eprintln!("kernels: the end-to-end tests on this machine's kernel, {kernel}");
    let started = Instant::now();
    let run = e2e_on_host(built, test_args)?;
    let seconds = started.elapsed().as_secs();
    let s = &run.summary;
    let detail = if run.passed {
        format!("host, {}, {seconds} s", counts(s))
    } else if s.finished {
        format!(
            "host, {} of {} tests failed: {}; {seconds} s",
            s.failed,
            s.ran(),
            names(&s.failures)
        )
    } else {
        format!("host, the test run did not finish; {seconds} s")
    };
    Ok(Verdict {
        kernel,
        arch: Arch::host(),
        passed: run.passed,
        detail,
    })
}

fn in_guest(package: &str, initramfs: &Path, cache: &Path, options: &Options) -> Result<Verdict> {
    let unpacked = debs::unpacked(package, cache)?;
    let (release, vmlinuz) = vmlinuz(&unpacked)?;
    boot_verdict(&release, &vmlinuz, initramfs, cache, options, Arch::host())
}

/// Boots `vmlinuz` with `initramfs` on a QEMU machine of `arch` and judges the console.
pub fn boot_verdict(
    release: &str,
    vmlinuz: &Path,
    initramfs: &Path,
    cache: &Path,
    options: &Options,
    arch: Arch,
) -> Result<Verdict> {
    let log = cache.join(format!("{release}.log"));
    eprintln!(
        "kernels: booting {release} under QEMU (TCG), at most {} s; console in {}",
        options.timeout.as_secs(),
        log.display()
    );
    let console = qemu::boot(&Boot {
        machine: arch.machine(),
        kernel: vmlinuz,
        initramfs,
        log: &log,
        timeout: options.timeout,
        verbose: options.verbose,
    })?;
    let passed = console.passed();
    let s = &console.suite;
    let mut what = if console.timed_out {
        "timed out".to_string()
    } else if console.rc.is_none() {
        "the guest stopped without a result".to_string()
    } else if s.failed > 0 {
        format!(
            "{} of {} tests failed: {}",
            s.failed,
            s.ran(),
            names(&s.failures)
        )
    } else if !s.finished {
        format!(
            "the test binary exited with {} before finishing",
            console.rc.unwrap_or(-1)
        )
    } else {
        counts(s)
    };
    if console.smoke == Some(false) {
        what.push_str("; smoke run FAILED: exitwatch did not report `kill -9`");
    }
    let boot = match console.boot {
        Some(d) => format!("boot {} s", d.as_secs()),
        None => "init never ran".into(),
    };
    let suite = match console.suite_seconds {
        Some(s) => format!(", suite {s} s"),
        None => String::new(),
    };
    let detail = format!("{what}; {} s: {boot}{suite}", console.elapsed.as_secs());
    if !passed {
        eprintln!("kernels: the last lines of the {release} console (all of it, with the kernel log, in {}):", log.display());
        for line in &console.tail {
            eprintln!("  | {line}");
        }
    }
    let kernel = match console.version {
        Some(v) if v != release => format!("{v} (package said {release})"),
        Some(v) => v,
        None => release.to_string(),
    };
    Ok(Verdict {
        kernel,
        arch,
        passed,
        detail,
    })
}

/// `29 tests`, with what did not run: `29 tests (1 ignored, 10 skipped)`.
fn counts(s: &Summary) -> String {
    let mut text = format!("{} tests", s.ran());
    let left_out: Vec<String> = [(s.ignored, "ignored"), (s.filtered, "skipped")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if !left_out.is_empty() {
        text.push_str(&format!(" ({})", left_out.join(", ")));
    }
    text
}

/// The first few failed tests, for a one-line verdict (the console has them all).
fn names(failures: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut text = failures
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if failures.len() > SHOWN {
        text.push_str(&format!(" and {} more", failures.len() - SHOWN));
    }
    text
}

/// The kernel release and image of an unpacked linux-image package (`boot/vmlinuz-<release>`).
pub fn vmlinuz(unpacked: &Path) -> Result<(String, PathBuf)> {
    let boot = unpacked.join("boot");
    for entry in fs::read_dir(&boot).with_context(|| format!("listing {}", boot.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(release) = name.strip_prefix("vmlinuz-") {
            return Ok((release.to_string(), path));
        }
    }
    bail!(
        "{} has no vmlinuz-*: not a kernel image package?",
        boot.display()
    )
}

/// Builds the e2e suite (no run) and packs it, exitwatch and their tools into one initramfs that
/// every guest boots.
fn guest_initramfs(built: &Built, cache: &Path, test_args: &[String]) -> Result<PathBuf> {
    let suite = e2e_suite(built, None)?;
    let busybox = debs::unpacked(BUSYBOX, cache)?.join("bin/busybox");
    for (filter, why) in guest::SKIPPED {
        eprintln!("kernels: guests skip {filter}: {why}");
    }
    let out = cache.join("initramfs.cpio.gz");
    let started = Instant::now();
    let written = guest::initramfs(&suite, &busybox, &out, test_args)?;
    eprintln!(
        "kernels: initramfs {} ({} entries, {:.1} MiB unpacked, {:.1} MiB gzip'd, {:.1} s)",
        out.display(),
        written.entries,
        mib(written.unpacked_bytes),
        mib(written.gzip_bytes),
        started.elapsed().as_secs_f64()
    );
    Ok(out)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Builds the e2e test executable and the test crate's helper binaries without running them,
/// and finds them in cargo's JSON messages. `cross`: linked statically for that arch (`built`
/// then holds exitwatch for it) rather than for the host.
pub fn e2e_suite(built: &Built, cross: Option<Arch>) -> Result<Suite> {
    eprintln!(
        "kernels: building the end-to-end tests{}",
        cross.map_or(String::new(), |a| format!(" for {}, static", a.name()))
    );
    let mut cmd = cargo();
    cmd.args([
        "test",
        "--release",
        "--package",
        "exitwatch-tests",
        "--test",
        "e2e",
    ])
    .args(["--no-run", "--message-format=json-render-diagnostics"])
    .env("EXITWATCH_BPF_OBJECT", &built.object)
    .current_dir(workspace_root())
    .stderr(Stdio::inherit());
    if let Some(arch) = cross {
        cmd.args(["--target", arch.triple()]);
        arch.static_build_env(&mut cmd);
    }
    let out = cmd
        .output()
        .with_context(|| format!("could not run `{}`", shown(&cmd)))?;
    if !out.status.success() {
        bail!(
            "building the end-to-end tests: `{}` failed ({})",
            shown(&cmd),
            out.status
        );
    }
    let artifacts: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["executable"].is_string())
        .collect();
    let kind = |m: &Value, k: &str| {
        m["target"]["kind"]
            .as_array()
            .is_some_and(|ks| ks.iter().any(|x| x == k))
    };
    let e2e = artifacts
        .iter()
        .find(|m| kind(m, "test") && m["target"]["name"] == "e2e")
        .context("cargo built no `e2e` test executable")?;
    let manifest = e2e["manifest_path"].as_str().context("no manifest_path")?;
    let path = |m: &Value| PathBuf::from(m["executable"].as_str().unwrap_or_default());
    Ok(Suite {
        exitwatch: built.binary.clone(),
        e2e: path(e2e),
        helpers: artifacts
            .iter()
            .filter(|m| kind(m, "bin") && m["manifest_path"] == manifest)
            .map(path)
            .collect(),
        test_crate: Path::new(manifest)
            .parent()
            .context("manifest_path has no parent")?
            .to_path_buf(),
        workspace: workspace_root(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_are_named_by_version_package_or_host() {
        assert_eq!(Kernel::parse("host"), Some(Kernel::Host));
        assert_eq!(
            Kernel::parse("6.1"),
            Some(Kernel::Debian("linux-image-6.1.0-50-cloud-amd64".into()))
        );
        assert_eq!(
            Kernel::parse("linux-image-6.1.0-56-amd64"),
            Some(Kernel::Debian("linux-image-6.1.0-56-amd64".into()))
        );
        assert_eq!(Kernel::parse("6.6"), None);
        assert_eq!(
            Kernel::parse("arm64"),
            Some(Kernel::Arm64("linux-image-6.1.0-50-cloud-arm64".into()))
        );
        assert_eq!(Kernel::all().len(), 1 + DEBIAN_KERNELS.len() + 1);
    }
}
