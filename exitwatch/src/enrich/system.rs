//! The real [`World`]: the runtimes' metadata cache, /proc and cgroupfs of this node.

use crate::cgroupfs::{self, MemoryHierarchy};
use crate::container::cache::{Lookup, MetadataCache};

use super::{Usage, World};
use crate::event::split_argv;
use crate::kube::view::{Confirmed, KubeletCause};

pub struct System {
    cache: MetadataCache,
    memory: Option<MemoryHierarchy>,
    /// This node's pods as the Kubernetes API lists them, when the API is used.
    pods: Option<crate::kube::Pods>,
}

impl System {
    /// Pods from the Kubernetes API confirm containers' pods and explain their kills.
    pub fn with_pods(mut self, pods: Option<crate::kube::Pods>) -> Self {
        self.pods = pods;
        self
    }

    pub fn new(cache: MetadataCache) -> Self {
        System {
            cache,
            memory: MemoryHierarchy::detect(),
            pods: None,
        }
    }
}

impl World for System {
    fn container(&self, id: &str) -> Lookup {
        self.cache.lookup(id)
    }

    fn ask_runtimes(&self) -> u64 {
        self.cache.request_refresh();
        self.cache.ticket()
    }

    fn cmdline(&self, pid: u32) -> Option<Vec<Vec<u8>>> {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        Some(split_argv(&raw)).filter(|args| !args.is_empty())
    }

    fn memory_cgroup(&self, pid: u32) -> Option<String> {
        cgroupfs::proc_memory_cgroup(pid, self.memory.as_ref()?.v2)
    }

    fn memcg_usage(&self, path: &str) -> Usage {
        match &self.memory {
            None => Usage::NoHierarchy,
            Some(m) => m.usage(path).map_or(Usage::Unreadable, Usage::Read),
        }
    }

    fn api_pod(&self, uid: &str, id: &str) -> Option<Confirmed> {
        self.pods.as_ref()?.read(|v| v.confirm(uid, id))
    }

    fn kube_watching(&self) -> bool {
        self.pods.is_some()
    }

    fn kubelet_cause(
        &self,
        uid: &str,
        container: Option<&str>,
        at_ns: i128,
    ) -> Option<KubeletCause> {
        self.pods
            .as_ref()?
            .read(|v| v.kubelet_cause(uid, container, at_ns))
    }
}
