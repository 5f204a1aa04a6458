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
fn gzip_bodies_inflate_to_the_batch() {
    use std::io::Read;
    let plain = body(&[record("{\"a\":1}\n"), record("{\"b\":2}")], None);
    let packed = gzip(&plain);
    assert_eq!(&packed[..2], [0x1f, 0x8b], "the gzip magic");
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(&packed[..])
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, plain);
}
