//! Test helper: pressure on exitwatch. A crowd of sleeping processes in one cgroup, a sender
//! flooding its own child with a handled signal, or a one-shot sender with a unique argv.
//!
//! Every mode gives up by itself after a while, so a failed test leaves nothing behind.

use std::io::{self, BufRead, Write};
use std::process;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use exitwatch_tests::parse_signal;

const USAGE: &str = "\
usage: flood crowd N CGROUP-DIR HOME-CGROUP-DIR
           join CGROUP-DIR, fork N children that sleep there, go back to HOME-CGROUP-DIR, print
           `ready pid=P host_pid=P children=N`, then reap the children and print
           `reaped N killed=K` (K died of SIGKILL); after 30 s, kill them and exit 3
       flood send SIG SECS
           fork a child that handles SIG, print `ready pid=P host_pid=P child=C`, and on a stdin
           line `go` send SIG to it as fast as possible for SECS seconds; print `sent N`
       flood strike SIG PID [IGNORED...]
           print `striker pid=P start_ticks=T target=PID` (T: its start time, from /proc/self/stat),
           then send SIG to PID";

/// How long a mode waits for the test before giving up.
const GIVE_UP: Duration = Duration::from_secs(30);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("crowd") => crowd(&args[1..]),
        Some("send") => send(&args[1..]),
        Some("strike") => strike(&args[1..]),
        _ => Err(String::new()),
    };
    if let Err(e) = result {
        if !e.is_empty() {
            eprintln!("flood: {e}");
        }
        eprintln!("{USAGE}");
        process::exit(2);
    }
}

fn arg<T: std::str::FromStr>(s: Option<&String>, what: &str) -> Result<T, String> {
    let s = s.ok_or_else(|| format!("missing {what}"))?;
    s.parse().map_err(|_| format!("bad {what} {s:?}"))
}

fn signal(s: Option<&String>) -> Result<i32, String> {
    let s = s.ok_or("missing signal")?;
    parse_signal(s).ok_or_else(|| format!("unknown signal {s:?}"))
}

fn os_error(what: &str) -> String {
    format!("{what}: {}", io::Error::last_os_error())
}

fn join_cgroup(dir: &str) -> Result<(), String> {
    std::fs::write(format!("{dir}/cgroup.procs"), process::id().to_string())
        .map_err(|e| format!("cannot join {dir}: {e}"))
}

fn crowd(args: &[String]) -> Result<(), String> {
    let n: usize = arg(args.first(), "process count")?;
    let dir = args.get(1).ok_or("missing cgroup")?;
    let home = args.get(2).ok_or("missing home cgroup")?;
    join_cgroup(dir)?;
    let mut children = Vec::with_capacity(n);
    for _ in 0..n {
        // SAFETY: the child only makes async-signal-safe calls (prctl, pause, _exit).
        match unsafe { libc::fork() } {
            -1 => {
                let e = os_error("fork");
                kill_all(&children);
                return Err(e);
            }
            0 => unsafe {
                // SAFETY: plain syscalls; the crowd dies with its parent.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
                loop {
                    libc::pause();
                }
            },
            pid => children.push(pid),
        }
    }
    if let Err(e) = join_cgroup(home) {
        kill_all(&children);
        return Err(e);
    }
    let watchdog = children.clone();
    thread::spawn(move || {
        thread::sleep(GIVE_UP);
        eprintln!("flood: nobody killed the crowd within {GIVE_UP:?}; leaving");
        kill_all(&watchdog);
        process::exit(3);
    });
    say(&format!(
        "ready pid={0} host_pid={0} children={n}",
        process::id()
    ));
    let (mut reaped, mut killed) = (0, 0);
    while reaped < n {
        let mut status = 0;
        // SAFETY: plain syscall.
        if unsafe { libc::waitpid(-1, &mut status, 0) } < 0 {
            return Err(os_error("waitpid"));
        }
        reaped += 1;
        if libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL {
            killed += 1;
        }
    }
    say(&format!("reaped {reaped} killed={killed}"));
    Ok(())
}

fn kill_all(pids: &[i32]) {
    for &pid in pids {
        // SAFETY: plain syscall on our own children.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Signals the flooded child caught (it prints nothing: the sender's count is what is checked).
static CAUGHT: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    CAUGHT.fetch_add(1, Ordering::Relaxed);
}

fn send(args: &[String]) -> Result<(), String> {
    let sig = signal(args.first())?;
    let secs: f64 = arg(args.get(1), "seconds")?;
    // `ready`: the child has its handler; `done`: the child's end of the flood (EOF).
    let (ready_r, ready_w) = pipe()?;
    let (done_r, done_w) = pipe()?;
    // SAFETY: the child makes only async-signal-safe calls until it exits.
    let child = match unsafe { libc::fork() } {
        -1 => return Err(os_error("fork")),
        0 => unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            libc::close(ready_r);
            libc::close(done_w);
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                libc::_exit(4);
            }
            libc::write(ready_w, b"r".as_ptr().cast(), 1);
            let mut byte = 0u8;
            // Until the parent closes its end (or dies); SA_RESTART resumes the read.
            while libc::read(done_r, (&mut byte as *mut u8).cast(), 1) != 0 {}
            libc::_exit(0);
        },
        pid => pid,
    };
    // SAFETY: closing our copies of the child's ends.
    unsafe {
        libc::close(ready_w);
        libc::close(done_r);
    }
    let mut byte = 0u8;
    // SAFETY: reading one byte into a valid buffer.
    if unsafe { libc::read(ready_r, (&mut byte as *mut u8).cast(), 1) } != 1 {
        return Err("the child died before handling the signal".into());
    }
    say(&format!(
        "ready pid={0} host_pid={0} child={child}",
        process::id()
    ));

    thread::spawn(|| {
        thread::sleep(GIVE_UP);
        eprintln!("flood: no `go` within {GIVE_UP:?}; leaving");
        process::exit(3);
    });
    let mut line = String::new();
    io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    if line.trim() != "go" {
        return Err(format!("expected `go`, got {line:?}"));
    }
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut sent = 0u64;
    'flood: while Instant::now() < deadline {
        for _ in 0..256 {
            // SAFETY: plain syscall.
            if unsafe { libc::kill(child, sig) } != 0 {
                let e = os_error(&format!("kill({child}, {sig}) after {sent}"));
                say(&format!("sent {sent}"));
                eprintln!("flood: {e}");
                break 'flood;
            }
            sent += 1;
        }
    }
    say(&format!("sent {sent}"));
    // SAFETY: our end of `done`: the child sees EOF and exits 0.
    unsafe { libc::close(done_w) };
    let mut status = 0;
    // SAFETY: plain syscall.
    unsafe { libc::waitpid(child, &mut status, 0) };
    say(&format!("child_status {status}"));
    Ok(())
}

fn pipe() -> Result<(i32, i32), String> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(os_error("pipe"));
    }
    Ok((fds[0], fds[1]))
}

fn strike(args: &[String]) -> Result<(), String> {
    let sig = signal(args.first())?;
    let pid: i32 = arg(args.get(1), "pid")?;
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(|e| e.to_string())?;
    // Field 22, counted after the `(comm)` that may contain spaces.
    let start_ticks = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(19))
        .ok_or_else(|| format!("unexpected /proc/self/stat: {stat:?}"))?;
    say(&format!(
        "striker pid={} start_ticks={start_ticks} target={pid}",
        process::id()
    ));
    // SAFETY: plain syscall.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(os_error(&format!("kill({pid}, {sig})")));
    }
    Ok(())
}

fn say(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
