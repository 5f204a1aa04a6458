//! cgroup paths (from the kernel, named by runtimes and whoever can make cgroups) and
//! /proc/PID/cgroup text.
#![no_main]

use exitwatch::container::path::{id_matches, parse, parse_proc_cgroup};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(c) = parse(&text) {
        let _ = format!("{c:?}");
    }
    let _ = parse_proc_cgroup(&text);
    if let Some((id, query)) = text.split_once('\n') {
        let _ = id_matches(id, query);
    }
});
