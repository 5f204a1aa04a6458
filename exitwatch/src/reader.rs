//! Reader: the aya edge of the event path. The kernel's two rings (fatal first), awaited
//! through tokio and drained in turns of bounded size (so one busy ring cannot starve the
//! loop's other work), each record decoded; the kernel's counters of what it could not queue
//! (by class) and of what senders' budgets suppressed; and the maps the daemon must trim.

use std::collections::HashMap as StdHashMap;
use std::io;
use std::time::{Duration, Instant};

use aya::maps::{HashMap, Map, MapData, PerCpuArray, PerCpuHashMap};
use aya::Ebpf;
use exitwatch_common::{loss, names, wake, IdentityState, SuppressedKey, SuppressedValue};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::assemble::Forget;
use crate::decode::{self, DecodeError, Record};
use crate::event::{LossClass, Proc, Suppressed};

mod ring;

use ring::{Ring, RingError};

/// How long after a wake-up the rings are looked at again even if they do not wake us: the
/// kernel wakes us at most once per `wake::GAP_NS` per ring.
const FOLLOW_UP: Duration = Duration::from_millis(wake::FOLLOW_UP_MS);
/// Records taken from each ring per turn before the loop gets to look at its other work.
pub const TURN_BUDGET: usize = 4096;
/// Records of each kind a recycled batch keeps room for (events: about 0.5 MiB).
const KEEP_RECORDS: usize = 1024;
/// A (sender, signal) whose suppressed count has not grown for this long, and whose sender is
/// gone (so nothing can add to it between the last read and the removal), is dropped from the
/// kernel's map.
const SUPPRESSED_IDLE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    #[error("the loaded object has no {0} map: the eBPF object does not match this daemon; rebuild with `cargo xtask build`")]
    NoMap(&'static str),
    #[error("cannot use the {0} map: {1}")]
    Map(&'static str, String),
    #[error("cannot use the {0} ring: {1}")]
    Ring(&'static str, RingError),
    #[error("cannot watch the ring buffer for events: {0}")]
    Register(io::Error),
}

/// One turn's records: what the rings held, knowledge (identities, cgroup paths) apart from
/// the events, which are in the order they happened across both rings.
#[derive(Debug, Default)]
pub struct Batch {
    pub knowledge: Vec<Record>,
    pub events: Vec<Record>,
    pub malformed: Vec<DecodeError>,
    /// A ring still held records when its budget ran out.
    pub more: bool,
}

impl Batch {
    fn push(&mut self, bytes: &[u8]) {
        match decode::decode(bytes) {
            Ok(r @ (Record::Identity(_) | Record::CgroupName(_))) => self.knowledge.push(r),
            Ok(r) => self.events.push(r),
            Err(e) => self.malformed.push(e),
        }
    }

    /// Events from both rings, in the order they happened (stable: a ring's own order is kept).
    fn order(&mut self) {
        self.events.sort_by_key(time_of);
    }

    /// Empty, with room for [`KEEP_RECORDS`] records of each kind at most.
    fn reset(&mut self) {
        self.events.clear();
        self.knowledge.clear();
        self.malformed.clear();
        self.events.shrink_to(KEEP_RECORDS);
        self.knowledge.shrink_to(KEEP_RECORDS);
        self.malformed.shrink_to(KEEP_RECORDS);
        self.more = false;
    }

    /// Whether the rings held anything (malformed records count: the kernel wrote them).
    fn has_records(&self) -> bool {
        !(self.events.is_empty() && self.knowledge.is_empty() && self.malformed.is_empty())
    }
}

fn time_of(r: &Record) -> u64 {
    match r {
        Record::Signal { event, .. } => event.time_ns,
        Record::Exit { event, .. } => event.time_ns,
        Record::Oom(o) => o.time_ns,
        Record::Identity(_) | Record::CgroupName(_) => 0,
    }
}

pub struct Reader {
    fatal: AsyncFd<Ring>,
    nonfatal: AsyncFd<Ring>,
    lost: PerCpuArray<MapData, u64>,
    /// What each `loss::*` slot held when last reported (the kernel's counters only grow).
    lost_seen: [u64; loss::CLASSES as usize],
    suppressed: PerCpuHashMap<MapData, SuppressedKey, SuppressedValue>,
    /// Each (sender, signal)'s count when last reported, and when it last grew.
    suppressed_seen: StdHashMap<SuppressedKey, (u64, Instant)>,
    identities: HashMap<MapData, u32, IdentityState>,
    cgroups_sent: HashMap<MapData, u64, u32>,
    doomed: HashMap<MapData, u32, u32>,
    doomed_evicted_seen: u64,
    /// The last turn stopped at its budget with records left. The kernel wakes a reader only
    /// when it had caught up, so those records would wait for ever: the next turn starts
    /// without waiting.
    behind: bool,
    /// Whether to look at the rings again after [`FOLLOW_UP`] even if nothing wakes us.
    follow_up: bool,
    /// A handed-on batch's emptied vectors, for the next turn: a busy ring's turns then do not
    /// grow a vector of records from nothing each time.
    spare: Batch,
}

fn take_map(ebpf: &mut Ebpf, name: &'static str) -> Result<aya::maps::Map, ReaderError> {
    ebpf.take_map(name).ok_or(ReaderError::NoMap(name))
}

fn ring(ebpf: &mut Ebpf, name: &'static str) -> Result<AsyncFd<Ring>, ReaderError> {
    let Map::RingBuf(map) = take_map(ebpf, name)? else {
        return Err(ReaderError::Map(name, "not a ring buffer".into()));
    };
    let ring = Ring::new(map).map_err(|e| ReaderError::Ring(name, e))?;
    // SAFETY: the Ring owns its map fd, which stays open and unchanged while the AsyncFd
    // owns the Ring.
    unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
        .map_err(|e| ReaderError::Register(e.into()))
}

macro_rules! map {
    ($ebpf:expr, $name:expr) => {
        TryFrom::try_from(take_map($ebpf, $name)?)
            .map_err(|e: aya::maps::MapError| ReaderError::Map($name, e.to_string()))?
    };
}

impl Reader {
    /// Takes the rings and the counters out of the loaded programs.
    pub fn new(ebpf: &mut Ebpf) -> Result<Self, ReaderError> {
        Ok(Reader {
            fatal: ring(ebpf, names::EVENTS)?,
            nonfatal: ring(ebpf, names::EVENTS_NONFATAL)?,
            lost: map!(ebpf, names::LOST),
            lost_seen: [0; loss::CLASSES as usize],
            suppressed: map!(ebpf, names::SUPPRESSED),
            suppressed_seen: StdHashMap::new(),
            identities: map!(ebpf, names::IDENTITIES),
            cgroups_sent: map!(ebpf, names::CGROUPS_SENT),
            doomed: map!(ebpf, names::DOOMED),
            doomed_evicted_seen: 0,
            behind: false,
            follow_up: true,
            spare: Batch::default(),
        })
    }

    /// Waits until a ring holds records, then takes a turn of both (fatal first). A ring is
    /// marked idle only once it was found empty, so a turn cut short by its budget is taken
    /// up again on the loop's next round.
    pub async fn turn(&mut self) -> io::Result<Batch> {
        if self.behind {
            // Let the loop's other branches run between turns of a backlog.
            tokio::task::yield_now().await;
            return self.turn_now();
        }
        let (fatal, nonfatal, spare) = (&mut self.fatal, &mut self.nonfatal, &mut self.spare);
        // The spare is taken once a branch is chosen: a select that another branch of the
        // loop won drops this future, and the spare with it had it been taken before.
        let (woken, mut batch) = tokio::select! {
            biased;
            guard = fatal.readable_mut() => {
                let mut guard = guard?;
                let mut batch = std::mem::take(spare);
                let empty = drain(guard.get_inner_mut(), &mut batch)?;
                drain(nonfatal.get_mut(), &mut batch)?;
                if empty {
                    guard.clear_ready();
                }
                (true, batch)
            }
            guard = nonfatal.readable_mut() => {
                let mut guard = guard?;
                let mut batch = std::mem::take(spare);
                drain(fatal.get_mut(), &mut batch)?;
                if drain(guard.get_inner_mut(), &mut batch)? {
                    guard.clear_ready();
                }
                (true, batch)
            }
            // Records that did not wake us (a ring woke us less than wake::GAP_NS before).
            () = tokio::time::sleep(FOLLOW_UP), if self.follow_up => {
                let mut batch = std::mem::take(spare);
                drain(fatal.get_mut(), &mut batch)?;
                drain(nonfatal.get_mut(), &mut batch)?;
                (false, batch)
            }
        };
        batch.order();
        self.behind = batch.more;
        // Sleep without a deadline only after a whole follow-up with no wake-up found nothing.
        self.follow_up = woken || batch.has_records();
        Ok(batch)
    }

    /// A turn of what is queued now, without waiting.
    pub fn turn_now(&mut self) -> io::Result<Batch> {
        let mut batch = std::mem::take(&mut self.spare);
        drain(self.fatal.get_mut(), &mut batch)?;
        drain(self.nonfatal.get_mut(), &mut batch)?;
        batch.order();
        self.behind = batch.more;
        Ok(batch)
    }

    /// Takes back a batch whose records were handed on, to reuse its vectors; room past
    /// [`KEEP_RECORDS`] (a backlog's turn) is given back, so a burst's memory is not kept.
    pub fn recycle(&mut self, mut batch: Batch) {
        batch.reset();
        self.spare = batch;
    }

    /// What the kernel could not queue since the last call, by class (summed over CPUs).
    pub fn lost_since_last(&mut self) -> Vec<(LossClass, u64)> {
        let classes = [
            (loss::FATAL, LossClass::Fatal),
            (loss::NONFATAL, LossClass::NonFatal),
            (loss::IDENTITY, LossClass::Identity),
            (loss::EXIT, LossClass::Exit),
        ];
        classes
            .into_iter()
            .filter_map(|(counter, class)| Some((class, self.counter_delta(counter)?)))
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    /// The kernel's counter of `class` (`loss::*`), summed over its rows and CPUs; `None`
    /// when the map could not be read.
    fn counter_total(&self, class: u32) -> Option<u64> {
        (0..loss::ROWS).try_fold(0u64, |sum, row| {
            let cpus = self.lost.get(&loss::index(row, class), 0).ok()?;
            Some(sum + cpus.iter().sum::<u64>())
        })
    }

    /// The kernel's counter of `class`, summed, and how much it grew since last asked.
    fn counter_delta(&mut self, class: u32) -> Option<u64> {
        let total = self.counter_total(class)?;
        let seen = &mut self.lost_seen[class as usize];
        let grew = total.saturating_sub(*seen);
        *seen = (*seen).max(total);
        Some(grew)
    }

    /// How much each sender's suppressed count grew since the last call; the growth of the
    /// count kept without sender (the map was full) comes with `sender: None`.
    pub fn suppressed_since_last(&mut self, now: Instant) -> Vec<Suppressed> {
        let mut out = Vec::new();
        let mut idle = Vec::new();
        for entry in self.suppressed.iter() {
            let Ok((key, values)) = entry else {
                continue;
            };
            let count: u64 = values.iter().map(|v| v.count).sum();
            // The CPU that inserted the entry holds the sender's name; the others are zeroed.
            let first = values.iter().find(|v| v.comm[0] != 0).copied();
            let (seen, since) = self.suppressed_seen.get(&key).copied().unwrap_or((0, now));
            if count > seen {
                self.suppressed_seen.insert(key, (count, now));
                out.push(Suppressed {
                    sender: Some(Proc {
                        pid: key.pid,
                        tid: key.pid,
                        ns_pid: None,
                        comm: first.map_or_else(Vec::new, |v| comm(&v.comm)),
                        start_ns: key.start_ns,
                    }),
                    uid: first.map(|v| v.uid),
                    signo: key.signo as i32,
                    count: count - seen,
                });
            } else if now.duration_since(since) >= SUPPRESSED_IDLE && !alive(key.pid, key.start_ns)
            {
                idle.push(key);
            } else {
                self.suppressed_seen.entry(key).or_insert((count, now));
            }
        }
        for key in idle {
            let _ = self.suppressed.remove(&key);
            self.suppressed_seen.remove(&key);
        }
        if let Some(n) = self
            .counter_delta(loss::SUPPRESSED_UNATTRIBUTED)
            .filter(|&n| n > 0)
        {
            out.push(Suppressed {
                sender: None,
                uid: None,
                signo: 0,
                count: n,
            });
        }
        out
    }

    /// Targets of reported signals the kernel's `DOOMED` map forgot (it is an LRU) before
    /// they exited, since the last call: their exits will not be reported.
    pub fn doomed_evicted_since_last(&mut self) -> u64 {
        let live = self.doomed.keys().filter(Result::is_ok).count() as u64;
        let added = self.counter_total(loss::DOOMED_ADDED).unwrap_or(0);
        let removed = self.counter_total(loss::DOOMED_REMOVED).unwrap_or(0);
        let evicted = added.saturating_sub(removed).saturating_sub(live);
        let grew = evicted.saturating_sub(self.doomed_evicted_seen);
        self.doomed_evicted_seen = self.doomed_evicted_seen.max(evicted);
        grew
    }

    /// Makes the kernel forget having sent what the daemon forgot, so it sends it again.
    pub fn forget(&mut self, forget: &Forget) {
        for tgid in &forget.processes {
            let _ = self.identities.remove(tgid);
        }
        for key in &forget.cgroups {
            let _ = self.cgroups_sent.remove(key);
        }
    }
}

/// Is the process `pid` that started at `start_ns` (since boot) still there? /proc counts start
/// times in clock ticks: a process with that pid started within a tick or two is the same one.
fn alive(pid: u32, start_ns: u64) -> bool {
    let Ok(stat) = procfs::process::Process::new(pid as i32).and_then(|p| p.stat()) else {
        return false;
    };
    let tick_ns = 1_000_000_000 / procfs::ticks_per_second().max(1);
    stat.starttime.saturating_mul(tick_ns).abs_diff(start_ns) <= 2 * tick_ns
}

fn comm(raw: &[u8]) -> Vec<u8> {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    raw[..end].to_vec()
}

/// Up to [`TURN_BUDGET`] records into `batch`; true when the ring was emptied. A ring whose
/// records cannot be walked cannot be read any further: an error that ends the daemon.
fn drain(ring: &mut Ring, batch: &mut Batch) -> io::Result<bool> {
    let empty = ring
        .read(TURN_BUDGET, |record| batch.push(record))
        .map_err(io::Error::other)?;
    batch.more |= !empty;
    Ok(empty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::PlaceIds;
    use crate::render::fixtures;

    fn signal_at(time_ns: u64, signo: i32) -> Record {
        let mut event = fixtures::pkill_kills_server();
        (event.time_ns, event.signo) = (time_ns, signo);
        Record::Signal {
            event,
            sender_image: None,
            target_place: PlaceIds::default(),
        }
    }

    #[test]
    fn a_turn_orders_both_rings_events_by_time_and_keeps_equal_times_in_ring_order() {
        // The fatal ring is read first: its SIGKILL at t=20 comes before the non-fatal
        // ring's SIGTERM at t=10, which must still be handed on first (stop_escalated).
        let mut batch = Batch {
            events: vec![
                signal_at(20, 9),
                signal_at(30, 9),
                signal_at(10, 15),
                signal_at(30, 15),
            ],
            ..Batch::default()
        };
        batch.order();
        let order: Vec<(u64, i32)> = batch
            .events
            .iter()
            .map(|r| match r {
                Record::Signal { event, .. } => (event.time_ns, event.signo),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, [(10, 15), (20, 9), (30, 9), (30, 15)]);
    }

    #[test]
    fn a_recycled_batch_is_empty_and_keeps_bounded_room() {
        let mut batch = Batch {
            events: (0..3 * KEEP_RECORDS as u64)
                .map(|t| signal_at(t, 9))
                .collect(),
            more: true,
            ..Batch::default()
        };
        batch.malformed.push(DecodeError::Short(1));
        batch.reset();
        assert!(!batch.has_records() && !batch.more);
        assert!(batch.events.capacity() <= KEEP_RECORDS);
        // A small turn's room is kept for the next.
        batch.events.extend((0..10).map(|t| signal_at(t, 9)));
        let room = batch.events.capacity();
        batch.reset();
        assert_eq!(batch.events.capacity(), room);
    }

    #[test]
    fn knowledge_is_kept_apart_from_events() {
        let mut batch = Batch::default();
        let mut rec: exitwatch_common::CgroupNameRecord = unsafe { std::mem::zeroed() };
        rec.kind = exitwatch_common::RecordKind::CgroupName as u32;
        // SAFETY: a plain #[repr(C)] integer record.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&rec as *const exitwatch_common::CgroupNameRecord).cast::<u8>(),
                std::mem::size_of_val(&rec),
            )
        };
        batch.push(bytes);
        batch.push(&[1, 0]);
        assert_eq!(
            (
                batch.knowledge.len(),
                batch.events.len(),
                batch.malformed.len()
            ),
            (1, 0, 1)
        );
    }

    #[test]
    fn a_sender_is_alive_only_with_its_own_start_time() {
        let me = procfs::process::Process::myself().unwrap().stat().unwrap();
        let tick_ns = 1_000_000_000 / procfs::ticks_per_second();
        let start_ns = me.starttime * tick_ns;
        let pid = std::process::id();
        assert!(alive(pid, start_ns));
        assert!(
            !alive(pid, start_ns + 1_000_000_000),
            "a reused pid is another process"
        );
        assert!(!alive(u32::MAX >> 1, start_ns), "no such pid");
    }
}
