//! `stop_escalated`: a SIGKILL that came while a recent stop request (SIGTERM...) had not ended the target.

use std::collections::VecDeque;

use serde_json::json;

use super::{Diagnosis, DiagnosisCode};
use crate::event::{Sender, SignalEvent};
use crate::signals::{Signal, SIGKILL, SIGTERM};
use crate::story::{is_stop_request, who, Past};
use crate::timefmt::human_duration;

/// `history` is what the target went through before `s`, oldest first.
pub fn stop_escalated(
    s: &SignalEvent,
    history: &VecDeque<Past>,
    grace_window_ns: u64,
) -> Option<Diagnosis> {
    if s.signo != SIGKILL {
        return None;
    }
    let stop = history.iter().rev().find(|p| {
        p.signo.is_some_and(is_stop_request)
            && s.time_ns.saturating_sub(p.time_ns) <= grace_window_ns
    })?;
    let elapsed = s.time_ns.saturating_sub(stop.time_ns);
    let sender = match &s.sender {
        Sender::Process(a) => who(&a.proc),
        Sender::Kernel { reason, .. } => format!("the kernel ({})", reason.as_str()),
    };
    Some(Diagnosis {
        code: DiagnosisCode::StopEscalated,
        message: format!(
            "graceful stop timed out after {}: {} from {} did not end {}, then SIGKILL from {}",
            human_duration(elapsed),
            Signal(stop.signo.unwrap_or(SIGTERM)),
            stop.who,
            who(&s.target),
            sender
        ),
        evidence: json!({ "stop_request_id": stop.id, "elapsed_ns": elapsed }),
    })
}
