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

fn task(pid: u32, tid: u32, name: &str) -> TaskRecord {
    TaskRecord {
        start_ns: u64::from(pid) * 10,
        pid,
        tid,
        ns_pid: pid,
        _pad: 0,
        comm: comm(name),
    }
}

fn kill_record() -> SignalRecord {
    let mut r: SignalRecord = zeroed();
    r.kind = RecordKind::Signal as u32;
    r.flags = flag::FATAL;
    r.signo = 9;
    r.result = result::DELIVERED;
    r.group = 1;
    r.sender_image = 77;
    r.sender = task(300, 301, "kill");
    r.sender.ns_pid = 5;
    r.target = task(200, 200, "victim");
    r.target_place.cgroup = 1234;
    r.target_place.ns.pid = 4026531836;
    r
}

fn identity_record() -> IdentityRecord {
    let mut r: IdentityRecord = zeroed();
    r.kind = RecordKind::Identity as u32;
    r.image = 77;
    r.task = task(300, 301, "kill");
    r.place.cgroup = 99;
    let args = b"/bin/kill\x00-9\x00200\x00";
    r.args[..args.len()].copy_from_slice(args);
    r.args_len = args.len() as u32;
    for (i, (pid, name)) in [(299, "sh"), (1, "init"), (0, "swapper/0")]
        .into_iter()
        .enumerate()
    {
        r.ancestors[i] = AncestorRecord {
            start_ns: u64::from(pid),
            pid,
            _pad: 0,
            comm: comm(name),
        };
    }
    r.n_ancestors = 3;
    r.loginuid = 1000;
    r.sessionid = u32::MAX;
    let names = ["kill", "bin", "usr"];
    for (i, n) in names.iter().enumerate() {
        r.exe[i][..n.len()].copy_from_slice(n.as_bytes());
    }
    r.exe_depth = 3;
    r
}

/// The bytes the kernel sends: cut after the last ancestor.
fn sent(r: &IdentityRecord) -> Vec<u8> {
    let mut b = bytes(r);
    b.truncate(IdentityRecord::HEAD + r.n_ancestors.min(40) as usize * size_of::<AncestorRecord>());
    b
}

fn signal_of(b: &[u8]) -> (SignalEvent, Option<u64>, PlaceIds) {
    match decode(b).unwrap() {
        Record::Signal {
            event,
            sender_image,
            target_place,
        } => (event, sender_image, target_place),
        other => panic!("not a signal: {other:?}"),
    }
}

#[test]
fn a_signal_record_is_small_and_names_its_senders_image() {
    assert_eq!(
        size_of::<SignalRecord>(),
        184,
        "was 4104 bytes with the identity inline"
    );
    let (ev, image, place) = signal_of(&bytes(&kill_record()));
    assert_eq!(
        (ev.signo, ev.result, ev.group),
        (9, SignalResult::Delivered, true)
    );
    assert!(ev.fatal());
    let Sender::Process(a) = &ev.sender else {
        panic!("kill(2) is a process sender")
    };
    assert_eq!(a.proc.comm, b"kill");
    assert_eq!((a.proc.pid, a.proc.tid, a.proc.ns_pid), (300, 301, Some(5)));
    assert!(
        a.args.is_empty() && !a.identity_lost,
        "argv comes with the identity"
    );
    assert_eq!(image, Some(77));
    assert_eq!((place.cgroup, place.ns.pid), (1234, Some(4026531836)));
    assert_eq!(ev.target.comm, b"victim");
}

#[test]
fn a_lost_identity_is_flagged_not_referenced() {
    let mut r = kill_record();
    r.flags |= flag::IDENTITY_LOST;
    let (ev, image, _) = signal_of(&bytes(&r));
    assert_eq!(image, None);
    assert!(ev.sender.actor().identity_lost);
    r.flags &= !flag::IDENTITY_LOST;
    r.sender_image = 0;
    assert_eq!(signal_of(&bytes(&r)).1, None, "image 0 means none");
}

#[test]
fn decodes_an_identity_sent_cut_after_its_ancestors() {
    let b = sent(&identity_record());
    assert_eq!(b.len(), 632 + 3 * 32);
    let Record::Identity(i) = decode(&b).unwrap() else {
        panic!()
    };
    assert_eq!((i.pid, i.image, i.place.cgroup), (300, 77, 99));
    assert_eq!(
        i.args,
        vec![b"/bin/kill".to_vec(), b"-9".to_vec(), b"200".to_vec()].into()
    );
    let pids: Vec<u32> = i.ancestry.iter().map(|x| x.pid).collect();
    assert_eq!(pids, vec![0, 1, 299], "root first");
    assert_eq!(i.exe.as_deref(), Some(&b"/usr/bin/kill"[..]));
    assert_eq!(i.loginuid, Some(1000));
    assert_eq!(i.sessionid, None, "AUDIT_SID_UNSET is not a session");
}

#[test]
fn an_identity_too_short_for_its_ancestors_is_rejected() {
    let b = sent(&identity_record());
    assert_eq!(
        decode(&b[..b.len() - 1]),
        Err(DecodeError::Ancestors(b.len() - 1, 3))
    );
    assert_eq!(decode(&b[..100]), Err(DecodeError::Short(100)));
}

#[test]
fn absent_fields_are_reported_absent_not_garbage() {
    let mut r = kill_record();
    r.flags = flag::NS_PID_ABSENT | flag::HANDLER_UNKNOWN;
    let (ev, _, _) = signal_of(&bytes(&r));
    assert_eq!(ev.target.ns_pid, None);
    assert_eq!(ev.disposition, None);
    let mut i = identity_record();
    i.flags = flag::LOGINUID_ABSENT | flag::EXE_UNREADABLE;
    let Record::Identity(i) = decode(&sent(&i)).unwrap() else {
        panic!()
    };
    assert_eq!((i.loginuid, i.exe), (None, None));
}

#[test]
fn hostile_counts_are_clamped() {
    let mut r = identity_record();
    r.n_ancestors = 10_000;
    r.args_len = 1 << 30;
    r.exe_depth = 1 << 20;
    let Record::Identity(i) = decode(&bytes(&r)).unwrap() else {
        panic!()
    };
    assert_eq!(i.ancestry.len(), MAX_ANCESTORS);
    assert!(i.args.iter().map(Vec::len).sum::<usize>() <= ARGS_LEN);
}

#[test]
fn a_fault_is_the_kernel_with_the_current_task_as_context() {
    let mut r = kill_record();
    r.signo = 11;
    r.code = 1; // SEGV_MAPERR
    r.si_fields = 0xdead;
    r.sender = r.target;
    let (ev, _, _) = signal_of(&bytes(&r));
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
    let (ev, _, _) = signal_of(&bytes(&r));
    assert_eq!(ev.disposition, Some(Disposition::Handled));
    assert!(!ev.fatal());
    r.handler = 0;
    let (ev, _, _) = signal_of(&bytes(&r));
    assert!(ev.fatal());
    assert_eq!(ev.exit_code_if_fatal(), 143);
    r.result = result::IGNORED;
    assert!(!signal_of(&bytes(&r)).0.fatal());
}

#[test]
fn decodes_an_exit_and_a_cgroup_path() {
    let mut r: ExitRecord = zeroed();
    r.kind = RecordKind::Exit as u32;
    r.exit_code = 9;
    r.task = task(77, 77, "srv");
    r.place.cgroup = 5;
    let Record::Exit { event, place } = decode(&bytes(&r)).unwrap() else {
        panic!()
    };
    assert_eq!(event.status.container_code(), 137);
    assert_eq!((event.proc.pid, place.cgroup), (77, 5));

    let mut c: CgroupNameRecord = zeroed();
    c.kind = RecordKind::CgroupName as u32;
    c.flags = flag::MEMORY_HIERARCHY;
    c.cgroup.ids[0] = 5;
    for (i, n) in ["c1", "pod1", "kubepods"].iter().enumerate() {
        c.cgroup.names[i][..n.len()].copy_from_slice(n.as_bytes());
    }
    c.cgroup.depth = 3;
    let Record::CgroupName(n) = decode(&bytes(&c)).unwrap() else {
        panic!()
    };
    assert_eq!(
        (n.memory, n.id, n.path.as_str()),
        (true, 5, "/kubepods/pod1/c1")
    );
    c.cgroup.truncated = 1;
    c.cgroup.depth = 99;
    let Record::CgroupName(n) = decode(&bytes(&c)).unwrap() else {
        panic!()
    };
    assert!(n.path.starts_with("/…/"), "{}", n.path);
}

#[test]
fn rejects_short_and_unknown_records() {
    assert_eq!(decode(&[1, 0]), Err(DecodeError::Short(2)));
    assert_eq!(decode(&[1, 0, 0, 0, 0, 0]), Err(DecodeError::Short(6)));
    assert_eq!(decode(&[99, 0, 0, 0]), Err(DecodeError::UnknownKind(99)));
}

#[test]
fn a_sigkill_with_no_siginfo_to_another_process_is_a_cgroup_kill_by_its_writer() {
    let mut r = kill_record();
    r.flags |= flag::INFO_NOINFO;
    let (ev, _, _) = signal_of(&bytes(&r));
    let Sender::Process(writer) = &ev.sender else {
        panic!(
            "the writer of cgroup.kill is the sender, not the kernel: {:?}",
            ev.sender
        )
    };
    assert_eq!(writer.proc.comm, b"kill");
    assert_eq!(ev.via, Some(Via::CgroupKill));
    // The same from a kernel thread, or another signal, stays the kernel's.
    r.flags |= flag::SENDER_KTHREAD;
    assert!(matches!(
        signal_of(&bytes(&r)).0.sender,
        Sender::Kernel { .. }
    ));
    r.flags &= !flag::SENDER_KTHREAD;
    r.signo = 1;
    let (ev, _, _) = signal_of(&bytes(&r));
    assert!(matches!(ev.sender, Sender::Kernel { .. }));
    assert_eq!(ev.via, None);
}
