//! Syslog outputs received by a real rsyslogd: RFC 5424 fields as rsyslog parses them, RFC 6587
//! octet counting over TCP, one datagram per event over UDP, cut to the configured size.

use serde_json::Value;

use super::collectors::{Rsyslog, Syslog, TempDir};
use super::{free_port, metric};
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
