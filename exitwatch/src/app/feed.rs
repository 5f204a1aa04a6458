//! Feeding the pipeline from the reader: each decoded record in turn, malformed ones skipped
//! (and said), and the kernel's lost-record counts as `lost` events.

use std::io;

use crate::clock;
use crate::decode::DecodeError;
use crate::event::Event;
use crate::reader::{Drained, Reader};

use super::Pipe;

/// One decoded record into the pipeline; true while the pipeline wants more.
pub fn take(pipe: &mut Pipe, ev: Result<Event, DecodeError>) -> io::Result<bool> {
    match ev {
        Ok(ev) => pipe.record(ev, clock::since_boot_ns())?,
        Err(e) => eprintln!("exitwatch: skipped a malformed record: {e}"),
    }
    Ok(!pipe.done())
}

/// Turns one drain may take at once: what a full ring holds, without letting a producer that
/// outpaces us keep the loop here for ever.
const MAX_TURNS: usize = 16;

/// Hands what the kernel has queued to the pipeline now, turn after turn, until the ring is
/// empty, the pipeline is done, or [`MAX_TURNS`] turns were taken.
pub fn drain(reader: &mut Reader, pipe: &mut Pipe) -> io::Result<()> {
    for _ in 0..MAX_TURNS {
        if pipe.done() || reader.drain_now(|ev| take(pipe, ev))? == Drained::Empty {
            break;
        }
    }
    Ok(())
}

pub fn report_lost(reader: &mut Reader, pipe: &mut Pipe) -> io::Result<()> {
    match reader.lost_since_last() {
        0 => Ok(()),
        count => pipe.emit_now(Event::Lost { count }),
    }
}
