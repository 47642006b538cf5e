//! The viewer's side of the link: stateless answers to hellos, then one entry per sender
//! that has proved the key with a sealed datagram.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::crypto::{Aead, CookieSecret, HandshakeId, Master, ReplayWindow, NONCE_LEN};
use super::{
    envelope, handshake, handshake_ok, open, plain_seal, seal, Envelope, LinkDrop, Sealed,
    HANDSHAKE_LEN, MAX_COUNTER, SEALED_HEADER_LEN, TYPE_WELCOME,
};
use crate::protocol::key::Key;

/// How long one cookie secret answers hellos; a sender's first sealed datagram is accepted
/// under the current or the previous one, so a handshake has one to two epochs to finish.
pub const COOKIE_EPOCH: Duration = Duration::from_secs(60);
/// Senders remembered at once. Only senders that proved the key make entries.
const MAX_PEERS: usize = 64;
/// WELCOMEs waiting to be sent; more hellos than this between two sends get no answer.
const MAX_WELCOMES: usize = 32;

/// What the viewer's link made of one datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum ViewerOpened<'a> {
    /// A body for the receiver, authenticated (with a key) or checked (without).
    Body(&'a [u8]),
    /// A valid hello: its WELCOME waits in [`ViewerLink::poll_welcome`].
    Answered,
    /// Dropped before anything was kept or answered.
    Dropped(LinkDrop),
}

struct Peer {
    id: HandshakeId,
    /// Sender to viewer.
    rx: Aead,
    /// Viewer to sender.
    tx: Aead,
    window: ReplayWindow,
    sent: u64,
    last: Instant,
}

struct Keyed {
    master: Master,
    /// The current cookie secret and the one before it.
    cookies: [CookieSecret; 2],
    epoch_started: Option<Instant>,
    peers: Vec<Peer>,
    welcomes: VecDeque<(SocketAddr, [u8; HANDSHAKE_LEN])>,
}

/// The viewer's link: keyless (a CRC-32 per datagram) or keyed.
pub struct ViewerLink {
    keyed: Option<Keyed>,
}

impl ViewerLink {
    /// A keyless link.
    pub fn plain() -> Self {
        ViewerLink { keyed: None }
    }

    /// A link that takes only senders with `key`.
    pub fn keyed(key: &Key) -> Self {
        ViewerLink {
            keyed: Some(Keyed {
                master: Master::new(key),
                cookies: [CookieSecret::generate(), CookieSecret::generate()],
                epoch_started: None,
                peers: Vec::new(),
                welcomes: VecDeque::new(),
            }),
        }
    }

    /// True with a key.
    pub fn is_keyed(&self) -> bool {
        self.keyed.is_some()
    }

    /// Where the receiver writes a body in the buffer given to [`ViewerLink::seal`].
    pub fn body_offset(&self) -> usize {
        if self.keyed.is_some() {
            SEALED_HEADER_LEN
        } else {
            0
        }
    }

    /// Senders that have proved the key and are remembered.
    pub fn peers(&self) -> usize {
        self.keyed.as_ref().map_or(0, |k| k.peers.len())
    }

    /// Takes one datagram from `from`; a sealed body is decrypted into `scratch`. Only
    /// [`ViewerOpened::Body`] reaches the receiver.
    pub fn open<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &'a [u8],
        scratch: &'a mut Vec<u8>,
    ) -> ViewerOpened<'a> {
        let env = match envelope(bytes) {
            Ok(e) => e,
            Err(d) => return ViewerOpened::Dropped(d),
        };
        let Some(k) = &mut self.keyed else {
            return match env {
                Envelope::Plain(body) => ViewerOpened::Body(body),
                Envelope::Hello { .. } | Envelope::Sealed(_) => {
                    ViewerOpened::Dropped(LinkDrop::NeedsKey)
                }
                Envelope::Welcome { .. } => ViewerOpened::Dropped(LinkDrop::Unexpected),
            };
        };
        k.rotate(now);
        match env {
            Envelope::Plain(_) => ViewerOpened::Dropped(LinkDrop::Keyless),
            Envelope::Welcome { .. } => ViewerOpened::Dropped(LinkDrop::Unexpected),
            Envelope::Hello { id } => {
                if !handshake_ok(bytes, &k.master) {
                    return ViewerOpened::Dropped(LinkDrop::WrongKey);
                }
                if k.welcomes.len() < MAX_WELCOMES {
                    let nonce = k.cookies[0].viewer_nonce(&id, from);
                    let mut w = [0u8; HANDSHAKE_LEN];
                    handshake(&mut w, TYPE_WELCOME, &id, &nonce, &k.master);
                    k.welcomes.push_back((from, w));
                }
                ViewerOpened::Answered
            }
            Envelope::Sealed(s) => match k.open_sealed(now, from, bytes, &s, scratch) {
                Ok(()) => ViewerOpened::Body(scratch),
                Err(d) => ViewerOpened::Dropped(d),
            },
        }
    }

    /// Turns the body the receiver wrote at `buf[body_offset()..][..body_len]` into the
    /// datagram to send; `None` drops it (keyed, and its sender is no longer remembered or
    /// its key is used up: the sender's next handshake starts afresh).
    pub fn seal(&mut self, buf: &mut [u8], body_len: usize) -> Option<usize> {
        let Some(k) = &mut self.keyed else {
            return plain_seal(buf, body_len);
        };
        let body = &buf[SEALED_HEADER_LEN..SEALED_HEADER_LEN + body_len];
        let session = u32::from_be_bytes(body.get(6..10)?.try_into().ok()?);
        let p = k.peers.iter_mut().find(|p| p.id.session == session)?;
        if p.sent >= MAX_COUNTER {
            return None;
        }
        let counter = p.sent;
        p.sent += 1;
        seal(buf, &p.tx, session, counter, None, body_len)
    }

    /// The next WELCOME to send, written into `buf`.
    pub fn poll_welcome(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        let (to, w) = self.keyed.as_mut()?.welcomes.pop_front()?;
        buf.get_mut(..HANDSHAKE_LEN)?.copy_from_slice(&w);
        Some((to, HANDSHAKE_LEN))
    }
}

impl Keyed {
    /// Starts a new cookie epoch when the current one is over.
    fn rotate(&mut self, now: Instant) {
        let started = *self.epoch_started.get_or_insert(now);
        let epochs = now.saturating_duration_since(started).as_secs() / COOKIE_EPOCH.as_secs();
        if epochs == 0 {
            return;
        }
        let [cur, prev] = &mut self.cookies;
        if epochs == 1 {
            std::mem::swap(cur, prev);
            *cur = CookieSecret::generate();
        } else {
            *cur = CookieSecret::generate();
            *prev = CookieSecret::generate();
        }
        self.epoch_started = Some(started + COOKIE_EPOCH * epochs as u32);
    }

    fn open_sealed(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        s: &Sealed,
        scratch: &mut Vec<u8>,
    ) -> Result<(), LinkDrop> {
        let known = self.peers.iter().position(|p| p.id.session == s.session);
        if let Some(i) = known {
            let p = &self.peers[i];
            match s.init {
                Some(id) if id.handshake < p.id.handshake => return Err(LinkDrop::Replayed),
                Some(id) if id.handshake > p.id.handshake => {
                    return self.first_sealed(now, from, bytes, s, &id, scratch);
                }
                Some(id) if id != p.id => return Err(LinkDrop::Unauthenticated),
                _ => {}
            }
            let p = &mut self.peers[i];
            open(bytes, s, &p.rx, scratch).ok_or(LinkDrop::Unauthenticated)?;
            if !p.window.accept(s.counter) {
                return Err(LinkDrop::Replayed);
            }
            p.last = now;
            return Ok(());
        }
        match s.init {
            Some(id) => self.first_sealed(now, from, bytes, s, &id, scratch),
            None => Err(LinkDrop::Unauthenticated),
        }
    }

    /// The first sealed datagram of a handshake: the viewer's nonce is computed again from
    /// the cookie secret of this epoch or the last; the sender is remembered only if the
    /// datagram opens with the keys that gives.
    fn first_sealed(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        s: &Sealed,
        id: &HandshakeId,
        scratch: &mut Vec<u8>,
    ) -> Result<(), LinkDrop> {
        for c in &self.cookies {
            let nonce: [u8; NONCE_LEN] = c.viewer_nonce(id, from);
            let (rx, tx) = self.master.traffic(id, &nonce);
            if open(bytes, s, &rx, scratch).is_none() {
                continue;
            }
            let mut window = ReplayWindow::default();
            window.accept(s.counter);
            let peer = Peer {
                id: *id,
                rx,
                tx,
                window,
                sent: 0,
                last: now,
            };
            if let Some(i) = self.peers.iter().position(|p| p.id.session == id.session) {
                self.peers[i] = peer;
            } else {
                if self.peers.len() >= MAX_PEERS {
                    let oldest = (0..self.peers.len())
                        .min_by_key(|&i| self.peers[i].last)
                        .expect("full");
                    self.peers.swap_remove(oldest);
                }
                self.peers.push(peer);
            }
            return Ok(());
        }
        Err(LinkDrop::Unauthenticated)
    }
}
