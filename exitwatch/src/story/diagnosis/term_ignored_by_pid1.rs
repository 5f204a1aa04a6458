//! `term_ignored_by_pid1`: a container's PID 1 with no handler drops a stop request, so the stop ends in SIGKILL.

use serde_json::json;

use super::{Diagnosis, DiagnosisCode};
use crate::event::SignalEvent;
use crate::signals::{Signal, SignalResult};
use crate::story::{is_stop_request, who};

pub fn term_ignored_by_pid1(s: &SignalEvent) -> Option<Diagnosis> {
    // PID 1 in its own pid namespace but not the host's init: a container's main process.
    let in_container = s.target.ns_pid == Some(1) && s.target.pid != 1;
    if !(is_stop_request(s.signo) && s.result == SignalResult::Ignored && in_container) {
        return None;
    }
    let signal = Signal(s.signo);
    Some(Diagnosis {
        code: DiagnosisCode::TermIgnoredByPid1,
        message: format!(
            "{} is PID 1 of its container and installed no handler for {signal}, so the kernel drops it: \
             the stop will wait out the grace period and end in SIGKILL (exit 137). Handle {signal} in the \
             program, or run it under an init such as tini or `docker run --init`",
            who(&s.target),
        ),
        evidence: json!({ "ns_pid": 1, "result": "ignored" }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;
    use crate::signals::{SIGINT, SIGTERM, SIGUSR1};

    /// `signo` to server(7942), PID 1 of its pid namespace.
    fn to_container_pid1(signo: i32, result: SignalResult) -> SignalEvent {
        let mut ev = fixtures::pkill_kills_server();
        (ev.signo, ev.result) = (signo, result);
        ev
    }

    #[test]
    fn an_ignored_stop_request_to_a_containers_pid1_is_diagnosed() {
        let d = term_ignored_by_pid1(&to_container_pid1(SIGINT, SignalResult::Ignored)).unwrap();
        assert_eq!(d.code, DiagnosisCode::TermIgnoredByPid1);
        assert!(
            d.message.starts_with(
                "server(7942) is PID 1 of its container and installed no handler for SIGINT"
            ),
            "{}",
            d.message
        );
        assert!(
            d.message.contains("Handle SIGINT in the program"),
            "{}",
            d.message
        );
        assert_eq!(d.evidence, json!({ "ns_pid": 1, "result": "ignored" }));
    }

    #[test]
    fn a_delivered_stop_request_is_not_diagnosed() {
        let ev = to_container_pid1(SIGTERM, SignalResult::Delivered);
        assert_eq!(term_ignored_by_pid1(&ev), None);
    }

    #[test]
    fn only_stop_requests_count() {
        let ev = to_container_pid1(SIGUSR1, SignalResult::Ignored);
        assert_eq!(term_ignored_by_pid1(&ev), None);
    }

    #[test]
    fn it_needs_pid1_of_a_namespace_other_than_the_hosts() {
        let mut not_pid1 = to_container_pid1(SIGTERM, SignalResult::Ignored);
        not_pid1.target.ns_pid = Some(7);
        assert_eq!(term_ignored_by_pid1(&not_pid1), None);
        let mut unknown = to_container_pid1(SIGTERM, SignalResult::Ignored);
        unknown.target.ns_pid = None;
        assert_eq!(term_ignored_by_pid1(&unknown), None);
        let mut host_init = to_container_pid1(SIGTERM, SignalResult::Ignored);
        host_init.target.pid = 1;
        assert_eq!(term_ignored_by_pid1(&host_init), None);
    }
}
