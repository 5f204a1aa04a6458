//! Which runtime sockets exitwatch probes, and the client that speaks each one's API.

use std::path::PathBuf;

use super::{
    containerd::ContainerdSource, cri::CriSource, docker::DockerSource, path::Runtime,
    source::Source,
};

/// Which protocol a socket speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// Kubernetes' Container Runtime Interface (containerd's CRI plugin, CRI-O).
    Cri,
    /// containerd's own API: containers of every namespace, `ctr` and nerdctl ones included.
    Containerd,
    /// Docker's HTTP API (podman serves the same one).
    Docker,
}

/// A runtime API and the places its socket may be, first existing one wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketSpec {
    pub api: Api,
    pub runtime: Runtime,
    pub paths: Vec<PathBuf>,
}

impl SocketSpec {
    fn new(api: Api, runtime: Runtime, paths: &[&str]) -> Self {
        let paths = paths.iter().map(PathBuf::from).collect();
        SocketSpec {
            api,
            runtime,
            paths,
        }
    }

    /// The usual sockets, most informative first: CRI knows pods, docker knows names, and containerd's
    /// own API sees what the others do not (`ctr`, nerdctl, buildkit).
    pub fn defaults() -> Vec<SocketSpec> {
        const CONTAINERD: &[&str] = &[
            "/run/containerd/containerd.sock",
            "/var/run/containerd/containerd.sock",
            "/run/k3s/containerd/containerd.sock",
        ];
        vec![
            SocketSpec::new(Api::Cri, Runtime::Containerd, CONTAINERD),
            SocketSpec::new(
                Api::Cri,
                Runtime::CriO,
                &["/run/crio/crio.sock", "/var/run/crio/crio.sock"],
            ),
            SocketSpec::new(
                Api::Docker,
                Runtime::Docker,
                &["/run/docker.sock", "/var/run/docker.sock"],
            ),
            SocketSpec::new(Api::Docker, Runtime::Podman, &["/run/podman/podman.sock"]),
            SocketSpec::new(Api::Containerd, Runtime::Containerd, CONTAINERD),
        ]
    }

    /// The client for this socket.
    pub fn source(&self) -> Box<dyn Source> {
        let (runtime, paths) = (self.runtime, self.paths.clone());
        match self.api {
            Api::Cri => Box::new(CriSource::new(runtime, paths)),
            Api::Containerd => Box::new(ContainerdSource::new(paths)),
            Api::Docker => Box::new(DockerSource::new(runtime, paths)),
        }
    }
}
