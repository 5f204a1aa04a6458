//! HTTP(S) outputs: batches of newline-delimited JSON, the Splunk HEC envelope and its token,
//! and TLS checked against the receiver's CA.

use std::time::Duration;

use super::collectors::{wait_until, HttpReceiver, Mode, TempDir, TlsPeer};
use crate::harness::{self, Exitwatch, Victim, EVENT_TIMEOUT};

#[test]
fn http_posts_hec_envelopes_with_the_splunk_token() {
    let dir = TempDir::new("hec");
    let token = dir.join("hec.token");
    std::fs::write(&token, "5e1f-hec-token\n").unwrap();
    let hec = HttpReceiver::start(Mode::Ok);
    let victim = Victim::spawn(&[]);
    let ew = Exitwatch::start_env(
        &[
            "--pid",
            &victim.pid_arg(),
            "--format",
            "json",
            "-o",
            &hec.url("/services/collector/event?hec=1&index=security"),
            "--http-token-file",
            token.to_str().unwrap(),
        ],
        &[("NODE_NAME", "siem-node-2")],
    );
    harness::send("KILL", victim.pid, 1);
    ew.wait_exit(EVENT_TIMEOUT).assert_ok();
    let requests = hec.requests();
    assert!(!requests.is_empty(), "no request reached the receiver");
    for r in &requests {
        assert_eq!(r.line, "POST /services/collector/event HTTP/1.1");
        assert_eq!(r.header("Authorization"), Some("Splunk 5e1f-hec-token"));
        assert_eq!(r.header("Content-Type"), Some("application/json"));
    }
    let envelopes = hec.lines();
    let kinds: Vec<_> = envelopes
        .iter()
        .map(|e| e["event"]["event"].clone())
        .collect();
    assert_eq!(kinds, ["signal", "exit"], "{envelopes:#?}");
    for e in &envelopes {
        let keys: Vec<_> = e.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 5, "time, host, sourcetype, index, event: {e}");
        assert_eq!(e["host"], "siem-node-2");
        assert_eq!(e["sourcetype"], "exitwatch");
        assert_eq!(e["index"], "security");
        assert_eq!(e["event"]["target"]["pid"], victim.pid);
        // `time` is the event's own time, in seconds.
        let secs = e["time"].as_f64().expect("time is a number");
        let event_time = e["event"]["time"].as_str().unwrap();
        assert!(
            event_time.starts_with(&rfc3339_seconds(secs as i64)),
            "{secs} vs {event_time}"
        );
    }
}

/// "YYYY-MM-DDTHH:MM:SS" of a Unix time, with `date`.
fn rfc3339_seconds(secs: i64) -> String {
    let out = harness::run(std::process::Command::new("date").args([
        "-u",
        "-d",
        &format!("@{secs}"),
        "+%Y-%m-%dT%H:%M:%S",
    ]));
    out.trim().to_owned()
}

#[test]
fn http_posts_ndjson_with_a_bearer_token_from_the_environment() {
    let rx = HttpReceiver::start(Mode::Ok);
    let mut victim = Victim::spawn(&["--handle", "USR1"]);
    let mut ew = Exitwatch::start_env(
        &[
            "--pid",
            &victim.pid_arg(),
            "-s",
            "USR1",
            "--format",
            "ecs",
            "-o",
            "stdout",
            "-o",
            &rx.url("/ingest"),
            "--http-batch-size",
            "3",
            "--http-batch-wait",
            "300ms",
        ],
        &[("EXITWATCH_HTTP_TOKEN", "env-token-42")],
    );
    harness::send("USR1", victim.pid, 7);
    victim.expect_line("caught 10");
    for _ in 0..7 {
        ew.wait_json(EVENT_TIMEOUT, |_| true);
    }
    assert!(
        wait_until(Duration::from_secs(5), || rx.lines().len() == 7),
        "the receiver got {} of 7 events",
        rx.lines().len()
    );
    let requests = rx.requests();
    assert!(
        requests.len() >= 3,
        "7 events in batches of 3 at most: {requests:#?}"
    );
    for r in &requests {
        assert_eq!(r.line, "POST /ingest HTTP/1.1");
        assert_eq!(r.header("Authorization"), Some("Bearer env-token-42"));
        assert_eq!(r.header("Content-Type"), Some("application/x-ndjson"));
        assert!(r.lines().len() <= 3);
    }
    // The lines are the events themselves, as --format renders them (ECS here).
    for line in rx.lines() {
        assert_eq!(line["event"]["action"], "signal-sent", "{line}");
        assert!(
            line.to_string()
                .contains(&format!("\"pid\":{}", victim.pid)),
            "{line}"
        );
    }
    ew.stop().assert_ok();
}

#[test]
fn https_checks_the_receiver_against_the_given_ca() {
    let dir = TempDir::new("https");
    let mut peer = TlsPeer::start(&dir.0);
    let token = dir.join("token");
    std::fs::write(&token, "tls-token").unwrap();
    let victim = Victim::spawn(&[]);
    let ew = Exitwatch::start(&[
        "--pid",
        &victim.pid_arg(),
        "--format",
        "json",
        "-o",
        &format!(
            "https://127.0.0.1:{}/services/collector/event?hec=1",
            peer.port
        ),
        "--http-token-file",
        token.to_str().unwrap(),
        "--http-ca-file",
        peer.ca.to_str().unwrap(),
        "--http-batch-wait",
        "200ms",
    ]);
    harness::send("KILL", victim.pid, 1);
    // OpenSSL decrypted the request: answer it through the same TLS session.
    assert!(
        wait_until(EVENT_TIMEOUT, || peer
            .received()
            .contains("\"event\":\"exit\"")),
        "s_server received:\n{}",
        peer.received()
    );
    peer.answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let done = ew.wait_exit(EVENT_TIMEOUT).assert_ok();
    assert!(!done.stderr.contains("undelivered"), "{}", done.stderr);
    let received = peer.received();
    assert!(
        received.starts_with("POST /services/collector/event HTTP/1.1\r\n"),
        "{received}"
    );
    assert!(
        received.contains("\r\nAuthorization: Splunk tls-token\r\n"),
        "{received}"
    );
    assert!(
        received.contains(&format!("\"pid\":{}", victim.pid)),
        "{received}"
    );
}
