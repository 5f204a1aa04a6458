//! Sends one signal to one process (kill) or thread (tgkill) as fast as it can, timing each
//! batch of calls, or at a steady rate; prints what it measured as `key=value` lines.

use std::process;

use exitwatch_bench::{due, now_ns, opt, options, pin_to_cpu};

const USAGE: &str = "\
usage: storm-sender --pid P [--tid T] --signal S --count N [--batches B] [--rate R] [--cpu C]
           N calls of kill(P, S) (tgkill(P, T, S) with --tid), B times, printing
           `batch ns_per_call=X` per batch; with --rate, N calls in all at R per second,
           in slices of 1 ms. Last line: `done sent=N elapsed_ns=E`. Exits 1 on a failed call";

/// Pacing granularity: the ring buffer absorbs bursts far larger than one slice.
const SLICE_NS: u64 = 1_000_000;

struct Target {
    pid: i32,
    tid: Option<i32>,
    sig: i32,
}

impl Target {
    #[inline(always)]
    fn send(&self) -> bool {
        // SAFETY: plain syscalls with integer arguments.
        let rc = unsafe {
            match self.tid {
                Some(tid) => libc::syscall(libc::SYS_tgkill, self.pid, tid, self.sig) as i32,
                None => libc::kill(self.pid, self.sig),
            }
        };
        rc == 0
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("storm-sender: {e}\n{USAGE}");
        process::exit(2);
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (pos, opts) = options(args)?;
    if let Some(extra) = pos.first() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    let target = Target {
        pid: opt(&opts, "pid", None)?,
        tid: opts
            .contains_key("tid")
            .then(|| opt(&opts, "tid", None))
            .transpose()?,
        sig: opt(&opts, "signal", None)?,
    };
    let count: u64 = opt(&opts, "count", None)?;
    let batches: u64 = opt(&opts, "batches", Some(1))?;
    let rate: u64 = opt(&opts, "rate", Some(0))?;
    if let Some(cpu) = opts.get("cpu") {
        let cpu = cpu.parse().map_err(|_| format!("bad --cpu {cpu:?}"))?;
        pin_to_cpu(cpu).map_err(|e| format!("cannot pin to CPU {cpu}: {e}"))?;
    }
    let started = now_ns();
    let sent = if rate > 0 {
        paced(&target, count, rate)?
    } else {
        timed_batches(&target, count, batches)?
    };
    println!("done sent={sent} elapsed_ns={}", now_ns() - started);
    Ok(())
}

fn timed_batches(target: &Target, count: u64, batches: u64) -> Result<u64, String> {
    for _ in 0..batches {
        let t0 = now_ns();
        for _ in 0..count {
            if !target.send() {
                return Err(failed());
            }
        }
        let ns = now_ns() - t0;
        println!("batch ns_per_call={:.1}", ns as f64 / count as f64);
    }
    Ok(count * batches)
}

fn paced(target: &Target, count: u64, rate: u64) -> Result<u64, String> {
    let start = now_ns();
    let mut sent = 0;
    let mut slice_end = start;
    while sent < count {
        let now = now_ns();
        let goal = due(rate, now - start).min(count);
        while sent < goal {
            if !target.send() {
                return Err(failed());
            }
            sent += 1;
        }
        slice_end += SLICE_NS;
        sleep_until(slice_end);
    }
    Ok(sent)
}

fn sleep_until(deadline_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (deadline_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (deadline_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `ts` is valid; an early return (EINTR, or a deadline already past) is harmless.
    unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            std::ptr::null_mut(),
        )
    };
}

fn failed() -> String {
    format!(
        "sending the signal failed: {}",
        std::io::Error::last_os_error()
    )
}
