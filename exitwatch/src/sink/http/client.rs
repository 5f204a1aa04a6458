//! One HTTP(S) receiver over hyper: a kept-alive HTTP/1.1 connection, direct or through the
//! proxy the environment names (CONNECT tunnel for https, absolute-form requests for http),
//! every exchange bounded in time and every answer in size.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_rustls::rustls::{pki_types::ServerName, ClientConfig};
use tokio_rustls::TlsConnector;
use tower::ServiceExt;

pub use route::ProxyError;
use route::{route, Route};

/// The most of a response body kept (for the error excerpt); past it the connection is dropped.
pub const MAX_BODY: usize = 64 * 1024;
/// The longest wait a receiver may ask for with Retry-After.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// The most of a response head (status line and headers) read.
const MAX_HEAD: usize = 64 * 1024;
/// Characters of the body quoted in messages.
const EXCERPT: usize = 200;

/// Where requests go.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

/// What the receiver answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// Retry-After in seconds, capped at [`MAX_RETRY_AFTER`].
    pub retry_after: Option<Duration>,
    /// The start of the body, control characters blanked, for messages.
    pub excerpt: String,
    /// The body as received, at most [`MAX_BODY`] bytes (an OTLP/HTTP answer is decoded from it).
    pub body: Bytes,
}

/// Why there is no answer. Never holds a URL option, a token or proxy credentials.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no answer within {0:?} (--http-timeout)")]
    Timeout(Duration),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("cannot reach the receiver through the proxy: {0}")]
    Proxy(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("the exchange failed: {0}")]
    Exchange(String),
}

/// An HTTP client for one receiver; `post` may be called again and again (one at a time is best:
/// there is one kept-alive connection).
pub struct Client {
    endpoint: Endpoint,
    /// The Host header: host, and port unless the scheme's default.
    authority: String,
    route: Route,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timeout: Duration,
    conn: Mutex<Option<Conn>>,
}

/// A kept-alive connection; its driver task ends with it.
struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Whether `host` is this machine: `localhost`, 127.0.0.0/8 or ::1.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Client {
    /// A client for `endpoint`, through the proxy `proxies` choose for it; `tls` is required for
    /// https.
    pub fn new(
        endpoint: Endpoint,
        proxies: &Matcher,
        tls: Option<Arc<ClientConfig>>,
        timeout: Duration,
    ) -> Result<Client, ProxyError> {
        let default_port = if endpoint.tls { 443 } else { 80 };
        let host = match endpoint.host.contains(':') {
            true => format!("[{}]", endpoint.host),
            false => endpoint.host.clone(),
        };
        let authority = match endpoint.port == default_port {
            true => host.clone(),
            false => format!("{host}:{}", endpoint.port),
        };
        let scheme = if endpoint.tls { "https" } else { "http" };
        // Loopback is never proxied: a node-local collector stays local whatever the environment.
        let route = match is_loopback(&endpoint.host) {
            true => Route::Direct,
            false => route(scheme, &authority, endpoint.tls, proxies)?,
        };
        let tls = match (endpoint.tls, tls) {
            (true, Some(config)) => {
                let name = ServerName::try_from(endpoint.host.clone())
                    .expect("host names and IP addresses are TLS server names");
                Some((TlsConnector::from(config), name))
            }
            (true, None) => unreachable!("https without a TLS configuration"),
            (false, _) => None,
        };
        Ok(Client {
            endpoint,
            authority,
            route,
            tls,
            timeout,
            conn: Mutex::new(None),
        })
    }

    /// Whether requests go through a proxy.
    #[cfg(test)]
    pub fn proxied(&self) -> bool {
        !matches!(self.route, Route::Direct)
    }

    /// POSTs `body` to `path` (origin-form, e.g. `/v1/logs`) with `content_type` and `headers`,
    /// within the timeout. A kept-alive connection that turns out closed is replaced once.
    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Answer, ClientError> {
        let mut conn = self.conn.lock().await;
        let deadline = Instant::now() + self.timeout;
        let reused = conn.as_ref().is_some_and(|c| !c.sender.is_closed());
        let first = self
            .exchange(
                &mut conn,
                deadline,
                path,
                content_type,
                headers,
                body.clone(),
            )
            .await;
        match first {
            Err(ClientError::Exchange(_)) if reused => {
                self.exchange(&mut conn, deadline, path, content_type, headers, body)
                    .await
            }
            other => other,
        }
    }

    async fn exchange(
        &self,
        conn: &mut Option<Conn>,
        deadline: Instant,
        path: &str,
        content_type: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Answer, ClientError> {
        let request = self.request(path, content_type, headers, body)?;
        let head = tokio::time::timeout_at(deadline, async {
            if conn.as_ref().is_none_or(|c| c.sender.is_closed()) {
                *conn = None;
                *conn = Some(self.connect().await?);
            }
            let c = conn.as_mut().expect("connected");
            c.sender
                .ready()
                .await
                .map_err(|e| ClientError::Exchange(e.to_string()))?;
            c.sender
                .send_request(request)
                .await
                .map_err(|e| ClientError::Exchange(e.to_string()))
        })
        .await;
        let response = match head {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                *conn = None;
                return Err(e);
            }
            Err(_) => {
                *conn = None;
                return Err(ClientError::Timeout(self.timeout));
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
        // The status is known: a body that cannot be read in time or is too long only costs the
        // connection.
        let mut body = response.into_body();
        let mut kept = Vec::new();
        let read = tokio::time::timeout_at(deadline, async {
            while let Some(frame) = body.frame().await {
                let Ok(data) = frame.map_err(|_| ())?.into_data() else {
                    continue; // trailers
                };
                let room = MAX_BODY - kept.len();
                kept.extend_from_slice(&data[..data.len().min(room)]);
                if data.len() > room {
                    return Err(());
                }
            }
            Ok(())
        })
        .await;
        if !matches!(read, Ok(Ok(()))) {
            *conn = None;
        }
        let excerpt = excerpt(&kept);
        Ok(Answer {
            status,
            retry_after,
            excerpt,
            body: Bytes::from(kept),
        })
    }

    fn request(
        &self,
        path: &str,
        content_type: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, ClientError> {
        let uri = match &self.route {
            Route::Forward { .. } => format!("http://{}{path}", self.authority),
            _ => path.to_owned(),
        };
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(http::header::HOST, &self.authority)
            .header(
                http::header::USER_AGENT,
                concat!("exitwatch/", env!("CARGO_PKG_VERSION")),
            )
            .header(http::header::CONTENT_TYPE, content_type);
        if let Route::Forward { auth: Some(a), .. } = &self.route {
            builder = builder.header(http::header::PROXY_AUTHORIZATION, a.clone());
        }
        for (k, v) in headers {
            builder = builder.header(k, v.clone());
        }
        builder
            .body(Full::new(body))
            .map_err(|e| ClientError::Exchange(format!("cannot build the request: {e}")))
    }

    async fn connect(&self) -> Result<Conn, ClientError> {
        let tcp = match &self.route {
            Route::Direct => TcpStream::connect((self.endpoint.host.as_str(), self.endpoint.port))
                .await
                .map_err(|e| ClientError::Connect(e.to_string()))?,
            Route::Forward { host, port, .. } => TcpStream::connect((host.as_str(), *port))
                .await
                .map_err(|e| ClientError::Proxy(e.to_string()))?,
            Route::Tunnel { proxy, auth } => {
                let mut http = HttpConnector::new();
                http.set_nodelay(true);
                let mut tunnel = Tunnel::new(proxy.clone(), http);
                if let Some(a) = auth {
                    tunnel = tunnel.with_auth(a.clone());
                }
                let dst: Uri = format!("https://{}", self.authority_with_port())
                    .parse()
                    .map_err(|e| ClientError::Proxy(format!("{e}")))?;
                let io = tunnel.oneshot(dst).await.map_err(|e| {
                    let cause = std::error::Error::source(&e)
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default();
                    ClientError::Proxy(format!("{e}{cause}"))
                })?;
                io.into_inner()
            }
        };
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match &self.tls {
            None => Box::new(tcp),
            Some((connector, name)) => Box::new(
                connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| ClientError::Tls(e.to_string()))?,
            ),
        };
        let (sender, connection) = http1::Builder::new()
            .title_case_headers(true)
            .max_buf_size(MAX_HEAD)
            .handshake(TokioIo::new(io))
            .await
            .map_err(|e| ClientError::Exchange(e.to_string()))?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn { sender, driver })
    }

    /// host:port always, as CONNECT wants it.
    fn authority_with_port(&self) -> String {
        match self.endpoint.host.contains(':') {
            true => format!("[{}]:{}", self.endpoint.host, self.endpoint.port),
            false => format!("{}:{}", self.endpoint.host, self.endpoint.port),
        }
    }
}

/// The start of a body, for a message: control characters blanked, at most [`EXCERPT`] chars.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(EXCERPT * 4)]);
    let cut: String = text
        .chars()
        .take(EXCERPT)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cut.trim().to_owned()
}

mod route;
#[cfg(test)]
mod tests;
