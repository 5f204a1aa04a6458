//! A hostile HTTP receiver delays nothing else: one that never answers, one that trickles a
//! byte a second, one that claims a chunk of near 2^64 bytes. The file output still gets every
//! signal within seconds, /healthz answers at once, SIGTERM ends exitwatch within
//! --flush-timeout.

use std::time::{Duration, Instant};

use super::collectors::{wait_until, HttpReceiver, Mode, TempDir};
use super::{free_port, get, metric};
use crate::harness::{self, Exitwatch, Victim};

fn nothing_waits_for(mode: Mode) {
    let dir = TempDir::new(&format!("isolation-{mode:?}"));
    let bad = HttpReceiver::start(mode);
    let victim = Victim::spawn(&["--handle", "USR1"]);
    let port = free_port();
    let file = dir.join("events.log");
    let pid = victim.pid_arg();
    let ew = Exitwatch::start(&[
        "--pid",
        &pid,
        "-s",
        "USR1",
        "--format",
        "json",
        "-o",
        &format!("file://{}", file.display()),
        "-o",
        &bad.url("/in"),
        "--http-batch-size",
        "1",
        "--http-timeout",
        "3s",
        "--flush-timeout",
        "2s",
        "--metrics-addr",
        &format!("127.0.0.1:{port}"),
    ]);
    let lines = || std::fs::read_to_string(&file).map_or(0, |t| t.lines().count());
    let label = bad.url("/in");
    for round in 1..=3 {
        let sent = Instant::now();
        harness::send("USR1", victim.pid, 1);
        assert!(
            wait_until(Duration::from_secs(3), || lines() == round),
            "{mode:?}: signal {round} not in the file output after 3 s ({} lines)",
            lines()
        );
        let asked = Instant::now();
        assert_eq!(get(port, "/healthz"), (200, "ok\n".to_owned()), "{mode:?}");
        assert!(
            asked.elapsed() < Duration::from_millis(500),
            "{mode:?}: /healthz took {:?}",
            asked.elapsed()
        );
        assert!(sent.elapsed() < Duration::from_secs(3));
        // The bad receiver is busy with the first events meanwhile.
        std::thread::sleep(Duration::from_millis(700));
    }
    let sent = metric(
        port,
        &format!("exitwatch_sink_sent_total{{sink=\"{label}\"}}"),
    );
    // The absurd chunk comes after a 200: those events count as delivered, the body costs only
    // the connection (and the wait for it, up to --http-timeout).
    if mode != Mode::AbsurdChunk {
        assert_eq!(sent, Some(0), "{mode:?}: nothing is delivered to it");
    }
    // SAFETY: plain syscall on our own child.
    let asked = Instant::now();
    unsafe { libc::kill(ew.pid() as i32, libc::SIGTERM) };
    let done = ew.wait_exit(Duration::from_secs(6)).assert_ok();
    assert!(
        asked.elapsed() < Duration::from_millis(3500),
        "{mode:?}: SIGTERM took {:?} with --flush-timeout 2s",
        asked.elapsed()
    );
    if mode != Mode::AbsurdChunk {
        assert!(
            done.stderr
                .contains("still undelivered at the --flush-timeout deadline"),
            "{mode:?}: {}",
            done.stderr
        );
    }
}

#[test]
fn a_receiver_that_accepts_and_never_answers_delays_nothing() {
    nothing_waits_for(Mode::Stall);
}

#[test]
fn a_receiver_that_trickles_a_byte_a_second_delays_nothing() {
    nothing_waits_for(Mode::Trickle);
}

#[test]
fn a_receiver_claiming_an_absurd_chunk_size_delays_nothing() {
    nothing_waits_for(Mode::AbsurdChunk);
}
