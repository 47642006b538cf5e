//! The viewing side of the protocol as a sans-IO state machine.
//!
//! [`Receiver`] is fed datagrams with their source address and the current instant; it
//! reassembles frames, decides which ACKs and NACKs to send where, tracks which sender's
//! session is shown, and reports frames and sessions as events. Sockets, threads and decoding
//! live outside it.
//!
//! Session policy: up to [`ReceiverConfig::max_senders`] sessions are *active* (shown) at
//! once, one per sender. A session becomes active when it completes a frame (whole,
//! CRC-checked), so junk never does. A sender is known by its name (PROTOCOL.md 12.6), or
//! by its session id until the name arrives: a restarted sender has a new session id and a
//! new port, and when a newer session of the same name completes a frame it takes over at
//! once (the older one is *ignored*: counted, never acknowledged, while the newer lives).
//! Once `max_senders` are active, another sender is *refused* (counted, never shown, never
//! answered) until one ends with a BYE or `session_timeout` of silence: nobody is pushed out.
//!
//! Messages (JSON, see [`crate::protocol::message`]) are taken from every session that has not said
//! BYE, shown or not: they are not pictures, so two senders cannot fight over them.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::protocol::key::Key;
use crate::protocol::link::{LinkDrop, ViewerLink, ViewerOpened};
use crate::protocol::message::{truncate_utf8, Inbox, InboxOutcome, MAX_MESSAGE_LEN};
use crate::protocol::reassembly::{
    CompleteFrame, Insert, NackRequest, Reassembler, ReassemblyConfig, ReassemblyStats,
};
use crate::protocol::session_info::{SessionInfo, MAX_INFO_LEN};
use crate::protocol::wire::{self, Content, Datagram, MessageStatus};

/// The most senders a receiver shows at once, whatever its configuration says.
pub const MAX_SENDERS: usize = 64;

/// Tunables of the receiver.
#[derive(Debug, Clone, Copy)]
pub struct ReceiverConfig {
    /// Limits and NACK timing for frame reassembly.
    pub reassembly: ReassemblyConfig,
    /// Silence after which the active sender counts as disconnected.
    pub session_timeout: Duration,
    /// Messages longer than this are refused (at most [`MAX_MESSAGE_LEN`] is useful: no
    /// camwire sender sends more).
    pub max_message_bytes: usize,
    /// Senders shown at once (1 to [`MAX_SENDERS`]); another is refused until one ends.
    pub max_senders: usize,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            reassembly: ReassemblyConfig::default(),
            session_timeout: Duration::from_secs(2),
            max_message_bytes: MAX_MESSAGE_LEN,
            max_senders: 16,
        }
    }
}

/// Why a session stopped being shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The sender said BYE.
    Bye,
    /// Nothing arrived for `session_timeout`.
    Silence,
    /// A newer session of the same sender (its restart) took over.
    Superseded,
}

/// Something the receiver wants its owner to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiverEvent {
    /// A frame of an active session arrived whole, with a valid CRC, and was acknowledged.
    Frame {
        /// Where it came from.
        from: SocketAddr,
        /// The frame (its `session` says whose).
        frame: CompleteFrame,
    },
    /// A session became active (shown).
    SessionStarted {
        /// The session id.
        session: u32,
        /// Where it came from.
        from: SocketAddr,
        /// The sender's name, when it has arrived (it normally comes first).
        name: Option<Arc<str>>,
    },
    /// A session told its name (once per session; also after it started).
    SessionNamed {
        /// The session id.
        session: u32,
        /// Where it came from.
        from: SocketAddr,
        /// The name.
        name: Arc<str>,
    },
    /// A sender completed a frame while [`ReceiverConfig::max_senders`] others were shown,
    /// or does not have the name [`Receiver::set_only`] asks for: it is not shown or
    /// answered (said once per session).
    SessionRefused {
        /// The session id.
        session: u32,
        /// Where it comes from.
        from: SocketAddr,
        /// Its name, if known.
        name: Option<Arc<str>>,
    },
    /// An active session ended.
    SessionEnded {
        /// The session id.
        session: u32,
        /// Its last address.
        from: SocketAddr,
        /// Why.
        reason: EndReason,
    },
    /// A JSON message arrived whole and valid (once per message, in the sender's order).
    Message {
        /// Where it came from.
        from: SocketAddr,
        /// The sender's session.
        session: u32,
        /// The message's sequence number in that session.
        seq: u32,
        /// The JSON text, exactly as sent (validated).
        json: Vec<u8>,
    },
    /// Datagrams arrive that a different key setting would take: said once per run for
    /// each [`KeyMismatch`], so that the user learns the fix without a flood of lines.
    KeyMismatch {
        /// Where the first one came from.
        from: SocketAddr,
        /// Which mismatch.
        kind: KeyMismatch,
    },
    /// camwire datagrams of another protocol version arrive (an older or newer `cam-send`):
    /// said once per run, since the two cannot talk.
    OtherVersion {
        /// Where the first one came from.
        from: SocketAddr,
        /// The version they speak.
        version: u8,
    },
    /// A session completed a frame but is older than an active session of the same name, so
    /// it is ignored (reported each time such a session is found ignored again): a restarted
    /// sender's old process, or two senders given the same name.
    SessionIgnored {
        /// The ignored session id.
        session: u32,
        /// Where it comes from.
        from: SocketAddr,
    },
}

/// How a peer's key setting differs from the receiver's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyMismatch {
    /// This receiver has no key; the sender uses one.
    PeerHasKey,
    /// This receiver has a key; the sender uses none.
    PeerHasNoKey,
    /// Both have keys, and they differ (or someone without the key is trying).
    DifferentKey,
}

impl KeyMismatch {
    fn of(d: LinkDrop) -> Option<KeyMismatch> {
        match d {
            LinkDrop::NeedsKey => Some(KeyMismatch::PeerHasKey),
            LinkDrop::Keyless => Some(KeyMismatch::PeerHasNoKey),
            LinkDrop::WrongKey => Some(KeyMismatch::DifferentKey),
            _ => None,
        }
    }
}

/// Counters the receiver keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReceiverStats {
    /// Datagrams handled, valid or not.
    pub datagrams: u64,
    /// Valid frame chunks accepted for reassembly.
    pub chunks: u64,
    /// Accepted chunks that belonged to a retransmission (`attempt` > 0).
    pub retransmitted_chunks: u64,
    /// ACKs queued.
    pub acks: u64,
    /// NACKs queued.
    pub nacks: u64,
    /// Valid datagrams of ignored, refused or ended sessions.
    pub ignored_datagrams: u64,
    /// Senders refused: over [`ReceiverConfig::max_senders`], or not the one asked for.
    pub refused_senders: u64,
    /// Messages delivered.
    pub messages: u64,
    /// Messages refused (invalid JSON, too large).
    pub messages_refused: u64,
    /// NACKs and message answers not sent to a session that has completed nothing yet,
    /// because they would have been more than three times the bytes it sent.
    pub replies_withheld: u64,
    /// Message datagrams left unanswered while the owner asked to hold them
    /// ([`Receiver::set_hold_messages`]); their sender repeats them.
    pub held_messages: u64,
    /// With a key: hellos answered (each with one WELCOME of the same size, and no state).
    pub hellos: u64,
    /// Invalid datagrams, by reason (see [`wire::WireError::kind`] and
    /// [`LinkDrop::kind`]: `damaged`, `unauthenticated`, `replayed`, `needs_key`), plus
    /// refusals made after parsing (`frame_too_large`, `inconsistent_chunk`,
    /// `unexpected_type`).
    pub rejected: BTreeMap<&'static str, u64>,
    /// Reassembly counters.
    pub reassembly: ReassemblyStats,
}

impl ReceiverStats {
    /// Total invalid datagrams.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Sending, not (yet) shown.
    Candidate,
    Active,
    /// Older than an active session of the same name: ignored while that one lives.
    Ignored,
    /// Not shown: the viewer is full, or the name is not the one asked for.
    Refused,
    /// Said BYE.
    Ended,
}

struct Session {
    id: u32,
    from: SocketAddr,
    first_seen: Instant,
    last_heard: Instant,
    state: State,
    name: Option<Arc<str>>,
    /// `SessionRefused` was said for this session.
    refusal_told: bool,
    /// `(seq, attempt)` last acknowledged: the rest of that round's chunks need no ACK.
    last_ack: Option<(u32, u8)>,
    /// Has completed a frame or a message: a real sender, not a session id seen in junk.
    proven: bool,
    /// Bytes of this session's datagrams received, and of replies sent to it, while it is
    /// not proven: replies stay within [`UNPROVEN_REPLY_FACTOR`] times what arrived.
    bytes_in: u64,
    bytes_out: u64,
    inbox: Inbox,
}

enum Reply {
    Ack {
        to: SocketAddr,
        session: u32,
        seq: u32,
        index: u16,
        attempt: u8,
        window: u8,
        spread_us: u32,
    },
    Nack {
        to: SocketAddr,
        req: NackRequest,
    },
    MessageAck {
        to: SocketAddr,
        session: u32,
        seq: u32,
        status: MessageStatus,
        attempt: u8,
        reason: String,
    },
    Bye {
        to: SocketAddr,
        session: u32,
    },
}

const MAX_PENDING_REPLIES: usize = 64;
/// A session that has not completed a frame or a message (anyone can make one up, from any
/// source address) gets replies of at most this many times the bytes it sent, as QUIC
/// allows a peer it has not validated: the viewer cannot be used to multiply traffic towards
/// a spoofed address.
const UNPROVEN_REPLY_FACTOR: u64 = 3;
/// Sessions kept beyond the active ones: restarts, refused senders, junk.
const SPARE_SESSIONS: usize = 16;

/// The sans-IO receiving endpoint.
pub struct Receiver {
    cfg: ReceiverConfig,
    link: ViewerLink,
    /// Decrypted bodies land here.
    scratch: Vec<u8>,
    hold_messages: bool,
    /// Mismatches already reported.
    told: Vec<KeyMismatch>,
    /// Another protocol version already reported.
    told_version: bool,
    reasm: Reassembler,
    replies: VecDeque<Reply>,
    events: VecDeque<ReceiverEvent>,
    sessions: Vec<Session>,
    /// `--only NAME`: every other sender is refused.
    only: Option<Arc<str>>,
    stats: ReceiverStats,
}

impl Receiver {
    /// A receiver with the given limits.
    pub fn new(cfg: ReceiverConfig) -> Self {
        Receiver::with_link(cfg, ViewerLink::plain())
    }

    /// A receiver that takes only senders with `key` (PROTOCOL.md 11): nothing else is
    /// kept, shown or answered.
    pub fn keyed(cfg: ReceiverConfig, key: &Key) -> Self {
        Receiver::with_link(cfg, ViewerLink::keyed(key))
    }

    fn with_link(mut cfg: ReceiverConfig, link: ViewerLink) -> Self {
        cfg.max_senders = cfg.max_senders.clamp(1, MAX_SENDERS);
        Receiver {
            cfg,
            link,
            scratch: Vec::new(),
            hold_messages: false,
            told: Vec::new(),
            told_version: false,
            reasm: Reassembler::new(cfg.reassembly),
            replies: VecDeque::new(),
            events: VecDeque::new(),
            sessions: Vec::new(),
            only: None,
            stats: ReceiverStats::default(),
        }
    }

    /// Counters so far (kept up to date by every `handle_*` call, so a shared reference does).
    pub fn stats(&self) -> &ReceiverStats {
        &self.stats
    }

    /// Copies the reassembler's counters into [`ReceiverStats::reassembly`].
    fn sync_stats(&mut self) {
        self.stats.reassembly = *self.reasm.stats();
    }

    #[cfg(test)]
    pub(crate) fn link_peers_for_tests(&self) -> usize {
        self.link.peers()
    }

    /// True when only senders with the key are taken.
    pub fn is_keyed(&self) -> bool {
        self.link.is_keyed()
    }

    /// While set, MESSAGE datagrams are left unanswered (counted in `held_messages`): the
    /// owner's queue for messages is nearly full, and their sender repeats them later.
    pub fn set_hold_messages(&mut self, hold: bool) {
        self.hold_messages = hold;
    }

    /// Shows only the sender named `name` (every other is refused); `None` shows all.
    pub fn set_only(&mut self, name: Option<&str>) {
        self.only = name.map(Arc::from);
    }

    /// The sessions being shown, oldest first.
    pub fn active_sessions(&self) -> impl Iterator<Item = u32> + '_ {
        self.sessions
            .iter()
            .filter(|s| s.state == State::Active)
            .map(|s| s.id)
    }

    /// The name session `session` told, if it did.
    pub fn session_name(&self, session: u32) -> Option<&Arc<str>> {
        self.sessions
            .iter()
            .find(|s| s.id == session)
            .and_then(|s| s.name.as_ref())
    }

    fn active_count(&self) -> usize {
        self.sessions
            .iter()
            .filter(|s| s.state == State::Active)
            .count()
    }

    /// The frames of one session this viewer assembles at once, as its ACKs say: the
    /// reassembler's room shared among the senders shown.
    fn window(&self) -> u8 {
        let shared =
            self.cfg.reassembly.max_partial_frames.saturating_sub(2) / self.active_count().max(1);
        self.cfg.reassembly.window().min(shared.clamp(1, 255) as u8)
    }

    /// Gives a delivered frame's buffer back for reuse.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.reasm.recycle(buf);
    }

    fn reject(&mut self, kind: &'static str) {
        *self.stats.rejected.entry(kind).or_insert(0) += 1;
    }

    fn reply(&mut self, r: Reply) {
        if self.replies.len() >= MAX_PENDING_REPLIES {
            self.replies.pop_front();
        }
        match r {
            Reply::Ack { .. } => self.stats.acks += 1,
            Reply::Nack { .. } => self.stats.nacks += 1,
            Reply::MessageAck { .. } | Reply::Bye { .. } => {}
        }
        self.replies.push_back(r);
    }

    /// Queues an ACK unless this frame was already acknowledged for this `attempt`: later
    /// chunks of the round that completed it, or of a resent round, need no second one.
    /// `spread` is the completed frame's (zero for a repeated ACK: not measured).
    fn ack_once(
        &mut self,
        to: SocketAddr,
        session: u32,
        seq: u32,
        (index, attempt): (u16, u8),
        spread: Duration,
    ) {
        let key = (seq, attempt);
        let Some(i) = self.sessions.iter().position(|s| s.id == session) else {
            return;
        };
        if self.sessions[i].last_ack != Some(key) {
            self.sessions[i].last_ack = Some(key);
            let window = self.window();
            let spread_us = u32::try_from(spread.as_micros()).unwrap_or(u32::MAX);
            self.reply(Reply::Ack {
                to,
                session,
                seq,
                index,
                attempt,
                window,
                spread_us,
            });
        }
    }

    fn session_index(&mut self, now: Instant, id: u32, from: SocketAddr) -> usize {
        if let Some(i) = self.sessions.iter().position(|s| s.id == id) {
            let s = &mut self.sessions[i];
            s.last_heard = now;
            s.from = from;
            return i;
        }
        if self.sessions.len() >= self.cfg.max_senders + SPARE_SESSIONS {
            // Forget the longest-silent session that is not active, unproven ones first: a
            // flood of made-up session ids must not push a real sender out of the table, or
            // it would come back looking new and take over from its own restart.
            if let Some(i) = self
                .sessions
                .iter()
                .enumerate()
                .filter(|(_, s)| s.state != State::Active)
                .min_by_key(|(_, s)| (s.proven, s.last_heard))
                .map(|(i, _)| i)
            {
                self.sessions.swap_remove(i);
            }
        }
        self.sessions.push(Session {
            id,
            from,
            first_seen: now,
            last_heard: now,
            state: State::Candidate,
            name: None,
            refusal_told: false,
            last_ack: None,
            proven: false,
            bytes_in: 0,
            bytes_out: 0,
            inbox: Inbox::default(),
        });
        self.sessions.len() - 1
    }

    /// The active session with the same name as session `i`, other than `i`.
    fn same_sender_active(&self, i: usize) -> Option<usize> {
        let name = self.sessions[i].name.as_ref()?;
        self.sessions
            .iter()
            .enumerate()
            .position(|(j, s)| j != i && s.state == State::Active && s.name.as_ref() == Some(name))
    }

    /// True when `--only` rules session `i` out (its name is known and differs).
    fn filtered_out(&self, i: usize) -> bool {
        match (&self.only, &self.sessions[i].name) {
            (Some(only), Some(name)) => only != name,
            _ => false,
        }
    }

    /// Whether chunks of session `i` are taken in now.
    fn accepts(&mut self, i: usize) -> bool {
        match self.sessions[i].state {
            State::Active | State::Candidate => true,
            State::Ended => false,
            // The session that outranked it is gone: it may compete again.
            State::Ignored if self.same_sender_active(i).is_none() => {
                self.sessions[i].state = State::Candidate;
                true
            }
            State::Ignored => false,
            // A place came free: it may try again.
            State::Refused
                if !self.filtered_out(i) && self.active_count() < self.cfg.max_senders =>
            {
                self.sessions[i].state = State::Candidate;
                true
            }
            State::Refused => false,
        }
    }

    /// Session `i` is no longer shown, for `reason`.
    fn end_session(&mut self, i: usize, reason: EndReason) {
        let s = &mut self.sessions[i];
        if s.state != State::Active {
            if reason == EndReason::Bye {
                s.state = State::Ended;
            }
            return;
        }
        s.state = match reason {
            EndReason::Bye => State::Ended,
            EndReason::Superseded => State::Ignored,
            EndReason::Silence => State::Candidate,
        };
        let (session, from) = (s.id, s.from);
        self.events.push_back(ReceiverEvent::SessionEnded {
            session,
            from,
            reason,
        });
        self.protect_active();
    }

    /// The reassembler evicts the shown senders' partial frames last.
    fn protect_active(&mut self) {
        let ids: Vec<u32> = self.active_sessions().collect();
        self.reasm.set_protected(&ids);
    }

    fn refuse(&mut self, i: usize) {
        let s = &mut self.sessions[i];
        s.state = State::Refused;
        if !s.refusal_told {
            s.refusal_told = true;
            self.stats.refused_senders += 1;
            let (session, from, name) = (s.id, s.from, s.name.clone());
            self.events.push_back(ReceiverEvent::SessionRefused {
                session,
                from,
                name,
            });
        }
    }

    /// Decides whether a frame session `i` just completed is shown (true) or dropped
    /// unacknowledged, making the session active when it may be.
    fn admit(&mut self, i: usize) -> bool {
        match self.sessions[i].state {
            State::Active => return true,
            State::Ended | State::Ignored | State::Refused => return false,
            State::Candidate => {}
        }
        if self.only.is_some() && self.sessions[i].name.is_none() {
            // Whether it is the one asked for is not known yet: its name comes first
            // normally, and the sender repeats the frame until it has.
            return false;
        }
        if self.filtered_out(i) {
            self.refuse(i);
            return false;
        }
        if let Some(j) = self.same_sender_active(i) {
            if self.sessions[i].first_seen >= self.sessions[j].first_seen {
                // The sender restarted: the new process takes over at once.
                self.end_session(j, EndReason::Superseded);
            } else {
                self.ignore(i);
                return false;
            }
        }
        if self.active_count() >= self.cfg.max_senders {
            self.refuse(i);
            return false;
        }
        let s = &mut self.sessions[i];
        s.state = State::Active;
        let (session, from, name) = (s.id, s.from, s.name.clone());
        self.events.push_back(ReceiverEvent::SessionStarted {
            session,
            from,
            name,
        });
        self.protect_active();
        true
    }

    /// Session `i` is an older process of a sender shown under the same name: never shown,
    /// never acknowledged, so that it cannot flip the view back and forth.
    fn ignore(&mut self, i: usize) {
        let s = &mut self.sessions[i];
        s.state = State::Ignored;
        let (session, from) = (s.id, s.from);
        self.events
            .push_back(ReceiverEvent::SessionIgnored { session, from });
    }

    /// Session `i` told its name: keep it, and apply the one-session-per-sender and
    /// `--only` rules now that they can be.
    fn named(&mut self, i: usize, name: String) {
        let name: Arc<str> = Arc::from(name);
        let s = &mut self.sessions[i];
        if s.name.as_ref() == Some(&name) {
            return;
        }
        s.name = Some(name.clone());
        let (session, from) = (s.id, s.from);
        self.events.push_back(ReceiverEvent::SessionNamed {
            session,
            from,
            name,
        });
        if self.sessions[i].state != State::Active {
            return;
        }
        if self.filtered_out(i) {
            self.end_session(i, EndReason::Superseded);
            self.refuse(i);
        } else if let Some(j) = self.same_sender_active(i) {
            // Two active sessions turned out to be one sender: the older gives way.
            let older = if self.sessions[i].first_seen >= self.sessions[j].first_seen {
                j
            } else {
                i
            };
            self.end_session(older, EndReason::Superseded);
        }
    }

    /// Takes in one datagram that arrived from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.stats.datagrams += 1;
        let mut scratch = std::mem::take(&mut self.scratch);
        match self.link.open(now, from, bytes, &mut scratch) {
            ViewerOpened::Body(body) => self.take_datagram(now, from, body),
            ViewerOpened::Answered => self.stats.hellos += 1,
            ViewerOpened::Dropped(d) => {
                self.reject(d.kind());
                if d == LinkDrop::Malformed("bad_version") && !self.told_version {
                    self.told_version = true;
                    self.events.push_back(ReceiverEvent::OtherVersion {
                        from,
                        version: bytes[2],
                    });
                }
                if let Some(kind) = KeyMismatch::of(d) {
                    if !self.told.contains(&kind) {
                        self.told.push(kind);
                        self.events
                            .push_back(ReceiverEvent::KeyMismatch { from, kind });
                    }
                }
            }
        }
        self.scratch = scratch;
        self.sync_stats();
    }

    fn take_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let d = match wire::parse(bytes) {
            Ok(d) => d,
            Err(e) => return self.reject(e.kind()),
        };
        match d {
            Datagram::Chunk {
                session,
                frame,
                index,
                attempt,
                payload,
            } => {
                let i = self.session_index(now, session, from);
                self.sessions[i].bytes_in += bytes.len() as u64;
                if !self.accepts(i) {
                    self.stats.ignored_datagrams += 1;
                    return;
                }
                self.stats.chunks += 1;
                if attempt > 0 {
                    self.stats.retransmitted_chunks += 1;
                }
                match self
                    .reasm
                    .insert(now, session, &frame, index, attempt, payload)
                {
                    Insert::Complete(f) => {
                        self.sessions[i].proven = true;
                        if !self.admit(i) {
                            self.stats.ignored_datagrams += 1;
                            // Forgotten, so that the frame completes (and is judged) again
                            // once the session may be shown.
                            self.reasm.forget_session(session);
                            self.reasm.recycle(f.data);
                            return;
                        }
                        self.ack_once(from, session, frame.seq, (index, attempt), f.spread);
                        self.events
                            .push_back(ReceiverEvent::Frame { from, frame: f });
                    }
                    // The sender is resending a frame we have: its ACK was lost.
                    Insert::AlreadyComplete => {
                        self.ack_once(from, session, frame.seq, (index, attempt), Duration::ZERO)
                    }
                    Insert::TooLarge => self.reject("frame_too_large"),
                    Insert::Inconsistent => self.reject("inconsistent_chunk"),
                    Insert::Stored | Insert::Duplicate | Insert::Stale | Insert::CrcMismatch => {}
                }
            }
            Datagram::KeepAlive { session } => {
                // Only a session already known is kept alive: junk cannot make entries.
                match self.sessions.iter_mut().find(|s| s.id == session) {
                    Some(s) if s.state != State::Ended => {
                        s.last_heard = now;
                        s.from = from;
                    }
                    _ => self.stats.ignored_datagrams += 1,
                }
            }
            Datagram::Bye { session } => {
                let Some(i) = self.sessions.iter().position(|s| s.id == session) else {
                    self.stats.ignored_datagrams += 1;
                    return;
                };
                self.reasm.forget_session(session);
                self.sessions[i].from = from;
                self.end_session(i, EndReason::Bye);
            }
            Datagram::MessageChunk {
                session,
                msg,
                index,
                attempt,
                payload,
            } => {
                if self.hold_messages {
                    self.stats.held_messages += 1;
                    return;
                }
                let i = self.session_index(now, session, from);
                self.sessions[i].bytes_in += bytes.len() as u64;
                if self.sessions[i].state == State::Ended {
                    self.stats.ignored_datagrams += 1;
                    return;
                }
                let info = msg.content == Content::SessionInfo;
                let max = if info {
                    MAX_INFO_LEN
                } else {
                    self.cfg.max_message_bytes
                };
                match self.sessions[i]
                    .inbox
                    .on_chunk(&msg, index, attempt, payload, max)
                {
                    InboxOutcome::Nothing => {}
                    InboxOutcome::Inconsistent => self.reject("inconsistent_chunk"),
                    InboxOutcome::CrcMismatch => self.reject("message_crc_mismatch"),
                    InboxOutcome::Answer {
                        status,
                        reason,
                        deliver,
                    } => {
                        let (mut status, mut reason) = (status, reason);
                        if let (true, Some(json)) = (info, &deliver) {
                            match SessionInfo::parse(json) {
                                Ok(info) => {
                                    self.sessions[i].proven = true;
                                    self.named(i, info.name);
                                }
                                Err(mut why) => {
                                    truncate_utf8(&mut why, wire::MAX_REASON_LEN);
                                    (status, reason) = (MessageStatus::InvalidJson, why);
                                    self.stats.messages_refused += 1;
                                }
                            }
                        } else if let Some(json) = deliver {
                            self.sessions[i].proven = true;
                            self.stats.messages += 1;
                            self.events.push_back(ReceiverEvent::Message {
                                from,
                                session,
                                seq: msg.seq,
                                json,
                            });
                        } else if status != MessageStatus::Delivered {
                            self.stats.messages_refused += 1;
                        }
                        let len = wire::MESSAGE_ACK_HEADER_LEN + reason.len();
                        if !self.within_reply_budget(i, len) {
                            return;
                        }
                        self.reply(Reply::MessageAck {
                            to: from,
                            session,
                            seq: msg.seq,
                            status,
                            attempt,
                            reason,
                        });
                    }
                }
            }
            Datagram::Ack { .. } | Datagram::Nack { .. } | Datagram::MessageAck { .. } => {
                self.reject("unexpected_type")
            }
        }
        // A NACK made on the spot (after a CRC failure) goes out with this datagram's replies.
        self.flush_nacks();
    }

    fn flush_nacks(&mut self) {
        while let Some(req) = self.reasm.poll_nack() {
            // NACK only sessions that may be shown: never ignored or ended ones.
            let Some(i) = self.sessions.iter().position(|s| s.id == req.session) else {
                continue;
            };
            let s = &self.sessions[i];
            if !matches!(s.state, State::Active | State::Candidate) {
                continue;
            }
            let to = s.from;
            let mut req = req;
            // An unproven session gets a NACK cut to its reply budget: the rest is asked for
            // once the chunks it names have come (and added to the budget).
            let room = self
                .reply_room(i)
                .saturating_sub(wire::NACK_HEADER_LEN as u64);
            req.truncate(u16::try_from(room.saturating_mul(8)).unwrap_or(u16::MAX));
            if self.within_reply_budget(i, wire::NACK_HEADER_LEN + req.bitmap.len()) {
                self.reply(Reply::Nack { to, req });
            }
        }
    }

    /// Bytes that may still go to session `i` (unlimited once it is proven).
    fn reply_room(&self, i: usize) -> u64 {
        let s = &self.sessions[i];
        if s.proven {
            u64::MAX
        } else {
            (UNPROVEN_REPLY_FACTOR * s.bytes_in).saturating_sub(s.bytes_out)
        }
    }

    /// True if a reply of `len` bytes may go to session `i`, and counts it: always once it
    /// is proven, before that only within [`UNPROVEN_REPLY_FACTOR`] times the bytes it sent.
    fn within_reply_budget(&mut self, i: usize, len: usize) -> bool {
        if (len as u64) > self.reply_room(i) {
            self.stats.replies_withheld += 1;
            return false;
        }
        let s = &mut self.sessions[i];
        if !s.proven {
            s.bytes_out += len as u64;
        }
        true
    }

    /// The viewer is going away: queues one BYE (carrying the sender's session id) to the
    /// last address of every session in the table that has not said BYE itself (at most
    /// `max_senders` + 16), so that its sender stops waiting for answers at once and probes for a viewer
    /// instead (PROTOCOL.md 8.10). The next [`Receiver::poll_transmit`] calls return them,
    /// after any reply already queued.
    pub fn close(&mut self) {
        let byes: Vec<Reply> = self
            .sessions
            .iter()
            .filter(|s| s.state != State::Ended)
            .map(|s| Reply::Bye {
                to: s.from,
                session: s.id,
            })
            .collect();
        // Not through `reply`: its cap must not push a BYE out; the table bounds them.
        self.replies.extend(byes);
    }

    /// Writes the next datagram to send into `buf` (at least
    /// [`crate::protocol::link::MAX_VIEWER_DATAGRAM`] bytes); returns where to send it and
    /// its length.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        if let Some(w) = self.link.poll_welcome(buf) {
            return Some(w);
        }
        loop {
            let r = self.replies.pop_front()?;
            let off = self.link.body_offset();
            let Some((to, n)) = Self::encode_reply(r, &mut buf[off..]) else {
                continue;
            };
            // A reply to a sender the keyed link no longer knows is dropped: that sender
            // starts a new handshake when it hears nothing.
            if let Some(len) = self.link.seal(buf, n) {
                return Some((to, len));
            }
        }
    }

    fn encode_reply(r: Reply, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        match r {
            Reply::Ack {
                to,
                session,
                seq,
                index,
                attempt,
                window,
                spread_us,
            } => Datagram::Ack {
                session,
                seq,
                index,
                attempt,
                window,
                spread_us,
            }
            .encode(buf)
            .ok()
            .map(|n| (to, n)),
            Reply::Nack { to, req } => Datagram::Nack {
                session: req.session,
                seq: req.seq,
                base: req.base,
                nbits: req.nbits,
                bitmap: &req.bitmap,
            }
            .encode(buf)
            .ok()
            .map(|n| (to, n)),
            Reply::MessageAck {
                to,
                session,
                seq,
                status,
                attempt,
                reason,
            } => Datagram::MessageAck {
                session,
                seq,
                status,
                attempt,
                reason: &reason,
            }
            .encode(buf)
            .ok()
            .map(|n| (to, n)),
            Reply::Bye { to, session } => {
                Datagram::Bye { session }.encode(buf).ok().map(|n| (to, n))
            }
        }
    }

    /// When [`Receiver::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let silence = self
            .sessions
            .iter()
            .filter(|s| s.state == State::Active)
            .map(|s| s.last_heard + self.cfg.session_timeout)
            .min();
        match (self.reasm.poll_timeout(), silence) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Acts on timers that have expired by `now`: partial-frame timeouts, NACKs, silence.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.reasm.handle_timeout(now);
        self.flush_nacks();
        for i in 0..self.sessions.len() {
            let s = &self.sessions[i];
            if s.state == State::Active
                && now.saturating_duration_since(s.last_heard) >= self.cfg.session_timeout
            {
                self.end_session(i, EndReason::Silence);
            }
        }
        self.sync_stats();
    }

    /// The next thing that happened, if any.
    pub fn poll_event(&mut self) -> Option<ReceiverEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::link::{plain_body, plain_datagram};
    use crate::protocol::sender::{OutgoingFrame, Sender, SenderConfig, SenderEvent};
    use crate::protocol::wire::Codec;

    const MS: Duration = Duration::from_millis(1);

    fn addr(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    fn unpaced() -> SenderConfig {
        SenderConfig {
            pace_per_sec: 0.0,
            ..SenderConfig::default()
        }
    }

    /// Moves every datagram one way (dropping those `drop` selects) and the replies back.
    /// Returns frames delivered.
    fn exchange(
        s: &mut Sender,
        r: &mut Receiver,
        now: Instant,
        from: SocketAddr,
        mut drop: impl FnMut(usize) -> bool,
    ) -> Vec<CompleteFrame> {
        let mut buf = vec![0u8; 1500];
        let mut i = 0;
        // Until nothing moves either way (bounded: a livelock fails the test).
        for _ in 0..100 {
            let mut moved = false;
            while let Some(n) = s.poll_transmit(now, &mut buf) {
                if !drop(i) {
                    r.handle_datagram(now, from, &buf[..n]);
                }
                i += 1;
                moved = true;
            }
            while let Some((to, n)) = r.poll_transmit(&mut buf) {
                assert_eq!(to, from);
                s.handle_datagram(now, &buf[..n]);
                moved = true;
            }
            if !moved {
                return frames(r);
            }
        }
        panic!("exchange did not settle")
    }

    /// Takes the frames delivered; other events stay for [`events`].
    fn frames(r: &mut Receiver) -> Vec<CompleteFrame> {
        let mut frames = Vec::new();
        let mut others = VecDeque::new();
        while let Some(e) = r.poll_event() {
            match e {
                ReceiverEvent::Frame { frame, .. } => frames.push(frame),
                e => others.push_back(e),
            }
        }
        r.events = others;
        frames
    }

    /// A well-formed chunk of made-up session `session` (its frame's CRC is 0: never valid).
    fn forged_chunk(session: u32, count: u16, len: u32, payload: &[u8]) -> Vec<u8> {
        let d = Datagram::Chunk {
            session,
            frame: wire::FrameInfo {
                seq: 0,
                count,
                len,
                crc32: 0,
                codec: Codec::Jpeg,
                width: 1,
                height: 1,
                timestamp_us: 0,
            },
            index: 0,
            attempt: 0,
            payload,
        };
        let mut buf = vec![0u8; d.encoded_len()];
        d.encode(&mut buf).unwrap();
        plain_datagram(&buf)
    }

    fn frame(n: usize, salt: u8) -> OutgoingFrame {
        OutgoingFrame {
            data: (0..n).map(|i| (i as u8) ^ salt).collect(),
            codec: Codec::Jpeg,
            width: 8,
            height: 8,
            timestamp_us: 1,
        }
    }

    #[test]
    fn close_says_bye_to_every_sender_it_knows() {
        let t = Instant::now();
        let mut r = Receiver::new(ReceiverConfig::default());
        let mut buf = vec![0u8; 1500];
        // Two senders that got their frames through, one that said BYE itself.
        for (session, port) in [(5, 1), (6, 2), (7, 3)] {
            let mut s = Sender::new(unpaced(), session).with_first_seq(0);
            s.push_frame(t, frame(3000, 1)).unwrap();
            exchange(&mut s, &mut r, t, addr(port), |_| false);
        }
        r.handle_datagram(t, addr(3), &{
            let mut b = vec![0u8; 10];
            Datagram::Bye { session: 7 }.encode(&mut b).unwrap();
            plain_datagram(&b)
        });
        // Session 5 moved: the BYE goes to its last address.
        r.handle_datagram(t, addr(9), &{
            let mut b = vec![0u8; 10];
            Datagram::KeepAlive { session: 5 }.encode(&mut b).unwrap();
            plain_datagram(&b)
        });
        assert!(r.poll_transmit(&mut buf).is_none());
        r.close();
        let mut sent = Vec::new();
        while let Some((to, n)) = r.poll_transmit(&mut buf) {
            let d = wire::parse(plain_body(&buf[..n]).unwrap()).unwrap();
            let session = match d {
                Datagram::Bye { session } => session,
                other => panic!("{other:?}"),
            };
            sent.push((to, session));
        }
        sent.sort_by_key(|(to, _)| *to);
        assert_eq!(sent, vec![(addr(2), 6), (addr(9), 5)]);
        // And a sender takes it as the viewer leaving.
        let mut s = Sender::new(unpaced(), 6).with_first_seq(0);
        let mut b = vec![0u8; 10];
        Datagram::Bye { session: 6 }.encode(&mut b).unwrap();
        s.handle_datagram(t, &plain_datagram(&b));
        assert_eq!(s.poll_event(), Some(SenderEvent::ViewerClosed));
    }

    #[test]
    fn close_with_no_sender_sends_nothing() {
        let mut r = Receiver::new(ReceiverConfig::default());
        r.close();
        assert!(r.poll_transmit(&mut [0u8; 1500]).is_none());
    }

    #[test]
    fn frames_flow_and_are_acked() {
        let t = Instant::now();
        let mut s = Sender::new(unpaced(), 5).with_first_seq(0);
        let mut r = Receiver::new(ReceiverConfig::default());
        for k in 0..10u8 {
            assert!(s.wants_frame(t));
            s.push_frame(t, frame(5000 + k as usize, k)).unwrap();
            let got = exchange(&mut s, &mut r, t, addr(1), |_| false);
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].data, frame(5000 + k as usize, k).data);
            assert_eq!(got[0].info.seq, k as u32);
        }
        assert_eq!(s.stats().frames_acked, 10);
        assert_eq!(active(&r), [5]);
    }

    #[test]
    fn lost_chunks_are_nacked_and_repaired_selectively() {
        let t = Instant::now();
        let mut s = Sender::new(unpaced(), 5).with_first_seq(0);
        let mut r = Receiver::new(ReceiverConfig::default());
        s.push_frame(t, frame(1160 * 10, 1)).unwrap();
        assert!(exchange(&mut s, &mut r, t, addr(1), |i| i == 2 || i == 5).is_empty());
        let t1 = r.poll_timeout().unwrap();
        assert_eq!(t1, t + 2 * MS, "NACK 2 ms after the burst's end");
        r.handle_timeout(t1);
        let got = exchange(&mut s, &mut r, t1, addr(1), |_| false);
        assert_eq!(got.len(), 1);
        assert!(s.is_idle());
        assert_eq!(s.stats().retransmitted_chunks, 2);
        assert_eq!(r.stats().nacks, 1);
    }

    #[test]
    fn lost_ack_gets_one_fresh_ack_per_probe() {
        let t = Instant::now();
        let mut s = Sender::new(unpaced(), 5).with_first_seq(0);
        let mut r = Receiver::new(ReceiverConfig::default());
        s.push_frame(t, frame(5000, 1)).unwrap();
        let mut buf = vec![0u8; 1500];
        while let Some(n) = s.poll_transmit(t, &mut buf) {
            r.handle_datagram(t, addr(1), &buf[..n]);
        }
        assert!(r.poll_transmit(&mut buf).is_some(), "the ACK, then lost");
        assert_eq!(frames(&mut r).len(), 1);
        let t1 = t + s.rto();
        s.handle_timeout(t1);
        let got = exchange(&mut s, &mut r, t1, addr(1), |_| false);
        assert!(got.is_empty(), "the frame is not delivered twice");
        assert!(s.is_idle(), "the re-ACK reached the sender");
        assert_eq!(r.stats().acks, 2);
    }

    #[test]
    fn one_ack_per_round_even_when_an_early_chunk_completes_the_frame() {
        let t = Instant::now();
        let mut s = Sender::new(unpaced(), 5).with_first_seq(0);
        let mut r = Receiver::new(ReceiverConfig::default());
        s.push_frame(t, frame(1160 * 5, 1)).unwrap();
        // Everything but chunk 0 arrives.
        assert!(exchange(&mut s, &mut r, t, addr(1), |i| i == 0).is_empty());
        // A NACK that also names chunk 4 (as a reordered, duplicated one might): the repair
        // round is chunks 0 and 4, and chunk 0 completes the frame before 4 arrives.
        let bitmap = [0b1000_1000];
        let mut buf = vec![0u8; 1500];
        let n = Datagram::Nack {
            session: 5,
            seq: 0,
            base: 0,
            nbits: 5,
            bitmap: &bitmap,
        }
        .encode(&mut buf)
        .unwrap();
        s.handle_datagram(t + 3 * MS, &plain_datagram(&buf[..n]));
        let acks_before = r.stats().acks;
        let got = exchange(&mut s, &mut r, t + 3 * MS, addr(1), |_| false);
        assert_eq!(got.len(), 1);
        assert_eq!(s.stats().retransmitted_chunks, 2);
        assert_eq!(
            r.stats().acks - acks_before,
            1,
            "chunk 4 drew no second ACK"
        );
        assert_eq!(s.stats().stale_replies, 0);
    }

    #[test]
    fn another_protocol_version_is_told_once() {
        let t = Instant::now();
        let mut r = Receiver::new(ReceiverConfig::default());
        // A version 1 ACK-sized datagram, as an older cam-send's chunk starts.
        let old = [b'C', b'W', 1, 1, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0];
        r.handle_datagram(t, addr(3), &old);
        r.handle_datagram(t, addr(3), &old);
        assert_eq!(r.stats().rejected.get("bad_version"), Some(&2));
        assert_eq!(
            events(&mut r),
            vec![ReceiverEvent::OtherVersion {
                from: addr(3),
                version: 1
            }]
        );
    }

    #[test]
    fn junk_is_counted_by_kind() {
        let t = Instant::now();
        let mut r = Receiver::new(ReceiverConfig::default());
        r.handle_datagram(t, addr(1), b"GET / HTTP/1.1");
        r.handle_datagram(t, addr(1), b"CW");
        let mut ack = [0u8; wire::ACK_LEN];
        Datagram::Ack {
            session: 1,
            seq: 1,
            index: 0,
            attempt: 0,
            window: 1,
            spread_us: 0,
        }
        .encode(&mut ack)
        .unwrap();
        r.handle_datagram(t, addr(1), &plain_datagram(&ack));
        let st = r.stats().clone();
        assert_eq!(st.rejected.get("bad_magic"), Some(&1));
        assert_eq!(st.rejected.get("truncated"), Some(&1));
        assert_eq!(st.rejected.get("unexpected_type"), Some(&1));
        assert_eq!(st.rejected_total(), 3);
    }

    fn events(r: &mut Receiver) -> Vec<ReceiverEvent> {
        std::iter::from_fn(|| r.poll_event()).collect()
    }

    #[test]
    fn bye_and_silence_end_the_session() {
        let t = Instant::now();
        let mut s = Sender::new(unpaced(), 5).with_first_seq(0);
        let mut r = Receiver::new(ReceiverConfig::default());
        s.push_frame(t, frame(10, 0)).unwrap();
        exchange(&mut s, &mut r, t, addr(1), |_| false);
        s.close();
        let mut buf = vec![0u8; 1500];
        let n = s.poll_transmit(t, &mut buf).unwrap();
        r.handle_datagram(t, addr(1), &buf[..n]);
        assert!(events(&mut r).contains(&ReceiverEvent::SessionEnded {
            session: 5,
            from: addr(1),
            reason: EndReason::Bye
        }));
        assert!(active(&r).is_empty());

        let mut s2 = Sender::new(unpaced(), 6).with_first_seq(0);
        s2.push_frame(t, frame(10, 0)).unwrap();
        exchange(&mut s2, &mut r, t, addr(2), |_| false);
        assert_eq!(active(&r), [6]);
        assert_eq!(r.poll_timeout(), Some(t + Duration::from_secs(2)));
        r.handle_timeout(t + Duration::from_secs(2));
        assert!(events(&mut r).contains(&ReceiverEvent::SessionEnded {
            session: 6,
            from: addr(2),
            reason: EndReason::Silence
        }));
    }

    #[test]
    fn keepalives_hold_a_session_through_a_pause_but_never_make_one() {
        let t0 = Instant::now();
        let mut r = Receiver::new(ReceiverConfig::default());
        let mut s = Sender::new(unpaced(), 3).with_first_seq(0);
        s.push_frame(t0, frame(2000, 1)).unwrap();
        assert_eq!(exchange(&mut s, &mut r, t0, addr(1), |_| false).len(), 1);
        // Three seconds without a frame (a camera away), a keepalive every 500 ms.
        let mut buf = vec![0u8; 1500];
        for k in 1..=6u32 {
            let now = t0 + 500 * MS * k;
            while let Some(n) = s.poll_transmit(now, &mut buf) {
                r.handle_datagram(now, addr(1), &buf[..n]);
            }
            r.handle_timeout(now);
        }
        assert!(
            !events(&mut r)
                .iter()
                .any(|e| matches!(e, ReceiverEvent::SessionEnded { .. })),
            "the session survived"
        );
        // A keepalive for a session never seen makes no entry and shows nothing.
        let mut ka = [0u8; 10];
        Datagram::KeepAlive { session: 99 }.encode(&mut ka).unwrap();
        r.handle_datagram(t0, addr(2), &plain_datagram(&ka));
        assert_eq!(r.stats().ignored_datagrams, 1);
        assert!(events(&mut r).is_empty());
    }

    #[test]
    fn restarted_sender_takes_over_and_the_old_one_is_ignored() {
        let t = Instant::now();
        let mut old = named(1, "cam");
        let mut new = named(2, "cam");
        let mut r = Receiver::new(ReceiverConfig::default());
        old.push_frame(t, frame(3000, 1)).unwrap();
        assert_eq!(exchange(&mut old, &mut r, t, addr(1), |_| false).len(), 1);
        let t1 = t + 10 * MS;
        new.push_frame(t1, frame(3000, 2)).unwrap();
        assert_eq!(exchange(&mut new, &mut r, t1, addr(2), |_| false).len(), 1);
        assert_eq!(active(&r), [2]);
        // The old sender keeps going: ignored, never acknowledged, never shown.
        old.push_frame(t1, frame(3000, 3)).unwrap();
        assert!(exchange(&mut old, &mut r, t1, addr(1), |_| false).is_empty());
        assert!(!old.is_idle(), "no ACK for the ignored session");
        assert!(r.stats().ignored_datagrams >= 3);
        assert_eq!(active(&r), [2]);
        // Once the newer one says BYE, the older may be shown again.
        new.close();
        exchange(&mut new, &mut r, t1, addr(2), |_| false);
        old.push_frame(t1, frame(3000, 4)).unwrap();
        assert_eq!(exchange(&mut old, &mut r, t1, addr(1), |_| false).len(), 1);
        assert_eq!(active(&r), [1]);
    }

    /// A sender that has told its name `name`.
    fn named(session: u32, name: &str) -> Sender {
        let mut s = Sender::new(unpaced(), session).with_first_seq(0);
        s.set_name(name).unwrap();
        s
    }

    fn active(r: &Receiver) -> Vec<u32> {
        let mut a: Vec<u32> = r.active_sessions().collect();
        a.sort();
        a
    }

    #[test]
    fn senders_are_shown_side_by_side_each_with_its_own_frames() {
        let t = Instant::now();
        let mut r = Receiver::new(ReceiverConfig::default());
        let mut senders: Vec<Sender> = (0..4u32)
            .map(|i| named(10 + i, &format!("cam{i}")))
            .collect();
        for round in 0..5u8 {
            for (i, s) in senders.iter_mut().enumerate() {
                let now = t + MS * u32::from(round);
                s.push_frame(now, frame(3000, i as u8 * 16 + round))
                    .unwrap();
                let got = exchange(s, &mut r, now, addr(i as u16 + 1), |_| false);
                assert_eq!(got.len(), 1, "sender {i}, round {round}");
                assert_eq!(got[0].session, 10 + i as u32);
                assert_eq!(got[0].data, frame(3000, i as u8 * 16 + round).data);
                assert!(s.is_idle(), "acknowledged");
            }
        }
        assert_eq!(active(&r), [10, 11, 12, 13]);
        assert_eq!(r.session_name(12).map(|n| &**n), Some("cam2"));
        assert_eq!(r.stats().refused_senders, 0);
        // Nobody ended anybody.
        assert!(!events(&mut r)
            .iter()
            .any(|e| matches!(e, ReceiverEvent::SessionEnded { .. })));
        // Each one's ACKs say how many frames it may have in flight: the room shared.
        assert_eq!(r.window(), 14);
        for i in 20..30u32 {
            let mut s = named(i, &format!("more{i}"));
            s.push_frame(t, frame(100, 0)).unwrap();
            exchange(&mut s, &mut r, t, addr(i as u16), |_| false);
        }
        assert_eq!(r.active_count(), 14);
        assert_eq!(r.window(), 4);
    }

    #[test]
    fn a_sender_beyond_max_senders_is_refused_until_a_place_frees() {
        let t = Instant::now();
        let cfg = ReceiverConfig {
            max_senders: 2,
            ..ReceiverConfig::default()
        };
        let mut r = Receiver::new(cfg);
        let mut a = named(1, "a");
        let mut b = named(2, "b");
        let mut c = named(3, "c");
        for (s, p) in [(&mut a, 1), (&mut b, 2)] {
            s.push_frame(t, frame(3000, p as u8)).unwrap();
            assert_eq!(exchange(s, &mut r, t, addr(p), |_| false).len(), 1);
        }
        events(&mut r);
        for k in 0..3 {
            c.push_frame(t, frame(3000, 9 + k)).unwrap();
            assert!(exchange(&mut c, &mut r, t, addr(3), |_| false).is_empty());
        }
        assert!(!c.is_idle(), "no ACK for a refused sender");
        let ev = events(&mut r);
        let refused: Vec<_> = ev
            .iter()
            .filter(|e| matches!(e, ReceiverEvent::SessionRefused { session: 3, .. }))
            .collect();
        assert_eq!(refused.len(), 1, "said once: {ev:?}");
        assert_eq!(r.stats().refused_senders, 1);
        assert_eq!(active(&r), [1, 2], "nobody pushed out");
        // `a` leaves: `c` is shown at its next frame.
        a.close();
        exchange(&mut a, &mut r, t, addr(1), |_| false);
        c.push_frame(t, frame(3000, 20)).unwrap();
        assert_eq!(exchange(&mut c, &mut r, t, addr(3), |_| false).len(), 1);
        assert_eq!(active(&r), [2, 3]);
    }

    #[test]
    fn only_shows_the_sender_asked_for() {
        let t = Instant::now();
        let mut r = Receiver::new(ReceiverConfig::default());
        r.set_only(Some("yard"));
        let mut door = named(1, "door");
        let mut yard = named(2, "yard");
        door.push_frame(t, frame(3000, 1)).unwrap();
        assert!(exchange(&mut door, &mut r, t, addr(1), |_| false).is_empty());
        yard.push_frame(t, frame(3000, 2)).unwrap();
        assert_eq!(exchange(&mut yard, &mut r, t, addr(2), |_| false).len(), 1);
        assert_eq!(active(&r), [2]);
        assert_eq!(r.stats().refused_senders, 1);
        // A sender with no name is never the one asked for: not shown, not refused either
        // (its name may be on its way).
        let mut anon = Sender::new(unpaced(), 3).with_first_seq(0);
        anon.push_frame(t, frame(3000, 3)).unwrap();
        assert!(exchange(&mut anon, &mut r, t, addr(3), |_| false).is_empty());
        assert_eq!(active(&r), [2]);
        // Nor is the frame it dropped taken for one already acknowledged: its tail probe
        // gets no ACK either.
        let later = t + Duration::from_millis(150);
        anon.handle_timeout(later);
        assert!(exchange(&mut anon, &mut r, later, addr(3), |_| false).is_empty());
        assert!(!anon.is_idle(), "never acknowledged");
    }

    #[test]
    fn a_name_told_late_relabels_and_makes_a_restart_take_over() {
        let t = Instant::now();
        let mut r = Receiver::new(ReceiverConfig::default());
        // Its name is lost on the way (the message's datagrams are the first out).
        let mut a = named(1, "pi");
        a.push_frame(t, frame(3000, 1)).unwrap();
        let got = exchange(&mut a, &mut r, t, addr(1), |i| i == 0);
        assert_eq!(got.len(), 1);
        let ev = events(&mut r);
        assert!(
            ev.contains(&ReceiverEvent::SessionStarted {
                session: 1,
                from: addr(1),
                name: None
            }),
            "{ev:?}"
        );
        // The message is repeated after its timeout, and then the session is named.
        let later = t + Duration::from_millis(300);
        a.handle_timeout(later);
        exchange(&mut a, &mut r, later, addr(1), |_| false);
        assert_eq!(r.session_name(1).map(|n| &**n), Some("pi"));
        assert!(events(&mut r).contains(&ReceiverEvent::SessionNamed {
            session: 1,
            from: addr(1),
            name: Arc::from("pi")
        }));
        // Its restart, from another port, takes over at its first frame.
        let mut b = named(2, "pi");
        let t2 = later + MS;
        b.push_frame(t2, frame(3000, 2)).unwrap();
        assert_eq!(exchange(&mut b, &mut r, t2, addr(5), |_| false).len(), 1);
        let ev = events(&mut r);
        assert!(ev.contains(&ReceiverEvent::SessionEnded {
            session: 1,
            from: addr(1),
            reason: EndReason::Superseded
        }));
        assert_eq!(active(&r), [2]);
    }

    /// A MESSAGE datagram of session `session` carrying `body` as content `content`.
    fn message_datagram(session: u32, content: Content, body: &[u8]) -> Vec<u8> {
        let d = Datagram::MessageChunk {
            session,
            msg: wire::MessageInfo {
                seq: 0,
                count: 1,
                len: body.len() as u32,
                crc32: crc32fast::hash(body),
                content,
            },
            index: 0,
            attempt: 0,
            payload: body,
        };
        let mut buf = vec![0u8; d.encoded_len()];
        d.encode(&mut buf).unwrap();
        plain_datagram(&buf)
    }

    #[test]
    fn a_flood_of_made_up_senders_taking_a_shown_ones_name_moves_nothing() {
        let t = Instant::now();
        let mut r = Receiver::new(ReceiverConfig::default());
        let mut cam = named(1, "cam");
        cam.push_frame(t, frame(3000, 1)).unwrap();
        assert_eq!(exchange(&mut cam, &mut r, t, addr(1), |_| false).len(), 1);
        events(&mut r);
        // Ten thousand made-up sessions, each naming itself "cam" (valid, so each answered
        // once, within its reply budget), and junk names besides.
        let mut buf = vec![0u8; 1500];
        let mut replies = 0usize;
        for junk in 0..10_000u32 {
            let body: &[u8] = if junk % 2 == 0 {
                br#"{"name":"cam"}"#
            } else {
                br#"{"name":"\u0007bell"}"#
            };
            let d = message_datagram(1000 + junk, Content::SessionInfo, body);
            r.handle_datagram(t, addr(9), &d);
            while let Some((_, n)) = r.poll_transmit(&mut buf) {
                replies += n;
                assert!(n <= 3 * d.len());
            }
        }
        assert!(replies <= 10_000 * 3 * 60, "{replies} bytes of answers");
        assert!(r.sessions.len() <= r.cfg.max_senders + SPARE_SESSIONS);
        let ev = events(&mut r);
        assert!(
            !ev.iter().any(|e| matches!(
                e,
                ReceiverEvent::SessionEnded { .. } | ReceiverEvent::SessionStarted { .. }
            )),
            "nothing started or ended: {:?}",
            &ev[..ev.len().min(3)]
        );
        assert_eq!(r.stats().messages_refused, 5_000, "bad names refused");
        // The real one is still shown, and its frames still flow.
        assert_eq!(active(&r), [1]);
        cam.push_frame(t, frame(3000, 2)).unwrap();
        assert_eq!(exchange(&mut cam, &mut r, t, addr(1), |_| false).len(), 1);
    }

    #[test]
    fn silence_ends_each_sender_on_its_own_clock() {
        let t = Instant::now();
        let mut r = Receiver::new(ReceiverConfig::default());
        let mut a = named(1, "a");
        let mut b = named(2, "b");
        a.push_frame(t, frame(100, 1)).unwrap();
        exchange(&mut a, &mut r, t, addr(1), |_| false);
        let t1 = t + Duration::from_secs(1);
        b.push_frame(t1, frame(100, 2)).unwrap();
        exchange(&mut b, &mut r, t1, addr(2), |_| false);
        events(&mut r);
        assert_eq!(r.poll_timeout(), Some(t + Duration::from_secs(2)));
        r.handle_timeout(t + Duration::from_secs(2));
        assert_eq!(active(&r), [2], "only the silent one ended");
        assert_eq!(r.poll_timeout(), Some(t1 + Duration::from_secs(2)));
        r.handle_timeout(t1 + Duration::from_secs(2));
        assert!(active(&r).is_empty());
        let ended = events(&mut r)
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    ReceiverEvent::SessionEnded {
                        reason: EndReason::Silence,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(ended, 2);
    }

    #[test]
    fn made_up_session_ids_cannot_recycle_an_old_sender_into_a_new_one() {
        let t = Instant::now();
        let mut old = named(1, "cam");
        let mut new = named(2, "cam");
        let mut r = Receiver::new(ReceiverConfig::default());
        old.push_frame(t, frame(3000, 1)).unwrap();
        exchange(&mut old, &mut r, t, addr(1), |_| false);
        new.push_frame(t, frame(3000, 2)).unwrap();
        exchange(&mut new, &mut r, t + MS, addr(2), |_| false);
        old.push_frame(t, frame(3000, 3)).unwrap();
        exchange(&mut old, &mut r, t + 2 * MS, addr(1), |_| false);
        assert_eq!(active(&r), [2]);
        // Chunks of 100 made-up sessions (each a partial frame, never complete).
        for junk in 0..100u32 {
            let d = forged_chunk(1000 + junk, 2, 100, &[0; 50]);
            r.handle_datagram(t + 3 * MS, addr(9), &d);
        }
        // The old sender goes on: still ignored, the newer one still shown.
        old.push_frame(t, frame(3000, 4)).unwrap();
        assert!(exchange(&mut old, &mut r, t + 4 * MS, addr(1), |_| false).is_empty());
        assert_eq!(active(&r), [2]);
    }

    #[test]
    fn a_forged_chunk_draws_at_most_three_times_its_bytes_in_nacks() {
        let t = Instant::now();
        let mut r = Receiver::new(ReceiverConfig::default());
        // One 297-byte chunk of a made-up 16 MiB frame, from a spoofed address.
        let d = forged_chunk(42, 65_281, 16 << 20, &[0; 257]);
        r.handle_datagram(t, addr(7), &d);
        let mut out = 0;
        let mut buf = vec![0u8; 1500];
        for ms in 0..2000 {
            r.handle_timeout(t + ms * MS);
            while let Some((_, n)) = r.poll_transmit(&mut buf) {
                out += n;
            }
        }
        assert!(out > 0, "a real sender's first frame still gets its NACK");
        assert!(
            out <= 3 * d.len(),
            "{out} bytes of NACKs for {} in",
            d.len()
        );
        assert!(r.stats().replies_withheld > 0);
    }

    #[test]
    fn a_session_that_never_completes_a_frame_never_takes_over() {
        let t = Instant::now();
        let mut s = Sender::new(unpaced(), 1).with_first_seq(0);
        let mut r = Receiver::new(ReceiverConfig::default());
        s.push_frame(t, frame(3000, 1)).unwrap();
        exchange(&mut s, &mut r, t, addr(1), |_| false);
        // A forged chunk of a new session with a wrong CRC.
        r.handle_datagram(t, addr(9), &forged_chunk(99, 1, 100, &[7; 100]));
        assert_eq!(active(&r), [1]);
        assert_eq!(r.stats().reassembly.crc_failures, 1);
    }

    /// Seeded random loss both ways: every frame still arrives exactly, in a bounded number
    /// of steps of a virtual clock.
    #[test]
    fn heavy_loss_both_ways_still_delivers_every_frame() {
        for (seed, loss) in [(1u64, 0.05), (2, 0.1), (3, 0.3)] {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut s = Sender::new(unpaced(), 5).with_first_seq(0);
            let mut r = Receiver::new(ReceiverConfig::default());
            let mut now = Instant::now();
            let mut buf = vec![0u8; 1500];
            let mut delivered = Vec::new();
            let mut steps = 0;
            for k in 0..20u8 {
                let f = frame(1160 * 12 + k as usize, k);
                s.push_frame(now, f).unwrap();
                while !s.is_idle() {
                    steps += 1;
                    assert!(steps < 20_000, "no progress at {loss} loss");
                    while let Some(n) = s.poll_transmit(now, &mut buf) {
                        if rng.f64() >= loss {
                            r.handle_datagram(now, addr(1), &buf[..n]);
                        }
                    }
                    while let Some((_, n)) = r.poll_transmit(&mut buf) {
                        if rng.f64() >= loss {
                            s.handle_datagram(now, &buf[..n]);
                        }
                    }
                    delivered.extend(frames(&mut r));
                    let next = [s.poll_timeout(), r.poll_timeout()]
                        .into_iter()
                        .flatten()
                        .min()
                        .unwrap_or(now + MS);
                    now = next.max(now);
                    s.handle_timeout(now);
                    r.handle_timeout(now);
                }
                while let Some(e) = s.poll_event() {
                    assert!(!matches!(e, SenderEvent::GaveUp { .. }));
                }
            }
            assert_eq!(delivered.len(), 20, "at {loss} loss");
            for (k, f) in delivered.iter().enumerate() {
                assert_eq!(f.data, frame(1160 * 12 + k, k as u8).data);
            }
            assert!(s.stats().retransmitted_chunks > 0);
        }
    }
}
