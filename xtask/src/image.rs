//! `cargo xtask image`: the OCI image of deploy/Containerfile around a static exitwatch, for amd64
//! and arm64 under one manifest list, built without a daemon (buildah, chroot isolation) and
//! exported to target/image/exitwatch.tar.

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
/// The arches of the image's manifest list, each a static exitwatch (aarch64 cross-built).
const ARCHES: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

/// What `image` leaves behind.
pub struct Image {
    /// An OCI archive (`oci-archive:`), importable with `ctr -n k8s.io image import`.
    pub archive: PathBuf,
    /// `IMAGE_NAME:version`, as the archive names it.
    pub reference: String,
}

pub fn image() -> Result<Image> {
    let object = ebpf_object()?;
    let dir = target_dir().join("image");
    let reference = format!("{IMAGE_NAME}:{}", env!("CARGO_PKG_VERSION"));
    let archive = dir.join("exitwatch.tar");
    // buildah appends to an existing oci-archive rather than replacing it.
    let _ = fs::remove_file(&archive);
    let containerfile = workspace_root().join("deploy/Containerfile");
    // A list left by an interrupted run would collect a second image per arch.
    let _ = buildah(&dir).args(["manifest", "rm", &reference]).output();
    step(
        buildah(&dir).args(["manifest", "create", &reference]),
        "creating the image's manifest list (buildah; `cargo xtask setup` installs it)",
    )?;
    let mut built = Vec::new();
    let outcome = (|| {
        for arch in ARCHES {
            let binary = static_binary(arch, Profile::Release, &object)?;
            let tag = format!("{reference}-{}", arch.debian());
            one_arch(&dir, &containerfile, arch, &binary, &tag)?;
            built.push(tag.clone());
            step(
                buildah(&dir).args(["manifest", "add", &reference, &tag]),
                &format!("adding the {} image to the manifest list", arch.debian()),
            )?;
        }
        step(
            buildah(&dir)
                .args(["manifest", "push", "--all", "--quiet", &reference])
                .arg(format!("oci-archive:{}:{reference}", archive.display())),
            "exporting the image (both arches) to an OCI archive",
        )
    })();
    // The archive is the product; buildah's copies would only pile up in target/image/storage.
    let _ = buildah(&dir).args(["manifest", "rm", &reference]).output();
    for tag in &built {
        let _ = buildah(&dir).args(["rmi", "--force", tag]).output();
    }
    outcome?;
    eprintln!(
        "image: {} ({}; import with `ctr -n k8s.io image import {}`)",
        archive.display(),
        ARCHES.map(Arch::debian).join(" + "),
        archive.display()
    );
    Ok(Image { archive, reference })
}

/// The image of one arch from deploy/Containerfile, tagged `tag` in buildah's storage under `dir`.
/// FROM scratch with a COPY only: nothing runs at build time, so no emulator is needed for a
/// foreign arch; `--platform` only labels the image.
fn one_arch(dir: &Path, containerfile: &Path, arch: Arch, binary: &Path, tag: &str) -> Result<()> {
    let context = dir.join(format!("context-{}", arch.debian()));
    // A fresh context holding only the binary: buildah sends the whole directory.
    let _ = fs::remove_dir_all(&context);
    fs::create_dir_all(&context).with_context(|| format!("creating {}", context.display()))?;
    fs::copy(binary, context.join("exitwatch"))
        .with_context(|| format!("copying {} into the build context", binary.display()))?;
    eprintln!("image: {tag} from {}", containerfile.display());
    // --timestamp 0: the same binary gives the same image digest. --layers=false: one layer, no
    // cache to go stale.
    step(
        buildah(dir)
            .args([
                "build",
                "--isolation",
                "chroot",
                "--layers=false",
                "--timestamp",
                "0",
            ])
            .args(["--platform", &format!("linux/{}", arch.debian())])
            .arg("--file")
            .arg(containerfile)
            .args(["--tag", tag])
            .arg(&context),
        &format!("building the {} image", arch.debian()),
    )
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
