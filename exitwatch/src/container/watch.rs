//! `--container`, `--pod`, `--namespace`: which cgroups to watch, kept current as containers
//! come and go. Matching is pure; `scan` walks cgroupfs (an I/O edge).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::meta::{Metadata, Query};
use super::path::{id_matches, parse};

/// How deep below a hierarchy's root containers are looked for (kubepods.slice/…/pod/ctr/sub).
const MAX_DEPTH: usize = 6;

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

/// The cgroup ids to watch now, from a scan and the runtime's metadata.
pub fn select(
    filter: &Filter,
    dirs: &[CgroupDir],
    meta: &dyn Fn(&str) -> Option<Metadata>,
) -> HashSet<u64> {
    let mut ids = HashSet::new();
    for d in dirs {
        let id = parse(&d.path).map(|r| r.id);
        let m = id.as_deref().and_then(meta);
        match filter.wants(&d.path, m.as_ref()) {
            Some(Match::Container) => {
                ids.insert(d.id);
            }
            Some(Match::Pod) => {
                ids.insert(d.id);
                ids.extend(d.parent_id);
            }
            None => {}
        }
    }
    ids
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

    fn pick(f: Filter) -> Vec<u64> {
        let mut v: Vec<u64> = select(&f, &dirs(), &meta).into_iter().collect();
        v.sort();
        v
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
