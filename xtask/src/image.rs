//! `cargo xtask image`: the OCI image of deploy/Containerfile around a static exitwatch, built
//! without a daemon (buildah, chroot isolation) and exported to target/image/exitwatch.tar.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result};

use crate::{
    arch::Arch,
    build::{ebpf_object, static_binary, target_dir, workspace_root, Profile},
    command::step,
};

/// The image's name; deploy/kubernetes/daemonset.yaml runs `IMAGE_NAME:<workspace version>`.
pub const IMAGE_NAME: &str = "localhost/exitwatch";

/// What `image` leaves behind.
pub struct Image {
    /// An OCI archive (`oci-archive:`), importable with `ctr -n k8s.io image import`.
    pub archive: PathBuf,
    /// `IMAGE_NAME:version`, as the archive names it.
    pub reference: String,
}

pub fn image() -> Result<Image> {
    let object = ebpf_object()?;
    let binary = static_binary(Arch::X86_64, Profile::Release, &object)?;
    let dir = target_dir().join("image");
    let context = dir.join("context");
    // A fresh context holding only the binary: buildah sends the whole directory.
    let _ = fs::remove_dir_all(&context);
    fs::create_dir_all(&context).with_context(|| format!("creating {}", context.display()))?;
    fs::copy(&binary, context.join("exitwatch"))
        .with_context(|| format!("copying {} into the build context", binary.display()))?;
    let reference = format!("{IMAGE_NAME}:{}", env!("CARGO_PKG_VERSION"));
    let archive = dir.join("exitwatch.tar");
    // buildah appends to an existing oci-archive rather than replacing it.
    let _ = fs::remove_file(&archive);
    let containerfile = workspace_root().join("deploy/Containerfile");
    eprintln!("image: {reference} from {}", containerfile.display());
    // --timestamp 0: the same binary gives the same image digest. --layers=false: one layer, no
    // cache to go stale.
    step(
        buildah(&dir)
            .args([
                "build",
                "--isolation",
                "chroot",
                "--layers=false",
                "--timestamp",
                "0",
            ])
            .arg("--file")
            .arg(&containerfile)
            .args(["--tag", &reference])
            .arg(&context),
        "building the image (buildah; `cargo xtask setup` installs it)",
    )?;
    let exported = step(
        buildah(&dir)
            .args(["push", "--quiet", &reference])
            .arg(format!("oci-archive:{}:{reference}", archive.display())),
        "exporting the image to an OCI archive",
    );
    // The archive is the product; buildah's copy would only pile up in target/image/storage.
    let _ = buildah(&dir).args(["rmi", "--force", &reference]).output();
    exported?;
    eprintln!(
        "image: {} (import with `ctr -n k8s.io image import {}`)",
        archive.display(),
        archive.display()
    );
    Ok(Image { archive, reference })
}

/// buildah with its storage under `dir`: no system-wide state, and the vfs driver, which needs
/// no overlay mount (it works inside containers and on any filesystem; the image is one small layer).
fn buildah(dir: &Path) -> Command {
    let mut cmd = Command::new("buildah");
    cmd.arg("--root")
        .arg(dir.join("storage"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args(["--storage-driver", "vfs"]);
    cmd
}
