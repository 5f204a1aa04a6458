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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;
    use crate::signals::{SIGBUS, SIGSEGV};

    /// The kernel's SIGSEGV (SEGV_MAPERR) to server(7942).
    fn segv(reason: KernelReason) -> SignalEvent {
        let mut ev = fixtures::pkill_kills_server();
        (ev.signo, ev.code, ev.fault_addr) = (SIGSEGV, 1, Some(0x10));
        ev.sender = Sender::Kernel {
            reason,
            context: ev.sender.actor().clone(),
        };
        ev
    }

    #[test]
    fn a_kernel_fault_names_the_signal_its_code_and_the_address() {
        let d = fault(&segv(KernelReason::Fault)).unwrap();
        assert_eq!(d.code, DiagnosisCode::Fault);
        assert_eq!(
            d.message,
            "server(7942) crashed: SIGSEGV (SEGV_MAPERR) at address 0x10; \
             a bug in the program or a library it uses"
        );
        assert_eq!(
            d.evidence,
            json!({ "signal": 11, "code": "SEGV_MAPERR", "address": "0x10" })
        );
    }

    #[test]
    fn an_unknown_address_is_said_so() {
        let mut ev = segv(KernelReason::Fault);
        (ev.signo, ev.code, ev.fault_addr) = (SIGBUS, 1, None);
        let d = fault(&ev).unwrap();
        assert!(
            d.message.contains("SIGBUS (BUS_ADRALN) at address unknown"),
            "{}",
            d.message
        );
        assert_eq!(d.evidence["address"], "unknown");
    }

    #[test]
    fn other_kernel_reasons_and_processes_are_not_faults() {
        assert_eq!(fault(&segv(KernelReason::HardwareMemoryError)), None);
        let mut from_a_process = fixtures::pkill_kills_server();
        from_a_process.signo = SIGSEGV;
        assert_eq!(fault(&from_a_process), None);
    }
}
