//! Outputs that misbehave: a receiver that fails or hangs holds back neither stdout nor the
//! other outputs; its drops and retries are counted; one that recovers gets what it missed;
//! SIGTERM waits for a slow one; files rotate and keep only so many.

use std::time::{Duration, Instant};

use super::collectors::{wait_until, HttpReceiver, Mode, TempDir};
use super::{free_port, get, metric, metric_sum};
use crate::harness::{self, Exitwatch, Victim, EVENT_TIMEOUT};

/// exitwatch reporting, as JSON, the SIGUSR1s sent to `victim` (which handles them), with `rest`.
fn watch_usr1(victim: &Victim, rest: &[&str]) -> Exitwatch {
    let pid = victim.pid_arg();
    let mut args = vec!["--pid", &pid, "-s", "USR1", "--format", "json"];
    args.extend_from_slice(rest);
    Exitwatch::start(&args)
}

#[test]
fn a_failing_and_a_hanging_receiver_hold_back_nothing_else() {
    let dir = TempDir::new("backpressure");
    let failing = HttpReceiver::start(Mode::Fail);
    let hanging = HttpReceiver::start(Mode::Hang);
    let mut victim = Victim::spawn(&["--handle", "USR1"]);
    let port = free_port();
    let file = dir.join("events.log");
    let (fail_url, hang_url) = (failing.url("/"), hanging.url("/"));
    let mut ew = watch_usr1(
        &victim,
        &[
            "-o",
            "stdout",
            "-o",
            &format!("file://{}", file.display()),
            // Small queues for the bad receivers only: stdout and the file keep the default.
            "-o",
            &format!("{fail_url}?queue_size=5"),
            "-o",
            &format!("{hang_url}?queue_size=5"),
            "--http-batch-size",
            "2",
            "--http-batch-wait",
            "100ms",
            "--http-timeout",
            "1s",
            "--flush-timeout",
            "1s",
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ],
    );
    let sent = Instant::now();
    harness::send("USR1", victim.pid, 30);
    for _ in 0..30 {
        ew.wait_json(EVENT_TIMEOUT, |v| v["event"] == "signal");
    }
    let took = sent.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "stdout took {took:?} for 30 events"
    );
    victim.expect_line("caught 10");
    assert!(
        wait_until(Duration::from_secs(3), || std::fs::read_to_string(&file)
            .is_ok_and(|t| t.lines().count() == 30)),
        "the file output did not get all 30 events"
    );

    // Each bad receiver holds at most a batch and a queue; the rest is dropped and counted.
    for (url, retried_within) in [(&fail_url, 3), (&hang_url, 5)] {
        let label = format!("sink=\"{url}\"");
        let series = |name: &str| format!("exitwatch_{name}{{{label}}}");
        assert!(
            wait_until(Duration::from_secs(retried_within), || metric(
                port,
                &series("sink_retries_total")
            ) >= Some(1)),
            "{url} was never retried:\n{}",
            get(port, "/metrics").1
        );
        let dropped = metric(port, &series("sink_dropped_total")).unwrap();
        let held = metric(port, &series("sink_queue_length")).unwrap();
        assert!(dropped >= 23, "{url}: dropped {dropped}");
        assert_eq!(dropped + held, 30, "{url}: dropped {dropped}, holds {held}");
        assert_eq!(metric(port, &series("sink_sent_total")), Some(0));
    }
    for good in ["stdout".to_owned(), format!("file://{}", file.display())] {
        let series = |name: &str| format!("exitwatch_{name}{{sink=\"{good}\"}}");
        assert_eq!(metric(port, &series("sink_sent_total")), Some(30), "{good}");
        assert_eq!(
            metric(port, &series("sink_dropped_total")),
            Some(0),
            "{good}"
        );
    }
    assert_eq!(
        metric_sum(
            port,
            "exitwatch_events_total",
            "kind=\"signal\",signal=\"SIGUSR1\""
        ),
        30
    );
    assert_eq!(get(port, "/healthz"), (200, "ok\n".to_owned()));

    // They never deliver: SIGTERM waits out --flush-timeout, says what was lost, exits 0.
    let asked = Instant::now();
    // SAFETY: plain syscall on our own child.
    unsafe { libc::kill(ew.pid() as i32, libc::SIGTERM) };
    let done = ew.wait_exit(Duration::from_secs(5)).assert_ok();
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "took {:?}",
        asked.elapsed()
    );
    for url in [&fail_url, &hang_url] {
        assert!(
            done.stderr.contains(&format!("output {url}: ")),
            "{}",
            done.stderr
        );
        assert!(
            done.stderr
                .contains("still undelivered at the --flush-timeout deadline"),
            "{}",
            done.stderr
        );
    }
    assert!(done.stderr.contains("dropped"), "{}", done.stderr);
    assert!(
        failing.requests().len() >= 2,
        "the failing receiver was tried again"
    );
}

#[test]
fn a_receiver_that_recovers_gets_what_it_missed() {
    let rx = HttpReceiver::start(Mode::Fail);
    let victim = Victim::spawn(&["--handle", "USR1"]);
    let port = free_port();
    let url = rx.url("/bulk");
    let ew = watch_usr1(
        &victim,
        &[
            "-o",
            &url,
            "--http-batch-wait",
            "100ms",
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ],
    );
    harness::send("USR1", victim.pid, 5);
    let retries = format!("exitwatch_sink_retries_total{{sink=\"{url}\"}}");
    assert!(wait_until(Duration::from_secs(5), || metric(
        port, &retries
    ) >= Some(2)));
    rx.set_mode(Mode::Ok);
    // Backoff is 250 ms doubling: the next try comes within a couple of seconds.
    assert!(
        wait_until(Duration::from_secs(10), || rx.lines().len() == 5),
        "after recovery the receiver has {} of 5 events",
        rx.lines().len()
    );
    let sent = format!("exitwatch_sink_sent_total{{sink=\"{url}\"}}");
    assert_eq!(metric(port, &sent), Some(5));
    assert_eq!(
        metric(
            port,
            &format!("exitwatch_sink_dropped_total{{sink=\"{url}\"}}")
        ),
        Some(0)
    );
    let done = ew.stop().assert_ok();
    assert!(
        done.stderr.contains("the receiver answered 500: boom"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("delivering again after"),
        "{}",
        done.stderr
    );
}

#[test]
fn sigterm_flushes_what_a_slow_receiver_still_holds() {
    let slow = HttpReceiver::start(Mode::Slow);
    let victim = Victim::spawn(&["--handle", "USR1"]);
    let mut ew = watch_usr1(
        &victim,
        &[
            "-o",
            "stdout",
            "-o",
            &slow.url("/"),
            // One event per request at 300 ms each: 10 events take 3 s.
            "--http-batch-size",
            "1",
            "--flush-timeout",
            "20s",
        ],
    );
    harness::send("USR1", victim.pid, 10);
    let ids: Vec<String> = (0..10)
        .map(|_| {
            ew.wait_json(EVENT_TIMEOUT, |v| v["event"] == "signal")["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let before = slow.lines().len();
    assert!(
        before < 10,
        "the slow receiver already had everything: no test"
    );
    // SAFETY: plain syscall on our own child.
    unsafe { libc::kill(ew.pid() as i32, libc::SIGTERM) };
    let done = ew.wait_exit(Duration::from_secs(20)).assert_ok();
    let got: Vec<String> = slow
        .lines()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, ids, "stderr:\n{}", done.stderr);
}

#[test]
fn file_output_rotates_and_keeps_so_many_files() {
    let dir = TempDir::new("rotate");
    let path = dir.join("events.log");
    let victim = Victim::spawn(&["--handle", "USR1"]);
    let mut ew = watch_usr1(
        &victim,
        &[
            "-o",
            "stdout",
            "-o",
            &format!("file://{}?max_size=4K&keep=2", path.display()),
        ],
    );
    harness::send("USR1", victim.pid, 20);
    let mut lines = Vec::new();
    for _ in 0..20 {
        lines.push(
            ew.wait_json(EVENT_TIMEOUT, |v| v["event"] == "signal")
                .to_string(),
        );
    }
    ew.stop().assert_ok();
    let rotated = |n: u32| dir.join(&format!("events.log.{n}"));
    assert!(!rotated(3).exists(), "only two rotated files are kept");
    let mut kept = String::new();
    for f in [rotated(2), rotated(1), path.clone()] {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(
            text.len() <= 4096,
            "{} is {} bytes",
            f.display(),
            text.len()
        );
        assert!(!text.is_empty(), "{} is empty", f.display());
        kept.push_str(&text);
    }
    // Oldest first, the kept files hold the newest events, whole and in order.
    let kept: Vec<String> = kept
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(kept.len() < 20);
    assert_eq!(kept[..], lines[20 - kept.len()..]);
}
