//! The busybox rootfs and the images made of it, with no registry: one layer, written with `tar`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{exec, work_dir, COMMAND_TIMEOUT};

/// Applets linked into the rootfs (the shell's `trap`, `wait`... are builtins).
const APPLETS: &[&str] = &["sh", "sleep", "kill", "true", "echo", "cat"];

/// `bin/busybox` (statically linked) and its applets as symlinks, under `dir/rootfs`.
pub(super) fn build_rootfs(dir: &Path) -> Result<PathBuf, String> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .ok_or("no busybox: install busybox-static (`cargo xtask setup`)")?;
    let elf = std::fs::read(busybox).map_err(|e| format!("{}: {e}", busybox.display()))?;
    if !is_static_elf(&elf) {
        return Err(format!(
            "{} is dynamically linked and cannot run alone in a container: install busybox-static",
            busybox.display()
        ));
    }
    let root = dir.join("rootfs");
    for sub in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
        std::fs::create_dir_all(root.join(sub)).map_err(|e| format!("mkdir {sub}: {e}"))?;
    }
    let target = root.join("bin/busybox");
    let same = std::fs::read(&target).is_ok_and(|have| have == elf);
    if !same {
        // A rename, not an overwrite: a container left by an earlier run may still run the old one.
        let tmp = root.join("bin/.busybox.new");
        std::fs::write(&tmp, &elf).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &target).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    for applet in APPLETS {
        let link = root.join("bin").join(applet);
        if std::fs::read_link(&link).is_err() {
            std::os::unix::fs::symlink("busybox", &link)
                .map_err(|e| format!("{}: {e}", link.display()))?;
        }
    }
    Ok(root)
}

/// Whether an ELF file has no program interpreter (no PT_INTERP program header).
fn is_static_elf(elf: &[u8]) -> bool {
    let u16_at = |o: usize| {
        elf.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
    };
    // 64-bit little-endian only, which is all these machines run.
    if elf.get(..6) != Some(b"\x7fELF\x02\x01") {
        return false;
    }
    let (Some(phoff), Some(size), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return false;
    };
    (0..count).all(|i| u32_at(phoff + i * size).is_some_and(|ty| ty != 3))
}

/// The rootfs as one uncompressed layer, and its digest (the image's diff id).
pub(super) struct Layer {
    pub path: PathBuf,
    digest: String,
}

pub(super) fn layer_tar(rootfs: &Path) -> Result<Layer, String> {
    let path = work_dir().join("layer.tar");
    exec(
        Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(rootfs)
            .arg("-cf")
            .arg(&path)
            .arg("."),
        COMMAND_TIMEOUT,
    )?;
    let digest = sha256(&path)?;
    Ok(Layer { path, digest })
}

fn sha256(path: &Path) -> Result<String, String> {
    let out = exec(Command::new("sha256sum").arg(path), COMMAND_TIMEOUT)?;
    out.split_whitespace()
        .next()
        .filter(|h| h.len() == 64)
        .map(str::to_owned)
        .ok_or_else(|| format!("sha256sum said {out:?}"))
}

/// A `docker save`-style archive of one image: the rootfs layer, a config with `entrypoint`, and
/// `name` as its tag. containerd imports it with `ctr image import`.
pub(super) fn docker_archive(
    rootfs: &Path,
    name: &str,
    entrypoint: &[&str],
) -> Result<PathBuf, String> {
    let layer = layer_tar(rootfs)?;
    let stem = format!("image-{}", name.replace(['/', ':'], "_"));
    let dir = work_dir().join(&stem);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    std::fs::rename(&layer.path, dir.join("layer.tar")).map_err(|e| e.to_string())?;
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Entrypoint": entrypoint, "Env": ["PATH=/bin"] },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{}", layer.digest)] },
        "history": [{ "created_by": "exitwatch end-to-end tests" }],
    });
    let config_tmp = dir.join("config.json");
    std::fs::write(&config_tmp, config.to_string()).map_err(|e| e.to_string())?;
    let config_name = format!("{}.json", sha256(&config_tmp)?);
    std::fs::rename(&config_tmp, dir.join(&config_name)).map_err(|e| e.to_string())?;
    let manifest =
        serde_json::json!([{ "Config": config_name, "RepoTags": [name], "Layers": ["layer.tar"] }]);
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).map_err(|e| e.to_string())?;
    let archive = work_dir().join(format!("{stem}.tar"));
    exec(
        Command::new("tar")
            .arg("-C")
            .arg(&dir)
            .arg("-cf")
            .arg(&archive)
            .args(["manifest.json", &config_name, "layer.tar"]),
        COMMAND_TIMEOUT,
    )?;
    Ok(archive)
}
