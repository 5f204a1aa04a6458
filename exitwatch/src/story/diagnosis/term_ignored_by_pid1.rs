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
