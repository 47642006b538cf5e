//! The viewer's side of RTP/JPEG, sans-IO: datagrams and instants in, whole frames and
//! events out. Each stream (SSRC) has its own depayloader and RFC 3550 reception statistics
//! (extended sequence numbers and loss, Appendix A.3; interarrival jitter, A.8). The stream
//! that started last is shown; the others are counted, as older camwire senders are. Memory is
//! bounded: at most [`MAX_SOURCES`] streams, each holding at most one partial frame of at most
//! `max_frame_bytes`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::packet::{Packet, CLOCK_RATE, PT_JPEG};
use super::payload::{Depay, JpegDepayloader};
use super::rtcp::Nack;
use crate::protocol::receiver::EndReason;

/// Streams followed at once; a new one beyond this replaces the one heard from longest ago.
pub const MAX_SOURCES: usize = 16;
/// A stream silent this long has ended.
pub const SOURCE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a gap in the sequence numbers may be a reordering before it is NACKed.
pub const NACK_HOLD: Duration = Duration::from_millis(5);
/// Between NACKs of the same packet.
pub const NACK_RETRY: Duration = Duration::from_millis(40);
/// NACKs of one packet before it is given up.
pub const NACK_TRIES: u8 = 3;
/// Missing packets followed per stream; a larger gap is not NACKed (the frames are gone).
pub const MAX_MISSING: usize = 256;

/// The receiver's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpConfig {
    /// Frames larger than this are dropped.
    pub max_frame_bytes: usize,
    /// The picture size for headers that say 0 (the SDP's `a=x-dimensions`).
    pub x_dimensions: Option<(u16, u16)>,
    /// Ask the shown stream's sender for missing packets: RFC 4585 generic NACKs, sent back
    /// to the address its RTP comes from (where `cam-send rtp://` listens; other senders
    /// ignore them).
    pub nack: bool,
}

impl Default for RtpConfig {
    fn default() -> Self {
        RtpConfig {
            max_frame_bytes: crate::protocol::reassembly::ReassemblyConfig::default()
                .max_frame_bytes,
            x_dimensions: None,
            nack: true,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtpEvent {
    /// A stream began: it is the one shown now.
    Started {
        /// Its SSRC.
        ssrc: u32,
        /// Where it comes from.
        from: SocketAddr,
    },
    /// A stream ended: silent, or replaced by a newer one.
    Ended {
        /// Its SSRC.
        ssrc: u32,
        /// Where it came from.
        from: SocketAddr,
        /// Why.
        reason: EndReason,
    },
    /// A whole frame of the shown stream, as a complete JFIF file.
    Frame {
        /// Its SSRC.
        ssrc: u32,
        /// Where it came from.
        from: SocketAddr,
        /// Its RTP timestamp.
        timestamp: u32,
        /// The JPEG.
        jpeg: Vec<u8>,
    },
}

/// The receiver's counters, over every stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtpStats {
    /// RTP packets of JPEG streams taken.
    pub packets: u64,
    /// Packets the sequence numbers say never came (RFC 3550 A.3, summed over streams).
    pub lost_packets: u64,
    /// Frames given up: a packet missing, a header against the rules, too large.
    pub dropped_frames: u64,
    /// Datagrams that are not RTP/JPEG.
    pub rejected: u64,
    /// Packets of streams not shown.
    pub ignored: u64,
    /// The shown stream's interarrival jitter (RFC 3550 A.8), in microseconds.
    pub jitter_us: u64,
    /// NACK packets sent.
    pub nacks: u64,
}

/// One stream.
#[derive(Debug)]
struct Source {
    ssrc: u32,
    from: SocketAddr,
    depay: JpegDepayloader,
    last_heard: Instant,
    /// Highest sequence number seen, extended with its wrap count.
    max_ext: u64,
    base_ext: u64,
    received: u64,
    /// Jitter estimate in RTP clock units, times 16 (A.8's fixed point).
    jitter16: u64,
    last_transit: Option<i64>,
    /// Packets missing, by extended sequence number: when to NACK next, NACKs so far.
    missing: std::collections::BTreeMap<u64, (Instant, u8)>,
}

impl Source {
    fn new(ssrc: u32, from: SocketAddr, seq: u16, now: Instant, cfg: &RtpConfig) -> Source {
        let mut depay = JpegDepayloader::new(cfg.max_frame_bytes);
        depay.set_x_dimensions(cfg.x_dimensions);
        Source {
            ssrc,
            from,
            depay,
            last_heard: now,
            max_ext: u64::from(seq) + (1 << 16),
            base_ext: u64::from(seq) + (1 << 16),
            received: 0,
            jitter16: 0,
            last_transit: None,
            missing: Default::default(),
        }
    }

    /// Extends `seq` to the one nearest the highest seen (a late packet stays behind it).
    fn extend(&self, seq: u16) -> u64 {
        let cycle = self.max_ext & !0xFFFF;
        let candidates = [cycle.wrapping_sub(1 << 16), cycle, cycle + (1 << 16)];
        candidates
            .iter()
            .map(|c| c + u64::from(seq))
            .min_by_key(|e| e.abs_diff(self.max_ext))
            .expect("three candidates")
    }

    fn lost(&self) -> u64 {
        (self.max_ext + 1 - self.base_ext).saturating_sub(self.received)
    }
}

/// The RTP/JPEG receiver (see the module documentation).
#[derive(Debug)]
pub struct RtpReceiver {
    cfg: RtpConfig,
    start: Instant,
    sources: Vec<Source>,
    shown: Option<u32>,
    events: VecDeque<RtpEvent>,
    transmits: VecDeque<(SocketAddr, Vec<u8>)>,
    /// Our SSRC in NACKs.
    ssrc: u32,
    stats: RtpStats,
    /// Loss of streams no longer followed.
    lost_before: u64,
    /// Frames dropped by streams no longer followed.
    dropped_before: u64,
}

impl RtpReceiver {
    /// A receiver with `cfg`, its clock starting at `now`.
    pub fn new(cfg: RtpConfig, now: Instant) -> RtpReceiver {
        RtpReceiver {
            cfg,
            start: now,
            sources: Vec::new(),
            shown: None,
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            ssrc: fastrand::u32(..),
            stats: RtpStats::default(),
            lost_before: 0,
            dropped_before: 0,
        }
    }

    /// Takes one datagram.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let p = match Packet::parse(bytes) {
            Ok(p) if p.payload_type == PT_JPEG || (96..=127).contains(&p.payload_type) => p,
            _ => {
                self.stats.rejected += 1;
                return;
            }
        };
        self.stats.packets += 1;
        let i = match self.sources.iter().position(|s| s.ssrc == p.ssrc) {
            Some(i) => i,
            None => self.start_source(p.ssrc, from, p.seq, now),
        };
        let arrival = self.clock(now);
        let shown = self.shown == Some(p.ssrc);
        let s = &mut self.sources[i];
        s.last_heard = now;
        s.from = from;
        let ext = s.extend(p.seq);
        if ext > s.max_ext + 1 && ext - s.max_ext <= MAX_MISSING as u64 {
            for m in s.max_ext + 1..ext {
                if s.missing.len() < MAX_MISSING {
                    s.missing.insert(m, (now + NACK_HOLD, 0));
                }
            }
        }
        s.missing.remove(&ext);
        s.max_ext = s.max_ext.max(ext);
        s.received += 1;
        // RFC 3550 A.8: J += (|D| - J) / 16, kept times 16.
        let transit = i64::from(arrival) - i64::from(p.timestamp);
        if let Some(last) = s.last_transit {
            let d = (transit - last).unsigned_abs() & 0xFFFF_FFFF;
            s.jitter16 = s.jitter16 + d - ((s.jitter16 + 8) >> 4);
        }
        s.last_transit = Some(transit);
        if !shown {
            self.stats.ignored += 1;
            return;
        }
        self.stats.jitter_us = (s.jitter16 / 16) * 1_000_000 / u64::from(CLOCK_RATE);
        match s.depay.push(&p) {
            Depay::Pending | Depay::Dropped(_) => {}
            Depay::Frame { timestamp, jpeg } => self.events.push_back(RtpEvent::Frame {
                ssrc: p.ssrc,
                from,
                timestamp,
                jpeg,
            }),
        }
    }

    /// A new stream: followed (in place of the longest silent when full) and shown.
    fn start_source(&mut self, ssrc: u32, from: SocketAddr, seq: u16, now: Instant) -> usize {
        if self.sources.len() >= MAX_SOURCES {
            let oldest = (0..self.sources.len())
                .min_by_key(|&i| self.sources[i].last_heard)
                .expect("full");
            let gone = self.sources.swap_remove(oldest);
            self.lost_before += gone.lost();
            self.dropped_before += gone.depay.dropped();
            if self.shown == Some(gone.ssrc) {
                self.shown = None;
            }
        }
        if let Some(old) = self
            .shown
            .and_then(|s| self.sources.iter().find(|x| x.ssrc == s))
        {
            self.events.push_back(RtpEvent::Ended {
                ssrc: old.ssrc,
                from: old.from,
                reason: EndReason::Superseded,
            });
        }
        self.sources
            .push(Source::new(ssrc, from, seq, now, &self.cfg));
        self.shown = Some(ssrc);
        self.events.push_back(RtpEvent::Started { ssrc, from });
        self.sources.len() - 1
    }

    /// The 90 kHz clock at `now`, for jitter.
    fn clock(&self, now: Instant) -> u32 {
        let us = now.saturating_duration_since(self.start).as_micros();
        (us * u128::from(CLOCK_RATE) / 1_000_000) as u32
    }

    /// Ends streams silent for [`SOURCE_TIMEOUT`], and NACKs the shown stream's missing
    /// packets that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.nack_due(now);
        let mut k = 0;
        while k < self.sources.len() {
            if now.saturating_duration_since(self.sources[k].last_heard) >= SOURCE_TIMEOUT {
                let gone = self.sources.swap_remove(k);
                self.lost_before += gone.lost();
                self.dropped_before += gone.depay.dropped();
                if self.shown == Some(gone.ssrc) {
                    self.shown = None;
                    self.events.push_back(RtpEvent::Ended {
                        ssrc: gone.ssrc,
                        from: gone.from,
                        reason: EndReason::Silence,
                    });
                }
            } else {
                k += 1;
            }
        }
    }

    /// One NACK of the shown stream's missing packets that are due.
    fn nack_due(&mut self, now: Instant) {
        if !self.cfg.nack {
            return;
        }
        let Some(s) = self
            .shown
            .and_then(|ssrc| self.sources.iter_mut().find(|s| s.ssrc == ssrc))
        else {
            return;
        };
        let mut lost = Vec::new();
        s.missing.retain(|&ext, (next, tries)| {
            if *next > now {
                return true;
            }
            lost.push(ext as u16);
            *tries += 1;
            *next = now + NACK_RETRY;
            *tries < NACK_TRIES
        });
        if lost.is_empty() {
            return;
        }
        let nack = Nack {
            sender_ssrc: self.ssrc,
            media_ssrc: s.ssrc,
            lost,
        };
        self.transmits.push_back((s.from, nack.to_bytes()));
        self.stats.nacks += 1;
    }

    /// The next datagram to send (a NACK) and where.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// When [`RtpReceiver::handle_timeout`] next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let silence = self.sources.iter().map(|s| s.last_heard + SOURCE_TIMEOUT);
        let nacks = self
            .sources
            .iter()
            .filter(|s| self.cfg.nack && Some(s.ssrc) == self.shown)
            .filter_map(|s| s.missing.values().map(|(next, _)| *next).min());
        silence.chain(nacks).min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<RtpEvent> {
        self.events.pop_front()
    }

    /// The counters.
    pub fn stats(&self) -> RtpStats {
        RtpStats {
            lost_packets: self.lost_before + self.sources.iter().map(Source::lost).sum::<u64>(),
            dropped_frames: self.dropped_before
                + self.sources.iter().map(|s| s.depay.dropped()).sum::<u64>(),
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::jpeg::analyse;
    use crate::rtp::payload::JpegPayloader;

    fn frame_packets(pay: &mut JpegPayloader, n: u64, ts: u32) -> Vec<Vec<u8>> {
        let jpeg = crate::testutil::pattern_jpeg(160, 96, n);
        let mut out = Vec::new();
        pay.payload(&analyse(&jpeg).unwrap(), ts, &mut out).unwrap();
        out
    }

    fn from(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn events(r: &mut RtpReceiver) -> Vec<RtpEvent> {
        std::iter::from_fn(|| r.poll_event()).collect()
    }

    #[test]
    fn frames_loss_and_wrap_are_counted_per_stream() {
        let t0 = Instant::now();
        let mut r = RtpReceiver::new(RtpConfig::default(), t0);
        let mut pay = JpegPayloader::new(7, 65533, 400);
        let mut frames = 0;
        for n in 0..6u64 {
            let pkts = frame_packets(&mut pay, n, (n as u32).wrapping_mul(3000));
            for (i, p) in pkts.iter().enumerate() {
                // Frame 3 loses its second packet.
                if n == 3 && i == 1 {
                    continue;
                }
                r.handle_datagram(t0 + Duration::from_millis(33 * n), from(1), p);
            }
        }
        for e in events(&mut r) {
            if let RtpEvent::Frame { ssrc, jpeg, .. } = e {
                assert_eq!(ssrc, 7);
                assert!(analyse(&jpeg).is_ok());
                frames += 1;
            }
        }
        assert_eq!(frames, 5);
        let st = r.stats();
        assert_eq!(st.lost_packets, 1);
        assert_eq!(st.dropped_frames, 1);
        assert!(pay.next_seq() < 65533, "the sequence wrapped");
    }

    #[test]
    fn a_missing_packet_is_nacked_and_its_resend_completes_the_frame() {
        let t0 = Instant::now();
        let mut r = RtpReceiver::new(RtpConfig::default(), t0);
        let mut pay = JpegPayloader::new(7, 100, 400);
        let pkts = frame_packets(&mut pay, 0, 0);
        let next = frame_packets(&mut pay, 1, 3000);
        for (i, p) in pkts.iter().enumerate() {
            if i != 1 {
                r.handle_datagram(t0, from(9), p);
            }
        }
        // Within the hold a gap may be reordering: nothing yet.
        r.handle_timeout(t0);
        assert!(r.poll_transmit().is_none());
        let due = r.poll_timeout().unwrap();
        assert_eq!(due, t0 + NACK_HOLD);
        r.handle_timeout(due);
        let (to, bytes) = r.poll_transmit().expect("a NACK");
        assert_eq!(to, from(9));
        let n = crate::rtp::rtcp::nacks(&bytes);
        assert_eq!((n[0].media_ssrc, n[0].lost.clone()), (7, vec![101]));
        // The next frame begins; then the resend arrives and completes the first.
        r.handle_datagram(t0, from(9), &next[0]);
        r.handle_datagram(t0, from(9), &pkts[1]);
        let frames = events(&mut r)
            .into_iter()
            .filter(|e| matches!(e, RtpEvent::Frame { .. }))
            .count();
        assert_eq!(frames, 1);
        // Nothing is missing any more: no second NACK.
        r.handle_timeout(due + NACK_RETRY);
        assert!(r.poll_transmit().is_none());
        assert_eq!(r.stats().nacks, 1);
        assert_eq!(r.stats().dropped_frames, 0);
    }

    #[test]
    fn a_packet_that_never_comes_is_nacked_a_few_times_then_given_up() {
        let t0 = Instant::now();
        let mut r = RtpReceiver::new(RtpConfig::default(), t0);
        let mut pay = JpegPayloader::new(7, 100, 400);
        let pkts = frame_packets(&mut pay, 0, 0);
        for (i, p) in pkts.iter().enumerate() {
            if i != 2 {
                r.handle_datagram(t0, from(9), p);
            }
        }
        let mut sent = 0;
        let mut now = t0;
        while let Some(t) = r.poll_timeout().filter(|t| *t < t0 + SOURCE_TIMEOUT) {
            now = t;
            r.handle_timeout(now);
            sent += std::iter::from_fn(|| r.poll_transmit()).count();
        }
        assert_eq!(sent, usize::from(NACK_TRIES));
        assert!(now < t0 + Duration::from_millis(200));
    }

    #[test]
    fn the_newest_stream_is_shown_and_the_older_one_counted() {
        let t0 = Instant::now();
        let mut r = RtpReceiver::new(RtpConfig::default(), t0);
        let mut a = JpegPayloader::new(1, 0, 1200);
        let mut b = JpegPayloader::new(2, 0, 1200);
        for p in frame_packets(&mut a, 0, 0) {
            r.handle_datagram(t0, from(1), &p);
        }
        for p in frame_packets(&mut b, 0, 0) {
            r.handle_datagram(t0, from(2), &p);
        }
        for p in frame_packets(&mut a, 1, 3000) {
            r.handle_datagram(t0, from(1), &p);
        }
        let ev = events(&mut r);
        let shown: Vec<u32> = ev
            .iter()
            .filter_map(|e| match e {
                RtpEvent::Frame { ssrc, .. } => Some(*ssrc),
                _ => None,
            })
            .collect();
        assert_eq!(shown, [1, 2]);
        assert!(ev.contains(&RtpEvent::Ended {
            ssrc: 1,
            from: from(1),
            reason: EndReason::Superseded
        }));
        assert!(r.stats().ignored > 0);
        // Silence ends the shown stream.
        r.handle_timeout(t0 + SOURCE_TIMEOUT);
        assert!(events(&mut r).contains(&RtpEvent::Ended {
            ssrc: 2,
            from: from(2),
            reason: EndReason::Silence
        }));
        assert!(r.poll_timeout().is_none());
    }

    #[test]
    fn a_flood_of_streams_and_junk_stays_bounded() {
        let t0 = Instant::now();
        let mut r = RtpReceiver::new(RtpConfig::default(), t0);
        for i in 0..10_000u32 {
            let mut b = vec![0x80, 26, 0, 0, 0, 0, 0, 0];
            b.extend_from_slice(&i.to_be_bytes());
            b.extend_from_slice(&[0, 0, 0, 0, 1, 255, 10, 10, 0, 0, 0, 128]);
            b.extend_from_slice(&[1; 128]);
            b.extend_from_slice(&[0; 900]);
            r.handle_datagram(t0, from(1), &b);
            r.handle_datagram(t0, from(1), &b[..5]);
        }
        assert!(r.sources.len() <= MAX_SOURCES);
        assert_eq!(r.stats().rejected, 10_000);
        let _ = events(&mut r);
    }
}
