//! HTTP(S) outputs: batches of events (up to `--http-batch-size`, or what `--http-batch-wait`
//! gathered) POSTed as newline-delimited JSON or Splunk HEC envelopes, over a kept-alive
//! HTTP/1.1 connection, tried again with backoff until the receiver takes them.

mod wire;

use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{pki_types::ServerName, ClientConfig};
use tokio_rustls::TlsConnector;

use super::retry::Streak;
use super::spec::{Output, SinkSpec, TOKEN_ADVICE};
use super::{tls, Queue, Record, Settings, SinkError};
use wire::{Envelope, Framing};

/// Where the token comes from when `--http-token-file` is not given.
pub const TOKEN_ENV: &str = "EXITWATCH_HTTP_TOKEN";
/// The most of a response body read before the connection is given up.
const MAX_BODY: usize = 1 << 20;

/// What every http output shares: the token and the TLS configuration.
pub struct Shared {
    token: Option<String>,
    tls: Option<Arc<ClientConfig>>,
}

/// A token must be one header-safe word: no spaces, no control characters.
fn check_token(token: &str, from: &str) -> Result<String, SinkError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(SinkError::Usage(format!(
            "the HTTP token from {from} is empty"
        )));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SinkError::Usage(format!(
            "the HTTP token from {from} holds spaces or control characters: it must be one word"
        )));
    }
    Ok(token.to_owned())
}

impl Shared {
    pub fn load(outputs: &[Output], settings: &Settings) -> Result<Shared, SinkError> {
        let token = match &settings.http.token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| SinkError::Read {
                    what: "--http-token-file",
                    path: path.clone(),
                    error,
                })?;
                Some(check_token(
                    &text,
                    &format!("--http-token-file {}", path.display()),
                )?)
            }
            None => match std::env::var(TOKEN_ENV) {
                Ok(t) => Some(check_token(&t, TOKEN_ENV)?),
                Err(_) => None,
            },
        };
        let needs_tls = outputs
            .iter()
            .any(|o| matches!(o.spec, SinkSpec::Http { tls: true, .. }));
        let tls = match needs_tls {
            true => Some(tls::client_config(settings.http.ca_file.as_deref())?),
            false => None,
        };
        Ok(Shared { token, tls })
    }

    pub fn target(&self, spec: &SinkSpec, settings: &Settings) -> Result<Target, SinkError> {
        let SinkSpec::Http {
            tls,
            host,
            port,
            path,
            hec,
        } = spec
        else {
            unreachable!("an http spec")
        };
        let label = spec.label();
        let (authorization, content_type) = match (hec, &self.token) {
            (Some(_), None) => {
                return Err(SinkError::Usage(format!(
                    "--output {label}?hec=1: Splunk HEC needs a token: write it to a file and pass --http-token-file FILE, or set {TOKEN_ENV} ({TOKEN_ADVICE})"
                )))
            }
            (Some(_), Some(t)) => (Some(format!("Splunk {t}")), "application/json"),
            (None, t) => (t.as_ref().map(|t| format!("Bearer {t}")), "application/x-ndjson"),
        };
        let connector = match tls {
            true => {
                let name = ServerName::try_from(host.clone()).map_err(|e| {
                    SinkError::Usage(format!(
                        "--output {label}: {host} is not a TLS server name: {e}"
                    ))
                })?;
                let config = self.tls.clone().expect("TLS loaded for https");
                Some((TlsConnector::from(config), name))
            }
            false => None,
        };
        let default_port = if *tls { 443 } else { 80 };
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        Ok(Target {
            host: host.clone(),
            port: *port,
            host_header: match *port == default_port {
                true => bracketed,
                false => format!("{bracketed}:{port}"),
            },
            path: path.clone(),
            tls: connector,
            authorization,
            content_type,
            hec: hec.as_ref().map(|h| Envelope {
                host: settings.node.clone(),
                sourcetype: h.sourcetype.clone(),
                index: h.index.clone(),
            }),
            batch_size: settings.http.batch_size.max(1),
            batch_wait: settings.http.batch_wait,
            timeout: settings.http.timeout,
        })
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One HTTP receiver.
pub struct Target {
    host: String,
    port: u16,
    host_header: String,
    path: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    authorization: Option<String>,
    content_type: &'static str,
    hec: Option<Envelope>,
    batch_size: usize,
    batch_wait: Duration,
    timeout: Duration,
}

/// How one attempt ended.
enum Outcome {
    Delivered,
    /// Refused for good (4xx but 408/429): trying again would fail the same way.
    Refused(String),
    Failed(String),
}

impl Target {
    pub async fn run(self, mut queue: Queue) {
        let mut conn: Option<Box<dyn Io>> = None;
        let mut streak = Streak::default();
        let mut batch: Vec<Record> = Vec::with_capacity(self.batch_size);
        while let Some(first) = queue.recv().await {
            batch.push(first);
            let until = tokio::time::Instant::now() + self.batch_wait;
            while batch.len() < self.batch_size {
                tokio::select! {
                    next = queue.recv() => match next {
                        Some(r) => batch.push(r),
                        // Shutting down: send what there is now.
                        None => break,
                    },
                    _ = tokio::time::sleep_until(until) => break,
                }
            }
            let body = wire::body(&batch, self.hec.as_ref());
            let head = wire::request_head(
                &self.path,
                &self.host_header,
                self.content_type,
                self.authorization.as_deref(),
                body.len(),
            );
            let mut request = head.into_bytes();
            request.extend_from_slice(&body);
            let n = batch.len() as u64;
            loop {
                match self.attempt(&mut conn, &request).await {
                    Outcome::Delivered => {
                        streak.succeeded(&queue.stats);
                        queue.stats.sent.fetch_add(n, Relaxed);
                        break;
                    }
                    Outcome::Refused(why) => {
                        eprintln!(
                            "exitwatch: warning: output {}: {why}; dropped {n} events (trying again would not help)",
                            queue.name()
                        );
                        queue.stats.set_error(Some(why));
                        queue.stats.dropped.fetch_add(n, Relaxed);
                        break;
                    }
                    Outcome::Failed(why) => {
                        conn = None;
                        let wait = streak.failed(&queue.stats, &why);
                        tokio::time::sleep(wait).await;
                    }
                }
            }
            queue.settled(batch.len());
            batch.clear();
        }
    }

    async fn attempt(&self, conn: &mut Option<Box<dyn Io>>, request: &[u8]) -> Outcome {
        // A kept-alive connection the server has since closed fails at once: one fresh try.
        let reused = conn.is_some();
        let mut result = self.exchange(conn, request).await;
        if reused && matches!(&result, Err(e) if e.kind() != io::ErrorKind::TimedOut) {
            *conn = None;
            result = self.exchange(conn, request).await;
        }
        match result {
            Ok((status, _)) if (200..300).contains(&status) => Outcome::Delivered,
            Ok((status, excerpt)) if !wire::retryable(status) => {
                Outcome::Refused(format!("the receiver answered {status}: {excerpt}"))
            }
            Ok((status, excerpt)) => {
                Outcome::Failed(format!("the receiver answered {status}: {excerpt}"))
            }
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// Sends `request` and reads the answer, within `timeout`; the connection is kept for the
    /// next batch when the server allows it.
    async fn exchange(
        &self,
        conn: &mut Option<Box<dyn Io>>,
        request: &[u8],
    ) -> io::Result<(u16, String)> {
        let timed_out = || {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {} s", self.timeout.as_secs_f64()),
            )
        };
        let result = tokio::time::timeout(self.timeout, async {
            if conn.is_none() {
                *conn = Some(self.connect().await?);
            }
            let c = conn.as_mut().expect("connected");
            c.write_all(request).await?;
            c.flush().await?;
            read_response(c).await
        })
        .await
        .unwrap_or_else(|_| Err(timed_out()));
        match result {
            Ok((status, excerpt, close)) => {
                if close {
                    *conn = None;
                }
                Ok((status, excerpt))
            }
            Err(e) => {
                *conn = None;
                Err(e)
            }
        }
    }

    async fn connect(&self) -> io::Result<Box<dyn Io>> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some((connector, name)) => Ok(Box::new(connector.connect(name.clone(), tcp).await?)),
        }
    }
}

/// Reads one response: its status, the start of its body (for messages), and whether the
/// connection must be closed after it.
async fn read_response(c: &mut Box<dyn Io>) -> io::Result<(u16, String, bool)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 8192];
    let closed = || {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the receiver closed the connection without answering",
        )
    };
    let head = loop {
        let n = c.read(&mut chunk).await?;
        if n == 0 {
            return Err(closed());
        }
        buf.extend_from_slice(&chunk[..n]);
        match wire::parse_head(&buf).map_err(io::Error::other)? {
            Some(h) => break h,
            None if buf.len() > 64 * 1024 => {
                return Err(io::Error::other("the response head is over 64 KiB"))
            }
            None => {}
        }
    };
    let mut close = head.close;
    // The status is known: a body that cannot be read only costs the connection.
    loop {
        let body = &buf[head.len..];
        let complete = match head.framing {
            Framing::Length(n) => body.len() >= n,
            Framing::Chunked => !matches!(wire::chunked_end(body), Ok(None)),
            Framing::UntilClose => false,
        };
        if complete || body.len() > MAX_BODY {
            close |= body.len() > MAX_BODY
                || matches!(head.framing, Framing::Chunked if wire::chunked_end(body).is_err());
            break;
        }
        match c.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                close = true;
                break;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = &buf[head.len..];
    let excerpt: String = String::from_utf8_lossy(&body[..body.len().min(200)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Ok((head.status, excerpt.trim().to_owned(), close))
}
