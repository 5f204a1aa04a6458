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
