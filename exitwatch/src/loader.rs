//! Loads the embedded kernel programs with this kernel's offsets and the filter, and attaches them.

use std::io;

use aya::{programs::BtfTracePoint, Ebpf, EbpfLoader};
use exitwatch_common::{names, FilterConfig, KernelOffsets};

use crate::btf::{self, Btf};
use crate::caps;

/// The eBPF object, embedded at build time by `cargo xtask build` (empty in a plain `cargo build`).
static BPF_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/exitwatch.bpf.o"));

/// The tracepoints exitwatch needs, all as BTF tracepoints (no tracefs needed), in the order
/// they are attached: exec and exit first, so that no reported signal misses its follow-up.
pub const HOOKS: [&str; 3] = [names::PROG_EXEC, names::PROG_EXIT, names::PROG_SIGNAL];
/// Hooks that add detail when the kernel has them; without them exitwatch still runs.
pub const OPTIONAL_HOOKS: [&str; 1] = [names::PROG_OOM];

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "this exitwatch binary was built without its eBPF programs; build it with `cargo xtask build` \
         or run it with `cargo xtask run -- ARGS`"
    )]
    NoObject,
    #[error("{0}")]
    Btf(#[from] btf::BtfError),
    #[error("{0}")]
    Offsets(#[from] btf::MissingFields),
    #[error(
        "this kernel has no BTF tracepoint `{0}` (no btf_trace_{0} in /sys/kernel/btf/vmlinux); \
         exitwatch needs Linux >= 5.8 built with CONFIG_DEBUG_INFO_BTF and tracepoints"
    )]
    NoHook(&'static str),
    #[error("{0}")]
    Permission(#[from] caps::MissingCapabilities),
    #[error(
        "the kernel refused to load exitwatch's programs ({0}); run as root, or grant CAP_BPF, \
         CAP_PERFMON and CAP_SYS_RESOURCE (or CAP_SYS_ADMIN)"
    )]
    Denied(String),
    #[error("loading the eBPF programs failed: {0}; run `exitwatch doctor`-style checks: is this a Linux >= 5.8 kernel with BTF?")]
    Ebpf(String),
}

impl LoadError {
    /// sysexits.h: 77 for permissions, 69 for a kernel that cannot run exitwatch, 70 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            LoadError::Permission(_) | LoadError::Denied(_) => crate::sysexits::NOPERM,
            LoadError::NoObject => crate::sysexits::SOFTWARE,
            _ => crate::sysexits::UNAVAILABLE,
        }
    }

    fn from_aya<E: std::error::Error + 'static>(err: E) -> Self {
        let msg = chain(&err);
        if msg.contains("Verifier output") {
            // The verifier refused the program (EACCES too): a kernel difference, not privileges.
            return LoadError::Ebpf(msg);
        }
        let mut source: Option<&dyn std::error::Error> = Some(&err);
        while let Some(e) = source {
            if let Some(io) = e.downcast_ref::<io::Error>() {
                if matches!(io.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
                    return LoadError::Denied(msg);
                }
            }
            source = e.source();
        }
        LoadError::Ebpf(msg)
    }
}

fn chain(err: &dyn std::error::Error) -> String {
    let mut msg = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        msg.push_str(": ");
        msg.push_str(&e.to_string());
        source = e.source();
    }
    msg
}

/// What the daemon needs from the kernel side once loaded.
pub struct Loaded {
    pub ebpf: Ebpf,
    /// Optional hooks this kernel lacks, with what is lost without them.
    pub degraded: Vec<String>,
}

/// What the kernel offers, checked before touching bpf().
pub struct Preflight {
    pub offsets: KernelOffsets,
    pub optional_hooks: Vec<&'static str>,
    pub degraded: Vec<String>,
}

/// Everything that can be checked before touching bpf(): the object, BTF, hooks, offsets.
pub fn preflight() -> Result<Preflight, LoadError> {
    if BPF_OBJECT.is_empty() {
        return Err(LoadError::NoObject);
    }
    let btf = Btf::from_sys_fs()?;
    for hook in HOOKS {
        if !btf.has_typedef(&format!("btf_trace_{hook}")) {
            return Err(LoadError::NoHook(hook));
        }
    }
    let mut offsets = btf::resolve_offsets(&btf)?;
    // On v1 and hybrid hosts the memory controller's path identifies containers too.
    offsets.memory_v1 =
        u32::from(crate::cgroupfs::MemoryHierarchy::detect().is_some_and(|h| !h.v2));
    let mut optional_hooks = Vec::new();
    let mut degraded = Vec::new();
    for hook in OPTIONAL_HOOKS {
        if btf.has_typedef(&format!("btf_trace_{hook}")) {
            optional_hooks.push(hook);
        } else {
            degraded.push(format!(
                "this kernel has no `{hook}` tracepoint: OOM kills are reported as SIGKILLs from the kernel"
            ));
        }
    }
    if offsets.mm_rss_stat == exitwatch_common::ABSENT {
        degraded.push(
            "this kernel's mm_struct layout is unknown: OOM events carry no memory figures".into(),
        );
    }
    Ok(Preflight {
        offsets,
        optional_hooks,
        degraded,
    })
}

/// Loads the programs, fills the watch list, then attaches (so no watched signal slips by).
pub fn load(
    preflight: Preflight,
    filter: FilterConfig,
    ring_buffer_size: u32,
    watched: &[u32],
) -> Result<Loaded, LoadError> {
    caps::check()?;
    raise_memlock_limit();
    let kernel_btf = aya::Btf::from_sys_fs().map_err(LoadError::from_aya)?;
    let mut ebpf = EbpfLoader::new()
        .btf(Some(&kernel_btf))
        .override_global(names::OFFSETS, &preflight.offsets, true)
        .override_global(names::FILTER, &filter, true)
        .map_max_entries(names::EVENTS, ring_buffer_size)
        .map_max_entries(names::EVENTS_NONFATAL, ring_buffer_size)
        .load(BPF_OBJECT)
        .map_err(LoadError::from_aya)?;
    if !watched.is_empty() {
        let map = ebpf
            .map_mut(names::WATCHED)
            .ok_or_else(|| LoadError::Ebpf("no WATCHED map".into()))?;
        let mut map: aya::maps::HashMap<_, u32, u32> =
            aya::maps::HashMap::try_from(map).map_err(LoadError::from_aya)?;
        for &pid in watched {
            map.insert(pid, 1, 0).map_err(LoadError::from_aya)?;
        }
    }
    identity_program(&mut ebpf, &kernel_btf)?;
    let mut degraded = preflight.degraded;
    for hook in preflight.optional_hooks {
        if let Err(e) = attach(&mut ebpf, hook, &kernel_btf) {
            degraded.push(format!("the `{hook}` hook could not be attached ({e}): OOM kills are reported as SIGKILLs from the kernel"));
        }
    }
    for hook in HOOKS {
        let t = std::time::Instant::now();
        attach(&mut ebpf, hook, &kernel_btf)?;
        let insns = ebpf
            .program(hook)
            .and_then(|p| p.info().ok())
            .and_then(|i| i.verified_instruction_count());
        debug_load(hook, "loaded and attached", t.elapsed(), insns);
    }
    Ok(Loaded { ebpf, degraded })
}

/// With EXITWATCH_DEBUG_LOAD set: how long a program took to load and how much the verifier
/// walked (kernels before 5.16 do not say).
fn debug_load(program: &str, what: &str, took: std::time::Duration, insns: Option<u32>) {
    if std::env::var_os("EXITWATCH_DEBUG_LOAD").is_none() {
        return;
    }
    let insns = insns.map_or_else(
        || "the kernel does not say how many instructions were verified".to_owned(),
        |n| format!("{n} instructions verified"),
    );
    eprintln!(
        "exitwatch: {program}: {what} in {:.0} ms, {insns}",
        took.as_secs_f64() * 1e3
    );
}

/// Loads `signal_identity` (on the `signal_generate` tracepoint, like its caller) and puts it
/// where `signal_generate` tail-calls it; it is never attached itself.
fn identity_program(ebpf: &mut Ebpf, kernel_btf: &aya::Btf) -> Result<(), LoadError> {
    let program: &mut BtfTracePoint = ebpf
        .program_mut(names::PROG_IDENTITY)
        .ok_or_else(|| {
            LoadError::Ebpf(format!(
                "program {} missing from the object",
                names::PROG_IDENTITY
            ))
        })?
        .try_into()
        .map_err(LoadError::from_aya)?;
    let t = std::time::Instant::now();
    program
        .load(names::PROG_SIGNAL, kernel_btf)
        .map_err(LoadError::from_aya)?;
    let insns = program
        .info()
        .ok()
        .and_then(|i| i.verified_instruction_count());
    debug_load(names::PROG_IDENTITY, "loaded", t.elapsed(), insns);
    let fd = program
        .fd()
        .and_then(|fd| fd.try_clone().map_err(Into::into))
        .map_err(LoadError::from_aya)?;
    let map = ebpf
        .map_mut(names::IDENTITY_PROG)
        .ok_or_else(|| LoadError::Ebpf(format!("no {} map", names::IDENTITY_PROG)))?;
    let mut slots = aya::maps::ProgramArray::try_from(map).map_err(LoadError::from_aya)?;
    slots.set(0, &fd, 0).map_err(LoadError::from_aya)
}

fn attach(ebpf: &mut Ebpf, hook: &str, kernel_btf: &aya::Btf) -> Result<(), LoadError> {
    let program: &mut BtfTracePoint = ebpf
        .program_mut(hook)
        .ok_or_else(|| LoadError::Ebpf(format!("program {hook} missing from the object")))?
        .try_into()
        .map_err(LoadError::from_aya)?;
    program
        .load(hook, kernel_btf)
        .map_err(LoadError::from_aya)?;
    program.attach().map_err(LoadError::from_aya)?;
    Ok(())
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; lift it (best effort: newer kernels
/// do not need it, and without CAP_SYS_RESOURCE the load itself reports the real problem).
fn raise_memlock_limit() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain syscall with a valid pointer to an initialised struct.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) };
}

/// Loads and attaches every program once, then detaches: proves this node can run exitwatch.
pub fn try_load() -> Result<(), LoadError> {
    let preflight = preflight()?;
    let loaded = load(preflight, FilterConfig::none(), 64 << 10, &[])?;
    drop(loaded);
    Ok(())
}
