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

    /// The usual sockets, with the paths the node's operator named (`--runtime-socket`) instead of
    /// the usual places for those runtimes.
    pub fn with_overrides(overrides: &[SocketOverride]) -> Vec<SocketSpec> {
        let mut specs = SocketSpec::defaults();
        for spec in &mut specs {
            let given: Vec<PathBuf> = overrides
                .iter()
                .filter(|o| o.runtime == spec.runtime)
                .map(|o| o.path.clone())
                .collect();
            if !given.is_empty() {
                spec.paths = given;
            }
        }
        specs
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

/// `--runtime-socket KIND=PATH`: where one runtime's socket is on this node (k3s, microk8s, a
/// second containerd), in place of the usual places for that runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketOverride {
    pub runtime: Runtime,
    pub path: PathBuf,
}

/// Why a `--runtime-socket` value was refused; says what to give instead.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "--runtime-socket {given:?}: {why}; give RUNTIME=PATH with RUNTIME one of containerd, cri-o, \
     docker, podman and an absolute PATH, e.g. --runtime-socket containerd=/run/k3s/containerd/containerd.sock"
)]
pub struct SocketOverrideError {
    given: String,
    why: &'static str,
}

impl std::str::FromStr for SocketOverride {
    type Err = SocketOverrideError;

    fn from_str(given: &str) -> Result<Self, Self::Err> {
        let refuse = |why| SocketOverrideError {
            given: given.to_owned(),
            why,
        };
        let (kind, path) = given.split_once('=').ok_or_else(|| refuse("no `=`"))?;
        let runtime = match kind.trim() {
            "containerd" => Runtime::Containerd,
            "cri-o" | "crio" => Runtime::CriO,
            "docker" => Runtime::Docker,
            "podman" => Runtime::Podman,
            _ => return Err(refuse("unknown runtime")),
        };
        let path = PathBuf::from(path.trim());
        if !path.is_absolute() {
            return Err(refuse("the path is not absolute"));
        }
        Ok(SocketOverride { runtime, path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_replaces_only_its_runtimes_paths() {
        let given: SocketOverride = "containerd=/run/k3s/containerd/containerd.sock"
            .parse()
            .unwrap();
        let specs = SocketSpec::with_overrides(std::slice::from_ref(&given));
        let defaults = SocketSpec::defaults();
        assert_eq!(specs.len(), defaults.len());
        for (spec, default) in specs.iter().zip(&defaults) {
            if spec.runtime == Runtime::Containerd {
                // Both of containerd's APIs (CRI and its own) are served on that one socket.
                assert_eq!(spec.paths, vec![given.path.clone()], "{spec:?}");
            } else {
                assert_eq!(spec, default);
            }
        }
    }

    #[test]
    fn bad_overrides_say_what_to_give() {
        for bad in [
            "containerd",
            "rkt=/run/rkt.sock",
            "docker=run/docker.sock",
            "docker=",
        ] {
            let err = bad.parse::<SocketOverride>().unwrap_err().to_string();
            assert!(err.contains("RUNTIME=PATH"), "{bad}: {err}");
        }
        let podman: SocketOverride = "podman=/run/user/1000/podman/podman.sock".parse().unwrap();
        assert_eq!(podman.runtime, Runtime::Podman);
    }
}
