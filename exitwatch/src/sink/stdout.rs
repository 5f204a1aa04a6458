//! The stdout output: a thread that writes each event as soon as it is queued, and says when
//! stdout is closed (`exitwatch | head -1`) so that exitwatch stops as it always has.

use std::io::{self, Write};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread;

use tokio::sync::{oneshot, Notify};

use super::Queue;

/// What exitwatch asks of a pipe on its stdout (Linux's default is 64 KiB; 1 MiB is what any
/// process may ask for, `/proc/sys/fs/pipe-max-size`).
const PIPE_BYTES: libc::c_int = 1 << 20;

pub fn spawn(queue: Queue, closed: Arc<Notify>, done: oneshot::Sender<()>) -> io::Result<()> {
    widen_pipe(1);
    thread::Builder::new()
        .name("exitwatch-stdout".into())
        .spawn(move || {
            write_all(queue, io::stdout(), || closed.notify_one());
            drop(done);
        })
        .map(drop)
}

/// When stdout is a pipe (`exitwatch --format json | shipper`), widens it: with the default
/// 64 KiB, a storm's lines (100k/s, ~1 KB each) fill it in under a millisecond whenever the
/// reader is off its CPU, and the writer thread then sleeps and wakes per 64 KiB: measured as
/// ~7% of exitwatch's CPU at 100k events/s (`finish_task_switch` under `pipe_write`). At most
/// the node's `pipe-max-size` (root could pass it: the admin's cap is kept), and never smaller
/// than the pipe already is (its reader may have widened it further). Not a pipe, or a
/// refusal: nothing changes.
fn widen_pipe(fd: libc::c_int) {
    let cap = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()
        .and_then(|s| s.trim().parse::<libc::c_int>().ok())
        .unwrap_or(PIPE_BYTES);
    grow_pipe(fd, PIPE_BYTES.min(cap));
}

/// Makes the pipe `fd` at least `want` bytes wide if the kernel lets it; never narrower.
fn grow_pipe(fd: libc::c_int, want: libc::c_int) {
    // SAFETY: F_GETPIPE_SZ only reads a pipe's capacity (-1, EBADF, for anything else).
    let now = unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
    if now > 0 && now < want {
        // SAFETY: F_SETPIPE_SZ takes an int and changes only a pipe's capacity.
        unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, want) };
    }
}

/// Writes every queued event to `out`, flushing whenever the queue is empty. After a write
/// error, the rest is counted as dropped; a closed pipe also calls `on_closed`.
fn write_all(mut queue: Queue, out: impl Write, on_closed: impl Fn()) {
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    let mut written = Vec::new();
    let mut next = queue.blocking_recv();
    while let Some(first) = next {
        let mut result = out.write_all(&first.line);
        written.push(first);
        while result.is_ok() {
            let Some(next) = queue.try_recv() else { break };
            result = out.write_all(&next.line);
            written.push(next);
        }
        let result = result.and_then(|()| out.flush());
        let n = written.len();
        queue.settled(n);
        queue.give_back(&mut written);
        match result {
            Ok(()) => {
                queue.stats.delivered();
                queue.stats.sent.fetch_add(n as u64, Relaxed);
            }
            Err(e) => {
                // What sat in the buffer is lost with the stream; count this round as dropped.
                queue.stats.dropped.fetch_add(n as u64, Relaxed);
                if e.kind() == io::ErrorKind::BrokenPipe {
                    on_closed();
                } else {
                    eprintln!("exitwatch: warning: cannot write to stdout: {e}; its events are dropped from now on");
                    queue.stats.set_error(Some(e.to_string()));
                }
                // A broken stream stays broken: stop writing, keep counting.
                while let Some(_rec) = queue.blocking_recv() {
                    queue.settled(1);
                    queue.stats.dropped.fetch_add(1, Relaxed);
                }
                return;
            }
        }
        next = queue.recv_after_write();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use tokio::sync::mpsc;

    use super::*;
    use crate::metrics::SinkStats;
    use crate::sink::Record;

    fn record(text: &str) -> Record {
        Record {
            line: Arc::from(text.as_bytes()),
            kind: "signal",
            severity: 5,
            time_ns: 0,
            otel: None,
        }
    }

    fn queue(lines: &[&str]) -> Queue {
        let (tx, rx) = mpsc::channel(16);
        let stats = Arc::new(SinkStats::new("stdout".into()));
        for l in lines {
            stats.queued.fetch_add(1, Relaxed);
            tx.try_send(record(l)).unwrap();
        }
        Queue {
            rx,
            stats,
            spent: Default::default(),
        }
    }

    #[test]
    fn writes_every_line_in_order() {
        let q = queue(&["a\n", "b\nc\n"]);
        let stats = Arc::clone(&q.stats);
        let mut out = Vec::new();
        let spent = Arc::clone(&q.spent);
        write_all(q, &mut out, || panic!("not closed"));
        assert_eq!(out, b"a\nb\nc\n");
        assert_eq!(
            spent.held().0,
            2,
            "written records are given back to be freed"
        );
        assert_eq!(stats.sent.load(Relaxed), 2);
        assert_eq!(stats.queued.load(Relaxed), 0);
    }

    #[test]
    fn a_pipe_is_widened_as_far_as_the_kernel_lets() {
        let pipe = || {
            let mut fds = [0; 2];
            // SAFETY: pipe fills the two fds given.
            assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
            fds
        };
        // SAFETY: F_GETPIPE_SZ only reads the pipe's capacity.
        let size = |fd| unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
        // What this kernel grants this process, asked directly of a second pipe.
        let (ours, control) = (pipe(), pipe());
        let cap = std::fs::read_to_string("/proc/sys/fs/pipe-max-size").unwrap();
        let want = PIPE_BYTES.min(cap.trim().parse().unwrap());
        // SAFETY: as in widen_pipe.
        unsafe { libc::fcntl(control[1], libc::F_SETPIPE_SZ, want) };
        widen_pipe(ours[1]);
        assert_eq!(size(ours[1]), size(control[1]));
        if size(control[1]) == want {
            assert!(want > 64 * 1024, "widened beyond Linux's default");
        }
        // A pipe its reader made wider already is not narrowed.
        let wide = pipe();
        // SAFETY: as in widen_pipe.
        unsafe { libc::fcntl(wide[1], libc::F_SETPIPE_SZ, 256 * 1024) };
        assert_eq!(size(wide[1]), 256 * 1024);
        grow_pipe(wide[1], 128 * 1024);
        assert_eq!(size(wide[1]), 256 * 1024);
        for fd in ours.into_iter().chain(control).chain(wide) {
            // SAFETY: closing fds this test opened.
            unsafe { libc::close(fd) };
        }
    }

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn a_closed_pipe_is_reported_once_and_the_rest_counted_as_dropped() {
        let q = queue(&["a\n", "b\n", "c\n"]);
        let stats = Arc::clone(&q.stats);
        let told = Cell::new(0);
        write_all(q, Closed, || told.set(told.get() + 1));
        assert_eq!(told.get(), 1);
        assert_eq!(stats.dropped.load(Relaxed), 3);
        assert_eq!(stats.queued.load(Relaxed), 0);
    }
}
