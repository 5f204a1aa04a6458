use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

#[test]
fn routes_metrics_and_health() {
    let m = Metrics::default();
    let now = Instant::now();
    let (status, ctype, body) = respond(&Method::GET, "/metrics", &m, now);
    assert_eq!((status, ctype), (StatusCode::OK, PROMETHEUS_TEXT));
    assert!(body.contains("exitwatch_build_info{version="), "{body}");
    let (status, _, body) = respond(&Method::GET, "/healthz", &m, now);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "the kernel programs are not attached yet\n");
    m.health.set_attached();
    m.health.turn(now);
    assert_eq!(respond(&Method::HEAD, "/healthz", &m, now).2, "ok\n");
    assert_eq!(respond(&Method::GET, "/livez", &m, now).2, "ok\n");
    assert_eq!(
        respond(&Method::POST, "/metrics", &m, now).0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(respond(&Method::GET, "/", &m, now).0, StatusCode::NOT_FOUND);
}

fn serve(metrics: Arc<Metrics>) -> SocketAddr {
    let listener = bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    spawn(listener, metrics);
    addr
}

async fn ask(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn answers_over_tcp() {
    let addr = serve(Arc::new(Metrics::default()));
    let answer = ask(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(
        answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{answer}"
    );
    assert!(answer.ends_with("\r\n\r\nthe kernel programs are not attached yet\n"));
    let answer = ask(addr, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.ends_with("\r\n\r\n"),
        "a HEAD answer has no body: {answer}"
    );
    let answer = ask(addr, b"DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 405 "), "{answer}");
    let answer = ask(addr, b"GET /admin HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
}

#[tokio::test]
async fn a_head_too_large_is_refused() {
    let addr = serve(Arc::new(Metrics::default()));
    let mut req = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 64 * 1024));
    req.extend_from_slice(b"\r\n\r\n");
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The server may close before reading it all.
    let _ = s.write_all(&req).await;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431 "),
        "{answer}"
    );
}

#[tokio::test]
async fn idle_connections_past_the_cap_are_closed_and_health_answers_after() {
    let addr = serve(Arc::new(Metrics::default()));
    let mut idle = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // Let the server take them all.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // One more is closed at once, without an answer.
    let mut extra = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut buf))
        .await
        .expect("closed at once, not left waiting");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    drop(idle);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = ask(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_head_is_cut_off() {
    let addr = serve(Arc::new(Metrics::default()));
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost:")
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(9), s.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "still open after 9 s");
    assert!(started.elapsed() >= Duration::from_secs(4));
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("200 OK"), "{answer}");
}
