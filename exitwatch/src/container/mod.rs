//! Containers and pods: who a cgroup belongs to.

pub mod path;
