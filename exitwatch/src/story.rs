//! The story of a death: gives every event an id, links exits to the signal or OOM kill that
//! caused them, and draws diagnoses from the sequence (pure: fed events in order).

use std::collections::{HashMap, VecDeque};
use std::fmt;

use serde::Serialize;
use serde_json::{json, Value};

use crate::event::{Event, ExitEvent, OomEvent, Proc, Sender, SignalEvent};
use crate::oom::Constraint;
use crate::signals::{self, KernelReason, SignalResult, SIGHUP, SIGINT, SIGKILL, SIGQUIT, SIGTERM};
use crate::timefmt::human_duration;

/// Past events remembered per target, and targets remembered.
const HISTORY_PER_TARGET: usize = 8;
const MAX_TARGETS: usize = 16_384;

/// The configurable rules behind the `suspicious_sender` diagnosis.
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

/// What the exit followed from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cause {
    pub id: String,
    pub event: &'static str,
    pub signal: Option<i32>,
    pub delay_ns: u64,
}

/// An event with its place in the story.
#[derive(Clone, Debug, PartialEq)]
pub struct Annotated {
    pub id: String,
    pub event: Event,
    pub cause: Option<Cause>,
    pub diagnosis: Vec<Diagnosis>,
}

#[derive(Clone, Debug)]
struct Past {
    id: String,
    time_ns: u64,
    /// Signal number, or None for an OOM kill.
    signo: Option<i32>,
    fatal: bool,
    who: String,
}

pub struct Story {
    run: String,
    seq: u64,
    rules: Rules,
    history: HashMap<u32, VecDeque<Past>>,
    order: VecDeque<u32>,
}

/// Names in messages stay as the kernel gave them (lossy UTF-8): renderers escape messages.
fn who(p: &Proc) -> String {
    format!("{}({})", String::from_utf8_lossy(&p.comm), p.pid)
}

fn is_stop_request(signo: i32) -> bool {
    matches!(signo, SIGTERM | SIGINT | SIGHUP | SIGQUIT)
}

fn signame(signo: i32) -> String {
    signals::name(signo).map_or_else(|| format!("signal {signo}"), str::to_owned)
}

impl Story {
    /// `run` makes ids unique across restarts (e.g. the daemon's start time in hex).
    pub fn new(run: String, rules: Rules) -> Self {
        Story {
            run,
            seq: 0,
            rules,
            history: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn annotate(&mut self, event: Event) -> Annotated {
        self.seq += 1;
        let id = format!("{}-{}", self.run, self.seq);
        let (cause, diagnosis) = match &event {
            Event::Signal(s) => (None, self.signal(&id, s)),
            Event::Oom(o) => (None, self.oom(&id, o)),
            Event::Exit(x) => (self.exit(x), Vec::new()),
            Event::Lost { .. } => (None, Vec::new()),
        };
        Annotated {
            id,
            event,
            cause,
            diagnosis,
        }
    }

    fn remember(&mut self, target: u32, past: Past) {
        if !self.history.contains_key(&target) {
            if self.order.len() == MAX_TARGETS {
                if let Some(old) = self.order.pop_front() {
                    self.history.remove(&old);
                }
            }
            self.order.push_back(target);
        }
        let h = self.history.entry(target).or_default();
        if h.len() == HISTORY_PER_TARGET {
            h.pop_front();
        }
        h.push_back(past);
    }

    fn signal(&mut self, id: &str, s: &SignalEvent) -> Vec<Diagnosis> {
        let mut out = Vec::new();
        let actor = s.sender.actor();
        let sender_who = match &s.sender {
            Sender::Process(a) => who(&a.proc),
            Sender::Kernel { reason, .. } => format!("the kernel ({})", reason.as_str()),
        };
        if s.signo == SIGKILL {
            let stop = self.history.get(&s.target.pid).and_then(|h| {
                h.iter().rev().find(|p| {
                    p.signo.is_some_and(is_stop_request)
                        && s.time_ns.saturating_sub(p.time_ns) <= self.rules.grace_window_ns
                })
            });
            if let Some(first) = stop {
                let elapsed = s.time_ns.saturating_sub(first.time_ns);
                out.push(Diagnosis {
                    code: DiagnosisCode::StopEscalated,
                    message: format!(
                        "graceful stop timed out after {}: {} from {} did not end {}, then SIGKILL from {}",
                        human_duration(elapsed),
                        signame(first.signo.unwrap_or(SIGTERM)),
                        first.who,
                        who(&s.target),
                        sender_who
                    ),
                    evidence: json!({ "stop_request_id": first.id, "elapsed_ns": elapsed }),
                });
            }
        }
        let in_container = s.target.ns_pid == Some(1) && s.target.pid != 1;
        if is_stop_request(s.signo) && s.result == SignalResult::Ignored && in_container {
            out.push(Diagnosis {
                code: DiagnosisCode::TermIgnoredByPid1,
                message: format!(
                    "{} is PID 1 of its container and installed no handler for {}, so the kernel drops it: \
                     the stop will wait out the grace period and end in SIGKILL (exit 137). Handle {} in the \
                     program, or run it under an init such as tini or `docker run --init`",
                    who(&s.target),
                    signame(s.signo),
                    signame(s.signo)
                ),
                evidence: json!({ "ns_pid": 1, "result": "ignored" }),
            });
        }
        if let Sender::Kernel {
            reason: KernelReason::Fault,
            ..
        } = s.sender
        {
            let addr = s
                .fault_addr
                .map_or_else(|| "unknown".into(), |a| format!("{a:#x}"));
            out.push(Diagnosis {
                code: DiagnosisCode::Fault,
                message: format!(
                    "{} crashed: {} ({}) at address {addr}; a bug in the program or a library it uses",
                    who(&s.target),
                    signame(s.signo),
                    signals::code_name(s.signo, s.code)
                ),
                evidence: json!({ "signal": s.signo, "code": signals::code_name(s.signo, s.code), "address": addr }),
            });
        }
        if let Sender::Process(a) = &s.sender {
            if a.proc.pid == s.target.pid {
                out.push(Diagnosis {
                    code: DiagnosisCode::SelfSignal,
                    message: format!(
                        "{} sent {} to itself (abort(), raise() or kill(getpid(), …)): look at its own logs for why",
                        who(&s.target),
                        signame(s.signo)
                    ),
                    evidence: json!({ "pid": s.target.pid }),
                });
            }
        }
        out.extend(self.suspicious(s));
        self.remember(
            s.target.pid,
            Past {
                id: id.to_owned(),
                time_ns: s.time_ns,
                signo: Some(s.signo),
                fatal: s.fatal(),
                who: who(&actor.proc),
            },
        );
        out
    }

    fn suspicious(&self, s: &SignalEvent) -> Option<Diagnosis> {
        let Sender::Process(a) = &s.sender else {
            return None;
        };
        let mut rules = Vec::new();
        if a.exe_deleted {
            rules.push(json!({ "rule": "exe_deleted", "process": who(&a.proc) }));
        }
        if let Some(exe) = &a.exe {
            let exe = String::from_utf8_lossy(exe);
            let name = exe.rsplit('/').next().unwrap_or("");
            if name.starts_with("memfd:") {
                rules.push(json!({ "rule": "exe_memfd", "exe": exe }));
            } else if let Some(dir) = self
                .rules
                .suspicious_dirs
                .iter()
                .find(|d| exe.starts_with(&format!("{}/", d.trim_end_matches('/'))))
            {
                rules.push(json!({ "rule": "exe_in_suspicious_dir", "exe": exe, "dir": dir }));
            }
        }
        if self.rules.random_names {
            let chain = a
                .ancestry
                .iter()
                .map(|x| (x.pid, &x.comm))
                .chain(std::iter::once((a.proc.pid, &a.proc.comm)));
            for (pid, comm) in chain {
                if random_looking(comm) {
                    rules.push(json!({ "rule": "random_name", "process": format!("{}({pid})", String::from_utf8_lossy(comm)) }));
                }
            }
        }
        let target = String::from_utf8_lossy(&s.target.comm);
        if self.rules.protected_targets.iter().any(|p| *p == target) {
            rules.push(json!({ "rule": "protected_target", "target": who(&s.target) }));
        }
        if rules.is_empty() {
            return None;
        }
        let names: Vec<String> = rules
            .iter()
            .filter_map(|r| r["rule"].as_str().map(str::to_owned))
            .collect();
        Some(Diagnosis {
            code: DiagnosisCode::SuspiciousSender,
            message: format!(
                "{} to {} came from a suspicious sender ({}): have a security engineer look at this process tree",
                signame(s.signo),
                who(&s.target),
                names.join(", ")
            ),
            evidence: Value::Array(rules),
        })
    }

    fn oom(&mut self, id: &str, o: &OomEvent) -> Vec<Diagnosis> {
        let mut out = Vec::new();
        if let Some(ctx) = &o.context {
            let d = match ctx.constraint {
                Constraint::Memcg => Diagnosis {
                    code: DiagnosisCode::OomMemcg,
                    message: format!(
                        "the memory cgroup {} hit its own limit: raise the container's or pod's memory limit \
                         (resources.limits.memory) or find the leak in {}",
                        ctx.oom_memcg.as_deref().unwrap_or("?"),
                        who(&o.victim)
                    ),
                    evidence: json!({ "memcg": ctx.oom_memcg, "limit_bytes": o.memcg_usage.and_then(|u| u.limit_bytes) }),
                },
                _ => Diagnosis {
                    code: DiagnosisCode::OomGlobal,
                    message: format!(
                        "the node itself ran out of memory ({} constraint) and the kernel killed {} as the biggest \
                         scorer: look at node overcommit and at pods without memory limits (BestEffort and \
                         Burstable pods are killed first)",
                        ctx.constraint.as_str(),
                        who(&o.victim)
                    ),
                    evidence: json!({ "constraint": ctx.constraint.as_str(), "oom_score_adj": o.oom_score_adj }),
                },
            };
            out.push(d);
        }
        let past = Past {
            id: id.to_owned(),
            time_ns: o.time_ns,
            signo: None,
            fatal: true,
            who: "the OOM killer".into(),
        };
        self.remember(o.victim.pid, past.clone());
        for p in &o.also_killed {
            self.remember(p.pid, past.clone());
        }
        out
    }

    fn exit(&mut self, x: &ExitEvent) -> Option<Cause> {
        let history = self.history.remove(&x.proc.pid)?;
        let killed_by = x.status.signal();
        let cause = match killed_by {
            // The last fatal event that matches the signal that killed it (OOM kills are SIGKILL).
            Some(sig) => history
                .iter()
                .rev()
                .find(|p| p.fatal && p.signo.unwrap_or(SIGKILL) == sig),
            // It exited on its own: after which stop request, if any?
            None => history
                .iter()
                .rev()
                .find(|p| p.signo.is_some_and(is_stop_request)),
        }?;
        Some(Cause {
            id: cause.id.clone(),
            event: if cause.signo.is_some() {
                "signal"
            } else {
                "oom_kill"
            },
            signal: cause.signo.or(Some(SIGKILL)),
            delay_ns: x.time_ns.saturating_sub(cause.time_ns),
        })
    }
}

/// Does a process name look generated rather than chosen? Mixed case with digits and case
/// flips inside the word (`vGhyM0`, `xR7tQ2`), not CamelCase words or versioned names.
pub fn random_looking(comm: &[u8]) -> bool {
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
mod tests;
