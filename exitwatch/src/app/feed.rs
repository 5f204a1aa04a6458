//! Feeding the pipeline from the reader: each turn's knowledge (identities, cgroup paths)
//! first, then its events in the order they happened; malformed records skipped (and said);
//! and, on the loop's tick, what the kernel did not report: lost records by class, signals
//! over their sender's budget, exits it stopped tracking, and what the kernel must forget.

use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use crate::clock;
use crate::event::Event;
use crate::metrics::Metrics;
use crate::reader::{Batch, Reader};

use super::Pipe;

/// Turns one drain may take at once: what full rings hold, without letting a producer that
/// outpaces us keep the loop here for ever.
const MAX_TURNS: usize = 16;

/// One turn's records into the pipeline.
pub fn feed(pipe: &mut Pipe, batch: &mut Batch) -> io::Result<()> {
    if let Some(first) = batch.malformed.first() {
        eprintln!(
            "exitwatch: skipped {} malformed record(s): {first}",
            batch.malformed.len()
        );
    }
    let now = clock::since_boot_ns();
    for record in batch.knowledge.drain(..) {
        pipe.take(record, now)?;
    }
    for record in batch.events.drain(..) {
        if pipe.done() {
            break;
        }
        pipe.take(record, now)?;
    }
    Ok(())
}

/// Hands what the kernel has queued to the pipeline now, turn after turn, until the rings are
/// empty, the pipeline is done, or [`MAX_TURNS`] turns were taken.
pub fn drain(reader: &mut Reader, pipe: &mut Pipe) -> io::Result<()> {
    for _ in 0..MAX_TURNS {
        if pipe.done() {
            break;
        }
        let mut batch = reader.turn_now()?;
        let more = batch.more;
        feed(pipe, &mut batch)?;
        reader.recycle(batch);
        if !more {
            break;
        }
    }
    Ok(())
}

/// What the kernel did not report since the last call, as events and counters; and what the
/// daemon forgot, for the kernel to forget too (so it sends it again when needed).
pub fn report_gaps(
    reader: &mut Reader,
    pipe: &mut Pipe,
    metrics: &Metrics,
    now: Instant,
    with_exits: bool,
) -> io::Result<()> {
    for (class, count) in reader.lost_since_last() {
        pipe.emit_now(Event::Lost { count, class })?;
    }
    for s in reader.suppressed_since_last(now) {
        pipe.emit_now(Event::Suppressed(s))?;
    }
    if with_exits {
        let untracked = reader.doomed_evicted_since_last();
        if untracked > 0 {
            metrics.exits_untracked.fetch_add(untracked, Relaxed);
            eprintln!(
                "exitwatch: warning: {untracked} target(s) of reported signals were dropped from the kernel's table of processes to follow (it is full) before they exited: their exits will not be reported"
            );
        }
    }
    let forget = pipe.forgotten();
    if !forget.is_empty() {
        reader.forget(&forget);
    }
    Ok(())
}
