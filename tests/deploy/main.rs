//! Deployment tests: deploy/kubernetes against the Kubernetes schemas, and the image of
//! `cargo xtask image` run under containerd with exactly the DaemonSet's privileges and mounts.
//!
//! Needs root, containerd and runc (started if not running), kubernetes-validate and promtool
//! (`cargo xtask setup`) and the image archive (`cargo xtask image`). `cargo xtask test` runs them all:
//! `cargo test --release -p exitwatch-tests --test deploy -- --test-threads=1`.

mod containerd;
mod debug;
mod image;
mod manifests;
mod pod;
mod prometheus;
mod running;
