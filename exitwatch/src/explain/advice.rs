//! The prose behind `explain`: per code and per signal, the summary, the pod reading and the next steps.

use super::Class;
use crate::exitstatus::code_meaning;
use crate::signals::{self, DefaultAction, Signal};

pub(super) struct Advice {
    pub class: Class,
    pub summary: String,
    pub kubernetes: String,
    pub steps: Vec<String>,
}

const LOGS: &str = "Read the last output of the run that failed: `kubectl logs --previous <pod>` \
(or `docker logs <container>`)";

fn advice(class: Class, summary: &str, kubernetes: &str, steps: &[&str]) -> Advice {
    Advice {
        class,
        summary: summary.to_string(),
        kubernetes: kubernetes.to_string(),
        steps: steps.iter().map(|s| s.to_string()).collect(),
    }
}

/// Everything `explain` says about `code` besides the numbers themselves.
pub(super) fn for_code(code: u8) -> Advice {
    match code {
        0 => advice(
            Class::Success,
            "Success: the process finished and reported no error.",
            "Reason is usually Completed: the main process finished by itself. Expected for a \
             Job; under restartPolicy Always (a Deployment) the kubelet restarts it, and clean \
             exits over and over end in CrashLoopBackOff.",
            &[
                "If the container should still be running, read `kubectl logs --previous <pod>` \
                 to see why its main process finished",
                "Check that the entrypoint runs the service in the foreground rather than \
                 starting it in the background and returning",
            ],
        ),
        1 => advice(
            Class::ProgramError,
            "General error: the program reported a failure with exit(1), the most common \
             failure code; only its output says what failed.",
            "Reason: Error. The application failed (an unhandled exception, a bad \
             configuration, a file the image refers to that does not exist); its logs say which.",
            &[
                LOGS,
                "Check that the files and paths the command refers to exist in the image",
                "Reproduce it by running the same command in the image: \
                 `docker run --rm -it <image> <command>`",
            ],
        ),
        2 => advice(
            Class::ShellMisuse,
            "Misuse of a shell builtin or bad usage: shells and many tools (grep, ls) exit 2 \
             for a syntax error or a wrong option.",
            "Reason: Error. Often a syntax error in a `sh -c` command or a wrong flag in the \
             pod's command or args.",
            &[
                LOGS,
                "Check the command and args in the pod spec, and syntax-check scripts with \
                 `sh -n <script>`",
            ],
        ),
        64..=78 => sysexits(code),
        125 => advice(
            Class::RuntimeError,
            "The container runtime itself failed to run the container (`docker run` exits 125 \
             for a bad flag, missing permissions or an engine problem): the application never \
             started.",
            "Rare in a pod: the runtime, not the application, failed. Look at the Events in \
             `kubectl describe pod <pod>` and at the containerd, CRI-O or docker log on the node.",
            &[
                "Check the syntax of the `docker run` command: an unknown flag exits 125",
                "Check that the user running the container may create containers on this host",
                "Read the runtime's log: `journalctl -u containerd` or `journalctl -u docker`",
            ],
        ),
        126 => advice(
            Class::CannotExecute,
            "The command was found but could not be executed: it is not executable, is a \
             directory, has a bad #! interpreter, or is built for another CPU architecture.",
            "Reason: Error (or StartError). The image's entrypoint or the pod's command exists \
             but cannot run: no execute bit, a bad #! line, a binary for another architecture \
             (an amd64 image on an arm64 node), or a noexec volume.",
            &[
                "Check the file mode: the command needs an x bit (`ls -l <command>` in the image)",
                "Check that the #! line of a script names an interpreter the image has",
                "Compare the binary's architecture (`file <binary>`) with the node's (`uname -m`)",
                "Check for noexec mounts and for the user the securityContext runs it as",
            ],
        ),
        127 => advice(
            Class::NotFound,
            "Command not found: the command, its #! interpreter or a file it needs is not in \
             PATH or at the given path.",
            "An image or command problem: the command in the pod spec or the image's \
             entrypoint (or its #! interpreter, or a library it needs) is missing from the \
             image, misspelt, or on a volume that did not mount.",
            &[
                "Check the command and args in the pod spec for typos, and prefer an absolute path",
                "Check that the binary is installed in the image (a `RUN apk add` or \
                 `RUN apt-get install` line in the Dockerfile)",
                "Check that a script's #! interpreter exists in the image (alpine has no /bin/bash)",
                "If the command lives on a volume, check the volume mounts and subPath; check \
                 PATH in the container's env",
                "Look inside: `kubectl debug -it <pod> --image=busybox --target=<container>`",
            ],
        ),
        128 => advice(
            Class::InvalidExitArgument,
            "Invalid argument to exit: the program called exit with something other than an \
             integer from 0 to 255 (128 is not a signal death: there is no signal 0).",
            "Reason: Error. Code in the container called exit with an invalid value.",
            &[
                LOGS,
                "Find where the program calls exit and pass an integer from 0 to 255",
            ],
        ),
        129..=192 => by_signal(code, i32::from(code - 128)),
        255 => advice(
            Class::OutOfRange,
            "Exit status out of range: usually exit(-1), which leaves 255, or a tool's \
             catch-all failure (ssh exits 255 when the connection itself fails).",
            "Reason: Error. Often the application called exit(-1), or an entrypoint script \
             passed on the 255 of a failed ssh; only the logs say which.",
            &[
                LOGS,
                "Search the code for exit(-1), os.Exit(-1) or System.exit(-1)",
                "If the command runs ssh, run it with `ssh -v` to see why the connection failed",
            ],
        ),
        193..=254 => program(
            code,
            format!(
                "The program exited with {code} on its own: no signal leaves more than \
                 128 + 64 = 192, so although 129-255 usually means a signal, {code} is the \
                 program's own code."
            ),
        ),
        _ => program(
            code,
            format!(
                "The program exited with {code} on its own: by convention 1-128 is a \
                 program's own failure, and what {code} means is up to the program."
            ),
        ),
    }
}

fn program(code: u8, summary: String) -> Advice {
    Advice {
        class: Class::ProgramError,
        summary,
        kubernetes: "Reason: Error. The application chose this code; its documentation and \
                     logs say what it means."
            .to_string(),
        steps: vec![
            LOGS.to_string(),
            format!("Look up exit code {code} in the application's documentation"),
        ],
    }
}

/// What to check for each sysexits.h code, 64 to 78.
const SYSEXITS_STEPS: [&str; 15] = [
    "Check the command and args in the pod spec against the program's usage",
    "Check the format of the input data the program reads",
    "Check that the input files exist and their volumes are mounted",
    "Check the user names the program was given",
    "Check the host names the program was given, and DNS from inside the pod",
    "Check that the services the program depends on are up and reachable",
    "An internal software error is a bug: look for a stack trace in the logs",
    "A system error such as a failed fork: check the pids limit and memory of the container",
    "A critical OS file is missing: check the image",
    "Check that the output path is writable (volumes, readOnlyRootFilesystem)",
    "Check the disks and volumes the program reads and writes",
    "A temporary failure: retrying may succeed, but find out what was unavailable",
    "Check that the remote side speaks the same protocol version",
    "Check the user the container runs as (runAsUser, fsGroup) and file permissions",
    "Check the configuration: ConfigMaps, Secrets, env and config files",
];

fn sysexits(code: u8) -> Advice {
    let meaning = code_meaning(code).unwrap_or_default();
    let (name, what) = meaning.split_once(": ").unwrap_or(("", meaning.as_str()));
    Advice {
        class: Class::Sysexits,
        summary: format!(
            "{name} (sysexits.h): {what}; the program reported this failure itself, using the \
             C convention for codes 64-78."
        ),
        kubernetes: format!(
            "Reason: Error. If the program follows sysexits.h, {code} means {what}; not every \
             program does, so confirm it in the logs."
        ),
        steps: vec![
            LOGS.to_string(),
            SYSEXITS_STEPS[usize::from(code - 64)].to_string(),
        ],
    }
}

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
        hint: "hangup: its terminal closed or something sent SIGHUP",
        kubernetes: "Rare in a pod: some process sent SIGHUP (often meant as \"reload the \
                     configuration\") to a program that does not handle it.",
        steps: &["If SIGHUP was meant as a reload, make the program handle it"],
    },
    SignalText {
        signo: signals::SIGINT,
        hint: "interrupted: Ctrl-C, or something sent SIGINT",
        kubernetes: "Unusual in a pod: SIGINT comes from Ctrl-C on an attached terminal \
                     (`kubectl attach`, `docker run -it`) or from an image whose STOPSIGNAL is \
                     SIGINT.",
        steps: &["Check the image's stop signal: `docker inspect -f '{{.Config.StopSignal}}' <image>`"],
    },
    SignalText {
        signo: signals::SIGQUIT,
        hint: "quit: Ctrl-\\ or something sent SIGQUIT, which dumps core",
        kubernetes: "Some images stop with SIGQUIT (nginx's graceful shutdown); otherwise \
                     something sent it, and the default action dumps core.",
        steps: &["Check the image's stop signal: `docker inspect -f '{{.Config.StopSignal}}' <image>`"],
    },
    SignalText {
        signo: signals::SIGILL,
        hint: "illegal instruction: a crash, or a binary built for another CPU",
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
        hint: "aborted itself: abort(), a failed assertion or a fatal runtime error",
        kubernetes: "A crash: the program called abort(), after a failed assert(), an uncaught \
                     C++ exception, heap corruption found by the C library (\"double free\"), \
                     or a runtime's fatal error.",
        steps: &[LOGS, CORE],
    },
    SignalText {
        signo: signals::SIGBUS,
        hint: "bus error: bad memory access, often a memory-mapped file that shrank",
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

fn by_signal(code: u8, n: i32) -> Advice {
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
                    "{sig} (signal {n}) killed the process, so it reports 128 + {n} = {code}: {}.",
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
