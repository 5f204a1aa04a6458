//! Syslog outputs received by a real rsyslogd: RFC 5424 fields as rsyslog parses them, RFC 6587
//! octet counting over TCP, one datagram per event over UDP, cut to the configured size, and
//! RFC 5425 over TLS (rsyslog's gtls driver): the receiver's certificate checked, restarts survived.

use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;

use serde_json::Value;

use super::collectors::{wait_until, Certs, Rsyslog, Syslog, TempDir};
use super::{free_port, get, metric};
use crate::harness::{self, Exitwatch, Victim, EVENT_TIMEOUT};

fn json(m: &Syslog) -> Value {
    serde_json::from_str(&m.msg).unwrap_or_else(|e| panic!("not a whole JSON event ({e}): {m:#?}"))
}

#[test]
fn syslog_over_tcp_and_udp_reaches_rsyslog_as_rfc5424() {
    let dir = TempDir::new("syslog");
    let rsyslog = Rsyslog::start(&dir.0);
    let victim = Victim::spawn(&["--handle", "USR1"]);
    let metrics = free_port();
    let tcp = format!("syslog+tcp://127.0.0.1:{}", rsyslog.tcp);
    let udp = format!("syslog+udp://127.0.0.1:{}?facility=local3", rsyslog.udp);
    let cut = format!("syslog+udp://127.0.0.1:{}?max_size=480", rsyslog.udp2);
    let ew = Exitwatch::start_env(
        &[
            "--pid",
            &victim.pid_arg(),
            "-s",
            "USR1,KILL",
            "--format",
            "json",
            "-o",
            &tcp,
            "-o",
            &udp,
            "-o",
            &cut,
            "--metrics-addr",
            &format!("127.0.0.1:{metrics}"),
        ],
        &[("NODE_NAME", "siem-node-1")],
    );
    harness::send("USR1", victim.pid, 1);
    let got = rsyslog.wait_for(|m| {
        ["imtcp", "imudp", "imudp2"]
            .iter()
            .all(|input| m.iter().any(|x| x.input == *input && x.msgid == "signal"))
    });
    for m in got.iter().filter(|m| m.input != "imudp2") {
        assert_eq!(
            (m.version.as_str(), m.app.as_str(), m.hostname.as_str()),
            ("1", "exitwatch", "siem-node-1"),
            "{m:#?}"
        );
        assert_eq!(m.procid, ew.pid().to_string());
        // A handled USR1 kills nothing: a notice.
        assert_eq!(m.severity, "notice", "{m:#?}");
        let ev = json(m);
        assert_eq!(ev["event"], "signal");
        assert_eq!(ev["signal"]["name"], "SIGUSR1");
        assert_eq!(ev["target"]["pid"], victim.pid);
        assert_eq!(ev["node"], "siem-node-1");
    }
    let facility = |input: &str| {
        got.iter()
            .find(|m| m.input == input)
            .unwrap()
            .facility
            .clone()
    };
    assert_eq!(facility("imtcp"), "daemon");
    assert_eq!(facility("imudp"), "local3");
    // The 480-byte datagram holds the header and the start of the event.
    let cut_msg = &got.iter().find(|m| m.input == "imudp2").unwrap().msg;
    assert!(
        cut_msg.starts_with("{\"schema\":\"exitwatch.v1\""),
        "{cut_msg}"
    );
    assert!(cut_msg.len() < 480 && serde_json::from_str::<Value>(cut_msg).is_err());
    let truncated = format!(
        "exitwatch_sink_truncated_total{{sink=\"syslog+udp://127.0.0.1:{}\"}}",
        rsyslog.udp2
    );
    assert_eq!(metric(metrics, &truncated), Some(1));

    // SIGKILL ends the watched process, and with it exitwatch, which delivers before exiting.
    harness::send("KILL", victim.pid, 1);
    ew.wait_exit(EVENT_TIMEOUT).assert_ok();
    let got = rsyslog.wait_for(|m| {
        ["imtcp", "imudp"]
            .iter()
            .all(|input| m.iter().any(|x| x.input == *input && x.msgid == "exit"))
    });
    for input in ["imtcp", "imudp"] {
        let of = |kind: &str| -> Vec<&Syslog> {
            got.iter()
                .filter(|m| m.input == input && m.msgid == kind)
                .collect()
        };
        let kills: Vec<_> = of("signal")
            .into_iter()
            .filter(|m| json(m)["signal"]["name"] == "SIGKILL")
            .collect();
        assert_eq!(kills.len(), 1, "{input}: {got:#?}");
        assert_eq!(kills[0].severity, "warning");
        let exits = of("exit");
        assert_eq!(exits.len(), 1, "{input}: {got:#?}");
        assert_eq!(exits[0].severity, "info");
        assert_eq!(json(exits[0])["exit"]["code"], 137);
    }
}

#[test]
fn syslog_over_tls_reaches_rsyslog_and_survives_its_restart() {
    let dir = TempDir::new("syslog-tls");
    let certs = Certs::issue(&dir.0, "rsyslog");
    let mut rsyslog = Rsyslog::start_tls(&dir.0, &certs);
    let victim = Victim::spawn(&["--handle", "USR1"]);
    let tls = format!("syslog+tls://127.0.0.1:{}?facility=local0", rsyslog.tcp);
    let ew = Exitwatch::start_env(
        &[
            "--pid",
            &victim.pid_arg(),
            "-s",
            "USR1,KILL",
            "--format",
            "json",
            "-o",
            &tls,
            "--ca-file",
            certs.ca.to_str().unwrap(),
        ],
        &[("NODE_NAME", "siem-node-tls")],
    );
    let signals = |m: &[Syslog]| m.iter().filter(|x| x.msgid == "signal").count();
    harness::send("USR1", victim.pid, 1);
    let got = rsyslog.wait_for(|m| signals(m) == 1);
    let m = &got[0];
    assert_eq!(
        (
            m.input.as_str(),
            m.version.as_str(),
            m.app.as_str(),
            m.hostname.as_str(),
            m.facility.as_str(),
            m.severity.as_str(),
            m.sd.as_str()
        ),
        (
            "imtcp",
            "1",
            "exitwatch",
            "siem-node-tls",
            "local0",
            "notice",
            "-"
        ),
        "{m:#?}"
    );
    assert_eq!(m.procid, ew.pid().to_string());
    let ev = json(m);
    assert_eq!(ev["signal"]["name"], "SIGUSR1");
    assert_eq!(ev["target"]["pid"], victim.pid);

    // rsyslogd dies and comes back on the same port: what happened meanwhile, and after, arrives.
    rsyslog.restart(|| {
        harness::send("USR1", victim.pid, 1);
        std::thread::sleep(Duration::from_millis(300));
    });
    rsyslog.wait_for(|m| signals(m) == 2);
    harness::send("USR1", victim.pid, 1);
    rsyslog.wait_for(|m| signals(m) == 3);

    harness::send("KILL", victim.pid, 1);
    ew.wait_exit(EVENT_TIMEOUT).assert_ok();
    let got = rsyslog.wait_for(|m| m.iter().any(|x| x.msgid == "exit"));
    let exits: Vec<_> = got.iter().filter(|m| m.msgid == "exit").collect();
    assert_eq!(exits.len(), 1, "{got:#?}");
    assert_eq!(json(exits[0])["exit"]["code"], 137);
    assert_eq!(
        signals(&got),
        4,
        "three SIGUSR1 and the SIGKILL, once each: {got:#?}"
    );
}

#[test]
fn syslog_over_tls_refuses_a_certificate_from_another_ca_and_never_sends_in_clear() {
    let dir = TempDir::new("syslog-tls-ca");
    let certs = Certs::issue(&dir.0, "rsyslog");
    let other = Certs::issue(&dir.0, "other");
    let rsyslog = Rsyslog::start_tls(&dir.0, &certs);
    // A plain TCP listener: whatever exitwatch writes to it is kept.
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    let mut victim = Victim::spawn(&["--handle", "USR1"]);
    let metrics = free_port();
    let (to_rsyslog, to_plain) = (
        format!("syslog+tls://127.0.0.1:{}", rsyslog.tcp),
        format!("syslog+tls://127.0.0.1:{plain_port}"),
    );
    let mut ew = Exitwatch::start(&[
        "--pid",
        &victim.pid_arg(),
        "-s",
        "USR1",
        "--format",
        "json",
        "-o",
        "stdout",
        "-o",
        &format!("{to_rsyslog}?queue_size=3"),
        "-o",
        &to_plain,
        // Trusts only the other CA: rsyslog's certificate does not chain to it.
        "--ca-file",
        other.ca.to_str().unwrap(),
        "--flush-timeout",
        "1s",
        "--metrics-addr",
        &format!("127.0.0.1:{metrics}"),
    ]);
    harness::send("USR1", victim.pid, 10);
    for _ in 0..10 {
        ew.wait_json(EVENT_TIMEOUT, |v| v["event"] == "signal");
    }
    victim.expect_line("caught 10");
    let series = |name: &str| format!("exitwatch_{name}{{sink=\"{to_rsyslog}\"}}");
    assert!(
        wait_until(Duration::from_secs(5), || metric(
            metrics,
            &series("sink_retries_total")
        ) >= Some(2)),
        "never retried:\n{}",
        get(metrics, "/metrics").1
    );
    let dropped = metric(metrics, &series("sink_dropped_total")).unwrap();
    let held = metric(metrics, &series("sink_queue_length")).unwrap();
    // Held: the chunk being retried (what had arrived when it was framed) and a queue of 3; the
    // rest dropped. How many went in the chunk is timing: every event is one or the other.
    assert!(held >= 1, "holds {held}");
    assert_eq!(dropped + held, 10, "dropped {dropped}, holds {held}");
    assert_eq!(metric(metrics, &series("sink_sent_total")), Some(0));

    // What the plain listener got: a TLS ClientHello (record type 22), no event.
    let (mut conn, _) = plain.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut bytes = Vec::new();
    let _ = conn.read_to_end(&mut bytes);
    assert_eq!(bytes.first(), Some(&0x16), "not a TLS handshake: {bytes:?}");
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains("SIGUSR1") && !text.contains("exitwatch"),
        "{text}"
    );

    let done = ew.stop();
    assert!(
        done.stderr
            .contains(&format!("output {to_rsyslog}: TLS handshake"))
            && done.stderr.contains("certificate"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("still undelivered"), "{}", done.stderr);
    assert!(rsyslog.messages().is_empty(), "{:#?}", rsyslog.messages());
}
