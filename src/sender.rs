//! The sending side of the protocol as a sans-IO state machine.
//!
//! [`Sender`] never touches a socket or a clock. The caller feeds it frames
//! ([`Sender::push_frame`]), received datagrams ([`Sender::handle_datagram`]) and timer expiries
//! ([`Sender::handle_timeout`]), and drains what it wants to send ([`Sender::poll_transmit`]) and
//! what happened ([`Sender::poll_event`]). The same loop shape as quinn-proto and str0m.
//!
//! Pacing is stop-and-wait: one frame is in flight until the viewer ACKs it. When the ACK does
//! not come within the ACK timeout, the frame is superseded by a newer frame if the caller has
//! one ([`Sender::wants_frame`] turns true at that moment), or else sent again, up to
//! `max_attempts` rounds.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::wire::{self, chunk_count, Codec, Datagram, FrameInfo};

/// Tunables of the sender.
#[derive(Debug, Clone, Copy)]
pub struct SenderConfig {
    /// Largest datagram to send, in bytes of UDP payload.
    pub mtu: usize,
    /// How long to wait for a frame's ACK after its last chunk went out.
    pub ack_timeout: Duration,
    /// Transmission rounds per frame before giving up on it when no newer frame replaces it
    /// (at least 1); `None` retries for as long as no newer frame arrives.
    pub max_attempts: Option<u32>,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            mtu: 1200,
            ack_timeout: Duration::from_millis(100),
            max_attempts: None,
        }
    }
}

/// A frame ready to go on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingFrame {
    /// The encoded bytes.
    pub data: Vec<u8>,
    /// How `data` is encoded.
    pub codec: Codec,
    /// Picture width in pixels.
    pub width: u16,
    /// Picture height in pixels.
    pub height: u16,
    /// Capture time, microseconds since the Unix epoch.
    pub timestamp_us: u64,
}

/// Something the sender wants its owner to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderEvent {
    /// The viewer has the frame.
    Acked {
        /// The frame's sequence number.
        seq: u32,
        /// Time from the last chunk of the acknowledged round to the ACK; `None` when the ACK
        /// cannot be matched to a fully sent round (it came before that round finished, or
        /// names a round too old to remember), so that no false sample is taken.
        rtt: Option<Duration>,
        /// Frame size in bytes.
        bytes: usize,
        /// Rounds it took (1 = no retransmission).
        attempts: u32,
    },
    /// No ACK in time for one round of the frame.
    TimedOut {
        /// The frame's sequence number.
        seq: u32,
        /// Rounds sent so far.
        attempts: u32,
    },
    /// An unacknowledged frame was replaced by a newer one.
    Abandoned {
        /// The frame's sequence number.
        seq: u32,
    },
    /// A frame used all its rounds without an ACK and nothing newer replaced it.
    GaveUp {
        /// The frame's sequence number.
        seq: u32,
    },
}

/// Counters the sender keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SenderStats {
    /// Frames started.
    pub frames_sent: u64,
    /// Frames acknowledged.
    pub frames_acked: u64,
    /// Bytes of acknowledged frames.
    pub bytes_acked: u64,
    /// Frames replaced before their ACK, given up on, or cut off by `close`.
    pub frames_dropped: u64,
    /// Datagrams sent (chunks and control).
    pub datagrams_sent: u64,
    /// Chunks sent again in a later round.
    pub retransmitted_chunks: u64,
    /// ACK timeouts.
    pub timeouts: u64,
    /// Datagrams received that were not valid camwire datagrams.
    pub invalid_datagrams: u64,
    /// Valid ACKs that were not for the frame in flight (late, duplicated, or another session).
    pub stale_acks: u64,
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The frame has no bytes.
    #[error("frame is empty")]
    Empty,
    /// More than 65,535 chunks at this MTU.
    #[error("frame of {len} bytes is too large for MTU {mtu}")]
    TooLarge {
        /// Frame length.
        len: usize,
        /// Configured MTU.
        mtu: usize,
    },
}

struct InFlight {
    info: FrameInfo,
    data: Vec<u8>,
    /// Rounds started so far (the current round's `attempt` byte is `rounds - 1`).
    rounds: u32,
    /// Next chunk of the current round to emit.
    cursor: u16,
    /// When each of the last 8 rounds' last chunk left, with that round's `attempt` byte.
    round_sent: [Option<(u8, Instant)>; 8],
    /// When to give up waiting for the ACK of the current round (set once it is fully sent).
    deadline: Option<Instant>,
}

/// The sans-IO sending endpoint of one session.
pub struct Sender {
    cfg: SenderConfig,
    session: u32,
    next_seq: u32,
    current: Option<InFlight>,
    bye: bool,
    events: VecDeque<SenderEvent>,
    spare: Option<Vec<u8>>,
    stats: SenderStats,
}

impl Sender {
    /// A sender for session `session` (pick it at random per run, so viewers can tell runs
    /// apart).
    ///
    /// `cfg.mtu` is clamped to `wire::MIN_MTU..=wire::MAX_DATAGRAM`.
    pub fn new(mut cfg: SenderConfig, session: u32) -> Self {
        cfg.mtu = cfg.mtu.clamp(wire::MIN_MTU, wire::MAX_DATAGRAM);
        Sender {
            cfg,
            session,
            next_seq: 0,
            current: None,
            bye: false,
            events: VecDeque::new(),
            spare: None,
            stats: SenderStats::default(),
        }
    }

    /// This sender's session id.
    pub fn session(&self) -> u32 {
        self.session
    }

    /// Counters so far.
    pub fn stats(&self) -> &SenderStats {
        &self.stats
    }

    /// True when a new frame would be sent at once: nothing is in flight, or the frame in
    /// flight has missed its ACK and a newer one should replace it.
    pub fn wants_frame(&self) -> bool {
        match &self.current {
            None => true,
            Some(f) => f.rounds > 1,
        }
    }

    /// Changes how many rounds a frame gets when nothing newer replaces it, for example to
    /// bound the wait for the last frame of a finite stream.
    pub fn set_max_attempts(&mut self, max: Option<u32>) {
        self.cfg.max_attempts = max;
    }

    /// True when no frame is waiting for its ACK.
    pub fn is_idle(&self) -> bool {
        self.current.is_none()
    }

    /// The buffer of the last finished frame, for the caller to reuse.
    pub fn take_spare_buffer(&mut self) -> Option<Vec<u8>> {
        self.spare.take()
    }

    /// Starts sending `frame`, abandoning any unacknowledged frame. Returns its sequence number.
    pub fn push_frame(&mut self, _now: Instant, frame: OutgoingFrame) -> Result<u32, PushError> {
        if frame.data.is_empty() {
            return Err(PushError::Empty);
        }
        let count = chunk_count(frame.data.len(), self.cfg.mtu).ok_or(PushError::TooLarge {
            len: frame.data.len(),
            mtu: self.cfg.mtu,
        })?;
        let len = u32::try_from(frame.data.len()).map_err(|_| PushError::TooLarge {
            len: frame.data.len(),
            mtu: self.cfg.mtu,
        })?;
        if let Some(old) = self.current.take() {
            self.stats.frames_dropped += 1;
            self.events
                .push_back(SenderEvent::Abandoned { seq: old.info.seq });
            self.spare = Some(old.data);
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.current = Some(InFlight {
            info: FrameInfo {
                seq,
                count,
                len,
                crc32: crc32fast::hash(&frame.data),
                codec: frame.codec,
                width: frame.width,
                height: frame.height,
                timestamp_us: frame.timestamp_us,
            },
            data: frame.data,
            rounds: 1,
            cursor: 0,
            round_sent: [None; 8],
            deadline: None,
        });
        self.stats.frames_sent += 1;
        Ok(seq)
    }

    /// Ends the session: drops any frame in flight and queues a BYE.
    pub fn close(&mut self) {
        if let Some(f) = self.current.take() {
            self.stats.frames_dropped += 1;
            self.events
                .push_back(SenderEvent::Abandoned { seq: f.info.seq });
            self.spare = Some(f.data);
        }
        self.bye = true;
    }

    /// Writes the next datagram to send into `buf` and returns its length, or `None` when
    /// there is nothing to send now.
    ///
    /// # Panics
    /// If `buf` is shorter than the configured MTU: a caller bug that would otherwise stall
    /// the stream silently.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        assert!(
            buf.len() >= self.cfg.mtu,
            "poll_transmit needs a buffer of at least mtu ({}) bytes",
            self.cfg.mtu
        );
        if let Some(f) = &mut self.current {
            if f.cursor < f.info.count {
                let index = f.cursor;
                let attempt = (f.rounds - 1).min(u8::MAX as u32) as u8;
                let d = Datagram::Chunk {
                    session: self.session,
                    frame: f.info,
                    index,
                    attempt,
                    payload: &f.data[f.info.chunk_range(index)],
                };
                let n = d.encode(buf).ok()?;
                f.cursor += 1;
                self.stats.datagrams_sent += 1;
                if f.rounds > 1 {
                    self.stats.retransmitted_chunks += 1;
                }
                if f.cursor == f.info.count {
                    f.round_sent[attempt as usize % 8] = Some((attempt, now));
                    f.deadline = Some(now + self.cfg.ack_timeout);
                }
                return Some(n);
            }
        }
        if self.bye {
            self.bye = false;
            self.stats.datagrams_sent += 1;
            return Datagram::Bye {
                session: self.session,
            }
            .encode(buf)
            .ok();
        }
        None
    }

    /// Takes in one datagram from the viewer.
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8]) {
        let (session, seq, attempt) = match wire::parse(bytes) {
            Ok(Datagram::Ack {
                session,
                seq,
                attempt,
            }) => (session, seq, attempt),
            Ok(_) => {
                self.stats.invalid_datagrams += 1;
                return;
            }
            Err(_) => {
                self.stats.invalid_datagrams += 1;
                return;
            }
        };
        let matches =
            session == self.session && self.current.as_ref().is_some_and(|f| f.info.seq == seq);
        if !matches {
            self.stats.stale_acks += 1;
            return;
        }
        let f = self.current.take().expect("checked above");
        // Past 255 rounds every round says 255, so the echo no longer tells rounds apart.
        let rtt = match f.round_sent[attempt as usize % 8] {
            Some((a, t)) if a == attempt && attempt < u8::MAX => {
                Some(now.saturating_duration_since(t))
            }
            _ => None,
        };
        self.stats.frames_acked += 1;
        self.stats.bytes_acked += f.data.len() as u64;
        self.events.push_back(SenderEvent::Acked {
            seq,
            rtt,
            bytes: f.data.len(),
            attempts: f.rounds,
        });
        self.spare = Some(f.data);
    }

    /// When [`Sender::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.current.as_ref().and_then(|f| f.deadline)
    }

    /// Acts on timers that have expired by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(f) = &mut self.current else { return };
        match f.deadline {
            Some(d) if now >= d => {}
            _ => return,
        }
        self.stats.timeouts += 1;
        let seq = f.info.seq;
        self.events.push_back(SenderEvent::TimedOut {
            seq,
            attempts: f.rounds,
        });
        if self
            .cfg
            .max_attempts
            .is_some_and(|max| f.rounds >= max.max(1))
        {
            let f = self.current.take().expect("checked above");
            self.stats.frames_dropped += 1;
            self.events.push_back(SenderEvent::GaveUp { seq });
            self.spare = Some(f.data);
            return;
        }
        // Another round, emitted lazily by poll_transmit, so that a newer frame pushed before
        // then replaces it without a byte of this round being sent.
        f.rounds += 1;
        f.cursor = 0;
        f.deadline = None;
    }

    /// The next thing that happened, if any.
    pub fn poll_event(&mut self) -> Option<SenderEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize) -> OutgoingFrame {
        OutgoingFrame {
            data: (0..n).map(|i| i as u8).collect(),
            codec: Codec::Jpeg,
            width: 64,
            height: 48,
            timestamp_us: 42,
        }
    }

    fn drain(s: &mut Sender, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1200];
        while let Some(n) = s.poll_transmit(now, &mut buf) {
            out.push(buf[..n].to_vec());
        }
        out
    }

    fn ack(session: u32, seq: u32, attempt: u8) -> Vec<u8> {
        let mut b = [0u8; wire::ACK_LEN];
        Datagram::Ack {
            session,
            seq,
            attempt,
        }
        .encode(&mut b)
        .unwrap();
        b.to_vec()
    }

    #[test]
    fn sends_chunks_then_waits_for_ack() {
        let t0 = Instant::now();
        let mut s = Sender::new(SenderConfig::default(), 77);
        assert!(s.wants_frame());
        assert_eq!(s.push_frame(t0, frame(3000)).unwrap(), 0);
        assert!(!s.wants_frame());
        let dgrams = drain(&mut s, t0);
        assert_eq!(dgrams.len(), 3);
        assert!(dgrams.iter().all(|d| d.len() <= 1200));
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(100)));
        s.handle_datagram(t0 + Duration::from_millis(3), &ack(77, 0, 0));
        assert_eq!(
            s.poll_event(),
            Some(SenderEvent::Acked {
                seq: 0,
                rtt: Some(Duration::from_millis(3)),
                bytes: 3000,
                attempts: 1
            })
        );
        assert!(s.wants_frame());
        assert_eq!(s.poll_timeout(), None);
        assert_eq!(s.take_spare_buffer().map(|b| b.len()), Some(3000));
    }

    #[test]
    fn ignores_acks_of_other_sessions_and_frames() {
        let t0 = Instant::now();
        let mut s = Sender::new(SenderConfig::default(), 1);
        s.push_frame(t0, frame(10)).unwrap();
        drain(&mut s, t0);
        s.handle_datagram(t0, &ack(2, 0, 0));
        s.handle_datagram(t0, &ack(1, 5, 0));
        s.handle_datagram(t0, b"garbage");
        assert_eq!(s.poll_event(), None);
        assert_eq!(s.stats().stale_acks, 2);
        assert_eq!(s.stats().invalid_datagrams, 1);
        assert!(!s.wants_frame());
    }

    #[test]
    fn timeout_resends_then_newer_frame_wins() {
        let t0 = Instant::now();
        let mut s = Sender::new(SenderConfig::default(), 1);
        s.push_frame(t0, frame(2500)).unwrap();
        drain(&mut s, t0);
        let t1 = t0 + Duration::from_millis(100);
        s.handle_timeout(t1 - Duration::from_millis(1));
        assert_eq!(s.poll_event(), None, "not yet");
        s.handle_timeout(t1);
        assert_eq!(
            s.poll_event(),
            Some(SenderEvent::TimedOut {
                seq: 0,
                attempts: 1
            })
        );
        assert!(s.wants_frame(), "a newer frame may now replace it");
        // Nothing newer: the round is resent, with attempt = 1 in every chunk.
        let again = drain(&mut s, t1);
        assert_eq!(again.len(), 3);
        assert!(again.iter().all(|d| d[27] == 1));
        assert_eq!(s.stats().retransmitted_chunks, 3);
        // The ACK of the second round measures from that round's end, not the first's.
        s.handle_datagram(t1 + Duration::from_millis(2), &ack(1, 0, 1));
        match s.poll_event() {
            Some(SenderEvent::Acked { rtt, attempts, .. }) => {
                assert_eq!(rtt, Some(Duration::from_millis(2)));
                assert_eq!(attempts, 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn newer_frame_replaces_one_that_timed_out() {
        let t0 = Instant::now();
        let mut s = Sender::new(SenderConfig::default(), 1);
        s.push_frame(t0, frame(2500)).unwrap();
        drain(&mut s, t0);
        s.handle_timeout(t0 + Duration::from_secs(1));
        s.poll_event();
        assert_eq!(s.push_frame(t0, frame(100)).unwrap(), 1);
        assert_eq!(s.poll_event(), Some(SenderEvent::Abandoned { seq: 0 }));
        let d = drain(&mut s, t0);
        assert_eq!(d.len(), 1, "the old round was never sent");
        assert_eq!(s.stats().frames_dropped, 1);
        assert_eq!(s.stats().retransmitted_chunks, 0);
    }

    #[test]
    fn ack_for_a_round_not_fully_sent_gives_no_rtt_sample() {
        let t0 = Instant::now();
        let mut s = Sender::new(SenderConfig::default(), 1);
        s.push_frame(t0, frame(3000)).unwrap();
        drain(&mut s, t0);
        s.handle_timeout(t0 + Duration::from_millis(100));
        let mut buf = [0u8; 1200];
        s.poll_transmit(t0, &mut buf).unwrap(); // only the first chunk of round 2
        s.handle_datagram(t0 + Duration::from_millis(101), &ack(1, 0, 1));
        let acked =
            std::iter::from_fn(|| s.poll_event()).find(|e| matches!(e, SenderEvent::Acked { .. }));
        assert!(matches!(acked, Some(SenderEvent::Acked { rtt: None, .. })));
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let t0 = Instant::now();
        let cfg = SenderConfig {
            max_attempts: Some(2),
            ..SenderConfig::default()
        };
        let mut s = Sender::new(cfg, 1);
        s.push_frame(t0, frame(10)).unwrap();
        let mut t = t0;
        for _ in 0..2 {
            drain(&mut s, t);
            t += Duration::from_millis(100);
            s.handle_timeout(t);
        }
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        assert_eq!(events.last(), Some(&SenderEvent::GaveUp { seq: 0 }));
        assert!(s.is_idle());
    }

    #[test]
    fn close_sends_bye() {
        let t0 = Instant::now();
        let mut s = Sender::new(SenderConfig::default(), 9);
        s.close();
        let d = drain(&mut s, t0);
        assert_eq!(d.len(), 1);
        assert_eq!(wire::parse(&d[0]).unwrap(), Datagram::Bye { session: 9 });
    }

    #[test]
    fn refuses_unsendable_frames() {
        let mut s = Sender::new(SenderConfig::default(), 9);
        let mut f = frame(0);
        assert_eq!(
            s.push_frame(Instant::now(), f.clone()),
            Err(PushError::Empty)
        );
        f.data = vec![0; 1160 * 65_535 + 1];
        assert!(matches!(
            s.push_frame(Instant::now(), f),
            Err(PushError::TooLarge { .. })
        ));
    }
}
