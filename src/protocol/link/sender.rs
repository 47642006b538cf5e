//! The sender's side of the link: hellos until the viewer answers, then sealed datagrams.

use std::time::{Duration, Instant};

use super::crypto::{fill_random, Aead, HandshakeId, Master, ReplayWindow, NONCE_LEN};
use super::{
    envelope, handshake, handshake_ok, open, plain_seal, seal, Envelope, LinkDrop, CHECK_LEN,
    INIT_HEADER_LEN, KEYED_OVERHEAD, MAX_COUNTER, REKEY_AFTER, SEALED_HEADER_LEN, TYPE_HELLO,
};
use crate::protocol::key::Key;

/// What the sender's link made of one datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum SenderOpened<'a> {
    /// A body for the sender.
    Body(&'a [u8]),
    /// The viewer's WELCOME: the link is open (first time: `true`).
    Welcomed(bool),
    /// Dropped.
    Dropped(LinkDrop),
}

struct Open {
    /// Sender to viewer.
    tx: Aead,
    /// Viewer to sender.
    rx: Aead,
    window: ReplayWindow,
    sent: u64,
    /// Until the viewer's first sealed datagram, every datagram repeats the handshake id, so
    /// that the viewer can make its entry from whichever arrives first.
    init: bool,
}

enum State {
    Plain,
    Hello {
        /// When the next hello may go; `None`: at once.
        next: Option<Instant>,
    },
    Open(Box<Open>),
}

/// The sender's link for one session.
pub struct SenderLink {
    master: Option<Master>,
    id: HandshakeId,
    state: State,
    hello_interval: Duration,
    /// Handshakes completed in this session.
    handshakes: u64,
}

impl SenderLink {
    /// A keyless link.
    pub fn plain(session: u32) -> Self {
        SenderLink {
            master: None,
            id: HandshakeId {
                session,
                handshake: 0,
                sender_nonce: [0; NONCE_LEN],
            },
            state: State::Plain,
            hello_interval: Duration::ZERO,
            handshakes: 0,
        }
    }

    /// A keyed link that sends a hello every `hello_interval` until the viewer answers.
    pub fn keyed(session: u32, key: &Key, hello_interval: Duration) -> Self {
        let mut l = SenderLink::plain(session);
        l.master = Some(Master::new(key));
        l.hello_interval = hello_interval;
        fill_random(&mut l.id.sender_nonce);
        l.state = State::Hello { next: None };
        l
    }

    /// The session it serves.
    pub fn session(&self) -> u32 {
        self.id.session
    }

    /// True with a key.
    pub fn is_keyed(&self) -> bool {
        self.master.is_some()
    }

    /// True when bodies can be sent: keyless, or keyed with the handshake done.
    pub fn is_open(&self) -> bool {
        !matches!(self.state, State::Hello { .. })
    }

    /// Handshakes completed so far in this session.
    pub fn handshakes(&self) -> u64 {
        self.handshakes
    }

    /// The most this link adds to a body (a sender's chunks leave this much room).
    pub fn overhead(&self) -> usize {
        if self.master.is_some() {
            KEYED_OVERHEAD
        } else {
            CHECK_LEN
        }
    }

    /// Where the sender writes a body in the buffer given to [`SenderLink::seal`].
    pub fn body_offset(&self) -> usize {
        match &self.state {
            State::Open(o) if o.init => INIT_HEADER_LEN,
            State::Open(_) => SEALED_HEADER_LEN,
            State::Plain | State::Hello { .. } => 0,
        }
    }

    /// Starts a new handshake (the viewer stopped answering or closed): until it is done,
    /// only hellos go out. Keyless: nothing to do.
    pub fn restart(&mut self) {
        if self.master.is_some() {
            self.id.handshake = self.id.handshake.wrapping_add(1);
            fill_random(&mut self.id.sender_nonce);
            self.state = State::Hello { next: None };
        }
    }

    /// When the next hello is due, while the handshake is not done.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Hello { next } => next,
            _ => None,
        }
    }

    /// Writes a hello into `buf` if one is due (at once after a (re)start, then every
    /// `hello_interval`).
    pub fn poll_hello(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let State::Hello { next } = &mut self.state else {
            return None;
        };
        if next.is_some_and(|t| now < t) || buf.len() < super::HANDSHAKE_LEN {
            return None;
        }
        *next = Some(now + self.hello_interval);
        let master = self.master.as_ref().expect("keyed");
        Some(handshake(
            buf,
            TYPE_HELLO,
            &self.id,
            &[0; NONCE_LEN],
            master,
        ))
    }

    /// Turns the body written at `buf[body_offset()..][..body_len]` into the datagram to
    /// send. `None` when the link is not open (nothing may go but hellos).
    pub fn seal(&mut self, buf: &mut [u8], body_len: usize) -> Option<usize> {
        let id = self.id;
        match &mut self.state {
            State::Plain => plain_seal(buf, body_len),
            State::Hello { .. } => None,
            State::Open(o) => {
                if o.sent >= MAX_COUNTER {
                    return None;
                }
                let counter = o.sent;
                o.sent += 1;
                let init = o.init.then_some(&id);
                let n = seal(buf, &o.tx, id.session, counter, init, body_len);
                if o.sent >= REKEY_AFTER {
                    self.restart();
                }
                n
            }
        }
    }

    /// Takes one datagram from the viewer; a sealed body is decrypted into `scratch`.
    pub fn open<'a>(&mut self, bytes: &'a [u8], scratch: &'a mut Vec<u8>) -> SenderOpened<'a> {
        let env = match envelope(bytes) {
            Ok(e) => e,
            Err(d) => return SenderOpened::Dropped(d),
        };
        let Some(master) = &self.master else {
            return match env {
                Envelope::Plain(body) => SenderOpened::Body(body),
                Envelope::Welcome { .. } | Envelope::Sealed(_) => {
                    SenderOpened::Dropped(LinkDrop::NeedsKey)
                }
                Envelope::Hello { .. } => SenderOpened::Dropped(LinkDrop::Unexpected),
            };
        };
        match env {
            Envelope::Plain(_) => SenderOpened::Dropped(LinkDrop::Keyless),
            Envelope::Hello { .. } => SenderOpened::Dropped(LinkDrop::Unexpected),
            Envelope::Welcome { id, viewer_nonce } => {
                if !handshake_ok(bytes, master) {
                    return SenderOpened::Dropped(LinkDrop::WrongKey);
                }
                if id != self.id {
                    // An answer to an earlier handshake of ours.
                    return SenderOpened::Dropped(LinkDrop::Replayed);
                }
                if !matches!(self.state, State::Hello { .. }) {
                    // A repeated answer to one of this handshake's hellos.
                    return SenderOpened::Welcomed(false);
                }
                let (tx, rx) = master.traffic(&self.id, &viewer_nonce);
                self.state = State::Open(Box::new(Open {
                    tx,
                    rx,
                    window: ReplayWindow::default(),
                    sent: 0,
                    init: true,
                }));
                self.handshakes += 1;
                SenderOpened::Welcomed(true)
            }
            Envelope::Sealed(s) => {
                let State::Open(o) = &mut self.state else {
                    return SenderOpened::Dropped(LinkDrop::Unauthenticated);
                };
                if s.session != self.id.session || s.init.is_some() {
                    return SenderOpened::Dropped(LinkDrop::Unauthenticated);
                }
                let Some(body) = open(bytes, &s, &o.rx, scratch) else {
                    return SenderOpened::Dropped(LinkDrop::Unauthenticated);
                };
                if !o.window.accept(s.counter) {
                    return SenderOpened::Dropped(LinkDrop::Replayed);
                }
                // The viewer has its entry: the handshake id need not travel any more.
                o.init = false;
                SenderOpened::Body(body)
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn set_sent_counter(&mut self, sent: u64) {
        if let State::Open(o) = &mut self.state {
            o.sent = sent;
        }
    }
}
