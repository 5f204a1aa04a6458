//! Keeps the kernel's `WATCHED_CGROUPS` map in step with the containers and pods the user asked
//! about (`--container`, `--pod`, `--namespace`), as they start and stop.

use std::collections::HashMap as StdHashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aya::maps::{HashMap, MapData};

use crate::cgroupfs;
use crate::container::cache::MetadataCache;
use crate::container::watch::{self, Filter};

/// How long a container no runtime lists stays undecided (its signals passed to the daemon).
/// Runtimes list a new container within a listing round (seconds); a cgroup still unlisted
/// after this only looks like a container's.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct Receivers {
    filter: Filter,
    roots: Vec<PathBuf>,
    map: HashMap<MapData, u64, u32>,
    /// What the kernel's map holds: cgroup id -> 1 (watched) or 0 (not watched).
    current: StdHashMap<u64, u32>,
    /// When each container id no runtime lists was first seen.
    unlisted: StdHashMap<String, Instant>,
    /// Said once: the map is full, so some cgroups stay undecided (passed to the daemon).
    warned_full: bool,
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
            current: StdHashMap::new(),
            unlisted: StdHashMap::new(),
            warned_full: false,
        }
    }

    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// Rescans cgroupfs and updates the kernel map; returns how many cgroups are watched.
    pub fn refresh(&mut self, cache: &MetadataCache) -> usize {
        let now = Instant::now();
        let lookup = |id: &str| cache.lookup(id);
        let unlisted = &mut self.unlisted;
        let mut patience =
            |id: &str| now.duration_since(*unlisted.entry(id.to_owned()).or_insert(now)) < PATIENCE;
        let mut wanted: StdHashMap<u64, u32> = StdHashMap::new();
        let mut undecided = Vec::new();
        for root in &self.roots {
            let v = watch::classify(&self.filter, &watch::scan(root), &lookup, &mut patience);
            // Ids of different hierarchies may coincide: watching wins.
            for id in v.ignore {
                wanted.entry(id).or_insert(0);
            }
            for id in v.watch {
                wanted.insert(id, 1);
            }
            undecided.extend(v.undecided);
        }
        // Forget containers that are listed now or gone; ask the runtimes about the others.
        self.unlisted.retain(|id, _| undecided.contains(id));
        if !undecided.is_empty() {
            cache.request_refresh();
        }
        self.current.retain(|id, _| {
            let keep = wanted.contains_key(id);
            if !keep {
                let _ = self.map.remove(id);
            }
            keep
        });
        let mut full = 0usize;
        for (id, verdict) in wanted {
            if self.current.get(&id) == Some(&verdict) {
                continue;
            }
            match self.map.insert(id, verdict, 0) {
                Ok(()) => {
                    self.current.insert(id, verdict);
                }
                // Not in the map means undecided: its signals reach the daemon, which filters.
                Err(_) => full += 1,
            }
        }
        if full > 0 && !self.warned_full {
            self.warned_full = true;
            eprintln!(
                "exitwatch: warning: {full} cgroups did not fit the kernel's cgroup map ({} entries); \
                 their signals are filtered in the daemon instead, which costs more per signal",
                exitwatch_common::MAX_WATCHED_CGROUPS
            );
        }
        self.current.values().filter(|&&v| v != 0).count()
    }
}
