//! Kernel log lines (/dev/kmsg records and syslog(2) text): their comm and cgroup paths come
//! from whoever named the process or the cgroup.
#![no_main]

use exitwatch::oom::{oom_lines, parse_kmsg, parse_limit, parse_syslog};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_kmsg(&text);
    for line in oom_lines(&text) {
        let _ = parse_syslog(line);
    }
    let _ = parse_limit(&text);
});
