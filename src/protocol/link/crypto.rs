//! The primitives of the keyed link, each used in one place: the handshake MAC, the key
//! schedule, the viewer's stateless cookie, sealing and opening one datagram, and the replay
//! window. The cryptography is `ring`'s (HMAC-SHA256, HKDF-SHA256, ChaCha20-Poly1305 with its
//! assembly: 1.4 GB/s against 0.35 GB/s for RustCrypto's pure-Rust `chacha20poly1305` on
//! this project's test machine, 1200-byte datagrams); nothing here is a primitive of our own.

use std::net::SocketAddr;

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use ring::{hkdf, hmac};
use zeroize::Zeroizing;

use crate::protocol::key::Key;

/// Bytes of an AEAD tag.
pub const TAG_LEN: usize = 16;
/// Bytes of a handshake MAC: a whole HMAC-SHA256, checked in constant time by `ring`.
pub const MAC_LEN: usize = 32;
/// Bytes of each side's handshake nonce.
pub const NONCE_LEN: usize = 16;

/// An output length for `ring`'s HKDF.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256 (RFC 5869) of `ikm` with `salt` and `info`, 32 bytes.
fn hkdf32(salt: &[u8], ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    hkdf::Salt::new(hkdf::HKDF_SHA256, salt)
        .extract(ikm)
        .expand(&[info], Len(32))
        .and_then(|okm| okm.fill(out.as_mut()))
        .expect("32 bytes is a valid HKDF-SHA256 length");
    out
}

/// The keys derived once from the shared key.
#[derive(Clone)]
pub struct Master {
    master: Zeroizing<[u8; 32]>,
    hello: hmac::Key,
}

impl Master {
    /// The handshake key and the master for traffic keys.
    pub fn new(key: &Key) -> Master {
        // An empty salt is HMAC's all-zero key, as RFC 5869 says for "no salt".
        let hello = hkdf32(&[], key.as_bytes(), b"camwire v2 handshake");
        Master {
            master: Zeroizing::new(*key.as_bytes()),
            hello: hmac::Key::new(hmac::HMAC_SHA256, hello.as_ref()),
        }
    }

    /// The MAC of a handshake datagram's bytes before the MAC.
    pub fn hello_mac(&self, bytes: &[u8]) -> [u8; MAC_LEN] {
        let mut t = [0u8; MAC_LEN];
        t.copy_from_slice(hmac::sign(&self.hello, bytes).as_ref());
        t
    }

    /// Checks a handshake MAC in constant time.
    pub fn hello_mac_ok(&self, bytes: &[u8], mac: &[u8]) -> bool {
        hmac::verify(&self.hello, bytes, mac).is_ok()
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
        let s2v = hkdf32(&salt, self.master.as_ref(), b"camwire v2 sender to viewer");
        let v2s = hkdf32(&salt, self.master.as_ref(), b"camwire v2 viewer to sender");
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
pub struct CookieSecret(hmac::Key);

impl CookieSecret {
    /// A fresh random secret.
    pub fn generate() -> CookieSecret {
        let mut s = Zeroizing::new([0u8; 32]);
        fill_random(s.as_mut());
        CookieSecret(hmac::Key::new(hmac::HMAC_SHA256, s.as_ref()))
    }

    /// The viewer's nonce for a handshake from `from`: computed again, not stored, when the
    /// sender's first sealed datagram arrives, so that a hello leaves no state behind.
    pub fn viewer_nonce(&self, h: &HandshakeId, from: SocketAddr) -> [u8; NONCE_LEN] {
        let mut m = hmac::Context::with_key(&self.0);
        m.update(&h.session.to_be_bytes());
        m.update(&h.handshake.to_be_bytes());
        m.update(&h.sender_nonce);
        match from {
            SocketAddr::V4(a) => m.update(&a.ip().octets()),
            SocketAddr::V6(a) => m.update(&a.ip().octets()),
        }
        m.update(&from.port().to_be_bytes());
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(&m.sign().as_ref()[..NONCE_LEN]);
        n
    }
}

/// The token that opens `cam-view --http` to browsers when a key is configured: HKDF of the
/// key under a label of its own, 16 bytes as 32 hex digits, so it tells nothing of the key or
/// of any stream key, and every viewer with the same key prints the same link.
pub struct WebToken {
    text: String,
    // A presented token is checked by HMAC under a random key against the tag of the real
    // one, which `ring` compares in constant time: no timing says how many digits matched.
    check: hmac::Key,
    tag: hmac::Tag,
}

impl WebToken {
    /// The token for `key`.
    pub fn new(key: &Key) -> WebToken {
        let okm = hkdf32(&[], key.as_bytes(), b"camwire web token");
        let text: String = okm[..16].iter().map(|b| format!("{b:02x}")).collect();
        let mut s = Zeroizing::new([0u8; 32]);
        fill_random(s.as_mut());
        let check = hmac::Key::new(hmac::HMAC_SHA256, s.as_ref());
        let tag = hmac::sign(&check, text.as_bytes());
        WebToken { text, check, tag }
    }

    /// The token as it goes in a link (`?token=...`) or a cookie.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `presented` is the token.
    pub fn matches(&self, presented: &[u8]) -> bool {
        hmac::verify(&self.check, presented, self.tag.as_ref()).is_ok()
    }
}

impl std::fmt::Debug for WebToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebToken(..)")
    }
}

/// Fills `buf` from the operating system's random source.
///
/// # Panics
/// If the OS has no random source: nothing safe can be done without one.
pub fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random source failed");
}

/// One direction's AEAD: ChaCha20-Poly1305 (RFC 8439) with the 96-bit nonce
/// `0u32 ‖ counter`.
pub struct Aead(LessSafeKey);

impl Aead {
    fn new(key: &[u8; 32]) -> Aead {
        let k = UnboundKey::new(&CHACHA20_POLY1305, key).expect("a 32-byte key");
        Aead(LessSafeKey::new(k))
    }

    fn nonce(counter: u64) -> Nonce {
        let mut n = [0u8; aead::NONCE_LEN];
        n[4..].copy_from_slice(&counter.to_be_bytes());
        // Unique: one key per direction and handshake, and a counter that never repeats.
        Nonce::assume_unique_for_key(n)
    }

    /// Encrypts `buf` in place under `counter`, authenticating `ad` too; returns the tag.
    pub fn seal(&self, counter: u64, ad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        let tag = self
            .0
            .seal_in_place_separate_tag(Self::nonce(counter), Aad::from(ad), buf)
            .expect("a datagram is far below ChaCha20's length limit");
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(tag.as_ref());
        t
    }

    /// Decrypts `buf` (ciphertext then tag) in place if the tag matches; returns the
    /// plaintext's length. `buf` is unusable otherwise.
    pub fn open(&self, counter: u64, ad: &[u8], buf: &mut [u8]) -> Option<usize> {
        self.0
            .open_in_place(Self::nonce(counter), Aad::from(ad), buf)
            .ok()
            .map(|p| p.len())
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
        let sealed: Vec<u8> = buf.iter().chain(&tag).copied().collect();
        for (c, ad) in [(10, &b"header"[..]), (9, b"headeR")] {
            assert_eq!(s2v.open(c, ad, &mut sealed.clone()), None);
        }
        assert_eq!(
            v2s.open(9, b"header", &mut sealed.clone()),
            None,
            "the other direction's key"
        );
        let mut b = sealed.clone();
        assert_eq!(s2v.open(9, b"header", &mut b), Some(16));
        assert_eq!(&b[..16], b"a secret picture");
    }
}
