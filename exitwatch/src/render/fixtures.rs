//! Events shaped like the ones in the seed guide, for renderer tests.

use crate::event::{Actor, Ancestor, Proc, Sender, SignalEvent};
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
            args: vec![b"pkill".to_vec(), b"-9".to_vec(), b"server".to_vec()],
            args_truncated: false,
            uid: 0,
            gid: 0,
            euid: 0,
            loginuid: Some(1000),
            sessionid: Some(3),
            kernel_thread: false,
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
    }
}
