//! Pure: names the container (and Kubernetes pod) that owns a cgroup path, on cgroup v1 or v2.
//!
//! Runtimes name a container's cgroup after its 64-hex id, so the owner is read off the path with no
//! runtime call. The nearest matching component wins: a systemd or a second runtime running inside a
//! container makes sub-cgroups (`.../cri-containerd-<id>.scope/init.scope`, `.../docker/<inner id>`),
//! and the process belongs to the innermost container. A runtime's monitor (`crio-conmon-<id>.scope`,
//! `libpod-conmon-<id>.scope`) is not the container it watches, so a path ending there parses to `None`.
//!
//! Pod UIDs come out as the API server shows them: 8-4-4-4-12 with dashes (the systemd driver writes
//! them with `_`). Static pods are the exception: kubelet names them by a 32-hex config hash with no
//! dashes, and that hash is kept as it is because it is their UID (and their `kubernetes.io/config.hash`).

use std::fmt;

use serde::Serialize;

/// The container runtime a cgroup name points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Runtime {
    #[serde(rename = "containerd")]
    Containerd,
    #[serde(rename = "cri-o")]
    CriO,
    #[serde(rename = "docker")]
    Docker,
    #[serde(rename = "podman")]
    Podman,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pod's Kubernetes QoS class, which kubelet encodes as the pod cgroup's parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Qos {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl Qos {
    pub fn as_str(self) -> &'static str {
        match self {
            Qos::Guaranteed => "guaranteed",
            Qos::Burstable => "burstable",
            Qos::BestEffort => "besteffort",
        }
    }
}

impl fmt::Display for Qos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Kubernetes pod a container runs in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct PodRef {
    /// 8-4-4-4-12 lowercase with dashes; a static pod's 32-hex config hash as it is.
    pub uid: String,
    pub qos: Qos,
}

/// The container a cgroup belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ContainerRef {
    /// The full id: 64 lowercase hex.
    pub id: String,
    /// `None` when the path does not say, e.g. kubelet's cgroupfs driver `/kubepods/.../pod<uid>/<id>`.
    pub runtime: Option<Runtime>,
    pub pod: Option<PodRef>,
    /// The containerd namespace of a plain containerd (`ctr run`) container: `/<namespace>/<id>`.
    pub namespace: Option<String>,
}

/// What one path component says about its cgroup.
enum Component<'a> {
    /// A container's own cgroup; the runtime is `None` for a bare id.
    Container(&'a str, Option<Runtime>),
    /// A runtime's monitor process (conmon), which is not a container.
    Monitor,
    Other,
}

/// Named scopes (systemd driver) and cgroups (CRI-O's and podman's cgroupfs drivers), monitors first
/// because `crio-` is also a prefix of `crio-conmon-`.
const PREFIXES: [(&str, Option<Runtime>); 6] = [
    ("crio-conmon-", None),
    ("libpod-conmon-", None),
    ("cri-containerd-", Some(Runtime::Containerd)),
    ("crio-", Some(Runtime::CriO)),
    ("docker-", Some(Runtime::Docker)),
    ("libpod-", Some(Runtime::Podman)),
];

/// Which container owns the cgroup at `path` (as in /proc/PID/cgroup, any controller's line on v1);
/// `None` for host processes (`/`, `/init.scope`, `/system.slice/sshd.service`, `/user.slice/...`).
pub fn parse(path: &str) -> Option<ContainerRef> {
    // A process that outlived its cgroup's removal reads "<path> (deleted)".
    let path = path.strip_suffix(" (deleted)").unwrap_or(path);
    let mut up = path.rsplit('/').filter(|c| !c.is_empty());
    let (id, named) = loop {
        match component(up.next()?) {
            Component::Container(id, runtime) => break (id, runtime),
            Component::Monitor => return None,
            Component::Other => {}
        }
    };
    let parent = up.next();
    let mut namespace = None;
    let runtime = named.or_else(|| match parent {
        Some("docker") => Some(Runtime::Docker),
        // `ctr run` puts a container at /<namespace>/<id>, right under the root.
        Some(ns) if up.clone().next().is_none() && is_containerd_namespace(ns) => {
            namespace = Some(ns.to_owned());
            Some(Runtime::Containerd)
        }
        _ => None,
    });
    Some(ContainerRef {
        id: id.to_owned(),
        runtime,
        pod: find_pod(parent.into_iter().chain(up)),
        namespace,
    })
}

/// Which container owns the process whose /proc/PID/cgroup reads `text`. The v2 line (`0::/path`) is
/// tried first; on a hybrid host it may name a systemd session while a v1 controller names the
/// container (kubelet's cgroupfs driver), so the v1 lines are tried next, in order.
pub fn parse_proc_cgroup(text: &str) -> Option<ContainerRef> {
    let lines = || {
        text.lines().filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (hierarchy, controllers) = (fields.next()?, fields.next()?);
            Some((hierarchy == "0" && controllers.is_empty(), fields.next()?))
        })
    };
    lines()
        .filter(|&(v2, _)| v2)
        .chain(lines().filter(|&(v2, _)| !v2))
        .find_map(|(_, path)| parse(path))
}

/// Whether the container `id` is what the user meant by `query` (`--container`): a case-insensitive
/// prefix of at least one hex digit. A `scheme://` lead, as in Kubernetes' `containerd://<id>`, is
/// ignored so an id copied from `kubectl get pod -o yaml` works.
pub fn id_matches(id: &str, query: &str) -> bool {
    let query = query.rsplit_once("://").map_or(query, |(_, q)| q);
    !query.is_empty()
        && query.len() <= id.len()
        && query.bytes().all(|b| b.is_ascii_hexdigit())
        && id.as_bytes()[..query.len()].eq_ignore_ascii_case(query.as_bytes())
}

fn component(name: &str) -> Component<'_> {
    if is_id(name) {
        return Component::Container(name, None);
    }
    for (prefix, runtime) in PREFIXES {
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let id = rest.strip_suffix(".scope").unwrap_or(rest);
        if !is_id(id) {
            // `crio-conmon-<id>` also starts with `crio-`; anything else is not ours.
            continue;
        }
        return match runtime {
            Some(runtime) => Component::Container(id, Some(runtime)),
            None => Component::Monitor,
        };
    }
    Component::Other
}

/// Exactly 64 lowercase hex digits: how every runtime here spells a full container id.
fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// containerd's namespace rule (alphanumerics joined by single `.`, `_` or `-`), minus systemd unit
/// names, which are cgroups systemd made, not namespaces.
fn is_containerd_namespace(ns: &str) -> bool {
    const UNITS: [&str; 4] = [".slice", ".scope", ".service", ".mount"];
    ns.len() <= 76
        && ns != "kubepods"
        && !UNITS.iter().any(|u| ns.ends_with(u))
        && ns
            .split(['.', '-'])
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The nearest pod cgroup among `up` (the container's ancestors, nearest first).
fn find_pod<'a>(mut up: impl Iterator<Item = &'a str>) -> Option<PodRef> {
    while let Some(name) = up.next() {
        if let Some(pod) = systemd_pod(name) {
            return Some(pod);
        }
        // cgroupfs driver: /kubepods[/burstable|/besteffort]/pod<uid>
        let Some(uid) = name.strip_prefix("pod").filter(|uid| is_uid(uid)) else {
            continue;
        };
        let parent = up.next();
        let qos = qos(parent.unwrap_or(""));
        let under_kubepods = parent == Some("kubepods") || up.any(|c| c == "kubepods");
        return under_kubepods.then(|| PodRef {
            uid: canonical_uid(uid),
            qos,
        });
    }
    None
}

/// systemd driver: `kubepods[-burstable|-besteffort]-pod<uid with _>.slice`, possibly under a custom
/// root (`kubelet-kubepods-...` on kind).
fn systemd_pod(name: &str) -> Option<PodRef> {
    let stem = name.strip_suffix(".slice")?;
    let (levels, last) = stem.rsplit_once('-')?;
    let uid = last.strip_prefix("pod").filter(|uid| is_uid(uid))?;
    if !levels.split('-').any(|level| level == "kubepods") {
        return None;
    }
    let level = levels.rsplit('-').next().unwrap_or("");
    Some(PodRef {
        uid: canonical_uid(uid),
        qos: qos(level),
    })
}

fn qos(level: &str) -> Qos {
    match level {
        "burstable" => Qos::Burstable,
        "besteffort" => Qos::BestEffort,
        // Guaranteed pods sit right under kubepods, with no level of their own.
        _ => Qos::Guaranteed,
    }
}

/// A UUID with `-` or systemd-escaped `_` separators, or a static pod's 32-hex hash.
fn is_uid(uid: &str) -> bool {
    let b = uid.as_bytes();
    match b.len() {
        32 => b.iter().all(u8::is_ascii_hexdigit),
        36 => b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-' || c == b'_',
            _ => c.is_ascii_hexdigit(),
        }),
        _ => false,
    }
}

fn canonical_uid(uid: &str) -> String {
    uid.chars()
        .map(|c| {
            if c == '_' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
