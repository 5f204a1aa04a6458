//! containerd's own API: the containers of every containerd namespace, not only Kubernetes' ones.
//!
//! `ctr run`, nerdctl and buildkit containers are invisible to CRI. Like `cri.rs`, the few messages
//! read are written out here instead of generated from containerd's protos.

use std::{collections::BTreeMap, path::PathBuf};

use tonic::{metadata::MetadataValue, Request};

use super::{
    grpc::UnixGrpc,
    meta::{is_full_id, name_from_labels, pod_from_labels, Metadata, CRI_CONTAINERD_KIND},
    path::Runtime,
    source::{Listing, Source, SourceError},
};

const LIST_NAMESPACES: &str = "/containerd.services.namespaces.v1.Namespaces/List";
const LIST_CONTAINERS: &str = "/containerd.services.containers.v1.Containers/List";
/// The gRPC header that picks the namespace a containerd call works in.
const NAMESPACE_HEADER: &str = "containerd-namespace";
/// dockerd keeps its containers in this namespace.
const DOCKER_NAMESPACE: &str = "moby";

pub struct ContainerdSource {
    grpc: UnixGrpc,
}

impl ContainerdSource {
    pub fn new(paths: Vec<PathBuf>) -> Self {
        ContainerdSource {
            grpc: UnixGrpc::new(paths),
        }
    }

    async fn list_all(&mut self) -> Result<Vec<Metadata>, SourceError> {
        let namespaces: ListNamespacesResponse = self
            .grpc
            .call(
                LIST_NAMESPACES,
                Request::new(ListNamespacesRequest::default()),
            )
            .await?;
        let mut out = Vec::new();
        for namespace in namespaces.namespaces {
            let Ok(value) = MetadataValue::try_from(namespace.name.as_str()) else {
                continue; // containerd's namespace names are ASCII; skip anything that is not.
            };
            let mut request = Request::new(ListContainersRequest::default());
            request.metadata_mut().insert(NAMESPACE_HEADER, value);
            let listed: ListContainersResponse = self.grpc.call(LIST_CONTAINERS, request).await?;
            out.extend(to_metadata(&namespace.name, listed.containers));
        }
        Ok(out)
    }
}

impl Source for ContainerdSource {
    fn describe(&self) -> String {
        format!("containerd at {}", self.grpc.socket().display())
    }

    fn list(&mut self) -> Listing<'_> {
        Box::pin(self.list_all())
    }
}

/// One namespace's containers. The CRI plugin's (namespace `k8s.io`) carry kubelet's labels, so pods
/// are named even when CRI itself cannot be asked.
fn to_metadata(namespace: &str, containers: Vec<Container>) -> Vec<Metadata> {
    let runtime = if namespace == DOCKER_NAMESPACE {
        Runtime::Docker
    } else {
        Runtime::Containerd
    };
    containers
        .into_iter()
        .filter(|c| is_full_id(&c.id))
        .map(|c| Metadata {
            name: name_from_labels(&c.labels),
            image: Some(c.image).filter(|i| !i.is_empty()),
            pod: pod_from_labels(&c.labels),
            sandbox: c
                .labels
                .get(CRI_CONTAINERD_KIND)
                .is_some_and(|k| k == "sandbox"),
            labels: c.labels,
            ..Metadata::new(c.id, runtime)
        })
        .collect()
}

#[derive(Clone, PartialEq, prost::Message)]
struct ListNamespacesRequest {
    #[prost(string, tag = "1")]
    filter: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ListNamespacesResponse {
    #[prost(message, repeated, tag = "1")]
    namespaces: Vec<Namespace>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Namespace {
    #[prost(string, tag = "1")]
    name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ListContainersRequest {
    #[prost(string, repeated, tag = "1")]
    filters: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ListContainersResponse {
    #[prost(message, repeated, tag = "1")]
    containers: Vec<Container>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Container {
    #[prost(string, tag = "1")]
    id: String,
    #[prost(btree_map = "string, string", tag = "2")]
    labels: BTreeMap<String, String>,
    #[prost(string, tag = "3")]
    image: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::meta::{NERDCTL_NAME, POD_NAME, POD_NAMESPACE, POD_UID};

    const ID: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    fn container(id: &str, labels: &[(&str, &str)]) -> Container {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Container {
            id: id.into(),
            labels,
            image: "registry.k8s.io/pause:3.6".into(),
        }
    }

    #[test]
    fn sandboxes_of_the_cri_plugin_are_marked_and_named_by_labels() {
        let labels = [
            (POD_NAME, "web-0"),
            (POD_NAMESPACE, "shop"),
            (POD_UID, "u"),
            (CRI_CONTAINERD_KIND, "sandbox"),
        ];
        let out = to_metadata("k8s.io", vec![container(ID, &labels)]);
        assert!(out[0].sandbox);
        assert_eq!(out[0].pod.as_ref().map(|p| p.name.as_str()), Some("web-0"));
        assert_eq!(out[0].image.as_deref(), Some("registry.k8s.io/pause:3.6"));
        assert_eq!(out[0].name, None);
    }

    #[test]
    fn nerdctl_names_docker_namespace_and_short_ids() {
        let out = to_metadata(
            "default",
            vec![
                container(ID, &[(NERDCTL_NAME, "db")]),
                container("test1", &[]),
            ],
        );
        assert_eq!(out.len(), 1, "an id no cgroup path can name is left out");
        assert_eq!(
            (out[0].name.as_deref(), out[0].runtime),
            (Some("db"), Runtime::Containerd)
        );
        assert_eq!(
            to_metadata("moby", vec![container(ID, &[])])[0].runtime,
            Runtime::Docker
        );
    }
}
