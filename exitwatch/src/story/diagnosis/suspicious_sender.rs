//! `suspicious_sender`: the sender looks like malware (deleted, memfd or /tmp executable, generated
//! names) or killed a security agent.

use serde_json::{json, Value};

use super::{Diagnosis, DiagnosisCode, Rules};
use std::sync::Arc;

use crate::event::{Actor, Ancestor, Sender, SignalEvent};
use crate::signals::Signal;
use crate::story::who;

/// The evidence lists every rule that fired, in a fixed order; kernel senders are never suspicious.
#[cfg(test)]
pub fn suspicious_sender(s: &SignalEvent, rules: &Rules) -> Option<Diagnosis> {
    suspicious_sender_after(s, rules, &mut QuietSender::default())
}

/// The last sender image in which no sender rule fired: a storm's thousands of signals from one
/// process are not checked again each (its executable's path, each ancestor's name).
#[derive(Debug, Default)]
pub struct QuietSender(Option<Image>);

/// One process image as the rules see it: the same shared ancestry and executable (a new image,
/// after an exec, has new ones), the same name (a process may rename itself without exec).
#[derive(Debug)]
struct Image {
    pid: u32,
    start_ns: u64,
    comm: Vec<u8>,
    exe: Option<Arc<[u8]>>,
    exe_deleted: bool,
    ancestry: Arc<Vec<Ancestor>>,
}

impl Image {
    fn is(&self, a: &Actor) -> bool {
        self.pid == a.proc.pid
            && self.start_ns == a.proc.start_ns
            && self.exe_deleted == a.exe_deleted
            && Arc::ptr_eq(&self.ancestry, &a.ancestry)
            && match (&self.exe, &a.exe) {
                (Some(x), Some(y)) => Arc::ptr_eq(x, y),
                (None, None) => true,
                _ => false,
            }
            && self.comm == a.proc.comm
    }
}

/// As [`suspicious_sender`], skipping the sender's rules when `quiet` remembers its image found
/// clean (the rules are the same for the daemon's life).
pub fn suspicious_sender_after(
    s: &SignalEvent,
    rules: &Rules,
    quiet: &mut QuietSender,
) -> Option<Diagnosis> {
    let Sender::Process(a) = &s.sender else {
        return None;
    };
    let mut fired = if quiet.0.as_ref().is_some_and(|i| i.is(a)) {
        Vec::new()
    } else {
        let fired = sender_rules(a, rules);
        quiet.0 = fired.is_empty().then(|| Image {
            pid: a.proc.pid,
            start_ns: a.proc.start_ns,
            comm: a.proc.comm.clone(),
            exe: a.exe.clone(),
            exe_deleted: a.exe_deleted,
            ancestry: Arc::clone(&a.ancestry),
        });
        fired
    };
    let target = String::from_utf8_lossy(&s.target.comm);
    if rules.protected_targets.iter().any(|p| *p == target) {
        fired.push(json!({ "rule": "protected_target", "target": who(&s.target) }));
    }
    if fired.is_empty() {
        return None;
    }
    let names: Vec<String> = fired
        .iter()
        .filter_map(|r| r["rule"].as_str().map(str::to_owned))
        .collect();
    Some(Diagnosis {
        code: DiagnosisCode::SuspiciousSender,
        message: format!(
            "{} to {} came from a suspicious sender ({}): have a security engineer look at this process tree",
            Signal(s.signo),
            who(&s.target),
            names.join(", ")
        ),
        evidence: Value::Array(fired),
    })
}

/// The rules about the sender alone, in their fixed order.
fn sender_rules(a: &Actor, rules: &Rules) -> Vec<Value> {
    let mut fired = Vec::new();
    if a.exe_deleted {
        fired.push(json!({ "rule": "exe_deleted", "process": who(&a.proc) }));
    }
    if let Some(exe) = &a.exe {
        let exe = String::from_utf8_lossy(exe);
        let name = exe.rsplit('/').next().unwrap_or("");
        if name.starts_with("memfd:") {
            fired.push(json!({ "rule": "exe_memfd", "exe": exe }));
        } else if let Some(dir) = rules.suspicious_dirs.iter().find(|d| {
            exe.strip_prefix(d.trim_end_matches('/'))
                .is_some_and(|rest| rest.starts_with('/'))
        }) {
            fired.push(json!({ "rule": "exe_in_suspicious_dir", "exe": exe, "dir": dir }));
        }
    }
    if rules.random_names {
        let chain = a
            .ancestry
            .iter()
            .map(|x| (x.pid, &x.comm))
            .chain(std::iter::once((a.proc.pid, &a.proc.comm)));
        for (pid, comm) in chain {
            if random_looking(comm) {
                fired.push(json!({ "rule": "random_name", "process": format!("{}({pid})", String::from_utf8_lossy(comm)) }));
            }
        }
    }
    fired
}

/// Does a process name look generated rather than chosen? Mixed case with digits and case
/// flips inside the word (`vGhyM0`, `xR7tQ2`), not CamelCase words or versioned names.
fn random_looking(comm: &[u8]) -> bool {
    if !(5..=16).contains(&comm.len()) || !comm.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let (upper, lower, digit) = comm.iter().fold((0, 0, 0), |(u, l, d), c| {
        (
            u + usize::from(c.is_ascii_uppercase()),
            l + usize::from(c.is_ascii_lowercase()),
            d + usize::from(c.is_ascii_digit()),
        )
    });
    let flips = comm
        .windows(2)
        .filter(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
        .count();
    upper > 0
        && lower > 0
        && digit > 0
        && (flips >= 2 || comm[0].is_ascii_lowercase() && flips >= 1 && upper >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Actor;
    use crate::render::fixtures;
    use crate::signals::KernelReason;

    /// pkill's SIGKILL to server(7942) from a clean process tree (the fixture's vGhyM0 removed).
    fn quiet() -> SignalEvent {
        let mut ev = fixtures::pkill_kills_server();
        if let Sender::Process(a) = &mut ev.sender {
            std::sync::Arc::make_mut(&mut a.ancestry).retain(|x| x.comm != b"vGhyM0");
        }
        ev
    }

    fn sender(ev: &mut SignalEvent) -> &mut Actor {
        match &mut ev.sender {
            Sender::Process(a) => a,
            Sender::Kernel { .. } => unreachable!("the fixture's sender is a process"),
        }
    }

    fn fired(d: &Diagnosis) -> Vec<&str> {
        d.evidence
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["rule"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn an_ordinary_sender_is_not_suspicious() {
        assert_eq!(suspicious_sender(&quiet(), &Rules::default()), None);
    }

    #[test]
    fn the_message_and_evidence_name_the_rule_that_fired() {
        let mut ev = quiet();
        ev.target.comm = b"auditd".to_vec();
        let d = suspicious_sender(&ev, &Rules::default()).unwrap();
        assert_eq!(d.code, DiagnosisCode::SuspiciousSender);
        assert_eq!(
            d.message,
            "SIGKILL to auditd(7942) came from a suspicious sender (protected_target): \
             have a security engineer look at this process tree"
        );
        assert_eq!(
            d.evidence,
            json!([{ "rule": "protected_target", "target": "auditd(7942)" }])
        );
    }

    #[test]
    fn a_clean_image_remembered_does_not_hide_what_changes_after_it() {
        let rules = Rules::default();
        let mut q = QuietSender::default();
        let clean = quiet();
        // Each case right after the clean image was remembered: what differs is judged.
        let mut after_clean = |ev: &SignalEvent| {
            assert_eq!(suspicious_sender_after(&clean, &rules, &mut q), None);
            assert!(q.0.is_some(), "the clean image is remembered");
            suspicious_sender_after(ev, &rules, &mut q).map(|d| fired(&d).join(","))
        };
        assert_eq!(after_clean(&clean), None);
        // A protected target is judged per signal.
        let mut to_auditd = clean.clone();
        to_auditd.target.comm = b"auditd".to_vec();
        assert_eq!(after_clean(&to_auditd).as_deref(), Some("protected_target"));
        // Renamed without exec (prctl).
        let mut renamed = clean.clone();
        sender(&mut renamed).proc.comm = b"xR7tQ2kP".to_vec();
        assert_eq!(after_clean(&renamed).as_deref(), Some("random_name"));
        // An exec into /tmp: a new identity, its exe a new allocation.
        let mut execd = clean.clone();
        sender(&mut execd).exe = Some(b"/tmp/kx".as_slice().into());
        assert_eq!(
            after_clean(&execd).as_deref(),
            Some("exe_in_suspicious_dir")
        );
        // A new ancestry (another image) with a generated name in it.
        let mut reparented = clean.clone();
        let a = sender(&mut reparented);
        let mut ancestry = (*a.ancestry).clone();
        ancestry[0].comm = b"vGhyM0".to_vec();
        a.ancestry = Arc::new(ancestry);
        assert_eq!(after_clean(&reparented).as_deref(), Some("random_name"));
        // Its executable deleted since.
        let mut deleted = clean.clone();
        sender(&mut deleted).exe_deleted = true;
        assert_eq!(after_clean(&deleted).as_deref(), Some("exe_deleted"));
    }

    #[test]
    fn a_memfd_executable_is_reported_as_memfd_only() {
        let mut ev = quiet();
        sender(&mut ev).exe = Some(b"/memfd:x (deleted)".as_slice().into());
        let rules = Rules {
            suspicious_dirs: vec!["/".into()],
            ..Rules::default()
        };
        let d = suspicious_sender(&ev, &rules).unwrap();
        assert_eq!(fired(&d), vec!["exe_memfd"]);
    }

    #[test]
    fn suspicious_dirs_match_whole_path_components() {
        let rules = Rules {
            suspicious_dirs: vec!["/opt/drop/".into()],
            ..Rules::default()
        };
        let mut inside = quiet();
        sender(&mut inside).exe = Some(b"/opt/drop/kx".as_slice().into());
        let d = suspicious_sender(&inside, &rules).unwrap();
        assert_eq!(
            d.evidence,
            json!([{ "rule": "exe_in_suspicious_dir", "exe": "/opt/drop/kx", "dir": "/opt/drop/" }])
        );
        let mut beside = quiet();
        sender(&mut beside).exe = Some(b"/opt/dropbox/kx".as_slice().into());
        assert_eq!(suspicious_sender(&beside, &rules), None);
    }

    #[test]
    fn random_names_are_looked_for_in_the_sender_and_its_ancestors_unless_turned_off() {
        let mut ev = fixtures::pkill_kills_server(); // vGhyM0(19400) is an ancestor
        sender(&mut ev).proc.comm = b"xR7tQ2kP".to_vec();
        let d = suspicious_sender(&ev, &Rules::default()).unwrap();
        let processes: Vec<&Value> = d
            .evidence
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["process"])
            .collect();
        assert_eq!(
            processes,
            [&json!("vGhyM0(19400)"), &json!("xR7tQ2kP(23549)")]
        );
        let off = Rules {
            random_names: false,
            ..Rules::default()
        };
        assert_eq!(suspicious_sender(&ev, &off), None);
    }

    #[test]
    fn a_kernel_sender_is_never_suspicious() {
        let mut ev = quiet();
        let a = sender(&mut ev);
        a.exe = Some(b"/tmp/kx".as_slice().into());
        a.exe_deleted = true;
        ev.target.comm = b"falco".to_vec();
        assert!(suspicious_sender(&ev, &Rules::default()).is_some());
        ev.sender = Sender::Kernel {
            reason: KernelReason::Fault,
            context: ev.sender.actor().clone(),
        };
        assert_eq!(suspicious_sender(&ev, &Rules::default()), None);
    }

    #[test]
    fn random_looking_names() {
        for name in ["vGhyM0", "xR7tQ2kP", "aB3cD"] {
            assert!(random_looking(name.as_bytes()), "{name}");
        }
        for name in [
            "systemd",
            "python3",
            "kworker/0:1",
            "Xorg",
            "containerd-shim",
            "MyApp2Go",
            "sshd",
            "ab",
        ] {
            assert!(!random_looking(name.as_bytes()), "{name}");
        }
    }
}
