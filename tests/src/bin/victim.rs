//! Test helper: a process to be signalled (chosen dispositions, threads, name), or one that sends signals.
//!
//! Written in Rust so the end-to-end tests need no compiler or script interpreter on the machine
//! under test. Every mode gives up by itself after a while, so a failed test leaves nothing behind.

use std::io::{self, BufRead, Write};
use std::process::{self, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use exitwatch_tests::{parse_signal, ready_fields};

const USAGE: &str = "\
usage: victim wait [--ignore SIG]... [--handle SIG]... [--threads N] [--name COMM] [--max-secs S]
           print `ready pid=P host_pid=H tids=T,...`, then obey stdin lines: `segv` (fault on
           address 0), `abort` (abort(3)), `exit N`; exit 0 at end of input; print `caught SIGNO` per handled signal
       victim send SIG[,SIG]... PID [COUNT [EVERY_US]] [-- IGNORED...]
           kill(2) PID with each SIG, COUNT times (default 1), EVERY_US microseconds apart,
           then exit
       victim tgkill SIG PID TID
       victim spawn-kill SIG [WAIT-OPTIONS]...
           run `victim wait` as a child, print `sender pid=P host_pid=H` and the child's ready line,
           then on a stdin line `go` send SIG to the child, reap it and exit";

/// How many times each signal's handler ran.
static CAUGHT: [AtomicU32; 65] = [const { AtomicU32::new(0) }; 65];

extern "C" fn on_signal(signo: libc::c_int) {
    if let Some(n) = CAUGHT.get(signo as usize) {
        n.fetch_add(1, Ordering::SeqCst);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("wait") => wait(&args[1..]),
        Some("send") => send(&args[1..]),
        Some("tgkill") => tgkill(&args[1..]),
        Some("spawn-kill") => spawn_kill(&args[1..]),
        _ => Err(String::new()),
    };
    if let Err(e) = result {
        if !e.is_empty() {
            eprintln!("victim: {e}");
        }
        eprintln!("{USAGE}");
        process::exit(2);
    }
}

fn signal_arg(s: Option<&String>) -> Result<i32, String> {
    let s = s.ok_or("missing signal")?;
    parse_signal(s).ok_or_else(|| format!("unknown signal {s:?}"))
}

fn number<T: std::str::FromStr>(s: Option<&String>, what: &str) -> Result<T, String> {
    let s = s.ok_or_else(|| format!("missing {what}"))?;
    s.parse().map_err(|_| format!("bad {what} {s:?}"))
}

fn wait(args: &[String]) -> Result<(), String> {
    let mut max_secs = 30u64;
    let mut threads = 0usize;
    let mut it = args.iter();
    while let Some(opt) = it.next() {
        match opt.as_str() {
            "--ignore" => {
                let sig = signal_arg(it.next())?;
                // SAFETY: installing SIG_IGN has no memory-safety preconditions.
                if unsafe { libc::signal(sig, libc::SIG_IGN) } == libc::SIG_ERR {
                    return Err(format!("cannot ignore signal {sig}"));
                }
            }
            "--handle" => install_handler(signal_arg(it.next())?)?,
            "--threads" => threads = number(it.next(), "thread count")?,
            "--max-secs" => max_secs = number(it.next(), "seconds")?,
            "--name" => {
                let name = it.next().ok_or("missing name")?;
                let c = std::ffi::CString::new(name.as_bytes()).map_err(|e| e.to_string())?;
                // SAFETY: PR_SET_NAME reads a NUL-terminated string, which `c` is.
                unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr(), 0, 0, 0) };
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }

    let mut tids = vec![gettid()];
    for i in 0..threads {
        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name(format!("worker{i}"))
            .spawn(move || {
                tx.send(gettid()).unwrap();
                loop {
                    thread::park();
                }
            })
            .map_err(|e| e.to_string())?;
        tids.push(rx.recv().map_err(|e| e.to_string())?);
    }
    let tids: Vec<String> = tids.iter().map(u32::to_string).collect();
    say(&format!(
        "ready pid={} host_pid={} tids={}",
        process::id(),
        host_pid(),
        tids.join(",")
    ));

    thread::spawn(obey_stdin);
    let deadline = Instant::now() + Duration::from_secs(max_secs);
    let mut reported = [0u32; 65];
    while Instant::now() < deadline {
        for (signo, seen) in reported.iter_mut().enumerate() {
            let now = CAUGHT[signo].load(Ordering::SeqCst);
            while *seen < now {
                *seen += 1;
                say(&format!("caught {signo}"));
            }
        }
        thread::sleep(Duration::from_millis(5));
    }
    eprintln!("victim: nobody came for me within {max_secs} s; leaving");
    process::exit(3);
}

fn install_handler(sig: i32) -> Result<(), String> {
    // SAFETY: a zeroed sigaction is valid; the handler only touches atomics.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
            return Err(format!(
                "cannot handle signal {sig}: {}",
                io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

fn obey_stdin() {
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["segv"] => fault(),
            // SAFETY: abort() has no preconditions; it raises SIGABRT in this very process.
            ["abort"] => unsafe { libc::abort() },
            ["exit", code] => process::exit(code.parse().unwrap_or(1)),
            _ => eprintln!("victim: unknown command {line:?}"),
        }
    }
    process::exit(0);
}

/// A real page fault on address 0 (not raise()): the kernel sends SIGSEGV, SEGV_MAPERR.
fn fault() -> ! {
    // No core file: core_pattern may write one into the working directory.
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscall on a valid struct.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
    let addr: usize = std::hint::black_box(0);
    // Assembly rather than a null dereference in Rust, which is undefined behaviour and
    // which debug builds turn into a panic.
    #[cfg(target_arch = "x86_64")]
    // SAFETY: deliberately faults; the process dies of SIGSEGV.
    unsafe {
        std::arch::asm!("mov {v}, qword ptr [{a}]", a = in(reg) addr, v = out(reg) _);
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above.
    unsafe {
        std::arch::asm!("ldr {v}, [{a}]", a = in(reg) addr, v = out(reg) _);
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    // SAFETY: as above; strlen reads the first byte at the given address.
    unsafe {
        libc::strlen(addr as *const libc::c_char);
    }
    eprintln!("victim: reading address {addr:#x} did not fault");
    process::exit(4);
}

fn send(args: &[String]) -> Result<(), String> {
    let sigs: Vec<i32> = args
        .first()
        .ok_or("missing signal")?
        .split(',')
        .map(|s| parse_signal(s).ok_or_else(|| format!("unknown signal {s:?}")))
        .collect::<Result<_, _>>()?;
    let pid: i32 = number(args.get(1), "pid")?;
    let count: u32 = match args.get(2) {
        Some(s) if s != "--" => number(Some(s), "count")?,
        _ => 1,
    };
    // Microseconds between rounds (none by default).
    let every_us: u64 = match args.get(3) {
        Some(s) if s != "--" && args[2] != "--" => number(Some(s), "every_us")?,
        _ => 0,
    };
    for round in 0..count {
        if round > 0 && every_us > 0 {
            std::thread::sleep(std::time::Duration::from_micros(every_us));
        }
        for &sig in &sigs {
            // SAFETY: plain syscall.
            if unsafe { libc::kill(pid, sig) } != 0 {
                return Err(format!(
                    "kill({pid}, {sig}): {}",
                    io::Error::last_os_error()
                ));
            }
        }
    }
    Ok(())
}

fn tgkill(args: &[String]) -> Result<(), String> {
    let sig = signal_arg(args.first())?;
    let pid: libc::c_long = number(args.get(1), "pid")?;
    let tid: libc::c_long = number(args.get(2), "tid")?;
    // SAFETY: plain syscall.
    if unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, sig as libc::c_long) } != 0 {
        return Err(format!(
            "tgkill({pid}, {tid}, {sig}): {}",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn spawn_kill(args: &[String]) -> Result<(), String> {
    let sig = signal_arg(args.first())?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(me)
        .arg("wait")
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the child: {e}"))?;
    let mut child_out = io::BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    child_out.read_line(&mut ready).map_err(|e| e.to_string())?;
    let child_pid = ready_fields(&ready)
        .get("pid")
        .and_then(|p| p.parse::<i32>().ok())
        .ok_or_else(|| format!("the child said {ready:?}"))?;
    say(&format!(
        "sender pid={} host_pid={}",
        process::id(),
        host_pid()
    ));
    say(ready.trim_end());

    // Give up (and take the child along) if the test never says go.
    thread::spawn(|| {
        thread::sleep(Duration::from_secs(30));
        process::exit(3);
    });
    let mut line = String::new();
    io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    if line.trim() == "go" {
        // SAFETY: plain syscall.
        if unsafe { libc::kill(child_pid, sig) } != 0 {
            return Err(format!(
                "kill({child_pid}, {sig}): {}",
                io::Error::last_os_error()
            ));
        }
    } else {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    say(&format!("reaped {status}"));
    Ok(())
}

fn say(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn gettid() -> u32 {
    // SAFETY: gettid cannot fail.
    unsafe { libc::gettid() as u32 }
}

/// Our pid as the host sees it: the first NSpid field, read through the host's /proc (a new pid
/// namespace without --mount-proc still sees it). Falls back to getpid().
fn host_pid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or_else(process::id)
}
