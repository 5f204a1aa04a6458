//! Load-time constants set by the daemon: kernel struct offsets and the signal filter.
//!
//! They live in .rodata, which the loader freezes, so the verifier sees their values and
//! prunes branches that read fields this kernel does not have.

use exitwatch_common::{FilterConfig, KernelOffsets};

#[unsafe(no_mangle)]
pub static OFFSETS: KernelOffsets = KernelOffsets::absent();

#[unsafe(no_mangle)]
pub static FILTER: FilterConfig = FilterConfig::none();

/// Reads one load-time constant. Volatile so the compiler cannot fold the default value.
macro_rules! konst {
    ($static:ident . $field:ident) => {
        unsafe { core::ptr::read_volatile(&$crate::config::$static.$field) }
    };
}
pub(crate) use konst;
