//! `cargo xtask run -- ARGS`: builds, then replaces this process with exitwatch running as root.

use std::{os::unix::process::CommandExt as _, process::Command};

use anyhow::{bail, Context as _, Result};

use crate::{
    build::{build, Profile},
    command::{on_path, shown},
    privilege::is_root,
    setup::{setup, Needs},
};

pub fn run(profile: Profile, args: &[String]) -> Result<()> {
    setup(Needs::Build)?;
    let binary = build(profile)?.binary;
    let mut cmd = if is_root()? {
        Command::new(&binary)
    } else if let Some(sudo) = on_path("sudo") {
        let mut cmd = Command::new(sudo);
        cmd.arg("-E").arg(&binary);
        cmd
    } else {
        bail!("exitwatch loads eBPF programs and needs root; there is no sudo here, so run as root:\n  {} {}",
            binary.display(), args.join(" "));
    };
    cmd.args(args);
    let err = cmd.exec();
    Err(err).with_context(|| format!("could not start `{}`", shown(&cmd)))
}
