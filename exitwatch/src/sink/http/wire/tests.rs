use std::sync::Arc;

use serde_json::Value;

use super::*;

fn record(line: &str) -> Record {
    Record {
        line: Arc::from(line.as_bytes()),
        kind: "signal",
        severity: 4,
        time_ns: 1_767_225_600_123_456_789,
        otel: None,
    }
}

#[test]
fn hec_envelopes_embed_each_event_object() {
    let env = Envelope {
        host: "node-\"1\"".into(),
        sourcetype: "exitwatch".into(),
        index: Some("security".into()),
    };
    let events = [
        record("{\"event\":\"signal\",\"id\":\"a-1\"}\n"),
        record("{\"event\":\"exit\",\"id\":\"a-2\"}\n"),
    ];
    let out = body(&events, Some(&env));
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["time"].as_f64().unwrap(), 1_767_225_600.123_456);
    assert_eq!(lines[0]["host"], "node-\"1\"");
    assert_eq!(lines[0]["sourcetype"], "exitwatch");
    assert_eq!(lines[0]["index"], "security");
    assert_eq!(lines[1]["event"]["id"], "a-2");
    assert!(text.starts_with("{\"time\":1767225600.123456,"), "{text}");
}

#[test]
fn plain_batches_are_newline_delimited_json() {
    let out = body(&[record("{\"a\":1}\n"), record("{\"b\":2}")], None);
    assert_eq!(out, b"{\"a\":1}\n{\"b\":2}\n");
}

#[test]
fn request_head_carries_length_and_authorization() {
    let head = request_head(
        "/services/collector/event",
        "splunk:8088",
        "application/json",
        Some("Splunk abc"),
        42,
    );
    assert!(head.starts_with("POST /services/collector/event HTTP/1.1\r\nHost: splunk:8088\r\n"));
    assert!(head.contains("\r\nContent-Length: 42\r\n"));
    assert!(head.contains("\r\nAuthorization: Splunk abc\r\n"));
    assert!(head.ends_with("\r\n\r\n"));
    assert!(!request_head("/", "h", "x", None, 0).contains("Authorization"));
}

#[test]
fn response_heads_say_how_the_body_ends() {
    assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le"), Ok(None));
    let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\n{\"text\"")
        .unwrap()
        .unwrap();
    assert_eq!(
        (h.status, h.framing, h.close, h.len),
        (200, Framing::Length(27), false, 39)
    );
    let h =
        parse_head(b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
    assert_eq!(
        (h.status, h.framing, h.close),
        (503, Framing::Chunked, true)
    );
    let h = parse_head(b"HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap();
    assert_eq!((h.framing, h.close), (Framing::UntilClose, true));
    let h = parse_head(b"HTTP/1.1 204 No Content\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!((h.framing, h.close), (Framing::Length(0), false));
    assert!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
}

#[test]
fn chunked_bodies_end_at_the_empty_chunk_and_trailers() {
    assert_eq!(chunked_end(b"5\r\nhello\r\n0\r\n\r\n"), Ok(Some(15)));
    assert_eq!(
        chunked_end(b"5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\nnext"),
        Ok(Some(29))
    );
    assert_eq!(chunked_end(b"5\r\nhel"), Ok(None));
    assert_eq!(chunked_end(b"5\r\nhello\r\n0\r\n"), Ok(None));
    assert!(chunked_end(b"zz\r\n").is_err());
}

#[test]
fn only_overload_timeouts_and_server_errors_are_retried() {
    for s in [408, 429, 500, 502, 503] {
        assert!(retryable(s), "{s}");
    }
    for s in [400, 401, 403, 404, 413] {
        assert!(!retryable(s), "{s}");
    }
}
