//! A process to be signalled: one that ignores a signal, or a Go-like one whose worker thread
//! handles SIGURG as the Go runtime's asynchronous preemption does. Exits when stdin closes.

use std::io::{self, Read, Write};
use std::process;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;

use exitwatch_bench::{gettid, opt, options, pin_to_cpu};

const USAGE: &str = "\
usage: storm-victim ignore SIGNO [--cpu C]
           ignore SIGNO (SIG_IGN); print `ready pid=P tid=P`; exit when stdin closes
       storm-victim go-like [--cpu C] [--worker spin|sleep]
           handle SIGURG (SA_SIGINFO|SA_ONSTACK|SA_RESTART) on a worker thread that spins (or
           sleeps); print `ready pid=P tid=WORKER`; at stdin EOF print `handled=N` and exit";

static HANDLED: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_urg(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("storm-victim: {e}\n{USAGE}");
        process::exit(2);
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (pos, opts) = options(args)?;
    if let Some(cpu) = opts.get("cpu") {
        let cpu = cpu.parse().map_err(|_| format!("bad --cpu {cpu:?}"))?;
        pin_to_cpu(cpu).map_err(|e| format!("cannot pin to CPU {cpu}: {e}"))?;
    }
    let tid = match pos.first().map(String::as_str) {
        Some("ignore") => {
            let sig: i32 = pos
                .get(1)
                .and_then(|s| s.parse().ok())
                .ok_or("ignore needs a signal number")?;
            // SAFETY: installing SIG_IGN has no memory-safety preconditions.
            if unsafe { libc::signal(sig, libc::SIG_IGN) } == libc::SIG_ERR {
                return Err(format!("cannot ignore signal {sig}"));
            }
            gettid()
        }
        Some("go-like") => {
            let worker: String = opt(&opts, "worker", Some("spin".to_owned()))?;
            install_urg_handler()?;
            spawn_worker(worker == "spin")?
        }
        _ => return Err("missing mode".into()),
    };
    println!("ready pid={} tid={tid}", process::id());
    io::stdout().flush().map_err(|e| e.to_string())?;
    // Blocks until the bench closes our stdin (or dies): nothing is left behind.
    let _ = io::stdin().read_to_end(&mut Vec::new());
    // The bench may have stopped listening: a closed stdout is no error here.
    let _ = writeln!(io::stdout(), "handled={}", HANDLED.load(Ordering::Relaxed));
    Ok(())
}

fn install_urg_handler() -> Result<(), String> {
    // SAFETY: a zeroed sigaction is valid; the handler only touches an atomic.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_urg as extern "C" fn(_, _, _) as usize;
        // What the Go runtime installs for every signal it handles.
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGURG, &sa, std::ptr::null_mut()) != 0 {
            return Err(format!(
                "cannot handle SIGURG: {}",
                io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// A thread with its own signal stack, like a Go M; returns its tid.
fn spawn_worker(spin: bool) -> Result<i32, String> {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("worker".into())
        .spawn(move || {
            let stack = vec![0u8; 64 << 10].leak();
            let ss = libc::stack_t {
                ss_sp: stack.as_mut_ptr().cast(),
                ss_flags: 0,
                ss_size: stack.len(),
            };
            // SAFETY: `ss` points at a leaked buffer that lives as long as the thread.
            unsafe { libc::sigaltstack(&ss, std::ptr::null_mut()) };
            let _ = tx.send(gettid());
            loop {
                if spin {
                    std::hint::spin_loop();
                } else {
                    // SAFETY: pause has no preconditions; a handled signal ends it.
                    unsafe { libc::pause() };
                }
            }
        })
        .map_err(|e| e.to_string())?;
    rx.recv().map_err(|e| e.to_string())
}
