//! `exitwatch doctor`: can this node run exitwatch, and what is missing? Each check says OK or
//! MISSING with what to do; probing is kept apart from the verdict so the verdict is tested.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::btf::{self, Btf};
use crate::caps;
use crate::cgroupfs;
use crate::container::runtimes::SocketSpec;
use crate::loader;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// exitwatch cannot run until this is fixed.
    Missing,
    /// exitwatch runs, with less detail.
    Degraded,
    /// For information only.
    Info,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do when it is not OK.
    pub fix: Option<String>,
}

fn check(
    name: &'static str,
    status: Status,
    detail: impl Into<String>,
    fix: Option<&str>,
) -> Check {
    Check {
        name,
        status,
        detail: detail.into(),
        fix: fix.map(str::to_owned),
    }
}

/// Can exitwatch run? (No check is MISSING.)
pub fn runnable(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.status != Status::Missing)
}

pub fn render(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let tag = match c.status {
            Status::Ok => "OK",
            Status::Missing => "MISSING",
            Status::Degraded => "DEGRADED",
            Status::Info => "INFO",
        };
        let _ = writeln!(out, "{tag:<9}{:<22}{}", c.name, c.detail);
        if let (Some(fix), Status::Missing | Status::Degraded) = (&c.fix, c.status) {
            let _ = writeln!(out, "{:31}-> {fix}", "");
        }
    }
    let verdict = if runnable(checks) {
        "exitwatch can run on this node."
    } else {
        "exitwatch cannot run on this node: fix the MISSING items above."
    };
    let _ = writeln!(out, "\n{verdict}");
    out
}

/// Pure: is this `uname -r` release at least 5.8?
pub fn kernel_ok(release: &str) -> Option<bool> {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    Some((major, minor) >= (5, 8))
}

/// Pure: cgroup mode from mountinfo: "v2", "v1" or "hybrid".
pub fn cgroup_mode(mountinfo: &str) -> &'static str {
    let fs = |t: &str| {
        mountinfo.lines().any(|l| {
            l.split(" - ")
                .nth(1)
                .is_some_and(|r| r.starts_with(&format!("{t} ")))
        })
    };
    match (fs("cgroup"), fs("cgroup2")) {
        (true, true) => "hybrid",
        (true, false) => "v1",
        (false, true) => "v2",
        (false, false) => "none",
    }
}

/// The runtime sockets the daemon would use: its own list (`SocketSpec::defaults`), and for each
/// runtime API the first path that `exists`, as the daemon picks it; a socket two APIs share, once.
fn runtime_sockets(exists: impl Fn(&Path) -> bool) -> Check {
    let mut found: Vec<PathBuf> = Vec::new();
    for spec in SocketSpec::defaults() {
        let first = spec.paths.into_iter().find(|p| exists(p));
        if let Some(path) = first.filter(|p| !found.contains(p)) {
            found.push(path);
        }
    }
    if found.is_empty() {
        check(
            "runtime sockets",
            Status::Degraded,
            "none found",
            Some("containers are reported by id only; mount the runtime socket for names"),
        )
    } else {
        let found: Vec<_> = found.iter().map(|p| p.display().to_string()).collect();
        check("runtime sockets", Status::Ok, found.join(", "), None)
    }
}

/// Probes this node.
pub fn probe() -> Vec<Check> {
    let mut checks = Vec::new();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    checks.push(match kernel_ok(&release) {
        Some(true) => check(
            "kernel",
            Status::Ok,
            format!("Linux {release} (>= 5.8)"),
            None,
        ),
        _ => check(
            "kernel",
            Status::Missing,
            format!("Linux {release}"),
            Some("exitwatch needs Linux >= 5.8 (ring buffer, BTF tracepoints)"),
        ),
    });

    let btf = Btf::from_sys_fs();
    let btf = match btf {
        Ok(b) => {
            checks.push(check("BTF", Status::Ok, btf::VMLINUX_BTF, None));
            Some(b)
        }
        Err(e) => {
            checks.push(check(
                "BTF",
                Status::Missing,
                e.to_string(),
                Some("use a kernel built with CONFIG_DEBUG_INFO_BTF=y"),
            ));
            None
        }
    };
    if let Some(btf) = &btf {
        let required = loader::HOOKS.iter().map(|h| {
            (
                h,
                Status::Missing,
                "this kernel lacks a tracepoint exitwatch needs",
            )
        });
        let optional = loader::OPTIONAL_HOOKS.iter().map(|h| {
            (
                h,
                Status::Degraded,
                "OOM kills will be reported as kernel SIGKILLs",
            )
        });
        for (hook, missing, fix) in required.chain(optional) {
            checks.push(if btf.has_typedef(&format!("btf_trace_{hook}")) {
                check(
                    "hook",
                    Status::Ok,
                    format!("tracepoint {hook} (tp_btf)"),
                    None,
                )
            } else {
                check("hook", missing, format!("tracepoint {hook}"), Some(fix))
            });
        }
        match btf::resolve_offsets(btf) {
            Ok(o) => {
                checks.push(check(
                    "struct fields",
                    Status::Ok,
                    "every task_struct field exitwatch reads was found",
                    None,
                ));
                let optional = [
                    (
                        "audit loginuid",
                        o.task_loginuid,
                        "no CONFIG_AUDIT: login uid and session are reported absent",
                    ),
                    (
                        "OOM memory figures",
                        o.mm_rss_stat,
                        "OOM events carry no RSS figures",
                    ),
                    (
                        "executable path",
                        o.dentry_name,
                        "senders' executables are not reported",
                    ),
                    (
                        "cgroup paths",
                        o.kernfs_name,
                        "containers cannot be recognised",
                    ),
                ];
                for (name, off, loss) in optional {
                    if off == exitwatch_common::ABSENT {
                        checks.push(check(
                            "struct fields",
                            Status::Degraded,
                            format!("{name}: absent"),
                            Some(loss),
                        ));
                    }
                }
            }
            Err(e) => checks.push(check(
                "struct fields",
                Status::Missing,
                e.to_string(),
                Some("report this kernel to the exitwatch developers"),
            )),
        }
    }

    let effective = procfs::process::Process::myself()
        .and_then(|p| p.status())
        .map(|s| s.capeff)
        .unwrap_or(0);
    checks.push(match caps::missing(effective) {
        None => check(
            "capabilities",
            Status::Ok,
            "CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN)",
            None,
        ),
        Some(m) => check(
            "capabilities",
            Status::Missing,
            format!("lacking {m}"),
            Some("run as root, or grant CAP_BPF and CAP_PERFMON"),
        ),
    });
    if checks.iter().all(|c| c.status != Status::Missing) {
        checks.push(match loader::try_load() {
            Ok(()) => check(
                "programs",
                Status::Ok,
                "loaded and attached (tp_btf programs, ring buffer, hash maps)",
                None,
            ),
            Err(e) => check(
                "programs",
                Status::Missing,
                e.to_string(),
                Some("see the error; `exitwatch --help` lists what exitwatch needs"),
            ),
        });
    }

    let tracefs = Path::new("/sys/kernel/tracing/trace_pipe").exists()
        || Path::new("/sys/kernel/debug/tracing/trace_pipe").exists();
    checks.push(check(
        "tracefs",
        Status::Info,
        if tracefs {
            "mounted (not needed)"
        } else {
            "not mounted (not needed: exitwatch uses BTF tracepoints)"
        },
        None,
    ));
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    checks.push(check(
        "cgroups",
        Status::Info,
        format!(
            "{} ({})",
            cgroup_mode(&mountinfo),
            cgroupfs::hierarchy_roots(&mountinfo)
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None,
    ));
    checks.push(runtime_sockets(|p| p.exists()));
    checks.push(match std::fs::File::open("/dev/kmsg") {
        Ok(_) => check("kernel log", Status::Ok, "/dev/kmsg readable (OOM constraint and memory cgroup)", None),
        Err(device) => match crate::kmsg::Syslog::open() {
            Ok(_) => check("kernel log", Status::Ok, format!("/dev/kmsg: {device}; read with syslog(2) instead (OOM constraint and memory cgroup)"), None),
            Err(call) => check("kernel log", Status::Degraded, format!("/dev/kmsg: {device}; syslog(2): {call}"), Some("grant CAP_SYSLOG: OOM kills will lack constraint and memory cgroup")),
        },
    });
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_ok("6.18.44-fc-v657"), Some(true));
        assert_eq!(kernel_ok("5.8.0"), Some(true));
        assert_eq!(kernel_ok("5.4.0-150-generic"), Some(false));
        assert_eq!(kernel_ok("4.19.0"), Some(false));
        assert_eq!(kernel_ok("garbage"), None);
    }

    #[test]
    fn cgroup_modes() {
        let v2 = "29 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw";
        let v1 = "35 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory";
        assert_eq!(cgroup_mode(v2), "v2");
        assert_eq!(cgroup_mode(v1), "v1");
        assert_eq!(cgroup_mode(&format!("{v1}\n{v2}")), "hybrid");
        assert_eq!(cgroup_mode(""), "none");
    }

    #[test]
    fn looks_for_every_runtime_socket_the_daemon_uses() {
        let daemon: Vec<_> = SocketSpec::defaults()
            .into_iter()
            .flat_map(|s| s.paths)
            .collect();
        for only in &daemon {
            let c = runtime_sockets(|p| p == only);
            assert_eq!(
                (c.status, c.detail.as_str()),
                (Status::Ok, only.to_str().unwrap()),
                "doctor must find {} as the daemon does",
                only.display()
            );
        }
        // Every other path exists: doctor must not report one the daemon never connects to.
        let c = runtime_sockets(|p| !daemon.iter().any(|d| d == p));
        assert_eq!(
            (c.status, c.detail.as_str()),
            (Status::Degraded, "none found")
        );
    }

    #[test]
    fn names_the_socket_each_runtime_would_be_reached_through() {
        // /var/run is usually a link to /run: both paths exist, the daemon uses the first.
        let c = runtime_sockets(|p| p.ends_with("docker.sock") || p.ends_with("containerd.sock"));
        assert_eq!(
            c.detail,
            "/run/containerd/containerd.sock, /run/docker.sock"
        );
    }

    #[test]
    fn missing_items_make_the_node_unfit_and_say_what_to_do() {
        let checks = vec![
            check("kernel", Status::Ok, "Linux 6.1", None),
            check(
                "capabilities",
                Status::Missing,
                "lacking CAP_BPF",
                Some("run as root"),
            ),
            check(
                "kernel log",
                Status::Degraded,
                "/dev/kmsg: denied",
                Some("grant CAP_SYSLOG"),
            ),
        ];
        assert!(!runnable(&checks));
        let text = render(&checks);
        assert!(
            text.contains("MISSING  capabilities          lacking CAP_BPF"),
            "{text}"
        );
        assert!(text.contains("-> run as root"));
        assert!(text.contains("-> grant CAP_SYSLOG"));
        assert!(text.ends_with("fix the MISSING items above.\n"));
        assert!(runnable(&checks[..1]));
    }
}
