//! Mistakes and missing privileges end with a sysexits status and a message that says why.

use std::process::Command;

use crate::harness::{run_exitwatch, Finished};

fn assert_fails(done: &Finished, code: i32, needle: &str) {
    assert_eq!(done.code(), Some(code), "{done:#?}");
    assert!(
        done.stderr.contains(needle),
        "stderr should mention {needle:?}:\n{}",
        done.stderr
    );
    assert!(done.stdout.is_empty(), "{done:#?}");
}

#[test]
fn nonexistent_pid_is_no_input() {
    // A pid that just existed and was reaped: pids are not reused right away.
    let mut child = Command::new("true").spawn().expect("run true");
    let pid = child.id().to_string();
    child.wait().unwrap();
    assert_fails(&run_exitwatch(&[], &["--pid", &pid]), 66, &pid);
}

#[test]
fn unknown_signal_name_is_a_usage_error() {
    assert_fails(&run_exitwatch(&[], &["-s", "KILL,NOPE"]), 64, "NOPE");
}

#[test]
fn pid_that_is_not_a_number_is_a_usage_error() {
    assert_fails(&run_exitwatch(&[], &["--pid", "abc"]), 64, "abc");
}

#[test]
fn unprivileged_user_is_told_which_capabilities_are_missing() {
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let done = run_exitwatch(&nobody, &[]);
    assert_fails(&done, 77, "CAP_BPF");
    assert!(done.stderr.contains("CAP_PERFMON"), "{}", done.stderr);
}
