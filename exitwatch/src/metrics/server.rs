//! The `--metrics-addr` endpoint: a minimal HTTP/1.1 server (one request per connection) for
//! `GET /metrics` (Prometheus text) and `GET /healthz` (200 `ok`, or 503 with the reason).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{health::MAX_IDLE, Metrics};

/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_REQUEST: usize = 8 * 1024;
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Binds `addr` (`HOST:PORT`) now, so that a taken port fails at start. A plain socket: it is
/// registered with whichever runtime serves it (`spawn`), not the one that bound it.
pub fn bind(addr: &str) -> io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves on the current runtime until it stops.
pub fn spawn(listener: std::net::TcpListener, metrics: Arc<Metrics>) {
    tokio::spawn(async move {
        let listener = match TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("exitwatch: warning: cannot serve metrics: {e}");
                return;
            }
        };
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, Arc::clone(&metrics)));
                }
                // Out of descriptors, say: try again shortly rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
}

async fn connection(mut stream: TcpStream, metrics: Arc<Metrics>) {
    let mut buf = Vec::with_capacity(1024);
    let request = tokio::time::timeout(READ_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        loop {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(_)) => {
                    return Some((req.method?.to_owned(), req.path?.to_owned()))
                }
                Ok(httparse::Status::Partial) if buf.len() < MAX_REQUEST => {}
                _ => return Some((String::new(), String::new())),
            }
        }
    })
    .await;
    let Ok(Some((method, path))) = request else {
        return;
    };
    let (status, content_type, body) = respond(&method, &path, &metrics, Instant::now());
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    if method != "HEAD" {
        let _ = stream.write_all(body.as_bytes()).await;
    }
    let _ = stream.shutdown().await;
}

/// The answer to one request: status, content type, body.
pub fn respond(
    method: &str,
    target: &str,
    metrics: &Metrics,
    now: Instant,
) -> (u16, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    if method.is_empty() {
        return (400, TEXT, "bad request\n".into());
    }
    let path = target.split('?').next().unwrap_or("");
    if !matches!(path, "/metrics" | "/healthz") {
        return (404, TEXT, "not found: try /metrics or /healthz\n".into());
    }
    if method != "GET" && method != "HEAD" {
        return (405, TEXT, "only GET and HEAD\n".into());
    }
    match path {
        "/metrics" => (200, PROMETHEUS_TEXT, metrics.render()),
        _ => match metrics.health.check(now, MAX_IDLE) {
            Ok(()) => (200, TEXT, "ok\n".into()),
            Err(why) => (503, TEXT, format!("{why}\n")),
        },
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_metrics_and_health() {
        let m = Metrics::default();
        let now = Instant::now();
        let (status, ctype, body) = respond("GET", "/metrics", &m, now);
        assert_eq!((status, ctype), (200, PROMETHEUS_TEXT));
        assert!(body.contains("exitwatch_build_info{version="), "{body}");
        let (status, _, body) = respond("GET", "/healthz", &m, now);
        assert_eq!(status, 503);
        assert_eq!(body, "the kernel programs are not attached yet\n");
        m.health.set_attached();
        m.health.turn(now);
        assert_eq!(respond("GET", "/healthz?x=1", &m, now).2, "ok\n");
        assert_eq!(respond("POST", "/metrics", &m, now).0, 405);
        assert_eq!(respond("GET", "/", &m, now).0, 404);
        assert_eq!(respond("", "", &m, now).0, 400);
    }

    #[tokio::test]
    async fn answers_over_tcp() {
        let listener = bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = Arc::new(Metrics::default());
        spawn(listener, Arc::clone(&metrics));
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{answer}"
        );
        assert!(answer.ends_with("\r\n\r\nthe kernel programs are not attached yet\n"));
    }
}
