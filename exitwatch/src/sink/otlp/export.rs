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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use opentelemetry_proto::tonic::logs::v1::LogRecord;

    fn record(name: &str) -> Record {
        Record {
            line: Arc::from(&b"x\n"[..]),
            kind: "signal",
            severity: 4,
            time_ns: 0,
            otel: Some(Arc::new(LogRecord {
                event_name: name.into(),
                ..LogRecord::default()
            })),
        }
    }

    fn keys(r: &Resource) -> Vec<(&str, String)> {
        r.attributes
            .iter()
            .map(|kv| (kv.key.as_str(), format!("{:?}", kv.value)))
            .collect()
    }

    #[test]
    fn one_resource_one_scope_and_the_records_in_order() {
        let res = resource("node-1", Some("k8s-node-1"));
        let names: Vec<&str> = keys(&res).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            [
                "service.name",
                "service.version",
                "host.name",
                "k8s.node.name"
            ]
        );
        assert!(keys(&res)[2].1.contains("\"node-1\""));
        let req = request(&res, &[record("a"), record("b")]);
        assert_eq!(req.resource_logs.len(), 1);
        let rl = &req.resource_logs[0];
        assert_eq!(rl.resource.as_ref(), Some(&res));
        assert_eq!(rl.scope_logs.len(), 1);
        assert_eq!(rl.scope_logs[0].scope.as_ref().unwrap().name, SCOPE);
        let got: Vec<&str> = rl.scope_logs[0]
            .log_records
            .iter()
            .map(|r| r.event_name.as_str())
            .collect();
        assert_eq!(got, ["a", "b"]);
    }

    #[test]
    fn outside_kubernetes_no_node_name() {
        let res = resource("host-1", None);
        assert!(keys(&res).iter().all(|(k, _)| *k != "k8s.node.name"));
        assert!(keys(&resource("h", Some(""))).len() == 3);
    }
}
