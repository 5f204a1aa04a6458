use super::*;
use crate::decode::Identity;
use crate::event::{Namespaces, Sender};
use crate::render::fixtures;

fn identity(pid: u32, image: u64, args: &[&str]) -> Identity {
    Identity {
        pid,
        image,
        place: PlaceIds {
            cgroup: 40,
            memcg: 0,
            ns: Namespaces::default(),
        },
        args: Arc::new(args.iter().map(|a| a.as_bytes().to_vec()).collect()),
        args_truncated: false,
        loginuid: Some(1000),
        sessionid: Some(3),
        exe: Some(b"/usr/bin/pkill".as_slice().into()),
        exe_deleted: false,
        ancestry: fixtures::pkill_kills_server()
            .sender
            .actor()
            .ancestry
            .clone(),
        ancestry_truncated: false,
    }
}

/// An identity record.
fn known(pid: u32, image: u64, args: &[&str]) -> Record {
    Record::Identity(Box::new(identity(pid, image, args)))
}

/// `pkill -9 server` as the kernel's small record says it: no identity yet.
fn kill(image: Option<u64>, target_cgroup: u64) -> Record {
    let mut event = fixtures::pkill_kills_server();
    let a = event.sender.actor_mut();
    (a.args, a.exe, a.ancestry, a.loginuid, a.sessionid) =
        (Default::default(), None, Default::default(), None, None);
    Record::Signal {
        event,
        sender_image: image,
        target_place: PlaceIds {
            cgroup: target_cgroup,
            ..PlaceIds::default()
        },
    }
}

fn container_path(digit: char) -> String {
    format!(
        "/system.slice/docker-{}.scope",
        std::iter::repeat_n(digit, 64).collect::<String>()
    )
}

fn signal(ev: Option<Event>) -> crate::event::SignalEvent {
    match ev {
        Some(Event::Signal(s)) => s,
        other => panic!("expected a signal, got {other:?}"),
    }
}

#[test]
fn a_signal_gets_the_identity_of_its_senders_image() {
    let mut a = Assembler::default();
    let pid = fixtures::pkill_kills_server().sender.actor().proc.pid;
    assert_eq!(a.take(known(pid, 7, &["pkill", "-9", "server"])), None);
    let s = signal(a.take(kill(Some(7), 0)));
    let actor = s.sender.actor();
    assert_eq!(
        *actor.args,
        [b"pkill".to_vec(), b"-9".to_vec(), b"server".to_vec()]
    );
    assert_eq!(actor.exe.as_deref(), Some(&b"/usr/bin/pkill"[..]));
    assert_eq!(actor.loginuid, Some(1000));
    assert_eq!(actor.ancestry.len(), 4);
    assert!(!actor.identity_lost);
    // Identities are for many signals: the second one gets it too.
    assert!(
        !signal(a.take(kill(Some(7), 0)))
            .sender
            .actor()
            .identity_lost
    );
}

#[test]
fn an_exec_is_another_image_and_never_borrows_the_old_identity() {
    let mut a = Assembler::default();
    let pid = fixtures::pkill_kills_server().sender.actor().proc.pid;
    a.take(known(pid, 7, &["bash"]));
    a.take(known(pid, 9, &["pkill", "-9", "server"]));
    let before = signal(a.take(kill(Some(7), 0)));
    let after = signal(a.take(kill(Some(9), 0)));
    assert_eq!(*before.sender.actor().args, [b"bash".to_vec()]);
    assert_eq!(after.sender.actor().args.len(), 3);
    // An image the daemon never saw (its identity was lost) is said to be lost, not guessed.
    let unknown = signal(a.take(kill(Some(8), 0)));
    assert!(unknown.sender.actor().identity_lost);
    assert!(unknown.sender.actor().args.is_empty());
    assert_eq!(
        unknown.sender.actor().proc.comm,
        b"pkill",
        "who it was is still known"
    );
}

#[test]
fn a_lost_identity_still_says_who() {
    let mut a = Assembler::default();
    let s = signal(a.take(kill(None, 0)));
    let Sender::Process(actor) = &s.sender else {
        panic!()
    };
    assert!(actor.identity_lost);
    assert_eq!(
        (actor.proc.pid, actor.proc.comm.as_slice()),
        (23549, &b"pkill"[..])
    );
    assert_eq!(actor.exe, None);
}

#[test]
fn places_take_their_paths_by_id_and_recognise_containers() {
    let mut a = Assembler::default();
    a.take(Record::CgroupName(CgroupName {
        memory: false,
        id: 41,
        path: container_path('c'),
    }));
    // The memory hierarchy numbers its own cgroups: the same id there is another cgroup.
    a.take(Record::CgroupName(CgroupName {
        memory: true,
        id: 41,
        path: "/user.slice".into(),
    }));
    let s = signal(a.take(kill(None, 41)));
    let place = &s.target_place;
    assert_eq!(&*place.cgroup.as_ref().unwrap().path, container_path('c'));
    assert_eq!(place.container.as_ref().unwrap().id, "c".repeat(64));
    let unknown = signal(a.take(kill(None, 42)));
    assert_eq!(
        unknown.target_place.cgroup, None,
        "a path never sent is unknown"
    );
    assert_eq!(signal(a.take(kill(None, 0))).target_place, Place::default());
}

#[test]
fn an_exit_gets_its_place() {
    let mut a = Assembler::default();
    a.take(Record::CgroupName(CgroupName {
        memory: false,
        id: 5,
        path: "/kubepods".into(),
    }));
    let Some(Event::Exit(x)) = a.take(Record::Exit {
        event: match fixtures::nginx_exits() {
            Event::Exit(x) => x,
            _ => unreachable!(),
        },
        place: PlaceIds {
            cgroup: 5,
            ..PlaceIds::default()
        },
    }) else {
        panic!()
    };
    assert_eq!(&*x.place.cgroup.unwrap().path, "/kubepods");
}

#[test]
fn what_is_forgotten_to_stay_bounded_is_said_for_the_kernel() {
    let mut a = Assembler::default();
    for pid in 0..(MAX_IMAGES as u32 + 3) {
        a.take(known(pid, 1, &["x"]));
    }
    assert_eq!(a.size().0, MAX_IMAGES);
    let forget = a.forgotten();
    assert_eq!(forget.processes, [0, 1, 2], "the oldest go first");
    assert!(a.forgotten().is_empty(), "said once");
    // The forgotten image is now unknown: its next signal says the identity is lost.
    for id in 1..=(MAX_CGROUPS as u64 + 1) {
        a.take(Record::CgroupName(CgroupName {
            memory: id == 1,
            id,
            path: "/x".into(),
        }));
    }
    assert_eq!(a.forgotten().cgroups, [1 | MEMORY_KEY]);
}

#[test]
fn identity_bytes_are_bounded_too() {
    let mut a = Assembler::default();
    let big = vec!["y".repeat(250); 40];
    let big: Vec<&str> = big.iter().map(String::as_str).collect();
    for pid in 0..2000 {
        a.take(known(pid, 1, &big));
    }
    assert!(a.identity_bytes <= MAX_IDENTITY_BYTES);
    assert!(!a.forgotten().processes.is_empty());
}
