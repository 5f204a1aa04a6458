//! The Kubernetes CRI client (containerd's CRI plugin, CRI-O): containers and pod sandboxes.
//!
//! The messages are exitwatch-cri's, shared with the tests' kubelet and pinned to upstream's
//! field numbers there.

use std::{collections::HashMap, path::PathBuf};

use exitwatch_cri::{
    call::{LIST_CONTAINERS, LIST_POD_SANDBOX},
    Container, ListContainersRequest, ListContainersResponse, ListPodSandboxRequest,
    ListPodSandboxResponse, PodSandbox,
};
use tonic::Request;

use super::{
    grpc::UnixGrpc,
    meta::{is_full_id, name_from_labels, pod_from_labels, Metadata, PodMeta},
    path::Runtime,
    source::{Listing, Source, SourceError},
};

/// Lists a CRI runtime's containers and sandboxes; `runtime` is who serves the socket.
pub struct CriSource {
    runtime: Runtime,
    grpc: UnixGrpc,
}

impl CriSource {
    pub fn new(runtime: Runtime, paths: Vec<PathBuf>) -> Self {
        CriSource {
            runtime,
            grpc: UnixGrpc::new(paths),
        }
    }

    async fn list_all(&mut self) -> Result<Vec<Metadata>, SourceError> {
        let sandboxes: ListPodSandboxResponse = self
            .grpc
            .call(LIST_POD_SANDBOX, Request::new(ListPodSandboxRequest {}))
            .await?;
        let containers: ListContainersResponse = self
            .grpc
            .call(LIST_CONTAINERS, Request::new(ListContainersRequest {}))
            .await?;
        Ok(to_metadata(
            self.runtime,
            sandboxes.items,
            containers.containers,
        ))
    }
}

impl Source for CriSource {
    fn describe(&self) -> String {
        format!("{} (CRI) at {}", self.runtime, self.grpc.socket().display())
    }

    fn list(&mut self) -> Listing<'_> {
        Box::pin(self.list_all())
    }
}

/// Containers and their sandboxes as metadata: a container's pod is its sandbox's (kubelet's labels
/// when the sandbox is gone from the listing); sandboxes are listed too, for their pause process.
fn to_metadata(
    runtime: Runtime,
    sandboxes: Vec<PodSandbox>,
    containers: Vec<Container>,
) -> Vec<Metadata> {
    let mut pods = HashMap::new();
    let mut out = Vec::with_capacity(sandboxes.len() + containers.len());
    for sandbox in sandboxes {
        let pod = sandbox
            .metadata
            .filter(|m| !m.name.is_empty())
            .map(|m| PodMeta {
                name: m.name,
                namespace: m.namespace,
                uid: m.uid,
            })
            .or_else(|| pod_from_labels(&sandbox.labels));
        if let Some(pod) = &pod {
            pods.insert(sandbox.id.clone(), pod.clone());
        }
        if is_full_id(&sandbox.id) {
            out.push(Metadata {
                pod,
                sandbox: true,
                labels: sandbox.labels,
                ..Metadata::new(sandbox.id, runtime)
            });
        }
    }
    for c in containers.into_iter().filter(|c| is_full_id(&c.id)) {
        let name = c
            .metadata
            .map(|m| m.name)
            .filter(|n| !n.is_empty())
            .or_else(|| name_from_labels(&c.labels));
        let image = c
            .image
            .into_iter()
            .flat_map(|i| [i.user_specified_image, i.image])
            .chain([c.image_ref])
            .find(|i| !i.is_empty());
        let pod = pods
            .get(&c.pod_sandbox_id)
            .cloned()
            .or_else(|| pod_from_labels(&c.labels));
        out.push(Metadata {
            name,
            image,
            pod,
            labels: c.labels,
            ..Metadata::new(c.id, runtime)
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use exitwatch_cri::{ContainerMetadata, ImageSpec, PodSandboxMetadata};

    const SANDBOX: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const CTR: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn sandbox() -> PodSandbox {
        let metadata = PodSandboxMetadata {
            name: "web-0".into(),
            uid: "0a1b".into(),
            namespace: "shop".into(),
            attempt: 0,
        };
        PodSandbox {
            id: SANDBOX.into(),
            metadata: Some(metadata),
            labels: BTreeMap::new(),
        }
    }

    fn container(sandbox: &str) -> Container {
        Container {
            id: CTR.into(),
            pod_sandbox_id: sandbox.into(),
            metadata: Some(ContainerMetadata {
                name: "nginx".into(),
                attempt: 0,
            }),
            image: Some(ImageSpec {
                image: "sha256:0123".into(),
                user_specified_image: String::new(),
            }),
            image_ref: "sha256:0123".into(),
            labels: BTreeMap::from([(
                crate::container::meta::POD_NAME.to_string(),
                "from-label".to_string(),
            )]),
        }
    }

    #[test]
    fn a_container_takes_its_sandboxs_pod_and_both_are_listed() {
        let out = to_metadata(Runtime::CriO, vec![sandbox()], vec![container(SANDBOX)]);
        let pod = PodMeta {
            name: "web-0".into(),
            namespace: "shop".into(),
            uid: "0a1b".into(),
        };
        assert_eq!(out.len(), 2);
        assert!(out[0].sandbox && out[0].id == SANDBOX && out[0].pod.as_ref() == Some(&pod));
        assert_eq!(
            (out[1].name.as_deref(), out[1].pod.as_ref()),
            (Some("nginx"), Some(&pod))
        );
        assert_eq!(
            (out[1].runtime, out[1].image.as_deref()),
            (Runtime::CriO, Some("sha256:0123"))
        );
    }

    #[test]
    fn without_its_sandbox_a_container_has_no_pod_unless_all_labels_say() {
        let out = to_metadata(Runtime::Containerd, vec![], vec![container("gone")]);
        assert_eq!(out[0].pod, None);
    }
}
