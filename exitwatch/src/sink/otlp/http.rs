//! OTLP/HTTP outputs (`otlp+http://`, `otlp+https://`): batches exported as protobuf POSTs to
//! the collector's /v1/logs through the http outputs' client (kept-alive connection, proxies
//! from the environment, TLS, answers bounded in time and size), retried per the OTLP rules.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use hyper_util::client::proxy::matcher::Matcher;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use tokio_rustls::rustls::ClientConfig;

use super::retry::{self, Verdict};
use super::{excerpt, export, settle};
use crate::sink::batch::gather;
use crate::sink::http::{body::gzip, client};
use crate::sink::retry::Streak;
use crate::sink::spec::SinkSpec;
use crate::sink::{Queue, Record, Settings, SinkError};

/// Where OTLP/HTTP receivers take logs.
const PATH: &str = "/v1/logs";
const PROTOBUF: &str = "application/x-protobuf";

/// One OTLP/HTTP collector.
pub struct Target {
    /// Boxed: the connection state is large, and outputs are moved around as `Worker`s.
    client: Box<client::Client>,
    resource: Resource,
    gzip: bool,
    batch_size: usize,
    batch_wait: Duration,
}

impl Target {
    /// `tls`: the TLS outputs' client configuration, for `otlp+https://`.
    pub fn new(
        spec: &SinkSpec,
        settings: &Settings,
        tls: Option<&Arc<ClientConfig>>,
        proxies: &Matcher,
    ) -> Result<Target, SinkError> {
        let SinkSpec::Otlp {
            tls: secure,
            host,
            port,
            gzip,
            ..
        } = spec
        else {
            unreachable!("an otlp spec")
        };
        let label = spec.label();
        if *secure && tokio_rustls::rustls::pki_types::ServerName::try_from(host.as_str()).is_err()
        {
            return Err(SinkError::Usage(format!(
                "--output {label}: {host} is not a TLS server name"
            )));
        }
        let endpoint = client::Endpoint {
            tls: *secure,
            host: host.clone(),
            port: *port,
        };
        let tls = match secure {
            true => Some(Arc::clone(tls.expect("TLS loaded for otlp+https"))),
            false => None,
        };
        let client = client::Client::new(endpoint, proxies, tls, settings.http.timeout)
            .map_err(|e| SinkError::Usage(format!("--output {label}: {e}")))?;
        Ok(Target {
            client: Box::new(client),
            resource: export::resource(&settings.node, super::k8s_node().as_deref()),
            gzip: *gzip,
            batch_size: settings.http.batch_size.max(1),
            batch_wait: settings.http.batch_wait,
        })
    }

    pub(crate) async fn run(self, mut queue: Queue) {
        let mut streak = Streak::default();
        let mut batch: Vec<Record> = Vec::with_capacity(self.batch_size);
        while gather(&mut queue, &mut batch, self.batch_size, self.batch_wait).await {
            let mut body = export::request(&self.resource, &batch).encode_to_vec();
            let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
            if self.gzip {
                body = gzip(&body);
                headers.push((
                    http::header::CONTENT_ENCODING,
                    HeaderValue::from_static("gzip"),
                ));
            }
            let body = Bytes::from(body);
            let n = batch.len();
            loop {
                let (verdict, why) = self.attempt(&headers, body.clone(), n).await;
                match settle(&queue, &mut streak, n, verdict, why) {
                    None => break,
                    Some(wait) => tokio::time::sleep(wait).await,
                }
            }
            queue.settled(n);
            batch.clear();
        }
    }

    /// One export; the verdict and what to say about it.
    async fn attempt(
        &self,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
        n: usize,
    ) -> (Verdict, String) {
        match self.client.post(PATH, PROTOBUF, headers, body).await {
            Ok(answer) => verdict(&answer, n),
            Err(e) => (Verdict::Retry { after: None }, e.to_string()),
        }
    }
}

/// What an answer means for a batch of `n` (pure): a 2xx carries an
/// ExportLogsServiceResponse whose partial_success says what was rejected (an empty or
/// undecodable body is a full success, as the specification allows an empty one).
fn verdict(answer: &client::Answer, n: usize) -> (Verdict, String) {
    match retry::http(answer.status, answer.retry_after) {
        Verdict::Delivered { .. } => {
            let partial = ExportLogsServiceResponse::decode(answer.body.as_ref())
                .ok()
                .and_then(|r| r.partial_success)
                .unwrap_or_default();
            let rejected = retry::rejected(partial.rejected_log_records, n);
            (
                Verdict::Delivered { rejected },
                excerpt(&partial.error_message),
            )
        }
        v => {
            let why = match answer.excerpt.is_empty() {
                true => format!("the collector answered {}", answer.status),
                false => format!(
                    "the collector answered {}: {}",
                    answer.status, answer.excerpt
                ),
            };
            (v, why)
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;

    use super::*;

    fn answer(status: u16, body: Vec<u8>) -> client::Answer {
        client::Answer {
            status,
            retry_after: Some(Duration::from_secs(3)),
            excerpt: String::new(),
            body: Bytes::from(body),
        }
    }

    #[test]
    fn a_2xx_is_delivered_less_what_its_partial_success_rejected() {
        assert_eq!(
            verdict(&answer(200, vec![]), 5).0,
            Verdict::Delivered { rejected: 0 }
        );
        let partial = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 2,
                error_message: "too old\u{1b}[2J".into(),
            }),
        };
        let (v, why) = verdict(&answer(200, partial.encode_to_vec()), 5);
        assert_eq!(v, Verdict::Delivered { rejected: 2 });
        assert_eq!(why, "too old [2J");
        // A collector claiming more than was sent, or garbage: bounded, never a panic.
        let greedy = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: i64::MAX,
                error_message: String::new(),
            }),
        };
        assert_eq!(
            verdict(&answer(200, greedy.encode_to_vec()), 5).0,
            Verdict::Delivered { rejected: 5 }
        );
        assert_eq!(
            verdict(&answer(200, vec![0xff; 64]), 5).0,
            Verdict::Delivered { rejected: 0 }
        );
    }

    #[test]
    fn throttling_is_retried_after_what_the_collector_asked_and_the_rest_refused() {
        assert_eq!(
            verdict(&answer(503, vec![]), 1).0,
            Verdict::Retry {
                after: Some(Duration::from_secs(3))
            }
        );
        let (v, why) = verdict(&answer(400, vec![]), 1);
        assert_eq!(v, Verdict::Refused);
        assert_eq!(why, "the collector answered 400");
    }
}
