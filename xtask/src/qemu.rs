//! Boots a kernel and an initramfs under QEMU (TCG, no disk, serial console), records the console and
//! reads the guest's EXITWATCH-* marker lines.

use std::{
    collections::VecDeque,
    fs::File,
    io::{BufRead as _, BufReader, Read as _, Write as _},
    path::Path,
    process::{Command, Stdio},
    sync::mpsc::{self, RecvTimeoutError},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

use crate::suite::Summary;

/// How many console lines (kernel log dump left out) a failure shows.
const TAIL: usize = 60;
/// How long QEMU may take to power off once the guest printed its result.
const POWEROFF: Duration = Duration::from_secs(30);

/// How QEMU emulates a machine of one arch.
pub struct Machine {
    pub qemu: &'static str,
    /// The Debian package that has `qemu`.
    pub package: &'static str,
    pub args: &'static [&'static str],
    /// `-accel`: always TCG (/dev/kvm exists on these machines but hangs), with its options.
    pub accel: &'static str,
    /// The serial console's device name in the guest.
    pub console: &'static str,
}

/// One host thread runs both vCPUs in turn (`thread=single`). With a thread per vCPU (QEMU
/// 7.2's default), a vCPU can run a site another vCPU is live-patching and oops on the int3
/// the patch puts there first (`text_poke_bp`): `Oops: int3` then `Kernel panic ... Fatal
/// exception in interrupt`. Seen twice on 2026-12-04 in the 6.12 row (once before init, once
/// in `kmem_cache_free` as containerd's first memory cgroup switched a static key). Reproduced
/// with an init that flips `kernel.sched_schedstats` 3,000 times while both vCPUs run
/// fork/exec loops: 2 oopses in 4 boots with a thread per vCPU, 0 in 12 with
/// `thread=single`. (x86's int3 handler finishes an instruction hit while its patch is under
/// way; an int3 run after the patch was done means a vCPU ran stale code: QEMU's handling of
/// code one vCPU rewrites while another runs it.) arm64 switches a static branch by
/// rewriting one instruction, with no int3 step, and keeps a thread per vCPU.
pub const X86_64: Machine = Machine {
    qemu: "qemu-system-x86_64",
    package: "qemu-system-x86",
    args: &[],
    accel: "tcg,thread=single",
    console: "ttyS0",
};

/// `virt` with every CPU feature, TCG (emulated on any host). `pauth-impdef`: the kernel signs
/// return addresses (CONFIG_ARM64_PTR_AUTH_KERNEL), and QEMU's emulation of the architected
/// algorithm (QARMA) costs many host instructions per function call; the implementation-defined
/// one is far cheaper and equally valid for the guest.
pub const AARCH64: Machine = Machine {
    qemu: "qemu-system-aarch64",
    package: "qemu-system-arm",
    args: &["-M", "virt", "-cpu", "max,pauth-impdef=on"],
    accel: "tcg",
    console: "ttyAMA0",
};

pub struct Boot<'a> {
    pub machine: &'a Machine,
    pub kernel: &'a Path,
    pub initramfs: &'a Path,
    /// The whole console goes here.
    pub log: &'a Path,
    pub timeout: Duration,
    /// Echo every console line (else only test progress and the smoke verdict).
    pub verbose: bool,
    /// Guest memory: the initramfs is unpacked into it.
    pub memory_mib: u32,
}

/// What the guest said, read from its console.
#[derive(Debug, Default)]
pub struct Console {
    /// `uname -r` inside the guest.
    pub version: Option<String>,
    /// `uname -m` inside the guest.
    pub arch: Option<String>,
    /// The guest's cgroup layout: `v2` or `hybrid`.
    pub cgroup: Option<String>,
    pub smoke: Option<bool>,
    /// `exitwatch doctor`'s exit status (0: the node can run exitwatch).
    pub doctor: Option<i32>,
    /// The e2e binary's exit status.
    pub rc: Option<i32>,
    pub suite: Summary,
    pub suite_seconds: Option<u64>,
    /// From boot to init's first line.
    pub boot: Option<Duration>,
    /// Whether init started: `EXITWATCH-INIT`, the first thing guest_init.sh does. Before it
    /// nothing of this project's has run in the guest.
    pub init_started: bool,
    pub elapsed: Duration,
    pub timed_out: bool,
    /// The last lines outside the kernel-log dump.
    pub tail: VecDeque<String>,
    /// The first line where the guest's kernel reported trouble (an oops, a BUG, a lockup, a
    /// panic), from the console or the kernel-log dump: the first sign of what went wrong.
    pub trouble: Option<String>,
    /// The kernel's `Kernel panic - not syncing: ...` line: with `panic=-1 -no-reboot` a
    /// panic ends QEMU, so a guest that stopped without a result and without this line was
    /// not stopped by its kernel.
    pub panic: Option<String>,
    /// How QEMU ended (`exit status: 0` after a power-off or a panic; a signal if it was
    /// killed), when it ended on its own before the deadline.
    pub qemu_exit: Option<String>,
    in_dmesg: bool,
}

/// How a kernel's reports of trouble begin. Some reach the console through loglevel=3 (a
/// panic, `BUG: kernel NULL pointer dereference` and lockups are KERN_EMERG or KERN_ALERT);
/// the others (x86's `Oops:` header) only through the guest's dmesg dump after a failure.
const TROUBLE_MARKERS: [&str; 5] = [
    "Kernel panic",
    "BUG: ",
    "Oops: ",
    "general protection fault",
    "Unable to handle kernel",
];

impl Console {
    fn feed(&mut self, line: &str, since_start: Duration) {
        let line = line.trim_end();
        // The firmware's escape sequences share the first line with init's first words.
        let line = line.find("EXITWATCH-").map_or(line, |at| &line[at..]);
        if self.trouble.is_none() && TROUBLE_MARKERS.iter().any(|m| line.contains(m)) {
            self.trouble = Some(printable(line));
        }
        if self.panic.is_none() && line.contains("Kernel panic") {
            self.panic = Some(printable(line));
        }
        if line == "EXITWATCH-INIT" {
            self.init_started = true;
        } else if let Some(v) = line.strip_prefix("EXITWATCH-KERNEL-VERSION ") {
            self.version = Some(v.to_string());
            self.boot = Some(since_start);
        } else if let Some(v) = line.strip_prefix("EXITWATCH-ARCH ") {
            self.arch = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("EXITWATCH-CGROUP ") {
            self.cgroup = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("EXITWATCH-SMOKE ") {
            self.smoke = Some(v == "PASS");
        } else if let Some(v) = line.strip_prefix("EXITWATCH-DOCTOR rc=") {
            self.doctor = v.parse().ok();
        } else if let Some(v) = line.strip_prefix("EXITWATCH-KERNEL-RESULT rc=") {
            self.rc = v.parse().ok();
        } else if let Some(v) = line.strip_prefix("EXITWATCH-SUITE-SECONDS ") {
            self.suite_seconds = v.parse().ok();
        } else if line == "EXITWATCH-DMESG-BEGIN" {
            self.in_dmesg = true;
        } else if line == "EXITWATCH-DMESG-END" {
            self.in_dmesg = false;
            return;
        }
        if self.in_dmesg {
            return;
        }
        self.suite.feed(line);
        if self.tail.len() == TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(printable(line));
    }

    /// Whether the guest ended (powered off, crashed, or QEMU went) before saying its result.
    pub fn stopped_without_result(&self) -> bool {
        !self.timed_out && self.rc.is_none()
    }

    /// Why this boot says nothing about exitwatch, so the guest should boot once more; `None`
    /// when its verdict stands. A guest that ended before its result either
    /// - had its kernel die before init started: nothing of this project's had run yet (seen
    ///   in CI, 2026-12-04: the 6.12 guest under TCG, `Oops: int3` 5.6 s into its boot), or
    /// - ended without a kernel panic: with `panic=-1 -no-reboot` a panic is how the guest's
    ///   kernel ends QEMU, so QEMU or the host stopped it, or the guest's CPU reset (seen in
    ///   CI, 2026-12-03: the 6.12 guest gone 17 s after init, no panic on its console).
    ///
    /// A panic once init started (its own failure, `Attempted to kill init!`, included) may be
    /// this project's doing and a timeout may be a hang of its making: both fail the row at
    /// once, as does a second boot that ends like the first.
    pub fn second_boot(&self) -> Option<&'static str> {
        if !self.stopped_without_result() {
            return None;
        }
        match (&self.panic, self.init_started) {
            (Some(_), false) => Some("its kernel panicked before init started"),
            (Some(_), true) => None,
            (None, _) => Some("without a kernel panic"),
        }
    }

    /// Whether the guest ran everything and all of it passed.
    pub fn passed(&self) -> bool {
        !self.timed_out
            && self.smoke == Some(true)
            && self.doctor == Some(0)
            && self.rc == Some(0)
            && self.suite.finished
            && self.suite.failed == 0
    }
}

/// `line` with control characters (the firmware's terminal escapes, whatever a test printed)
/// shown as escapes rather than sent to the terminal.
fn printable(line: &str) -> String {
    line.chars()
        .map(|c| match c {
            '\t' => c.to_string(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn interesting(line: &str) -> bool {
    line.starts_with("test ")
        || line.starts_with("EXITWATCH-SMOKE")
        || line.starts_with("EXITWATCH-WARNING")
        || line.starts_with("EXITWATCH-DOCTOR")
}

/// Boots the guest and waits for it to power off, at most `timeout`.
pub fn boot(b: &Boot) -> Result<Console> {
    let mut log = File::create(b.log).with_context(|| format!("creating {}", b.log.display()))?;
    let m = b.machine;
    let mut cmd = Command::new(m.qemu);
    cmd.args(m.args)
        .args(["-accel", m.accel, "-smp", "2"])
        .args(["-m", &b.memory_mib.to_string()])
        .args(["-nographic", "-no-reboot"])
        .arg("-kernel")
        .arg(b.kernel)
        .arg("-initrd")
        .arg(b.initramfs)
        // loglevel=3: kernel errors (an OOM report) would cut into the test output; the guest
        // dumps dmesg when something failed. panic=-1 + -no-reboot: a panic ends QEMU.
        // cgroup_no_v1=all: a pure cgroup v2 machine, as production nodes are.
        .arg("-append")
        .arg(format!(
            "console={} panic=-1 loglevel=3 cgroup_no_v1=all",
            m.console
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut qemu = cmd.spawn().with_context(|| {
        format!(
            "could not start {} (Debian package {}; `cargo xtask setup` or `cargo xtask kernels` \
             installs it)",
            m.qemu, m.package
        )
    })?;
    let (tx, rx) = mpsc::channel();
    let mut stdout = BufReader::new(qemu.stdout.take().expect("piped"));
    thread::spawn(move || loop {
        let mut line = Vec::new();
        match stdout.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if tx
                    .send(String::from_utf8_lossy(&line).into_owned())
                    .is_err()
                {
                    break;
                }
            }
        }
    });
    let mut stderr = qemu.stderr.take().expect("piped");
    let errors = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let mut console = Console::default();
    let mut deadline = started + b.timeout;
    loop {
        let line = match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => line,
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                console.timed_out = console.rc.is_none();
                break;
            }
        };
        log.write_all(line.as_bytes())?;
        console.feed(&line, started.elapsed());
        let line = line.trim_end();
        if b.verbose || interesting(line) {
            eprintln!("  | {}", printable(line));
        }
        if console.rc.is_some() {
            deadline = deadline.min(Instant::now() + POWEROFF);
        }
    }
    // Ended, powered off, or out of time: QEMU goes either way.
    let _ = qemu.kill();
    let status = qemu.wait()?;
    console.elapsed = started.elapsed();
    if !console.timed_out && console.rc.is_none() {
        console.qemu_exit = Some(status.to_string());
    }
    let errors = errors.join().unwrap_or_default();
    if !errors.trim().is_empty() {
        writeln!(log, "--- qemu stderr ({status})\n{errors}")?;
        console
            .tail
            .push_back(format!("qemu ({status}): {}", errors.trim()));
    }
    Ok(console)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_and_suite_are_read_and_the_kernel_log_kept_out_of_the_tail() {
        let mut c = Console::default();
        let t = Duration::from_secs(6);
        for line in [
            "[    0.000000] Linux version 6.1.0-50-cloud-amd64\r\n",
            "Probing EDD (edd=off to disable)... ok\x1b[2JEXITWATCH-KERNEL-VERSION 6.1.0-50-cloud-amd64\r\n",
            "EXITWATCH-ARCH x86_64\r\n",
            "EXITWATCH-CGROUP v2\r\n",
            "EXITWATCH-SMOKE PASS\r\n",
            "EXITWATCH-DOCTOR rc=0\r\n",
            "test a ... ok\r\n",
            "test b ... FAILED\r\n",
            "test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 50.1s\r\n",
            "EXITWATCH-SUITE-SECONDS 51\r\n",
            "EXITWATCH-DMESG-BEGIN\r\n",
            "[   60.1] Memory cgroup out of memory\r\n",
            "EXITWATCH-DMESG-END\r\n",
            "EXITWATCH-KERNEL-RESULT rc=101\r\n",
        ] {
            c.feed(line, t);
        }
        assert_eq!(c.version.as_deref(), Some("6.1.0-50-cloud-amd64"));
        assert_eq!(c.boot, Some(t));
        assert_eq!(c.arch.as_deref(), Some("x86_64"));
        assert_eq!(c.cgroup.as_deref(), Some("v2"));
        assert_eq!(c.smoke, Some(true));
        assert_eq!(c.doctor, Some(0));
        assert_eq!(c.rc, Some(101));
        assert_eq!(c.suite_seconds, Some(51));
        assert_eq!((c.suite.passed, c.suite.failed), (1, 1));
        assert_eq!(c.suite.failures, ["b"]);
        assert!(!c.tail.iter().any(|l| l.contains("Memory cgroup")));
        assert!(!c.passed());
    }

    #[test]
    fn a_guest_that_died_says_what_its_kernel_said() {
        let mut c = Console::default();
        let t = Duration::from_secs(20);
        for line in [
            "EXITWATCH-KERNEL-VERSION 6.12.100+deb12-cloud-amd64\r\n",
            "[   30.5] BUG: kernel NULL pointer dereference, address: 0000000000000008\r\n",
            "[   30.6] Kernel panic - not syncing: Fatal exception\r\n",
        ] {
            c.feed(line, t);
        }
        assert!(c.stopped_without_result());
        assert_eq!(
            c.trouble.as_deref(),
            Some("[   30.5] BUG: kernel NULL pointer dereference, address: 0000000000000008")
        );
        assert_eq!(
            c.panic.as_deref(),
            Some("[   30.6] Kernel panic - not syncing: Fatal exception")
        );
        // A lockup the guest lives through is trouble, not a panic.
        let mut slow = Console::default();
        slow.feed(
            "[  60.1] watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [qemu]\r\n",
            t,
        );
        assert!(slow.trouble.is_some() && slow.panic.is_none());
        let mut quiet = Console::default();
        quiet.feed("EXITWATCH-KERNEL-RESULT rc=0\r\n", t);
        assert!(!quiet.stopped_without_result());
        assert_eq!((quiet.trouble, quiet.panic), (None, None));
    }

    #[test]
    fn only_a_boot_that_never_reached_exitwatch_is_booted_again() {
        let t = Duration::from_secs(9);
        let fed = |lines: &[&str]| {
            let mut c = Console::default();
            for line in lines {
                c.feed(line, t);
            }
            c
        };
        let panic = "[    5.6] Kernel panic - not syncing: Fatal exception in interrupt\r\n";
        let init = "EXITWATCH-INIT\r\n";
        let version = "EXITWATCH-KERNEL-VERSION 6.12.100+deb12-cloud-amd64\r\n";
        // The kernel died on its own, before anything of exitwatch ran.
        let early = fed(&[
            "[    5.6] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI\r\n",
            panic,
        ]);
        assert_eq!(
            early.second_boot(),
            Some("its kernel panicked before init started")
        );
        // After init started the panic may be this project's: the row fails, init's own
        // death before its first report included.
        assert_eq!(fed(&[init, version, panic]).second_boot(), None);
        let init_died =
            "[    3.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\r\n";
        assert_eq!(fed(&[init, init_died]).second_boot(), None);
        // Its marker can share a line with the firmware's escapes.
        assert!(fed(&["\x1bc\x1b[2JEXITWATCH-INIT\r\n"]).init_started);
        // Gone without a panic, before or after init: QEMU or the host stopped it.
        assert_eq!(
            fed(&[init, version]).second_boot(),
            Some("without a kernel panic")
        );
        assert_eq!(fed(&[]).second_boot(), Some("without a kernel panic"));
        // A result, good or bad, stands; so does a timeout.
        assert_eq!(
            fed(&[init, version, "EXITWATCH-KERNEL-RESULT rc=101\r\n"]).second_boot(),
            None
        );
        let mut hung = fed(&[init, version]);
        hung.timed_out = true;
        assert_eq!(hung.second_boot(), None);
    }

    #[test]
    fn terminal_escapes_are_shown_not_sent() {
        assert_eq!(printable("\x1b[2Jboot\tok"), "\\u{1b}[2Jboot\tok");
    }
}
