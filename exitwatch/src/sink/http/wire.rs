//! HTTP/1.1 on the wire, for the http outputs (pure): the batch body (NDJSON or Splunk HEC
//! envelopes), the request head, the response head and the end of a chunked body.

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

/// The request head of a POST of `len` bytes.
pub fn request_head(
    path: &str,
    host: &str,
    content_type: &str,
    authorization: Option<&str>,
    len: usize,
) -> String {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: exitwatch/{}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(auth) = authorization {
        head.push_str("Authorization: ");
        head.push_str(auth);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head
}

/// How the response body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Length(usize),
    Chunked,
    /// Neither: the body runs until the server closes the connection.
    UntilClose,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// Bytes of the head, blank line included.
    pub len: usize,
    pub framing: Framing,
    /// The connection cannot carry another request.
    pub close: bool,
}

/// The response head at the start of `buf`, once it is all there.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("not an HTTP response: {e}")),
    };
    let status = resp.code.unwrap_or(0);
    let mut framing = Framing::UntilClose;
    let mut close = resp.version == Some(0);
    for h in resp.headers.iter() {
        let value = String::from_utf8_lossy(h.value).trim().to_ascii_lowercase();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse()
                .map_err(|_| format!("bad Content-Length {value:?}"))?;
            if framing != Framing::Chunked {
                framing = Framing::Length(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") && value.ends_with("chunked") {
            framing = Framing::Chunked;
        } else if h.name.eq_ignore_ascii_case("connection") {
            if value.contains("close") {
                close = true;
            } else if value.contains("keep-alive") {
                close = false;
            }
        }
    }
    if matches!(status, 100..=199 | 204 | 304) {
        framing = Framing::Length(0);
    }
    if framing == Framing::UntilClose {
        close = true;
    }
    Ok(Some(Head {
        status,
        len,
        framing,
        close,
    }))
}

/// The length of a complete chunked body at the start of `buf` (trailers included), or None
/// while more is needed.
pub fn chunked_end(buf: &[u8]) -> Result<Option<usize>, String> {
    let mut at = 0;
    loop {
        let Some(eol) = find_crlf(&buf[at..]) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[at..at + eol]).map_err(|_| "bad chunk size")?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size, 16).map_err(|_| format!("bad chunk size {size:?}"))?;
        at += eol + 2;
        if size == 0 {
            // Trailers, each ending in CRLF, then an empty line.
            loop {
                let Some(eol) = find_crlf(&buf[at..]) else {
                    return Ok(None);
                };
                at += eol + 2;
                if eol == 0 {
                    return Ok(Some(at));
                }
            }
        }
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        at += size + 2;
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// Worth trying again: the server is overloaded, down or timed out. Other 4xx answers (a bad
/// token, a malformed batch) would fail the same way forever.
pub fn retryable(status: u16) -> bool {
    matches!(status, 408 | 429) || status >= 500
}

#[cfg(test)]
mod tests;
