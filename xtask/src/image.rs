//! `cargo xtask image`: the OCI image of deploy/Containerfile around a static exitwatch, built
//! without a daemon (buildah, chroot isolation) and exported to target/image/exitwatch.tar.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _, Result};

use crate::{
    build::{ebpf_object, target_dir, workspace_root},
    command::{cargo, step},
};

/// The image's name; deploy/kubernetes/daemonset.yaml runs `IMAGE_NAME:<workspace version>`.
pub const IMAGE_NAME: &str = "localhost/exitwatch";
/// The only Rust target these machines have; glibc's static libraries come with it.
const TARGET: &str = "x86_64-unknown-linux-gnu";

/// What `image` leaves behind.
pub struct Image {
    /// An OCI archive (`oci-archive:`), importable with `ctr -n k8s.io image import`.
    pub archive: PathBuf,
    /// `IMAGE_NAME:version`, as the archive names it.
    pub reference: String,
}

pub fn image() -> Result<Image> {
    let object = ebpf_object()?;
    let binary = static_binary(&object)?;
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

/// exitwatch linked statically against glibc (`+crt-static`), for a FROM scratch image.
fn static_binary(object: &Path) -> Result<PathBuf> {
    eprintln!("image: exitwatch, static ({TARGET}, release)");
    // With an explicit --target, RUSTFLAGS reach only the target's crates: build scripts and
    // proc macros stay dynamic, as they must.
    step(
        cargo()
            .args([
                "build",
                "--release",
                "--package",
                "exitwatch",
                "--target",
                TARGET,
            ])
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env("EXITWATCH_BPF_OBJECT", object)
            .current_dir(workspace_root()),
        "building the static exitwatch",
    )?;
    let binary = target_dir().join(TARGET).join("release").join("exitwatch");
    let elf = fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
    if !is_static(&elf) {
        bail!(
            "{} has a program interpreter (it is dynamically linked) and cannot run FROM scratch; \
             was +crt-static overridden?",
            binary.display()
        );
    }
    Ok(binary)
}

/// Pure: a 64-bit little-endian ELF executable with no PT_INTERP program header, which the
/// kernel runs without a dynamic loader (static, or static-pie).
fn is_static(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let num = |at: usize, len: usize| -> Option<usize> {
        let b = elf.get(at..at + len)?;
        Some(
            b.iter()
                .rev()
                .fold(0usize, |n, &x| (n << 8) | usize::from(x)),
        )
    };
    if elf.get(..6) != Some(b"\x7fELF\x02\x01") {
        return false;
    }
    let (Some(phoff), Some(entry_size), Some(count)) = (num(0x20, 8), num(0x36, 2), num(0x38, 2))
    else {
        return false;
    };
    (0..count).all(|i| num(phoff + i * entry_size, 4).is_some_and(|ty| ty != PT_INTERP as usize))
}

#[cfg(test)]
mod tests {
    use super::is_static;

    /// An ELF header with `types` as its program headers (56 bytes each, from offset 64).
    fn elf(types: &[u32]) -> Vec<u8> {
        let mut e = vec![0u8; 64 + 56 * types.len()];
        e[..6].copy_from_slice(b"\x7fELF\x02\x01");
        e[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        e[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        e[0x38..0x3a].copy_from_slice(&(types.len() as u16).to_le_bytes());
        for (i, ty) in types.iter().enumerate() {
            e[64 + 56 * i..68 + 56 * i].copy_from_slice(&ty.to_le_bytes());
        }
        e
    }

    #[test]
    fn an_interpreter_means_dynamic() {
        // PT_PHDR, PT_INTERP, PT_LOAD: what a glibc-linked PIE has.
        assert!(!is_static(&elf(&[6, 3, 1])));
        // static-pie: PT_LOAD and PT_DYNAMIC (its own relocations), no interpreter.
        assert!(is_static(&elf(&[1, 2, 1])));
    }

    #[test]
    fn not_an_elf_or_cut_short_is_not_static() {
        assert!(!is_static(b"#!/bin/sh\n"));
        let mut cut = elf(&[1, 1]);
        cut.truncate(70);
        assert!(!is_static(&cut));
    }

    #[test]
    fn the_machine_knows_a_dynamic_binary_when_it_sees_one() {
        // A real check of the parser against this machine's own dynamically linked tools.
        let sh = std::fs::read("/bin/sh").expect("/bin/sh");
        assert!(!is_static(&sh));
    }
}
