//! The message of a Kubernetes Event on a pod: the verdict a human reading `kubectl describe
//! pod` needs, in one sentence (escaped like text output: it quotes process names and argv).

use super::text;
use super::Context;
use crate::escape::escape_text;
use crate::event::Event;
use crate::story::Annotated;

/// "SIGKILL from root's `pkill -9 server` (via sshd → bash), delivered: server(7942) in container
/// api of pod shop/web will exit with code 137; kubelet: …"; "OOM killer: container api hit its
/// 512 MiB memory limit, killed java(8812) (not PID 1: the container keeps running)".
pub fn note(ctx: &Context, a: &Annotated) -> Option<String> {
    let mut s = match &a.event {
        Event::Signal(ev) => text::signal_sentence(ctx, ev),
        Event::Oom(ev) => {
            let pid1 = match ev.victim.ns_pid {
                Some(1) => "PID 1: the container exits with code 137",
                Some(_) => "not PID 1: the container keeps running",
                None => "whether it was the container's PID 1 is unknown",
            };
            format!(
                "OOM killer: {}, killed {} ({pid1})",
                text::oom_limit(ev),
                text::who(&ev.victim)
            )
        }
        _ => return None,
    };
    if let Some(k) = &a.kubelet {
        s.push_str("; kubelet: ");
        s.push_str(&escape_text(k.message.as_bytes()));
    }
    for d in &a.diagnosis {
        s.push_str("; ");
        s.push_str(&escape_text(d.message.as_bytes()));
    }
    Some(s)
}
