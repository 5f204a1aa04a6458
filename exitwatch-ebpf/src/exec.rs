//! `sched_process_exec`: a process became another program, so its identity (argv, executable)
//! must be sent again before its next reported signal.

use aya_ebpf::{macros::btf_tracepoint, programs::BtfTracePointContext};

use crate::{
    maps::IDENTITIES,
    task::{self, Task},
};

// TP_PROTO(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
#[btf_tracepoint(function = "sched_process_exec")]
pub fn sched_process_exec(ctx: BtfTracePointContext) -> i32 {
    let task: Task = ctx.arg(0);
    let _ = IDENTITIES.remove(&task::tgid(task));
    0
}
