//! An HTTP receiver on a thread: records the requests, answers 200, 500, late, or never, or
//! misbehaves (a byte a second, an absurd chunk size, interim 1xx answers), refuses bodies over
//! a size (413) or tokens but one (401), and gunzips what comes gzip'd.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How an HTTP receiver answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Ok = 0,
    /// 500 Internal Server Error, every time.
    Fail = 1,
    /// Reads the request and never answers (the connection stays open).
    Hang = 2,
    /// Answers 200 after 300 ms.
    Slow = 3,
    /// Accepts the connection and never reads or answers.
    Stall = 4,
    /// Reads the request, then sends an endless head, a byte a second.
    Trickle = 5,
    /// Answers 200 with a chunked body whose first chunk claims near 2^64 bytes, then holds.
    AbsurdChunk = 6,
    /// `100 Continue` and `103 Early Hints` before the 200.
    Interim = 7,
}

/// One request an HTTP receiver read.
#[derive(Debug, Clone)]
pub struct Request {
    /// The status it was answered with.
    pub status: u16,
    pub line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn lines(&self) -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&self.body)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

/// A small HTTP/1.1 server on a thread (keep-alive, Content-Length bodies) that records every
/// request and answers as its mode says.
pub struct HttpReceiver {
    pub port: u16,
    mode: Arc<AtomicU8>,
    requests: Arc<Mutex<Vec<Request>>>,
    rules: Arc<Rules>,
}

/// What a receiver refuses besides its mode.
#[derive(Default)]
struct Rules {
    /// Bodies (as sent, before gunzip) over this many bytes get 413; 0: no limit.
    max_body: AtomicUsize,
    /// The only Authorization value taken; others get 401.
    authorization: Mutex<Option<String>>,
}

impl HttpReceiver {
    pub fn start(mode: Mode) -> HttpReceiver {
        HttpReceiver::start_at("127.0.0.1", 0, mode)
    }

    /// On loopback port `port` (0: any free one), e.g. one an output already failed to reach.
    pub fn start_on(port: u16, mode: Mode) -> HttpReceiver {
        HttpReceiver::start_at("127.0.0.1", port, mode)
    }

    /// Listening on `ip` (0.0.0.0: every address of the machine), port `port` (0: any free one).
    pub fn start_at(ip: &str, port: u16, mode: Mode) -> HttpReceiver {
        let listener = TcpListener::bind((ip, port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = HttpReceiver {
            port,
            mode: Arc::new(AtomicU8::new(mode as u8)),
            requests: Arc::default(),
            rules: Arc::default(),
        };
        let (mode, requests, rules) = (
            Arc::clone(&r.mode),
            Arc::clone(&r.requests),
            Arc::clone(&r.rules),
        );
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (mode, requests, rules) =
                    (Arc::clone(&mode), Arc::clone(&requests), Arc::clone(&rules));
                thread::spawn(move || serve(stream, &mode, &requests, &rules));
            }
        });
        r
    }

    /// Bodies over `bytes` are refused with 413 from now on.
    pub fn refuse_bodies_over(&self, bytes: usize) {
        self.rules.max_body.store(bytes, Ordering::SeqCst);
    }

    /// Only requests with this Authorization header are taken from now on; others get 401.
    pub fn require_authorization(&self, value: &str) {
        *self.rules.authorization.lock().unwrap() = Some(value.to_owned());
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://127.0.0.1:{}{path_and_query}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Every JSON line of every request taken (answered 200) so far.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.requests()
            .iter()
            .filter(|r| r.status == 200)
            .flat_map(Request::lines)
            .collect()
    }
}

fn serve(stream: TcpStream, mode: &AtomicU8, requests: &Mutex<Vec<Request>>, rules: &Rules) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    if mode.load(Ordering::SeqCst) == Mode::Stall as u8 {
        // Hold the connection, unread, until the client gives up.
        let mut byte = [0u8; 1];
        while out.peek(&mut byte).is_ok_and(|n| n > 0) {
            thread::sleep(Duration::from_millis(100));
        }
        return;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mode = mode.load(Ordering::SeqCst);
        if mode == Mode::Hang as u8 {
            // Never answer; hold the connection until the client gives up.
            let _ = reader.read_to_end(&mut Vec::new());
            return;
        }
        if mode == Mode::Trickle as u8 {
            let head = b"HTTP/1.1 200 OK\r\nX-Trickle: ";
            for b in head.iter().chain(std::iter::repeat(&b'a')) {
                if out.write_all(&[*b]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_secs(1));
            }
        }
        if mode == Mode::AbsurdChunk as u8 {
            let _ = out.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFF0\r\nabc",
            );
            let _ = reader.read_to_end(&mut Vec::new());
            return;
        }
        let max_body = rules.max_body.load(Ordering::SeqCst);
        let wanted = rules.authorization.lock().unwrap().clone();
        let authorized = wanted.is_none_or(|w| {
            headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("authorization") && *v == w)
        });
        let gzipped = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v == "gzip");
        let sent_len = body.len();
        let body = match gzipped {
            true => {
                let mut plain = Vec::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut plain)
                    .expect("a gzip body");
                plain
            }
            false => body,
        };
        let status = match mode {
            _ if !authorized => 401,
            _ if max_body > 0 && sent_len > max_body => 413,
            m if m == Mode::Fail as u8 => 500,
            _ => 200,
        };
        requests.lock().unwrap().push(Request {
            status,
            line: line.trim_end().to_owned(),
            headers,
            body,
        });
        let answer: &[u8] = match status {
            401 => b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 9\r\n\r\nbad token",
            413 => b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 7\r\n\r\ntoo big",
            500 => b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom",
            _ if mode == Mode::Interim as u8 => b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            _ => b"HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\n{\"text\":\"Success\",\"code\":0}",
        };
        if mode == Mode::Slow as u8 {
            thread::sleep(Duration::from_millis(300));
        }
        if out.write_all(answer).is_err() {
            return;
        }
    }
}
