//! Embeds the eBPF object named by EXITWATCH_BPF_OBJECT, or an empty placeholder without it.

use std::{env, fs, path::PathBuf};

const OBJECT_VAR: &str = "EXITWATCH_BPF_OBJECT";

fn main() {
    println!("cargo:rerun-if-env-changed={OBJECT_VAR}");
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("exitwatch.bpf.o");
    match env::var_os(OBJECT_VAR).filter(|v| !v.is_empty()) {
        Some(object) => {
            let object = PathBuf::from(object);
            println!("cargo:rerun-if-changed={}", object.display());
            // A wrong path is a broken build recipe: fail rather than silently embed nothing.
            if let Err(err) = fs::copy(&object, &out) {
                panic!(
                    "{OBJECT_VAR}={}: cannot copy it to {}: {err}",
                    object.display(),
                    out.display()
                );
            }
        }
        // Plain `cargo build`/`cargo test` need no BPF toolchain; the binary then says to use
        // `cargo xtask build`.
        None => {
            fs::write(&out, b"").expect("writing the empty eBPF object placeholder into OUT_DIR")
        }
    }
}
