//! The primitives of the keyed link, each used in one place: the handshake MAC, the key
//! schedule, the viewer's stateless cookie, sealing and opening one datagram, and the replay
//! window. All of the cryptography is RustCrypto's; nothing here is a primitive of our own.

use std::net::SocketAddr;

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::protocol::key::Key;

/// Bytes of a handshake MAC and of an AEAD tag.
pub const TAG_LEN: usize = 16;
/// Bytes of each side's handshake nonce.
pub const NONCE_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as hmac::KeyInit>::new_from_slice(key).expect("HMAC takes any key length")
}

/// The keys derived once from the shared key.
#[derive(Clone)]
pub struct Master {
    master: Zeroizing<[u8; 32]>,
    hello: Zeroizing<[u8; 32]>,
}

impl Master {
    /// The handshake key and the master for traffic keys.
    pub fn new(key: &Key) -> Master {
        let hk = Hkdf::<Sha256>::new(None, key.as_bytes());
        let mut hello = Zeroizing::new([0u8; 32]);
        hk.expand(b"camwire v2 handshake", hello.as_mut())
            .expect("32 bytes is a valid HKDF length");
        Master {
            master: Zeroizing::new(*key.as_bytes()),
            hello,
        }
    }

    /// The MAC of a handshake datagram's bytes before the MAC.
    pub fn hello_mac(&self, bytes: &[u8]) -> [u8; TAG_LEN] {
        let mut m = hmac(self.hello.as_ref());
        m.update(bytes);
        let full = m.finalize().into_bytes();
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(&full[..TAG_LEN]);
        t
    }

    /// Checks a handshake MAC in constant time.
    pub fn hello_mac_ok(&self, bytes: &[u8], mac: &[u8]) -> bool {
        let mut m = hmac(self.hello.as_ref());
        m.update(bytes);
        m.verify_truncated_left(mac).is_ok()
    }

    /// The two traffic keys of one handshake: sender to viewer, viewer to sender. Both
    /// nonces are fresh per handshake, so no key (and so no AEAD nonce) is ever used twice
    /// across runs, directions or handshakes.
    pub fn traffic(&self, h: &HandshakeId, viewer_nonce: &[u8; NONCE_LEN]) -> (Aead, Aead) {
        let mut salt = [0u8; 4 + 4 + NONCE_LEN * 2];
        salt[..4].copy_from_slice(&h.session.to_be_bytes());
        salt[4..8].copy_from_slice(&h.handshake.to_be_bytes());
        salt[8..24].copy_from_slice(&h.sender_nonce);
        salt[24..].copy_from_slice(viewer_nonce);
        let hk = Hkdf::<Sha256>::new(Some(&salt), self.master.as_ref());
        let mut s2v = Zeroizing::new([0u8; 32]);
        let mut v2s = Zeroizing::new([0u8; 32]);
        hk.expand(b"camwire v2 sender to viewer", s2v.as_mut())
            .expect("valid length");
        hk.expand(b"camwire v2 viewer to sender", v2s.as_mut())
            .expect("valid length");
        (Aead::new(&s2v), Aead::new(&v2s))
    }
}

/// What names one handshake of one sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeId {
    /// The sender's session.
    pub session: u32,
    /// The sender's count of its handshakes in this session: a later one replaces an
    /// earlier one, never the other way round.
    pub handshake: u32,
    /// The sender's fresh random nonce.
    pub sender_nonce: [u8; NONCE_LEN],
}

/// The viewer's random secret for its stateless handshake answers.
pub struct CookieSecret(Zeroizing<[u8; 32]>);

impl CookieSecret {
    /// A fresh random secret.
    pub fn generate() -> CookieSecret {
        let mut s = Zeroizing::new([0u8; 32]);
        fill_random(s.as_mut());
        CookieSecret(s)
    }

    /// The viewer's nonce for a handshake from `from`: computed again, not stored, when the
    /// sender's first sealed datagram arrives, so that a hello leaves no state behind.
    pub fn viewer_nonce(&self, h: &HandshakeId, from: SocketAddr) -> [u8; NONCE_LEN] {
        let mut m = hmac(self.0.as_ref());
        m.update(&h.session.to_be_bytes());
        m.update(&h.handshake.to_be_bytes());
        m.update(&h.sender_nonce);
        match from {
            SocketAddr::V4(a) => m.update(&a.ip().octets()),
            SocketAddr::V6(a) => m.update(&a.ip().octets()),
        }
        m.update(&from.port().to_be_bytes());
        let full = m.finalize().into_bytes();
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(&full[..NONCE_LEN]);
        n
    }
}

/// Fills `buf` from the operating system's random source.
///
/// # Panics
/// If the OS has no random source: nothing safe can be done without one.
pub fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random source failed");
}

/// One direction's AEAD: ChaCha20-Poly1305 with the 96-bit nonce `0u32 ‖ counter`.
#[derive(Clone)]
pub struct Aead(ChaCha20Poly1305);

impl Aead {
    fn new(key: &[u8; 32]) -> Aead {
        Aead(ChaCha20Poly1305::new(key.into()))
    }

    fn nonce(counter: u64) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&counter.to_be_bytes());
        n
    }

    /// Encrypts `buf` in place under `counter`, authenticating `ad` too; returns the tag.
    pub fn seal(&self, counter: u64, ad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        let tag = self
            .0
            .encrypt_inout_detached(&Self::nonce(counter).into(), ad, buf.into())
            .expect("a datagram is far below ChaCha20's length limit");
        tag.into()
    }

    /// Decrypts `buf` in place if `tag` matches; leaves it unusable otherwise.
    pub fn open(&self, counter: u64, ad: &[u8], buf: &mut [u8], tag: &[u8]) -> bool {
        let Ok(tag) = <[u8; TAG_LEN]>::try_from(tag) else {
            return false;
        };
        self.0
            .decrypt_inout_detached(&Self::nonce(counter).into(), ad, buf.into(), &tag.into())
            .is_ok()
    }
}

/// Counters the replay window remembers below the highest one seen.
pub const REPLAY_WINDOW: u64 = 2048;

/// An RFC 4303-style sliding window over the counters of one direction, checked only after
/// the tag: a forged counter must not move it.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    /// One more than the highest counter accepted (0: none yet).
    next: u64,
    /// Bit `c % REPLAY_WINDOW` is set when counter `c` (within the window) was accepted.
    bits: [u64; (REPLAY_WINDOW / 64) as usize],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            next: 0,
            bits: [0; (REPLAY_WINDOW / 64) as usize],
        }
    }
}

impl ReplayWindow {
    fn bit(c: u64) -> (usize, u64) {
        let i = c % REPLAY_WINDOW;
        ((i / 64) as usize, 1 << (i % 64))
    }

    /// True if `counter` is new and within the window; marks it seen.
    pub fn accept(&mut self, counter: u64) -> bool {
        if counter == u64::MAX {
            // Never sealed (see `MAX_COUNTER`), and `next` could not go past it.
            return false;
        }
        if counter >= self.next {
            // Clear the slots between the old top and the new one: they are now the newest
            // part of the window and were never seen.
            let gap = counter - self.next;
            if gap >= REPLAY_WINDOW {
                self.bits = [0; (REPLAY_WINDOW / 64) as usize];
            } else {
                for c in self.next..counter {
                    let (w, b) = Self::bit(c);
                    self.bits[w] &= !b;
                }
            }
            let (w, b) = Self::bit(counter);
            self.bits[w] |= b;
            self.next = counter + 1;
            return true;
        }
        if self.next - counter > REPLAY_WINDOW {
            return false;
        }
        let (w, b) = Self::bit(counter);
        if self.bits[w] & b != 0 {
            return false;
        }
        self.bits[w] |= b;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_window_takes_each_counter_once_in_any_order_inside_it() {
        let mut w = ReplayWindow::default();
        assert!(w.accept(5));
        assert!(!w.accept(5));
        assert!(w.accept(3));
        assert!(w.accept(4));
        assert!(!w.accept(3));
        assert!(w.accept(0));
        // A jump past the window forgets everything below it.
        assert!(w.accept(5 + REPLAY_WINDOW + 10));
        assert!(!w.accept(5), "far behind the window");
        assert!(w.accept(5 + 20), "inside the window and never seen");
        assert!(!w.accept(5 + 20));
        assert!(w.accept(u64::MAX - 1));
        assert!(!w.accept(u64::MAX - 1));
        assert!(!w.accept(u64::MAX));
    }

    #[test]
    fn replay_window_slots_are_reused_as_it_slides() {
        let mut w = ReplayWindow::default();
        for c in 0..REPLAY_WINDOW * 3 {
            assert!(w.accept(c), "{c}");
        }
        for c in REPLAY_WINDOW * 2..REPLAY_WINDOW * 3 {
            assert!(!w.accept(c), "{c}");
        }
        // Skipped counters inside the window stay acceptable once.
        let top = REPLAY_WINDOW * 3;
        assert!(w.accept(top + 100));
        assert!(w.accept(top + 50));
        assert!(!w.accept(top + 50));
    }

    #[test]
    fn aead_needs_the_same_key_counter_and_header() {
        let m = Master::new(&Key::from_bytes([1; 32]));
        let h = HandshakeId {
            session: 7,
            handshake: 0,
            sender_nonce: [2; 16],
        };
        let (s2v, v2s) = m.traffic(&h, &[3; 16]);
        let mut buf = *b"a secret picture";
        let tag = s2v.seal(9, b"header", &mut buf);
        assert_ne!(&buf, b"a secret picture");
        for (c, ad) in [(10, &b"header"[..]), (9, b"headeR")] {
            let mut b = buf;
            assert!(!s2v.open(c, ad, &mut b, &tag));
        }
        let mut b = buf;
        assert!(
            !v2s.open(9, b"header", &mut b, &tag),
            "the other direction's key"
        );
        assert!(s2v.open(9, b"header", &mut buf, &tag));
        assert_eq!(&buf, b"a secret picture");
    }
}
