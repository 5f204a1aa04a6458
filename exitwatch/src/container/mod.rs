//! Containers and pods: who a cgroup belongs to.

pub mod cache;
pub mod containerd;
pub mod cri;
pub mod docker;
mod grpc;
pub mod identity;
pub mod meta;
pub mod path;
pub mod runtimes;
pub mod source;
pub mod watch;
