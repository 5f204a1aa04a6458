use std::sync::Arc;

use super::*;

fn record(line: &str, kind: &'static str, severity: u8) -> Record {
    Record {
        line: Arc::from(line.as_bytes()),
        kind,
        severity,
        // 2026-01-01T00:00:00.123456789Z
        time_ns: 1_767_225_600_123_456_789,
        otel: None,
    }
}

#[test]
fn rfc5424_header_then_the_event() {
    let h = Header::new(3, "node-1", 4242);
    let msg = h.message(&record("{\"event\":\"signal\"}\n", "signal", 4));
    assert_eq!(
        String::from_utf8(msg).unwrap(),
        "<28>1 2026-01-01T00:00:00.123456Z node-1 exitwatch 4242 signal - {\"event\":\"signal\"}"
    );
    let local7 = Header::new(23, "n", 1).message(&record("x\n", "exit", 6));
    assert!(
        local7.starts_with(b"<190>1 "),
        "{}",
        String::from_utf8_lossy(&local7)
    );
}

#[test]
fn hostnames_are_printable_ascii_or_nil() {
    assert_eq!(Header::new(3, "wörker 1", 1).hostname, "w_rker_1");
    assert_eq!(Header::new(3, "", 1).hostname, "-");
    assert_eq!(Header::new(3, &"a".repeat(300), 1).hostname.len(), 255);
}

#[test]
fn timestamps_keep_six_fractional_digits() {
    assert_eq!(timestamp(0), "1970-01-01T00:00:00.000000Z");
    assert_eq!(timestamp(1_999_999_999), "1970-01-01T00:00:01.999999Z");
}

#[test]
fn octet_counting_prefixes_the_byte_length() {
    let mut out = Vec::new();
    octet_frame("<28>1 - - - - - é".as_bytes(), &mut out);
    octet_frame(b"ab", &mut out);
    assert_eq!(String::from_utf8(out).unwrap(), "18 <28>1 - - - - - é2 ab");
}

#[test]
fn truncation_never_splits_a_character() {
    let mut m = "aé".as_bytes().to_vec(); // 61 c3 a9
    assert!(truncate(&mut m, 2));
    assert_eq!(m, b"a");
    let mut m = b"abcdef".to_vec();
    assert!(truncate(&mut m, 4));
    assert_eq!(m, b"abcd");
    let mut m = b"abc".to_vec();
    assert!(!truncate(&mut m, 3));
    assert_eq!(m, b"abc");
}

#[tokio::test]
async fn a_closed_receiver_is_noticed_before_writing_and_its_chatter_thrown_away() {
    use tokio::io::AsyncWriteExt;
    let (mut ours, mut theirs) = tokio::io::duplex(64 * 1024);
    assert!(!closed(&mut ours).await, "an idle receiver is open");
    // A receiver that talks back (syslog receivers should not): read, bounded, and dropped.
    theirs.write_all(&[b'x'; 3 * DISCARD]).await.unwrap();
    for _ in 0..3 {
        assert!(!closed(&mut ours).await);
    }
    assert!(!closed(&mut ours).await, "all of it was read");
    drop(theirs);
    assert!(closed(&mut ours).await, "the receiver went away");
}

#[test]
fn a_tls_target_needs_a_server_name() {
    let spec = |host: &str| SinkSpec::Syslog {
        transport: Transport::Tls,
        host: host.into(),
        port: 6514,
        facility: 3,
        max_size: 8192,
    };
    let config = crate::sink::tls::client_config(None);
    let Ok(config) = config else {
        return; // no system CA bundle on this machine
    };
    assert!(Target::new(&spec("127.0.0.1"), "n", Some(config.clone())).is_ok());
    assert!(Target::new(&spec("collector.example"), "n", Some(config.clone())).is_ok());
    let Err(e) = Target::new(&spec("bad name"), "n", Some(config)) else {
        panic!("a host with a space is no TLS server name");
    };
    assert!(e.to_string().contains("not a TLS server name"), "{e}");
}
