//! HTTP output bodies (pure): a batch as newline-delimited JSON or Splunk HEC envelopes,
//! gzip'd when asked.

use std::io::Write;

use super::super::Record;

/// Splunk HTTP Event Collector envelope: `{"time":..,"host":..,"sourcetype":..,"event":<event>}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub host: String,
    pub sourcetype: String,
    pub index: Option<String>,
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl Envelope {
    /// One envelope; the event (one line of JSON) is embedded as it is, not parsed again.
    pub fn wrap(&self, rec: &Record, out: &mut Vec<u8>) {
        let secs = rec.time_ns.div_euclid(1_000_000_000);
        let micros = rec.time_ns.rem_euclid(1_000_000_000) / 1000;
        out.extend_from_slice(
            format!(
                "{{\"time\":{secs}.{micros:06},\"host\":{},\"sourcetype\":{},",
                json_str(&self.host),
                json_str(&self.sourcetype)
            )
            .as_bytes(),
        );
        if let Some(index) = &self.index {
            out.extend_from_slice(format!("\"index\":{},", json_str(index)).as_bytes());
        }
        out.extend_from_slice(b"\"event\":");
        out.extend_from_slice(rec.line.strip_suffix(b"\n").unwrap_or(&rec.line));
        out.extend_from_slice(b"}\n");
    }
}

/// A batch as one request body: the events' lines as they are (newline-delimited JSON), or one
/// HEC envelope per line.
pub fn body(batch: &[Record], hec: Option<&Envelope>) -> Vec<u8> {
    let mut out = Vec::with_capacity(batch.iter().map(|r| r.line.len() + 96).sum());
    for rec in batch {
        match hec {
            Some(env) => env.wrap(rec, &mut out),
            None => {
                out.extend_from_slice(&rec.line);
                if !rec.line.ends_with(b"\n") {
                    out.push(b'\n');
                }
            }
        }
    }
    out
}

/// `body` gzip'd (Content-Encoding: gzip).
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    enc.write_all(body).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

#[cfg(test)]
mod tests;
