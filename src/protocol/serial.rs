//! Serial-number arithmetic (RFC 1982) on 32 bits, the one comparison every `seq` in the
//! protocol uses (frames and messages alike; `docs/PROTOCOL.md` section 9.5), so that
//! sequence numbers may wrap.

/// True when `a` comes before `b`: `a ≠ b` and `(b − a) mod 2³² < 2³¹`. Two values exactly
/// 2³¹ apart are neither before nor after each other.
pub fn before(a: u32, b: u32) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_is_undefined_at_half_the_space() {
        assert!(before(1, 2));
        assert!(!before(2, 1));
        assert!(!before(5, 5));
        assert!(before(u32::MAX, 0), "0 follows the wrap");
        assert!(!before(0, u32::MAX));
        assert!(before(0, 0x7FFF_FFFF));
        // Exactly 2^31 apart: neither is before the other, in either order.
        assert!(!before(0, 0x8000_0000));
        assert!(!before(0x8000_0000, 0));
        assert!(!before(7, 7u32.wrapping_add(0x8000_0000)));
    }
}
