use super::*;

const DEFAULTS: Defaults = Defaults {
    queue_size: 100,
    queue_bytes: 1 << 20,
    rotation: Rotation {
        max_size: 100 << 20,
        keep: 5,
    },
    udp_max_size: 8192,
};

fn ok(url: &str) -> SinkSpec {
    parse(url, &DEFAULTS)
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .spec
}

fn err(url: &str) -> SpecError {
    parse(url, &DEFAULTS).expect_err(url)
}

#[test]
fn stdout_by_name_or_dash() {
    assert_eq!(ok("stdout"), SinkSpec::Stdout);
    assert_eq!(ok("-"), SinkSpec::Stdout);
}

#[test]
fn file_urls_take_rotation_from_the_query_or_the_flags() {
    assert_eq!(
        ok("file:///var/log/exitwatch/events.log"),
        SinkSpec::File {
            path: "/var/log/exitwatch/events.log".into(),
            rotation: DEFAULTS.rotation,
        }
    );
    assert_eq!(
        ok("file:///tmp/a%20b.log?max_size=1K&keep=0"),
        SinkSpec::File {
            path: "/tmp/a b.log".into(),
            rotation: Rotation {
                max_size: 1024,
                keep: 0
            },
        }
    );
    assert!(err("file://relative/x.log").why.contains("three slashes"));
    assert!(err("file:///x?max_size=big").why.contains("max_size=big"));
    assert!(err("file:///x?keep=-1").why.contains("keep=-1"));
    assert!(err("file:///x?hec=1").why.contains("max_size, keep"));
}

#[test]
fn syslog_urls_default_to_port_514_and_facility_daemon() {
    assert_eq!(
        ok("syslog+tcp://collector.example"),
        SinkSpec::Syslog {
            transport: Transport::Tcp,
            host: "collector.example".into(),
            port: 514,
            facility: 3,
            max_size: 8192,
        }
    );
    assert_eq!(
        ok("syslog+udp://[::1]:5514?facility=local3&max_size=2K"),
        SinkSpec::Syslog {
            transport: Transport::Udp,
            host: "::1".into(),
            port: 5514,
            facility: 19,
            max_size: 2048,
        }
    );
    assert_eq!(
        ok("SYSLOG+TCP://127.0.0.1:6514/").label(),
        "syslog+tcp://127.0.0.1:6514"
    );
    assert!(err("syslog+tcp://h:0").why.contains("not a port"));
    assert!(err("syslog+tcp://h:99999").why.contains("not a port"));
    assert!(err("syslog+tcp://::1:514").why.contains("brackets"));
    assert!(err("syslog+udp://h?facility=nope").why.contains("facility"));
    assert!(err("syslog+udp://h?max_size=100").why.contains("480"));
    assert!(err("syslog+tcp://h?max_size=2K").why.contains("facility"));
    assert!(err("syslog+tcp://h/path").why.contains("no path"));
}

#[test]
fn syslog_over_tls_defaults_to_port_6514_and_needs_the_ca() {
    let tls = ok("syslog+tls://collector.example?facility=local0");
    assert_eq!(
        tls,
        SinkSpec::Syslog {
            transport: Transport::Tls,
            host: "collector.example".into(),
            port: 6514,
            facility: 16,
            max_size: 8192,
        }
    );
    assert_eq!(tls.label(), "syslog+tls://collector.example:6514");
    assert!(tls.is_tls());
    assert!(!ok("syslog+tcp://h").is_tls());
    assert!(ok("https://h").is_tls());
    assert!(err("syslog+tls://h?max_size=2K").why.contains("facility"));
    assert!(err("syslog+tls://h/x").why.contains("no path"));
}

#[test]
fn http_urls_and_the_hec_envelope() {
    assert_eq!(
        ok("http://127.0.0.1:8080/ingest"),
        SinkSpec::Http {
            tls: false,
            host: "127.0.0.1".into(),
            port: 8080,
            path: "/ingest".into(),
            hec: None,
            token_file: None,
            gzip: false,
        }
    );
    assert_eq!(
        ok("https://splunk.example?hec=1&index=security"),
        SinkSpec::Http {
            tls: true,
            host: "splunk.example".into(),
            port: 443,
            path: "/services/collector/event".into(),
            hec: Some(Hec {
                sourcetype: "exitwatch".into(),
                index: Some("security".into()),
            }),
            token_file: None,
            gzip: false,
        }
    );
    assert_eq!(
        ok("https://splunk.example:8088/services/collector/event?hec=1").label(),
        "https://splunk.example:8088/services/collector/event"
    );
    assert!(err("http://h/?index=x").why.contains("hec=1"));
    assert!(err("http://h/?hec=yes").why.contains("hec=yes"));
    assert!(err("http://h/a b").why.contains("spaces"));
}

#[test]
fn http_outputs_take_their_own_token_file_and_gzip() {
    let SinkSpec::Http {
        token_file, gzip, ..
    } = ok("https://h/x?token_file=/etc/exitwatch/siem%20a.token&compression=gzip")
    else {
        panic!("an http spec")
    };
    assert_eq!(token_file, Some("/etc/exitwatch/siem a.token".into()));
    assert!(gzip);
    assert!(matches!(
        ok("http://h/?compression=none"),
        SinkSpec::Http { gzip: false, .. }
    ));
    let e = err("http://h/?compression=zstd");
    assert!(e.why.contains("compression=gzip"), "{}", e.why);
    assert!(!e.why.contains("zstd"), "{}", e.why);
    assert!(err("http://h/?token_file=rel/tok").why.contains("absolute"));
    assert!(err("syslog+tcp://h?token_file=/t")
        .why
        .contains("unknown option"));
}

#[test]
fn tokens_in_urls_are_refused_without_echoing_them() {
    for url in [
        "https://user:s3cret@splunk.example/services/collector",
        "https://splunk.example/?hec=1&token=s3cret",
        "http://h/?Authorization=Splunk%20s3cret",
    ] {
        let e = err(url);
        assert!(e.secret, "{url}");
        let msg = e.to_string();
        assert!(!msg.contains("s3cret"), "{msg}");
        assert!(msg.contains("--http-token-file"), "{msg}");
    }
}

#[test]
fn any_url_may_size_its_own_queue() {
    let q = |url: &str| parse(url, &DEFAULTS).map(|o| o.queue_size);
    assert_eq!(q("stdout"), Ok(100));
    assert_eq!(q("file:///x.log"), Ok(100));
    assert_eq!(q("file:///x.log?queue_size=7"), Ok(7));
    assert_eq!(q("syslog+tcp://h?queue_size=50000"), Ok(50000));
    assert_eq!(q("https://h/?hec=1&queue_size=3"), Ok(3));
    assert!(err("http://h/?queue_size=0").why.contains("queue_size=0"));
}

#[test]
fn bad_forms_name_the_accepted_ones() {
    for url in ["tcp://h:514", "/var/log/x", "syslog://h", ""] {
        let msg = err(url).to_string();
        assert!(
            msg.contains("accepted forms: stdout | file:///PATH"),
            "{msg}"
        );
    }
}

#[test]
fn queue_bytes_default_and_per_output() {
    let b = |url: &str| parse(url, &DEFAULTS).map(|o| o.queue_bytes);
    assert_eq!(b("stdout"), Ok(1 << 20));
    assert_eq!(b("file:///x.log?queue_bytes=64K"), Ok(64 << 10));
    assert_eq!(b("syslog+udp://h?queue_bytes=2M&queue_size=5"), Ok(2 << 20));
    assert_eq!(b("https://h/?hec=1&queue_bytes=100"), Ok(100));
    assert!(b("http://h/?queue_bytes=0")
        .unwrap_err()
        .why
        .contains("queue_bytes=0"));
    assert!(b("http://h/?queue_bytes=lots").is_err());
}

#[test]
fn otlp_urls_name_their_transport_and_default_port() {
    let otlp = |transport, tls, host: &str, port| SinkSpec::Otlp {
        transport,
        tls,
        host: host.into(),
        port,
        gzip: false,
    };
    use OtlpTransport::{Grpc, Http};
    assert_eq!(ok("otlp://collector"), otlp(Grpc, false, "collector", 4317));
    assert_eq!(
        ok("otlps://collector:55680/"),
        otlp(Grpc, true, "collector", 55680)
    );
    assert_eq!(ok("otlp+http://[::1]"), otlp(Http, false, "::1", 4318));
    assert_eq!(
        ok("OTLP+HTTPS://c.example"),
        otlp(Http, true, "c.example", 4318)
    );
    assert_eq!(ok("otlps://collector").label(), "otlps://collector:4317");
    assert_eq!(ok("otlp+http://[::1]").label(), "otlp+http://[::1]:4318");
    let out = parse("otlp://c?queue_size=7", &DEFAULTS).unwrap();
    assert_eq!(out.queue_size, 7);
    assert!(err("otlp://c/v1/logs").why.contains("takes no path"));
    assert!(err("otlp://c?hec=1").why.contains("takes compression"));
    assert!(matches!(
        ok("otlp+http://c?compression=gzip"),
        SinkSpec::Otlp { gzip: true, .. }
    ));
    assert!(err("otlp://c?compression=zstd")
        .why
        .contains("compression=gzip"));
    assert!(err("otlp://c?token=hunter2").secret);
}
