//! A batch of events as one `ExportLogsServiceRequest` (pure): one resource (this exitwatch on
//! this node), one scope, the events' LogRecords in order.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::record::bound;
use crate::sink::Record;

/// The instrumentation scope every LogRecord is filed under.
pub const SCOPE: &str = "exitwatch";

/// What the collector learns of the sender of every batch: `service.name`, `service.version`,
/// `host.name` (the node's name) and, under Kubernetes (`NODE_NAME` set by the DaemonSet from
/// the downward API), `k8s.node.name`.
pub fn resource(node: &str, k8s_node: Option<&str>) -> Resource {
    let mut attributes = vec![
        kv("service.name", "exitwatch"),
        kv("service.version", env!("CARGO_PKG_VERSION")),
        kv("host.name", node),
    ];
    if let Some(n) = k8s_node.filter(|n| !n.is_empty()) {
        attributes.push(kv("k8s.node.name", n));
    }
    Resource {
        attributes,
        ..Resource::default()
    }
}

/// The request carrying `batch`: records without a LogRecord (made before an OTLP output
/// existed, which cannot happen in a running daemon) are left out.
pub fn request(resource: &Resource, batch: &[Record]) -> ExportLogsServiceRequest {
    let log_records = batch
        .iter()
        .filter_map(|r| r.otel.as_deref().cloned())
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource.clone()),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: SCOPE.into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..InstrumentationScope::default()
                }),
                log_records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(bound(value.to_owned()))),
        }),
    }
}
