//! Events shaped like the ones in the seed guide, for renderer tests.

use crate::container::identity::{ConfirmedBy, ContainerInfo, MetadataStatus, PodInfo};
use crate::container::path::{Qos, Runtime};
use crate::event::{
    Actor, Ancestor, Event, ExitEvent, Namespaces, OomEvent, OomMemory, Place, Proc, Sender,
    SignalEvent,
};
use crate::exitstatus::ExitStatus;
use crate::oom::{Constraint, MemcgUsage, OomContext};
use crate::signals::{Disposition, SignalResult};

const MIN: u64 = 60 * 1_000_000_000;

fn anc(pid: u32, comm: &str, start_ns: u64) -> Ancestor {
    Ancestor {
        pid,
        comm: comm.as_bytes().to_vec(),
        start_ns,
    }
}

/// `pkill -9 server` from an interactive bash under the seed's trojan `vGhyM0`.
pub fn pkill_kills_server() -> SignalEvent {
    SignalEvent {
        time_ns: 33475 * MIN + 5_300_000_000,
        signo: 9,
        code: 0,
        result: SignalResult::Delivered,
        group: true,
        disposition: Some(Disposition::Default),
        fault_addr: None,
        via: None,
        sender: Sender::Process(Actor {
            proc: Proc {
                pid: 23549,
                tid: 23549,
                ns_pid: Some(23549),
                comm: b"pkill".to_vec(),
                start_ns: 33475 * MIN + 5_202_486_630,
            },
            place: Default::default(),
            args: vec![b"pkill".to_vec(), b"-9".to_vec(), b"server".to_vec()].into(),
            args_truncated: false,
            uid: 0,
            gid: 0,
            euid: 0,
            loginuid: Some(1000),
            sessionid: Some(3),
            kernel_thread: false,
            exe: Some(b"/usr/bin/pkill".as_slice().into()),
            exe_deleted: false,
            ancestry: vec![
                anc(0, "swapper/0", 0),
                anc(1, "systemd", 80_000_000),
                anc(19400, "vGhyM0", 19491 * MIN + 2_579_563_677),
                anc(23495, "bash", 33475 * MIN + 4_817_798_337),
            ]
            .into(),
            ancestry_truncated: false,
            identity_lost: false,
        }),
        target: Proc {
            pid: 7942,
            tid: 7942,
            ns_pid: Some(1),
            comm: b"server".to_vec(),
            start_ns: 100 * MIN,
        },
        target_place: Default::default(),
    }
}

/// A pod container's python3 hitting its pod's 64 MiB limit with its own allocation.
pub fn memcg_oom() -> OomEvent {
    let victim = Proc {
        pid: 5937,
        tid: 5937,
        ns_pid: Some(1),
        comm: b"python3".to_vec(),
        start_ns: MIN,
    };
    OomEvent {
        time_ns: 2 * MIN,
        victim: victim.clone(),
        victim_uid: 0,
        oom_score_adj: 0,
        victim_args: vec![b"python3".to_vec(), b"leak.py".to_vec()],
        memory: Some(OomMemory {
            total_vm_pages: 20_000,
            anon_pages: (61 << 20) / 4096,
            file_pages: 100,
            shmem_pages: 0,
            pgtables_bytes: 200_000,
        }),
        trigger: victim,
        also_killed: vec![],
        context: Some(OomContext {
            constraint: Constraint::Memcg,
            oom_memcg: Some("/kubepods/burstable/pod1".into()),
            task_memcg: Some("/kubepods/burstable/pod1/c1".into()),
            pid: 5937,
            task: "python3".into(),
        }),
        victim_cgroup: None,
        victim_place: Default::default(),
        memcg_usage: Some(MemcgUsage {
            limit_bytes: Some(64 << 20),
            usage_bytes: Some(1 << 20),
            peak_bytes: Some(64 << 20),
        }),
        missing: vec![],
    }
}

/// A container of pod shop/web-7d9c, named by the runtime.
pub fn in_pod(id_digit: char, name: &str, image: &str) -> Place {
    let id: String = std::iter::repeat_n(id_digit, 64).collect();
    Place {
        cgroup: None,
        memcg: None,
        ns: Namespaces {
            pid: Some(4026532301),
            mnt: Some(4026532299),
            uts: Some(4026532298),
        },
        container: Some(Box::new(ContainerInfo {
            cgroup: format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_0000_1111_2222_333344445555.slice/cri-containerd-{id}.scope"),
            id,
            runtime: Some(Runtime::Containerd),
            name: Some(name.into()),
            image: Some(image.into()),
            pod: Some(PodInfo {
                name: Some("web-7d9c".into()),
                namespace: Some("shop".into()),
                uid: "0a1b2c3d-0000-1111-2222-333344445555".into(),
                qos: Some(Qos::Burstable),
                confirmed_by: Some(ConfirmedBy::Runtime),
            }),
            containerd_namespace: None,
            metadata: MetadataStatus::Complete,
        })),
    }
}

/// `kill 1` run in the pod's sidecar container, stopping nginx (its pid 1) in the nginx container.
pub fn kill_in_pod() -> SignalEvent {
    let mut ev = pkill_kills_server();
    ev.signo = 15;
    ev.code = 0;
    let Sender::Process(actor) = &mut ev.sender else {
        unreachable!()
    };
    actor.proc = Proc {
        pid: 5120,
        tid: 5120,
        ns_pid: Some(12),
        comm: b"kill".to_vec(),
        start_ns: 33475 * MIN,
    };
    actor.place = in_pod('a', "sidecar", "docker.io/library/busybox:1.36");
    actor.args = vec![b"kill".to_vec(), b"1".to_vec()].into();
    actor.exe = Some(b"/bin/busybox".as_slice().into());
    actor.loginuid = None;
    actor.sessionid = None;
    actor.ancestry = vec![
        anc(5000, "containerd-shim", 33000 * MIN),
        anc(5101, "sh", 33474 * MIN),
    ]
    .into();
    ev.target = Proc {
        pid: 4242,
        tid: 4242,
        ns_pid: Some(1),
        comm: b"nginx".to_vec(),
        start_ns: 33000 * MIN,
    };
    ev.target_place = in_pod('b', "nginx", "docker.io/library/nginx:1.27");
    ev
}

/// nginx of [`kill_in_pod`] ending on its SIGTERM.
pub fn nginx_exits() -> Event {
    let signal = kill_in_pod();
    Event::Exit(ExitEvent {
        time_ns: signal.time_ns + 40_000_000,
        status: ExitStatus::from_signal(15, false),
        proc: signal.target,
        place: signal.target_place,
    })
}

/// A node that booted at 2026-01-01T00:00:00Z, with root and alice in its /etc/passwd.
pub fn ctx() -> super::Context {
    super::Context {
        node: "node-1".into(),
        boot_epoch_ns: 1_767_225_600 * 1_000_000_000,
        color: false,
        users: crate::users::Users::parse(
            "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
        ),
        page_size: 4096,
        memo: Default::default(),
    }
}

/// Renders `a` in a machine format and checks it is exactly one line of JSON.
pub fn line(format: crate::render::Format, a: &crate::story::Annotated) -> serde_json::Value {
    let mut out = Vec::new();
    super::render(format, &ctx(), a, &mut out).unwrap();
    assert_eq!(
        out.iter().filter(|&&b| b == b'\n').count(),
        1,
        "exactly one line"
    );
    assert_eq!(out.last(), Some(&b'\n'));
    assert!(out.len() <= super::limit::MAX_LINE, "{} bytes", out.len());
    serde_json::from_slice(&out).unwrap()
}
