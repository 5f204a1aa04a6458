//! `fault`: the kernel signalled a program that crashed (bad memory access, illegal instruction...).

use serde_json::json;

use super::{Diagnosis, DiagnosisCode};
use crate::event::{Sender, SignalEvent};
use crate::signals::{self, KernelReason, Signal};
use crate::story::who;

pub fn fault(s: &SignalEvent) -> Option<Diagnosis> {
    let Sender::Kernel {
        reason: KernelReason::Fault,
        ..
    } = s.sender
    else {
        return None;
    };
    let addr = s
        .fault_addr
        .map_or_else(|| "unknown".into(), |a| format!("{a:#x}"));
    let code = signals::code_name(s.signo, s.code);
    Some(Diagnosis {
        code: DiagnosisCode::Fault,
        message: format!(
            "{} crashed: {} ({code}) at address {addr}; a bug in the program or a library it uses",
            who(&s.target),
            Signal(s.signo),
        ),
        evidence: json!({ "signal": s.signo, "code": code, "address": addr }),
    })
}
