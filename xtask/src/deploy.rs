//! The deployment's part of `setup` and `test`: kubernetes-validate for the manifests, then the
//! image built and run under containerd as the DaemonSet would run it (tests/deploy).

use std::process::Command;

use anyhow::{bail, Result};

use crate::{
    build::workspace_root,
    command::{answer, cargo, step},
    image::image,
};

/// Pinned: its bundled schemas (Kubernetes 1.25-1.37) are what tests/deploy validates against.
const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";

/// Installs the Python package kubernetes-validate (not in Debian) with pip, when missing.
pub fn kubernetes_validate() -> Result<()> {
    let probe = || {
        answer(Command::new("python3").args(["-c", "import kubernetes_validate, yaml"])).is_some()
    };
    if probe() {
        eprintln!("{:<11} python3 kubernetes-validate", "ok");
        return Ok(());
    }
    eprintln!("{:<11} python3 kubernetes-validate (pip)", "installing");
    let prefix = answer(Command::new("python3").args(["-c", "import sys; print(sys.prefix)"]))
        .unwrap_or_default();
    let mut pip = Command::new("python3");
    pip.args(["-m", "pip", "install", "--quiet", KUBERNETES_VALIDATE]);
    // Debian's own python3 refuses pip installs (PEP 668) unless told this is meant.
    if prefix.trim() == "/usr" {
        pip.arg("--break-system-packages");
    }
    step(&mut pip, "installing kubernetes-validate with pip")?;
    if !probe() {
        bail!("python3 still cannot `import kubernetes_validate` after pip installed it; check which python3 is on PATH");
    }
    Ok(())
}

/// Builds the image (`cargo xtask image`), then runs tests/deploy as root, one test at a time:
/// the manifests against the Kubernetes schemas and the image under containerd.
pub fn deploy_tests() -> Result<()> {
    let image = image()?;
    eprintln!(
        "test: deployment tests (manifests, {} under containerd)",
        image.reference
    );
    step(
        cargo()
            .args([
                "test",
                "--release",
                "--package",
                "exitwatch-tests",
                "--test",
                "deploy",
            ])
            .args(["--", "--test-threads=1"])
            .env("EXITWATCH_IMAGE_ARCHIVE", &image.archive)
            .current_dir(workspace_root()),
        "running the deployment tests",
    )
}
