use super::*;
use crate::event::{Actor, OomEvent, Proc, Sender};
use crate::oom::Constraint;
use crate::signals::{Disposition, KernelReason, SignalResult};

const MS: u64 = 1_000_000;

fn proc(pid: u32, comm: &str) -> Proc {
    Proc {
        pid,
        tid: pid,
        ns_pid: Some(pid),
        comm: comm.as_bytes().to_vec(),
        start_ns: 0,
    }
}

fn actor(pid: u32) -> Actor {
    Actor {
        proc: proc(pid, "alloc"),
        place: Default::default(),
        args: vec![].into(),
        args_truncated: false,
        uid: 0,
        gid: 0,
        euid: 0,
        loginuid: None,
        sessionid: None,
        kernel_thread: false,
        exe: None,
        exe_deleted: false,
        ancestry: vec![].into(),
        ancestry_truncated: false,
        identity_lost: false,
    }
}

fn kernel_kill(at: u64, current: u32, target: u32) -> Event {
    Event::Signal(SignalEvent {
        time_ns: at,
        signo: 9,
        code: SI_KERNEL,
        result: SignalResult::Delivered,
        group: true,
        disposition: Some(Disposition::Default),
        fault_addr: None,
        via: None,
        sender: Sender::Kernel {
            reason: KernelReason::Kernel,
            context: actor(current),
        },
        target: proc(target, "victim"),
        target_place: Default::default(),
    })
}

fn oom(at: u64, trigger: u32, victim: u32) -> Event {
    Event::Oom(OomEvent {
        time_ns: at,
        victim: proc(victim, "victim"),
        victim_uid: 0,
        oom_score_adj: 0,
        victim_args: vec![],
        memory: None,
        trigger: proc(trigger, "alloc"),
        also_killed: vec![],
        context: None,
        victim_cgroup: None,
        memcg_usage: None,
        victim_place: Default::default(),
        missing: vec![],
    })
}

fn log_line(pid: u32) -> OomContext {
    OomContext {
        constraint: Constraint::Memcg,
        oom_memcg: Some("/t".into()),
        task_memcg: Some("/t".into()),
        pid,
        task: "victim".into(),
    }
}

fn exit(at: u64, pid: u32) -> Event {
    Event::Exit(crate::event::ExitEvent {
        time_ns: at,
        status: crate::exitstatus::ExitStatus::from_raw(9),
        proc: proc(pid, "victim"),
        place: Default::default(),
    })
}

#[test]
fn the_oom_kill_takes_the_victims_container_from_its_sigkill() {
    const CTR: &str = "/default/3b87c0a1f2e4d5c6b7a8998877665544332211ffeeddccbbaa00112233445566";
    let mut c = Correlator::default();
    let Event::Signal(mut kill) = kernel_kill(0, 10, 20) else {
        unreachable!()
    };
    kill.target_place = crate::event::Place::from_cgroup_path(CTR);
    c.push(Event::Signal(kill), 0);
    c.push(oom(0, 10, 20), 0);
    let out = c.flush();
    let [Event::Oom(o)] = &out[..] else {
        panic!("{out:?}")
    };
    let container = o
        .victim_place
        .container
        .as_ref()
        .expect("the kill's container");
    assert_eq!(container.cgroup, CTR);
}

#[test]
fn the_oom_killers_sigkill_and_mark_victim_become_one_event() {
    let mut c = Correlator::default();
    assert!(
        c.push(kernel_kill(100 * MS, 10, 20), 100 * MS).is_empty(),
        "held: mark_victim may follow"
    );
    assert!(
        c.push(oom(100 * MS, 10, 20), 100 * MS).is_empty(),
        "held: waiting for the log line"
    );
    assert!(
        c.push(exit(101 * MS, 20), 101 * MS).is_empty(),
        "an exit never overtakes its cause"
    );
    assert!(
        c.log(log_line(20), 102 * MS).is_empty(),
        "min hold for shared-memory kills"
    );
    let out = c.release(100 * MS + OOM_MIN_HOLD_NS);
    assert_eq!(out.len(), 2, "{out:?}");
    let Event::Oom(o) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(o.context.as_ref().unwrap().constraint, Constraint::Memcg);
    assert!(matches!(out[1], Event::Exit(_)));
    assert!(c.flush().is_empty(), "the victim's SIGKILL was absorbed");
}

#[test]
fn processes_sharing_the_victims_memory_join_the_event() {
    let mut c = Correlator::default();
    c.push(kernel_kill(0, 10, 20), 0);
    c.push(oom(0, 10, 20), 0);
    assert!(c.push(kernel_kill(MS, 10, 21), MS).is_empty());
    let out = c.flush();
    assert_eq!(out.len(), 1, "{out:?}");
    let Event::Oom(o) = &out[0] else { panic!() };
    assert_eq!(
        o.also_killed.iter().map(|p| p.pid).collect::<Vec<_>>(),
        vec![21]
    );
}

#[test]
fn a_log_line_that_came_first_is_used() {
    let mut c = Correlator::default();
    c.log(log_line(20), 0);
    c.push(oom(0, 20, 20), 0);
    let out = c.release(OOM_MIN_HOLD_NS);
    let Event::Oom(o) = &out[0] else {
        panic!("{out:?}")
    };
    assert!(o.context.is_some());
}

#[test]
fn without_a_log_line_the_event_still_comes_out_after_the_max_hold() {
    let mut c = Correlator::default();
    c.push(oom(0, 10, 20), 0);
    assert!(c.release(OOM_MAX_HOLD_NS - 1).is_empty());
    assert_eq!(c.next_deadline(), Some(OOM_MAX_HOLD_NS));
    let out = c.release(OOM_MAX_HOLD_NS);
    let Event::Oom(o) = &out[0] else { panic!() };
    assert!(o.context.is_none());
}

#[test]
fn a_kernel_sigkill_with_no_oom_is_reported_as_a_signal_after_a_short_wait() {
    let mut c = Correlator::default();
    assert!(c.push(kernel_kill(0, 1, 50), 0).is_empty());
    assert_eq!(c.next_deadline(), Some(PRIV_KILL_HOLD_NS));
    let out = c.release(PRIV_KILL_HOLD_NS);
    assert!(matches!(&out[..], [Event::Signal(s)] if s.target.pid == 50));
}

#[test]
fn ordinary_events_pass_straight_through() {
    let mut c = Correlator::default();
    assert_eq!(c.push(exit(0, 3), 0).len(), 1);
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn unmatched_log_lines_are_bounded() {
    let mut c = Correlator::default();
    for pid in 0..1000 {
        c.log(log_line(pid), 0);
    }
    assert_eq!(c.recent_log.len(), RECENT_LOG_LINES);
}

#[test]
fn a_waiting_event_holds_back_the_ones_after_it() {
    let mut c = Correlator::default();
    assert!(c.push_after(exit(0, 1), 100, 7, 0).is_empty());
    assert!(
        c.push(exit(1, 2), 1).is_empty(),
        "kept in order behind the waiting one"
    );
    assert_eq!(c.next_deadline(), Some(100));
    assert_eq!(c.release(100).len(), 2);
}

#[test]
fn a_waiting_event_goes_as_soon_as_a_later_answer_arrives() {
    let mut c = Correlator::default();
    assert!(c.push_after(exit(0, 1), 1_000, 7, 0).is_empty());
    assert!(c.push(exit(1, 2), 1).is_empty());
    let all = |_: &Event| true;
    assert!(
        c.answered(7, &all, 5).is_empty(),
        "the answer it was issued with is not news"
    );
    assert!(
        c.answered(8, &|_| false, 6).is_empty(),
        "an answer that does not settle it"
    );
    assert!(c.waiting());
    let out = c.answered(9, &all, 7);
    assert_eq!(out.len(), 2, "released early, still in order");
    assert_eq!(c.next_deadline(), None);
    assert!(!c.waiting());
}

#[test]
fn an_exit_recorded_before_mark_victim_still_follows_the_oom_kill() {
    // The victim exits on another CPU between the OOM killer's SIGKILL and its mark_victim.
    let mut c = Correlator::default();
    c.push(kernel_kill(0, 10, 20), 0);
    c.push(exit(MS, 20), MS);
    c.push(oom(2 * MS, 10, 20), 2 * MS);
    let out = c.flush();
    assert!(
        matches!(&out[..], [Event::Oom(_), Event::Exit(_)]),
        "{out:?}"
    );
}
