//! Embeds the eBPF object named by EXITWATCH_BPF_OBJECT, or an empty placeholder without it, and
//! links the functions exitwatch runs at start and per event next to each other (layout/).

use std::{env, fs, path::PathBuf};

const OBJECT_VAR: &str = "EXITWATCH_BPF_OBJECT";

fn main() {
    hot_functions_first();
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

/// The list of functions exitwatch runs while starting, idling and handling events, written by
/// `cargo xtask layout`: one symbol pattern a line (`*` for a hash the compiler chooses).
const HOT_FUNCTIONS: &str = "layout/hot-functions.txt";
const NO_LAYOUT_VAR: &str = "EXITWATCH_NO_LAYOUT";

/// Links the listed functions first, together, in the list's order, through a linker script
/// that adds one output section before `.text` (`INSERT`: the linker's own script stays; GNU ld
/// and lld both read it). The daemon then touches ~2 MiB of its code instead of pages spread
/// over all 12 MiB: every page of code a process has touched stays in its RSS (the kernel maps
/// 64 KiB around each fault), so an idle daemon's RSS fell by ~3 MiB (BENCHMARKS.md).
/// Functions the list names that no longer exist are simply not placed; a stale list costs
/// memory, never correctness. `EXITWATCH_NO_LAYOUT=1` links without it (a linker that reads no
/// scripts, such as mold).
fn hot_functions_first() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let list = manifest.join(HOT_FUNCTIONS);
    println!(
        "cargo:rerun-if-changed={}",
        manifest.join("layout").display()
    );
    println!("cargo:rerun-if-env-changed={NO_LAYOUT_VAR}");
    // Linker scripts are an ELF linkers' language; Linux is the only target.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux")
        || env::var_os(NO_LAYOUT_VAR).is_some_and(|v| !v.is_empty() && v != "0")
    {
        return;
    }
    let text = match fs::read_to_string(&list) {
        Ok(text) => text,
        // Only memory depends on it: build, and say so.
        Err(err) => {
            println!(
                "cargo:warning={}: {err}: functions linked in the compiler's order \
                 (`sudo -E cargo xtask layout` writes the list)",
                list.display()
            );
            return;
        }
    };
    let mut script = String::from("SECTIONS\n{\n  .text.exitwatch.hot :\n  {\n");
    for (n, line) in text.lines().enumerate() {
        let pattern = line.trim();
        if pattern.is_empty() || pattern.starts_with('#') {
            continue;
        }
        // Only what mangled Rust and C symbol names hold: nothing the script language would read
        // as syntax (a hand edit with a space or a parenthesis fails here, not in the linker).
        if !pattern
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.$*".contains(&b))
        {
            panic!(
                "{}:{}: `{pattern}` is not a symbol pattern (letters, digits, `_ . $ *`)",
                list.display(),
                n + 1
            );
        }
        // LLVM puts a function it deems cold in `.text.unlikely.NAME`.
        script.push_str(&format!(
            "    *(.text.{pattern} .text.unlikely.{pattern})\n"
        ));
    }
    script.push_str("  }\n}\nINSERT BEFORE .text;\n");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("hot.ld");
    fs::write(&out, script).expect("writing the hot-function linker script into OUT_DIR");
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", out.display());
}
