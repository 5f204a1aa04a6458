//! Does this process hold the capabilities exitwatch needs? Answered before bpf() says EPERM.

/// Capability numbers from linux/capability.h.
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "exitwatch needs root, or the capabilities {missing} (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN), \
     to load eBPF programs; run it with sudo"
)]
pub struct MissingCapabilities {
    pub missing: String,
}

/// Pure: which of the needed capabilities an effective set lacks (None when it can load).
pub fn missing(effective: u64) -> Option<String> {
    let has = |cap: u32| effective & (1u64 << cap) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        return None;
    }
    let names: Vec<&str> = [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")]
        .into_iter()
        .filter(|&(cap, _)| !has(cap))
        .map(|(_, name)| name)
        .collect();
    Some(names.join(", "))
}

/// Reads this process's effective capabilities and checks them.
pub fn check() -> Result<(), MissingCapabilities> {
    let effective = procfs::process::Process::myself()
        .and_then(|p| p.status())
        .map(|s| s.capeff)
        .unwrap_or(u64::MAX); // unknown: let the kernel decide
    match missing(effective) {
        None => Ok(()),
        Some(missing) => Err(MissingCapabilities { missing }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_or_bpf_plus_perfmon_is_enough() {
        assert_eq!(missing(u64::MAX), None);
        assert_eq!(missing(1 << CAP_SYS_ADMIN), None);
        assert_eq!(missing((1 << CAP_BPF) | (1 << CAP_PERFMON)), None);
    }

    #[test]
    fn names_what_is_missing() {
        assert_eq!(missing(0).as_deref(), Some("CAP_BPF, CAP_PERFMON"));
        assert_eq!(missing(1 << CAP_BPF).as_deref(), Some("CAP_PERFMON"));
    }
}
