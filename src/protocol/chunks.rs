//! The bytes of one frame or one message while its chunks arrive, in any order and with
//! duplicates: the one piece of reassembly that frames ([`crate::protocol::reassembly`]) and
//! messages ([`crate::protocol::message`]) share. What to do with a whole buffer (CRC, JSON,
//! NACKs) stays with them.

use std::ops::Range;

use fixedbitset::FixedBitSet;

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

/// A buffer of `count` chunks that fills as they arrive. Zeroed up front, so that bytes of a
/// missing chunk can never leak from a reused buffer's previous contents.
#[derive(Debug)]
pub struct ChunkBuffer {
    data: Vec<u8>,
    have: FixedBitSet,
    missing: usize,
}

impl ChunkBuffer {
    /// A buffer of `len` bytes in `count` chunks, reusing `data`'s allocation.
    pub fn new(mut data: Vec<u8>, len: usize, count: usize) -> Self {
        data.clear();
        data.resize(len, 0);
        ChunkBuffer {
            data,
            have: FixedBitSet::with_capacity(count),
            missing: count,
        }
    }

    /// Stores chunk `index`, whose bytes belong at `range` (the caller has checked that
    /// `payload` is exactly that long and `index` is below the count).
    pub fn put(&mut self, index: usize, range: Range<usize>, payload: &[u8]) -> Put {
        if self.have.put(index) {
            return Put::Duplicate;
        }
        self.data[range].copy_from_slice(payload);
        self.missing -= 1;
        if self.missing == 0 {
            Put::Complete
        } else {
            Put::Stored
        }
    }

    /// True when chunk `index` has arrived.
    pub fn has(&self, index: usize) -> bool {
        self.have.contains(index)
    }

    /// Bytes held, whether filled or not.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True for a zero-length buffer.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The bytes (whole once [`Put::Complete`] was returned).
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_in_any_order_once() {
        let mut b = ChunkBuffer::new(vec![9; 100], 6, 3);
        assert_eq!(b.len(), 6);
        assert_eq!(b.put(2, 4..6, b"ef"), Put::Stored);
        assert_eq!(b.put(2, 4..6, b"XX"), Put::Duplicate);
        assert!(b.has(2) && !b.has(0));
        assert_eq!(b.put(0, 0..2, b"ab"), Put::Stored);
        assert_eq!(b.put(1, 2..4, b"cd"), Put::Complete);
        assert_eq!(b.into_data(), b"abcdef");
    }

    #[test]
    fn a_reused_buffer_never_shows_old_bytes() {
        let mut b = ChunkBuffer::new(vec![0xAA; 10], 4, 2);
        b.put(1, 2..4, b"zz");
        assert_eq!(b.into_data(), [0, 0, b'z', b'z']);
    }
}
