//! Debian packages fetched with `apt-get download` (or from Debian's archive by their pool path,
//! for suites this machine's apt does not list) and unpacked with `dpkg -x` into a cache, never
//! installed.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _, Result};

use crate::{
    command::{shown, step},
    debian,
};

/// Marks a complete unpacking (an interrupted one is redone).
const DONE: &str = ".unpacked";

/// The directory `package` is unpacked in under `cache`; downloaded only when not there yet:
/// from `pool` (a path in Debian's archive) when given, else with `apt-get download`.
pub fn unpacked(package: &str, pool: Option<&str>, cache: &Path) -> Result<PathBuf> {
    let dir = cache.join(package);
    if dir.join(DONE).is_file() {
        return Ok(dir);
    }
    let downloads = cache.join("downloads");
    fs::create_dir_all(&downloads).with_context(|| format!("creating {}", downloads.display()))?;
    eprintln!("kernels: downloading {package}");
    if let Some(pool) = pool {
        fetch(pool, &downloads)?;
    } else if download(package, &downloads).is_err() {
        // A fresh machine's package lists may be missing or stale.
        step(
            Command::new("apt-get").args(["update", "-q"]),
            &format!("refreshing the package lists to download {package}"),
        )?;
        if let Err(err) = download(package, &downloads) {
            bail!("{err}: is `{package}` still in the archive? `apt-cache search --names-only ^{}` lists what is",
                package.split(['_', '+']).next().unwrap_or(package));
        }
    }
    let deb = fs::read_dir(&downloads)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{package}_")) && n.ends_with(".deb"))
        })
        .with_context(|| {
            format!(
                "apt-get download left no {package}_*.deb in {}",
                downloads.display()
            )
        })?;
    let partial = cache.join(format!("{package}.partial"));
    let _ = fs::remove_dir_all(&partial);
    let _ = fs::remove_dir_all(&dir);
    step(
        Command::new("dpkg").arg("-x").arg(&deb).arg(&partial),
        &format!("unpacking {}", deb.display()),
    )?;
    fs::rename(&partial, &dir)?;
    fs::write(dir.join(DONE), "")?;
    fs::remove_file(&deb)?;
    Ok(dir)
}

/// Debian's archive's `pool` path into `into`, under its own file name (never a partial file).
fn fetch(pool: &str, into: &Path) -> Result<()> {
    let name = pool.rsplit('/').next().unwrap_or(pool);
    let partial = into.join(format!("{name}.partial"));
    debian::download(&format!("{}/{pool}", debian::MIRROR), &partial)?;
    fs::rename(&partial, into.join(name))?;
    Ok(())
}

fn download(package: &str, into: &Path) -> Result<()> {
    let mut cmd = Command::new("apt-get");
    // As root, apt would hand the download to its `_apt` user, who may not write into `into`.
    cmd.args(["download", "-q", "-o", "APT::Sandbox::User=root", package])
        .current_dir(into);
    let out = cmd
        .output()
        .with_context(|| format!("could not run `{}`", shown(&cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            shown(&cmd),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
