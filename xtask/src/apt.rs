//! Debian packages: which of a list are installed (dpkg-query), and installing the rest (apt-get).

use std::process::Command;

use anyhow::{bail, Result};

use crate::command::{any_answer, step};

/// The packages of `wanted` that dpkg does not report as installed, in the order given.
pub fn missing<'a>(wanted: &[&'a str]) -> Result<Vec<&'a str>> {
    // One query for all: dpkg-query exits non-zero when some are unknown, but still reports the rest.
    let report = any_answer(
        Command::new("dpkg-query")
            .args(["-W", "-f=${Package} ${Status}\\n"])
            .args(wanted),
    );
    let Some(report) = report else {
        bail!(
            "cannot run dpkg-query: this task expects a Debian-based machine with dpkg and apt-get"
        );
    };
    Ok(wanted
        .iter()
        .copied()
        .filter(|p| !installed(&report, p))
        .collect())
}

/// Whether `package` has a status line ending in `installed` (`install ok installed`,
/// `hold ok installed`); `deinstall ok config-files` and absent packages are not.
fn installed(report: &str, package: &str) -> bool {
    report.lines().any(|line| {
        let mut words = line.split_whitespace();
        // Multi-arch packages are reported as `name:arch`.
        let name = words.next().map(|n| n.split(':').next().unwrap_or(n));
        name == Some(package) && words.nth(2) == Some("installed")
    })
}

/// The command a user without root should run.
pub fn install_line(packages: &[&str]) -> String {
    format!(
        "sudo apt-get update && sudo apt-get install -y --no-install-recommends {}",
        packages.join(" ")
    )
}

/// `apt-get update` then one `apt-get install` of all `packages`; needs root.
pub fn install(packages: &[&str]) -> Result<()> {
    let apt = || {
        let mut cmd = Command::new("apt-get");
        cmd.env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    let purpose = format!("installing Debian packages {}", packages.join(" "));
    step(apt().args(["update", "-q"]), &purpose)?;
    step(
        apt()
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(packages),
        &purpose,
    )
}

#[cfg(test)]
mod tests {
    use super::installed;

    const REPORT: &str = "\
llvm-22-dev install ok installed
bpftool:amd64 hold ok installed
procps deinstall ok config-files
";

    #[test]
    fn only_installed_status_counts() {
        assert!(installed(REPORT, "llvm-22-dev"));
        assert!(installed(REPORT, "bpftool"));
        assert!(!installed(REPORT, "procps"));
        assert!(!installed(REPORT, "util-linux"));
        assert!(!installed(REPORT, "llvm-22"));
    }
}
