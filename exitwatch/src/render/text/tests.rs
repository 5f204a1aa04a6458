//! What a person reads: the verdict wording, the detail lines, escapes, colour only when asked.

use super::oom::bytes;
use super::*;
use crate::event::{Sender, SignalEvent};
use crate::render::fixtures;
use crate::signals::{Disposition, SignalResult};
use crate::users::Users;

fn ctx(color: bool) -> Context {
    Context {
        node: "n".into(),
        boot_epoch_ns: 0,
        color,
        users: Users::parse("root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/h:/bin/sh\n"),
        page_size: 4096,
        memo: Default::default(),
    }
}

fn text(ev: SignalEvent, color: bool) -> String {
    let mut out = Vec::new();
    render(
        &ctx(color),
        &crate::render::bare(Event::Signal(ev)),
        &mut out,
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn verdict_names_user_command_path_and_exit_code() {
    let s = text(fixtures::pkill_kills_server(), false);
    let first = s.lines().next().unwrap();
    assert!(
        first.ends_with("SIGKILL from root's `pkill -9 server` (via vGhyM0 → bash), delivered: server(7942) will exit with code 137"),
        "{first}"
    );
    assert!(s.contains("loginuid 1000 (alice) session 3"), "{s}");
    assert!(
        s.contains(
            "  ancestry  swapper/0(0) → systemd(1) → vGhyM0(19400) → bash(23495) → pkill(23549)"
        ),
        "{s}"
    );
    assert!(
        s.contains(
            "  target    server(7942) tid 7942 (pid 1 in its namespace), disposition default"
        ),
        "{s}"
    );
    assert!(!s.contains('\x1b'), "no colour unless asked");
}

#[test]
fn escape_bytes_in_names_and_args_never_reach_the_terminal() {
    let mut ev = fixtures::pkill_kills_server();
    ev.target.comm = b"x\x1b]0;pwned\x07".to_vec();
    if let Sender::Process(a) = &mut ev.sender {
        std::sync::Arc::make_mut(&mut a.args).push(b"\x1b[31mred".to_vec());
        std::sync::Arc::make_mut(&mut a.ancestry)[2].comm = b"\x9b2J".to_vec();
    }
    let s = text(ev, false);
    assert!(
        !s.bytes().any(|b| b == 0x1b || b == 0x07 || b == 0x9b),
        "{s:?}"
    );
    assert!(s.contains(r"x\x1b]0;pwned\x07(7942)"), "{s}");
}

#[test]
fn oom_says_which_limit_who_died_and_who_allocated() {
    let mut out = Vec::new();
    render(
        &ctx(false),
        &crate::render::bare(Event::Oom(fixtures::memcg_oom())),
        &mut out,
    )
    .unwrap();
    let s = String::from_utf8(out).unwrap();
    assert!(
        s.lines().next().unwrap().ends_with(
            "OOM killer: memory cgroup /kubepods/burstable/pod1 hit its 64 MiB limit; killed python3(5937) \
             (anon RSS 61 MiB, oom_score_adj 0), triggered by its own allocation. Exit code will be 137."
        ),
        "{s}"
    );
}

#[test]
fn oom_names_the_victims_container() {
    let mut ev = fixtures::memcg_oom();
    ev.victim_place = crate::event::Place::from_cgroup_path(
        "/default/3b87c0a1f2e4d5c6b7a8998877665544332211ffeeddccbbaa00112233445566",
    );
    let mut out = Vec::new();
    render(&ctx(false), &crate::render::bare(Event::Oom(ev)), &mut out).unwrap();
    let s = String::from_utf8(out).unwrap();
    assert!(
        s.contains("killed python3(5937) in container 3b87c0a1f2e4 ("),
        "{s}"
    );
    assert!(
        s.contains("\n  container 3b87c0a1f2e4, id 3b87c0a1f2e4"),
        "{s}"
    );
}

#[test]
fn byte_sizes_read_naturally() {
    assert_eq!(bytes(64 << 20), "64 MiB");
    assert_eq!(bytes(1536 << 20), "1.5 GiB");
    assert_eq!(bytes(100), "100 B");
}

#[test]
fn colour_only_when_enabled() {
    assert!(text(fixtures::pkill_kills_server(), true).contains(RED));
}

#[test]
fn ignored_term_on_namespace_init_explains_the_pid1_trap() {
    let mut ev = fixtures::pkill_kills_server();
    ev.signo = 15;
    ev.result = SignalResult::Ignored;
    let s = text(ev, false);
    assert!(
        s.lines()
            .next()
            .unwrap()
            .contains("is PID 1 of its pid namespace and has no handler for SIGTERM"),
        "{s}"
    );
}

#[test]
fn handled_signal_is_not_called_fatal() {
    let mut ev = fixtures::pkill_kills_server();
    ev.signo = 15;
    ev.disposition = Some(Disposition::Handled);
    let s = text(ev, false);
    assert!(s.contains("handles SIGTERM itself"), "{s}");
}

#[test]
fn a_signal_without_a_name_reads_signal_n() {
    let mut ev = fixtures::pkill_kills_server();
    ev.signo = 65;
    let s = text(ev, false);
    let first = s.lines().next().unwrap();
    assert!(
        first.contains(" signal 65 from root's `pkill -9 server`"),
        "{first}"
    );
    assert!(s.contains("\n  signal    signal 65 ("), "{s}");
}
