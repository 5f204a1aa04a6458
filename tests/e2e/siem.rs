//! Feeding a SIEM: exitwatch as a daemon with several outputs at once (rsyslog over TCP and UDP,
//! HTTP(S) with and without the Splunk HEC envelope, OTLP/gRPC, rotated files, stdout), receivers that
//! fail or hang, flushing on SIGTERM, `/metrics` and `/healthz`, and where settings come from.

pub(crate) mod collectors;

mod health;
mod http;
mod http_delivery;
mod isolation;
mod otlp;
mod outputs;
mod proxy;
mod settings;
mod syslog;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A free loopback port for `--metrics-addr`.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path` from 127.0.0.1:`port`: (status, body).
pub fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to --metrics-addr");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read the answer");
    let status = answer
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

/// The value of the sample `series` (name and labels exactly as exposed) in `/metrics`.
pub fn metric(port: u16, series: &str) -> Option<u64> {
    let (status, body) = get(port, "/metrics");
    assert_eq!(status, 200, "{body}");
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The sum of every sample of a family whose labels contain `labels`.
pub fn metric_sum(port: u16, family: &str, labels: &str) -> u64 {
    let (_, body) = get(port, "/metrics");
    body.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) && l.contains(labels))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
        .sum()
}
