//! What the test guest's initramfs carries: busybox, the init script, exitwatch, the e2e suite and every
//! program and library the suite runs, each at its host path.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::{
    command::on_path,
    initramfs::{Image, Written},
};

const INIT: &str = include_str!("guest_init.sh");

/// Programs the e2e tests (tests/e2e) and the init script run: the real ones, not busybox's,
/// because the tests check the names and argv of senders (`bash` -> `sh` -> `/bin/kill`) and
/// need options busybox lacks (`unshare`, `setpriv`, `date -d`). The syslog and TLS peers of the
/// SIEM-output tests too (rsyslogd, openssl).
pub const PROGRAMS: &[&str] = &[
    "bash",
    "sh",
    "/bin/sh",
    "/bin/kill",
    "true",
    "false",
    "sleep",
    "cat",
    "date",
    "env",
    "id",
    "timeout",
    "unshare",
    "setpriv",
    "nsenter",
    "rsyslogd",
    "openssl",
];

/// The container runtimes, for the guests that run the container tests (`Runtimes::Yes`): the
/// tests start their own containerd and dockerd (tests/src/daemons.rs) and build their images
/// with GNU tar and sha256sum from the static busybox at /bin/busybox.
const RUNTIME_PROGRAMS: &[&str] = &[
    "containerd",
    "containerd-shim-runc-v2",
    "ctr",
    "runc",
    "dockerd",
    "docker",
    "docker-init",
    "docker-proxy",
    "tar",
    "sha256sum",
    "/bin/busybox",
];

/// Whether a guest carries the container runtimes and runs the container tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Runtimes {
    /// The plain guest: containers:: skipped (SKIPPED).
    No,
    /// containerd, runc and Docker in the guest (about 200 MB more to unpack): containers:: runs.
    Yes,
}

/// Files a program loads by name at run time (ldd cannot see them), for the programs above.
const PROGRAM_FILES: &[(&str, &str)] = &[
    // imtcp, imudp, omfile... are dlopen()ed.
    ("rsyslogd", "/usr/lib/x86_64-linux-gnu/rsyslog"),
    ("openssl", "/usr/lib/ssl/openssl.cnf"),
];

/// What guests without the runtimes leave out too.
pub const SKIPPED_WITHOUT_RUNTIMES: (&str, &str) = (
    "containers::",
    "the container runtimes (containerd, runc, Docker: 200 MB of Go binaries) are only in the \
     guests marked `containers`; these tests run there and on the host",
);

/// Tests every guest leaves out (libtest `--skip` filters), and why.
pub const SKIPPED: &[(&str, &str)] = &[
    (
        "containers::podman::",
        "podman (with conmon and containers-common's configuration) is not in the guests; \
         containerd, runc and Docker are; these tests run on the host",
    ),
    (
        "oom::the_task_that_allocates_is_not_always_the_one_killed",
        "flaky under TCG (2 in 10 runs on 6.12: the victim-to-be was OOM-killed during its own first \
         allocation, its cgroup charged with memory it did not hold); it runs on the host",
    ),
    (
        "pressure::a_full_ring_loses_identities",
        "timing-bound: its 60 victims wait 30 s for their senders, and under TCG loading the \
         programs alone takes 16 s on 6.1 (the verifier runs emulated); it runs on the host",
    ),
    (
        "pressure::cgroup_kill_of_2000",
        "once on 6.12 under TCG (CI rehearsal, 2026-12-03) one of the 2,000 SIGKILLs (the \
         writer's first, sent through the tail-called identity program) came without via \
         cgroup.kill and without the writer's argv; passes on the host (6.18) and in the 6.1 \
         guest; under investigation, it runs on the host",
    ),
    (
        "kube::",
        "the Kubernetes API side is userspace only, the same on every kernel, and its test API \
         server (Python with kubernetes-validate) is not in the guests; these tests run on the host",
    ),
    (
        "siem::",
        "the outputs are userspace only, the same on every kernel, and their receivers (rsyslogd, \
         OpenSSL, loopback TCP/UDP) are not in the guest; these tests run on the host",
    ),
];

/// The skip filters of a guest with or without the runtimes.
pub fn skipped(runtimes: Runtimes) -> Vec<(&'static str, &'static str)> {
    let mut all = SKIPPED.to_vec();
    if runtimes == Runtimes::No {
        all.insert(0, SKIPPED_WITHOUT_RUNTIMES);
    }
    all
}

const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";
const NSSWITCH: &str = "passwd: files\ngroup: files\nhosts: files\n";
const HOSTS: &str = "127.0.0.1 localhost\n::1 localhost\n";

/// The binaries under test, as built on the host (the guests run these very files).
pub struct Suite {
    pub exitwatch: PathBuf,
    /// The e2e test executable.
    pub e2e: PathBuf,
    /// The test crate's `[[bin]]` helpers (victim...): the tests find them at their host paths.
    pub helpers: Vec<PathBuf>,
    /// The test crate's directory: the tests read files relative to it and run from it.
    pub test_crate: PathBuf,
    pub workspace: PathBuf,
}

/// Writes the guest's initramfs to `out`; `busybox` is a static busybox; `test_args` go to the
/// test binary after the guest's own (split on spaces in the guest).
pub fn initramfs(
    suite: &Suite,
    busybox: &Path,
    out: &Path,
    test_args: &[String],
    runtimes: Runtimes,
) -> Result<Written> {
    let mut image = base(suite, busybox, test_args, runtimes)?;
    if runtimes == Runtimes::Yes {
        // Tells init to move the root onto a tmpfs first (runc cannot pivot out of an initramfs).
        image.bytes("/etc/exitwatch-guest-runtimes", "", 0o644);
    }
    let runtime_programs = match runtimes {
        Runtimes::Yes => RUNTIME_PROGRAMS,
        Runtimes::No => &[],
    };
    for program in PROGRAMS.iter().chain(runtime_programs) {
        let path = if program.starts_with('/') {
            Some(PathBuf::from(program))
        } else {
            on_path(program)
        };
        match path.filter(|p| p.exists()) {
            Some(path) => {
                image.host(&path)?;
                for (_, file) in PROGRAM_FILES.iter().filter(|(p, _)| p == program) {
                    image.host(Path::new(file))?;
                }
            }
            // The host run of the same tests fails on it too, with the test's own advice.
            None => eprintln!(
                "kernels: warning: `{program}` is not on PATH; the e2e tests that run it will fail in the guests"
            ),
        }
    }
    image.link()?;
    image.write(out)
}

/// The guest's initramfs without the programs the suite runs (PROGRAMS): busybox, init and its
/// settings, /etc, the suite's binaries at their host paths, the test crate and docs. A guest of
/// another arch adds its own builds of the programs.
pub fn base(
    suite: &Suite,
    busybox: &Path,
    test_args: &[String],
    runtimes: Runtimes,
) -> Result<Image> {
    let mut image = Image::new();
    for dir in ["/proc", "/sys", "/dev", "/tmp", "/run", "/root", "/var/tmp"] {
        image.dir(dir);
    }
    image.copy_as("/opt/busybox/busybox", busybox)?;
    image.bytes("/init", INIT, 0o755);
    image.bytes("/etc/passwd", PASSWD, 0o644);
    image.bytes("/etc/group", GROUP, 0o644);
    image.bytes("/etc/nsswitch.conf", NSSWITCH, 0o644);
    image.bytes("/etc/hosts", HOSTS, 0o644);
    // containerd's CRI plugin copies it into every pod sandbox; the guest has no network.
    image.bytes("/etc/resolv.conf", "", 0o644);
    // Ignored tests are those too rough for a real machine (a node-wide OOM): a throwaway
    // guest is where they run.
    let args: Vec<String> = std::iter::once("--include-ignored".to_string())
        .chain(
            skipped(runtimes)
                .iter()
                .map(|(filter, _)| format!("--skip {filter}")),
        )
        .chain(test_args.iter().cloned())
        .collect();
    let env = [
        ("EXITWATCH_BIN", suite.exitwatch.to_string_lossy()),
        ("E2E_BIN", suite.e2e.to_string_lossy()),
        ("E2E_DIR", suite.test_crate.to_string_lossy()),
        ("E2E_ARGS", args.join(" ").into()),
        // The verifier runs emulated here: loading the programs takes seconds, not 100s of ms.
        ("EXITWATCH_READY_TIMEOUT", "120".into()),
        // And Go daemons start slowly: containerd takes tens of seconds under TCG.
        ("EXITWATCH_DAEMON_TIMEOUT", "300".into()),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}\n", sh_quote(v)))
    .collect::<String>();
    image.bytes("/etc/exitwatch-guest.env", env, 0o644);

    for binary in [&suite.exitwatch, &suite.e2e]
        .into_iter()
        .chain(&suite.helpers)
    {
        image.host(binary)?;
    }
    image.tree(&suite.test_crate, &|p| !p.ends_with("target"))?;
    let docs = suite.workspace.join("docs");
    if docs.is_dir() {
        image.tree(&docs, &|_| true)?;
    }
    Ok(image)
}

/// `s` in single quotes for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::sh_quote;

    #[test]
    fn quotes_survive_the_shell() {
        assert_eq!(sh_quote("/srv/exitwatch"), "'/srv/exitwatch'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}
