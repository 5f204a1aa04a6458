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
    ///
    /// With glibc 2.36 or later (whose static-pie start-up applies them; its distributions'
    /// linkers, binutils 2.38 on, write them) relative relocations are packed (DT_RELR): the
    /// static binary's relocation table, read whole at every start and then resident for the
    /// daemon's life, is 9 KB instead of 730 KB.
    pub fn static_build_env(self, cmd: &mut Command) {
        let mut flags = String::from("-C target-feature=+crt-static");
        if self.glibc().is_some_and(|version| version >= (2, 36)) {
            flags.push_str(" -C link-arg=-Wl,-z,pack-relative-relocs");
        }
        cmd.env("RUSTFLAGS", flags)
            .env_remove("CARGO_ENCODED_RUSTFLAGS");
        if let Some(cross) = self.cross() {
            cmd.env(cross.linker_var, cross.linker);
        }
    }

    /// The glibc version (major, minor) this arch's C toolchain links, from its headers; `None`
    /// when the compiler cannot say (the build then does not pack relocations).
    fn glibc(self) -> Option<(u32, u32)> {
        let cc = self.cross().map_or("cc", |c| c.linker);
        let defines = answer(Command::new(cc).args([
            "-dM",
            "-E",
            "-include",
            "features.h",
            "-x",
            "c",
            "/dev/null",
        ]))?;
        glibc_version(&defines)
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

/// `__GLIBC__` and `__GLIBC_MINOR__` from a C preprocessor's `-dM` output.
fn glibc_version(defines: &str) -> Option<(u32, u32)> {
    let value = |name: &str| {
        defines.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("#define") && words.next() == Some(name))
                .then(|| words.next()?.parse().ok())
                .flatten()
        })
    };
    Some((value("__GLIBC__")?, value("__GLIBC_MINOR__")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_glibc_version_is_read_from_the_preprocessors_defines() {
        let defines = "#define __GLIBC_MINOR__ 36\n#define __GLIBC_USE(F) __GLIBC_USE_ ## F\n#define __GLIBC__ 2\n";
        assert_eq!(glibc_version(defines), Some((2, 36)));
        assert_eq!(glibc_version("#define __GLIBC__ 2\n"), None, "no minor");
        assert_eq!(glibc_version("#define __MUSL__ 1\n"), None);
    }

    #[test]
    fn the_host_toolchain_says_its_glibc() {
        // The build machines are Debian/Ubuntu with a C compiler: the probe must work there,
        // or the packed relocations silently stop being used.
        assert!(Arch::host().glibc().is_some_and(|v| v >= (2, 17)));
    }

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
