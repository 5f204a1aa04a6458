//! What kind of actor sent a signal: a container runtime, the kubelet, systemd, the kernel,
//! an interactive user... recognised from names and ancestry (pure).

use serde::Serialize;

use crate::event::{Actor, Sender};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// runc, crun, conmon, containerd-shim, containerd, dockerd, cri-o, podman.
    ContainerRuntime,
    Kubelet,
    Systemd,
    /// The kernel itself (faults, timers, the OOM killer...).
    Kernel,
    /// Someone logged in: sshd/login in the ancestry, or an audit login uid.
    InteractiveUser,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ContainerRuntime => "container_runtime",
            Role::Kubelet => "kubelet",
            Role::Systemd => "systemd",
            Role::Kernel => "kernel",
            Role::InteractiveUser => "interactive_user",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Role::ContainerRuntime => "the container runtime",
            Role::Kubelet => "the kubelet",
            Role::Systemd => "systemd",
            Role::Kernel => "the kernel",
            Role::InteractiveUser => "an interactive user",
        }
    }
}

fn is_runtime(comm: &[u8]) -> bool {
    const RUNTIMES: [&[u8]; 9] = [
        b"runc",
        b"crun",
        b"conmon",
        b"containerd",
        b"dockerd",
        b"crio",
        b"podman",
        b"runc:[2:INIT]",
        b"youki",
    ];
    RUNTIMES.contains(&comm) || comm.starts_with(b"containerd-shim") || comm.starts_with(b"runc:")
}

/// The sender's role, when it is one of the usual ones.
pub fn of(sender: &Sender) -> Option<Role> {
    match sender {
        Sender::Kernel { .. } => Some(Role::Kernel),
        Sender::Process(a) => of_actor(a),
    }
}

/// A process sender's role, when it is one of the usual ones.
pub fn of_actor(a: &Actor) -> Option<Role> {
    let comm = a.proc.comm.as_slice();
    // Names are only believed of processes outside containers: anyone can name a process
    // `kubelet` inside one, and a container's process is not the node's kubelet or runtime.
    let on_host = a.place.container.is_none();
    if on_host && is_runtime(comm) {
        return Some(Role::ContainerRuntime);
    }
    if on_host && comm == b"kubelet" {
        return Some(Role::Kubelet);
    }
    if on_host && (comm == b"systemd" || (a.proc.pid == 1 && comm.starts_with(b"systemd"))) {
        return Some(Role::Systemd);
    }
    let logged_in = a
        .ancestry
        .iter()
        .any(|x| matches!(x.comm.as_slice(), b"sshd" | b"login" | b"sshd-session"));
    if logged_in || a.loginuid.is_some() {
        return Some(Role::InteractiveUser);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Ancestor;
    use crate::render::fixtures;

    fn sender(comm: &str, ancestors: &[&str], loginuid: Option<u32>) -> Sender {
        let Sender::Process(mut a) = fixtures::pkill_kills_server().sender else {
            unreachable!()
        };
        a.proc.comm = comm.as_bytes().to_vec();
        a.ancestry = ancestors
            .iter()
            .enumerate()
            .map(|(i, c)| Ancestor {
                pid: i as u32,
                comm: c.as_bytes().to_vec(),
                start_ns: 0,
            })
            .collect::<Vec<_>>()
            .into();
        a.loginuid = loginuid;
        Sender::Process(a)
    }

    #[test]
    fn runtimes_kubelet_systemd() {
        for comm in [
            "runc",
            "crun",
            "conmon",
            "containerd-shim-runc-v2",
            "dockerd",
            "containerd",
        ] {
            assert_eq!(
                of(&sender(comm, &[], None)),
                Some(Role::ContainerRuntime),
                "{comm}"
            );
        }
        assert_eq!(of(&sender("kubelet", &[], None)), Some(Role::Kubelet));
        assert_eq!(of(&sender("systemd", &[], None)), Some(Role::Systemd));
    }

    #[test]
    fn a_process_in_a_container_is_not_the_kubelet_whatever_its_name() {
        for comm in ["kubelet", "runc", "containerd-shim-runc-v2", "systemd"] {
            let Sender::Process(mut a) = sender(comm, &[], None) else {
                unreachable!()
            };
            a.place = fixtures::in_pod('c', "evil", "evil:latest");
            assert_eq!(of(&Sender::Process(a)), None, "{comm} in a container");
        }
    }

    #[test]
    fn interactive_users_by_ancestry_or_login_uid() {
        assert_eq!(
            of(&sender("kill", &["systemd", "sshd", "bash"], None)),
            Some(Role::InteractiveUser)
        );
        assert_eq!(
            of(&sender("kill", &["systemd", "cron"], Some(1000))),
            Some(Role::InteractiveUser)
        );
        assert_eq!(of(&sender("kill", &["systemd", "cron", "sh"], None)), None);
    }

    #[test]
    fn the_kernel_is_the_kernel() {
        let Sender::Process(a) = fixtures::pkill_kills_server().sender else {
            unreachable!()
        };
        let k = Sender::Kernel {
            reason: crate::signals::KernelReason::Fault,
            context: a,
        };
        assert_eq!(of(&k), Some(Role::Kernel));
    }
}
