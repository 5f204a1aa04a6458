//! The CPU architectures exitwatch is built for: their names (Rust, Debian, OCI), and the cross
//! toolchain a build for a foreign one needs, installed only when such a build is asked for.

use std::process::Command;

use anyhow::{bail, Context as _, Result};

use crate::{
    apt,
    command::{answer, step},
    elf,
    privilege::is_root,
    qemu,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// `aarch64`, `arm64`, `aarch64-unknown-linux-gnu`; `x86_64`, `amd64`, `x86_64-unknown-linux-gnu`.
    pub fn parse(s: &str) -> Option<Arch> {
        match s {
            "x86_64" | "amd64" | "x86_64-unknown-linux-gnu" => Some(Arch::X86_64),
            "aarch64" | "arm64" | "aarch64-unknown-linux-gnu" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// The one this xtask was built for (and so runs on).
    pub fn host() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else {
            Arch::X86_64
        }
    }

    /// The Rust target; glibc's static libraries come with it (`+crt-static`).
    pub fn triple(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Aarch64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// `uname -m`, and how the kernel matrix names the row.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// Debian's and OCI's name (`GOARCH`).
    pub fn debian(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }

    /// Debian's multiarch tuple: libraries live in `/usr/lib/<multiarch>`.
    pub fn multiarch(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-linux-gnu",
            Arch::Aarch64 => "aarch64-linux-gnu",
        }
    }

    /// The QEMU machine that runs a guest of this arch.
    pub fn machine(self) -> &'static qemu::Machine {
        match self {
            Arch::X86_64 => &qemu::X86_64,
            Arch::Aarch64 => &qemu::AARCH64,
        }
    }

    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => elf::EM_X86_64,
            Arch::Aarch64 => elf::EM_AARCH64,
        }
    }

    /// The C toolchain that links for this arch from the host: the package and the linker, with
    /// the cargo variable naming it. `None`: the host's own `cc` does.
    fn cross(self) -> Option<Cross> {
        if self == Arch::host() {
            return None;
        }
        Some(match self {
            Arch::Aarch64 => Cross {
                // The compiler driver, and glibc's static libraries for the target (`libc.a`).
                packages: &["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"],
                linker: "aarch64-linux-gnu-gcc",
                linker_var: "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER",
            },
            Arch::X86_64 => Cross {
                packages: &["gcc-x86-64-linux-gnu", "libc6-dev-amd64-cross"],
                linker: "x86_64-linux-gnu-gcc",
                linker_var: "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER",
            },
        })
    }

    /// Sets what a static cargo build for this arch needs on `cmd`: the target's rustflags and,
    /// for a foreign arch, its linker (in the command, so no user config needs editing).
    /// With an explicit `--target`, RUSTFLAGS reach only the target's crates: build scripts
    /// and proc macros stay dynamic host programs, as they must.
    pub fn static_build_env(self, cmd: &mut Command) {
        cmd.env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env_remove("CARGO_ENCODED_RUSTFLAGS");
        if let Some(cross) = self.cross() {
            cmd.env(cross.linker_var, cross.linker);
        }
    }

    /// Installs what building for this arch needs and is missing: the Rust target's standard
    /// library, and for a foreign arch the C cross toolchain (Debian packages, root) and `extra`
    /// packages (QEMU for a guest of this arch).
    pub fn prepare(self, extra: &[&'static str]) -> Result<()> {
        let mut packages: Vec<&str> = self.cross().map_or(&[][..], |c| c.packages).to_vec();
        packages.extend_from_slice(extra);
        let missing = apt::missing(&packages)?;
        if !missing.is_empty() {
            if !is_root()? {
                bail!(
                    "building for {} needs Debian packages {}; installing them needs root. Run\n  {}",
                    self.name(),
                    missing.join(" "),
                    apt::install_line(&missing)
                );
            }
            eprintln!(
                "{:<11} {} (for {})",
                "installing",
                missing.join(" "),
                self.name()
            );
            apt::install(&missing)?;
        }
        let installed = answer(Command::new("rustup").args(["target", "list", "--installed"]))
            .context("`rustup target list --installed` failed: is rustup installed?")?;
        if !installed.lines().any(|l| l.trim() == self.triple()) {
            eprintln!("{:<11} rust target {}", "installing", self.triple());
            step(
                Command::new("rustup").args(["target", "add", self.triple()]),
                &format!("adding the Rust target {}", self.triple()),
            )?;
        }
        Ok(())
    }
}

struct Cross {
    packages: &'static [&'static str],
    linker: &'static str,
    linker_var: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arches_go_by_every_usual_name() {
        for name in ["aarch64", "arm64", "aarch64-unknown-linux-gnu"] {
            assert_eq!(Arch::parse(name), Some(Arch::Aarch64));
        }
        for name in ["x86_64", "amd64", "x86_64-unknown-linux-gnu"] {
            assert_eq!(Arch::parse(name), Some(Arch::X86_64));
        }
        assert_eq!(Arch::parse("riscv64"), None);
        assert_eq!(Arch::Aarch64.debian(), "arm64");
    }

    #[test]
    fn only_a_foreign_arch_gets_a_cross_linker() {
        let linker = |arch: Arch| {
            let mut cmd = Command::new("true");
            arch.static_build_env(&mut cmd);
            cmd.get_envs()
                .any(|(k, _)| k.to_string_lossy().ends_with("_LINKER"))
        };
        assert!(!linker(Arch::host()));
        let foreign = match Arch::host() {
            Arch::X86_64 => Arch::Aarch64,
            Arch::Aarch64 => Arch::X86_64,
        };
        assert!(linker(foreign));
    }
}
