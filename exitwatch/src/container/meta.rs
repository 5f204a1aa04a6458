//! Pure: what container runtimes say about a container, and the user's queries over it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::path::{id_matches, Runtime};

/// Labels kubelet puts on every container and sandbox it asks a CRI runtime for (cri-dockerd copies
/// them onto docker containers too), so a listing without sandboxes still names the pod.
pub const POD_NAME: &str = "io.kubernetes.pod.name";
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const POD_UID: &str = "io.kubernetes.pod.uid";
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// nerdctl's name for the containers it creates in plain containerd.
pub const NERDCTL_NAME: &str = "nerdctl/name";
/// containerd's CRI plugin marks its pod sandboxes (`sandbox`) and containers (`container`).
pub const CRI_CONTAINERD_KIND: &str = "io.cri-containerd.kind";

/// The Kubernetes pod a container belongs to, as its runtime knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodMeta {
    pub name: String,
    pub namespace: String,
    pub uid: String,
}

/// One container as its runtime describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Metadata {
    /// The full id: 64 lowercase hex, the same id the container's cgroup is named after.
    pub id: String,
    pub runtime: Runtime,
    /// The CRI container name, docker's name without its leading `/`, or a naming label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The image reference, by name when any runtime gave one, else by digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodMeta>,
    /// A pod's sandbox (its pause container): killing it takes the whole pod down.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sandbox: bool,
    /// No runtime lists it any more: it was removed, most likely just after it died.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Metadata {
    /// A container with nothing known beyond its id and runtime.
    pub fn new(id: impl Into<String>, runtime: Runtime) -> Self {
        Metadata {
            id: id.into(),
            runtime,
            name: None,
            image: None,
            pod: None,
            sandbox: false,
            removed: false,
            labels: BTreeMap::new(),
        }
    }

    /// Fills what this record lacks from `other`, a less authoritative record of the same container.
    /// An image named by digest only (`sha256:...`, what containerd's CRI lists) gives way to a name.
    pub fn merge(&mut self, other: Metadata) {
        if self.name.is_none() {
            self.name = other.name;
        }
        match (&self.image, &other.image) {
            (None, _) => self.image = other.image,
            (Some(mine), Some(theirs)) if is_digest(mine) && !is_digest(theirs) => {
                self.image = other.image
            }
            _ => {}
        }
        if self.pod.is_none() {
            self.pod = other.pod;
        }
        self.sandbox |= other.sandbox;
        if self.labels.is_empty() {
            self.labels = other.labels;
        }
    }

    /// Whether this container is one the user asked for.
    pub fn matches(&self, query: &Query<'_>) -> bool {
        match *query {
            Query::Container(q) => id_matches(&self.id, q) || self.name.as_deref() == Some(q),
            Query::Pod(q) => self
                .pod
                .as_ref()
                .is_some_and(|pod| match q.split_once('/') {
                    Some((namespace, name)) => pod.namespace == namespace && pod.name == name,
                    None => pod.name == q,
                }),
            Query::Namespace(q) => self.pod.as_ref().is_some_and(|pod| pod.namespace == q),
        }
    }
}

/// What a filter asks the cache for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query<'a> {
    /// `--container`: an id prefix (as `path::id_matches` reads it) or an exact container name.
    Container(&'a str),
    /// `--pod`: `name` in any namespace, or `namespace/name`.
    Pod(&'a str),
    /// `--namespace`: a Kubernetes namespace.
    Namespace(&'a str),
}

/// The pod named by kubelet's labels, when all three are there.
pub fn pod_from_labels(labels: &BTreeMap<String, String>) -> Option<PodMeta> {
    let get = |key| labels.get(key).filter(|v| !v.is_empty()).cloned();
    Some(PodMeta {
        name: get(POD_NAME)?,
        namespace: get(POD_NAMESPACE)?,
        uid: get(POD_UID)?,
    })
}

/// The container name a label gives: kubelet's, then nerdctl's.
pub fn name_from_labels(labels: &BTreeMap<String, String>) -> Option<String> {
    [CONTAINER_NAME, NERDCTL_NAME]
        .iter()
        .find_map(|key| labels.get(*key).filter(|v| !v.is_empty()).cloned())
}

/// Exactly 64 lowercase hex digits: the only ids a cgroup path can name (see `path::parse`). Runtimes
/// accept others (`ctr run ... test1`), but such a container can never be looked up by its cgroup.
pub fn is_full_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `sha256:<hex>` or a bare 64-hex image id: an image named by content, not by name.
fn is_digest(image: &str) -> bool {
    image.starts_with("sha256:") || is_full_id(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f1e9b7c2a5d4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7";

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn in_pod(name: &str, namespace: &str) -> Metadata {
        Metadata {
            name: Some("app".into()),
            pod: Some(PodMeta {
                name: name.into(),
                namespace: namespace.into(),
                uid: "u".into(),
            }),
            ..Metadata::new(ID, Runtime::Containerd)
        }
    }

    #[test]
    fn container_query_takes_an_id_prefix_or_the_exact_name() {
        let meta = in_pod("web-0", "shop");
        assert!(meta.matches(&Query::Container("3f1e9b")));
        assert!(meta.matches(&Query::Container("containerd://3F1E")));
        assert!(meta.matches(&Query::Container("app")));
        assert!(!meta.matches(&Query::Container("ap")));
        assert!(!meta.matches(&Query::Container("9b")));
    }

    #[test]
    fn pod_query_with_or_without_namespace() {
        let meta = in_pod("web-0", "shop");
        assert!(meta.matches(&Query::Pod("web-0")));
        assert!(meta.matches(&Query::Pod("shop/web-0")));
        assert!(!meta.matches(&Query::Pod("default/web-0")));
        assert!(!meta.matches(&Query::Pod("web")));
        assert!(!Metadata::new(ID, Runtime::Docker).matches(&Query::Pod("web-0")));
    }

    #[test]
    fn namespace_query_is_the_kubernetes_namespace() {
        assert!(in_pod("web-0", "shop").matches(&Query::Namespace("shop")));
        assert!(!in_pod("web-0", "shop").matches(&Query::Namespace("default")));
    }

    #[test]
    fn pod_and_name_come_from_kubelet_labels() {
        let l = labels(&[
            (POD_NAME, "web-0"),
            (POD_NAMESPACE, "shop"),
            (POD_UID, "0a1b"),
            (CONTAINER_NAME, "nginx"),
            (NERDCTL_NAME, "other"),
        ]);
        let pod = pod_from_labels(&l).map(|p| (p.name, p.namespace, p.uid));
        assert_eq!(pod, Some(("web-0".into(), "shop".into(), "0a1b".into())));
        assert_eq!(name_from_labels(&l).as_deref(), Some("nginx"));
        assert_eq!(pod_from_labels(&labels(&[(POD_NAME, "x")])), None);
        assert_eq!(
            name_from_labels(&labels(&[(NERDCTL_NAME, "db")])).as_deref(),
            Some("db")
        );
    }

    #[test]
    fn merge_keeps_the_first_answer_but_prefers_an_image_name_to_a_digest() {
        let mut cri = in_pod("web-0", "shop");
        cri.image = Some("sha256:0123".into());
        let mut native = Metadata::new(ID, Runtime::Containerd);
        native.name = Some("other".into());
        native.image = Some("docker.io/library/nginx:1.27".into());
        native.labels = labels(&[("a", "b")]);
        cri.merge(native);
        assert_eq!(cri.name.as_deref(), Some("app"));
        assert_eq!(cri.image.as_deref(), Some("docker.io/library/nginx:1.27"));
        assert_eq!(cri.labels, labels(&[("a", "b")]));

        let mut named = Metadata {
            image: Some("busybox:1".into()),
            ..Metadata::new(ID, Runtime::Docker)
        };
        named.merge(Metadata {
            image: Some("sha256:9".into()),
            ..Metadata::new(ID, Runtime::Docker)
        });
        assert_eq!(named.image.as_deref(), Some("busybox:1"));
        let mut none = Metadata::new(ID, Runtime::Docker);
        none.merge(Metadata {
            image: Some("sha256:9".into()),
            ..Metadata::new(ID, Runtime::Docker)
        });
        assert_eq!(none.image.as_deref(), Some("sha256:9"));
    }
}
