//! Test helper: joins a memory cgroup, sets its OOM score, then allocates memory on command,
//! so the end-to-end tests can provoke real OOM kills.

use std::io::{self, BufRead, Write};
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: hog [--cgroup-procs FILE] [--oom-score-adj N] [--max-secs S]
           join the cgroup (write our pid to FILE), set /proc/self/oom_score_adj, print
           `ready pid=P host_pid=P`, then obey stdin lines: `alloc MIB` (allocate and touch MIB more,
           then print `allocated TOTAL`), `forever` (allocate until killed); exit at end of input";

const MIB: usize = 1 << 20;

fn main() {
    if let Err(e) = run(std::env::args().skip(1).collect()) {
        eprintln!("hog: {e}\n{USAGE}");
        std::process::exit(64);
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut max_secs = 60u64;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--cgroup-procs" => {
                let file = value()?;
                std::fs::write(file, std::process::id().to_string())
                    .map_err(|e| format!("{file}: {e}"))?;
            }
            "--oom-score-adj" => {
                let n = value()?;
                std::fs::write("/proc/self/oom_score_adj", n)
                    .map_err(|e| format!("oom_score_adj {n}: {e}"))?;
            }
            "--max-secs" => max_secs = value()?.parse().map_err(|e| format!("--max-secs: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    println!("ready pid={0} host_pid={0}", std::process::id());
    io::stdout().flush().map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(max_secs);
    let mut held: Vec<Vec<u8>> = Vec::new();
    for line in io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("alloc"), Some(n)) => {
                let n: usize = n.parse().map_err(|e| format!("alloc {n}: {e}"))?;
                for _ in 0..n {
                    held.push(touched(MIB));
                }
                println!("allocated {}", held.len());
                io::stdout().flush().map_err(|e| e.to_string())?;
            }
            (Some("forever"), None) => loop {
                if Instant::now() > deadline {
                    return Err(format!("still alive after {max_secs} s of allocating"));
                }
                held.push(touched(MIB));
            },
            _ => return Err(format!("unknown command {line:?}")),
        }
    }
    Ok(())
}

/// Memory that is really resident: every page written.
fn touched(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    for i in (0..len).step_by(4096) {
        v[i] = 1;
    }
    std::hint::black_box(&mut v);
    v
}
