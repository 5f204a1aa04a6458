//! Bursts in the pipeline: summarised in text after their window, listed with `--verbose`,
//! never touched in JSON.

use super::*;
use crate::render::burst::WINDOW_NS;

/// Five SIGKILLs from one `pkill` into processes 101..=105 of one host cgroup.
fn five_kills(pipe: &mut Pipeline<Rc<Node>, Outs>) {
    for (i, pid) in (101..=105).enumerate() {
        let mut s = fixtures::pkill_kills_server();
        s.target.pid = pid;
        s.time_ns += i as u64;
        s.target_place.cgroup = Some(crate::event::CgroupPath {
            id: 7,
            path: "/user.slice/user-1001.slice/session-4.scope".into(),
        });
        pipe.record(Event::Signal(s), NOW + i as u64).unwrap();
    }
}

fn lines(outs: &Outs) -> Vec<String> {
    outs.0
        .borrow()
        .records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.line).into_owned())
        .collect()
}

#[test]
fn text_summarises_a_burst_once_its_window_passes() {
    let setup = Setup {
        format: Format::Text,
        ..Setup::default()
    };
    let (mut pipe, _node, outs) = setup.start();
    five_kills(&mut pipe);
    assert!(lines(&outs).is_empty(), "held while it may grow");
    let deadline = pipe.next_deadline().expect("the burst's window");
    assert_eq!(deadline, NOW + 4 + WINDOW_NS);
    pipe.tick(deadline).unwrap();
    let out = lines(&outs);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        out[0].contains(
            "delivered to 5 processes in cgroup /user.slice/user-1001.slice/session-4.scope \
             (first server(101), last server(105)): they will exit with code 137"
        ),
        "{}",
        out[0]
    );
    let r = &outs.0.borrow().records[0];
    assert_eq!((r.kind, r.severity), ("signal", 4));
}

#[test]
fn verbose_lists_every_event() {
    let setup = Setup {
        format: Format::Text,
        ..Setup::default()
    };
    let (pipe, _node, outs) = setup.start();
    let mut pipe = pipe.verbose(true);
    five_kills(&mut pipe);
    let out = lines(&outs);
    assert_eq!(out.len(), 5);
    assert!(out[4].contains("delivered: server(105) will exit with code 137"));
    assert_eq!(pipe.next_deadline(), None);
}

#[test]
fn json_keeps_one_object_per_event() {
    let (mut pipe, _node, outs) = Setup::default().start();
    five_kills(&mut pipe);
    let pids: Vec<_> = outs
        .json()
        .iter()
        .map(|v| v["target"]["pid"].clone())
        .collect();
    assert_eq!(pids, [101, 102, 103, 104, 105]);
    assert_eq!(pipe.next_deadline(), None);
}

#[test]
fn shutdown_says_out_the_held_burst() {
    let setup = Setup {
        format: Format::Text,
        ..Setup::default()
    };
    let (mut pipe, _node, outs) = setup.start();
    five_kills(&mut pipe);
    pipe.finish().unwrap();
    assert_eq!(lines(&outs).len(), 1);
}
