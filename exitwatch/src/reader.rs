//! Reader: the aya edge of the event path. The kernel's ring buffer, awaited through tokio and
//! drained in turns of bounded size (so one busy ring cannot starve the loop's other work), each
//! record handed to decode; and the kernel's per-CPU count of records it could not queue.

use std::io;

use aya::maps::{MapData, PerCpuArray, RingBuf};
use aya::Ebpf;
use exitwatch_common::names;
use tokio::io::unix::{AsyncFd, AsyncFdReadyMutGuard};
use tokio::io::Interest;

use crate::decode::{self, DecodeError};
use crate::event::Event;

/// Records handed on per turn before the loop gets to look at its other work.
pub const TURN_BUDGET: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    #[error("the loaded object has no {0} map: the eBPF object does not match this daemon; rebuild with `cargo xtask build`")]
    NoMap(&'static str),
    #[error("cannot use the {0} map: {1}")]
    Map(&'static str, String),
    #[error("cannot watch the ring buffer for events: {0}")]
    Register(io::Error),
}

/// What a drain saw of the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drained {
    /// Nothing is left in it.
    Empty,
    /// The turn's budget ran out, or the consumer had enough: more may be waiting.
    More,
}

pub struct Reader {
    ring: AsyncFd<RingBuf<MapData>>,
    lost: PerCpuArray<MapData, u64>,
    /// Lost records already reported (the kernel's counters only grow).
    lost_reported: u64,
}

/// The ring is readable: drain it with [`Turn::drain`].
pub struct Turn<'a> {
    guard: AsyncFdReadyMutGuard<'a, RingBuf<MapData>>,
}

impl Reader {
    /// Takes the ring buffer and the lost counters out of the loaded programs.
    pub fn new(ebpf: &mut Ebpf) -> Result<Self, ReaderError> {
        let mut map = |name| ebpf.take_map(name).ok_or(ReaderError::NoMap(name));
        let ring = RingBuf::try_from(map(names::EVENTS)?)
            .map_err(|e| ReaderError::Map(names::EVENTS, e.to_string()))?;
        let lost = PerCpuArray::try_from(map(names::LOST)?)
            .map_err(|e| ReaderError::Map(names::LOST, e.to_string()))?;
        // SAFETY: the RingBuf owns its map fd, which stays open and unchanged while the
        // AsyncFd owns the RingBuf.
        let ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|e| ReaderError::Register(e.into()))?;
        Ok(Reader {
            ring,
            lost,
            lost_reported: 0,
        })
    }

    /// Waits until the kernel has queued something.
    pub async fn readable(&mut self) -> io::Result<Turn<'_>> {
        Ok(Turn {
            guard: self.ring.readable_mut().await?,
        })
    }

    /// Drains what is queued now, without waiting (see [`Turn::drain`]).
    pub fn drain_now(
        &mut self,
        take: impl FnMut(Result<Event, DecodeError>) -> io::Result<bool>,
    ) -> io::Result<Drained> {
        drain(self.ring.get_mut(), TURN_BUDGET, take)
    }

    /// Records the kernel could not queue since the last call (summed over CPUs).
    pub fn lost_since_last(&mut self) -> u64 {
        let total: u64 = self
            .lost
            .get(&0, 0)
            .map(|v| v.iter().sum())
            .unwrap_or(self.lost_reported);
        let new = total.saturating_sub(self.lost_reported);
        self.lost_reported = self.lost_reported.max(total);
        new
    }
}

impl Turn<'_> {
    /// Hands at most [`TURN_BUDGET`] records, decoded, to `take`, which says whether it wants
    /// more. The ring is marked idle only once it is empty, so a turn cut short by its budget
    /// is taken up again on the loop's next round.
    pub fn drain(
        mut self,
        take: impl FnMut(Result<Event, DecodeError>) -> io::Result<bool>,
    ) -> io::Result<Drained> {
        let drained = drain(self.guard.get_inner_mut(), TURN_BUDGET, take)?;
        if drained == Drained::Empty {
            self.guard.clear_ready();
        }
        Ok(drained)
    }
}

/// The one drain: up to `budget` records, or until `take` has had enough.
fn drain(
    ring: &mut RingBuf<MapData>,
    budget: usize,
    mut take: impl FnMut(Result<Event, DecodeError>) -> io::Result<bool>,
) -> io::Result<Drained> {
    for _ in 0..budget {
        let Some(item) = ring.next() else {
            return Ok(Drained::Empty);
        };
        let more = take(decode::decode(&item))?;
        drop(item);
        if !more {
            return Ok(Drained::More);
        }
    }
    Ok(Drained::More)
}
