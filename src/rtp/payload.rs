//! RFC 2435 both ways on packets: [`JpegPayloader`] cuts a JPEG's [`Parts`] into RTP packets,
//! [`JpegDepayloader`] puts a frame back together from them (or drops it whole when a packet is
//! missing: never a broken picture). Sans-IO: bytes in, bytes out.
//!
//! Every packet carries the 8-byte JPEG header (type-specific 0, 24-bit fragment offset, type,
//! Q, width/8, height/8), then the 4-byte restart header when the JPEG has restart markers
//! (interval; F=1, L=1, count 0x3FFF: packets need not align with restart intervals, as
//! GStreamer sends them), then, in the first packet of each frame, Q=255's quantization table
//! header and both tables, then the scan data.

use std::collections::HashMap;

use super::jpeg::{q_tables, rebuild, Parts, QTable, Sampling, MAX_SIDE};
use super::packet::{write_header, Packet, HEADER_LEN, PT_JPEG};

/// Bytes of RFC 2435's main JPEG header.
pub const JPEG_HEADER_LEN: usize = 8;
/// Bytes of the restart marker header.
pub const RESTART_HEADER_LEN: usize = 4;
/// The smallest packet size the payloader takes: room for every header and two 16-bit
/// tables in the first packet, and some data.
pub const MIN_PACKET: usize = 400;
/// The largest fragment offset RFC 2435 can state: larger scans cannot travel.
pub const MAX_SCAN: usize = 1 << 24;

/// Why a frame was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The scan is larger than RFC 2435's 24-bit fragment offset can address.
    #[error("the JPEG's scan is larger than 16 MiB, beyond RFC 2435's fragment offset")]
    TooLarge,
}

/// Cuts JPEG frames into RTP packets of at most `max_packet` bytes.
#[derive(Debug, Clone)]
pub struct JpegPayloader {
    ssrc: u32,
    seq: u16,
    max_packet: usize,
}

impl JpegPayloader {
    /// A payloader for the stream `ssrc` whose first packet is numbered `first_seq` (RFC 3550
    /// wants a random one), with packets of at most `max_packet` bytes (at least
    /// [`MIN_PACKET`]).
    pub fn new(ssrc: u32, first_seq: u16, max_packet: usize) -> JpegPayloader {
        JpegPayloader {
            ssrc,
            seq: first_seq,
            max_packet: max_packet.max(MIN_PACKET),
        }
    }

    /// The stream's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The sequence number the next packet will have.
    pub fn next_seq(&self) -> u16 {
        self.seq
    }

    /// Appends the packets of one frame, all with `timestamp` (90 kHz), the marker bit on
    /// the last, to `out`.
    pub fn payload(
        &mut self,
        parts: &Parts<'_>,
        timestamp: u32,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), PayloadError> {
        if parts.scan.len() >= MAX_SCAN {
            return Err(PayloadError::TooLarge);
        }
        let side = |px: u16| {
            if px > MAX_SIDE {
                0
            } else {
                px.div_ceil(8) as u8
            }
        };
        let restart = parts.restart_interval;
        let mut main = [
            0,
            0,
            0,
            0,
            parts.sampling.type_byte(restart.is_some()),
            255,
            side(parts.width),
            side(parts.height),
        ];
        let mut offset = 0usize;
        loop {
            let mut p = Vec::with_capacity(self.max_packet);
            let mut rtp = [0u8; HEADER_LEN];
            write_header(&mut rtp, false, PT_JPEG, self.seq, timestamp, self.ssrc);
            p.extend_from_slice(&rtp);
            main[1..4].copy_from_slice(&(offset as u32).to_be_bytes()[1..]);
            p.extend_from_slice(&main);
            if let Some(n) = restart {
                p.extend_from_slice(&n.to_be_bytes());
                p.extend_from_slice(&[0xFF, 0xFF]);
            }
            if offset == 0 {
                let [l, c] = &parts.tables;
                let precision = u8::from(matches!(l, QTable::Bits16(_)))
                    | (u8::from(matches!(c, QTable::Bits16(_))) << 1);
                let len = (table_bytes(l).len() + table_bytes(c).len()) as u16;
                p.extend_from_slice(&[0, precision]);
                p.extend_from_slice(&len.to_be_bytes());
                p.extend_from_slice(table_bytes(l));
                p.extend_from_slice(table_bytes(c));
            }
            let room = self.max_packet - p.len();
            let end = (offset + room).min(parts.scan.len());
            p.extend_from_slice(&parts.scan[offset..end]);
            self.seq = self.seq.wrapping_add(1);
            offset = end;
            let last = offset == parts.scan.len();
            if last {
                p[1] |= 0x80;
            }
            out.push(p);
            if last {
                return Ok(());
            }
        }
    }
}

fn table_bytes(t: &QTable) -> &[u8] {
    match t {
        QTable::Bits8(b) => b,
        QTable::Bits16(b) => b,
    }
}

/// The packets sent lately, kept to be sent again when a receiver NACKs them (the same
/// packet, the same SSRC and sequence number, as GStreamer's `rtprtxqueue` resends). Bounded
/// by bytes.
///
/// A NACK is a small datagram that names many large packets, and its source address can be
/// forged: so each packet is sent again at most [`MAX_RESENDS`] times, and the bytes sent
/// again in a second at most half of the bytes the stream sent fresh in that second or the
/// one before, whichever is more ([`SentHistory::resend`]). A flood of NACKs can then never make the stream more than half
/// as large again, nor aim more at the receiver than it already gets.
#[derive(Debug)]
pub struct SentHistory {
    /// Packets by sequence, each with the times it was sent again.
    packets: std::collections::VecDeque<(u16, Vec<u8>, u8)>,
    bytes: usize,
    max_bytes: usize,
    /// Fresh bytes in the current and the previous second, and resent bytes in the current.
    window_start: Option<std::time::Instant>,
    fresh_now: usize,
    fresh_before: usize,
    resent_now: usize,
}

/// How often one packet is sent again at most.
pub const MAX_RESENDS: u8 = 2;

impl SentHistory {
    /// A history of at most `max_bytes` of packets.
    pub fn new(max_bytes: usize) -> SentHistory {
        SentHistory {
            packets: Default::default(),
            bytes: 0,
            max_bytes,
            window_start: None,
            fresh_now: 0,
            fresh_before: 0,
            resent_now: 0,
        }
    }

    /// Moves the one-second accounting window on to `now`.
    fn tick(&mut self, now: std::time::Instant) {
        let start = *self.window_start.get_or_insert(now);
        let age = now.saturating_duration_since(start);
        if age >= std::time::Duration::from_secs(2) {
            (self.fresh_before, self.fresh_now, self.resent_now) = (0, 0, 0);
            self.window_start = Some(now);
        } else if age >= std::time::Duration::from_secs(1) {
            self.fresh_before = self.fresh_now;
            (self.fresh_now, self.resent_now) = (0, 0);
            self.window_start = Some(start + std::time::Duration::from_secs(1));
        }
    }

    /// Keeps a packet just sent at `now` (its sequence number read from its header),
    /// dropping the oldest beyond the bound.
    pub fn push(&mut self, now: std::time::Instant, packet: Vec<u8>) {
        let Some(seq) = packet.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            return;
        };
        self.tick(now);
        self.fresh_now += packet.len();
        self.bytes += packet.len();
        self.packets.push_back((seq, packet, 0));
        while self.bytes > self.max_bytes {
            match self.packets.pop_front() {
                Some((_, p, _)) => self.bytes -= p.len(),
                None => break,
            }
        }
    }

    /// The packet with sequence number `seq` to send again at `now`: `None` when it is no
    /// longer kept, was sent again [`MAX_RESENDS`] times, or the budget of the second is
    /// spent.
    pub fn resend(&mut self, now: std::time::Instant, seq: u16) -> Option<&[u8]> {
        self.tick(now);
        let first = self.packets.front()?.0;
        let budget = self.fresh_before.max(self.fresh_now) / 2;
        let (s, p, n) = self.packets.get_mut(usize::from(seq.wrapping_sub(first)))?;
        if *s != seq || *n >= MAX_RESENDS || self.resent_now + p.len() > budget {
            return None;
        }
        *n += 1;
        self.resent_now += p.len();
        Some(p.as_slice())
    }
}

/// What the depayloader makes of a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Depay {
    /// Stored; the frame is not complete yet.
    Pending,
    /// A whole frame, as a complete JFIF file.
    Frame {
        /// Its RTP timestamp.
        timestamp: u32,
        /// The JPEG.
        jpeg: Vec<u8>,
    },
    /// A frame was given up: a packet of it is missing, or it broke a rule. Counted by the
    /// caller; nothing of it is shown.
    Dropped(DropReason),
}

/// Why a frame was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A packet of it never came (its offset did not follow on).
    Missing,
    /// Its header is not RFC 2435 (a reserved type or Q, tables that do not fit).
    Invalid,
    /// Q of 128 to 255 with no tables in this frame and none seen for that Q.
    NoTables,
    /// Larger than the depayloader's limit.
    TooLarge,
}

/// Whether RTP timestamp `a` comes before `b` (serial arithmetic: they wrap).
fn is_before(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) > 0
}

/// Frames put together at once: the newest and the one before, so that a packet that
/// arrives after the next frame has begun (reordering) still completes its frame.
const PARTIALS: usize = 2;

/// What a frame's first packet (offset 0) says: all that is needed to rebuild the headers.
#[derive(Debug, Clone)]
struct FrameHeader {
    sampling: Sampling,
    restart: Option<u16>,
    size: (u16, u16),
    tables: [QTable; 2],
}

/// A frame being put together from its fragments, in whatever order they arrive.
#[derive(Debug)]
struct Partial {
    timestamp: u32,
    header: Option<FrameHeader>,
    /// Fragments by offset.
    fragments: std::collections::BTreeMap<usize, Vec<u8>>,
    bytes: usize,
    /// Where the scan ends, once the packet with the marker bit has come.
    end: Option<usize>,
}

impl Partial {
    /// The scan, once the fragments cover it from 0 to its end without a gap.
    fn scan(&self) -> Option<Vec<u8>> {
        let end = self.end?;
        self.header.as_ref()?;
        let mut scan = Vec::with_capacity(end);
        for (&off, data) in &self.fragments {
            if off != scan.len() {
                return None;
            }
            scan.extend_from_slice(data);
        }
        (scan.len() == end).then_some(scan)
    }
}

/// Puts RFC 2435 frames back together, one RTP stream (one SSRC) at a time: fragments may
/// come in any order and more than once, and a frame completes when its fragments cover its
/// scan. Memory is bounded by [`PARTIALS`] frames of `max_frame_bytes` and a cache of at most
/// 127 table pairs.
#[derive(Debug)]
pub struct JpegDepayloader {
    max_frame_bytes: usize,
    partials: Vec<Partial>,
    /// Tables of Q 128..=254, kept when sent so that frames that leave them out can use them.
    q_cache: HashMap<u8, [QTable; 2]>,
    /// The picture size from the session description, for pictures whose header says 0.
    x_dimensions: Option<(u16, u16)>,
    /// Timestamps of the frames finished or given up lately: their late packets are passed
    /// over.
    done: std::collections::VecDeque<u32>,
    /// Frames given up so far.
    dropped: u64,
}

impl JpegDepayloader {
    /// A depayloader that drops frames larger than `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> JpegDepayloader {
        JpegDepayloader {
            max_frame_bytes,
            partials: Vec::new(),
            q_cache: HashMap::new(),
            x_dimensions: None,
            done: std::collections::VecDeque::new(),
            dropped: 0,
        }
    }

    /// Frames given up so far: a packet missing (found when a newer frame completes, or when
    /// a third one begins), a rule broken, too large.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The picture size an SDP's `a=x-dimensions` gave, for headers that say 0.
    pub fn set_x_dimensions(&mut self, size: Option<(u16, u16)>) {
        self.x_dimensions = size;
    }

    /// Takes the payload of one RTP packet of this stream. Each frame is reported once:
    /// whole, or given up (a packet never came, a rule was broken).
    pub fn push(&mut self, packet: &Packet<'_>) -> Depay {
        let ts = packet.timestamp;
        if self.done.contains(&ts) {
            return Depay::Pending;
        }
        match self.take(packet) {
            Ok(Some(jpeg)) => {
                // Frames older than this one can no longer be shown: the newest wins.
                let older: Vec<u32> = self
                    .partials
                    .iter()
                    .map(|p| p.timestamp)
                    .filter(|&t| is_before(t, ts))
                    .collect();
                for t in older {
                    self.dropped += 1;
                    self.finish(t);
                }
                self.finish(ts);
                Depay::Frame {
                    timestamp: ts,
                    jpeg,
                }
            }
            Ok(None) if self.partials.len() > PARTIALS => {
                // A third frame has begun: the oldest gives way (its packets did not all
                // come).
                let oldest = (0..self.partials.len())
                    .reduce(|a, b| {
                        if is_before(self.partials[b].timestamp, self.partials[a].timestamp) {
                            b
                        } else {
                            a
                        }
                    })
                    .expect("more than PARTIALS");
                let old = self.partials.remove(oldest);
                self.remember(old.timestamp);
                self.dropped += 1;
                Depay::Dropped(DropReason::Missing)
            }
            Ok(None) => Depay::Pending,
            Err(why) => {
                self.finish(ts);
                self.dropped += 1;
                Depay::Dropped(why)
            }
        }
    }

    fn finish(&mut self, ts: u32) {
        self.partials.retain(|p| p.timestamp != ts);
        self.remember(ts);
    }

    fn remember(&mut self, ts: u32) {
        if self.done.len() >= 8 {
            self.done.pop_front();
        }
        self.done.push_back(ts);
    }

    fn take(&mut self, packet: &Packet<'_>) -> Result<Option<Vec<u8>>, DropReason> {
        let b = packet.payload;
        let h = b.get(..JPEG_HEADER_LEN).ok_or(DropReason::Invalid)?;
        let offset = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
        let (sampling, restart) = Sampling::from_type(h[4]).ok_or(DropReason::Invalid)?;
        let q = h[5];
        let mut at = JPEG_HEADER_LEN;
        let interval = if restart {
            let r = b
                .get(at..at + RESTART_HEADER_LEN)
                .ok_or(DropReason::Invalid)?;
            at += RESTART_HEADER_LEN;
            Some(u16::from_be_bytes([r[0], r[1]]))
        } else {
            None
        };
        let header = if offset == 0 {
            let tables = self.tables(q, b, &mut at)?;
            let size = match (h[6], h[7], self.x_dimensions) {
                (0, _, Some(d)) | (_, 0, Some(d)) => d,
                (0, _, None) | (_, 0, None) => return Err(DropReason::Invalid),
                (w, h, _) => (u16::from(w) * 8, u16::from(h) * 8),
            };
            Some(FrameHeader {
                sampling,
                restart: interval,
                size,
                tables,
            })
        } else {
            None
        };
        let data = &b[at..];
        let i = match self
            .partials
            .iter()
            .position(|p| p.timestamp == packet.timestamp)
        {
            Some(i) => i,
            None => {
                self.partials.push(Partial {
                    timestamp: packet.timestamp,
                    header: None,
                    fragments: Default::default(),
                    bytes: 0,
                    end: None,
                });
                self.partials.len() - 1
            }
        };
        let p = &mut self.partials[i];
        if header.is_some() {
            p.header = header;
        }
        if packet.marker {
            p.end = Some(offset + data.len());
        }
        if !data.is_empty() && !p.fragments.contains_key(&offset) {
            if p.bytes + data.len() > self.max_frame_bytes {
                return Err(DropReason::TooLarge);
            }
            p.bytes += data.len();
            p.fragments.insert(offset, data.to_vec());
        }
        let Some(scan) = p.scan() else {
            return Ok(None);
        };
        let h = p.header.as_ref().expect("scan() checks the header");
        let mut jpeg = Vec::with_capacity(scan.len() + 1024);
        rebuild(
            h.size.0, h.size.1, h.sampling, &h.tables, h.restart, &scan, &mut jpeg,
        );
        Ok(Some(jpeg))
    }

    /// The frame's tables: from Q (1..=127), or in the packet (Q 128..=255), or cached.
    fn tables(&mut self, q: u8, b: &[u8], at: &mut usize) -> Result<[QTable; 2], DropReason> {
        match q {
            0 => Err(DropReason::Invalid),
            1..=127 => Ok(q_tables(q)),
            _ => {
                let h = b.get(*at..*at + 4).ok_or(DropReason::Invalid)?;
                let (precision, len) = (h[1], usize::from(u16::from_be_bytes([h[2], h[3]])));
                *at += 4;
                if len == 0 {
                    if q == 255 {
                        return Err(DropReason::Invalid);
                    }
                    return self.q_cache.get(&q).cloned().ok_or(DropReason::NoTables);
                }
                let body = b.get(*at..*at + len).ok_or(DropReason::Invalid)?;
                *at += len;
                let l_len = if precision & 1 != 0 { 128 } else { 64 };
                let c_len = if precision & 2 != 0 { 128 } else { 64 };
                let table = |t: &[u8]| match t.len() {
                    64 => QTable::Bits8(t.try_into().expect("64 bytes")),
                    _ => QTable::Bits16(t.try_into().expect("128 bytes")),
                };
                let l = table(body.get(..l_len).ok_or(DropReason::Invalid)?);
                let c = match body.get(l_len..l_len + c_len) {
                    Some(c) => table(c),
                    // One table only: chroma shares luma's.
                    None if body.len() == l_len => l.clone(),
                    None => return Err(DropReason::Invalid),
                };
                let tables = [l, c];
                if q < 255 {
                    self.q_cache.insert(q, tables.clone());
                }
                Ok(tables)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::jpeg::analyse;
    use crate::testutil::{golden_block, pattern_jpeg, pixels};

    fn packets(jpeg: &[u8], pay: &mut JpegPayloader, ts: u32) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        pay.payload(&analyse(jpeg).unwrap(), ts, &mut out).unwrap();
        out
    }

    /// docs/PROTOCOL.md section 15's golden packet is what the payloader sends, and the
    /// depayloader reads it back.
    #[test]
    fn the_documented_golden_packet_is_ours() {
        let golden = golden_block("rtp-hex");
        let parts = Parts {
            width: 640,
            height: 480,
            sampling: Sampling::S420,
            tables: [QTable::Bits8([0x10; 64]), QTable::Bits8([0x11; 64])],
            restart_interval: Some(4),
            scan: &[0xAA, 0xBB, 0xCC],
        };
        let mut pay = JpegPayloader::new(0x1122_3344, 0x0102, 1200);
        let mut out = Vec::new();
        pay.payload(&parts, 0x0A0B_0C0D, &mut out).unwrap();
        assert_eq!(out, vec![golden.clone()]);
        let mut depay = JpegDepayloader::new(1 << 20);
        let Depay::Frame { jpeg, .. } = depay.push(&Packet::parse(&golden).unwrap()) else {
            panic!("the golden packet is a whole frame")
        };
        assert!(jpeg.ends_with(&[0xAA, 0xBB, 0xCC, 0xFF, 0xD9]));
    }

    #[test]
    fn frames_round_trip_to_the_same_pixels_across_sequence_and_timestamp_wrap() {
        let mut pay = JpegPayloader::new(0x1234, 65530, 1200);
        let mut depay = JpegDepayloader::new(1 << 24);
        for n in 0..3u64 {
            let jpeg = pattern_jpeg(320, 240, n);
            let ts = (u32::MAX - 3000).wrapping_add(n as u32 * 3000);
            let pkts = packets(&jpeg, &mut pay, ts);
            assert!(pkts.len() > 3);
            for (i, raw) in pkts.iter().enumerate() {
                assert!(raw.len() <= 1200);
                let p = Packet::parse(raw).unwrap();
                assert_eq!((p.payload_type, p.timestamp, p.ssrc), (26, ts, 0x1234));
                assert_eq!(p.marker, i == pkts.len() - 1);
                match depay.push(&p) {
                    Depay::Frame {
                        timestamp,
                        jpeg: got,
                    } => {
                        assert_eq!(i, pkts.len() - 1);
                        assert_eq!(timestamp, ts);
                        assert_eq!(pixels(&got), pixels(&jpeg));
                    }
                    Depay::Pending => assert!(i < pkts.len() - 1),
                    d => panic!("{d:?}"),
                }
            }
        }
        assert!(pay.next_seq() < 100, "the sequence wrapped");
    }

    #[test]
    fn the_history_finds_packets_across_the_wrap_and_forgets_the_oldest() {
        let t0 = std::time::Instant::now();
        let mut pay = JpegPayloader::new(1, 65530, 400);
        let mut h = SentHistory::new(4000);
        let mut out = Vec::new();
        for n in 0..3 {
            out.clear();
            pay.payload(&analyse(&pattern_jpeg(160, 96, n)).unwrap(), 0, &mut out)
                .unwrap();
            for p in out.drain(..) {
                h.push(t0, p);
            }
        }
        let last = pay.next_seq().wrapping_sub(1);
        assert_eq!(&h.resend(t0, last).unwrap()[2..4], &last.to_be_bytes());
        assert!(h.resend(t0, 65530).is_none(), "the oldest were forgotten");
        assert!(h.resend(t0, last.wrapping_add(1)).is_none());
        assert!(h.bytes <= 4000);
    }

    #[test]
    fn a_flood_of_nacks_resends_each_packet_twice_and_half_the_stream_at_most() {
        let t0 = std::time::Instant::now();
        let mut h = SentHistory::new(1 << 20);
        let packet = |seq: u16| {
            let mut p = vec![0x80, 26];
            p.extend_from_slice(&seq.to_be_bytes());
            p.resize(1000, 0);
            p
        };
        for seq in 0..100 {
            h.push(t0, packet(seq));
        }
        // Asked for the same packet over and over: twice.
        let again = (0..50).filter(|_| h.resend(t0, 7).is_some()).count();
        assert_eq!(again, usize::from(MAX_RESENDS));
        // Asked for everything: half of the 100 000 bytes sent this second, in all.
        let all = (0..100u16).filter(|&s| h.resend(t0, s).is_some()).count();
        assert_eq!(all + again, 50);
        // A second later, with nothing new sent, the budget is that of the second before.
        let t1 = t0 + std::time::Duration::from_millis(1500);
        let later = (0..100u16).filter(|&s| h.resend(t1, s).is_some()).count();
        assert!(later <= 50);
        let t2 = t0 + std::time::Duration::from_secs(5);
        assert!(h.resend(t2, 99).is_none(), "an idle stream resends nothing");
    }

    #[test]
    fn reordered_and_repeated_packets_still_make_the_exact_frame() {
        let mut pay = JpegPayloader::new(1, 0, 500);
        let mut depay = JpegDepayloader::new(1 << 24);
        let a = pattern_jpeg(320, 240, 1);
        let b = pattern_jpeg(320, 240, 2);
        let pa = packets(&a, &mut pay, 0);
        let pb = packets(&b, &mut pay, 3000);
        // b's first packet comes before a's last ones; a's packets reversed and repeated.
        let mut order: Vec<&Vec<u8>> = vec![&pb[0]];
        order.extend(pa.iter().rev());
        order.extend(pa.iter().take(3));
        order.extend(pb.iter().skip(1));
        let frames: Vec<Vec<u8>> = order
            .into_iter()
            .filter_map(|raw| match depay.push(&Packet::parse(raw).unwrap()) {
                Depay::Frame { jpeg, .. } => Some(jpeg),
                _ => None,
            })
            .collect();
        assert_eq!(frames.len(), 2);
        assert_eq!(pixels(&frames[0]), pixels(&a));
        assert_eq!(pixels(&frames[1]), pixels(&b));
        assert_eq!(depay.dropped(), 0);
    }

    #[test]
    fn a_missing_packet_drops_the_frame_and_the_next_frame_is_whole() {
        let mut pay = JpegPayloader::new(1, 0, 600);
        let mut depay = JpegDepayloader::new(1 << 24);
        let a = pattern_jpeg(320, 240, 1);
        let b = pattern_jpeg(320, 240, 2);
        let pa = packets(&a, &mut pay, 0);
        let pb = packets(&b, &mut pay, 3000);
        let mut results = Vec::new();
        for (i, raw) in pa.iter().enumerate() {
            if i == 2 {
                continue;
            }
            results.push(depay.push(&Packet::parse(raw).unwrap()));
        }
        assert!(!results.iter().any(|r| matches!(r, Depay::Frame { .. })));
        assert_eq!(depay.dropped(), 0, "not given up while it may still come");
        let last = pb
            .iter()
            .map(|raw| depay.push(&Packet::parse(raw).unwrap()))
            .last()
            .unwrap();
        let Depay::Frame { jpeg, .. } = last else {
            panic!("{last:?}")
        };
        assert_eq!(pixels(&jpeg), pixels(&b));
        assert_eq!(depay.dropped(), 1, "the newer frame ended the older one");
        // Its missing packet, arriving now, is passed over.
        assert_eq!(depay.push(&Packet::parse(&pa[2]).unwrap()), Depay::Pending);
    }

    #[test]
    fn restart_markers_travel_as_type_64_and_4_2_2_as_type_0() {
        // A 4:2:2 JPEG with a restart marker every MCU, as UVC cameras send.
        use crate::media::camera::fake::samples;
        let rgb = samples::scene(80, 48, 7);
        let jpeg = samples::jpeg_with_restarts(&rgb, 80, 48, 1).unwrap();
        let parts = analyse(&jpeg).unwrap();
        assert_eq!(parts.restart_interval, Some(1));
        assert_eq!(parts.sampling, Sampling::S422);
        let mut pay = JpegPayloader::new(1, 0, 500);
        let mut out = Vec::new();
        pay.payload(&parts, 0, &mut out).unwrap();
        let p = Packet::parse(&out[0]).unwrap();
        assert_eq!(p.payload[4], 64);
        let mut depay = JpegDepayloader::new(1 << 24);
        let got = out
            .iter()
            .map(|raw| depay.push(&Packet::parse(raw).unwrap()))
            .last()
            .unwrap();
        let Depay::Frame { jpeg: back, .. } = got else {
            panic!("{got:?}")
        };
        assert_eq!(pixels(&back), pixels(&jpeg));
    }

    #[test]
    fn headers_that_break_the_rules_drop_the_frame_without_panicking() {
        let mut depay = JpegDepayloader::new(1000);
        // Each its own frame (timestamp), so each is reported.
        let mut ts = 0u8;
        let mut mk = |payload: &[u8], marker: bool| {
            ts += 1;
            let m = if marker { 0x80 } else { 0 };
            let mut b = vec![0x80, 26 | m, 0, 1, 0, 0, 0, ts, 0, 0, 0, 9];
            b.extend_from_slice(payload);
            b
        };
        for bad in [
            &[0u8; 3][..],
            &[0, 0, 0, 0, 7, 255, 10, 10],
            &[0, 0, 0, 0, 1, 0, 10, 10],
            &[0, 0, 0, 0, 1, 255, 10, 10, 0, 0, 0, 0],
            &[0, 0, 0, 0, 1, 200, 10, 10, 0, 0, 0, 0],
            &[0, 0, 0, 0, 1, 255, 0, 10, 0, 0, 0, 128],
        ] {
            let raw = mk(bad, true);
            let r = depay.push(&Packet::parse(&raw).unwrap());
            assert!(matches!(r, Depay::Dropped(_)), "{bad:?}: {r:?}");
        }
        // A frame over the limit is dropped too.
        let mut big = vec![0, 0, 0, 0, 1, 50, 10, 10];
        big.extend_from_slice(&[0; 2000]);
        let r = depay.push(&Packet::parse(&mk(&big, true)).unwrap());
        assert_eq!(r, Depay::Dropped(DropReason::TooLarge));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Any packet size, any order, any repeats, any loss: every frame that comes out is
        /// exactly a frame that went in, and without loss the newest always comes out.
        #[test]
        fn any_order_repeat_or_loss_gives_exact_frames_or_none(
            mtu in 400usize..1500,
            seed in proptest::prelude::any::<u64>(),
            loss in 0u32..30,
        ) {
            let mut rng = fastrand::Rng::with_seed(seed);
            let sources: Vec<Vec<u8>> = (0..3).map(|n| pattern_jpeg(160, 96, n)).collect();
            let mut pay = JpegPayloader::new(5, rng.u16(..), mtu);
            let mut depay = JpegDepayloader::new(1 << 20);
            let mut wire = Vec::new();
            for (n, jpeg) in sources.iter().enumerate() {
                let mut pkts = Vec::new();
                pay.payload(&analyse(jpeg).unwrap(), n as u32 * 3000, &mut pkts).unwrap();
                for p in pkts {
                    if rng.u32(..100) >= loss {
                        wire.push(p.clone());
                    }
                    if rng.u32(..100) < 5 {
                        wire.push(p);
                    }
                }
            }
            // Shuffle within a small window, as a network reorders.
            for i in 0..wire.len() {
                let j = (i + rng.usize(..3)).min(wire.len() - 1);
                wire.swap(i, j);
            }
            let mut got = Vec::new();
            for raw in &wire {
                if let Depay::Frame { timestamp, jpeg } = depay.push(&Packet::parse(raw).unwrap()) {
                    got.push((timestamp, jpeg));
                }
            }
            for (ts, jpeg) in &got {
                let n = (*ts / 3000) as usize;
                proptest::prop_assert_eq!(pixels(jpeg), pixels(&sources[n]));
            }
            if loss == 0 {
                // Reordering can end the oldest frame early only if a newer one completes
                // first; with no loss at least the newest always comes.
                proptest::prop_assert!(got.iter().any(|(ts, _)| *ts == 6000));
            }
        }
    }
}
