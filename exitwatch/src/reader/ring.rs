//! Ring: a BPF ring buffer (`BPF_MAP_TYPE_RINGBUF`) read from user space with its data pages
//! mapped once.
//!
//! The kernel keeps a ring's data pages mapped twice back to back, and libbpf and aya map
//! them twice into the reader too, so that a record wrapping the end reads as one slice. The
//! kernel fills every page of such a mapping when it is made, so each ring then counts twice
//! its size in the daemon's RSS (two 4 MiB rings: 16 MiB of a 25 MiB daemon). Here the data
//! is mapped once, and the few records that wrap the end are put back together in a buffer.
//!
//! The protocol (include/uapi/linux/bpf.h, kernel/bpf/ringbuf.c): page 0 holds the
//! consumer's position (the only page user space may write), page 1 the producer's, the data
//! follows. A record is an 8-byte header (length with a busy and a discard bit, then the
//! kernel's page offset) and its bytes, rounded up to 8 bytes; positions only grow, and wrap
//! the data by masking. A busy header is a record reserved but not yet committed: nothing
//! after it may be read before it.

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, AtomicUsize, Ordering};

use aya::maps::MapData;
use aya_obj::generated::{BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ};

const BUSY: u32 = BPF_RINGBUF_BUSY_BIT;
const DISCARD: u32 = BPF_RINGBUF_DISCARD_BIT;
const HEADER: usize = BPF_RINGBUF_HDR_SZ as usize;

#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("cannot read the ring's size: {0}")]
    Info(String),
    #[error("the ring's size {0} is not a power of two of at least a page: not a BPF ring buffer")]
    Size(usize),
    #[error("cannot map the ring's {0} into memory: {1}")]
    Map(&'static str, io::Error),
    #[error("a ring record's header says {len} bytes at position {pos} of a ring of {size}: the kernel's ring layout is not the one this daemon reads")]
    Layout { len: usize, pos: usize, size: usize },
}

pub struct Ring {
    /// Owns the map's descriptor, which the mappings and the poller use.
    map: MapData,
    /// Page 0, read-write: the consumer position.
    consumer: Mapping,
    /// The producer's page, then the data pages once.
    producer: Mapping,
    page: usize,
    size: usize,
    /// The consumer position as this reader knows it (the kernel's copy is written after
    /// each record).
    pos: usize,
    /// A record that wraps the end of the data, put back together.
    joined: Vec<u8>,
}

impl Ring {
    pub fn new(map: MapData) -> Result<Self, RingError> {
        let size = map
            .info()
            .map_err(|e| RingError::Info(e.to_string()))?
            .max_entries() as usize;
        // SAFETY: sysconf with a valid name.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        if !size.is_power_of_two() || size < page {
            return Err(RingError::Size(size));
        }
        let fd = map.fd().as_fd();
        let consumer = Mapping::new(fd, page, libc::PROT_READ | libc::PROT_WRITE, 0)
            .map_err(|e| RingError::Map("consumer page", e))?;
        let producer = Mapping::new(fd, page + size, libc::PROT_READ, page)
            .map_err(|e| RingError::Map("producer page and data", e))?;
        let mut ring = Ring {
            map,
            consumer,
            producer,
            page,
            size,
            pos: 0,
            joined: Vec::new(),
        };
        ring.pos = view(&ring.consumer, &ring.producer, page, size)
            .consumer
            .load(Ordering::Acquire);
        Ok(ring)
    }

    /// Hands up to `budget` records to `each`, oldest first, giving each one's room back to
    /// the kernel once handed; true when nothing more was there to read.
    pub fn read(&mut self, budget: usize, each: impl FnMut(&[u8])) -> Result<bool, RingError> {
        let Ring {
            consumer,
            producer,
            page,
            size,
            pos,
            joined,
            ..
        } = self;
        walk(
            &view(consumer, producer, *page, *size),
            pos,
            joined,
            budget,
            each,
        )
    }
}

/// The shared memory of a ring whose consumer page is `consumer` and whose producer page,
/// followed by `size` bytes of data, is `producer`.
fn view<'a>(consumer: &'a Mapping, producer: &'a Mapping, page: usize, size: usize) -> View<'a> {
    // SAFETY: both mappings outlive the view and are page-aligned; each position is an
    // unsigned long at the start of its page; the data is the `size` bytes after the
    // producer's page, inside its mapping (`page + size` bytes long).
    unsafe {
        View {
            consumer: &*consumer.ptr.as_ptr().cast::<AtomicUsize>(),
            producer: &*producer.ptr.as_ptr().cast::<AtomicUsize>(),
            data: NonNull::new_unchecked(producer.ptr.as_ptr().add(page)),
            size,
            life: PhantomData,
        }
    }
}

impl AsRawFd for Ring {
    fn as_raw_fd(&self) -> RawFd {
        self.map.fd().as_fd().as_raw_fd()
    }
}

/// A ring's shared memory: the two positions and the data, `size` bytes (a power of two, at
/// least a page) that stay valid for `'a`. The kernel writes the data while we read it, so it
/// is held as a pointer: headers are read as atomics, and a slice is made only of a committed
/// record's bytes, which the kernel leaves alone until their room is given back.
struct View<'a> {
    consumer: &'a AtomicUsize,
    producer: &'a AtomicUsize,
    data: NonNull<u8>,
    size: usize,
    life: PhantomData<&'a [u8]>,
}

impl View<'_> {
    /// The header at `offset`, an 8-byte-aligned offset below `size`.
    fn header(&self, offset: usize) -> u32 {
        debug_assert!(offset.is_multiple_of(8) && offset + HEADER <= self.size);
        // SAFETY: in bounds (above) and aligned: the data is page-aligned and offset is a
        // multiple of 8; the kernel writes it only atomically.
        let header = unsafe { &*self.data.as_ptr().add(offset).cast::<AtomicU32>() };
        header.load(Ordering::Acquire)
    }

    /// The committed bytes `start..start + len` of the data (`start < size`, `len <= size`):
    /// one slice, or when they wrap the end its two parts joined in `joined`.
    fn record<'b>(&'b self, start: usize, len: usize, joined: &'b mut Vec<u8>) -> &'b [u8] {
        let first = len.min(self.size - start);
        // SAFETY: both parts lie in the data, and the record is committed and not yet given
        // back, so nothing writes them while the slices live (they end with this call's
        // borrow of `self`, before `walk` gives the room back).
        let part = |at: usize, n: usize| unsafe {
            std::slice::from_raw_parts(self.data.as_ptr().add(at), n)
        };
        if first == len {
            return part(start, len);
        }
        joined.clear();
        joined.extend_from_slice(part(start, first));
        joined.extend_from_slice(part(0, len - first));
        joined
    }
}

/// The records from `*pos` on (see [`Ring::read`]), `*pos` and the kernel's consumer position
/// moved past each one handed or discarded.
fn walk(
    view: &View<'_>,
    pos: &mut usize,
    joined: &mut Vec<u8>,
    budget: usize,
    mut each: impl FnMut(&[u8]),
) -> Result<bool, RingError> {
    let size = view.size;
    let mask = size - 1;
    let mut producer = view.producer.load(Ordering::Acquire);
    let mut handed = 0;
    loop {
        if *pos == producer {
            // A commit without wake-up flags wakes the reader only if the consumer position
            // it reads then is that record's: ours must be visible before we look again, or
            // a record committed in between would wake nobody. (exitwatch's programs pass
            // explicit flags, see `wake`, and the reader looks again after
            // `wake::FOLLOW_UP_MS`; this keeps the protocol whole regardless.)
            fence(Ordering::SeqCst);
            producer = view.producer.load(Ordering::Acquire);
            if *pos == producer {
                return Ok(true);
            }
        }
        if handed == budget {
            return Ok(false);
        }
        let offset = *pos & mask;
        let mut header = view.header(offset);
        if header & BUSY != 0 {
            // Reserved, not committed: nothing after it may be read before it. As above, our
            // position must be visible before the last look, for its commit to wake us.
            fence(Ordering::SeqCst);
            header = view.header(offset);
            if header & BUSY != 0 {
                return Ok(true);
            }
        }
        let len = (header & !(BUSY | DISCARD)) as usize;
        let total = (len + HEADER).next_multiple_of(8);
        if total > size || total > producer.wrapping_sub(*pos) {
            return Err(RingError::Layout {
                len,
                pos: *pos,
                size,
            });
        }
        if header & DISCARD == 0 {
            each(view.record((offset + HEADER) & mask, len, joined));
            handed += 1;
        }
        *pos = pos.wrapping_add(total);
        view.consumer.store(*pos, Ordering::Release);
    }
}

/// One `mmap` of the ring's descriptor, unmapped when dropped.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(fd: BorrowedFd<'_>, len: usize, prot: libc::c_int, offset: usize) -> io::Result<Self> {
        // SAFETY: a new shared mapping of a descriptor we hold; the kernel checks the length
        // and offset against the ring.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once; nothing borrows it past the Ring.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

// SAFETY: the mappings are plain shared memory, reached only through &mut Ring or &Ring's
// atomics; the Ring moves between threads as a whole.
unsafe impl Send for Ring {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring in ordinary memory, written the way the kernel writes one.
    struct Fake {
        consumer: AtomicUsize,
        producer: AtomicUsize,
        words: Vec<u64>,
        /// Records written across the end of the data.
        wrapped: usize,
        /// Where each record that is not discarded starts.
        kept_at: Vec<usize>,
    }

    impl Fake {
        fn new(size: usize) -> Self {
            Fake {
                consumer: AtomicUsize::new(0),
                producer: AtomicUsize::new(0),
                words: vec![0; size / 8],
                wrapped: 0,
                kept_at: Vec::new(),
            }
        }

        fn size(&self) -> usize {
            self.words.len() * 8
        }

        fn bytes(&mut self) -> &mut [u8] {
            let len = self.size();
            // SAFETY: the u64s' own bytes.
            unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast(), len) }
        }

        /// Writes a record of `payload` at the producer position, with header flags `flags`.
        fn put(&mut self, payload: &[u8], flags: u32) {
            let pos = self.producer.load(Ordering::Relaxed);
            let size = self.size();
            let mask = size - 1;
            let data = self.bytes();
            let header = (payload.len() as u32 | flags).to_le_bytes();
            data[pos & mask..(pos & mask) + 4].copy_from_slice(&header);
            for (i, b) in payload.iter().enumerate() {
                data[(pos + HEADER + i) & mask] = *b;
            }
            let total = (payload.len() + HEADER).next_multiple_of(8);
            if (pos & mask) + HEADER + payload.len() > size {
                self.wrapped += 1;
            }
            if flags & DISCARD == 0 {
                self.kept_at.push(pos);
            }
            self.producer.store(pos + total, Ordering::Release);
        }

        fn view(&self) -> View<'_> {
            View {
                consumer: &self.consumer,
                producer: &self.producer,
                data: NonNull::new(self.words.as_ptr().cast_mut().cast()).unwrap(),
                size: self.size(),
                life: PhantomData,
            }
        }

        /// What a read of at most `budget` records hands on, and whether it caught up; each
        /// record's room must still be held while it is handed on.
        fn read(&self, pos: &mut usize, budget: usize) -> (Vec<Vec<u8>>, bool) {
            let mut got = Vec::new();
            let kept: Vec<usize> = self
                .kept_at
                .iter()
                .copied()
                .filter(|&p| p >= *pos)
                .collect();
            let done = walk(&self.view(), pos, &mut Vec::new(), budget, |r| {
                assert_eq!(
                    self.consumer.load(Ordering::Relaxed),
                    kept[got.len()],
                    "a record's room is given back only after it is handed on"
                );
                got.push(r.to_vec())
            })
            .unwrap();
            (got, done)
        }
    }

    fn payload(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| seed.wrapping_add(i as u8)).collect()
    }

    #[test]
    fn records_come_out_whole_in_order_including_those_that_wrap_the_end() {
        let mut fake = Fake::new(256);
        let mut pos = 0;
        // Fill, read, and go round several times with lengths that are not multiples of 8, so
        // records start and end everywhere, some across the end of the data.
        for round in 0..50u8 {
            let sent: Vec<Vec<u8>> = (0..3)
                .map(|i| payload(13 + 11 * i + round as usize % 7, round))
                .collect();
            for p in &sent {
                fake.put(p, 0);
            }
            let (got, done) = fake.read(&mut pos, 100);
            assert_eq!(got, sent, "round {round}");
            assert!(done);
            assert_eq!(pos, fake.producer.load(Ordering::Relaxed));
            assert_eq!(
                fake.consumer.load(Ordering::Relaxed),
                pos,
                "room given back"
            );
        }
        assert!(
            fake.wrapped >= 5,
            "records wrapped the end: {}",
            fake.wrapped
        );
    }

    #[test]
    fn discarded_records_are_skipped_their_room_given_back_and_not_counted_in_the_budget() {
        let mut fake = Fake::new(128);
        let mut pos = 0;
        fake.put(b"dropped", DISCARD);
        fake.put(b"kept", 0);
        fake.put(b"dropped too", DISCARD);
        fake.put(b"kept too", 0);
        let (got, done) = fake.read(&mut pos, 2);
        assert_eq!(got, [b"kept".to_vec(), b"kept too".to_vec()]);
        assert!(done);
        assert_eq!(fake.consumer.load(Ordering::Relaxed), 16 + 16 + 24 + 16);
    }

    #[test]
    fn a_busy_record_stops_the_read_until_it_is_committed() {
        let mut fake = Fake::new(128);
        let mut pos = 0;
        fake.put(b"first", 0);
        fake.put(b"reserved", BUSY);
        fake.put(b"after", 0);
        let (got, done) = fake.read(&mut pos, 10);
        assert_eq!(got, [b"first".to_vec()]);
        assert!(
            done,
            "caught up: the commit or the follow-up brings the reader back"
        );
        assert_eq!(pos, 16);
        // The kernel commits it: clears the busy bit.
        fake.bytes()[16 + 3] &= !0x80;
        let (got, _) = fake.read(&mut pos, 10);
        assert_eq!(got, [b"reserved".to_vec(), b"after".to_vec()]);
    }

    #[test]
    fn the_budget_bounds_a_read_and_says_more_is_there() {
        let mut fake = Fake::new(256);
        let mut pos = 0;
        for i in 0..5 {
            fake.put(&payload(9, i), 0);
        }
        let (got, done) = fake.read(&mut pos, 0);
        assert_eq!(
            (got.len(), done),
            (0, false),
            "budget 0 on a ring holding records"
        );
        let (got, done) = fake.read(&mut pos, 3);
        assert_eq!((got.len(), done), (3, false));
        let (got, done) = fake.read(&mut pos, 3);
        assert_eq!((got.len(), done), (2, true));
        let (got, done) = fake.read(&mut pos, 0);
        assert_eq!(
            (got.len(), done),
            (0, true),
            "an empty ring is caught up even at budget 0"
        );
    }

    #[test]
    fn a_header_claiming_more_than_is_there_is_an_error_not_a_wild_read() {
        // More than the ring, and more than is queued (within the ring).
        for (claim, size) in [(200u32, 128), (40, 128)] {
            let mut fake = Fake::new(size);
            let mut pos = 0;
            fake.put(b"x", 0);
            fake.bytes()[..4].copy_from_slice(&claim.to_le_bytes());
            let err = walk(&fake.view(), &mut pos, &mut Vec::new(), 10, |_| {}).unwrap_err();
            assert!(
                matches!(err, RingError::Layout { len, .. } if len == claim as usize),
                "{err}"
            );
            assert_eq!((pos, fake.consumer.load(Ordering::Relaxed)), (0, 0));
        }
    }
}
