//! What the story can diagnose: the typed codes, the rules that tune them, one module per diagnosis.

mod fault;
mod oom;
mod self_signal;
mod signal_flood;
mod stop_escalated;
mod suspicious_sender;
mod term_ignored_by_pid1;

pub(super) use fault::fault;
pub(super) use oom::oom;
pub(super) use self_signal::self_signal;
pub(super) use signal_flood::signal_flood;
pub(super) use stop_escalated::stop_escalated;
pub(super) use suspicious_sender::{suspicious_sender_after, QuietSender};
pub(super) use term_ignored_by_pid1::term_ignored_by_pid1;

use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// The configurable rules behind the `stop_escalated` and `suspicious_sender` diagnoses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    /// A stop request followed by SIGKILL within this window is an escalation.
    pub grace_window_ns: u64,
    /// Executables run from these directories (and memfds) are suspicious.
    pub suspicious_dirs: Vec<String>,
    /// Killing a process with one of these names is suspicious (security and monitoring agents).
    pub protected_targets: Vec<String>,
    /// Flag senders or ancestors with random-looking names (like the seed's `vGhyM0`).
    pub random_names: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            grace_window_ns: 10 * 60 * 1_000_000_000,
            suspicious_dirs: ["/tmp", "/dev/shm", "/var/tmp"].map(String::from).to_vec(),
            protected_targets: [
                "auditd",
                "falco",
                "osqueryd",
                "wazuh-agentd",
                "ossec-agentd",
                "sysdig",
                "tetragon",
                "falcon-sensor",
                "datadog-agent",
                "node_exporter",
                "fluent-bit",
                "vector",
                "exitwatch",
            ]
            .map(String::from)
            .to_vec(),
            random_names: true,
        }
    }
}

/// What a diagnosis found; serialised (and printed) as the snake_case name users match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiagnosisCode {
    StopEscalated,
    TermIgnoredByPid1,
    Fault,
    SelfSignal,
    SuspiciousSender,
    OomMemcg,
    OomGlobal,
    SignalFlood,
}

impl DiagnosisCode {
    pub fn as_str(self) -> &'static str {
        match self {
            DiagnosisCode::StopEscalated => "stop_escalated",
            DiagnosisCode::TermIgnoredByPid1 => "term_ignored_by_pid1",
            DiagnosisCode::Fault => "fault",
            DiagnosisCode::SelfSignal => "self_signal",
            DiagnosisCode::SuspiciousSender => "suspicious_sender",
            DiagnosisCode::OomMemcg => "oom_memcg",
            DiagnosisCode::OomGlobal => "oom_global",
            DiagnosisCode::SignalFlood => "signal_flood",
        }
    }
}

impl fmt::Display for DiagnosisCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnosis {
    pub code: DiagnosisCode,
    pub message: String,
    pub evidence: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnosis_codes_serialise_as_the_names_users_match_on() {
        let all = [
            (DiagnosisCode::StopEscalated, "stop_escalated"),
            (DiagnosisCode::TermIgnoredByPid1, "term_ignored_by_pid1"),
            (DiagnosisCode::Fault, "fault"),
            (DiagnosisCode::SelfSignal, "self_signal"),
            (DiagnosisCode::SuspiciousSender, "suspicious_sender"),
            (DiagnosisCode::OomMemcg, "oom_memcg"),
            (DiagnosisCode::OomGlobal, "oom_global"),
        ];
        for (code, name) in all {
            assert_eq!(serde_json::to_value(code).unwrap(), name);
            assert_eq!(code.as_str(), name);
            assert_eq!(code.to_string(), name);
        }
    }
}
