//! What the runtime clients share: the `Source` trait the cache polls, its errors, socket helpers.

use std::{
    future::Future,
    io,
    path::{Path, PathBuf},
    pin::Pin,
    time::Duration,
};

use thiserror::Error;

use super::meta::Metadata;

/// What one listing call returns; boxed so sources of different kinds sit in one list.
pub type Listing<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Metadata>, SourceError>> + Send + 'a>>;

/// One runtime API that lists containers.
pub trait Source: Send + 'static {
    /// What it is and where, for messages: `containerd (CRI) at /run/containerd/containerd.sock`.
    fn describe(&self) -> String;
    /// Every container the runtime knows, with full ids only. The caller bounds it with a timeout.
    fn list(&mut self) -> Listing<'_>;
}

#[derive(Debug, Error)]
pub enum SourceError {
    /// No socket, or one nobody listens on: the runtime is not running (yet).
    #[error("no socket at {}", list_paths(.looked_for))]
    Absent { looked_for: Vec<PathBuf> },
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("no answer within {}", humanize(*.0))]
    Timeout(Duration),
    #[error("gRPC {call} failed: {status}")]
    Grpc {
        call: &'static str,
        status: Box<tonic::Status>,
    },
    #[error("cannot connect: {0}")]
    Connect(#[from] tonic::transport::Error),
    #[error("{call} answered HTTP {status}")]
    Http { call: &'static str, status: u16 },
    #[error("{call}: malformed answer: {why}")]
    Malformed { call: &'static str, why: String },
}

/// The first of `paths` that exists, or `Absent` naming them all.
pub fn find_socket(paths: &[PathBuf]) -> Result<&Path, SourceError> {
    paths
        .iter()
        .find(|p| p.exists())
        .map(PathBuf::as_path)
        .ok_or_else(|| SourceError::Absent {
            looked_for: paths.to_vec(),
        })
}

/// Whether connecting failed because nothing listens there (a socket file a stopped runtime left).
pub fn nobody_listens(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return matches!(
                io.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
            );
        }
        cause = e.source();
    }
    false
}

/// `a, b, c`: the paths looked at, for messages.
pub fn list_paths(paths: &[PathBuf]) -> String {
    let shown: Vec<_> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

/// `1s`, `250ms`.
fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}
