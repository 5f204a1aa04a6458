//! HTTP(S) outputs: batches of events (up to `--http-batch-size`, or what `--http-batch-wait`
//! gathered) POSTed as newline-delimited JSON or Splunk HEC envelopes through [`client`], tried
//! again with backoff until the receiver takes them, split in halves when it finds them too large.

pub(super) mod body;
pub mod client;

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use hyper_util::client::proxy::matcher::Matcher;
use tokio_rustls::rustls::ClientConfig;

use super::batch::gather;
use super::retry::Streak;
use super::spec::{Output, SinkSpec, TOKEN_ADVICE};
use super::{tls, Queue, Record, Settings, SinkError};
use body::Envelope;
use client::{Answer, Client, Endpoint};

/// Where the token comes from when `--http-token-file` is not given.
pub const TOKEN_ENV: &str = "EXITWATCH_HTTP_TOKEN";

/// What every http output shares: the global token, the TLS configuration, the proxies.
pub struct Shared {
    token: Option<Token>,
    tls: Option<Arc<ClientConfig>>,
    proxies: Matcher,
}

/// A token and where it came from; one read from a file is read again when a receiver refuses it.
#[derive(Clone, Debug)]
struct Token {
    file: Option<PathBuf>,
    value: String,
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

impl Token {
    fn read(path: &std::path::Path, what: &'static str) -> Result<Token, SinkError> {
        let text = std::fs::read_to_string(path).map_err(|error| SinkError::Read {
            what,
            path: path.to_owned(),
            error,
        })?;
        Ok(Token {
            file: Some(path.to_owned()),
            value: check_token(&text, &format!("{what} {}", path.display()))?,
        })
    }

    /// Reads the file again; says whether the token changed.
    fn reread(&mut self) -> Result<bool, String> {
        let Some(path) = &self.file else {
            return Ok(false);
        };
        match Token::read(path, "the token file") {
            Ok(t) if t.value != self.value => {
                self.value = t.value;
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Shared {
    pub fn load(outputs: &[Output], settings: &Settings) -> Result<Shared, SinkError> {
        let token = match &settings.http.token_file {
            Some(path) => Some(Token::read(path, "--http-token-file")?),
            None => match std::env::var(TOKEN_ENV) {
                Ok(t) => Some(Token {
                    file: None,
                    value: check_token(&t, TOKEN_ENV)?,
                }),
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
        Ok(Shared {
            token,
            tls,
            proxies: Matcher::from_env(),
        })
    }

    pub fn target(&self, spec: &SinkSpec, settings: &Settings) -> Result<Target, SinkError> {
        let SinkSpec::Http {
            tls,
            host,
            port,
            path,
            hec,
            token_file,
            gzip,
        } = spec
        else {
            unreachable!("an http spec")
        };
        let label = spec.label();
        let token = match token_file {
            Some(f) => Some(Token::read(f, "token_file")?),
            None => self.token.clone(),
        };
        if token.is_some() && !tls && !client::is_loopback(host) {
            return Err(SinkError::Usage(format!(
                "--output {label}: a token must not cross the network in clear text: use https:// for {host}, or give this output no token"
            )));
        }
        let (scheme, content_type) = match (hec, &token) {
            (Some(_), None) => {
                return Err(SinkError::Usage(format!(
                    "--output {label}?hec=1: Splunk HEC needs a token: write it to a file and pass --http-token-file FILE (or ?token_file=FILE), or set {TOKEN_ENV} ({TOKEN_ADVICE})"
                )))
            }
            (Some(_), Some(_)) => ("Splunk", "application/json"),
            (None, _) => ("Bearer", "application/x-ndjson"),
        };
        if *tls && tokio_rustls::rustls::pki_types::ServerName::try_from(host.as_str()).is_err() {
            return Err(SinkError::Usage(format!(
                "--output {label}: {host} is not a TLS server name"
            )));
        }
        let endpoint = Endpoint {
            tls: *tls,
            host: host.clone(),
            port: *port,
        };
        let client = Client::new(
            endpoint,
            &self.proxies,
            self.tls.clone(),
            settings.http.timeout,
        )
        .map_err(|e| SinkError::Usage(format!("--output {label}: {e}")))?;
        Ok(Target {
            client: Box::new(client),
            path: path.clone(),
            token,
            scheme,
            content_type,
            gzip: *gzip,
            hec: hec.as_ref().map(|h| Envelope {
                host: settings.node.clone(),
                sourcetype: h.sourcetype.clone(),
                index: h.index.clone(),
            }),
            batch_size: settings.http.batch_size.max(1),
            batch_wait: settings.http.batch_wait,
        })
    }
}

/// One HTTP receiver.
pub struct Target {
    /// Boxed: the connection state is large, and outputs are moved around as `Worker`s.
    client: Box<Client>,
    path: String,
    token: Option<Token>,
    /// The Authorization scheme: `Splunk` for HEC, else `Bearer`.
    scheme: &'static str,
    content_type: &'static str,
    gzip: bool,
    hec: Option<Envelope>,
    batch_size: usize,
    batch_wait: Duration,
}

/// How one attempt ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Delivered,
    /// 413: the receiver takes smaller batches.
    TooLarge(String),
    /// Refused for good (4xx but 401/403/408/413/429): trying again would fail the same way.
    Refused(String),
    /// Worth trying again, after at least the wait the receiver asked for.
    Failed(String, Option<Duration>),
    /// 401/403: the token file is read again before the next attempt.
    Unauthorized(String),
}

/// What an answer means for the batch.
fn outcome(answer: &Answer) -> Outcome {
    let why = || match answer.excerpt.is_empty() {
        true => format!("the receiver answered {}", answer.status),
        false => format!(
            "the receiver answered {}: {}",
            answer.status, answer.excerpt
        ),
    };
    match answer.status {
        200..=299 => Outcome::Delivered,
        401 | 403 => Outcome::Unauthorized(why()),
        413 => Outcome::TooLarge(why()),
        408 | 429 | 500..=599 => Outcome::Failed(why(), answer.retry_after),
        _ => Outcome::Refused(why()),
    }
}

impl Target {
    pub async fn run(mut self, mut queue: Queue) {
        let mut streak = Streak::default();
        let mut batch: Vec<Record> = Vec::with_capacity(self.batch_size);
        while gather(&mut queue, &mut batch, self.batch_size, self.batch_wait).await {
            self.deliver(&queue, &batch, &mut streak).await;
            queue.settled(batch.len());
            batch.clear();
        }
    }

    /// Delivers `batch`, in halves (and their halves...) while the receiver says 413.
    async fn deliver(&mut self, queue: &Queue, batch: &[Record], streak: &mut Streak) {
        let mut parts = vec![batch];
        while let Some(part) = parts.pop() {
            let n = part.len() as u64;
            loop {
                match self.attempt(part).await {
                    Outcome::Delivered => {
                        streak.succeeded(&queue.stats);
                        queue.stats.sent.fetch_add(n, Relaxed);
                    }
                    Outcome::TooLarge(_) if part.len() > 1 => {
                        let (a, b) = part.split_at(part.len() / 2);
                        // The first half goes first: order is kept.
                        parts.push(b);
                        parts.push(a);
                    }
                    Outcome::TooLarge(why) | Outcome::Refused(why) => {
                        eprintln!(
                            "exitwatch: warning: output {}: {why}; dropped {n} events (trying again would not help)",
                            queue.name()
                        );
                        queue.stats.set_error(Some(why));
                        queue.stats.dropped.fetch_add(n, Relaxed);
                    }
                    Outcome::Failed(why, asked) => {
                        let wait = streak.failed(&queue.stats, &why);
                        let wait = asked.map_or(wait, |a| a.max(wait));
                        tokio::time::sleep(wait.min(client::MAX_RETRY_AFTER)).await;
                        continue;
                    }
                    Outcome::Unauthorized(why) => {
                        let why = match self.token.as_mut().map(Token::reread) {
                            Some(Ok(true)) => format!("{why}; read the new token from its file"),
                            Some(Ok(false))
                                if self.token.as_ref().is_some_and(|t| t.file.is_some()) =>
                            {
                                format!("{why}; the token in its file is unchanged: write the valid one there")
                            }
                            Some(Err(e)) => format!("{why}; {e}"),
                            _ => format!("{why}: give this output a valid token"),
                        };
                        let wait = streak.failed(&queue.stats, &why);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                }
                break;
            }
        }
    }

    async fn attempt(&self, part: &[Record]) -> Outcome {
        let mut payload = body::body(part, self.hec.as_ref());
        let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::with_capacity(2);
        if self.gzip {
            payload = body::gzip(&payload);
            headers.push((
                http::header::CONTENT_ENCODING,
                HeaderValue::from_static("gzip"),
            ));
        }
        if let Some(t) = &self.token {
            let mut v = HeaderValue::try_from(format!("{} {}", self.scheme, t.value))
                .expect("checked: a token is one printable word");
            v.set_sensitive(true);
            headers.push((http::header::AUTHORIZATION, v));
        }
        match self
            .client
            .post(
                &self.path,
                self.content_type,
                &headers,
                Bytes::from(payload),
            )
            .await
        {
            Ok(answer) => outcome(&answer),
            Err(e) => Outcome::Failed(e.to_string(), None),
        }
    }
}

#[cfg(test)]
mod tests;
