//! OTLP outputs: events as OpenTelemetry LogRecords, exported to a collector. What does not
//! depend on the transport lives here (the LogRecord of an event, the export request of a
//! batch, what an answer means, gathering a batch); `grpc` carries it over OTLP/gRPC, `http`
//! over OTLP/HTTP.

mod export;
mod grpc;
mod http;
mod record;
mod retry;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

pub use export::{request, resource};
pub use grpc::Target as GrpcTarget;
pub use http::Target as HttpTarget;
pub use opentelemetry_proto::tonic::logs::v1::LogRecord;
pub use retry::{rejected, Verdict};

use super::retry::Streak;
use super::Queue;
use crate::render::Context;
use crate::story::Annotated;

/// The LogRecord of one event, observed now; made by the pipeline only when an OTLP output
/// is configured.
pub fn log_record(ctx: &Context, a: &Annotated) -> Arc<LogRecord> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    Arc::new(record::log_record(ctx, a, crate::render::verdict(a), now))
}

/// The `k8s.node.name` of the resource: `NODE_NAME`, which the DaemonSet sets from the
/// downward API (spec.nodeName); None outside Kubernetes.
pub fn k8s_node() -> Option<String> {
    std::env::var("NODE_NAME").ok().filter(|n| !n.is_empty())
}

/// Accounts for one attempt at a batch of `n` events (sent, dropped, the streak of failures,
/// what stderr says) and says how long to wait before trying the same batch again; None when
/// the batch is done with (delivered, or refused for good).
pub(crate) fn settle(
    queue: &Queue,
    streak: &mut Streak,
    n: usize,
    verdict: Verdict,
    why: String,
) -> Option<Duration> {
    match verdict {
        Verdict::Delivered { rejected } => {
            let rejected = rejected.min(n as u64);
            streak.succeeded(&queue.stats);
            queue.stats.sent.fetch_add(n as u64 - rejected, Relaxed);
            if rejected > 0 {
                eprintln!(
                    "exitwatch: warning: output {}: the collector rejected {rejected} of {n} events: {why}",
                    queue.name()
                );
                queue.stats.dropped.fetch_add(rejected, Relaxed);
            }
            None
        }
        Verdict::Refused => {
            eprintln!(
                "exitwatch: warning: output {}: {why}; dropped {n} events (trying again would not help)",
                queue.name()
            );
            queue.stats.set_error(Some(why));
            queue.stats.dropped.fetch_add(n as u64, Relaxed);
            None
        }
        Verdict::Retry { after } => {
            let backoff = streak.failed(&queue.stats, &why);
            Some(after.unwrap_or(backoff))
        }
    }
}

/// A receiver's text (a status message, a partial success's error_message) fit for a log line:
/// at most 200 characters, control characters blanked.
pub fn excerpt(text: &str) -> String {
    text.chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}
