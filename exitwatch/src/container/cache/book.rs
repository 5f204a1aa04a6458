//! The cache's record of containers: the ones listed now, and tombstones of the recently removed.

use std::collections::HashMap;

use tokio::time::Instant;

use super::CacheConfig;
use crate::container::meta::{Metadata, Query};

/// The containers known now, and the recently removed ones.
#[derive(Default)]
pub(super) struct Book {
    pub(super) live: HashMap<String, Metadata>,
    pub(super) removed: HashMap<String, (Instant, Metadata)>,
}

impl Book {
    pub(super) fn get(&self, id: &str) -> Option<Metadata> {
        self.live
            .get(id)
            .or_else(|| self.removed.get(id).map(|(_, meta)| meta))
            .cloned()
    }

    pub(super) fn find(&self, query: &Query<'_>) -> Vec<Metadata> {
        let removed = self.removed.values().map(|(_, meta)| meta);
        let mut found: Vec<_> = self
            .live
            .values()
            .chain(removed)
            .filter(|m| m.matches(query))
            .cloned()
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        found
    }

    /// Replaces the live set with `live`: what left it becomes a tombstone, what came back is live again.
    pub(super) fn apply(
        &mut self,
        live: HashMap<String, Metadata>,
        now: Instant,
        config: &CacheConfig,
    ) {
        let old = std::mem::replace(&mut self.live, live);
        for (id, mut meta) in old {
            if !self.live.contains_key(&id) {
                meta.removed = true;
                self.removed.insert(id, (now, meta));
            }
        }
        self.removed.retain(|id, (at, _)| {
            !self.live.contains_key(id) && now.duration_since(*at) < config.tombstone_ttl
        });
        if self.removed.len() > config.tombstone_max {
            let mut by_age: Vec<_> = self
                .removed
                .iter()
                .map(|(id, (at, _))| (*at, id.clone()))
                .collect();
            by_age.sort();
            for (_, id) in by_age
                .iter()
                .take(self.removed.len() - config.tombstone_max)
            {
                self.removed.remove(id);
            }
        }
    }
}
