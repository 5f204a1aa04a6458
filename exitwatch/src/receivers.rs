//! Keeps the kernel's `WATCHED_CGROUPS` map in step with the containers and pods the user asked
//! about (`--container`, `--pod`, `--namespace`), as they start and stop.

use std::collections::HashSet;
use std::path::PathBuf;

use aya::maps::{HashMap, MapData};

use crate::cgroupfs;
use crate::container::cache::{Lookup, MetadataCache};
use crate::container::watch::{self, Filter};

pub struct Receivers {
    filter: Filter,
    roots: Vec<PathBuf>,
    map: HashMap<MapData, u64, u32>,
    current: HashSet<u64>,
}

impl Receivers {
    pub fn new(filter: Filter, map: HashMap<MapData, u64, u32>) -> Self {
        let roots = std::fs::read_to_string("/proc/self/mountinfo")
            .map(|m| cgroupfs::hierarchy_roots(&m))
            .unwrap_or_default();
        Receivers {
            filter,
            roots,
            map,
            current: HashSet::new(),
        }
    }

    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// Rescans cgroupfs and updates the kernel map; returns how many cgroups are watched.
    pub fn refresh(&mut self, cache: &MetadataCache) -> usize {
        let meta = |id: &str| match cache.lookup(id) {
            Lookup::Known(m) => Some(m),
            _ => None,
        };
        let mut wanted = HashSet::new();
        for root in &self.roots {
            wanted.extend(watch::select(&self.filter, &watch::scan(root), &meta));
        }
        for gone in self.current.difference(&wanted) {
            let _ = self.map.remove(gone);
        }
        for new in wanted.difference(&self.current) {
            // A full map only means some new cgroup is not watched: say so rather than stop.
            if let Err(e) = self.map.insert(new, 1, 0) {
                eprintln!("exitwatch: warning: cannot watch cgroup {new}: {e}");
            }
        }
        self.current = wanted;
        self.current.len()
    }
}
