//! A forward proxy on a thread: CONNECT tunnels (https) and absolute-form requests (plain http),
//! each connection piped to where it asked, counting what it forwarded and the credentials it saw.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// What the proxy saw on one client connection.
#[derive(Clone, Debug)]
pub struct Forwarded {
    /// The first request line: `CONNECT host:port HTTP/1.1` or `POST http://... HTTP/1.1`.
    pub line: String,
    pub proxy_authorization: Option<String>,
}

pub struct Proxy {
    pub port: u16,
    seen: Arc<Mutex<Vec<Forwarded>>>,
}

impl Proxy {
    pub fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<Forwarded>>> = Arc::default();
        let log = Arc::clone(&seen);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                thread::spawn(move || relay(stream, &log));
            }
        });
        Proxy { port, seen }
    }

    /// `http://user:pass@127.0.0.1:PORT`, for HTTP(S)_PROXY.
    pub fn url(&self, credentials: &str) -> String {
        format!("http://{credentials}127.0.0.1:{}", self.port)
    }

    pub fn forwarded(&self) -> Vec<Forwarded> {
        self.seen.lock().unwrap().clone()
    }
}

fn relay(client: TcpStream, log: &Mutex<Vec<Forwarded>>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut head = Vec::new();
    let mut auth = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        if h.trim_end().is_empty() {
            break;
        }
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("proxy-authorization") => {
                auth = Some(v.trim().to_owned())
            }
            _ => head.push(h),
        }
    }
    let line = line.trim_end().to_owned();
    log.lock().unwrap().push(Forwarded {
        line: line.clone(),
        proxy_authorization: auth,
    });
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut client_out = client;
    let (authority, first) = if method == "CONNECT" {
        (target.to_owned(), None)
    } else {
        let Some(rest) = target.strip_prefix("http://") else {
            let _ = client_out.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            return;
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let mut first = format!("{method} {path} HTTP/1.1\r\n");
        first.extend(head.iter().map(String::as_str));
        first.push_str("\r\n");
        (authority.to_owned(), Some(first))
    };
    // Names under .test (RFC 2606) are this machine: the tests need a destination that is not
    // loopback (exitwatch never proxies loopback) and needs no DNS.
    let upstream_addr = match authority.rsplit_once(':') {
        Some((host, port)) if host.ends_with(".test") => format!("127.0.0.1:{port}"),
        _ => authority.clone(),
    };
    let Ok(mut upstream) = TcpStream::connect(&upstream_addr) else {
        let _ = client_out.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    match first {
        None => {
            let _ = client_out.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
        }
        Some(first) => {
            let _ = upstream.write_all(first.as_bytes());
        }
    }
    // Later requests on a kept-alive connection go through as they are (absolute-form, which
    // servers must accept).
    let mut up_in = upstream.try_clone().unwrap();
    let back = thread::spawn(move || {
        let _ = std::io::copy(&mut up_in, &mut client_out);
        let _ = client_out.shutdown(Shutdown::Both);
    });
    let buffered = reader.buffer().to_vec();
    let _ = upstream.write_all(&buffered);
    let mut client_in = reader.into_inner();
    let _ = std::io::copy(&mut client_in, &mut upstream);
    let _ = upstream.shutdown(Shutdown::Both);
    let _ = back.join();
}
