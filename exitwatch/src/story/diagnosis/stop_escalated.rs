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
        evidence: json!({ "stop_request_id": &*stop.id, "elapsed_ns": elapsed }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;
    use crate::signals::{KernelReason, SIGHUP, SIGINT, SIGQUIT, SIGUSR1};

    const S: u64 = 1_000_000_000;
    const WINDOW: u64 = 60 * S;

    fn past(id: &str, time_ns: u64, signo: Option<i32>) -> Past {
        Past {
            id: id.into(),
            time_ns,
            signo,
            fatal: false,
            who: crate::story::Who::of(&crate::event::Proc {
                pid: 812,
                tid: 812,
                ns_pid: None,
                comm: b"kubelet".to_vec(),
                start_ns: 0,
            }),
        }
    }

    /// pkill's SIGKILL to server(7942) at `at`.
    fn kill(at: u64) -> SignalEvent {
        let mut ev = fixtures::pkill_kills_server();
        ev.time_ns = at;
        ev
    }

    #[test]
    fn a_kill_inside_the_window_after_a_stop_request_is_an_escalation() {
        let history = VecDeque::from([past("r-1", 100 * S, Some(SIGTERM))]);
        let d = stop_escalated(&kill(130 * S), &history, WINDOW).unwrap();
        assert_eq!(d.code, DiagnosisCode::StopEscalated);
        assert_eq!(
            d.message,
            "graceful stop timed out after 30.0 s: SIGTERM from kubelet(812) did not end server(7942), \
             then SIGKILL from pkill(23549)"
        );
        assert_eq!(
            d.evidence,
            json!({ "stop_request_id": "r-1", "elapsed_ns": 30 * S })
        );
    }

    #[test]
    fn the_window_is_inclusive_and_nothing_outside_it_counts() {
        let history = VecDeque::from([past("r-1", 100 * S, Some(SIGINT))]);
        assert!(stop_escalated(&kill(160 * S), &history, WINDOW).is_some());
        assert_eq!(stop_escalated(&kill(160 * S + 1), &history, WINDOW), None);
    }

    #[test]
    fn the_latest_stop_request_is_the_one_that_escalated() {
        let history = VecDeque::from([
            past("r-1", 100 * S, Some(SIGTERM)),
            past("r-2", 110 * S, Some(SIGHUP)),
            past("r-3", 120 * S, Some(SIGUSR1)),
        ]);
        let d = stop_escalated(&kill(130 * S), &history, WINDOW).unwrap();
        assert_eq!(d.evidence["stop_request_id"], "r-2");
        assert!(
            d.message.contains("after 20.0 s: SIGHUP from"),
            "{}",
            d.message
        );
    }

    #[test]
    fn only_a_sigkill_after_a_stop_request_escalates() {
        let stop = VecDeque::from([past("r-1", 100 * S, Some(SIGTERM))]);
        let mut term = kill(110 * S);
        term.signo = SIGTERM;
        assert_eq!(stop_escalated(&term, &stop, WINDOW), None);
        // Neither another signal nor an OOM kill is a request to stop.
        let other = VecDeque::from([
            past("r-1", 100 * S, Some(SIGUSR1)),
            past("r-2", 105 * S, None),
        ]);
        assert_eq!(stop_escalated(&kill(110 * S), &other, WINDOW), None);
        assert_eq!(
            stop_escalated(&kill(110 * S), &VecDeque::new(), WINDOW),
            None
        );
    }

    #[test]
    fn a_kernel_kill_names_the_kernel_and_its_reason() {
        let history = VecDeque::from([past("r-1", 100 * S, Some(SIGQUIT))]);
        let mut ev = kill(101 * S);
        ev.sender = Sender::Kernel {
            reason: KernelReason::Fault,
            context: ev.sender.actor().clone(),
        };
        let d = stop_escalated(&ev, &history, WINDOW).unwrap();
        assert!(
            d.message.ends_with("then SIGKILL from the kernel (fault)"),
            "{}",
            d.message
        );
    }
}
