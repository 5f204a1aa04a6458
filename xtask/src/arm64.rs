//! The kernel matrix's arm64 row: Debian's arm64 cloud kernel under qemu-system-aarch64 (TCG),
//! booting the same init and e2e suite as the x86 guests, with aarch64 builds of everything: exitwatch
//! and the suite cross-built statically, the programs the tests run from Debian's arm64 packages.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

use crate::{
    arch::Arch,
    build::{static_binary, Built, Profile},
    debian::{closure, Archive},
    guest::{self, Runtimes},
    kernels::{boot_verdict, e2e_suite, vmlinuz, Options, Verdict},
    rootfs::Rootfs,
};

/// The arm64 twin of the 6.1 x86 guest: the same Debian release and ABI, cloud flavour.
pub const KERNEL: &str = "linux-image-6.1.0-50-cloud-arm64";
const ARCH: Arch = Arch::Aarch64;
const BUSYBOX: &str = "busybox-static";
/// The packages holding guest::PROGRAMS (bash; sh is dash; coreutils; unshare, setpriv and
/// nsenter are util-linux's; /bin/kill is procps'), and the C library with its loader. The
/// libraries they need come from their dependencies (Section: libs) and are copied as the
/// programs' ELF headers ask.
const PACKAGES: &[&str] = &["bash", "dash", "coreutils", "util-linux", "procps", "libc6"];
/// guest::PROGRAMS left out here, and why.
const NOT_IN_GUEST: &[(&str, &str)] = &[
    (
        "rsyslogd",
        "only the siem:: tests use it, and every guest skips them",
    ),
    (
        "openssl",
        "only the siem:: tests use it, and every guest skips them",
    ),
];
/// Tests this row leaves out on top of guest::SKIPPED (libtest `--skip` filters), and why.
/// None: the whole suite fits CI. Measured 2026-12-03 on the 2-core CI kind of machine: boot 7 s,
/// exitwatch's first load 23.5 s (the verifier: signal_generate 16.3 s, 645k instructions),
/// the 34 tests 785 s, the row 827 s with the cross builds already done; the x86 6.12 guest's
/// suite took 505 s.
pub const SKIPPED: &[(&str, &str)] = &[];
/// The row's least time: 1.6 times the x86 guests' suite, and these machines swing +-30%,
/// so the x86 default (15 min) would cut it short on a slow day.
const TIMEOUT: Duration = Duration::from_secs(25 * 60);

/// `arm64`, `6.1-arm64` or an arm64 package name: the package.
pub fn kernel(s: &str) -> Option<String> {
    match s {
        "arm64" | "6.1-arm64" => Some(KERNEL.to_string()),
        s if s.starts_with("linux-image-") && s.ends_with("-arm64") => Some(s.to_string()),
        _ => None,
    }
}

/// Cross-builds exitwatch and the suite for aarch64 (the eBPF object is `built`'s: bpfel is
/// the same on both arches), makes the arm64 initramfs and boots `package`.
pub fn row(built: &Built, package: &str, cache: &Path, options: &Options) -> Result<Verdict> {
    ARCH.prepare(&[ARCH.machine().package, "curl", "xz-utils"])?;
    let cross = Built {
        object: built.object.clone(),
        binary: static_binary(ARCH, Profile::Release, &built.object)?,
    };
    let suite = e2e_suite(&cross, Some(ARCH))?;
    let cache = cache.join(ARCH.debian());
    let mut archive = Archive::open(ARCH.debian(), &cache)?;
    let initramfs = initramfs(&suite, &mut archive, &cache, &options.test_args)?;
    let (release, vmlinuz) = vmlinuz(&archive.unpacked(package)?)?;
    let options = Options {
        timeout: options.timeout.max(TIMEOUT),
        verbose: options.verbose,
        test_args: options.test_args.clone(),
    };
    boot_verdict(
        &release,
        &vmlinuz,
        &initramfs,
        &cache,
        &options,
        (ARCH, Runtimes::No),
    )
}

fn initramfs(
    suite: &guest::Suite,
    archive: &mut Archive,
    cache: &Path,
    test_args: &[String],
) -> Result<PathBuf> {
    let started = Instant::now();
    let busybox = archive.unpacked(BUSYBOX)?.join("bin/busybox");
    let packages: Vec<String> = closure(archive.index(), PACKAGES, &|p| p.section == "libs")?
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let mut rootfs = Rootfs::new(ARCH.elf_machine(), ARCH.multiarch());
    for package in &packages {
        rootfs.add_package(&archive.unpacked(package)?)?;
    }
    for (filter, why) in guest::skipped(Runtimes::No).iter().chain(SKIPPED) {
        eprintln!("kernels: the arm64 guest skips {filter}: {why}");
    }
    let args: Vec<String> = SKIPPED
        .iter()
        .map(|(filter, _)| format!("--skip {filter}"))
        .chain(test_args.iter().cloned())
        .collect();
    let mut image = guest::base(suite, &busybox, &args, Runtimes::No)?;
    // Merged /usr, as on the host: the packages' /bin/kill is /usr/bin/kill.
    for top in ["bin", "sbin", "lib"] {
        image.symlink(format!("/{top}"), format!("usr/{top}"));
    }
    for program in guest::PROGRAMS {
        if NOT_IN_GUEST.iter().any(|(p, _)| p == program) {
            continue;
        }
        let path = rootfs.program(program).with_context(|| {
            format!(
                "none of the arm64 packages {} has `{program}`",
                PACKAGES.join(" ")
            )
        })?;
        rootfs.install(&mut image, &path)?;
    }
    let out = cache.join("initramfs.cpio.gz");
    let written = image.write(&out)?;
    eprintln!(
        "kernels: arm64 initramfs {} ({} entries from {} packages, {:.1} MiB gzip'd, {:.1} s)",
        out.display(),
        written.entries,
        packages.len(),
        written.gzip_bytes as f64 / (1024.0 * 1024.0),
        started.elapsed().as_secs_f64()
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_goes_by_arch_or_package() {
        assert_eq!(kernel("arm64").as_deref(), Some(KERNEL));
        assert_eq!(kernel("6.1-arm64").as_deref(), Some(KERNEL));
        assert_eq!(
            kernel("linux-image-6.12.57+deb13-arm64").as_deref(),
            Some("linux-image-6.12.57+deb13-arm64")
        );
        assert_eq!(kernel("linux-image-6.1.0-50-cloud-amd64"), None);
        assert_eq!(kernel("6.1"), None);
    }

    #[test]
    fn every_program_left_out_is_one_the_guests_have() {
        for (program, _) in NOT_IN_GUEST {
            assert!(guest::PROGRAMS.contains(program), "{program}");
        }
    }
}
