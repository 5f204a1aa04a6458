//! Runs external programs: checks that say yes or no, and steps that must succeed or explain why not.

use std::{
    env,
    ffi::OsString,
    path::PathBuf,
    process::{Command, Stdio},
};

use anyhow::{bail, Context as _, Result};

/// Runs `cmd` with inherited output; an error names the command and what it was for.
pub fn step(cmd: &mut Command, purpose: &str) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("{purpose}: could not start {}", shown(cmd)))?;
    if !status.success() {
        bail!("{purpose}: `{}` failed ({status})", shown(cmd));
    }
    Ok(())
}

/// Stdout of `cmd` if it ran and succeeded; its stderr is discarded (the caller judges the answer).
pub fn answer(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Stdout of `cmd` whether or not it succeeded, or `None` if it could not be started.
pub fn any_answer(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The cargo that runs this xtask, so nested builds use the same toolchain.
pub fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Where `cargo install` puts binaries.
pub fn cargo_bin_dir() -> Option<PathBuf> {
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    Some(home.join("bin"))
}

/// `sudo` resets PATH, so bpf-linker (which rustc finds through PATH) could be invisible
/// although installed; make `~/.cargo/bin` visible to every child.
pub fn put_cargo_bin_on_path() {
    let Some(dir) = cargo_bin_dir() else { return };
    let path = env::var_os("PATH").unwrap_or_default();
    if env::split_paths(&path).any(|p| p == dir) {
        return;
    }
    // Still single-threaded here, so changing the environment is sound.
    env::set_var("PATH", prepend_path(dir, &path));
}

pub fn prepend_path(dir: PathBuf, path: &OsString) -> OsString {
    let dirs = std::iter::once(dir).chain(env::split_paths(path));
    env::join_paths(dirs).unwrap_or_else(|_| path.clone())
}

/// The full path of `program` if it is on PATH.
pub fn on_path(program: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// `cmd` as a shell-like line, for messages.
pub fn shown(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
