//! One plain sentence per event, for the machine formats' message fields (the serializer escapes it).

use crate::escape::json_string;
use crate::event::{Event, Place, Proc, Sender};
use crate::signals::Signal;
use crate::story::{Annotated, DiagnosisCode};

/// "SIGKILL from pkill(23549) to server(7942): delivered, server(7942) will exit with code 137".
pub fn of(a: &Annotated) -> String {
    match &a.event {
        Event::Signal(ev) => {
            let sig = Signal(ev.signo);
            let from = match &ev.sender {
                Sender::Process(actor) => who_in(&actor.proc, &actor.place),
                Sender::Kernel { reason, .. } => format!("the kernel ({})", reason.describe()),
            };
            let target = who_in(&ev.target, &ev.target_place);
            let outcome = if ev.fatal() {
                format!(
                    "{}, {} will exit with code {}",
                    ev.result.as_str().replace('_', " "),
                    who(&ev.target),
                    ev.exit_code_if_fatal()
                )
            } else {
                let disposition = ev
                    .disposition
                    .map_or(String::new(), |d| format!(" (disposition {})", d.as_str()));
                format!("{}{disposition}", ev.result.as_str().replace('_', " "))
            };
            format!("{sig} from {from} to {target}: {outcome}")
        }
        Event::Exit(x) => format!("{} {}", who_in(&x.proc, &x.place), x.status.describe()),
        Event::Oom(o) => {
            let why = o.context.as_ref().map_or_else(
                || "the constraint is unknown".to_owned(),
                |c| format!("{} constraint", c.constraint.as_str()),
            );
            format!(
                "the OOM killer killed {} ({why}); it will exit with code 137",
                who_in(&o.victim, &o.victim_place)
            )
        }
        Event::Lost { count } => format!(
            "{count} event(s) lost: the kernel ring buffer was full; raise --ring-buffer-size"
        ),
    }
}

/// The diagnoses' messages, when there are some: why this event matters.
pub fn reason(a: &Annotated) -> Option<String> {
    if a.diagnosis.is_empty() {
        return None;
    }
    let messages: Vec<&str> = a.diagnosis.iter().map(|d| d.message.as_str()).collect();
    Some(messages.join("; "))
}

/// Did the story find the sender suspicious? Machine formats raise such events to alerts.
pub fn suspicious(a: &Annotated) -> bool {
    a.diagnosis
        .iter()
        .any(|d| d.code == DiagnosisCode::SuspiciousSender)
}

fn who(p: &Proc) -> String {
    format!("{}({})", json_string(&p.comm), p.pid)
}

fn who_in(p: &Proc, place: &Place) -> String {
    match &place.container {
        Some(c) => format!("{} in {}", who(p), c.describe()),
        None => who(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{bare, fixtures};

    #[test]
    fn signal_sentence_names_sender_target_and_outcome() {
        let a = bare(Event::Signal(fixtures::pkill_kills_server()));
        assert_eq!(
            of(&a),
            "SIGKILL from pkill(23549) to server(7942): delivered, server(7942) will exit with code 137"
        );
        assert_eq!(reason(&a), None);
        assert!(!suspicious(&a));
    }

    #[test]
    fn containers_are_named() {
        let a = bare(Event::Signal(fixtures::kill_in_pod()));
        assert!(
            of(&a).contains("to nginx(4242) in container nginx of pod shop/web-7d9c"),
            "{}",
            of(&a)
        );
    }

    #[test]
    fn oom_and_lost_sentences() {
        let a = bare(Event::Oom(fixtures::memcg_oom()));
        assert_eq!(
            of(&a),
            "the OOM killer killed python3(5937) (memcg constraint); it will exit with code 137"
        );
        assert!(of(&bare(Event::Lost { count: 3 })).starts_with("3 event(s) lost"));
    }

    #[test]
    fn a_signal_without_a_name_reads_signal_n() {
        let mut ev = fixtures::pkill_kills_server();
        ev.signo = 65;
        let a = bare(Event::Signal(ev));
        assert!(
            of(&a).starts_with("signal 65 from pkill(23549) to "),
            "{}",
            of(&a)
        );
    }
}
