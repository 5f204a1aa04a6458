//! What the test guest's initramfs carries: busybox, the init script, exitwatch, the e2e suite and every
//! program, Python module and library the suite runs, each at its host path.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _, Result};

use crate::{
    command::on_path,
    initramfs::{Image, Written},
};

const INIT: &str = include_str!("guest_init.sh");
const PYTHON_PROBE: &str = include_str!("python_probe.py");

/// Programs the e2e tests (tests/e2e) and the init script run; the real ones, not busybox's,
/// because the tests check the names and argv of senders (`bash` -> `sh` -> `/bin/kill`).
const PROGRAMS: &[&str] = &[
    "bash",
    "sh",
    "/bin/sh",
    "/bin/kill",
    "true",
    "false",
    "sleep",
    "cat",
    "env",
    "id",
    "unshare",
    "setpriv",
    "nsenter",
    "timeout",
];

/// Python scripts the e2e tests run (relative to the test crate), with their arguments: run
/// once on the host to learn which modules they need.
const PYTHON_SCRIPTS: &[(&str, &[&str])] =
    &[("e2e/schema_check.py", &["../docs/exitwatch.v1.schema.json"])];

/// Tests the guests leave out (libtest `--skip` filters), and why.
pub const SKIPPED: &[(&str, &str)] = &[
    (
        "containers::",
        "the container runtimes (containerd, runc, Docker: 200+ MB of Go binaries, minutes to start \
         under TCG) are not in the guest; these tests run on the host",
    ),
    (
        "siem::",
        "the outputs are userspace only, the same on every kernel, and their receivers (rsyslogd, \
         OpenSSL, loopback TCP/UDP) are not in the guest; these tests run on the host",
    ),
];

const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";
const NSSWITCH: &str = "passwd: files\ngroup: files\n";

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

/// Writes the guest's initramfs to `out`; `busybox` is a static busybox.
pub fn initramfs(suite: &Suite, busybox: &Path, out: &Path) -> Result<Written> {
    let mut image = Image::new();
    for dir in ["/proc", "/sys", "/dev", "/tmp", "/run", "/root", "/var/tmp"] {
        image.dir(dir);
    }
    image.copy_as("/opt/busybox/busybox", busybox)?;
    image.bytes("/init", INIT, 0o755);
    image.bytes("/etc/passwd", PASSWD, 0o644);
    image.bytes("/etc/group", GROUP, 0o644);
    image.bytes("/etc/nsswitch.conf", NSSWITCH, 0o644);
    // Ignored tests are those too rough for a real machine (a node-wide OOM): a throwaway
    // guest is where they run.
    let args: Vec<String> = std::iter::once("--include-ignored".to_string())
        .chain(SKIPPED.iter().map(|(filter, _)| format!("--skip {filter}")))
        .collect();
    let env = [
        ("EXITWATCH_BIN", suite.exitwatch.to_string_lossy()),
        ("E2E_BIN", suite.e2e.to_string_lossy()),
        ("E2E_DIR", suite.test_crate.to_string_lossy()),
        ("E2E_ARGS", args.join(" ").into()),
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
    for program in PROGRAMS {
        let path = if program.starts_with('/') {
            PathBuf::from(program)
        } else {
            on_path(program).with_context(|| {
                format!("`{program}` is not on PATH; the e2e tests in the guest need it")
            })?
        };
        image.host(&path)?;
    }
    for (script, args) in PYTHON_SCRIPTS {
        python(&mut image, &suite.test_crate, script, args)?;
    }
    image.link()?;
    image.write(out)
}

/// The interpreter, the modules `script` loads and the packages they come from.
fn python(image: &mut Image, test_crate: &Path, script: &str, args: &[&str]) -> Result<()> {
    if !test_crate.join(script).is_file() {
        bail!("the e2e tests no longer have {script}; update PYTHON_SCRIPTS in xtask/src/guest.rs");
    }
    let out = Command::new("python3")
        .args(["-c", PYTHON_PROBE, script])
        .args(args)
        .current_dir(test_crate)
        .output()
        .context(
            "could not run python3 (the e2e tests need it with jsonschema; `cargo xtask setup`)",
        )?;
    if !out.status.success() {
        bail!(
            "running {script} under python3 to see what it needs failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let no_tests = |p: &Path| !p.file_name().is_some_and(|n| n == "test" || n == "tests");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((kind, path)) = line.split_once(' ') else {
            continue;
        };
        let path = Path::new(path);
        match kind {
            "exe" => {
                image.host(path)?;
                // The tests run `python3` from PATH: on the host maybe a pyenv shim, here the interpreter.
                image.symlink("/usr/local/bin/python3", path);
            }
            "file" => {
                image.host(path)?;
            }
            "tree" if path.is_dir() => image.tree(path, &no_tests)?,
            "tree" => {
                image.host(path)?;
            }
            "dir" => image.dir(path),
            _ => bail!("unexpected line from the Python probe: {line}"),
        }
    }
    Ok(())
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
        assert_eq!(sh_quote("/work/main"), "'/work/main'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}
