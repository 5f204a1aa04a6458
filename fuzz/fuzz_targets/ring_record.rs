//! Ring-buffer records as the reader hands them over: any length, any bytes (the kernel side
//! copies comm, argv and paths that processes chose).
#![no_main]

use exitwatch::decode::{decode, event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode(data);
    let _ = event(data);
});
