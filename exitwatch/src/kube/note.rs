//! Which events become a Kubernetes Event on their pod, and what it says (pure).

use crate::event::{Event, Place};
use crate::story::{Annotated, DiagnosisCode};

use super::view::bounded;

/// A Warning Event to post on a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Post {
    /// `SignalKilled`, `StopEscalated` or `OOMKill`.
    pub reason: &'static str,
    /// `Kill` or `OOMKill`.
    pub action: &'static str,
    /// The verdict, ≤1 KiB (the API's limit for a note).
    pub note: String,
    pub pod_name: String,
    pub namespace: String,
    pub pod_uid: String,
    /// `spec.containers{NAME}` when the container's name is known.
    pub field_path: Option<String>,
}

impl Post {
    /// Bytes it holds in the poster's queue.
    pub fn size(&self) -> usize {
        self.note.len() + self.pod_name.len() + self.namespace.len() + self.pod_uid.len() + 64
    }
}

/// The post for an event: fatal signals, stops that escalated and OOM kills of a container
/// whose pod is confirmed (by the runtime or the API); `note` is its verdict.
pub fn post_for(a: &Annotated, note: String) -> Option<Post> {
    let (reason, action, place) = match &a.event {
        Event::Signal(s) if s.fatal() => {
            let escalated = a
                .diagnosis
                .iter()
                .any(|d| d.code == DiagnosisCode::StopEscalated);
            let reason = if escalated {
                "StopEscalated"
            } else {
                "SignalKilled"
            };
            (reason, "Kill", &s.target_place)
        }
        Event::Oom(o) => ("OOMKill", "OOMKill", &o.victim_place),
        _ => return None,
    };
    let (pod_name, namespace, pod_uid, container) = confirmed_pod(place)?;
    Some(Post {
        reason,
        action,
        note: bounded_note(note),
        pod_name,
        namespace,
        pod_uid,
        field_path: container.map(|c| format!("spec.containers{{{c}}}")),
    })
}

fn confirmed_pod(place: &Place) -> Option<(String, String, String, Option<String>)> {
    let c = place.container.as_ref()?;
    let pod = c.pod.as_ref()?;
    pod.confirmed_by?;
    Some((
        pod.name.clone()?,
        pod.namespace.clone()?,
        pod.uid.clone(),
        c.name.clone(),
    ))
}

/// The API refuses a note over 1 KiB: cut with an ellipsis.
fn bounded_note(note: String) -> String {
    if note.len() <= 1024 {
        return note;
    }
    let mut s = bounded(note);
    let mut end = 1021;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
    s
}

#[cfg(test)]
mod tests;
