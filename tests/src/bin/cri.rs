//! Test helper: the kubelet's side of the CRI for the end-to-end tests. Runs host-network pod
//! sandboxes and their containers through a CRI runtime (containerd's CRI plugin), with the metadata
//! and labels the kubelet sets, and tears them down.
//!
//! The messages are exitwatch's own (the `exitwatch-cri` crate, pinned to upstream's field numbers),
//! so a wrong one cannot pass here by being copied.

use std::collections::BTreeMap;
use std::path::PathBuf;

use exitwatch_cri::{
    call, ContainerConfig, ContainerMetadata, CreateContainerRequest, CreateContainerResponse,
    Empty, ImageSpec, LinuxContainerConfig, LinuxContainerResources, LinuxContainerSecurityContext,
    LinuxPodSandboxConfig, LinuxSandboxSecurityContext, NamespaceMode, NamespaceOption,
    PodSandboxConfig, PodSandboxMetadata, RemovePodSandboxRequest, RunPodSandboxRequest,
    RunPodSandboxResponse, StartContainerRequest, StatusRequest, StatusResponse,
    StopContainerRequest, StopPodSandboxRequest,
};
use http::uri::PathAndQuery;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::client::Grpc;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::Request;
use tonic_prost::ProstCodec;
use tower::service_fn;

const USAGE: &str = "\
usage: cri pod NAME NAMESPACE UID
           run a host-network pod sandbox under /kubepods/besteffort/pod<UID>; print `sandbox=ID`
       cri container SANDBOX NAME NAMESPACE UID CONTAINER IMAGE COMMAND...
           create and start CONTAINER (kubelet's labels) in the pod's sandbox; print `container=ID`
       cri stop-container ID TIMEOUT_SECONDS
       cri remove-pod SANDBOX
           stop and remove the sandbox and its containers
       cri status
           print `restrict_oom_score_adj=true|false` from the runtime's configuration
The socket is $CRI_SOCKET, by default /run/containerd/containerd.sock.";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(&args)) {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
        }
        Err(Error::Usage(why)) => {
            eprintln!("cri: {why}\n{USAGE}");
            std::process::exit(64);
        }
        Err(Error::Call(why)) => {
            eprintln!("cri: {why}");
            std::process::exit(1);
        }
    }
}

enum Error {
    Usage(String),
    Call(String),
}

async fn run(args: &[String]) -> Result<String, Error> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cri = Cri::connect().await?;
    match a.as_slice() {
        ["pod", name, namespace, uid] => {
            let config = sandbox_config(&Pod {
                name,
                namespace,
                uid,
            });
            let resp: RunPodSandboxResponse = cri
                .call(
                    call::RUN_POD_SANDBOX,
                    RunPodSandboxRequest {
                        config: Some(config),
                    },
                )
                .await?;
            Ok(format!("sandbox={}", resp.pod_sandbox_id))
        }
        ["container", sandbox, name, namespace, uid, container, image, command @ ..]
            if !command.is_empty() =>
        {
            let pod = Pod {
                name,
                namespace,
                uid,
            };
            let req = CreateContainerRequest {
                pod_sandbox_id: sandbox.to_string(),
                config: Some(container_config(&pod, container, image, command)),
                sandbox_config: Some(sandbox_config(&pod)),
            };
            let resp: CreateContainerResponse = cri.call(call::CREATE_CONTAINER, req).await?;
            let id = resp.container_id;
            let _: Empty = cri
                .call(
                    call::START_CONTAINER,
                    StartContainerRequest {
                        container_id: id.clone(),
                    },
                )
                .await?;
            Ok(format!("container={id}"))
        }
        ["stop-container", id, timeout] => {
            let timeout = timeout
                .parse()
                .map_err(|_| Error::Usage(format!("bad timeout {timeout:?}")))?;
            let req = StopContainerRequest {
                container_id: id.to_string(),
                timeout,
            };
            let _: Empty = cri.call(call::STOP_CONTAINER, req).await?;
            Ok(String::new())
        }
        ["remove-pod", sandbox] => {
            let id = sandbox.to_string();
            let _: Empty = cri
                .call(
                    call::STOP_POD_SANDBOX,
                    StopPodSandboxRequest {
                        pod_sandbox_id: id.clone(),
                    },
                )
                .await?;
            let _: Empty = cri
                .call(
                    call::REMOVE_POD_SANDBOX,
                    RemovePodSandboxRequest { pod_sandbox_id: id },
                )
                .await?;
            Ok(String::new())
        }
        ["status"] => {
            let resp: StatusResponse = cri
                .call(call::STATUS, StatusRequest { verbose: true })
                .await?;
            let config = resp.info.get("config").map_or("", String::as_str);
            let restrict = config.contains("\"restrictOOMScoreAdj\":true");
            Ok(format!("restrict_oom_score_adj={restrict}"))
        }
        _ => Err(Error::Usage(format!("unknown command {a:?}"))),
    }
}

struct Cri {
    socket: PathBuf,
    channel: Channel,
}

impl Cri {
    async fn connect() -> Result<Cri, Error> {
        let socket = PathBuf::from(
            std::env::var_os("CRI_SOCKET")
                .unwrap_or_else(|| "/run/containerd/containerd.sock".into()),
        );
        let path = socket.clone();
        // The URI is required but unused: the connector always dials the socket.
        let connector = service_fn(move |_: Uri| {
            let path = path.clone();
            async move { UnixStream::connect(path).await.map(TokioIo::new) }
        });
        let channel = Endpoint::from_static("http://localhost")
            .connect_with_connector(connector)
            .await
            .map_err(|e| Error::Call(format!("cannot connect to {}: {e}", socket.display())))?;
        Ok(Cri { socket, channel })
    }

    /// One unary call of `path` (`exitwatch_cri::call`).
    async fn call<Req, Resp>(&mut self, path: &'static str, req: Req) -> Result<Resp, Error>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        // Messages name the method alone: `RunPodSandbox on /run/containerd/containerd.sock: ...`.
        let method = path.rsplit('/').next().unwrap_or(path);
        let path = PathAndQuery::from_static(path);
        let mut grpc = Grpc::new(self.channel.clone());
        let failed = |e: &dyn std::fmt::Display| {
            Error::Call(format!("{method} on {}: {e}", self.socket.display()))
        };
        grpc.ready().await.map_err(|e| failed(&e))?;
        grpc.unary(Request::new(req), path, ProstCodec::<Req, Resp>::default())
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| failed(&status))
    }
}

struct Pod<'a> {
    name: &'a str,
    namespace: &'a str,
    uid: &'a str,
}

/// What kubelet labels every sandbox and container of a pod with.
fn pod_labels(pod: &Pod<'_>) -> BTreeMap<String, String> {
    [
        ("io.kubernetes.pod.name", pod.name),
        ("io.kubernetes.pod.namespace", pod.namespace),
        ("io.kubernetes.pod.uid", pod.uid),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// hostNetwork: true; each container its own pid namespace (kubelet's default).
fn host_network() -> NamespaceOption {
    NamespaceOption {
        network: NamespaceMode::Node as i32,
        pid: NamespaceMode::Container as i32,
        ipc: NamespaceMode::Pod as i32,
    }
}

/// A best-effort pod as kubelet's cgroupfs driver places it: `/kubepods/besteffort/pod<uid>`.
fn sandbox_config(pod: &Pod<'_>) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: pod.name.to_owned(),
            uid: pod.uid.to_owned(),
            namespace: pod.namespace.to_owned(),
            attempt: 0,
        }),
        // The kubelet leaves it empty for host-network pods: they keep the node's UTS namespace.
        hostname: String::new(),
        labels: pod_labels(pod),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: format!("/kubepods/besteffort/pod{}", pod.uid),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(host_network()),
            }),
        }),
    }
}

fn container_config(pod: &Pod<'_>, name: &str, image: &str, command: &[&str]) -> ContainerConfig {
    let mut labels = pod_labels(pod);
    labels.insert("io.kubernetes.container.name".into(), name.to_owned());
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.to_owned(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: image.to_owned(),
            user_specified_image: String::new(),
        }),
        command: command.iter().map(|s| s.to_string()).collect(),
        labels,
        linux: Some(LinuxContainerConfig {
            // What the kubelet gives a best-effort pod's containers.
            resources: Some(LinuxContainerResources {
                oom_score_adj: 1000,
            }),
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: Some(host_network()),
            }),
        }),
    }
}
