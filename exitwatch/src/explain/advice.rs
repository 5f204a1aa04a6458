//! The prose behind `explain` for codes other than signal deaths: summary, pod reading, next steps.

use super::Class;
use crate::exitstatus::code_meaning;

pub(super) struct Advice {
    pub class: Class,
    pub summary: String,
    pub kubernetes: String,
    pub steps: Vec<String>,
}

pub(super) const LOGS: &str =
    "Read the last output of the run that failed: `kubectl logs --previous <pod>` \
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
            "Reason: Error. The image's entrypoint or the pod's command exists but cannot \
             run: no execute bit, a bad #! line, a binary for another architecture \
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
            "With containerd, Reason StartError and exit code 128 mean the runtime could not \
             start the command at all (executable not found in $PATH, permission denied); \
             with Reason Error, code in the container called exit with an invalid value.",
            &[
                "If Reason is StartError, read its Message in `kubectl describe pod <pod>`: \
                 it names the command that could not start",
                LOGS,
                "Find where the program calls exit and pass an integer from 0 to 255",
            ],
        ),
        129..=192 => super::signal_advice::by_signal(code, i32::from(code - 128)),
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

pub(super) fn program(code: u8, summary: String) -> Advice {
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
            "Reason: Error. If the program follows sysexits.h, {code} is {name} ({what}); \
             not every program does, so confirm it in the logs."
        ),
        steps: vec![
            LOGS.to_string(),
            SYSEXITS_STEPS[usize::from(code - 64)].to_string(),
        ],
    }
}
