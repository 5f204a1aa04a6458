//! Containers and pods: who a cgroup belongs to.

pub mod identity;
pub mod path;
