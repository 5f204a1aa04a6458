//! Where the cgroup hierarchies are mounted (v1, v2 or hybrid) and what a memory cgroup reports.

use std::path::{Path, PathBuf};

use crate::oom::{parse_limit, MemcgUsage};

/// The hierarchy the memory controller lives in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryHierarchy {
    pub root: PathBuf,
    pub v2: bool,
}

/// Pure: finds the memory controller's mount in /proc/self/mountinfo text. A v1 mount with the
/// `memory` option wins (on hybrid hosts the controller is bound there); else the cgroup2 mount.
pub fn memory_hierarchy(mountinfo: &str) -> Option<MemoryHierarchy> {
    let mut v2 = None;
    for line in mountinfo.lines() {
        // id parent maj:min root mountpoint options [optional...] - fstype source superopts
        let (left, right) = line.split_once(" - ")?;
        let mountpoint = left.split(' ').nth(4)?;
        let mut right = right.split(' ');
        let (fstype, _source, superopts) =
            (right.next()?, right.next()?, right.next().unwrap_or(""));
        let path = PathBuf::from(unescape(mountpoint));
        match fstype {
            "cgroup" if superopts.split(',').any(|o| o == "memory") => {
                return Some(MemoryHierarchy {
                    root: path,
                    v2: false,
                })
            }
            "cgroup2" if v2.is_none() => {
                v2 = Some(MemoryHierarchy {
                    root: path,
                    v2: true,
                })
            }
            _ => {}
        }
    }
    v2
}

/// Pure: the mount points of every cgroup hierarchy that can hold containers: the cgroup2
/// mount and the v1 memory controller's (the kernel programs compare ids from both).
pub fn hierarchy_roots(mountinfo: &str) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mountpoint) = left.split(' ').nth(4) else {
            continue;
        };
        let mut right = right.split(' ');
        let (fstype, superopts) = (right.next().unwrap_or(""), right.nth(1).unwrap_or(""));
        let wanted = fstype == "cgroup2"
            || (fstype == "cgroup" && superopts.split(',').any(|o| o == "memory"));
        let path = PathBuf::from(unescape(mountpoint));
        if wanted && !roots.contains(&path) {
            roots.push(path);
        }
    }
    roots
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

impl MemoryHierarchy {
    /// The memory controller of this machine (None without cgroups mounted).
    pub fn detect() -> Option<Self> {
        memory_hierarchy(&std::fs::read_to_string("/proc/self/mountinfo").ok()?)
    }

    /// Limit and usage of the memory cgroup at `path` (as the kernel log names it).
    pub fn usage(&self, path: &str) -> Option<MemcgUsage> {
        let dir = self.root.join(path.trim_start_matches('/'));
        if !dir.starts_with(&self.root) || path.split('/').any(|c| c == "..") {
            return None;
        }
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        let (limit, usage, peak) = if self.v2 {
            ("memory.max", "memory.current", "memory.peak")
        } else {
            (
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
                "memory.max_usage_in_bytes",
            )
        };
        let number = |name: &str| read(name).and_then(|u| u.trim().parse().ok());
        let limit_bytes = parse_limit(&read(limit)?)?;
        Some(MemcgUsage {
            limit_bytes,
            usage_bytes: number(usage),
            peak_bytes: number(peak),
        })
    }
}

/// The memory cgroup path of a live process, from /proc/PID/cgroup (a fallback: the process
/// may already be gone).
pub fn proc_memory_cgroup(pid: u32, v2: bool) -> Option<String> {
    let text =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("cgroup")).ok()?;
    memory_cgroup_line(&text, v2)
}

/// Pure: the memory controller's path in /proc/PID/cgroup text.
pub fn memory_cgroup_line(text: &str, v2: bool) -> Option<String> {
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = if v2 {
            controllers.is_empty()
        } else {
            controllers.split(',').any(|c| c == "memory")
        };
        hit.then(|| path.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
36 30 0:32 / /sys/fs/cgroup/cpu\\040x rw - cgroup cgroup rw,cpu";
    const V2: &str = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot";

    #[test]
    fn hybrid_hosts_use_the_v1_memory_mount() {
        assert_eq!(
            memory_hierarchy(HYBRID),
            Some(MemoryHierarchy {
                root: "/sys/fs/cgroup/memory".into(),
                v2: false
            })
        );
    }

    #[test]
    fn pure_v2_hosts_use_the_unified_mount() {
        assert_eq!(
            memory_hierarchy(V2),
            Some(MemoryHierarchy {
                root: "/sys/fs/cgroup".into(),
                v2: true
            })
        );
        assert_eq!(memory_hierarchy(""), None);
    }

    #[test]
    fn roots_of_hybrid_and_v2_hosts() {
        assert_eq!(
            hierarchy_roots(HYBRID),
            vec![
                PathBuf::from("/sys/fs/cgroup/unified"),
                PathBuf::from("/sys/fs/cgroup/memory")
            ]
        );
        assert_eq!(hierarchy_roots(V2), vec![PathBuf::from("/sys/fs/cgroup")]);
    }

    #[test]
    fn memory_line_of_proc_cgroup() {
        let v1 = "12:memory:/ewtest\n11:cpu,cpuacct:/\n0::/user.slice\n";
        assert_eq!(memory_cgroup_line(v1, false).as_deref(), Some("/ewtest"));
        assert_eq!(memory_cgroup_line(v1, true).as_deref(), Some("/user.slice"));
        assert_eq!(memory_cgroup_line("", true), None);
    }

    #[test]
    fn usage_refuses_paths_that_escape_the_hierarchy() {
        let h = MemoryHierarchy {
            root: "/nonexistent-root".into(),
            v2: true,
        };
        assert_eq!(h.usage("/../../etc"), None);
    }
}
