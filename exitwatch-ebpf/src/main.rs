//! exitwatch's kernel programs: one module per hook, shared task reads and maps beside them.
#![no_std]
#![no_main]

mod budget;
mod config;
mod exec;
mod exit;
mod identity;
mod maps;
mod oom;
mod place;
mod signal_generate;
mod task;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // Unreachable in a verified program: the verifier rejects code that could get here.
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
