//! `--output` URLs (sink::spec::parse): typed by users, read from ConfigMaps and the environment.
#![no_main]

use exitwatch::sink::spec::{parse, Defaults, Rotation};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(url) = std::str::from_utf8(data) else {
        return;
    };
    let defaults = Defaults {
        queue_size: 10_000,
        queue_bytes: 8 << 20,
        rotation: Rotation {
            max_size: 100 << 20,
            keep: 5,
        },
        udp_max_size: 8192,
    };
    match parse(url, &defaults) {
        Ok(out) => {
            let _ = out.spec.label();
        }
        // A URL that holds a secret is never echoed.
        Err(e) => assert!(!e.secret || e.url.starts_with("(not shown"), "{e}"),
    }
});
