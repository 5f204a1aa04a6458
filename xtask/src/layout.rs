//! `cargo xtask layout`: which functions exitwatch runs, so that the linker puts them together
//! (exitwatch/build.rs reads the list this writes, exitwatch/layout/hot-functions.txt).
//!
//! Why: a process's RSS holds every page of its code it has touched, and the kernel maps the
//! 64 KiB around each faulting address. The ~1.3 MB of functions the daemon runs to start and
//! to wait lay spread over all 12 MB of `.text`, so an idle daemon kept ~6 MiB of code
//! resident; placed together, ~3.
//!
//! How: the release build runs twice under valgrind's callgrind (every function entered is
//! recorded, unlike sampling): once started and left idle, once while processes are signalled
//! and exit. The idle run's functions come first, then the ones only events run: an idle daemon
//! touches the first part alone. Names are written without the parts the compiler derives from
//! hashes of the build (`17h<16 hex>E`, `.llvm.<digits>`), so the list survives rebuilds and
//! small changes; what it no longer names costs memory, never correctness (`check` says how
//! much of the list the binary still holds).

use std::{
    collections::BTreeSet,
    fs,
    io::{BufRead as _, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use anyhow::{bail, Context as _, Result};

use crate::{
    build::{self, Profile},
    command::{answer, on_path},
    privilege,
};

/// The list, relative to the workspace root.
pub const LIST: &str = "exitwatch/layout/hot-functions.txt";

/// Below this share of the list found in a build, `cargo xtask build` says to run `layout`.
const STALE_BELOW: f64 = 0.8;

/// The output section exitwatch/build.rs puts the listed functions in.
const HOT_SECTION: &str = ".text.exitwatch.hot";

/// The address range of the hot section, from `readelf -SW`'s table
/// (`[12] .text.exitwatch.hot PROGBITS 0000000000346790 345790 213d73 ...`).
pub fn hot_section(readelf: &str) -> Option<std::ops::Range<u64>> {
    readelf.lines().find_map(|line| {
        let fields: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == '[' || c == ']')
            .filter(|f| !f.is_empty())
            .collect();
        let at = fields.iter().position(|f| *f == HOT_SECTION)?;
        let hex = |i: usize| u64::from_str_radix(fields.get(at + i)?, 16).ok();
        let (start, size) = (hex(2)?, hex(4)?);
        Some(start..start.checked_add(size)?)
    })
}

/// The functions `nm` places inside `range`, as patterns.
pub fn in_section(nm: &str, range: std::ops::Range<u64>) -> BTreeSet<String> {
    nm.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let address = u64::from_str_radix(f.next()?, 16).ok()?;
            let name = f.nth(1)?;
            range.contains(&address).then(|| pattern(name)).flatten()
        })
        .collect()
}

/// A function's name as a linker-script pattern: the build-derived hashes become `*`.
/// `None` for what callgrind names but no section can hold (addresses, `(below main)`). C
/// functions stay: those of crates built by cc-rs (ring's) have sections of their own; glibc's
/// do not, and then their patterns match nothing (`check` counts only what was placed).
pub fn pattern(name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.$".contains(&b))
    {
        return None;
    }
    if name.starts_with("0x") && name[2..].bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    // Legacy Rust mangling ends a path with `17h` + 16 hex digits + `E`.
    while let Some(at) = rest.find("17h") {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        let hash = &tail[3..];
        if hash.len() >= 17
            && hash.as_bytes()[..16].iter().all(u8::is_ascii_hexdigit)
            && hash.as_bytes()[16] == b'E'
        {
            out.push_str("17h*");
            rest = &hash[17..];
        } else {
            out.push_str("17h");
            rest = hash;
        }
    }
    out.push_str(rest);
    // ThinLTO renames a function it promotes out of its module `NAME.llvm.<digits>`.
    if let Some(at) = out.find(".llvm.") {
        if out[at + 6..].bytes().all(|b| b.is_ascii_digit()) && out.len() > at + 6 {
            out.truncate(at + 6);
            out.push('*');
        }
    }
    Some(out)
}

/// The functions a callgrind profile (`--demangle=no`) entered, as patterns, sorted.
pub fn functions(profile: &str) -> BTreeSet<String> {
    profile
        .lines()
        .filter_map(|line| {
            let rest = line
                .strip_prefix("fn=")
                .or_else(|| line.strip_prefix("cfn="))?;
            // `fn=(12) name` names function 12 the first time; later lines say `fn=(12)`.
            let (_, name) = rest.split_once(") ")?;
            pattern(name)
        })
        .collect()
}

/// The list's text: the idle run's functions, then those only the events run added.
pub fn list(idle: &BTreeSet<String>, events: &BTreeSet<String>) -> String {
    let mut out = String::from(
        "# Functions exitwatch runs, linked first and together (exitwatch/build.rs).\n\
         # Written by `cargo xtask layout` (valgrind's callgrind on the release build); regenerate,\n\
         # do not edit. `*` stands for hashes the compiler derives from the build.\n\
         # Started and idle:\n",
    );
    for name in idle {
        out.push_str(name);
        out.push('\n');
    }
    out.push_str("# Handling signals and exits, beyond the above:\n");
    for name in events.difference(idle) {
        out.push_str(name);
        out.push('\n');
    }
    out
}

/// How many of the list's patterns (lines not comments) match one of `symbols` (the functions
/// linked into the hot section, as patterns).
pub fn coverage(list: &str, symbols: &BTreeSet<String>) -> (usize, usize) {
    let patterns: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let found = patterns.iter().filter(|p| symbols.contains(**p)).count();
    (found, patterns.len())
}

/// Regenerates the list from two profiled runs of the release build (root: it loads BPF).
pub fn layout() -> Result<()> {
    if !privilege::is_root()? {
        bail!("`cargo xtask layout` runs exitwatch, which needs root (sudo -E cargo xtask layout)");
    }
    if on_path("valgrind").is_none() {
        bail!("`cargo xtask layout` needs valgrind (apt-get install valgrind)");
    }
    let built = build::build(Profile::Release)?;
    let idle = profiled(&built.binary, false)?;
    let events = profiled(&built.binary, true)?;
    let path = build::workspace_root().join(LIST);
    fs::write(&path, list(&idle, &events))
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "layout: {} functions at start and idle, {} more for events: {}",
        idle.len(),
        events.difference(&idle).count(),
        path.display()
    );
    eprintln!("layout: rebuild (`cargo xtask build`) to link them in this order");
    Ok(())
}

/// Says, after a build, how much of the list `binary` still holds; a list that mostly names
/// functions that are gone should be regenerated.
pub fn check(binary: &Path) {
    let list = match fs::read_to_string(build::workspace_root().join(LIST)) {
        Ok(list) => list,
        Err(err) => {
            eprintln!("layout: {LIST}: {err}");
            return;
        }
    };
    let (Some(sections), Some(nm)) = (
        answer(Command::new("readelf").arg("-SW").arg(binary)),
        answer(Command::new("nm").arg("--defined-only").arg(binary)),
    ) else {
        return;
    };
    let Some(hot) = hot_section(&sections) else {
        eprintln!("layout: {} has no {HOT_SECTION} section", binary.display());
        return;
    };
    let (placed, all) = coverage(&list, &in_section(&nm, hot));
    let (present, _) = coverage(&list, &in_section(&nm, 0..u64::MAX));
    // A listed function that is in the build but not placed has no section of its own (glibc's
    // C functions); one that is not in the build at all is what makes the list stale.
    eprintln!(
        "layout: {placed} of the {all} hot functions in {LIST} placed first, {} without a \
         section of their own (C library), {} not in this build",
        present - placed,
        all - present
    );
    if all > 0 && (present as f64) < STALE_BELOW * all as f64 {
        eprintln!(
            "layout: only {present} of the {all} hot functions in {LIST} are in this build: \
             run `sudo -E cargo xtask layout` to regenerate it (a stale list costs idle memory)"
        );
    }
}

/// The functions one run of `binary` entered: started with the default filter and JSON output,
/// left idle 2 s, or (`events`) with processes signalled and exiting meanwhile.
fn profiled(binary: &Path, events: bool) -> Result<BTreeSet<String>> {
    let out = build::target_dir().join(if events {
        "layout-events.callgrind"
    } else {
        "layout-idle.callgrind"
    });
    let _ = fs::remove_file(&out);
    let mut daemon = Command::new("valgrind")
        .args(["--tool=callgrind", "--demangle=no", "--quiet"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(binary)
        .args(["--format", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting exitwatch under valgrind")?;
    let waited = ready(&mut daemon, Duration::from_secs(120));
    if let Err(err) = waited {
        let _ = daemon.kill();
        let _ = daemon.wait();
        return Err(err);
    }
    if events {
        workload()?;
    }
    thread::sleep(Duration::from_secs(2));
    // SIGINT: exitwatch stops as it does for a user, and callgrind writes its profile.
    Command::new("kill")
        .args(["-INT", &daemon.id().to_string()])
        .status()
        .context("interrupting exitwatch")?;
    let status = daemon.wait()?;
    if !status.success() {
        bail!("exitwatch under valgrind ended with {status}");
    }
    let profile = fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
    let found = functions(&profile);
    if found.len() < 100 {
        bail!(
            "{}: only {} functions: not a profile of exitwatch",
            out.display(),
            found.len()
        );
    }
    Ok(found)
}

/// Waits for exitwatch's `ready:` line, then keeps draining its stderr in the background.
fn ready(daemon: &mut Child, within: Duration) -> Result<()> {
    let stderr = daemon.stderr.take().context("exitwatch's stderr")?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("exitwatch: ready:") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(within)
        .map_err(|_| anyhow::anyhow!("exitwatch under valgrind was not ready within {within:?}"))
}

/// Processes that die the ways exitwatch explains: SIGTERM, SIGKILL, a nonzero exit.
fn workload() -> Result<()> {
    for signal in ["TERM", "KILL", "HUP"] {
        let mut child = Command::new("sleep").arg("60").spawn()?;
        thread::sleep(Duration::from_millis(300));
        Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()?;
        child.wait()?;
    }
    Command::new("sh").args(["-c", "exit 3"]).status()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_legacy_hash_becomes_a_wildcard() {
        assert_eq!(
            pattern("_ZN9exitwatch6reader4ring4Ring3new17h0123456789abcdefE").as_deref(),
            Some("_ZN9exitwatch6reader4ring4Ring3new17h*")
        );
        // `17h` that is not a hash (too short, no `E`) stays.
        assert_eq!(pattern("_ZN3foo17hello").as_deref(), Some("_ZN3foo17hello"));
    }

    #[test]
    fn a_thinlto_suffix_becomes_a_wildcard() {
        assert_eq!(
            pattern("_ZN4core3fmt5write17h0123456789abcdefE.llvm.1234567890").as_deref(),
            Some("_ZN4core3fmt5write17h*.llvm.*")
        );
        assert_eq!(
            pattern("_RNvCs1_3std4main.llvm.42").as_deref(),
            Some("_RNvCs1_3std4main.llvm.*")
        );
        assert_eq!(pattern("malloc").as_deref(), Some("malloc"));
    }

    #[test]
    fn the_hot_sections_range_and_what_lies_in_it() {
        let readelf = "  [11] .eh_frame         PROGBITS        00000000001ffa38 1ffa38 145d54 00   A  0   0  8\n  \
                       [12] .text.exitwatch.hot PROGBITS        0000000000346790 345790 000100 00  AX  0   0 16\n  \
                       [13] .text             PROGBITS        0000000000346890 345890 9b0908 00  AX  0   0 64\n";
        assert_eq!(hot_section(readelf), Some(0x346790..0x346890));
        assert_eq!(
            hot_section("  [13] .text PROGBITS 0 0 1 00 AX 0 0 64\n"),
            None
        );
        let nm = "0000000000346790 t _ZN1a3hot17h0123456789abcdefE\n\
                  0000000000346890 t _ZN1a4cold17h0123456789abcdefE\n\
                  00000000003467a0 T main\n";
        let inside: Vec<String> = in_section(nm, 0x346790..0x346890).into_iter().collect();
        assert_eq!(inside, ["_ZN1a3hot17h*", "main"]);
    }

    #[test]
    fn what_no_section_can_match_is_left_out() {
        assert_eq!(pattern("0x00000000003467f0"), None);
        assert_eq!(pattern("(below main)"), None);
        assert_eq!(pattern("(below main)'2"), None);
        assert_eq!(pattern("a b"), None);
        assert_eq!(pattern(""), None);
    }

    #[test]
    fn a_profile_names_each_function_once_whether_fn_or_cfn() {
        let profile =
            "events: Ir\nfn=(1) main\n0 3\ncfn=(2) _ZN1a1b17h0123456789abcdefE\ncalls=1 0\n\
                       fn=(2)\n0 1\nfn=(3) 0x0000000000401000\nfn=(4) (below main)\n";
        let found: Vec<String> = functions(profile).into_iter().collect();
        assert_eq!(found, ["_ZN1a1b17h*", "main"]);
    }

    #[test]
    fn the_list_puts_idle_functions_first_and_events_only_once() {
        let idle: BTreeSet<String> = ["b", "a"].map(String::from).into();
        let events: BTreeSet<String> = ["a", "c"].map(String::from).into();
        let text = list(&idle, &events);
        let names: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let symbols: BTreeSet<String> = ["a", "c", "zzz"].map(String::from).into();
        assert_eq!(coverage(&text, &symbols), (2, 3));
    }
}
