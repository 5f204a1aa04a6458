//! `signal_flood`: a sender went over its budget of non-fatal signals; what it sent beyond it
//! was counted, not reported, and the flood itself is worth a look.

use serde_json::json;

use super::{Diagnosis, DiagnosisCode};
use crate::event::Suppressed;
use crate::signals::Signal;
use crate::story::who;

pub fn signal_flood(s: &Suppressed) -> Option<Diagnosis> {
    let sender = s.sender.as_ref()?;
    Some(Diagnosis {
        code: DiagnosisCode::SignalFlood,
        message: format!(
            "{} sent {} {} beyond its budget of non-fatal signals (--nonfatal-budget): a signal \
             flood, which can hide other signals from a monitor; exitwatch still reports every \
             fatal signal. Look at why it signals so often",
            who(sender),
            s.count,
            Signal(s.signo)
        ),
        evidence: json!({ "pid": sender.pid, "signal": s.signo, "count": s.count }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Proc;

    #[test]
    fn a_flood_names_its_sender_and_a_count_without_sender_names_nobody() {
        let mut s = Suppressed {
            sender: Some(Proc {
                pid: 41,
                tid: 41,
                ns_pid: None,
                comm: b"flood".to_vec(),
                start_ns: 1,
            }),
            uid: Some(1000),
            signo: 15,
            count: 2400,
        };
        let d = signal_flood(&s).unwrap();
        assert_eq!(d.code, DiagnosisCode::SignalFlood);
        assert!(
            d.message.starts_with("flood(41) sent 2400 SIGTERM beyond"),
            "{}",
            d.message
        );
        s.sender = None;
        assert!(signal_flood(&s).is_none());
    }
}
