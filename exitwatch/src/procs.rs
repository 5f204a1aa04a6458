//! What /proc says about the processes the user asked to watch (an I/O edge: checked at start).

use procfs::process::Process;

use crate::exitstatus::ExitStatus;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProcError {
    #[error("no process with pid {0}: check the pid (e.g. `docker inspect -f '{{{{.State.Pid}}}}' CONTAINER`)")]
    NoSuchProcess(u32),
}

/// A process to watch, resolved to its thread-group id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watched {
    pub pid: u32,
    pub comm: String,
}

/// Resolves a pid (or a thread id) to the process that owns it.
pub fn resolve(pid: u32) -> Result<Watched, ProcError> {
    let status = Process::new(pid as i32)
        .and_then(|p| p.status())
        .map_err(|_| ProcError::NoSuchProcess(pid))?;
    Ok(Watched {
        pid: status.tgid as u32,
        comm: status.name,
    })
}

/// A watched process's state after the programs were attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Alive,
    /// Exited before we attached; waits for its parent. The kernel still shows its status.
    Zombie(Option<ExitStatus>),
    Gone,
}

pub fn state(pid: u32) -> State {
    let Ok(stat) = Process::new(pid as i32).and_then(|p| p.stat()) else {
        return State::Gone;
    };
    match stat.state {
        'Z' | 'X' => State::Zombie(stat.exit_code.map(|c| ExitStatus::from_raw(c as u32))),
        _ => State::Alive,
    }
}
