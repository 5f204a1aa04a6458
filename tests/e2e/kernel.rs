//! Signals the kernel sends on its own behalf: a fault is reported as the kernel's, not the
//! current task's.

use crate::harness::{first, of_kind, Exitwatch, Victim, EVENT_TIMEOUT};

#[test]
fn null_dereference_is_a_kernel_fault_not_a_process_kill() {
    let mut victim = Victim::spawn(&[]);
    let ew = Exitwatch::start(&["--pid", &victim.pid_arg(), "--format", "json"]);
    victim.tell("segv");
    let events = ew.wait_exit(EVENT_TIMEOUT).assert_ok().json();
    let signals = of_kind(&events, "signal");
    assert_eq!(signals.len(), 1, "{events:#?}");
    let ev = signals[0];
    let sig = &ev["signal"];
    assert_eq!(sig["name"], "SIGSEGV", "{ev:#}");
    assert_eq!(sig["code_name"], "SEGV_MAPERR", "{ev:#}");
    assert_eq!(sig["fault_addr"], "0x0", "{ev:#}");
    assert_eq!(sig["fatal"], true, "{ev:#}");
    let s = &ev["sender"];
    assert_eq!(s["kind"], "kernel", "{ev:#}");
    assert_eq!(s["reason"], "fault", "{ev:#}");
    assert!(s.get("pid").is_none(), "the kernel has no pid: {ev:#}");
    assert_eq!(
        s["context"]["pid"], victim.pid,
        "the faulting task was current: {ev:#}"
    );
    assert_eq!(s["context"]["comm"], "victim", "{ev:#}");
    assert_eq!(ev["target"]["pid"], victim.pid, "{ev:#}");

    let exit = first(&events, "exit");
    assert_eq!(exit["exit"]["code"], 139, "{exit:#}");
    assert_eq!(exit["exit"]["signal"], 11, "{exit:#}");
    assert_eq!(exit["exit"]["signal_name"], "SIGSEGV", "{exit:#}");
}
