//! `cargo xtask build`: the eBPF object (nightly, bpf-linker), then the exitwatch binary embedding it.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _, Result};

use crate::{
    arch::Arch,
    command::{cargo, step},
    elf,
};

const BPF_TARGET: &str = "bpfel-unknown-none";
/// The eBPF crate's [[bin]]; bpf-linker writes the object under this name.
const BPF_BIN: &str = "exitwatch";
const BINARY: &str = "exitwatch";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Release,
    Debug,
}

impl Profile {
    fn dir(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Debug => "debug",
        }
    }

    fn flags(self) -> &'static [&'static str] {
        match self {
            Profile::Release => &["--release"],
            Profile::Debug => &[],
        }
    }
}

/// What a build leaves behind, as absolute paths.
pub struct Built {
    /// The eBPF object; cargo commands that may rebuild exitwatch must pass it again as
    /// EXITWATCH_BPF_OBJECT, or exitwatch's build script would embed an empty one.
    pub object: PathBuf,
    pub binary: PathBuf,
}

/// The eBPF object, then exitwatch linked statically for `arch` (cross-built when foreign; the
/// cross toolchain is installed first if missing). The eBPF object is the same for every arch.
pub fn build_for(arch: Arch, profile: Profile) -> Result<Built> {
    let object = ebpf_object()?;
    let binary = static_binary(arch, profile, &object)?;
    Ok(Built { object, binary })
}

/// Both builds for this machine's arch, exitwatch static (it starts on any Linux userspace, old
/// glibc or none); the toolchain must be there (`setup`). `profile` is the userspace one: the
/// eBPF object is always optimized, because core and compiler_builtins built at the dev profile
/// end functions in calls to the panic handler, which the verifier rejects ("last insn is not
/// an exit or jmp").
pub fn build(profile: Profile) -> Result<Built> {
    build_for(Arch::host(), profile)
}

pub fn ebpf_object() -> Result<PathBuf> {
    let profile = Profile::Release;
    eprintln!(
        "build: eBPF programs (nightly, {BPF_TARGET}, {})",
        profile.dir()
    );
    // Flags for the BPF target (BTF for the loader) live in .cargo/config.toml, so that the plain
    // cargo command builds the same object; RUSTFLAGS from the caller would replace them.
    let mut cmd = Command::new("rustup");
    cmd.args([
        "run",
        "nightly",
        "cargo",
        "build",
        "--package",
        "exitwatch-ebpf",
    ])
    .args(["--target", BPF_TARGET])
    .args(["-Z", "build-std=core"])
    .args(profile.flags())
    .current_dir(workspace_root());
    for var in [
        "RUSTC",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTUP_TOOLCHAIN",
    ] {
        cmd.env_remove(var);
    }
    step(&mut cmd, "building the eBPF programs")?;
    let object = target_dir()
        .join(BPF_TARGET)
        .join(profile.dir())
        .join(BPF_BIN);
    if !object.is_file() {
        bail!(
            "the eBPF build succeeded but left no object at {}",
            object.display()
        );
    }
    Ok(object)
}

/// exitwatch linked statically against glibc (`+crt-static`) for `arch`: it runs FROM scratch and
/// on any distribution of that arch.
pub fn static_binary(arch: Arch, profile: Profile, object: &Path) -> Result<PathBuf> {
    arch.prepare(&[])?;
    let triple = arch.triple();
    eprintln!("build: exitwatch, static ({triple}, {})", profile.dir());
    let mut cmd = cargo();
    cmd.args(["build", "--package", "exitwatch", "--target", triple])
        .args(profile.flags())
        .env("EXITWATCH_BPF_OBJECT", object)
        .current_dir(workspace_root());
    arch.static_build_env(&mut cmd);
    step(
        &mut cmd,
        &format!("building the static exitwatch for {triple}"),
    )?;
    let binary = target_dir().join(triple).join(profile.dir()).join(BINARY);
    check_static(&binary, arch)?;
    Ok(binary)
}

/// Fails unless `binary` is a static ELF executable for `arch`.
pub fn check_static(binary: &Path, arch: Arch) -> Result<()> {
    let bytes = std::fs::read(binary).with_context(|| format!("reading {}", binary.display()))?;
    match elf::linking(&bytes) {
        Some(l) if l.machine != arch.elf_machine() => bail!(
            "{} is not a {} executable (ELF machine {})",
            binary.display(),
            arch.name(),
            l.machine
        ),
        Some(l) if l.interpreter.is_some() => bail!(
            "{} has a program interpreter (it is dynamically linked) and cannot run FROM scratch \
             or in a guest without glibc; was +crt-static overridden?",
            binary.display()
        ),
        Some(_) => Ok(()),
        None => bail!("{} is not a 64-bit ELF file", binary.display()),
    }
}

pub fn workspace_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

pub fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}
