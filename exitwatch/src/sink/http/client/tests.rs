use std::time::Instant as StdInstant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// A receiver on loopback that reads one request head, writes `answer`, then holds the
/// connection open.
async fn receiver(answer: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        read_head(&mut s).await;
        s.write_all(answer).await.unwrap();
        let _ = s.read_to_end(&mut Vec::new()).await;
    });
    port
}

async fn read_head(s: &mut tokio::net::TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn client(port: u16, timeout: Duration) -> Client {
    let endpoint = Endpoint {
        tls: false,
        host: "127.0.0.1".into(),
        port,
    };
    Client::new(endpoint, &Matcher::builder().build(), None, timeout).unwrap()
}

async fn post(c: &Client) -> Result<Answer, ClientError> {
    c.post(
        "/in",
        "application/x-ndjson",
        &[],
        Bytes::from_static(b"{}\n"),
    )
    .await
}

#[tokio::test]
async fn interim_1xx_answers_are_skipped() {
    let port = receiver(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    )
    .await;
    let a = post(&client(port, Duration::from_secs(5))).await.unwrap();
    assert_eq!((a.status, a.excerpt.as_str()), (200, "ok"));
}

#[tokio::test]
async fn an_absurd_chunk_size_costs_the_connection_not_the_time() {
    let port =
        receiver(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFF0\r\nabc")
            .await;
    let c = client(port, Duration::from_secs(1));
    let started = StdInstant::now();
    let a = post(&c).await.unwrap();
    assert_eq!(a.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(c.conn.lock().await.is_none(), "the connection was dropped");
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out() {
    let port = receiver(b"").await;
    let started = StdInstant::now();
    let e = post(&client(port, Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Timeout(_)), "{e}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn long_bodies_are_cut_and_retry_after_is_capped() {
    static ANSWER: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let answer = ANSWER.get_or_init(|| {
        let mut a = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 99999\r\nContent-Length: 1000000\r\n\r\n\x1b[31mslow down".to_vec();
        let len = a.len();
        a.resize(len + 1_000_000 - 14, b'x');
        a
    });
    let port = receiver(answer).await;
    let c = client(port, Duration::from_secs(5));
    let a = post(&c).await.unwrap();
    assert_eq!(a.status, 503);
    assert_eq!(a.retry_after, Some(MAX_RETRY_AFTER));
    assert!(a.excerpt.starts_with("[31mslow down"), "{}", a.excerpt);
    assert!(a.excerpt.chars().count() <= EXCERPT);
    assert!(
        c.conn.lock().await.is_none(),
        "over 64 KiB: connection dropped"
    );
}

#[tokio::test]
async fn plain_http_through_a_proxy_uses_the_absolute_form_and_its_credentials() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = listener.local_addr().unwrap().port();
    let seen = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let head = read_head(&mut s).await;
        s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .await
            .unwrap();
        head
    });
    let proxies = Matcher::builder()
        .http(format!("http://u:p%40ss@127.0.0.1:{proxy_port}"))
        .no("127.0.0.1")
        .build();
    let endpoint = Endpoint {
        tls: false,
        host: "siem.example".into(),
        port: 8080,
    };
    let c = Client::new(endpoint, &proxies, None, Duration::from_secs(5)).unwrap();
    assert!(c.proxied());
    assert_eq!(post(&c).await.unwrap().status, 204);
    let head = seen.await.unwrap();
    assert!(
        head.starts_with("POST http://siem.example:8080/in HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nHost: siem.example:8080\r\n"), "{head}");
    // base64("u:p@ss")
    assert!(
        head.contains("\r\nProxy-Authorization: Basic dTpwQHNz\r\n"),
        "{head}"
    );
}

#[test]
fn no_proxy_and_loopback() {
    let proxies = Matcher::builder()
        .http("http://proxy:3128")
        .no("siem.internal, 10.0.0.0/8")
        .build();
    let via = |host: &str| {
        let endpoint = Endpoint {
            tls: false,
            host: host.into(),
            port: 80,
        };
        Client::new(endpoint, &proxies, None, Duration::from_secs(1))
            .unwrap()
            .proxied()
    };
    assert!(via("siem.example"));
    assert!(!via("a.siem.internal"));
    assert!(!via("10.1.2.3"));
    assert!(!via("127.0.0.1"), "loopback is never proxied");
    assert!(!via("localhost"), "loopback is never proxied");
    for l in ["localhost", "127.0.0.1", "127.3.2.1", "::1", "[::1]"] {
        assert!(is_loopback(l), "{l}");
    }
    for n in ["10.0.0.1", "siem.example", "::2", "localhost.example"] {
        assert!(!is_loopback(n), "{n}");
    }
}
