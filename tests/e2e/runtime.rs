//! Real container runtimes for the container tests: containerd (plain, and through its CRI plugin
//! as the kubelet drives it) and Docker, the tests' own (`exitwatch_tests::daemons`: their own
//! config, sockets and state, never the machine's), started when they are not running, with busybox images
//! built here from the busybox-static binary (no registry is used), and guards that remove each
//! test's containers and pods even when the test fails.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

mod daemons;
mod guards;
mod images;

pub use exitwatch_tests::process::{exec, poll, random_hex};
pub use guards::{CtrContainer, DockerContainer, Pod, PodmanContainer};

pub use exitwatch_tests::daemons::CONTAINERD_SOCK;
/// The image the CRI tests' containers run.
pub const CRI_IMAGE: &str = "localhost/bbox:1";
pub const DOCKER_IMAGE: &str = "bbox:local";
/// podman names an imported image under `localhost/`.
pub const PODMAN_IMAGE: &str = "localhost/bbox:podman";
/// The namespace kubelet's containers live in, in containerd.
pub const K8S_NS: &str = "k8s.io";
/// The namespace `ctr` uses when none is given.
pub const CTR_NS: &str = "default";

/// How long one runtime command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// `exec` for the tests' own steps: any failure fails the test.
pub fn must(cmd: &mut Command) -> String {
    exec(cmd, COMMAND_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
}

fn ctr(ns: &str) -> Command {
    exitwatch_tests::daemons::ctr(ns)
}

fn docker_cmd() -> Command {
    exitwatch_tests::daemons::docker()
}

fn podman_cmd() -> Command {
    exitwatch_tests::daemons::podman()
}

fn cri_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cri"));
    c.env("CRI_SOCKET", CONTAINERD_SOCK);
    c
}

/// A fresh container id as nerdctl and docker make them: 64 hex digits, the only ids exitwatch
/// can recognise in a cgroup path.
pub fn new_id() -> String {
    random_hex(32)
}

/// Where this machine's tests keep their rootfs, image archives and daemon logs.
fn work_dir() -> PathBuf {
    std::env::temp_dir().join("exitwatch-e2e-containers")
}
