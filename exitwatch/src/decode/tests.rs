use super::*;
use exitwatch_common::result;

fn bytes<T>(rec: &T) -> Vec<u8> {
    // SAFETY: test records are plain #[repr(C)] integer structs.
    unsafe { std::slice::from_raw_parts((rec as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
}

fn zeroed<T>() -> T {
    // SAFETY: all-zero is a valid value of these integer-only records.
    unsafe { std::mem::zeroed() }
}

fn comm(s: &str) -> [u8; COMM_LEN] {
    let mut c = [0u8; COMM_LEN];
    c[..s.len()].copy_from_slice(s.as_bytes());
    c
}

fn kill_record() -> SignalRecord {
    let mut r: SignalRecord = zeroed();
    r.kind = RecordKind::Signal as u32;
    r.signo = 9;
    r.result = result::DELIVERED;
    r.group = 1;
    r.sender = TaskRecord {
        start_ns: 50,
        pid: 300,
        tid: 301,
        ns_pid: 5,
        _pad: 0,
        comm: comm("kill"),
    };
    r.target = TaskRecord {
        start_ns: 10,
        pid: 200,
        tid: 200,
        ns_pid: 200,
        _pad: 0,
        comm: comm("victim"),
    };
    let args = b"/bin/kill\x00-9\x00200\x00";
    r.args[..args.len()].copy_from_slice(args);
    r.args_len = args.len() as u32;
    r.ancestors[0] = AncestorRecord {
        start_ns: 40,
        pid: 299,
        _pad: 0,
        comm: comm("sh"),
    };
    r.ancestors[1] = AncestorRecord {
        start_ns: 1,
        pid: 1,
        _pad: 0,
        comm: comm("init"),
    };
    r.ancestors[2] = AncestorRecord {
        start_ns: 0,
        pid: 0,
        _pad: 0,
        comm: comm("swapper/0"),
    };
    r.n_ancestors = 3;
    r.loginuid = 1000;
    r.sessionid = u32::MAX;
    r
}

#[test]
fn decodes_a_kill_with_args_and_root_first_ancestry() {
    let Event::Signal(ev) = decode(&bytes(&kill_record())).unwrap() else {
        panic!("not a signal")
    };
    assert_eq!(ev.signo, 9);
    assert_eq!(ev.result, SignalResult::Delivered);
    assert!(ev.group);
    assert!(ev.fatal());
    let Sender::Process(a) = &ev.sender else {
        panic!("kill(2) is a process sender")
    };
    assert_eq!(a.proc.comm, b"kill");
    assert_eq!((a.proc.pid, a.proc.tid, a.proc.ns_pid), (300, 301, Some(5)));
    assert_eq!(
        a.args,
        vec![b"/bin/kill".to_vec(), b"-9".to_vec(), b"200".to_vec()]
    );
    let pids: Vec<u32> = a.ancestry.iter().map(|x| x.pid).collect();
    assert_eq!(pids, vec![0, 1, 299]);
    assert_eq!(a.parent().unwrap().comm, b"sh");
    assert_eq!(a.loginuid, Some(1000));
    assert_eq!(a.sessionid, None, "AUDIT_SID_UNSET is not a session");
    assert_eq!(ev.target.comm, b"victim");
}

#[test]
fn absent_fields_are_reported_absent_not_garbage() {
    let mut r = kill_record();
    r.flags = flag::LOGINUID_ABSENT | flag::NS_PID_ABSENT | flag::HANDLER_UNKNOWN;
    let Event::Signal(ev) = decode(&bytes(&r)).unwrap() else {
        panic!()
    };
    assert_eq!(ev.sender.actor().loginuid, None);
    assert_eq!(ev.target.ns_pid, None);
    assert_eq!(ev.disposition, None);
}

#[test]
fn hostile_counts_are_clamped() {
    let mut r = kill_record();
    r.n_ancestors = 10_000;
    r.args_len = 1 << 30;
    let Event::Signal(ev) = decode(&bytes(&r)).unwrap() else {
        panic!()
    };
    assert_eq!(ev.sender.actor().ancestry.len(), MAX_ANCESTORS);
}

#[test]
fn a_fault_is_the_kernel_with_the_current_task_as_context() {
    let mut r = kill_record();
    r.signo = 11;
    r.code = 1; // SEGV_MAPERR
    r.si_fields = 0xdead;
    r.sender = r.target;
    let Event::Signal(ev) = decode(&bytes(&r)).unwrap() else {
        panic!()
    };
    match &ev.sender {
        Sender::Kernel { reason, context } => {
            assert_eq!(*reason, KernelReason::Fault);
            assert_eq!(context.proc.pid, 200);
        }
        other => panic!("expected kernel sender, got {other:?}"),
    }
    assert_eq!(ev.fault_addr, Some(0xdead));
}

#[test]
fn handled_term_is_not_fatal_but_default_term_is() {
    let mut r = kill_record();
    r.signo = 15;
    r.handler = 0x5555_0000;
    let Event::Signal(ev) = decode(&bytes(&r)).unwrap() else {
        panic!()
    };
    assert_eq!(ev.disposition, Some(Disposition::Handled));
    assert!(!ev.fatal());
    r.handler = 0;
    let Event::Signal(ev) = decode(&bytes(&r)).unwrap() else {
        panic!()
    };
    assert!(ev.fatal());
    assert_eq!(ev.exit_code_if_fatal(), 143);
    r.result = result::IGNORED;
    let Event::Signal(ev) = decode(&bytes(&r)).unwrap() else {
        panic!()
    };
    assert!(!ev.fatal());
}

#[test]
fn decodes_an_exit() {
    let mut r: ExitRecord = zeroed();
    r.kind = RecordKind::Exit as u32;
    r.exit_code = 9;
    r.task = TaskRecord {
        start_ns: 1,
        pid: 77,
        tid: 77,
        ns_pid: 1,
        _pad: 0,
        comm: comm("srv"),
    };
    let Event::Exit(ev) = decode(&bytes(&r)).unwrap() else {
        panic!()
    };
    assert_eq!(ev.status.container_code(), 137);
    assert_eq!(ev.proc.pid, 77);
}

#[test]
fn rejects_short_and_unknown_records() {
    assert_eq!(decode(&[1, 0]), Err(DecodeError::Short(2)));
    assert_eq!(decode(&[1, 0, 0, 0, 0, 0]), Err(DecodeError::Short(6)));
    assert_eq!(decode(&[99, 0, 0, 0]), Err(DecodeError::UnknownKind(99)));
}
