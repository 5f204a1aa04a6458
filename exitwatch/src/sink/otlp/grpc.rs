//! OTLP/gRPC outputs (`otlp://`, `otlps://`): batches exported to a collector's
//! LogsService over one HTTP/2 connection, TLS through the https outputs' rustls
//! configuration, retried per the OTLP rules with backoff, honouring RetryInfo (bounded).

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::resource::v1::Resource;
use tokio::net::TcpStream;
use tokio_rustls::rustls::{pki_types::ServerName, ClientConfig};
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};
use tower::service_fn;

use super::retry::{self, Verdict};
use super::{excerpt, export, settle};
use crate::sink::batch::gather;
use crate::sink::retry::Streak;
use crate::sink::spec::SinkSpec;
use crate::sink::{Queue, Record, Settings, SinkError};

/// The largest answer accepted from a collector (an ExportLogsServiceResponse is a few bytes).
const MAX_ANSWER: usize = 64 << 10;

/// One OTLP/gRPC collector.
pub struct Target {
    uri: Uri,
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// Requests gzip'd (`?compression=gzip`).
    gzip: bool,
    resource: Resource,
    batch_size: usize,
    batch_wait: Duration,
    timeout: Duration,
}

impl Target {
    /// `tls`: the https outputs' client configuration, for `otlps://`.
    pub fn new(
        spec: &SinkSpec,
        settings: &Settings,
        tls: Option<&Arc<ClientConfig>>,
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
        let tls = match secure {
            false => None,
            true => {
                let name = ServerName::try_from(host.clone()).map_err(|e| {
                    SinkError::Usage(format!(
                        "--output {label}: {host} is not a TLS server name: {e}"
                    ))
                })?;
                // gRPC needs HTTP/2, chosen by ALPN.
                let mut config = ClientConfig::clone(tls.expect("TLS loaded for otlps"));
                config.alpn_protocols = vec![b"h2".to_vec()];
                Some((TlsConnector::from(Arc::new(config)), name))
            }
        };
        let scheme = if *secure { "https" } else { "http" };
        let authority = match host.contains(':') {
            true => format!("[{host}]:{port}"),
            false => format!("{host}:{port}"),
        };
        let uri = format!("{scheme}://{authority}")
            .parse::<Uri>()
            .map_err(|e| SinkError::Usage(format!("--output {label}: {e}")))?;
        Ok(Target {
            uri,
            host: host.clone(),
            port: *port,
            tls,
            gzip: *gzip,
            resource: export::resource(&settings.node, super::k8s_node().as_deref()),
            batch_size: settings.http.batch_size.max(1),
            batch_wait: settings.http.batch_wait,
            timeout: settings.http.timeout,
        })
    }

    pub(crate) async fn run(self, mut queue: Queue) {
        let mut client = None;
        let mut streak = Streak::default();
        let mut batch: Vec<Record> = Vec::with_capacity(self.batch_size);
        while gather(&mut queue, &mut batch, self.batch_size, self.batch_wait).await {
            let request = export::request(&self.resource, &batch);
            let n = batch.len();
            loop {
                let (verdict, why) = self.attempt(&mut client, request.clone()).await;
                match settle(&queue, &mut streak, n, verdict, why) {
                    None => break,
                    Some(wait) => {
                        client = None;
                        tokio::time::sleep(wait).await;
                    }
                }
            }
            queue.settled(n);
            batch.clear();
        }
    }

    /// One export, within the timeout; the verdict and what to say about it.
    async fn attempt(
        &self,
        client: &mut Option<LogsServiceClient<Channel>>,
        request: ExportLogsServiceRequest,
    ) -> (Verdict, String) {
        let call = async {
            if client.is_none() {
                *client = Some(self.connect().await?);
            }
            let c = client.as_mut().expect("connected");
            let mut request = tonic::Request::new(request);
            request.set_timeout(self.timeout);
            c.export(request).await
        };
        let answer = match tokio::time::timeout(self.timeout, call).await {
            Ok(a) => a,
            Err(_) => {
                let why = format!("no answer within {} s", self.timeout.as_secs_f64());
                return (Verdict::Retry { after: None }, why);
            }
        };
        match answer {
            Ok(response) => {
                let partial = response.into_inner().partial_success.unwrap_or_default();
                let rejected = retry::rejected(partial.rejected_log_records, usize::MAX);
                (
                    Verdict::Delivered { rejected },
                    excerpt(&partial.error_message),
                )
            }
            Err(status) => {
                let verdict = retry::grpc(status.code(), retry::retry_info(status.details()));
                let why = format!(
                    "the collector answered {:?}: {}",
                    status.code(),
                    excerpt(status.message())
                );
                (verdict, why)
            }
        }
    }

    async fn connect(&self) -> Result<LogsServiceClient<Channel>, tonic::Status> {
        let (host, port, tls) = (self.host.clone(), self.port, self.tls.clone());
        let connector = service_fn(move |_: Uri| {
            let (host, tls) = (host.clone(), tls.clone());
            async move {
                let tcp = TcpStream::connect((host.as_str(), port)).await?;
                tcp.set_nodelay(true)?;
                let io: Box<dyn Io> = match tls {
                    None => Box::new(tcp),
                    Some((connector, name)) => Box::new(connector.connect(name, tcp).await?),
                };
                Ok::<_, std::io::Error>(TokioIo::new(io))
            }
        });
        let channel = Endpoint::from(self.uri.clone())
            .connect_timeout(self.timeout)
            .connect_with_connector(connector)
            .await
            .map_err(|e| tonic::Status::unavailable(connect_error(&e)))?;
        let client = LogsServiceClient::new(channel).max_decoding_message_size(MAX_ANSWER);
        Ok(match self.gzip {
            true => client.send_compressed(tonic::codec::CompressionEncoding::Gzip),
            false => client,
        })
    }
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// The connection error with its causes ("transport error: connection refused").
fn connect_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("cannot connect: {e}");
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    excerpt(&text)
}
