//! The floor of a filtered-out signal: a tp_btf program on `signal_generate` that returns at
//! once, loaded and attached by the bench itself (bpf(2)), measured like exitwatch's.

use std::{
    ffi::c_long,
    io,
    os::fd::{FromRawFd, OwnedFd, RawFd},
    process::Command,
};

use anyhow::{bail, Context as _, Result};

use crate::command::answer;

extern "C" {
    /// libc's, which std already links.
    fn syscall(num: c_long, ...) -> c_long;
}

#[cfg(target_arch = "x86_64")]
const SYS_BPF: c_long = 321;
#[cfg(target_arch = "aarch64")]
const SYS_BPF: c_long = 280;

const BPF_PROG_LOAD: c_long = 5;
const BPF_RAW_TRACEPOINT_OPEN: c_long = 17;
const BPF_PROG_TYPE_TRACING: u32 = 26;
const BPF_TRACE_RAW_TP: u32 = 23;
/// `r0 = 0; exit`.
const INSNS: [u8; 16] = [0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
pub const NAME: &str = "ewbench_empty";

/// Attached while alive; detached (its fds closed) on drop.
pub struct EmptyProgram {
    _prog: OwnedFd,
    _link: OwnedFd,
}

impl EmptyProgram {
    pub fn attach() -> Result<EmptyProgram> {
        let btf_id = trace_typedef_id("signal_generate")?;
        let license = b"GPL\0";
        let mut log = vec![0u8; 4096];
        let mut attr = [0u8; 144];
        put(&mut attr, 0, &BPF_PROG_TYPE_TRACING.to_ne_bytes());
        put(&mut attr, 4, &2u32.to_ne_bytes());
        put(&mut attr, 8, &(INSNS.as_ptr() as u64).to_ne_bytes());
        put(&mut attr, 16, &(license.as_ptr() as u64).to_ne_bytes());
        put(&mut attr, 24, &1u32.to_ne_bytes());
        put(&mut attr, 28, &(log.len() as u32).to_ne_bytes());
        put(&mut attr, 32, &(log.as_mut_ptr() as u64).to_ne_bytes());
        put(&mut attr, 48, NAME.as_bytes());
        put(&mut attr, 68, &BPF_TRACE_RAW_TP.to_ne_bytes());
        put(&mut attr, 108, &btf_id.to_ne_bytes());
        let prog = bpf(BPF_PROG_LOAD, &mut attr).with_context(|| {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            format!(
                "loading the empty tp_btf program: {}",
                String::from_utf8_lossy(&log[..end]).trim()
            )
        })?;
        let mut attr = [0u8; 16];
        put(&mut attr, 8, &(prog_raw(&prog) as u32).to_ne_bytes());
        let link = bpf(BPF_RAW_TRACEPOINT_OPEN, &mut attr)
            .context("attaching the empty tp_btf program to signal_generate")?;
        Ok(EmptyProgram {
            _prog: prog,
            _link: link,
        })
    }
}

fn prog_raw(fd: &OwnedFd) -> RawFd {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}

fn put(attr: &mut [u8], at: usize, bytes: &[u8]) {
    attr[at..at + bytes.len()].copy_from_slice(bytes);
}

fn bpf(cmd: c_long, attr: &mut [u8]) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a zeroed bpf_attr prefix of the size passed; the pointers in it point
    // at buffers that outlive the call.
    let fd = unsafe { syscall(SYS_BPF, cmd, attr.as_mut_ptr(), attr.len() as u32) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: bpf(2) returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The vmlinux BTF id of `btf_trace_<tracepoint>`, what a tp_btf program attaches to.
fn trace_typedef_id(tracepoint: &str) -> Result<u32> {
    let dump =
        answer(Command::new("bpftool").args(["btf", "dump", "file", "/sys/kernel/btf/vmlinux"]))
            .context("`bpftool btf dump file /sys/kernel/btf/vmlinux` failed")?;
    match typedef_id(&dump, &format!("btf_trace_{tracepoint}")) {
        Some(id) => Ok(id),
        None => bail!("vmlinux BTF has no typedef btf_trace_{tracepoint}"),
    }
}

/// `[12345] TYPEDEF 'btf_trace_signal_generate' type_id=678` -> 12345.
fn typedef_id(dump: &str, name: &str) -> Option<u32> {
    let needle = format!("] TYPEDEF '{name}' ");
    let line = dump.lines().find(|l| l.contains(&needle))?;
    line.strip_prefix('[')?.split(']').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_typedef() {
        let dump = "[1] INT 'int' size=4\n[77] TYPEDEF 'btf_trace_signal_generate' type_id=76\n";
        assert_eq!(
            super::typedef_id(dump, "btf_trace_signal_generate"),
            Some(77)
        );
        assert_eq!(super::typedef_id(dump, "btf_trace_x"), None);
    }
}
