//! Assemble: joins small signal and exit records with what the kernel sent once before them,
//! the sender's identity (by process image) and the cgroups' paths (by id), into complete
//! events. Pure and bounded: what it forgets it says, so the kernel sends it again.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::container::identity::ContainerInfo;
use crate::decode::{CgroupName, Identity, PlaceIds, Record};
use crate::event::{self, CgroupPath, Event, Place};
use crate::numhash::NumMap;

/// Process images remembered, and bytes of identities, at most. Larger than the kernel's
/// `IDENTITIES` map: an image the kernel still counts as sent is normally still here.
pub const MAX_IMAGES: usize = 16_384;
pub const MAX_IDENTITY_BYTES: usize = 16 << 20;
/// Cgroup paths remembered (more than the kernel's `CGROUPS_SENT`).
pub const MAX_CGROUPS: usize = 16_384;
/// `CGROUPS_SENT` keys of the memory hierarchy (as the kernel programs write them).
pub const MEMORY_KEY: u64 = 1 << 63;

#[derive(Default)]
pub struct Assembler {
    /// Identities by (tgid, image), oldest first in `order`.
    images: NumMap<(u32, u64), Arc<Identity>>,
    order: VecDeque<(u32, u64)>,
    identity_bytes: usize,
    /// Cgroup paths by `CGROUPS_SENT` key.
    cgroups: NumMap<u64, Cgroup>,
    cgroup_order: VecDeque<u64>,
    forget: Forget,
}

/// A cgroup's path and the container it names, recognised once when the path arrives rather
/// than parsed again for every event in it.
struct Cgroup {
    path: Arc<str>,
    container: Option<Box<ContainerInfo>>,
}

/// What the assembler dropped to stay within bounds: the kernel must forget having sent it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forget {
    /// tgids to delete from `IDENTITIES`.
    pub processes: Vec<u32>,
    /// Keys to delete from `CGROUPS_SENT`.
    pub cgroups: Vec<u64>,
}

impl Forget {
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty() && self.cgroups.is_empty()
    }
}

impl Assembler {
    /// Takes one record; returns the event it completes, if it is one.
    pub fn take(&mut self, record: Record) -> Option<Event> {
        match record {
            Record::Identity(i) => {
                self.remember(*i);
                None
            }
            Record::CgroupName(c) => {
                self.name(c);
                None
            }
            Record::Signal {
                mut event,
                sender_image,
                target_place,
            } => {
                let pid = event.sender.actor().proc.pid;
                let identity = sender_image.and_then(|image| self.images.get(&(pid, image)));
                let actor = event.sender.actor_mut();
                match identity {
                    Some(i) => {
                        actor.place = self.place(&i.place);
                        actor.args = Arc::clone(&i.args);
                        actor.args_truncated = i.args_truncated;
                        actor.loginuid = i.loginuid;
                        actor.sessionid = i.sessionid;
                        actor.exe = i.exe.clone();
                        actor.exe_deleted = i.exe_deleted;
                        actor.ancestry = Arc::clone(&i.ancestry);
                        actor.ancestry_truncated = i.ancestry_truncated;
                    }
                    // Lost in the kernel, or forgotten here: say so rather than guess.
                    None => actor.identity_lost = true,
                }
                event.target_place = self.place(&target_place);
                Some(Event::Signal(event))
            }
            Record::Exit { mut event, place } => {
                event.place = self.place(&place);
                Some(Event::Exit(event))
            }
            Record::Oom(o) => Some(Event::Oom(o)),
        }
    }

    /// What was dropped since the last call (for the kernel to forget too).
    pub fn forgotten(&mut self) -> Forget {
        std::mem::take(&mut self.forget)
    }

    /// Identities and cgroup paths held.
    pub fn size(&self) -> (usize, usize) {
        (self.images.len(), self.cgroups.len())
    }

    fn remember(&mut self, i: Identity) {
        let key = (i.pid, i.image);
        let bytes = i.bytes();
        if let Some(old) = self.images.insert(key, Arc::new(i)) {
            self.identity_bytes -= old.bytes();
        } else {
            self.order.push_back(key);
        }
        self.identity_bytes += bytes;
        while self.images.len() > MAX_IMAGES || self.identity_bytes > MAX_IDENTITY_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(gone) = self.images.remove(&old) {
                self.identity_bytes -= gone.bytes();
                self.forget.processes.push(old.0);
            }
        }
    }

    fn name(&mut self, c: CgroupName) {
        let key = if c.memory { c.id | MEMORY_KEY } else { c.id };
        let cgroup = Cgroup {
            container: event::container_of(&c.path),
            path: c.path.into(),
        };
        if self.cgroups.insert(key, cgroup).is_none() {
            self.cgroup_order.push_back(key);
        }
        while self.cgroups.len() > MAX_CGROUPS {
            let Some(old) = self.cgroup_order.pop_front() else {
                break;
            };
            self.cgroups.remove(&old);
            self.forget.cgroups.push(old);
        }
    }

    fn cgroup(&self, id: u64, memory: bool) -> Option<(u64, &Cgroup)> {
        if id == 0 {
            return None;
        }
        let key = if memory { id | MEMORY_KEY } else { id };
        Some((id, self.cgroups.get(&key)?))
    }

    fn place(&self, ids: &PlaceIds) -> Place {
        let (cgroup, memcg) = (self.cgroup(ids.cgroup, false), self.cgroup(ids.memcg, true));
        let path = |c: Option<(u64, &Cgroup)>| {
            c.map(|(id, c)| CgroupPath {
                id,
                path: c.path.clone(),
            })
        };
        Place {
            // Whichever path names one, the default hierarchy's first.
            container: [cgroup, memcg]
                .into_iter()
                .flatten()
                .find_map(|(_, c)| c.container.clone()),
            cgroup: path(cgroup),
            memcg: path(memcg),
            ns: ids.ns,
        }
    }
}

#[cfg(test)]
mod tests;
