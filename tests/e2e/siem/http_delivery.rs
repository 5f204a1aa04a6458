//! What HTTP receivers say back: 413 splits batches, 401 re-reads the output's token file,
//! interim 1xx answers are skipped, gzip'd bodies; a token never goes in clear over the network.

use std::time::Duration;

use super::collectors::{wait_until, HttpReceiver, Mode, TempDir};
use super::{free_port, metric};
use crate::harness::{self, run_exitwatch, Exitwatch, Victim};

/// exitwatch reporting, as JSON, the SIGUSR1s sent to `victim`, with `rest`.
fn watch_usr1(victim: &Victim, rest: &[&str], env: &[(&str, &str)]) -> Exitwatch {
    let pid = victim.pid_arg();
    let mut args = vec!["--pid", &pid, "-s", "USR1", "--format", "json"];
    args.extend_from_slice(rest);
    Exitwatch::start_env(&args, env)
}

fn series(port: u16, name: &str, url: &str) -> Option<u64> {
    metric(port, &format!("exitwatch_{name}{{sink=\"{url}\"}}"))
}

#[test]
fn a_413_splits_the_batch_until_the_receiver_takes_it() {
    let rx = HttpReceiver::start(Mode::Ok);
    rx.refuse_bodies_over(3000);
    // A receiver that takes no event at all: each is dropped alone, and counted.
    let tiny = HttpReceiver::start(Mode::Ok);
    tiny.refuse_bodies_over(10);
    let victim = Victim::spawn(&["--handle", "USR1"]);
    let port = free_port();
    let ew = watch_usr1(
        &victim,
        &[
            "-o",
            &rx.url("/in"),
            "-o",
            &tiny.url("/in"),
            "--http-batch-size",
            "16",
            "--http-batch-wait",
            "1s",
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ],
        &[],
    );
    harness::send("USR1", victim.pid, 12);
    assert!(
        wait_until(Duration::from_secs(10), || rx.lines().len() == 12),
        "the receiver took {} of 12 events: {:#?}",
        rx.lines().len(),
        rx.requests()
            .iter()
            .map(|r| (r.status, r.body.len()))
            .collect::<Vec<_>>()
    );
    let requests = rx.requests();
    assert!(
        requests.iter().any(|r| r.status == 413),
        "no 413 was needed"
    );
    for r in requests.iter().filter(|r| r.status == 200) {
        assert!(r.body.len() <= 3000, "{} bytes taken", r.body.len());
    }
    // In order, each once.
    let ids: Vec<_> = rx.lines().iter().map(|l| l["id"].clone()).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), 12);
    assert!(wait_until(Duration::from_secs(10), || series(
        port,
        "sink_dropped_total",
        &tiny.url("/in")
    ) == Some(12)));
    assert_eq!(series(port, "sink_sent_total", &rx.url("/in")), Some(12));
    assert_eq!(series(port, "sink_dropped_total", &rx.url("/in")), Some(0));
    let done = ew.stop().assert_ok();
    assert!(
        done.stderr.contains("the receiver answered 413: too big"),
        "{}",
        done.stderr
    );
}

#[test]
fn a_401_rereads_the_outputs_token_file_and_delivers_with_the_new_token() {
    let dir = TempDir::new("rotate-token");
    let token = dir.join("siem.token");
    std::fs::write(&token, "old-token-1\n").unwrap();
    let rx = HttpReceiver::start(Mode::Ok);
    rx.require_authorization("Bearer new-token-2");
    // The other output keeps the global token.
    let other = HttpReceiver::start(Mode::Ok);
    other.require_authorization("Bearer global-token-0");
    let victim = Victim::spawn(&["--handle", "USR1"]);
    let port = free_port();
    let url = rx.url(&format!("/in?token_file={}", token.display()));
    let label = rx.url("/in");
    let ew = watch_usr1(
        &victim,
        &[
            "-o",
            &url,
            "-o",
            &other.url("/in"),
            "--http-batch-wait",
            "100ms",
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ],
        &[("EXITWATCH_HTTP_TOKEN", "global-token-0")],
    );
    harness::send("USR1", victim.pid, 3);
    assert!(
        wait_until(Duration::from_secs(5), || rx
            .requests()
            .iter()
            .filter(|r| r.status == 401)
            .count()
            >= 2),
        "the receiver did not refuse the old token twice: {:?}",
        rx.requests()
    );
    assert!(wait_until(Duration::from_secs(5), || other.lines().len() == 3));
    assert_eq!(rx.lines().len(), 0);
    assert!(series(port, "sink_retries_total", &label) >= Some(2));
    std::fs::write(&token, "new-token-2\n").unwrap();
    assert!(
        wait_until(Duration::from_secs(15), || rx.lines().len() == 3),
        "after the token file changed the receiver has {} of 3 events",
        rx.lines().len()
    );
    assert_eq!(series(port, "sink_dropped_total", &label), Some(0));
    let done = ew.stop().assert_ok();
    assert!(
        done.stderr.contains("the receiver answered 401"),
        "{}",
        done.stderr
    );
    for secret in ["old-token-1", "new-token-2", "global-token-0"] {
        assert!(!done.stderr.contains(secret), "{}", done.stderr);
    }
}

#[test]
fn interim_1xx_answers_are_skipped_and_gzip_bodies_arrive_whole() {
    let interim = HttpReceiver::start(Mode::Interim);
    let gz = HttpReceiver::start(Mode::Ok);
    let victim = Victim::spawn(&["--handle", "USR1"]);
    let port = free_port();
    let ew = watch_usr1(
        &victim,
        &[
            "-o",
            &interim.url("/in"),
            "-o",
            &gz.url("/in?compression=gzip"),
            "--http-batch-size",
            "2",
            "--http-batch-wait",
            "100ms",
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ],
        &[],
    );
    harness::send("USR1", victim.pid, 5);
    assert!(wait_until(Duration::from_secs(5), || interim.lines().len()
        == 5
        && gz.lines().len() == 5));
    assert_eq!(
        series(port, "sink_retries_total", &interim.url("/in")),
        Some(0),
        "a 100 or 103 is no answer to retry on"
    );
    assert_eq!(
        series(port, "sink_sent_total", &interim.url("/in")),
        Some(5)
    );
    for r in gz.requests() {
        assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    }
    for r in interim.requests() {
        assert_eq!(r.header("Content-Encoding"), None);
    }
    let plain: Vec<_> = interim.lines().iter().map(|l| l["id"].clone()).collect();
    let inflated: Vec<_> = gz.lines().iter().map(|l| l["id"].clone()).collect();
    assert_eq!(plain, inflated);
    ew.stop().assert_ok();
}

#[test]
fn a_token_is_refused_for_plain_http_beyond_loopback() {
    let dir = TempDir::new("cleartext-token");
    let token = dir.join("t");
    std::fs::write(&token, "cleartext-secret-9\n").unwrap();
    let t = token.to_str().unwrap();
    let own = format!("http://192.0.2.10:8080/in?token_file={t}");
    for args in [
        vec!["-o", "http://192.0.2.10:8080/in", "--http-token-file", t],
        vec!["-o", &own],
        vec!["-o", "http://siem.example/in?hec=1", "--http-token-file", t],
    ] {
        let args = [&["--format", "json"], &args[..]].concat();
        let done = run_exitwatch(&[], &args);
        assert_eq!(done.code(), Some(64), "{args:?}: {}", done.stderr);
        assert!(done.stderr.contains("use https://"), "{}", done.stderr);
        assert!(
            !done.stderr.contains("cleartext-secret-9"),
            "{}",
            done.stderr
        );
    }
}
