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
    guest::{self, Runtimes, Suite},
    privilege::is_root,
    qemu::{self, Boot},
    setup::{setup, Needs},
    suite::Summary,
    test::e2e_on_host,
};

/// A Debian kernel the matrix boots under QEMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guest {
    /// What `--kernel` takes: `6.1`.
    pub name: &'static str,
    pub package: &'static str,
    /// Where in Debian's archive the package is, for suites this machine's apt does not list
    /// (bullseye's 5.10 on a bookworm host); None: `apt-get download`.
    pub pool: Option<&'static str>,
    pub runtimes: Runtimes,
}

/// The guests: cloud flavours (fewer drivers to probe, so they boot fastest), all with BTF and
/// the signal and oom tracepoints, all booted as pure cgroup v2 machines. Exact names, so that
/// every run boots the same kernels. 5.10 is the oldest kernel generation still common on nodes
/// (Debian 11, Amazon Linux 2); 6.12 also runs the container tests under real containerd, runc
/// and Docker.
pub const GUESTS: &[Guest] = &[
    Guest {
        name: "5.10",
        package: "linux-image-5.10.0-32-cloud-amd64",
        pool: Some(
            "pool/main/l/linux-signed-amd64/linux-image-5.10.0-32-cloud-amd64_5.10.223-1_amd64.deb",
        ),
        runtimes: Runtimes::No,
    },
    Guest {
        name: "6.1",
        package: "linux-image-6.1.0-50-cloud-amd64",
        pool: None,
        runtimes: Runtimes::No,
    },
    Guest {
        name: "6.12",
        package: "linux-image-6.12.100+deb12-cloud-amd64",
        pool: None,
        runtimes: Runtimes::Yes,
    },
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
    Debian(Guest),
    /// Any other linux-image package `apt-get download` can fetch, without the runtimes.
    Package(String),
    /// A Debian arm64 kernel package, booted under qemu-system-aarch64 (arm64.rs).
    Arm64(String),
}

impl Kernel {
    /// `host`, a name from GUESTS (`6.1`), or a package name (`linux-image-...`).
    pub fn parse(s: &str) -> Option<Kernel> {
        if s == "host" {
            return Some(Kernel::Host);
        }
        if let Some(package) = arm64::kernel(s) {
            return Some(Kernel::Arm64(package));
        }
        if let Some(guest) = GUESTS.iter().find(|g| g.name == s || g.package == s) {
            return Some(Kernel::Debian(*guest));
        }
        s.starts_with("linux-image-")
            .then(|| Kernel::Package(s.to_string()))
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
        GUESTS.iter().map(|g| Kernel::Debian(*g)).collect()
    }

    /// The guest's package, where in the archive it is, and its runtimes; None for the host.
    fn guest(&self) -> Option<(&str, Option<&'static str>, Runtimes)> {
        match self {
            // arm64: arm64::row.
            Kernel::Host | Kernel::Arm64(_) => None,
            Kernel::Debian(g) => Some((g.package, g.pool, g.runtimes)),
            Kernel::Package(p) => Some((p, None, Runtimes::No)),
        }
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
    pub arch: String,
    /// `v2`, `hybrid` or `v1`.
    pub cgroup: String,
    pub passed: bool,
    /// What happened, e.g. `12 tests, 71 s: boot 6 s, suite 60 s`.
    pub detail: String,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.passed { "PASS" } else { "FAIL" };
        write!(
            f,
            "kernel {} {} cgroup-{}: {verdict} ({})",
            self.kernel, self.arch, self.cgroup, self.detail
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
    setup(Needs::Test)?;
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
    // One initramfs per kind of guest, made when the first guest of that kind boots.
    let mut initramfs: Vec<(Runtimes, PathBuf)> = Vec::new();
    let mut suite = None;
    let mut verdicts = Vec::new();
    for kernel in kernels {
        let verdict = match (kernel, kernel.guest()) {
            (Kernel::Arm64(package), _) => arm64::row(built, package, &cache, options)?,
            (_, None) => on_host(built, &options.test_args)?,
            (_, Some((package, pool, runtimes))) => {
                let image = match initramfs.iter().find(|(r, _)| *r == runtimes) {
                    Some((_, image)) => image.clone(),
                    None => {
                        if suite.is_none() {
                            suite = Some(e2e_suite(built, None)?);
                        }
                        let suite = suite.as_ref().expect("built above");
                        let image = guest_initramfs(suite, &cache, &options.test_args, runtimes)?;
                        initramfs.push((runtimes, image.clone()));
                        image
                    }
                };
                in_guest((package, pool, runtimes), &image, &cache, options)?
            }
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
    let cgroup = cgroup_mode(&fs::read_to_string("/proc/mounts").unwrap_or_default());
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
        arch: std::env::consts::ARCH.to_string(),
        cgroup: cgroup.to_string(),
        passed: run.passed,
        detail,
    })
}

/// The cgroup layout /proc/mounts shows: `v2` (cgroup2 at /sys/fs/cgroup, no v1 hierarchy),
/// `hybrid` (v1 controllers and a cgroup2 beside them), `v1`.
fn cgroup_mode(mounts: &str) -> &'static str {
    let types: Vec<(&str, &str)> = mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.nth(1)?, f.next()?))
        })
        .collect();
    let v1 = types.iter().any(|(_, t)| *t == "cgroup");
    let v2 = types.iter().any(|(_, t)| *t == "cgroup2");
    match (v1, v2) {
        (false, true) => "v2",
        (true, true) => "hybrid",
        _ => "v1",
    }
}

fn in_guest(
    (package, pool, runtimes): (&str, Option<&str>, Runtimes),
    initramfs: &Path,
    cache: &Path,
    options: &Options,
) -> Result<Verdict> {
    let unpacked = debs::unpacked(package, pool, cache)?;
    let (release, vmlinuz) = vmlinuz(&unpacked)?;
    boot_verdict(
        &release,
        &vmlinuz,
        initramfs,
        cache,
        options,
        (Arch::host(), runtimes),
    )
}

/// Boots `vmlinuz` with `initramfs` on a QEMU machine of `arch` and judges the console;
/// `runtimes`: whether the initramfs has the container runtimes (it needs more memory).
pub fn boot_verdict(
    release: &str,
    vmlinuz: &Path,
    initramfs: &Path,
    cache: &Path,
    options: &Options,
    (arch, runtimes): (Arch, Runtimes),
) -> Result<Verdict> {
    let log = cache.join(format!("{release}.log"));
    let boot = |log: &Path| -> Result<qemu::Console> {
        eprintln!(
            "kernels: booting {release} under QEMU (TCG), at most {} s; console in {}",
            options.timeout.as_secs(),
            log.display()
        );
        qemu::boot(&Boot {
            machine: arch.machine(),
            kernel: vmlinuz,
            initramfs,
            log,
            timeout: options.timeout,
            verbose: options.verbose,
            // The runtimes' initramfs unpacks to about 250 MB, and containerd and dockerd run.
            memory_mib: match runtimes {
                Runtimes::No => 1024,
                Runtimes::Yes => 2048,
            },
        })
    };
    let kept = cache.join(format!("{release}.first-boot.log"));
    // A first boot's console from an earlier run would say something about this one.
    let _ = fs::remove_file(&kept);
    let mut console = boot(&log)?;
    // A boot that ended before exitwatch could have run, or that QEMU or the host ended, says
    // nothing about exitwatch: it boots once more, and the verdict says so
    // (`Console::second_boot`).
    let mut first_boot = None;
    if let Some(why) = console.second_boot() {
        let where_ = match fs::rename(&log, &kept) {
            Ok(()) => format!("console in {}", kept.display()),
            Err(e) => format!("its console could not be kept: {e}"),
        };
        let mut trouble = console
            .qemu_exit
            .as_ref()
            .map(|e| format!(" (QEMU: {e})"))
            .unwrap_or_default();
        if let Some(t) = &console.trouble {
            trouble.push_str(&format!(", its kernel having said `{t}`"));
        }
        eprintln!(
            "kernels: the {release} guest stopped without a result after {} s, {why}{trouble}; \
             booting it once more. Its last console lines ({where_}):",
            console.elapsed.as_secs(),
        );
        for line in &console.tail {
            eprintln!("  | {line}");
        }
        first_boot = Some(format!(
            "; the first boot stopped without a result after {} s, {why}{trouble} ({where_}), \
             this is the second",
            console.elapsed.as_secs(),
        ));
        console = boot(&log)?;
    }
    let passed = console.passed();
    let s = &console.suite;
    let mut what = if console.timed_out {
        "timed out".to_string()
    } else if console.rc.is_none() {
        match &console.panic {
            Some(line) => format!("the guest's kernel panicked: `{line}`"),
            None => format!(
                "the guest stopped without a result (QEMU: {})",
                console.qemu_exit.as_deref().unwrap_or("unknown")
            ),
        }
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
    // The first sign of kernel trouble, unless it is the panic line already quoted.
    if let Some(t) = console
        .trouble
        .as_ref()
        .filter(|t| console.panic.as_ref() != Some(t))
    {
        what.push_str(&format!("; the kernel said `{t}`"));
    }
    if console.smoke == Some(false) {
        what.push_str("; smoke run FAILED: exitwatch did not report `kill -9`");
    }
    if let Some(rc) = console.doctor.filter(|rc| *rc != 0) {
        what.push_str(&format!(
            "; `exitwatch doctor` exited {rc}: it found this kernel unusable (console has its checks)"
        ));
    }
    let boot = match (console.boot, console.init_started) {
        (Some(d), _) => format!("boot {} s", d.as_secs()),
        (None, true) => "init started but never said the kernel's version".into(),
        (None, false) => "init never ran".into(),
    };
    let suite = match console.suite_seconds {
        Some(s) => format!(", suite {s} s"),
        None => String::new(),
    };
    let detail = format!(
        "{what}; {} s: {boot}{suite}{}",
        console.elapsed.as_secs(),
        first_boot.unwrap_or_default()
    );
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
        arch: console
            .arch
            .clone()
            .unwrap_or_else(|| arch.name().to_string()),
        cgroup: console.cgroup.clone().unwrap_or_else(|| "(unknown)".into()),
        passed,
        detail,
    })
}

/// `29 tests (10 skipped), 14 container tests run`: what ran, what did not (skipped by the
/// guest's filters, and ignored when not asked for), and how many of those that ran were the
/// container tests under real runtimes.
fn counts(s: &Summary) -> String {
    let mut left_out = format!("{} skipped", s.filtered);
    if s.ignored > 0 {
        left_out.push_str(&format!(", {} ignored", s.ignored));
    }
    format!(
        "{} tests ({left_out}), {} container tests run",
        s.ran(),
        s.containers
    )
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

/// Packs the e2e suite, exitwatch and their tools (and the container runtimes, for guests that
/// run the container tests) into one initramfs that every guest of that kind boots.
fn guest_initramfs(
    suite: &Suite,
    cache: &Path,
    test_args: &[String],
    runtimes: Runtimes,
) -> Result<PathBuf> {
    let busybox = debs::unpacked(BUSYBOX, None, cache)?.join("bin/busybox");
    for (filter, why) in guest::skipped(runtimes) {
        eprintln!("kernels: guests ({runtimes:?} runtimes) skip {filter}: {why}");
    }
    let out = cache.join(match runtimes {
        Runtimes::No => "initramfs.cpio.gz",
        Runtimes::Yes => "initramfs-runtimes.cpio.gz",
    });
    let started = Instant::now();
    let written = guest::initramfs(suite, &busybox, &out, test_args, runtimes)?;
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
        let six_one = Kernel::parse("6.1").unwrap();
        assert_eq!(
            six_one.guest().map(|(package, _, _)| package),
            Some("linux-image-6.1.0-50-cloud-amd64")
        );
        assert_eq!(
            Kernel::parse("linux-image-6.1.0-50-cloud-amd64"),
            Some(six_one)
        );
        assert_eq!(
            Kernel::parse("linux-image-6.1.0-56-amd64"),
            Some(Kernel::Package("linux-image-6.1.0-56-amd64".into()))
        );
        assert_eq!(Kernel::parse("6.6"), None);
        assert_eq!(
            Kernel::parse("arm64"),
            Some(Kernel::Arm64("linux-image-6.1.0-50-cloud-arm64".into()))
        );
        assert_eq!(Kernel::all().len(), 1 + GUESTS.len() + 1);
        assert!(
            GUESTS.iter().any(|g| g.runtimes == Runtimes::Yes),
            "one guest runs the container tests"
        );
    }

    #[test]
    fn cgroup_layouts_from_mounts() {
        let v2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n";
        let hybrid = "tmpfs /sys/fs/cgroup tmpfs ro 0 0\n\
                      cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n\
                      cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n";
        assert_eq!(cgroup_mode(v2), "v2");
        assert_eq!(cgroup_mode(hybrid), "hybrid");
        assert_eq!(
            cgroup_mode("cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\n"),
            "v1"
        );
    }

    #[test]
    fn counts_say_what_ran_and_what_did_not() {
        let s = Summary {
            passed: 57,
            filtered: 3,
            containers: 14,
            finished: true,
            ..Summary::default()
        };
        assert_eq!(counts(&s), "57 tests (3 skipped), 14 container tests run");
    }
}
