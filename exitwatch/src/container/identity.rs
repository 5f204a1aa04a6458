//! A process's container as events report it: ids from the cgroup path the kernel recorded,
//! names from the runtime when it answered.

use serde::Serialize;

use super::path::{ContainerRef, Qos, Runtime};

/// Whether the runtime's names (container, image, pod) could be added.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataStatus {
    /// Names come from the runtime (possibly from the cache of a container that just died).
    Complete,
    /// The runtime does not know this container (yet): only the cgroup-path ids are given.
    NotFound,
    /// No runtime could be asked; the reason says why.
    Unavailable(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodInfo {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub uid: String,
    pub qos: Option<Qos>,
    /// Who vouched that this container belongs to this pod: "runtime" (its CRI labels) or
    /// "api" (the pod's container statuses on this node). None: only the cgroup path says so,
    /// and any process that can make a cgroup can make one that looks like a pod's.
    pub confirmed_by: Option<ConfirmedBy>,
}

/// Who vouched for a container's pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfirmedBy {
    /// The container's CRI labels name the pod.
    Runtime,
    /// The API server lists the container in the pod's statuses on this node.
    Api,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerInfo {
    /// The full 64-hex container id.
    pub id: String,
    pub runtime: Option<Runtime>,
    pub name: Option<String>,
    pub image: Option<String>,
    /// The cgroup path the container was recognised from.
    pub cgroup: String,
    pub pod: Option<PodInfo>,
    /// containerd namespace of a plain (non-Kubernetes) containerd container.
    pub containerd_namespace: Option<String>,
    pub metadata: MetadataStatus,
}

impl ContainerInfo {
    /// What the cgroup path alone says; names are filled in by the runtime cache.
    pub fn from_path(r: ContainerRef, cgroup: &str) -> Self {
        ContainerInfo {
            id: r.id,
            runtime: r.runtime,
            name: None,
            image: None,
            cgroup: cgroup.to_owned(),
            pod: r.pod.map(|p| PodInfo {
                name: None,
                namespace: None,
                uid: p.uid,
                qos: Some(p.qos),
                confirmed_by: None,
            }),
            containerd_namespace: r.namespace,
            metadata: MetadataStatus::NotFound,
        }
    }

    /// "container nginx of pod default/web-7d9c", "container 3b87c0a1f2e4", ...
    pub fn describe(&self) -> String {
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| self.id.chars().take(12).collect());
        match &self.pod {
            Some(PodInfo {
                name: Some(pod),
                namespace: Some(ns),
                ..
            }) => format!("container {name} of pod {ns}/{pod}"),
            Some(p) => format!("container {name} of pod {}", p.uid),
            None => format!("container {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::path::parse;

    const ID: &str = "3b87c0a1f2e4d5c6b7a8998877665544332211ffeeddccbbaa00112233445566";

    #[test]
    fn from_a_kubepods_path() {
        let path = format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_0000_1111_2222_333344445555.slice/cri-containerd-{ID}.scope");
        let c = ContainerInfo::from_path(parse(&path).unwrap(), &path);
        assert_eq!(c.id, ID);
        assert_eq!(c.runtime, Some(Runtime::Containerd));
        assert_eq!(
            c.pod.as_ref().unwrap().uid,
            "0a1b2c3d-0000-1111-2222-333344445555"
        );
        assert_eq!(c.metadata, MetadataStatus::NotFound);
        assert_eq!(
            c.describe(),
            "container 3b87c0a1f2e4 of pod 0a1b2c3d-0000-1111-2222-333344445555"
        );
    }

    #[test]
    fn named_and_podded() {
        let path = format!("/default/{ID}");
        let mut c = ContainerInfo::from_path(parse(&path).unwrap(), &path);
        c.name = Some("nginx".into());
        assert_eq!(c.describe(), "container nginx");
        c.pod = Some(PodInfo {
            name: Some("web-7d9c".into()),
            namespace: Some("default".into()),
            uid: "u".into(),
            qos: None,
            confirmed_by: None,
        });
        assert_eq!(c.describe(), "container nginx of pod default/web-7d9c");
    }
}
