//! The real [`World`]: the runtimes' metadata cache, /proc and cgroupfs of this node.

use crate::cgroupfs::{self, MemoryHierarchy};
use crate::container::cache::{Lookup, MetadataCache};

use super::{Usage, World};
use crate::event::split_argv;

pub struct System {
    cache: MetadataCache,
    memory: Option<MemoryHierarchy>,
}

impl System {
    pub fn new(cache: MetadataCache) -> Self {
        System {
            cache,
            memory: MemoryHierarchy::detect(),
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
}
