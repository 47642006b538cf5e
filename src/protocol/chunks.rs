//! The bytes of one frame or one message while its chunks arrive, in any order and with
//! duplicates: the one piece of reassembly that frames ([`crate::protocol::reassembly`]) and
//! messages ([`crate::protocol::message`]) share. What to do with a whole buffer (CRC, JSON,
//! NACKs) stays with them.
//!
//! Memory follows what arrived, never what was announced: a chunk is one datagram, but the
//! length and count in its header are only claims. A chunk claiming a 16 MiB frame of 65,535
//! chunks costs its own payload and a few bytes of bookkeeping, not 16 MiB, so no datagram
//! costs the viewer memory or CPU out of proportion to its size.

use std::ops::Range;

/// What one chunk did to a [`ChunkBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// New bytes stored; chunks are still missing.
    Stored,
    /// This chunk was already there: nothing changed.
    Duplicate,
    /// New bytes stored, and now every chunk is there.
    Complete,
}

/// A buffer of `len` bytes in `count` balanced chunks (every chunk but the last
/// `ceil(len / count)` bytes long, as [`crate::protocol::wire::FrameInfo::chunk_range`] cuts
/// them) that fills as they arrive.
///
/// Payloads are kept in arrival order, each in a slot of the common chunk length (the short
/// last chunk padded), so the buffer grows with the chunks that came and never holds a byte
/// that did not: nothing is zero-filled up front, and nothing of a reused buffer's previous
/// contents can show. When the last chunk arrives, the slots are put in index order in place
/// (no second buffer), so a recycled allocation becomes the whole frame.
#[derive(Debug)]
pub struct ChunkBuffer {
    /// Slot `k` (`stride` bytes from `k * stride`) holds chunk `order[k]`.
    data: Vec<u8>,
    /// The chunk index of each slot, in arrival order.
    order: Vec<u32>,
    /// Which chunks are here: `(i / 64, bits)` for each run of 64 indices that has at least
    /// one chunk, sorted, bit `i % 64` set for chunk `i`. At most one entry per chunk that
    /// arrived (and at most 1,024 for a 65,535-chunk frame), searched by bisection.
    have: Vec<(u32, u64)>,
    len: usize,
    count: usize,
    /// The length of every chunk but the last.
    stride: usize,
}

impl ChunkBuffer {
    /// A buffer of `len` bytes in `count` chunks, reusing `data`'s allocation. Nothing is
    /// allocated or written for the announced size: it is only a claim until chunks arrive.
    pub fn new(mut data: Vec<u8>, len: usize, count: usize) -> Self {
        data.clear();
        ChunkBuffer {
            data,
            order: Vec::new(),
            have: Vec::new(),
            len,
            count,
            stride: if count == 0 { 0 } else { len.div_ceil(count) },
        }
    }

    /// Stores chunk `index`, whose bytes belong at `range` (the caller has checked that
    /// `payload` is exactly that long and `index` is below the count).
    pub fn put(&mut self, index: usize, range: Range<usize>, payload: &[u8]) -> Put {
        debug_assert!(index < self.count, "chunk {index} of {}", self.count);
        debug_assert_eq!(range.start, index * self.stride, "balanced chunks only");
        debug_assert!(range.len() == payload.len() && payload.len() <= self.stride);
        if !self.mark(index) {
            return Put::Duplicate;
        }
        let start = self.data.len();
        let end = start + self.stride;
        if end > self.data.capacity() {
            // Amortised growth, never past the whole frame (so never past the frame limit).
            let want = end
                .max(self.data.capacity() * 2)
                .min(self.count * self.stride);
            self.data.reserve_exact(want - start);
        }
        self.data
            .extend_from_slice(&payload[..payload.len().min(self.stride)]);
        // Only the last chunk is shorter: its slot is padded, and the padding cut at the end.
        self.data.resize(end, 0);
        self.order.push(index as u32);
        if self.order.len() == self.count {
            Put::Complete
        } else {
            Put::Stored
        }
    }

    /// Records chunk `index` as here; false if it already was.
    fn mark(&mut self, index: usize) -> bool {
        let (block, bit) = ((index / 64) as u32, 1u64 << (index % 64));
        match self.have.binary_search_by_key(&block, |&(b, _)| b) {
            Ok(i) => {
                let bits = &mut self.have[i].1;
                let new = *bits & bit == 0;
                *bits |= bit;
                new
            }
            Err(i) => {
                self.have.insert(i, (block, bit));
                true
            }
        }
    }

    /// True when chunk `index` has arrived.
    pub fn has(&self, index: usize) -> bool {
        let block = (index / 64) as u32;
        match self.have.binary_search_by_key(&block, |&(b, _)| b) {
            Ok(i) => self.have[i].1 & (1u64 << (index % 64)) != 0,
            Err(_) => false,
        }
    }

    /// Chunks stored so far.
    pub fn chunks_held(&self) -> usize {
        self.order.len()
    }

    /// Bytes of payload stored so far (the short last chunk counted padded).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True before the first chunk.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Heap bytes this buffer holds: its allocations, which grow with the chunks that arrived
    /// (a reused buffer keeps the allocation it came with).
    pub fn held(&self) -> usize {
        self.data.capacity()
            + self.order.capacity() * std::mem::size_of::<u32>()
            + self.have.capacity() * std::mem::size_of::<(u32, u64)>()
    }

    /// The frame's bytes once [`Put::Complete`] was returned; before that, an empty buffer
    /// that keeps its allocation for reuse (a partial frame has no bytes worth reading).
    pub fn into_data(self) -> Vec<u8> {
        let ChunkBuffer {
            mut data,
            mut order,
            len,
            count,
            stride,
            ..
        } = self;
        if order.len() != count {
            data.clear();
            return data;
        }
        // `order` is a permutation of 0..count: follow its cycles, each swap putting one
        // chunk in its final slot, so at most count - 1 swaps and 2 * len bytes moved.
        for k in 0..count {
            while order[k] as usize != k {
                let j = order[k] as usize;
                let (lo, hi) = (k.min(j), k.max(j));
                let (a, b) = data.split_at_mut(hi * stride);
                a[lo * stride..(lo + 1) * stride].swap_with_slice(&mut b[..stride]);
                order.swap(k, j);
            }
        }
        data.truncate(len);
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Balanced ranges, as the wire cuts them.
    fn range(len: usize, count: usize, i: usize) -> Range<usize> {
        let l = len.div_ceil(count);
        (i * l).min(len)..((i + 1) * l).min(len)
    }

    #[test]
    fn fills_in_any_order_once() {
        let mut b = ChunkBuffer::new(vec![9; 100], 6, 3);
        assert!(b.is_empty());
        assert_eq!(b.put(2, 4..6, b"ef"), Put::Stored);
        assert_eq!(b.put(2, 4..6, b"XX"), Put::Duplicate);
        assert!(b.has(2) && !b.has(0) && !b.has(1));
        assert_eq!(b.len(), 2);
        assert_eq!(b.put(0, 0..2, b"ab"), Put::Stored);
        assert_eq!(b.put(1, 2..4, b"cd"), Put::Complete);
        assert_eq!(b.into_data(), b"abcdef");
    }

    #[test]
    fn a_short_last_chunk_arriving_first_is_cut_to_length() {
        let mut b = ChunkBuffer::new(Vec::new(), 7, 3);
        assert_eq!(b.put(2, 6..7, b"g"), Put::Stored);
        assert_eq!(b.put(1, 3..6, b"def"), Put::Stored);
        assert_eq!(b.put(0, 0..3, b"abc"), Put::Complete);
        assert_eq!(b.into_data(), b"abcdefg");
    }

    #[test]
    fn a_reused_buffer_never_shows_old_bytes() {
        // A partial frame given back for reuse is empty, never its chunks in arrival order.
        let mut b = ChunkBuffer::new(vec![0xAA; 10], 4, 2);
        b.put(1, 2..4, b"zz");
        let reused = b.into_data();
        assert!(reused.is_empty() && reused.capacity() >= 10);
        // A frame assembled in a recycled buffer is exactly its own bytes.
        let mut b = ChunkBuffer::new(vec![0xAA; 1000], 4, 2);
        assert_eq!(b.len(), 0, "the old contents are not held as data");
        b.put(1, 2..4, b"zz");
        assert_eq!(b.put(0, 0..2, b"yy"), Put::Complete);
        let whole = b.into_data();
        assert_eq!(whole, b"yyzz");
        assert!(whole.capacity() >= 1000, "the allocation was reused");
    }

    #[test]
    fn a_chunk_claiming_16_mib_holds_its_payload_not_the_claim() {
        // The most chunks a 16 MiB frame can have (the wire's balanced chunking): 257 bytes each.
        let (len, count) = (16 << 20, 65_281);
        let r = range(len, count, 65_000);
        assert_eq!(r.len(), 257);
        let mut b = ChunkBuffer::new(Vec::new(), len, count);
        assert_eq!(b.held(), 0, "nothing for the announcement alone");
        assert_eq!(b.put(65_000, r.clone(), &[7; 257]), Put::Stored);
        assert!(b.held() < 400, "one chunk holds {} bytes", b.held());
        assert!(b.has(65_000) && !b.has(64_999) && !b.has(0));
        // A few hundred chunks, spread out: memory follows them (payload + a few bytes each).
        let mut stored = 1;
        for i in (0..count).step_by(200) {
            if b.put(i, range(len, count, i), &[1; 257]) == Put::Stored {
                stored += 1;
            }
        }
        assert!(
            b.held() <= stored * (2 * 257 + 2 * 4 + 2 * 16),
            "{} chunks hold {} bytes",
            stored,
            b.held()
        );
        assert!(b.held() < 1 << 20);
    }

    #[test]
    fn growth_never_passes_the_whole_frame() {
        let (len, count) = (10_000, 10);
        let mut b = ChunkBuffer::new(Vec::new(), len, count);
        for i in 0..count {
            b.put(i, range(len, count, i), &[i as u8; 1000]);
        }
        assert!(b.held() < len + 200, "{}", b.held());
    }

    proptest! {
        /// Any order, any duplicates, a recycled buffer full of junk: exactly the frame's
        /// bytes, and never more than each arrived chunk's worth of memory before it is whole.
        #[test]
        fn any_order_and_duplicates_give_the_exact_bytes(
            len in 1usize..5000,
            mtu in 1usize..300,
            seed in any::<u64>(),
            dups in 0usize..40,
            junk in 0usize..3000,
        ) {
            // As the wire counts chunks: every chunk at most `mtu` bytes, the last non-empty.
            let count = len.div_ceil(mtu);
            let frame: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(13) ^ seed as u8).collect();
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut order: Vec<usize> = (0..count).collect();
            rng.shuffle(&mut order);
            // Duplicates anywhere except after the completing chunk.
            let last = order.pop().unwrap();
            for _ in 0..dups {
                if !order.is_empty() {
                    let d = order[rng.usize(0..order.len())];
                    order.insert(rng.usize(0..=order.len()), d);
                }
            }
            order.push(last);
            let mut b = ChunkBuffer::new(vec![0xEE; junk], len, count);
            let base = b.held();
            let mut distinct = std::collections::BTreeSet::new();
            let mut done = false;
            for &i in &order {
                let r = range(len, count, i);
                let got = b.put(i, r.clone(), &frame[r]);
                let new = distinct.insert(i);
                prop_assert_eq!(got == Put::Duplicate, !new);
                prop_assert!(b.has(i));
                if distinct.len() == count {
                    prop_assert_eq!(got, Put::Complete);
                    done = true;
                } else {
                    prop_assert!(got != Put::Complete);
                    // Payload slots grow at most twofold; bookkeeping a few bytes a chunk.
                    let stride = len.div_ceil(count);
                    prop_assert!(
                        b.held() <= base.max(2 * distinct.len() * stride) + 64 * (distinct.len() + 4),
                        "{} chunks hold {}", distinct.len(), b.held()
                    );
                }
            }
            prop_assert!(done);
            prop_assert_eq!(b.into_data(), frame);
        }
    }
}
