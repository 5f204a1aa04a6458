//! The `--metrics-addr` endpoint: hyper's HTTP/1 server for `GET /metrics` (Prometheus text)
//! and `GET /healthz` (200 `ok`, or 503 with the reason). Bounded against slow or many
//! clients: at most [`MAX_CONNECTIONS`] at once (more are closed at once), one request per
//! connection, its head within [`HEAD_TIMEOUT`] and [`MAX_HEAD`] bytes, the whole exchange
//! within [`CONNECTION_TIMEOUT`].

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::Metrics;

/// Connections served at once; a scraper and a probe or two need far fewer.
pub const MAX_CONNECTIONS: usize = 32;
/// How long a client may take to send its request head (slowloris).
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may last, answer included.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// The request head's size, at most (hyper's smallest read buffer).
const MAX_HEAD: usize = 8 * 1024;
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

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
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(HEAD_TIMEOUT)
            .max_buf_size(MAX_HEAD)
            .keep_alive(false);
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                // Out of descriptors, say: try again shortly rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Over the cap: closed at once (dropped), not queued.
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                continue;
            };
            let metrics = Arc::clone(&metrics);
            let conn = http.serve_connection(
                TokioIo::new(stream),
                service_fn(move |req| {
                    let answer = answer(&req, &metrics, Instant::now());
                    async move { Ok::<_, Infallible>(answer) }
                }),
            );
            tokio::spawn(async move {
                let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
                drop(slot);
            });
        }
    });
}

fn answer<B>(req: &Request<B>, metrics: &Metrics, now: Instant) -> Response<Full<Bytes>> {
    let (status, content_type, body) = respond(req.method(), req.uri().path(), metrics, now);
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

/// The answer to one request: status, content type, body.
pub fn respond(
    method: &Method,
    path: &str,
    metrics: &Metrics,
    now: Instant,
) -> (StatusCode, &'static str, String) {
    if !matches!(path, "/metrics" | "/healthz" | "/livez") {
        let body = "not found: try /metrics, /healthz or /livez\n".into();
        return (StatusCode::NOT_FOUND, TEXT, body);
    }
    if *method != Method::GET && *method != Method::HEAD {
        let body = "only GET and HEAD\n".into();
        return (StatusCode::METHOD_NOT_ALLOWED, TEXT, body);
    }
    match path {
        "/metrics" => (StatusCode::OK, PROMETHEUS_TEXT, metrics.render()),
        // The agent itself (attached, its reader turning), whatever its outputs: what a liveness
        // probe asks, since a restart would not bring a dead SIEM back and would lose the queues.
        "/livez" => match metrics.alive(now) {
            Ok(()) => (StatusCode::OK, TEXT, "ok\n".into()),
            Err(why) => (StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("{why}\n")),
        },
        _ => match metrics.healthy(now) {
            Ok(()) => (StatusCode::OK, TEXT, "ok\n".into()),
            Err(why) => (StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("{why}\n")),
        },
    }
}

#[cfg(test)]
mod tests;
