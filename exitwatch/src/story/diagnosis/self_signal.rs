//! `self_signal`: a process signalled itself (abort, raise), so the reason is in its own logs.

use serde_json::json;

use super::{Diagnosis, DiagnosisCode};
use crate::event::{Sender, SignalEvent};
use crate::signals::Signal;
use crate::story::who;

pub fn self_signal(s: &SignalEvent) -> Option<Diagnosis> {
    let Sender::Process(a) = &s.sender else {
        return None;
    };
    if a.proc.pid != s.target.pid {
        return None;
    }
    Some(Diagnosis {
        code: DiagnosisCode::SelfSignal,
        message: format!(
            "{} sent {} to itself (abort(), raise() or kill(getpid(), …)): look at its own logs for why",
            who(&s.target),
            Signal(s.signo)
        ),
        evidence: json!({ "pid": s.target.pid }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;
    use crate::signals::{KernelReason, SIGABRT};

    /// server(7942) sending SIGABRT to itself.
    fn abort() -> SignalEvent {
        let mut ev = fixtures::pkill_kills_server();
        ev.signo = SIGABRT;
        if let Sender::Process(a) = &mut ev.sender {
            a.proc = ev.target.clone();
        }
        ev
    }

    #[test]
    fn a_process_that_signals_itself_is_told_to_read_its_own_logs() {
        let d = self_signal(&abort()).unwrap();
        assert_eq!(d.code, DiagnosisCode::SelfSignal);
        assert_eq!(
            d.message,
            "server(7942) sent SIGABRT to itself (abort(), raise() or kill(getpid(), …)): \
             look at its own logs for why"
        );
        assert_eq!(d.evidence, json!({ "pid": 7942 }));
    }

    #[test]
    fn a_signal_from_another_process_is_not_a_self_signal() {
        assert_eq!(self_signal(&fixtures::pkill_kills_server()), None);
    }

    #[test]
    fn the_kernel_signalling_the_running_target_is_not_a_self_signal() {
        let mut ev = abort();
        ev.sender = Sender::Kernel {
            reason: KernelReason::Fault,
            context: ev.sender.actor().clone(),
        };
        assert_eq!(ev.sender.actor().proc.pid, ev.target.pid);
        assert_eq!(self_signal(&ev), None);
    }
}
