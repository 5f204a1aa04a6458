//! Enrich: what the kernel did not say about an event, asked of the node through [`World`]
//! (the runtimes' names for a container, an OOM victim's argv and memory cgroup, the limit it
//! hit). The functions here are pure given a `World`; [`system::System`] is the real one, and
//! the pipeline's tests pass a fake.

pub mod system;

use crate::container::cache::Lookup;
use crate::container::identity::{ConfirmedBy, MetadataStatus, PodInfo};
use crate::event::{Event, OomEvent, Place};
use crate::kube::view::{Confirmed, KubeletCause};
use crate::oom::MemcgUsage;

/// What a memory cgroup's limit files said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// No memory controller is mounted here: nothing to read, nothing missing.
    NoHierarchy,
    /// The controller is there but the cgroup's files could not be read (it is gone).
    Unreadable,
    Read(MemcgUsage),
}

/// The node, as the pipeline sees it: answers come from memory or a quick read of /proc and
/// cgroupfs; nothing here waits on a runtime.
pub trait World {
    /// What the runtimes said about container `id` (from the cache: never waits).
    fn container(&self, id: &str) -> Lookup;
    /// Asks the runtimes for a listing soon; returns the number of the latest listing already
    /// started (an answer numbered above it began after this call).
    fn ask_runtimes(&self) -> u64;
    /// `/proc/PID/cmdline` of a live process, split at NULs; None when it is gone or empty.
    fn cmdline(&self, pid: u32) -> Option<Vec<Vec<u8>>>;
    /// The memory cgroup of a live process, None when unknown (or no memory hierarchy).
    fn memory_cgroup(&self, pid: u32) -> Option<String>;
    /// Limit and usage of the memory cgroup at `path` (as the kernel log names it).
    fn memcg_usage(&self, path: &str) -> Usage;
    /// Does the Kubernetes API say container `id` belongs to pod `uid` on this node? (None
    /// too when the API is not used.)
    fn api_pod(&self, _uid: &str, _id: &str) -> Option<Confirmed> {
        None
    }
    /// The kubelet's decision (from the API) that explains a signal at `at_ns` (unix ns) to
    /// `container` of pod `uid`.
    /// Is the Kubernetes API watched (kubelet Events may still come for a runtime's signal)?
    fn kube_watching(&self) -> bool {
        false
    }
    fn kubelet_cause(
        &self,
        _uid: &str,
        _container: Option<&str>,
        _at_ns: i128,
    ) -> Option<KubeletCause> {
        None
    }
}

/// Adds the runtime's names to every container the event names; true when a runtime that
/// answers does not know one of them (a container started since its last listing).
pub fn name_containers(world: &impl World, ev: &mut Event) -> bool {
    let mut unknown = false;
    for place in ev.places_mut() {
        unknown |= name_container(world, place);
    }
    unknown
}

/// Adds the runtime's names to a place's container, and has its pod confirmed (by the
/// runtime's labels, else by the API); true when the runtime does not know it.
pub fn name_container(world: &impl World, place: &mut Place) -> bool {
    let Some(c) = &mut place.container else {
        return false;
    };
    let unknown = match world.container(&c.id) {
        Lookup::Known(m) => {
            c.runtime = Some(m.runtime);
            // Called again when the event is released: keep a name the API gave the first time.
            c.name = m.name.or(c.name.take());
            c.image = m.image;
            if let Some(pod) = m.pod {
                let qos = c.pod.as_ref().and_then(|p| p.qos);
                c.pod = Some(PodInfo {
                    name: Some(pod.name),
                    namespace: Some(pod.namespace),
                    uid: pod.uid,
                    qos,
                    confirmed_by: Some(ConfirmedBy::Runtime),
                });
            }
            c.metadata = MetadataStatus::Complete;
            false
        }
        Lookup::Unknown => {
            c.metadata = MetadataStatus::NotFound;
            true
        }
        Lookup::Unavailable(reason) => {
            c.metadata = MetadataStatus::Unavailable(reason);
            false
        }
    };
    // A pod the runtime did not vouch for: believed only if the API lists this container in it.
    if let Some(pod) = c.pod.as_mut().filter(|p| p.confirmed_by.is_none()) {
        if let Some(api) = world.api_pod(&pod.uid, &c.id) {
            pod.name = Some(api.name);
            pod.namespace = Some(api.namespace);
            pod.confirmed_by = Some(ConfirmedBy::Api);
            if c.name.is_none() {
                c.name = api.container;
            }
        }
    }
    unknown
}

/// A container runtime's signal to a confirmed pod's container whose kubelet decision has not
/// been seen yet: the kubelet sends its Event (Killing...) as it asks the runtime to stop the
/// container, so it may reach exitwatch just after the signal. Worth a short wait.
pub fn awaits_kubelet(world: &impl World, ev: &Event, at_ns: i128) -> bool {
    let Event::Signal(s) = ev else {
        return false;
    };
    world.kube_watching()
        && crate::role::of(&s.sender) == Some(crate::role::Role::ContainerRuntime)
        && s.target_place
            .container
            .as_ref()
            .and_then(|c| c.pod.as_ref())
            .is_some_and(|p| p.confirmed_by.is_some())
        && kubelet_cause(world, ev, at_ns).is_none()
}

/// The kubelet's decision behind an event, when its target is a confirmed pod's container.
pub fn kubelet_cause(world: &impl World, ev: &Event, at_ns: i128) -> Option<KubeletCause> {
    let place = match ev {
        Event::Signal(s) => &s.target_place,
        Event::Exit(x) => &x.place,
        _ => return None,
    };
    let c = place.container.as_ref()?;
    let pod = c.pod.as_ref().filter(|p| p.confirmed_by.is_some())?;
    world.kubelet_cause(&pod.uid, c.name.as_deref(), at_ns)
}

/// What must be read while the OOM victim may still exist: its memory cgroup, and its argv
/// when the kernel did not record it.
pub fn oom_on_arrival(world: &impl World, oom: &mut OomEvent) {
    oom.victim_cgroup = world.memory_cgroup(oom.victim.pid);
    if oom.victim_args.is_empty() {
        match world.cmdline(oom.victim.pid) {
            Some(args) => oom.victim_args = args,
            None => oom.missing.push("victim.args"),
        }
    }
}

/// Completes an OOM kill once correlation is over (its kernel log line came, or will not):
/// the victim's place, its name from the log, the limit that was hit, and what is missing.
/// `log_unreadable` says the kernel log could not be read at all.
pub fn oom_complete(world: &impl World, oom: &mut OomEvent, log_unreadable: bool) {
    // No SIGKILL recorded where the victim lived: its memory cgroup's path is what is known.
    if oom.victim_place == Place::default() {
        if let Some(path) = oom.victim_memcg() {
            oom.victim_place = Place::from_cgroup_path(path);
        }
    }
    match &oom.context {
        Some(ctx) => {
            if oom.victim.comm.is_empty() {
                oom.victim.comm = ctx.task.as_bytes().to_vec();
                oom.missing.retain(|m| *m != "victim.comm");
            }
            if let Some(path) = &ctx.oom_memcg {
                match world.memcg_usage(path) {
                    Usage::NoHierarchy => {}
                    Usage::Unreadable => oom.missing.push("memcg.limit_bytes"),
                    Usage::Read(u) => oom.memcg_usage = Some(u),
                }
            }
        }
        None => {
            oom.missing.push("constraint");
            oom.missing.push("memcg");
            oom.missing.push(if log_unreadable {
                "kernel_log_unreadable"
            } else {
                "kernel_log_line_not_seen"
            });
        }
    }
}

#[cfg(test)]
mod tests;
