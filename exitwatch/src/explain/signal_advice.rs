//! The prose for codes 129-192: what each signal death usually means, in general and in a pod.

use super::advice::{program, Advice, LOGS};
use super::Class;
use crate::signals::{self, DefaultAction, Signal};

/// Signals that deserve more than their man-page description.
struct SignalText {
    signo: i32,
    /// Completes "killed by SIGX (128+n): ...".
    hint: &'static str,
    kubernetes: &'static str,
    steps: &'static [&'static str],
}

const CORE: &str =
    "Look for a core dump (`coredumpctl list` on the node) and open it in a debugger";

const SIGNAL_TEXTS: &[SignalText] = &[
    SignalText {
        signo: signals::SIGHUP,
        hint: "its terminal hung up, or something sent SIGHUP",
        kubernetes: "Rare in a pod: some process sent SIGHUP (often meant as \"reload the \
                     configuration\") to a program that does not handle it.",
        steps: &["If SIGHUP was meant as a reload, make the program handle it"],
    },
    SignalText {
        signo: signals::SIGINT,
        hint: "Ctrl-C, or something else sent SIGINT",
        kubernetes: "Unusual in a pod: SIGINT comes from Ctrl-C on an attached terminal \
                     (`kubectl attach`, `docker run -it`) or from an image whose STOPSIGNAL is \
                     SIGINT.",
        steps: &["Check the image's stop signal: `docker inspect -f '{{.Config.StopSignal}}' <image>`"],
    },
    SignalText {
        signo: signals::SIGQUIT,
        hint: "Ctrl-\\ or something else sent SIGQUIT, which dumps core",
        kubernetes: "Some images stop with SIGQUIT (nginx's graceful shutdown); otherwise \
                     something sent it, and the default action dumps core.",
        steps: &["Check the image's stop signal: `docker inspect -f '{{.Config.StopSignal}}' <image>`"],
    },
    SignalText {
        signo: signals::SIGILL,
        hint: "illegal instruction, a crash or a binary built for another CPU",
        kubernetes: "A crash: the CPU refused an instruction. Often a binary built for newer \
                     CPUs (AVX on an old node), an image for another architecture, or a \
                     deliberate trap in a runtime that gave up.",
        steps: &[
            "Compare the binary's architecture (`file <binary>`) with the node's (`uname -m`)",
            "Check whether the binary needs CPU features the node lacks (`grep flags /proc/cpuinfo`)",
        ],
    },
    SignalText {
        signo: signals::SIGABRT,
        hint: "it aborted itself after a failed assertion or a fatal runtime error",
        kubernetes: "A crash: the program called abort(), after a failed assert(), an uncaught \
                     C++ exception, heap corruption found by the C library (\"double free\"), \
                     or a runtime's fatal error.",
        steps: &[LOGS, CORE],
    },
    SignalText {
        signo: signals::SIGBUS,
        hint: "bus error, often a memory-mapped file that shrank under it",
        kubernetes: "A crash: an access to memory that cannot exist, such as a memory-mapped \
                     file truncated under the program or a full /dev/shm (small in containers).",
        steps: &[
            "Check the size of /dev/shm in the pod (a memory-backed emptyDir raises it) and \
             the files the program maps",
            CORE,
        ],
    },
    SignalText {
        signo: signals::SIGFPE,
        hint: "arithmetic error such as integer division by zero",
        kubernetes: "A crash: an arithmetic fault in the program, such as integer division by \
                     zero.",
        steps: &[LOGS, CORE],
    },
    SignalText {
        signo: signals::SIGKILL,
        hint: "often the OOM killer or a forced stop",
        kubernetes: "Often OOMKilled: check `kubectl describe pod` Last State Reason. If Reason \
                     is Error, not OOMKilled, something sent SIGKILL: the kubelet, when a stop \
                     (a failed liveness probe, a deletion) outlived the grace period, the \
                     node's own OOM killer (BestEffort pods go first), `docker kill`, or \
                     another process (run `exitwatch --pid <pid>` to catch it).",
        steps: &[
            "Run `kubectl describe pod <pod>`: Last State Reason OOMKilled means the \
             container reached resources.limits.memory",
            "On the node, `journalctl -k` or `dmesg -T | grep -i oom` shows every OOM kill, \
             for a cgroup limit or the whole node (also /var/log/syslog or /var/log/messages)",
            "If it was no OOM kill, look in the pod events and the kubelet log for a failed \
             liveness probe or a stop whose SIGTERM went unhandled for \
             terminationGracePeriodSeconds",
            "Check the pod's QoS class (`kubectl get pod <pod> -o jsonpath='{.status.qosClass}'`): \
             on a node short of memory BestEffort pods are killed first, Guaranteed last",
        ],
    },
    SignalText {
        signo: signals::SIGSEGV,
        hint: "invalid memory access, a crash (segmentation fault)",
        kubernetes: "A crash: the program touched memory it may not, from a bug (a null or \
                     dangling pointer), a native library that does not match the binary, or \
                     rarely bad memory on the node.",
        steps: &[
            LOGS,
            CORE,
            "Check that the image's shared libraries match the ones the binary was built against",
            "If many different programs crash on one node, suspect its memory hardware",
        ],
    },
    SignalText {
        signo: signals::SIGPIPE,
        hint: "wrote to a pipe or socket nobody reads any more",
        kubernetes: "The process wrote to a pipe or socket whose reader had gone, as in a \
                     shell pipeline (`producer | head`) in a command or probe script.",
        steps: &["Check the shell pipelines in the container's command and probes"],
    },
    SignalText {
        signo: signals::SIGALRM,
        hint: "a timer from alarm(2) fired and nothing handled it",
        kubernetes: "A timeout: the program or a wrapper set an alarm and did not handle it.",
        steps: &[LOGS],
    },
    SignalText {
        signo: signals::SIGTERM,
        hint: "asked to stop (docker stop, pod deletion, rollout)",
        kubernetes: "A graceful stop: the kubelet sends SIGTERM when a pod is deleted, \
                     evicted, scaled down or replaced in a rollout, or fails its liveness \
                     probe; `docker stop` does the same. Usually fine: a process that ignores \
                     SIGTERM gets SIGKILL after the grace period and reports 137 instead.",
        steps: &[
            "Check why it was stopped: \
             `kubectl get events --field-selector involvedObject.name=<pod>` and the kubelet log",
            "To exit with 0 instead, handle SIGTERM in the program (and run it as PID 1 or \
             under an init that forwards signals)",
        ],
    },
    SignalText {
        signo: signals::SIGXCPU,
        hint: "used up its CPU-time limit (RLIMIT_CPU)",
        kubernetes: "The process used up its CPU-time rlimit (`ulimit -t`); Kubernetes CPU \
                     limits throttle, they never send this.",
        steps: &["Check the limits in the container: `cat /proc/<pid>/limits`"],
    },
    SignalText {
        signo: signals::SIGXFSZ,
        hint: "wrote past its file-size limit (RLIMIT_FSIZE)",
        kubernetes: "The process wrote a file past its file-size rlimit (`ulimit -f`).",
        steps: &["Check the limits in the container: `cat /proc/<pid>/limits`"],
    },
    SignalText {
        signo: signals::SIGSYS,
        hint: "made a forbidden system call, usually blocked by seccomp",
        kubernetes: "A seccomp profile (the runtime's default, or securityContext.seccompProfile) \
                     killed the process for a system call it does not allow.",
        steps: &[
            "Check the pod's securityContext.seccompProfile; with auditing on, \
             `journalctl -k | grep -i seccomp` on the node names the system call",
        ],
    },
];

fn signal_text(n: i32) -> Option<&'static SignalText> {
    SIGNAL_TEXTS.iter().find(|t| t.signo == n)
}

/// Completes "killed by SIGX (128+n): ...": the table's hint, or the man-page description.
pub(super) fn signal_hint(n: i32) -> String {
    match signal_text(n) {
        Some(t) => t.hint.to_string(),
        None => {
            let d = signals::description(n);
            let mut chars = d.chars();
            chars
                .next()
                .map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
        }
    }
}

/// "SIGKILL (signal 9)", or just "Signal 32" when the number has no name (it starts a sentence).
fn numbered(n: i32) -> String {
    match signals::name(n) {
        Some(name) => format!("{name} (signal {n})"),
        None => format!("Signal {n}"),
    }
}

pub(super) fn by_signal(code: u8, n: i32) -> Advice {
    let sig = Signal(n);
    let action = signals::default_action(n);
    match action {
        Some(DefaultAction::Terminate | DefaultAction::CoreDump) => {
            let text = signal_text(n);
            let kubernetes = text.map_or_else(
                || {
                    format!(
                        "Something sent {sig} and the process had no handler for it, so the \
                         default action ended it."
                    )
                },
                |t| t.kubernetes.to_string(),
            );
            let mut steps: Vec<String> = text
                .map(|t| t.steps.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default();
            steps.push(format!(
                "{code} is also what exit({code}) leaves: run `exitwatch --pid <pid>` (or \
                 `exitwatch` for the whole node) to see whether a signal really ended the \
                 process, and which process sent it"
            ));
            Advice {
                class: Class::KilledBySignal,
                summary: format!(
                    "{} killed the process, so it reports 128 + {n} = {code}: {}.",
                    numbered(n),
                    signal_hint(n)
                ),
                kubernetes,
                steps,
            }
        }
        Some(DefaultAction::Stop) => Advice {
            class: Class::StoppedBySignal,
            summary: format!(
                "{code} is 128 + {n} ({sig}), but {sig} stops a process rather than ending it: \
                 a shell reports {code} for a job it stopped (Ctrl-Z), and a process that \
                 really exited with {code} chose that code itself."
            ),
            kubernetes: "Not a signal death: being stopped does not end a container, so the \
                         application exited with this code on its own."
                .to_string(),
            steps: vec![LOGS.to_string()],
        },
        _ => {
            let what = if action == Some(DefaultAction::Continue) {
                "continue"
            } else {
                "ignore"
            };
            program(
                code,
                format!(
                    "{code} would be 128 + {n} ({sig}), but {sig} does not end a process by \
                     default (default action: {what}), so the program most likely exited with \
                     {code} itself."
                ),
            )
        }
    }
}
