//! The viewing side of the protocol as a sans-IO state machine.
//!
//! [`Receiver`] is fed datagrams with their source address and the current instant; it
//! reassembles frames, decides which ACKs to send where, and reports frames and sessions as
//! events. Sockets, threads and decoding live outside it.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use crate::reassembly::{CompleteFrame, Insert, Reassembler, ReassemblyConfig, ReassemblyStats};
use crate::wire::{self, Datagram};

/// Tunables of the receiver.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReceiverConfig {
    /// Limits for frame reassembly.
    pub reassembly: ReassemblyConfig,
}

/// Something the receiver wants its owner to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiverEvent {
    /// A frame arrived whole, with a valid CRC, and has been acknowledged.
    Frame {
        /// Where it came from.
        from: SocketAddr,
        /// The frame.
        frame: CompleteFrame,
    },
    /// The first valid chunk of a session not among the 16 most recent sessions.
    SessionStarted {
        /// The session id.
        session: u32,
        /// Where it came from.
        from: SocketAddr,
    },
    /// The sender said BYE.
    SessionEnded {
        /// The session id.
        session: u32,
        /// Where it came from.
        from: SocketAddr,
    },
}

/// Counters the receiver keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReceiverStats {
    /// Datagrams handled, valid or not.
    pub datagrams: u64,
    /// Valid frame chunks.
    pub chunks: u64,
    /// Valid chunks that belonged to a retransmission round (`attempt` > 0).
    pub retransmitted_chunks: u64,
    /// ACKs queued.
    pub acks: u64,
    /// Invalid datagrams, by reason (see [`wire::WireError::kind`]), plus datagram types a
    /// viewer never expects (`"unexpected_type"`).
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

struct PendingAck {
    to: SocketAddr,
    session: u32,
    seq: u32,
    attempt: u8,
}

const MAX_PENDING_ACKS: usize = 64;
const MAX_SESSIONS: usize = 16;

/// The sans-IO receiving endpoint.
pub struct Receiver {
    reasm: Reassembler,
    acks: VecDeque<PendingAck>,
    events: VecDeque<ReceiverEvent>,
    sessions: VecDeque<u32>,
    last_reack: Option<(u32, u32, u8)>,
    stats: ReceiverStats,
}

impl Receiver {
    /// A receiver with the given limits.
    pub fn new(cfg: ReceiverConfig) -> Self {
        Receiver {
            reasm: Reassembler::new(cfg.reassembly),
            acks: VecDeque::new(),
            events: VecDeque::new(),
            sessions: VecDeque::new(),
            last_reack: None,
            stats: ReceiverStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&mut self) -> &ReceiverStats {
        self.stats.reassembly = *self.reasm.stats();
        &self.stats
    }

    /// Gives a delivered frame's buffer back for reuse.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.reasm.recycle(buf);
    }

    fn reject(&mut self, kind: &'static str) {
        *self.stats.rejected.entry(kind).or_insert(0) += 1;
    }

    fn queue_ack(&mut self, to: SocketAddr, session: u32, seq: u32, attempt: u8) {
        if self.acks.len() >= MAX_PENDING_ACKS {
            self.acks.pop_front();
        }
        self.acks.push_back(PendingAck {
            to,
            session,
            seq,
            attempt,
        });
        self.stats.acks += 1;
    }

    fn note_session(&mut self, session: u32, from: SocketAddr) {
        if self.sessions.contains(&session) {
            return;
        }
        if self.sessions.len() >= MAX_SESSIONS {
            self.sessions.pop_front();
        }
        self.sessions.push_back(session);
        self.events
            .push_back(ReceiverEvent::SessionStarted { session, from });
    }

    /// Takes in one datagram that arrived from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.stats.datagrams += 1;
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
                self.stats.chunks += 1;
                if attempt > 0 {
                    self.stats.retransmitted_chunks += 1;
                }
                self.note_session(session, from);
                match self
                    .reasm
                    .insert(now, session, &frame, index, attempt, payload)
                {
                    Insert::Complete(f) => {
                        // Later chunks of this same round must not draw a second ACK.
                        self.last_reack = Some((session, frame.seq, attempt));
                        self.queue_ack(from, session, frame.seq, attempt);
                        self.events
                            .push_back(ReceiverEvent::Frame { from, frame: f });
                    }
                    Insert::AlreadyComplete => {
                        // The sender is resending a frame we have: its ACK was lost. One ACK per
                        // round is enough.
                        let key = (session, frame.seq, attempt);
                        if self.last_reack != Some(key) {
                            self.last_reack = Some(key);
                            self.queue_ack(from, session, frame.seq, attempt);
                        }
                    }
                    Insert::TooLarge => self.reject("frame_too_large"),
                    Insert::Inconsistent => self.reject("inconsistent_chunk"),
                    Insert::Stored | Insert::Duplicate | Insert::Stale | Insert::CrcMismatch => {}
                }
            }
            Datagram::Bye { session } => {
                self.reasm.forget_session(session);
                if let Some(pos) = self.sessions.iter().position(|&s| s == session) {
                    self.sessions.remove(pos);
                    self.events
                        .push_back(ReceiverEvent::SessionEnded { session, from });
                }
            }
            Datagram::Ack { .. } => self.reject("unexpected_type"),
        }
    }

    /// Writes the next datagram to send into `buf`; returns where to send it and its length.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        let a = self.acks.pop_front()?;
        let n = Datagram::Ack {
            session: a.session,
            seq: a.seq,
            attempt: a.attempt,
        }
        .encode(buf)
        .ok()?;
        Some((a.to, n))
    }

    /// When [`Receiver::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.reasm.poll_timeout()
    }

    /// Acts on timers that have expired by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.reasm.handle_timeout(now);
    }

    /// The next thing that happened, if any.
    pub fn poll_event(&mut self) -> Option<ReceiverEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sender::{OutgoingFrame, Sender, SenderConfig, SenderEvent};
    use crate::wire::Codec;
    use std::time::Duration;

    fn addr(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    /// Moves every datagram one way and the ACKs back, dropping the datagrams whose index in
    /// the stream `drop` selects. Returns frames delivered.
    fn exchange(
        s: &mut Sender,
        r: &mut Receiver,
        now: Instant,
        mut drop: impl FnMut(usize) -> bool,
    ) -> Vec<CompleteFrame> {
        let mut buf = vec![0u8; 1500];
        let mut i = 0;
        while let Some(n) = s.poll_transmit(now, &mut buf) {
            if !drop(i) {
                r.handle_datagram(now, addr(1), &buf[..n]);
            }
            i += 1;
        }
        while let Some((to, n)) = r.poll_transmit(&mut buf) {
            assert_eq!(to, addr(1));
            s.handle_datagram(now, &buf[..n]);
        }
        std::iter::from_fn(|| r.poll_event())
            .filter_map(|e| match e {
                ReceiverEvent::Frame { frame, .. } => Some(frame),
                _ => None,
            })
            .collect()
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
    fn frames_flow_and_are_acked() {
        let t = Instant::now();
        let mut s = Sender::new(SenderConfig::default(), 5);
        let mut r = Receiver::new(ReceiverConfig::default());
        for k in 0..10u8 {
            assert!(s.wants_frame());
            s.push_frame(t, frame(5000 + k as usize, k)).unwrap();
            let got = exchange(&mut s, &mut r, t, |_| false);
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].data, frame(5000 + k as usize, k).data);
            assert_eq!(got[0].info.seq, k as u32);
        }
        assert_eq!(s.stats().frames_acked, 10);
    }

    #[test]
    fn lost_chunk_then_resend_recovers() {
        let t = Instant::now();
        let mut s = Sender::new(SenderConfig::default(), 5);
        let mut r = Receiver::new(ReceiverConfig::default());
        s.push_frame(t, frame(5000, 1)).unwrap();
        assert!(exchange(&mut s, &mut r, t, |i| i == 2).is_empty());
        let t1 = t + Duration::from_millis(100);
        s.handle_timeout(t1);
        let got = exchange(&mut s, &mut r, t1, |_| false);
        assert_eq!(got.len(), 1);
        assert!(s.is_idle());
    }

    #[test]
    fn lost_ack_gets_one_fresh_ack_per_round() {
        let t = Instant::now();
        let mut s = Sender::new(SenderConfig::default(), 5);
        let mut r = Receiver::new(ReceiverConfig::default());
        s.push_frame(t, frame(5000, 1)).unwrap();
        // Deliver every chunk but lose the ACK.
        let mut buf = vec![0u8; 1500];
        while let Some(n) = s.poll_transmit(t, &mut buf) {
            r.handle_datagram(t, addr(1), &buf[..n]);
        }
        assert!(r.poll_transmit(&mut buf).is_some());
        let first = std::iter::from_fn(|| r.poll_event())
            .filter(|e| matches!(e, ReceiverEvent::Frame { .. }))
            .count();
        assert_eq!(first, 1);
        let t1 = t + Duration::from_millis(100);
        s.handle_timeout(t1);
        let got = exchange(&mut s, &mut r, t1, |_| false);
        assert!(got.is_empty(), "the frame is not delivered twice");
        assert!(s.is_idle(), "the re-ACK reached the sender");
        assert_eq!(r.stats().acks, 2);
        let acked = std::iter::from_fn(|| s.poll_event())
            .filter(|e| matches!(e, SenderEvent::Acked { .. }))
            .count();
        assert_eq!(acked, 1);
    }

    #[test]
    fn one_ack_per_round_even_when_an_early_chunk_completes_the_frame() {
        let t = Instant::now();
        let mut s = Sender::new(SenderConfig::default(), 5);
        let mut r = Receiver::new(ReceiverConfig::default());
        s.push_frame(t, frame(5000, 1)).unwrap();
        // Round 0 loses chunk 0; round 1 delivers chunk 0 first, completing the frame, and
        // then the rest of the round arrives too.
        exchange(&mut s, &mut r, t, |i| i == 0);
        let acks_before = r.stats().acks;
        s.handle_timeout(t + Duration::from_millis(100));
        exchange(&mut s, &mut r, t + Duration::from_millis(100), |_| false);
        assert_eq!(r.stats().acks - acks_before, 1);
        assert_eq!(s.stats().stale_acks, 0);
    }

    #[test]
    fn junk_is_counted_by_kind_and_bye_ends_session() {
        let t = Instant::now();
        let mut r = Receiver::new(ReceiverConfig::default());
        r.handle_datagram(t, addr(1), b"GET / HTTP/1.1");
        r.handle_datagram(t, addr(1), b"CW");
        let mut s = Sender::new(SenderConfig::default(), 5);
        s.push_frame(t, frame(10, 0)).unwrap();
        exchange(&mut s, &mut r, t, |_| false);
        s.close();
        exchange(&mut s, &mut r, t, |_| false);
        let st = r.stats().clone();
        assert_eq!(st.rejected.get("bad_magic"), Some(&1));
        assert_eq!(st.rejected.get("truncated"), Some(&1));
        assert_eq!(st.rejected_total(), 2);
    }

    #[test]
    fn session_events() {
        let t = Instant::now();
        let mut s = Sender::new(SenderConfig::default(), 5);
        let mut r = Receiver::new(ReceiverConfig::default());
        s.push_frame(t, frame(10, 0)).unwrap();
        let mut buf = vec![0u8; 1500];
        while let Some(n) = s.poll_transmit(t, &mut buf) {
            r.handle_datagram(t, addr(1), &buf[..n]);
        }
        assert_eq!(
            r.poll_event(),
            Some(ReceiverEvent::SessionStarted {
                session: 5,
                from: addr(1)
            })
        );
        assert!(matches!(r.poll_event(), Some(ReceiverEvent::Frame { .. })));
        s.close();
        let n = s.poll_transmit(t, &mut buf).unwrap();
        r.handle_datagram(t, addr(1), &buf[..n]);
        assert_eq!(
            r.poll_event(),
            Some(ReceiverEvent::SessionEnded {
                session: 5,
                from: addr(1)
            })
        );
    }
}
