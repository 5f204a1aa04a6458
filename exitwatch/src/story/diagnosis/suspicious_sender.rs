//! `suspicious_sender`: the sender looks like malware (deleted, memfd or /tmp executable, generated
//! names) or killed a security agent.

use serde_json::{json, Value};

use super::{Diagnosis, DiagnosisCode, Rules};
use crate::event::{Sender, SignalEvent};
use crate::signals::Signal;
use crate::story::who;

/// The evidence lists every rule that fired, in a fixed order; kernel senders are never suspicious.
pub fn suspicious_sender(s: &SignalEvent, rules: &Rules) -> Option<Diagnosis> {
    let Sender::Process(a) = &s.sender else {
        return None;
    };
    let mut fired = Vec::new();
    if a.exe_deleted {
        fired.push(json!({ "rule": "exe_deleted", "process": who(&a.proc) }));
    }
    if let Some(exe) = &a.exe {
        let exe = String::from_utf8_lossy(exe);
        let name = exe.rsplit('/').next().unwrap_or("");
        if name.starts_with("memfd:") {
            fired.push(json!({ "rule": "exe_memfd", "exe": exe }));
        } else if let Some(dir) = rules
            .suspicious_dirs
            .iter()
            .find(|d| exe.starts_with(&format!("{}/", d.trim_end_matches('/'))))
        {
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
