//! An OpenTelemetry collector's log intake on a thread: the official LogsService (from
//! `opentelemetry-proto`) served by tonic on a loopback port. It records every export and
//! answers OK, UNAVAILABLE with a RetryInfo the first N times, or a partial success.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;
use tonic::{Code, Request, Response, Status};

/// How the collector answers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Answers {
    /// The first this-many exports are answered UNAVAILABLE with RetryInfo of `retry_delay`.
    pub unavailable: usize,
    pub retry_delay: Duration,
    /// Every successful answer rejects this many LogRecords (partial_success).
    pub reject: i64,
}

pub struct OtlpCollector {
    pub port: u16,
    requests: Arc<Mutex<Vec<ExportLogsServiceRequest>>>,
    /// The grpc-encoding of each export taken ("identity" when none).
    encodings: Arc<Mutex<Vec<String>>>,
    refused: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

struct Service {
    answers: Answers,
    requests: Arc<Mutex<Vec<ExportLogsServiceRequest>>>,
    encodings: Arc<Mutex<Vec<String>>>,
    refused: Arc<AtomicUsize>,
}

#[tonic::async_trait]
impl LogsService for Service {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        if self.refused.load(Ordering::SeqCst) < self.answers.unavailable {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(unavailable(self.answers.retry_delay));
        }
        let encoding = request
            .metadata()
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("identity")
            .to_owned();
        self.encodings.lock().unwrap().push(encoding);
        self.requests.lock().unwrap().push(request.into_inner());
        let partial_success = (self.answers.reject > 0).then(|| ExportLogsPartialSuccess {
            rejected_log_records: self.answers.reject,
            error_message: "too old".into(),
        });
        Ok(Response::new(ExportLogsServiceResponse { partial_success }))
    }
}

impl OtlpCollector {
    pub fn start(answers: Answers) -> OtlpCollector {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let encodings = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(AtomicUsize::new(0));
        let service = Service {
            answers,
            requests: Arc::clone(&requests),
            encodings: Arc::clone(&encodings),
            refused: Arc::clone(&refused),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let incoming = tonic::transport::server::TcpIncoming::from(listener);
                tonic::transport::Server::builder()
                    .serve_with_incoming_shutdown(
                        LogsServiceServer::new(service)
                            .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
                        incoming,
                        async {
                            let _ = stopped.await;
                        },
                    )
                    .await
                    .unwrap();
            });
        });
        OtlpCollector {
            port,
            requests,
            encodings,
            refused,
            stop: Some(stop),
        }
    }

    pub fn url(&self) -> String {
        format!("otlp://127.0.0.1:{}", self.port)
    }

    /// Every export taken, in order.
    pub fn requests(&self) -> Vec<ExportLogsServiceRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// The grpc-encoding of every export taken, in order.
    pub fn encodings(&self) -> Vec<String> {
        self.encodings.lock().unwrap().clone()
    }

    /// How many exports were answered UNAVAILABLE.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// Every LogRecord taken, in order.
    pub fn records(&self) -> Vec<LogRecord> {
        records(self.requests())
    }
}

impl Drop for OtlpCollector {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The LogRecords of `requests`, in order.
pub fn records(requests: impl IntoIterator<Item = ExportLogsServiceRequest>) -> Vec<LogRecord> {
    requests
        .into_iter()
        .flat_map(|r| r.resource_logs)
        .flat_map(|r| r.scope_logs)
        .flat_map(|s| s.log_records)
        .collect()
}

/// An OTLP/HTTP export as a receiver read it (gunzipped): the official request message.
pub fn decode_export(body: &[u8]) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest::decode(body).expect("an ExportLogsServiceRequest")
}

/// An attribute's value as text (strings as they are, numbers and booleans printed).
pub fn attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    let v = attributes.iter().find(|kv| kv.key == key)?;
    match v.value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// UNAVAILABLE with a google.rpc.RetryInfo in its details, as a busy collector answers.
fn unavailable(delay: Duration) -> Status {
    let info = RetryInfo {
        retry_delay: Some(ProtoDuration {
            seconds: delay.as_secs() as i64,
            nanos: delay.subsec_nanos() as i32,
        }),
    };
    let status = RpcStatus {
        code: Code::Unavailable as i32,
        message: "busy".into(),
        details: vec![ProtoAny {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: info.encode_to_vec(),
        }],
    };
    Status::with_details(Code::Unavailable, "busy", status.encode_to_vec().into())
}

// google.rpc.Status, google.protobuf.Any, google.rpc.RetryInfo, google.protobuf.Duration: not in
// the OTLP protos.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<ProtoAny>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}
