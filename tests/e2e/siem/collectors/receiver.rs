//! An HTTP receiver on a thread: records the requests, answers 200, 500, late, or never.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
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
}

impl HttpReceiver {
    pub fn start(mode: Mode) -> HttpReceiver {
        HttpReceiver::start_on(0, mode)
    }

    /// On loopback port `port` (0: any free one), e.g. one an output already failed to reach.
    pub fn start_on(port: u16, mode: Mode) -> HttpReceiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = HttpReceiver {
            port,
            mode: Arc::new(AtomicU8::new(mode as u8)),
            requests: Arc::default(),
        };
        let (mode, requests) = (Arc::clone(&r.mode), Arc::clone(&r.requests));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (mode, requests) = (Arc::clone(&mode), Arc::clone(&requests));
                thread::spawn(move || serve(stream, &mode, &requests));
            }
        });
        r
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

fn serve(stream: TcpStream, mode: &AtomicU8, requests: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
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
        requests.lock().unwrap().push(Request {
            status: if mode == Mode::Fail as u8 { 500 } else { 200 },
            line: line.trim_end().to_owned(),
            headers,
            body,
        });
        let answer: &[u8] = match mode {
            m if m == Mode::Fail as u8 => {
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom"
            }
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
