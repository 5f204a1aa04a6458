//! This node's pods as the API server lists them, and the kubelet's recent Events on them
//! (pure: the watchers in [`super::watch`] feed it, the pipeline asks it).
//!
//! Everything here came from the API server; it is bounded all the same (pods, containers per
//! pod, notes per pod, string lengths), because a compromised or buggy peer must not make the
//! agent grow without bound.

use std::collections::{HashMap, VecDeque};

/// Pods kept at once: a node runs at most a few hundred (kubelet's default limit is 110).
pub const MAX_PODS: usize = 2048;
/// Containers kept per pod (init, regular and ephemeral).
pub const MAX_CONTAINERS: usize = 256;
/// The kubelet's Events kept per pod, newest last.
pub const MAX_NOTES: usize = 16;
/// Bytes kept of any string (names are ≤253 in Kubernetes; messages are cut here).
pub const MAX_TEXT: usize = 1024;

/// A kubelet Event may be stamped a little after the signal it caused (it is sent
/// asynchronously): Events up to this long after a signal still explain it.
pub const AFTER_SLACK_NS: i128 = 5_000_000_000;
/// How long before a signal a kubelet decision still explains it, on top of the pod's grace
/// period (a stop's SIGKILL comes a grace period after the Killing Event).
pub const BEFORE_SLACK_NS: i128 = 60_000_000_000;
/// The grace period assumed when the pod does not say (Kubernetes' default).
pub const DEFAULT_GRACE_S: i64 = 30;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// The bare container id (the part after `containerd://`, `cri-o://`, `docker://`).
    pub id: String,
    pub name: String,
}

/// A pod's deletion: when the API server was asked, and its grace period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deletion {
    /// Unix ns of the deletion request (deletionTimestamp − grace period).
    pub requested_ns: i128,
    pub grace_s: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    pub uid: String,
    pub name: String,
    pub namespace: String,
    pub containers: Vec<Container>,
    pub grace_s: Option<i64>,
    pub deletion: Option<Deletion>,
}

/// One of the kubelet's Events on a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub reason: String,
    pub message: String,
    /// When it last happened (unix ns).
    pub time_ns: i128,
    /// The container its fieldPath names (`spec.containers{app}`); None for the pod as a whole.
    pub container: Option<String>,
}

/// The kubelet's decision a signal followed from.
/// (JSON writes it through `render::json`'s own view.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeletCause {
    pub reason: String,
    pub message: String,
    /// When the kubelet decided (unix ns).
    pub time_ns: i128,
}

/// What the API says of a container of a pod on this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirmed {
    pub name: String,
    pub namespace: String,
    pub container: Option<String>,
}

#[derive(Debug, Default)]
pub struct PodView {
    pods: HashMap<String, Pod>,
    notes: HashMap<String, VecDeque<Note>>,
    /// Pods the view dropped because it was full (a peer listing more than a node runs).
    pub overflow: u64,
}

/// Cuts `s` to [`MAX_TEXT`] bytes on a character boundary.
pub fn bounded(mut s: String) -> String {
    if s.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// `spec.containers{app}` → `app` (also initContainers, ephemeralContainers).
pub fn container_of_field_path(path: &str) -> Option<&str> {
    let rest = path
        .strip_prefix("spec.containers{")
        .or_else(|| path.strip_prefix("spec.initContainers{"))
        .or_else(|| path.strip_prefix("spec.ephemeralContainers{"))?;
    rest.strip_suffix('}').filter(|n| !n.is_empty())
}

/// `containerd://3b87…` → `3b87…`; None for an empty or scheme-less id.
pub fn bare_container_id(id: &str) -> Option<&str> {
    let (_, bare) = id.split_once("://")?;
    (!bare.is_empty()).then_some(bare)
}

impl PodView {
    /// The listing starts over (the watch was re-listed): what it does not name is gone.
    pub fn reset(&mut self, pods: Vec<Pod>) {
        self.pods.clear();
        for p in pods {
            self.upsert(p);
        }
        let pods = &self.pods;
        self.notes.retain(|uid, _| pods.contains_key(uid));
    }

    pub fn upsert(&mut self, mut pod: Pod) {
        if !self.pods.contains_key(&pod.uid) && self.pods.len() >= MAX_PODS {
            self.overflow += 1;
            return;
        }
        pod.containers.truncate(MAX_CONTAINERS);
        self.pods.insert(pod.uid.clone(), pod);
    }

    pub fn remove(&mut self, uid: &str) {
        self.pods.remove(uid);
        self.notes.remove(uid);
    }

    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// Is a pod with this uid on this node now?
    pub fn has(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// A kubelet Event on pod `uid`; kept only for a pod of this node.
    pub fn note(&mut self, uid: &str, note: Note) {
        if !self.pods.contains_key(uid) {
            return;
        }
        let notes = self.notes.entry(uid.to_owned()).or_default();
        // The same Event seen again (a MODIFIED with a new count) replaces its older self.
        notes.retain(|n| {
            !(n.reason == note.reason && n.container == note.container && n.message == note.message)
        });
        if notes.len() >= MAX_NOTES {
            notes.pop_front();
        }
        notes.push_back(note);
    }

    /// Does the API say container `id` belongs to pod `uid` on this node? Its names if so.
    pub fn confirm(&self, uid: &str, id: &str) -> Option<Confirmed> {
        let pod = self.pods.get(uid)?;
        let c = pod.containers.iter().find(|c| c.id == id)?;
        Some(Confirmed {
            name: pod.name.clone(),
            namespace: pod.namespace.clone(),
            container: Some(c.name.clone()),
        })
    }

    /// The kubelet's decision that explains a signal at `at_ns` (unix ns) to `container` of
    /// pod `uid`: the latest of its Events on that container (or the whole pod) within the
    /// window, else the pod's deletion. A probe's `Killing` carries the probe's own failure.
    pub fn kubelet_cause(
        &self,
        uid: &str,
        container: Option<&str>,
        at_ns: i128,
    ) -> Option<KubeletCause> {
        let pod = self.pods.get(uid)?;
        let grace = pod
            .deletion
            .map(|d| d.grace_s)
            .or(pod.grace_s)
            .unwrap_or(DEFAULT_GRACE_S)
            .clamp(0, 86_400);
        let earliest = at_ns - i128::from(grace) * 1_000_000_000 - BEFORE_SLACK_NS;
        let latest = at_ns + AFTER_SLACK_NS;
        let in_window = |t: i128| (earliest..=latest).contains(&t);
        let concerns = |n: &Note| match (&n.container, container) {
            (None, _) => true,
            (Some(c), Some(want)) => c == want,
            (Some(_), None) => false,
        };
        let notes = self.notes.get(uid);
        let relevant = |n: &&Note| concerns(n) && in_window(n.time_ns);
        let decision = notes.and_then(|ns| {
            ns.iter()
                .filter(relevant)
                .filter(|n| is_decision(&n.reason))
                .max_by_key(|n| n.time_ns)
        });
        if let Some(d) = decision {
            // A probe kill: say what the probe saw (the Unhealthy Event before it).
            let probe = d.reason == "Killing" && d.message.contains("probe");
            let unhealthy = probe
                .then(|| {
                    notes?
                        .iter()
                        .filter(relevant)
                        .filter(|n| {
                            n.reason == "Unhealthy" && n.time_ns <= d.time_ns + AFTER_SLACK_NS
                        })
                        .max_by_key(|n| n.time_ns)
                })
                .flatten();
            return Some(KubeletCause {
                reason: d.reason.clone(),
                message: unhealthy.map_or_else(|| d.message.clone(), |u| u.message.clone()),
                time_ns: d.time_ns,
            });
        }
        let del = pod.deletion?;
        in_window(del.requested_ns).then(|| KubeletCause {
            reason: "Deleted".into(),
            message: format!("pod deleted with a {} s grace period", del.grace_s),
            time_ns: del.requested_ns,
        })
    }
}

/// The kubelet's Event reasons that are decisions to stop a container.
fn is_decision(reason: &str) -> bool {
    matches!(
        reason,
        "Killing"
            | "Evicted"
            | "Preempted"
            | "Preempting"
            | "FailedPreStopHook"
            | "FailedPostStartHook"
            | "ExceededGracePeriod"
    )
}

#[cfg(test)]
mod tests;
