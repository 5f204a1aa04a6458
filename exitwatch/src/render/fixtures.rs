//! Events shaped like the ones in the seed guide, for renderer tests.

use crate::event::{Actor, Ancestor, OomEvent, OomMemory, Proc, Sender, SignalEvent};
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
        sender: Sender::Process(Actor {
            proc: Proc {
                pid: 23549,
                tid: 23549,
                ns_pid: Some(23549),
                comm: b"pkill".to_vec(),
                start_ns: 33475 * MIN + 5_202_486_630,
            },
            place: Default::default(),
            args: vec![b"pkill".to_vec(), b"-9".to_vec(), b"server".to_vec()],
            args_truncated: false,
            uid: 0,
            gid: 0,
            euid: 0,
            loginuid: Some(1000),
            sessionid: Some(3),
            kernel_thread: false,
            exe: Some(b"/usr/bin/pkill".to_vec()),
            exe_deleted: false,
            ancestry: vec![
                anc(0, "swapper/0", 0),
                anc(1, "systemd", 80_000_000),
                anc(19400, "vGhyM0", 19491 * MIN + 2_579_563_677),
                anc(23495, "bash", 33475 * MIN + 4_817_798_337),
            ],
            ancestry_truncated: false,
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
        memcg_usage: Some(MemcgUsage {
            limit_bytes: Some(64 << 20),
            usage_bytes: Some(1 << 20),
            peak_bytes: Some(64 << 20),
        }),
        missing: vec![],
    }
}
