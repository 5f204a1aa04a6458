//! `--container`, `--pod`, `--namespace`: which cgroups to watch, kept current as containers
//! come and go. Matching is pure; `scan` walks cgroupfs (an I/O edge).
//!
//! Every cgroup gets a verdict for the kernel: watched, not watched, or (a container the
//! runtime has not listed yet) undecided. Undecided cgroups stay out of the kernel's map, so
//! their signals reach the daemon, which decides once the runtime has named the container: a
//! container named in `--container` and killed right after it started is not missed.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::cache::Lookup;
use super::meta::{Metadata, Query};
use super::path::{id_matches, parse};

/// How deep below a hierarchy's root containers are looked for (kubepods.slice/…/pod/ctr/sub).
const MAX_DEPTH: usize = 8;

/// The receiving side the user asked about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub containers: Vec<String>,
    pub pods: Vec<String>,
    pub namespaces: Vec<String>,
}

/// Why a cgroup is watched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// The container itself.
    Container,
    /// Its pod: the pod's cgroup is watched too, so containers it starts later are covered.
    Pod,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.pods.is_empty() && self.namespaces.is_empty()
    }

    /// Does the container at `cgroup_path` (with what its runtime says, if known) match?
    pub fn wants(&self, cgroup_path: &str, meta: Option<&Metadata>) -> Option<Match> {
        let r = parse(cgroup_path)?;
        let by_meta = |q: Query<'_>| meta.is_some_and(|m| m.matches(&q));
        if self
            .containers
            .iter()
            .any(|q| id_matches(&r.id, q) || by_meta(Query::Container(q)))
        {
            return Some(Match::Container);
        }
        let pod_uid = r.pod.as_ref().map(|p| p.uid.as_str());
        if self
            .pods
            .iter()
            .any(|q| pod_uid == Some(q.as_str()) || by_meta(Query::Pod(q)))
            || self.namespaces.iter().any(|q| by_meta(Query::Namespace(q)))
        {
            return Some(if r.pod.is_some() {
                Match::Pod
            } else {
                Match::Container
            });
        }
        None
    }

    /// `wants`, knowing what the runtime said: a container it has not listed yet (or a runtime
    /// that does not answer: it may be restarting) may still turn out to be one asked for by
    /// name, pod or namespace.
    pub fn decide(&self, cgroup_path: &str, lookup: &Lookup) -> Decision {
        let meta = match lookup {
            Lookup::Known(m) => Some(m),
            Lookup::Unknown | Lookup::Unavailable(_) => None,
        };
        match self.wants(cgroup_path, meta) {
            Some(m) => Decision::Watch(m),
            None if !matches!(lookup, Lookup::Known(_)) && parse(cgroup_path).is_some() => {
                Decision::Undecided
            }
            None => Decision::Ignore,
        }
    }
}

/// What to tell the kernel about one cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Watch(Match),
    Ignore,
    /// A container its runtime has not listed (yet): its signals go to the daemon to decide.
    Undecided,
}

/// One cgroup directory: its path below the hierarchy root and its id (the inode number,
/// which is the kernfs id the kernel programs compare).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupDir {
    pub path: String,
    pub id: u64,
    pub parent_id: Option<u64>,
}

/// Lists cgroup directories below `root`, `MAX_DEPTH` levels deep.
pub fn scan(root: &Path) -> Vec<CgroupDir> {
    let mut out = Vec::new();
    let mut stack: Vec<(PathBuf, usize, Option<u64>)> = vec![(root.to_path_buf(), 0, None)];
    while let Some((dir, depth, parent)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_dir() {
                continue;
            }
            let path = entry.path();
            let rel = format!("/{}", path.strip_prefix(root).unwrap_or(&path).display());
            let this_parent = if depth == 0 { None } else { parent };
            out.push(CgroupDir {
                path: rel,
                id: meta.ino(),
                parent_id: this_parent,
            });
            if depth + 1 < MAX_DEPTH {
                stack.push((path, depth + 1, Some(meta.ino())));
            }
        }
    }
    out
}

/// The verdicts on every scanned cgroup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdicts {
    /// Watched cgroups: the containers asked about, and the pods of pods asked about.
    pub watch: HashSet<u64>,
    /// Classified as not watched.
    pub ignore: HashSet<u64>,
    /// Container ids no runtime has listed yet (or none answers).
    pub undecided: Vec<String>,
}

/// The verdict on each of `dirs`, from the runtime's metadata. `patience` says whether an
/// unlisted container may stay undecided (false once it has been unlisted for long: a cgroup
/// that only looks like a container's must not pass every signal on for ever).
pub fn classify(
    filter: &Filter,
    dirs: &[CgroupDir],
    lookup: &dyn Fn(&str) -> Lookup,
    patience: &mut dyn FnMut(&str) -> bool,
) -> Verdicts {
    let mut v = Verdicts::default();
    let mut undecided = HashSet::new();
    for d in dirs {
        let decision = match parse(&d.path) {
            Some(r) => match filter.decide(&d.path, &lookup(&r.id)) {
                Decision::Undecided if !patience(&r.id) => Decision::Ignore,
                Decision::Undecided => {
                    v.undecided.push(r.id);
                    Decision::Undecided
                }
                other => other,
            },
            None => Decision::Ignore,
        };
        match decision {
            Decision::Watch(Match::Container) => {
                v.watch.insert(d.id);
            }
            Decision::Watch(Match::Pod) => {
                v.watch.insert(d.id);
                v.watch.extend(d.parent_id);
            }
            Decision::Undecided => {
                undecided.insert(d.id);
            }
            Decision::Ignore => {}
        }
    }
    // A pod's own directory is no container (ignored) unless one of its containers is watched.
    v.ignore = dirs
        .iter()
        .map(|d| d.id)
        .filter(|id| !v.watch.contains(id) && !undecided.contains(id))
        .collect();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::meta::PodMeta;
    use crate::container::path::Runtime;

    const A: &str = "3b87c0a1f2e4d5c6b7a8998877665544332211ffeeddccbbaa00112233445566";
    const B: &str = "99999999f2e4d5c6b7a8998877665544332211ffeeddccbbaa00112233445566";
    const POD: &str = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_0000_1111_2222_333344445555.slice";

    fn dirs() -> Vec<CgroupDir> {
        vec![
            CgroupDir {
                path: POD.into(),
                id: 10,
                parent_id: Some(1),
            },
            CgroupDir {
                path: format!("{POD}/cri-containerd-{A}.scope"),
                id: 11,
                parent_id: Some(10),
            },
            CgroupDir {
                path: format!("/default/{B}"),
                id: 20,
                parent_id: Some(2),
            },
            CgroupDir {
                path: "/system.slice/sshd.service".into(),
                id: 30,
                parent_id: Some(3),
            },
        ]
    }

    fn meta(id: &str) -> Option<Metadata> {
        let mut m = Metadata::new(id, Runtime::Containerd);
        if id == A {
            m.name = Some("nginx".into());
            m.pod = Some(PodMeta {
                name: "web-7d9c".into(),
                namespace: "shop".into(),
                uid: "0a1b2c3d-0000-1111-2222-333344445555".into(),
            });
        } else {
            m.name = Some("batch".into());
        }
        Some(m)
    }

    fn known(id: &str) -> Lookup {
        meta(id).map_or(Lookup::Unknown, Lookup::Known)
    }

    fn pick(f: Filter) -> Vec<u64> {
        let verdicts = classify(&f, &dirs(), &known, &mut |_| true);
        let mut v: Vec<u64> = verdicts.watch.into_iter().collect();
        v.sort();
        let mut all: Vec<u64> = dirs().iter().map(|d| d.id).collect();
        all.retain(|id| !v.contains(id));
        let mut ignored: Vec<u64> = verdicts.ignore.into_iter().collect();
        ignored.sort();
        all.sort();
        assert_eq!(
            ignored, all,
            "every other cgroup is classified as not watched"
        );
        v
    }

    #[test]
    fn a_container_no_runtime_lists_yet_is_left_to_the_daemon() {
        let f = Filter {
            containers: vec!["nginx".into()],
            ..Filter::default()
        };
        let unlisted = |_: &str| Lookup::Unknown;
        let v = classify(&f, &dirs(), &unlisted, &mut |_| true);
        assert!(v.watch.is_empty());
        let mut ignored: Vec<u64> = v.ignore.iter().copied().collect();
        ignored.sort();
        assert_eq!(ignored, vec![10, 30], "the pod's and sshd's cgroups");
        let mut ids = v.undecided.clone();
        ids.sort();
        assert_eq!(ids, vec![A.to_owned(), B.to_owned()]);

        // Out of patience: a cgroup that only looks like a container's stops passing signals on.
        let v = classify(&f, &dirs(), &unlisted, &mut |id| id != B);
        assert_eq!(v.undecided, vec![A.to_owned()]);
        assert!(v.ignore.contains(&20));

        // A runtime that does not answer may be restarting: undecided too, for a while.
        let down = |_: &str| Lookup::Unavailable("no runtime".into());
        let v = classify(&f, &dirs(), &down, &mut |_| true);
        assert_eq!(v.undecided.len(), 2);
        let v = classify(&f, &dirs(), &down, &mut |_| false);
        assert!(v.undecided.is_empty());
        assert_eq!(v.ignore.len(), dirs().len());
    }

    #[test]
    fn containers_by_id_prefix_or_name() {
        assert_eq!(
            pick(Filter {
                containers: vec!["3b87".into()],
                ..Filter::default()
            }),
            vec![11]
        );
        assert_eq!(
            pick(Filter {
                containers: vec!["batch".into()],
                ..Filter::default()
            }),
            vec![20]
        );
        assert_eq!(
            pick(Filter {
                containers: vec!["nomatch".into()],
                ..Filter::default()
            }),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn pods_and_namespaces_watch_the_pod_cgroup_too() {
        assert_eq!(
            pick(Filter {
                pods: vec!["shop/web-7d9c".into()],
                ..Filter::default()
            }),
            vec![10, 11]
        );
        assert_eq!(
            pick(Filter {
                pods: vec!["0a1b2c3d-0000-1111-2222-333344445555".into()],
                ..Filter::default()
            }),
            vec![10, 11]
        );
        assert_eq!(
            pick(Filter {
                namespaces: vec!["shop".into()],
                ..Filter::default()
            }),
            vec![10, 11]
        );
        assert_eq!(
            pick(Filter {
                namespaces: vec!["default".into()],
                ..Filter::default()
            }),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn scanning_a_real_tree_finds_nested_dirs_with_inode_ids() {
        let root = std::env::temp_dir().join(format!("exitwatch-scan-{}", std::process::id()));
        std::fs::create_dir_all(root.join("default").join(B)).unwrap();
        let found = scan(&root);
        std::fs::remove_dir_all(&root).unwrap();
        let leaf = found
            .iter()
            .find(|d| d.path == format!("/default/{B}"))
            .expect("leaf found");
        let parent = found
            .iter()
            .find(|d| d.path == "/default")
            .expect("parent found");
        assert_eq!(leaf.parent_id, Some(parent.id));
    }
}
