//! What an OTLP answer means for the batch (pure), per the OTLP specification's failure
//! rules: which gRPC codes and HTTP statuses are worth another try, how long the receiver
//! asked to wait (bounded), and what a partial success rejected.
//!
//! RetryInfo arrives inside a gRPC status's details as google.rpc.Status / google.protobuf.Any /
//! google.rpc.RetryInfo, which the opentelemetry-proto crate does not ship. They are declared
//! here as four small prost messages (prost does every byte of the decoding; nothing is parsed by
//! hand). tonic-types (same tonic 0.14) carries the same messages: using it instead is the
//! cleaner way, left for later because it is one more crate for four messages.

use std::time::Duration;

use tonic::Code;

/// The longest wait a receiver may ask for (RetryInfo, Retry-After): a hostile or confused
/// collector must not park the output for hours.
pub const MAX_THROTTLE: Duration = Duration::from_secs(60);

/// How one export ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Taken; `rejected` of its LogRecords refused by the receiver (partial success): counted
    /// as dropped, never sent again.
    Delivered { rejected: u64 },
    /// Try the same batch again, after `after` when the receiver said how long (else backoff).
    Retry { after: Option<Duration> },
    /// Refused for good: trying again would fail the same way.
    Refused,
}

/// A gRPC status (not OK). RESOURCE_EXHAUSTED is retried only when the server says when
/// (RetryInfo): without it, it means the request itself is too large, for good.
pub fn grpc(code: Code, retry_info: Option<Duration>) -> Verdict {
    let after = retry_info.map(|d| d.min(MAX_THROTTLE));
    match code {
        Code::Ok => Verdict::Delivered { rejected: 0 },
        Code::Unavailable
        | Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::DataLoss => Verdict::Retry { after },
        Code::ResourceExhausted if after.is_some() => Verdict::Retry { after },
        _ => Verdict::Refused,
    }
}

/// An HTTP status (OTLP/HTTP), with the delay its Retry-After asked for, if any (the HTTP
/// client reads the header: delay-seconds; an HTTP date is not honoured, the backoff applies).
pub fn http(status: u16, retry_after: Option<Duration>) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered { rejected: 0 },
        429 | 502 | 503 | 504 => Verdict::Retry {
            after: retry_after.map(|d| d.min(MAX_THROTTLE)),
        },
        _ => Verdict::Refused,
    }
}

/// A successful answer's partial_success: how many LogRecords the receiver rejected, at most
/// the batch's size (`sent`), whatever it claims.
pub fn rejected(rejected_log_records: i64, sent: usize) -> u64 {
    u64::try_from(rejected_log_records)
        .unwrap_or(0)
        .min(sent as u64)
}

/// RetryInfo's delay, from a gRPC status's details (`grpc-status-details-bin`, a
/// google.rpc.Status): None when absent or malformed.
pub fn retry_info(details: &[u8]) -> Option<Duration> {
    use prost::Message;
    const RETRY_INFO: &str = "type.googleapis.com/google.rpc.RetryInfo";
    let status = RpcStatus::decode(details).ok()?;
    let any = status.details.iter().find(|d| d.type_url == RETRY_INFO)?;
    let info = RetryInfo::decode(any.value.as_slice()).ok()?;
    let d = info.retry_delay?;
    if d.seconds < 0 || d.nanos < 0 {
        return None;
    }
    let d =
        Duration::from_secs(d.seconds as u64).saturating_add(Duration::from_nanos(d.nanos as u64));
    Some(d.min(MAX_THROTTLE))
}

/// google.rpc.Status, as much of it as is read (the OTLP protos do not carry it).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// google.protobuf.Any.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// google.rpc.RetryInfo.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// google.protobuf.Duration.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn details(type_url: &str, seconds: i64, nanos: i32) -> Vec<u8> {
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration { seconds, nanos }),
        };
        RpcStatus {
            code: Code::Unavailable as i32,
            message: "busy".into(),
            details: vec![ProtoAny {
                type_url: type_url.into(),
                value: info.encode_to_vec(),
            }],
        }
        .encode_to_vec()
    }

    #[test]
    fn retryable_grpc_codes_follow_the_otlp_specification() {
        for code in [
            Code::Unavailable,
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::OutOfRange,
            Code::DataLoss,
        ] {
            assert_eq!(grpc(code, None), Verdict::Retry { after: None }, "{code:?}");
        }
        for code in [
            Code::InvalidArgument,
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::NotFound,
            Code::Unimplemented,
            Code::Internal,
            Code::Unknown,
            Code::FailedPrecondition,
            Code::AlreadyExists,
        ] {
            assert_eq!(grpc(code, None), Verdict::Refused, "{code:?}");
        }
    }

    #[test]
    fn resource_exhausted_is_retried_only_with_retry_info() {
        assert_eq!(grpc(Code::ResourceExhausted, None), Verdict::Refused);
        assert_eq!(
            grpc(Code::ResourceExhausted, Some(Duration::from_secs(2))),
            Verdict::Retry {
                after: Some(Duration::from_secs(2))
            }
        );
    }

    #[test]
    fn retry_info_is_read_from_status_details_and_bounded() {
        let d = details("type.googleapis.com/google.rpc.RetryInfo", 1, 500_000_000);
        assert_eq!(retry_info(&d), Some(Duration::from_millis(1500)));
        let d = details("type.googleapis.com/google.rpc.RetryInfo", i64::MAX, 0);
        assert_eq!(retry_info(&d), Some(MAX_THROTTLE));
        let d = details("type.googleapis.com/google.rpc.RetryInfo", -5, 0);
        assert_eq!(retry_info(&d), None);
        let d = details("type.googleapis.com/google.rpc.DebugInfo", 1, 0);
        assert_eq!(retry_info(&d), None);
        assert_eq!(retry_info(b"\xff\xff\xff"), None);
        assert_eq!(retry_info(b""), None);
        assert_eq!(
            grpc(Code::Unavailable, Some(Duration::from_secs(3600))),
            Verdict::Retry {
                after: Some(MAX_THROTTLE)
            }
        );
    }

    #[test]
    fn http_statuses_and_retry_after() {
        assert_eq!(http(200, None), Verdict::Delivered { rejected: 0 });
        for s in [429, 502, 503, 504] {
            assert_eq!(http(s, None), Verdict::Retry { after: None }, "{s}");
        }
        let secs = |n| Some(Duration::from_secs(n));
        assert_eq!(http(503, secs(7)), Verdict::Retry { after: secs(7) });
        assert_eq!(
            http(429, secs(99_999)),
            Verdict::Retry {
                after: Some(MAX_THROTTLE)
            }
        );
        for s in [400, 401, 403, 404, 413, 500, 501] {
            assert_eq!(http(s, secs(5)), Verdict::Refused, "{s}");
        }
    }

    #[test]
    fn partial_success_rejections_are_bounded_by_the_batch() {
        assert_eq!(rejected(2, 10), 2);
        assert_eq!(rejected(-3, 10), 0);
        assert_eq!(rejected(i64::MAX, 10), 10);
    }
}
