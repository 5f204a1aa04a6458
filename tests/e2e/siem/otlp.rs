//! OTLP outputs against a collector built on the official OTLP definitions: a real kill
//! arrives as a LogRecord with the semantic-convention attributes, UNAVAILABLE with RetryInfo
//! is retried until everything is delivered, a partial success is counted as dropped, and an
//! unreachable collector holds back no other output; OTLP/HTTP posts the same records as
//! protobuf to /v1/logs, gzip'd when asked, and a refusal is counted.

use std::time::Duration;

use super::collectors::otlp::{attr, decode_export, records, Answers, OtlpCollector};
use super::collectors::{free_tcp_port, wait_until, Certs, HttpReceiver, Mode, TempDir, TlsFront};
use super::{free_port, get, metric};
use crate::harness::{self, Exitwatch, Victim, EVENT_TIMEOUT};

#[test]
fn otlp_carries_a_real_kill_as_a_log_record() {
    let collector = OtlpCollector::start(Answers::default());
    let victim = Victim::spawn(&[]);
    let ew = Exitwatch::start_env(
        &[
            "--pid",
            &victim.pid_arg(),
            "-o",
            &collector.url(),
            "--http-batch-wait",
            "100ms",
        ],
        &[("NODE_NAME", "otlp-node-1")],
    );
    harness::send("KILL", victim.pid, 1);
    let done = ew.wait_exit(EVENT_TIMEOUT).assert_ok();
    assert!(!done.stderr.contains("undelivered"), "{}", done.stderr);
    let requests = collector.requests();
    assert!(!requests.is_empty(), "no export reached the collector");
    for r in &requests {
        let resource = r.resource_logs[0].resource.as_ref().expect("a resource");
        let a = &resource.attributes;
        assert_eq!(attr(a, "service.name").as_deref(), Some("exitwatch"));
        assert!(attr(a, "service.version").is_some());
        assert_eq!(attr(a, "host.name").as_deref(), Some("otlp-node-1"));
        assert_eq!(attr(a, "k8s.node.name").as_deref(), Some("otlp-node-1"));
        let scope = r.resource_logs[0].scope_logs[0].scope.as_ref().unwrap();
        assert_eq!(scope.name, "exitwatch");
    }
    let records = collector.records();
    let names: Vec<_> = records.iter().map(|r| r.event_name.as_str()).collect();
    assert_eq!(
        names,
        ["exitwatch.signal", "exitwatch.exit"],
        "{records:#?}"
    );
    let (kill, exit) = (&records[0], &records[1]);
    let a = &kill.attributes;
    let pid = victim.pid.to_string();
    assert_eq!(attr(a, "process.pid"), Some(pid.clone()));
    assert_eq!(
        attr(a, "process.executable.name").as_deref(),
        Some("victim")
    );
    assert_eq!(attr(a, "exitwatch.signal.number").as_deref(), Some("9"));
    assert_eq!(attr(a, "exitwatch.signal.name").as_deref(), Some("SIGKILL"));
    assert_eq!(
        attr(a, "exitwatch.signal.result").as_deref(),
        Some("delivered")
    );
    assert_eq!(attr(a, "exitwatch.exit_code").as_deref(), Some("137"));
    assert_eq!(attr(a, "exitwatch.sender.comm").as_deref(), Some("victim"));
    let cmdline = attr(a, "exitwatch.sender.command_line").unwrap_or_default();
    assert!(
        cmdline.ends_with(&format!("send KILL {pid} 1")),
        "{cmdline}"
    );
    assert!(attr(a, "exitwatch.sender.executable.path").is_some_and(|p| p.ends_with("/victim")));
    assert_eq!(attr(a, "exitwatch.sender.user.id").as_deref(), Some("0"));
    assert_eq!(kill.severity_text, "WARN");
    assert_eq!(kill.severity_number, 13);
    let body = format!("{:?}", kill.body);
    assert!(body.contains("SIGKILL from victim("), "{body}");
    assert!(body.contains(&format!("to victim({pid})")), "{body}");
    // Event time: when the kernel saw it, close to when the collector did.
    assert!(kill.time_unix_nano > 0);
    let skew = kill.observed_time_unix_nano.abs_diff(kill.time_unix_nano);
    assert!(
        skew < 5_000_000_000,
        "{skew} ns between event and observation"
    );
    let a = &exit.attributes;
    assert_eq!(attr(a, "process.pid"), Some(pid));
    assert_eq!(attr(a, "process.exit.code").as_deref(), Some("137"));
    assert_eq!(
        attr(a, "exitwatch.cause.id"),
        attr(&kill.attributes, "exitwatch.event.id")
    );
    assert_eq!(exit.severity_text, "INFO");
}

#[test]
fn otlp_retries_after_unavailable_and_delivers_everything() {
    let collector = OtlpCollector::start(Answers {
        unavailable: 2,
        retry_delay: Duration::from_millis(300),
        reject: 0,
    });
    let mut victim = Victim::spawn(&["--handle", "USR1"]);
    let port = free_port();
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
        &collector.url(),
        "--http-batch-size",
        "3",
        "--http-batch-wait",
        "100ms",
        "--metrics-addr",
        &format!("127.0.0.1:{port}"),
    ]);
    harness::send("USR1", victim.pid, 7);
    victim.expect_line("caught 10");
    for _ in 0..7 {
        ew.wait_json(EVENT_TIMEOUT, |v| v["event"] == "signal");
    }
    let signals = || {
        collector
            .records()
            .iter()
            .filter(|r| r.event_name == "exitwatch.signal")
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(10), || signals() == 7),
        "the collector got {} of 7 events after {} refusals",
        signals(),
        collector.refused()
    );
    assert_eq!(collector.refused(), 2);
    let label = format!("{{sink=\"otlp://127.0.0.1:{}\"}}", collector.port);
    assert!(
        metric(port, &format!("exitwatch_sink_retries_total{label}")) >= Some(2),
        "{}",
        get(port, "/metrics").1
    );
    assert_eq!(
        metric(port, &format!("exitwatch_sink_dropped_total{label}")),
        Some(0)
    );
    let done = ew.stop();
    assert!(
        done.stderr.contains("UNAVAILABLE") || done.stderr.contains("Unavailable"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("delivering again"), "{}", done.stderr);
}

#[test]
fn otlp_partial_success_counts_the_rejected_as_dropped() {
    let collector = OtlpCollector::start(Answers {
        reject: 1,
        ..Answers::default()
    });
    let mut victim = Victim::spawn(&["--handle", "USR1"]);
    let port = free_port();
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
        &collector.url(),
        "--http-batch-size",
        "100",
        "--http-batch-wait",
        "500ms",
        "--metrics-addr",
        &format!("127.0.0.1:{port}"),
    ]);
    harness::send("USR1", victim.pid, 3);
    victim.expect_line("caught 10");
    for _ in 0..3 {
        ew.wait_json(EVENT_TIMEOUT, |v| v["event"] == "signal");
    }
    let label = format!("{{sink=\"otlp://127.0.0.1:{}\"}}", collector.port);
    let dropped = format!("exitwatch_sink_dropped_total{label}");
    assert!(
        wait_until(Duration::from_secs(5), || metric(port, &dropped) >= Some(1)),
        "{}",
        get(port, "/metrics").1
    );
    let exports = collector.requests().len() as u64;
    assert_eq!(
        metric(port, &dropped),
        Some(exports),
        "one rejected per export"
    );
    let done = ew.stop();
    assert!(done.stderr.contains("rejected 1 of"), "{}", done.stderr);
    assert!(done.stderr.contains("too old"), "{}", done.stderr);
}

#[test]
fn an_unreachable_collector_does_not_stop_a_file_output() {
    let dir = TempDir::new("otlp-dead");
    let file = dir.join("events.log");
    let dead = format!("otlp://127.0.0.1:{}", free_tcp_port());
    let mut victim = Victim::spawn(&["--handle", "USR1"]);
    let ew = Exitwatch::start(&[
        "--pid",
        &victim.pid_arg(),
        "-s",
        "USR1",
        "--format",
        "json",
        "-o",
        &format!("file://{}", file.display()),
        "-o",
        &dead,
        "--http-timeout",
        "1s",
        "--flush-timeout",
        "1s",
    ]);
    harness::send("USR1", victim.pid, 10);
    victim.expect_line("caught 10");
    assert!(
        wait_until(Duration::from_secs(3), || std::fs::read_to_string(&file)
            .is_ok_and(|t| t.lines().count() == 10)),
        "the file output did not get all 10 events: {:?}",
        std::fs::read_to_string(&file)
    );
    let done = ew.stop();
    assert!(
        done.stderr.contains(&format!("output {dead}")),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("cannot connect"), "{}", done.stderr);
}

#[test]
fn otlp_grpc_sends_gzip_when_asked() {
    let collector = OtlpCollector::start(Answers::default());
    let victim = Victim::spawn(&[]);
    let url = format!("{}?compression=gzip", collector.url());
    let ew = Exitwatch::start(&[
        "--pid",
        &victim.pid_arg(),
        "-o",
        &url,
        "--http-batch-wait",
        "100ms",
    ]);
    harness::send("KILL", victim.pid, 1);
    ew.wait_exit(EVENT_TIMEOUT).assert_ok();
    let names: Vec<_> = collector
        .records()
        .iter()
        .map(|r| r.event_name.clone())
        .collect();
    assert_eq!(names, ["exitwatch.signal", "exitwatch.exit"]);
    let encodings = collector.encodings();
    assert!(
        encodings.iter().all(|e| e == "gzip"),
        "grpc-encoding of the exports: {encodings:?}"
    );
}

#[test]
fn otlp_http_posts_protobuf_to_v1_logs_gzipped() {
    let rx = HttpReceiver::start(Mode::Ok);
    let victim = Victim::spawn(&[]);
    let url = format!("otlp+http://127.0.0.1:{}?compression=gzip", rx.port);
    let ew = Exitwatch::start_env(
        &[
            "--pid",
            &victim.pid_arg(),
            "-o",
            &url,
            "--http-batch-wait",
            "100ms",
        ],
        &[("NODE_NAME", "otlp-http-node")],
    );
    harness::send("KILL", victim.pid, 1);
    let done = ew.wait_exit(EVENT_TIMEOUT).assert_ok();
    assert!(!done.stderr.contains("undelivered"), "{}", done.stderr);
    let requests = rx.requests();
    assert!(!requests.is_empty(), "no export reached the receiver");
    for r in &requests {
        assert!(r.line.starts_with("POST /v1/logs HTTP/1.1"), "{}", r.line);
        assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(r.header("content-encoding"), Some("gzip"));
    }
    let exports: Vec<_> = requests.iter().map(|r| decode_export(&r.body)).collect();
    let resource = exports[0].resource_logs[0].resource.clone().unwrap();
    assert_eq!(
        attr(&resource.attributes, "k8s.node.name").as_deref(),
        Some("otlp-http-node")
    );
    let records = records(exports);
    let names: Vec<_> = records.iter().map(|r| r.event_name.as_str()).collect();
    assert_eq!(
        names,
        ["exitwatch.signal", "exitwatch.exit"],
        "{records:#?}"
    );
    let pid = victim.pid.to_string();
    assert_eq!(attr(&records[0].attributes, "process.pid"), Some(pid));
    assert_eq!(
        attr(&records[0].attributes, "exitwatch.signal.name").as_deref(),
        Some("SIGKILL")
    );
}

#[test]
fn otlp_http_refusal_is_dropped_and_counted_not_retried() {
    // 500 is not among OTLP/HTTP's retryable statuses (429, 502, 503, 504).
    let rx = HttpReceiver::start(Mode::Fail);
    let mut victim = Victim::spawn(&["--handle", "USR1"]);
    let port = free_port();
    let url = format!("otlp+http://127.0.0.1:{}", rx.port);
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
        &url,
        "--http-batch-size",
        "100",
        "--http-batch-wait",
        "300ms",
        "--metrics-addr",
        &format!("127.0.0.1:{port}"),
    ]);
    harness::send("USR1", victim.pid, 3);
    victim.expect_line("caught 10");
    for _ in 0..3 {
        ew.wait_json(EVENT_TIMEOUT, |v| v["event"] == "signal");
    }
    let dropped = format!("exitwatch_sink_dropped_total{{sink=\"{url}\"}}");
    assert!(
        wait_until(Duration::from_secs(5), || metric(port, &dropped) == Some(3)),
        "{}",
        get(port, "/metrics").1
    );
    assert_eq!(rx.requests().len(), 1, "a refused export is not sent again");
    let done = ew.stop();
    assert!(
        done.stderr.contains("the collector answered 500"),
        "{}",
        done.stderr
    );
}

#[test]
fn otlps_and_otlp_https_check_the_collector_against_the_ca_file() {
    let dir = TempDir::new("otlps");
    let certs = Certs::issue(&dir.0, "collector");
    let other = Certs::issue(&dir.0, "other");
    let collector = OtlpCollector::start(Answers::default());
    let grpc_front = TlsFront::start(&certs, collector.port);
    let rx = HttpReceiver::start(Mode::Ok);
    let http_front = TlsFront::start(&certs, rx.port);
    let run = |ca: &std::path::Path| {
        let victim = Victim::spawn(&[]);
        let ew = Exitwatch::start(&[
            "--pid",
            &victim.pid_arg(),
            "-o",
            &format!("otlps://127.0.0.1:{}", grpc_front.port),
            "-o",
            &format!("otlp+https://127.0.0.1:{}", http_front.port),
            "--ca-file",
            &ca.display().to_string(),
            "--http-batch-wait",
            "100ms",
            "--flush-timeout",
            "2s",
        ]);
        harness::send("KILL", victim.pid, 1);
        ew.wait_exit(EVENT_TIMEOUT)
    };
    // A collector whose certificate another CA signed gets nothing, in clear or otherwise.
    let refused = run(&other.ca);
    assert!(refused.stderr.contains("certificate"), "{}", refused.stderr);
    assert!(collector.records().is_empty());
    assert!(rx.requests().is_empty());
    // Signed by the given CA: both transports deliver over TLS.
    let done = run(&certs.ca);
    assert!(!done.stderr.contains("undelivered"), "{}", done.stderr);
    let names = |records: Vec<opentelemetry_proto::tonic::logs::v1::LogRecord>| {
        records
            .into_iter()
            .map(|r| r.event_name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(collector.records()),
        ["exitwatch.signal", "exitwatch.exit"]
    );
    let exports = rx
        .requests()
        .iter()
        .map(|r| decode_export(&r.body))
        .collect::<Vec<_>>();
    assert_eq!(
        names(records(exports)),
        ["exitwatch.signal", "exitwatch.exit"]
    );
}
