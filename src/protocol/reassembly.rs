//! Frame reassembly: chunks in any order, with duplicates, become whole, CRC-checked frames.
//!
//! Memory is bounded by construction: at most `max_partial_frames` frames are assembled at
//! once, none larger than `max_frame_bytes`, and the oldest partial frame is evicted to make
//! room. A partial frame holds only the chunks that arrived ([`ChunkBuffer`]), never the
//! length its chunks announce, so a forged chunk costs about its own size. Chunks of frames that are finished (a fixed ring of the last 32) or superseded (the
//! newest completed sequence number of each of the last 16 sessions) are dropped without
//! allocating.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::protocol::chunks::{ChunkBuffer, Put};
use crate::protocol::serial;
use crate::protocol::wire::{FrameInfo, MAX_NACK_BITS};

/// The largest frame a viewer takes by default (16 MiB): [`ReassemblyConfig::max_frame_bytes`],
/// and the sender's [`crate::protocol::sender::SenderConfig::max_frame_bytes`], so that a
/// frame the viewer would refuse is refused before it is sent.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 << 20;

/// Limits that bound the reassembler's memory.
#[derive(Debug, Clone, Copy)]
pub struct ReassemblyConfig {
    /// Frames longer than this are refused on their first chunk.
    pub max_frame_bytes: usize,
    /// How many frames may be partially assembled at once.
    pub max_partial_frames: usize,
    /// Bytes all partial frames may hold together, checked before each chunk is stored (a
    /// growing buffer may pass it by up to one frame's allocation); the oldest other partial
    /// frames are evicted to make room. Never less than `max_frame_bytes`.
    pub max_partial_bytes: usize,
    /// A partial frame that receives no chunk for this long is dropped.
    pub partial_timeout: Duration,
    /// Quiet time after the end of a burst (the frame's last chunk, or any resent chunk)
    /// before missing chunks are NACKed: room for slightly reordered datagrams.
    pub nack_delay: Duration,
    /// Quiet time before NACKing when the end of the burst was not seen (it may be lost).
    pub nack_quiet: Duration,
    /// Time between repeated NACKs while nothing arrives.
    pub nack_retry: Duration,
    /// NACKs per sender round at most: the budget renews whenever a chunk of a newer round
    /// (a higher `attempt`, such as the sender's tail probe) arrives.
    pub max_nacks: u32,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            // Room for 14 frames in flight from each of four senders, seven from each of
            // eight, three from each of sixteen (the receiver shares it, see its window).
            max_partial_frames: 64,
            max_partial_bytes: 64 << 20,
            partial_timeout: Duration::from_secs(1),
            nack_delay: Duration::from_millis(2),
            nack_quiet: Duration::from_millis(10),
            nack_retry: Duration::from_millis(10),
            max_nacks: 32,
        }
    }
}

impl ReassemblyConfig {
    /// The frames of one session this viewer will assemble at once when it is the only
    /// sender (PROTOCOL.md 5.1): all of `max_partial_frames` but two, which stay free for
    /// another sender or a flood, at most [`MAX_WINDOW`] and at least 1. With more senders
    /// the receiver shares the room among them.
    pub fn window(&self) -> u8 {
        self.max_partial_frames
            .saturating_sub(2)
            .clamp(1, MAX_WINDOW as usize) as u8
    }
}

/// The most frames in flight a viewer offers one sender: 14 is 460 ms of a 30 fps stream,
/// more than the sender's deadline lets it keep.
pub const MAX_WINDOW: u8 = 14;

/// A frame received whole with a matching CRC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteFrame {
    /// The sender's session id.
    pub session: u32,
    /// The frame's metadata.
    pub info: FrameInfo,
    /// The frame's bytes, exactly as the sender framed them.
    pub data: Vec<u8>,
    /// The `attempt` of the chunk that completed the frame.
    pub attempt: u8,
    /// From the arrival of its first chunk to the arrival of the one that completed it.
    pub spread: Duration,
}

/// What happened to one chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum Insert {
    /// Stored; the frame is still missing chunks.
    Stored,
    /// Already had this chunk.
    Duplicate,
    /// The chunk completed its frame.
    Complete(CompleteFrame),
    /// A chunk of a frame finished recently: nothing stored, but the sender may want a
    /// fresh ACK (its ACK may have been lost).
    AlreadyComplete,
    /// A chunk of a frame older than one already completed in this session: dropped.
    Stale,
    /// The last chunk arrived but the frame's CRC did not match: the frame is dropped.
    CrcMismatch,
    /// The chunk's frame is larger than `max_frame_bytes`.
    TooLarge,
    /// The chunk's metadata disagrees with earlier chunks of the same frame.
    Inconsistent,
}

/// Counters the reassembler keeps; read them through [`Reassembler::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReassemblyStats {
    /// Frames completed with a valid CRC.
    pub completed: u64,
    /// Partial frames dropped: evicted for room, superseded by a newer frame, or timed out.
    pub incomplete_dropped: u64,
    /// Frames whose CRC did not match.
    pub crc_failures: u64,
    /// Duplicate chunks ignored.
    pub duplicate_chunks: u64,
    /// Chunks of finished or superseded frames ignored.
    pub stale_chunks: u64,
    /// Chunks refused for an oversize frame.
    pub oversize_chunks: u64,
    /// Chunks whose metadata disagreed with their frame.
    pub inconsistent_chunks: u64,
    /// NACKs produced.
    pub nacks: u64,
}

/// A request for missing chunks, ready to be encoded as a NACK datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NackRequest {
    /// The sender's session.
    pub session: u32,
    /// The incomplete frame.
    pub seq: u32,
    /// Index of the bitmap's first bit: the first missing chunk.
    pub base: u16,
    /// Meaningful bits (up to the last missing chunk the NACK covers).
    pub nbits: u16,
    /// Bit `i` set (MSB first) = chunk `base + i` missing.
    pub bitmap: Vec<u8>,
}

impl NackRequest {
    /// Cuts the NACK to at most `nbits` bits (at least 1), keeping its encoding valid (padding
    /// bits zero): the chunks past the cut are asked for by a later NACK.
    pub fn truncate(&mut self, nbits: u16) {
        let nbits = nbits.max(1);
        if nbits >= self.nbits {
            return;
        }
        self.nbits = nbits;
        self.bitmap.truncate(usize::from(nbits).div_ceil(8));
        let used = nbits % 8;
        if used != 0 {
            if let Some(last) = self.bitmap.last_mut() {
                *last &= 0xFF << (8 - used);
            }
        }
    }
}

struct Partial {
    session: u32,
    info: FrameInfo,
    chunks: ChunkBuffer,
    /// When its first chunk arrived.
    first_seen: Instant,
    last_seen: Instant,
    /// The burst's end was seen: the last chunk, or a resent chunk.
    end_seen: bool,
    nack_at: Option<Instant>,
    nacks_sent: u32,
    max_attempt: u8,
}

/// The NACK for a partial frame: a bitmap from its first missing chunk to the last missing
/// chunk that fits one NACK datagram.
fn nack_for(p: &Partial) -> Option<NackRequest> {
    let count = p.info.count as usize;
    let base = (0..count).find(|&i| !p.chunks.has(i))?;
    let end = count.min(base + MAX_NACK_BITS);
    let last = (base..end).rev().find(|&i| !p.chunks.has(i))?;
    let nbits = last - base + 1;
    let mut bitmap = vec![0u8; nbits.div_ceil(8)];
    for i in base..=last {
        if !p.chunks.has(i) {
            let b = i - base;
            bitmap[b / 8] |= 0x80 >> (b % 8);
        }
    }
    Some(NackRequest {
        session: p.session,
        seq: p.info.seq,
        base: base as u16,
        nbits: nbits as u16,
        bitmap,
    })
}

const RECENT: usize = 32;

/// Sessions whose newest completed `seq` is remembered: every session a receiver may keep
/// ([`crate::protocol::receiver::MAX_SENDERS`] and spares).
const NEWEST: usize = 80;

/// The longest wait for a burst whose end was not seen, however slowly its chunks arrive.
const MAX_QUIET: Duration = Duration::from_millis(100);

/// Reassembles frames from chunks. Sans-IO: it is given chunks and instants, nothing else.
pub struct Reassembler {
    cfg: ReassemblyConfig,
    partials: Vec<Partial>,
    /// Recently completed `(session, seq)` pairs, a ring.
    recent: [(u32, u32); RECENT],
    recent_len: usize,
    recent_next: usize,
    /// Newest completed seq per session (a short list; sessions are few).
    newest: Vec<(u32, u32)>,
    spare: Vec<Vec<u8>>,
    /// The sessions whose partial frames are evicted last (the ones being shown).
    protected: Vec<u32>,
    nacks: VecDeque<NackRequest>,
    stats: ReassemblyStats,
}

impl Reassembler {
    /// A reassembler with the given limits.
    pub fn new(cfg: ReassemblyConfig) -> Self {
        Reassembler {
            cfg,
            partials: Vec::with_capacity(cfg.max_partial_frames.max(1)),
            recent: [(0, 0); RECENT],
            recent_len: 0,
            recent_next: 0,
            newest: Vec::new(),
            spare: Vec::new(),
            protected: Vec::new(),
            nacks: VecDeque::new(),
            stats: ReassemblyStats::default(),
        }
    }

    /// Makes `sessions`' partial frames the last to be evicted, so that a flood of chunks
    /// from elsewhere cannot push the shown streams' frames out.
    pub fn set_protected(&mut self, sessions: &[u32]) {
        self.protected.clear();
        self.protected.extend_from_slice(sessions);
    }

    /// Counters so far.
    pub fn stats(&self) -> &ReassemblyStats {
        &self.stats
    }

    /// Returns a finished frame's buffer so that the next frame can reuse its allocation.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < self.cfg.max_partial_frames
            && buf.capacity() <= self.cfg.max_frame_bytes
        {
            buf.clear();
            self.spare.push(buf);
        }
    }

    fn is_recent(&self, session: u32, seq: u32) -> bool {
        self.recent[..self.recent_len].contains(&(session, seq))
    }

    fn newest_of(&self, session: u32) -> Option<u32> {
        self.newest
            .iter()
            .find(|(s, _)| *s == session)
            .map(|&(_, q)| q)
    }

    /// Forgets everything about `session` (for example after its BYE).
    pub fn forget_session(&mut self, session: u32) {
        let before = self.partials.len();
        self.partials.retain(|p| p.session != session);
        self.stats.incomplete_dropped += (before - self.partials.len()) as u64;
        self.newest.retain(|(s, _)| *s != session);
        // Nor is any of its frames finished: one the receiver dropped unshown must not draw
        // a repeated ACK from the ring. The ring is rebuilt, oldest first, without them.
        let len = self.recent_len;
        let oldest = (self.recent_next + RECENT - len) % RECENT;
        let kept: Vec<(u32, u32)> = (0..len)
            .map(|k| self.recent[(oldest + k) % RECENT])
            .filter(|(s, _)| *s != session)
            .collect();
        self.recent_len = kept.len();
        self.recent_next = kept.len() % RECENT;
        self.recent[..kept.len()].copy_from_slice(&kept);
    }

    /// Adds one parsed chunk.
    pub fn insert(
        &mut self,
        now: Instant,
        session: u32,
        info: &FrameInfo,
        index: u16,
        attempt: u8,
        payload: &[u8],
    ) -> Insert {
        if self.is_recent(session, info.seq) {
            self.stats.stale_chunks += 1;
            return Insert::AlreadyComplete;
        }
        if let Some(newest) = self.newest_of(session) {
            if info.seq == newest {
                // Finished, though out of the ring already (many senders fill it fast): its
                // sender has not had the ACK.
                self.stats.stale_chunks += 1;
                return Insert::AlreadyComplete;
            }
            if serial::before(info.seq, newest) {
                self.stats.stale_chunks += 1;
                return Insert::Stale;
            }
        }
        let pos = match self
            .partials
            .iter()
            .position(|p| p.session == session && p.info.seq == info.seq)
        {
            Some(pos) => {
                if self.partials[pos].info != *info {
                    self.stats.inconsistent_chunks += 1;
                    return Insert::Inconsistent;
                }
                pos
            }
            None => {
                if info.len as usize > self.cfg.max_frame_bytes {
                    self.stats.oversize_chunks += 1;
                    return Insert::TooLarge;
                }
                self.make_room();
                let spare = self.spare.pop().unwrap_or_default();
                self.partials.push(Partial {
                    session,
                    info: *info,
                    chunks: ChunkBuffer::new(spare, info.len as usize, info.count as usize),
                    first_seen: now,
                    last_seen: now,
                    end_seen: false,
                    nack_at: None,
                    nacks_sent: 0,
                    max_attempt: 0,
                });
                self.partials.len() - 1
            }
        };
        let pos = self.make_byte_room(pos, payload.len());
        let p = &mut self.partials[pos];
        p.last_seen = now;
        // A NACK is due a short quiet spell after the burst ends; if its end may have been
        // lost, after a longer one. Every chunk pushes the time out: the burst goes on.
        if index + 1 == info.count || attempt > 0 {
            p.end_seen = true;
        }
        if attempt > p.max_attempt {
            // The sender is in a new round (a repair or a probe): it is listening again.
            p.max_attempt = attempt;
            p.nacks_sent = 0;
        }
        let quiet = if p.end_seen {
            self.cfg.nack_delay
        } else {
            // Behind a slow bottleneck the chunks of a burst arrive far apart (10 ms each at
            // 1 Mbit/s): a pause is only suspicious when it is well over their usual gap.
            let held = p.chunks.chunks_held().max(1) as u32;
            let gap = now.saturating_duration_since(p.first_seen) / held;
            (gap * 3).clamp(self.cfg.nack_quiet, MAX_QUIET)
        };
        if p.nacks_sent < self.cfg.max_nacks {
            p.nack_at = Some(now + quiet);
        }
        // The parser guarantees the payload length matches this range.
        match p
            .chunks
            .put(index as usize, info.chunk_range(index), payload)
        {
            Put::Duplicate => {
                self.stats.duplicate_chunks += 1;
                return Insert::Duplicate;
            }
            Put::Stored => return Insert::Stored,
            Put::Complete => {}
        }
        let p = self.partials.swap_remove(pos);
        let data = p.chunks.into_data();
        if crc32fast::hash(&data) != p.info.crc32 {
            self.stats.crc_failures += 1;
            // Which chunk was damaged is unknown: ask for the whole frame again at once,
            // rather than leave the sender to find out by timeout.
            let nbits = (info.count as usize).min(MAX_NACK_BITS);
            let mut bitmap = vec![0xFFu8; nbits.div_ceil(8)];
            if !nbits.is_multiple_of(8) {
                *bitmap.last_mut().expect("nbits > 0") = 0xFF << (8 - nbits % 8);
            }
            self.stats.nacks += 1;
            self.nacks.push_back(NackRequest {
                session,
                seq: info.seq,
                base: 0,
                nbits: nbits as u16,
                bitmap,
            });
            self.recycle(data);
            return Insert::CrcMismatch;
        }
        self.finish(session, info.seq);
        self.stats.completed += 1;
        Insert::Complete(CompleteFrame {
            session,
            info: p.info,
            data,
            attempt,
            spread: now.saturating_duration_since(p.first_seen),
        })
    }

    fn finish(&mut self, session: u32, seq: u32) {
        self.recent[self.recent_next] = (session, seq);
        self.recent_next = (self.recent_next + 1) % RECENT;
        self.recent_len = (self.recent_len + 1).min(RECENT);
        // Most recently completed last: the session at the front is the one to forget.
        let newest = match self.newest.iter().position(|(s, _)| *s == session) {
            Some(i) => {
                let (_, old) = self.newest.remove(i);
                if serial::before(old, seq) {
                    seq
                } else {
                    old
                }
            }
            None => {
                if self.newest.len() >= NEWEST {
                    self.newest.remove(0);
                }
                seq
            }
        };
        self.newest.push((session, newest));
        // Older partial frames of this session can never be shown now: the newest frame wins.
        let before = self.partials.len();
        let mut freed = Vec::new();
        self.partials.retain_mut(|p| {
            let stale = p.session == session && serial::before(p.info.seq, seq);
            if stale {
                let chunks = std::mem::replace(&mut p.chunks, ChunkBuffer::new(Vec::new(), 0, 0));
                freed.push(chunks.into_data());
            }
            !stale
        });
        self.stats.incomplete_dropped += (before - self.partials.len()) as u64;
        for b in freed {
            self.recycle(b);
        }
    }

    /// Evicts other partial frames, in eviction order, until `extra` more bytes fit in
    /// `max_partial_bytes`; returns where the frame at `pos` is afterwards.
    fn make_byte_room(&mut self, pos: usize, extra: usize) -> usize {
        let budget = self.cfg.max_partial_bytes.max(self.cfg.max_frame_bytes);
        let key = (self.partials[pos].session, self.partials[pos].info.seq);
        while self.partial_bytes() + extra > budget && self.partials.len() > 1 {
            let victim = self.victim(Some(key)).expect("more than one partial frame");
            let p = self.partials.swap_remove(victim);
            self.stats.incomplete_dropped += 1;
            self.recycle(p.chunks.into_data());
        }
        self.partials
            .iter()
            .position(|p| (p.session, p.info.seq) == key)
            .expect("never evicted")
    }

    /// The partial frame to evict next (never the one `keep` names): the longest untouched
    /// of a session not shown; when every one is a shown session's, the longest untouched of
    /// the session holding the most. A flood of made-up sessions costs one pass per frame
    /// it starts, and a shown sender that floods (or many at once) evicts its own frames,
    /// not the others'.
    fn victim(&self, keep: Option<(u32, u32)>) -> Option<usize> {
        let candidates = || {
            self.partials
                .iter()
                .enumerate()
                .filter(move |(_, p)| Some((p.session, p.info.seq)) != keep)
        };
        let unshown = candidates()
            .filter(|(_, p)| !self.protected.contains(&p.session))
            .min_by_key(|(_, p)| p.last_seen)
            .map(|(i, _)| i);
        if unshown.is_some() {
            return unshown;
        }
        // Only shown senders' frames: at most one per shown session is counted.
        let mut held: Vec<(u32, usize)> = Vec::with_capacity(self.protected.len());
        for (_, p) in candidates() {
            match held.iter_mut().find(|(s, _)| *s == p.session) {
                Some((_, n)) => *n += 1,
                None => held.push((p.session, 1)),
            }
        }
        let busiest = held.iter().max_by_key(|(_, n)| *n)?.0;
        candidates()
            .filter(|(_, p)| p.session == busiest)
            .min_by_key(|(_, p)| p.last_seen)
            .map(|(i, _)| i)
    }

    fn make_room(&mut self) {
        while self.partials.len() >= self.cfg.max_partial_frames.max(1) {
            let oldest = self.victim(None).unwrap_or(0);
            let p = self.partials.swap_remove(oldest);
            self.stats.incomplete_dropped += 1;
            self.recycle(p.chunks.into_data());
        }
    }

    /// When the next NACK is due or the next partial frame would time out, if ever. (NACKs
    /// made at once, after a CRC failure, are ready from [`Reassembler::poll_nack`] without
    /// waiting for a timer.)
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.partials
            .iter()
            .flat_map(|p| [Some(p.last_seen + self.cfg.partial_timeout), p.nack_at])
            .flatten()
            .min()
    }

    /// Drops partial frames that have timed out by `now`, and prepares the NACKs now due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let cfg = self.cfg;
        let mut i = 0;
        while i < self.partials.len() {
            if now.saturating_duration_since(self.partials[i].last_seen) >= cfg.partial_timeout {
                let p = self.partials.swap_remove(i);
                self.stats.incomplete_dropped += 1;
                self.recycle(p.chunks.into_data());
                continue;
            }
            let p = &mut self.partials[i];
            if p.nack_at.is_some_and(|t| now >= t) {
                p.nacks_sent += 1;
                p.nack_at = (p.nacks_sent < cfg.max_nacks).then_some(now + cfg.nack_retry);
                if let Some(n) = nack_for(p) {
                    self.stats.nacks += 1;
                    self.nacks.push_back(n);
                }
            }
            i += 1;
        }
    }

    /// The next NACK to send, if any.
    pub fn poll_nack(&mut self) -> Option<NackRequest> {
        self.nacks.pop_front()
    }

    /// Number of frames currently being assembled.
    pub fn partial_count(&self) -> usize {
        self.partials.len()
    }

    /// Heap bytes held by partial frames: what their chunks brought (in buffers that grow with
    /// them; a recycled buffer keeps its allocation), never what their headers announce. At
    /// most `max_partial_frames` frames of about `max_frame_bytes` each (a few bytes more a
    /// chunk).
    pub fn partial_bytes(&self) -> usize {
        self.partials.iter().map(|p| p.chunks.held()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{chunk_count, Codec};
    use proptest::prelude::*;

    fn frame_info(seq: u32, data: &[u8], mtu: usize) -> FrameInfo {
        FrameInfo {
            seq,
            count: chunk_count(data.len(), mtu).unwrap(),
            len: data.len() as u32,
            crc32: crc32fast::hash(data),
            codec: Codec::Jpeg,
            width: 0,
            height: 0,
            timestamp_us: 0,
        }
    }

    fn data(n: usize, salt: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31) ^ salt).collect()
    }

    #[test]
    fn partial_frames_share_a_byte_budget() {
        let cfg = ReassemblyConfig {
            max_frame_bytes: 10_000,
            max_partial_bytes: 25_000,
            ..ReassemblyConfig::default()
        };
        let mut r = Reassembler::new(cfg);
        let t0 = Instant::now();
        // Nine partial frames of 9,000 of their 10,000 bytes each, from nine sessions: never
        // more than the budget held, the newest kept.
        for s in 0..9u32 {
            let d = data(10_000, s as u8);
            let info = frame_info(0, &d, 1000);
            for i in 0..9u16 {
                let range = info.chunk_range(i);
                let t = t0 + Duration::from_millis((s * 10 + i as u32) as u64);
                r.insert(t, s, &info, i, 0, &d[range]);
                // Checked before each chunk is stored: a buffer growing by doubling may pass
                // the budget by up to one frame's allocation.
                assert!(
                    r.partial_bytes() <= 25_000 + 10_000,
                    "{}",
                    r.partial_bytes()
                );
            }
        }
        assert!(r.partial_count() <= 4, "{}", r.partial_count());
        // The newest frame completes.
        let d = data(10_000, 8);
        let info = frame_info(0, &d, 1000);
        let t = t0 + Duration::from_secs(1);
        let done = (9..info.count).map(|i| r.insert(t, 8, &info, i, 0, &d[info.chunk_range(i)]));
        assert!(matches!(done.last(), Some(Insert::Complete(_))));
    }

    #[test]
    fn a_truncated_nack_stays_valid() {
        let mut n = NackRequest {
            session: 1,
            seq: 2,
            base: 10,
            nbits: 20,
            bitmap: vec![0xFF, 0xFF, 0xF0],
        };
        n.truncate(11);
        assert_eq!((n.nbits, n.bitmap.clone()), (11, vec![0xFF, 0xE0]));
        let d = crate::protocol::wire::Datagram::Nack {
            session: 1,
            seq: 2,
            base: n.base,
            nbits: n.nbits,
            bitmap: &n.bitmap,
        };
        let mut b = vec![0u8; d.encoded_len()];
        d.encode(&mut b).unwrap();
        assert_eq!(crate::protocol::wire::parse(&b).unwrap(), d);
        n.truncate(0);
        assert_eq!((n.nbits, n.bitmap.len()), (1, 1));
    }

    #[test]
    fn in_order_completes_once() {
        let now = Instant::now();
        let d = data(5000, 1);
        let fi = frame_info(0, &d, 1200);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        for i in 0..fi.count {
            let res = r.insert(now, 1, &fi, i, 0, &d[fi.chunk_range(i)]);
            if i + 1 < fi.count {
                assert_eq!(res, Insert::Stored);
            } else {
                match res {
                    Insert::Complete(f) => assert_eq!(f.data, d),
                    other => panic!("{other:?}"),
                }
            }
        }
        // A late duplicate after completion is recognised without allocating a new frame.
        assert_eq!(
            r.insert(now, 1, &fi, 0, 0, &d[fi.chunk_range(0)]),
            Insert::AlreadyComplete
        );
        assert_eq!(r.partial_count(), 0);
    }

    #[test]
    fn crc_mismatch_is_never_delivered() {
        let now = Instant::now();
        let d = data(3000, 2);
        let mut fi = frame_info(5, &d, 1200);
        fi.crc32 ^= 1;
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let mut last = Insert::Stored;
        for i in 0..fi.count {
            last = r.insert(now, 1, &fi, i, 0, &d[fi.chunk_range(i)]);
        }
        assert_eq!(last, Insert::CrcMismatch);
        assert_eq!(r.stats().crc_failures, 1);
    }

    #[test]
    fn crc_mismatch_asks_for_the_whole_frame_at_once() {
        let now = Instant::now();
        let d = data(1160 * 11, 2);
        let mut fi = frame_info(5, &d, 1200);
        fi.crc32 ^= 1;
        let mut r = Reassembler::new(ReassemblyConfig::default());
        for i in 0..fi.count {
            r.insert(now, 1, &fi, i, 0, &d[fi.chunk_range(i)]);
        }
        let n = r.poll_nack().expect("an immediate NACK");
        assert_eq!((n.seq, n.base, n.nbits), (5, 0, 11));
        assert_eq!(n.bitmap, vec![0xFF, 0b1110_0000]);
    }

    #[test]
    fn chunks_of_two_frames_never_mix() {
        let now = Instant::now();
        let a = data(4000, 3);
        let b = data(4000, 4);
        let fa = frame_info(1, &a, 1200);
        let fb = frame_info(2, &b, 1200);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        // Interleave, finishing b first: a is then superseded and dropped.
        let mut out = Vec::new();
        for i in 0..fa.count {
            if i + 1 < fa.count {
                r.insert(now, 1, &fa, i, 0, &a[fa.chunk_range(i)]);
            }
            if let Insert::Complete(f) = r.insert(now, 1, &fb, i, 0, &b[fb.chunk_range(i)]) {
                out.push(f);
            }
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, b);
        assert_eq!(
            r.partial_count(),
            0,
            "older partial frame a was superseded by b"
        );
        let last = fa.count - 1;
        assert_eq!(
            r.insert(now, 1, &fa, last, 0, &a[fa.chunk_range(last)]),
            Insert::Stale
        );
    }

    #[test]
    fn sessions_are_kept_apart() {
        let now = Instant::now();
        let a = data(2000, 5);
        let fi = frame_info(0, &a, 1200);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        assert_eq!(
            r.insert(now, 1, &fi, 0, 0, &a[fi.chunk_range(0)]),
            Insert::Stored
        );
        // Same seq, different session: a separate frame, not the second half of the first.
        assert_eq!(
            r.insert(now, 2, &fi, 1, 0, &a[fi.chunk_range(1)]),
            Insert::Stored
        );
        assert_eq!(r.partial_count(), 2);
    }

    #[test]
    fn inconsistent_metadata_is_refused() {
        let now = Instant::now();
        let a = data(2000, 6);
        let fi = frame_info(0, &a, 1200);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        r.insert(now, 1, &fi, 0, 0, &a[fi.chunk_range(0)]);
        let mut lie = fi;
        lie.crc32 ^= 0xFF;
        assert_eq!(
            r.insert(now, 1, &lie, 1, 0, &a[fi.chunk_range(1)]),
            Insert::Inconsistent
        );
    }

    #[test]
    fn memory_is_bounded() {
        let now = Instant::now();
        let cfg = ReassemblyConfig {
            max_frame_bytes: 10_000,
            max_partial_frames: 3,
            partial_timeout: Duration::from_millis(100),
            ..ReassemblyConfig::default()
        };
        let mut r = Reassembler::new(cfg);
        let big = data(10_001, 0);
        let fi = frame_info(0, &big, 1200);
        assert_eq!(
            r.insert(now, 1, &fi, 0, 0, &big[fi.chunk_range(0)]),
            Insert::TooLarge
        );
        let d = data(9000, 1);
        for seq in 0..100 {
            let fi = frame_info(seq, &d, 1200);
            r.insert(now, 7, &fi, 0, 0, &d[fi.chunk_range(0)]);
            assert!(r.partial_count() <= 4, "{}", r.partial_count());
            assert!(r.partial_bytes() <= 3 * 10_000);
        }
        assert_eq!(r.stats().incomplete_dropped, 97);
        assert!(r.poll_timeout().unwrap() <= now + Duration::from_millis(100));
        r.handle_timeout(now + Duration::from_millis(100));
        assert_eq!(r.partial_count(), 0);
    }

    /// A chunk of a made-up frame claiming `len` bytes in `count` chunks: its chunk `index`.
    fn forged(seq: u32, len: u32, count: u16, index: u16) -> (FrameInfo, Vec<u8>) {
        let info = FrameInfo {
            seq,
            count,
            len,
            crc32: 0,
            codec: Codec::Jpeg,
            width: 1,
            height: 1,
            timestamp_us: 0,
        };
        let payload = vec![0x5A; info.chunk_range(index).len()];
        (info, payload)
    }

    #[test]
    fn forged_chunks_claiming_16_mib_hold_only_their_payload() {
        let t0 = Instant::now();
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let len = DEFAULT_MAX_FRAME_BYTES as u32;
        // One chunk of a frame claiming 16 MiB in 65,281 chunks, the most the wire allows for that
        // length (257 bytes each: a 297-byte datagram).
        let count = chunk_count(len as usize, 297).unwrap();
        assert_eq!(count, 65_281);
        let (fi, p) = forged(0, len, count, 40_000);
        assert_eq!(p.len(), 257);
        assert_eq!(r.insert(t0, 1, &fi, 40_000, 0, &p), Insert::Stored);
        assert!(r.partial_bytes() < 400, "{} bytes", r.partial_bytes());
        // A flood of such chunks from ever new sessions: at most `max_partial_frames` small
        // partial frames.
        let max = ReassemblyConfig::default().max_partial_frames;
        for junk in 0..10_000u32 {
            let index = (junk * 7919 % count as u32) as u16;
            let (fi, p) = forged(junk, len, count, index);
            assert_eq!(r.insert(t0, 100 + junk, &fi, index, 0, &p), Insert::Stored);
            assert!(r.partial_count() <= max);
            assert!(
                r.partial_bytes() <= max * 400,
                "{} bytes",
                r.partial_bytes()
            );
        }
        // Many chunks of one forged frame: memory follows what arrived (257 bytes of payload
        // and a few of bookkeeping per chunk, twice at most while growing).
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let mut arrived = 0;
        for index in (0..count).rev().step_by(97) {
            let (fi, p) = forged(0, len, count, index);
            r.insert(t0, 1, &fi, index, 0, &p);
            arrived += p.len();
            assert!(r.partial_bytes() <= 2 * arrived + 64 * 1024, "{arrived}");
        }
        assert!(r.partial_bytes() < 1 << 20);
        // The NACK for it is found in the chunks that came, not in a bitmap of them all.
        r.handle_timeout(t0 + Duration::from_millis(10));
        let n = r.poll_nack().expect("a NACK");
        assert_eq!((n.base, n.nbits as usize), (0, MAX_NACK_BITS));
    }

    #[test]
    fn a_recycled_buffer_carries_nothing_into_the_next_frame() {
        let t0 = Instant::now();
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let a = data(5000, 1);
        let fa = frame_info(0, &a, 1200);
        let mut last = Insert::Stored;
        for i in 0..fa.count {
            last = r.insert(t0, 1, &fa, i, 0, &a[fa.chunk_range(i)]);
        }
        let Insert::Complete(f) = last else {
            panic!("{last:?}")
        };
        let cap = f.data.capacity();
        r.recycle(f.data);
        // The next frame, in reverse order, is assembled in that allocation: its own bytes only.
        let b = data(3000, 2);
        let fb = frame_info(1, &b, 600);
        let mut done = None;
        for i in (0..fb.count).rev() {
            if let Insert::Complete(f) = r.insert(t0, 1, &fb, i, 0, &b[fb.chunk_range(i)]) {
                done = Some(f);
            }
        }
        let f = done.expect("complete");
        assert_eq!(f.data, b);
        assert_eq!(f.data.capacity(), cap, "the recycled buffer was reused");
    }

    #[test]
    fn nack_names_exactly_the_missing_chunks_after_a_quiet_spell() {
        let t0 = Instant::now();
        let d = data(1160 * 20, 7);
        let fi = frame_info(3, &d, 1200);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        for i in (0..20u16).filter(|i| ![2, 9, 10].contains(i)) {
            r.insert(t0, 1, &fi, i, 0, &d[fi.chunk_range(i)]);
        }
        // The last chunk arrived: a NACK is due after the short delay, not before.
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_millis(2)));
        r.handle_timeout(t0 + Duration::from_millis(1));
        assert_eq!(r.poll_nack(), None);
        r.handle_timeout(t0 + Duration::from_millis(2));
        let n = r.poll_nack().expect("a NACK");
        assert_eq!((n.session, n.seq, n.base, n.nbits), (1, 3, 2, 9));
        let missing: Vec<u16> =
            crate::protocol::wire::nack_missing(n.base, n.nbits, &n.bitmap).collect();
        assert_eq!(missing, vec![2, 9, 10]);
        // Nothing arrives: the NACK is repeated after the retry interval.
        r.handle_timeout(t0 + Duration::from_millis(11));
        assert_eq!(r.poll_nack(), None);
        r.handle_timeout(t0 + Duration::from_millis(12));
        assert!(r.poll_nack().is_some());
    }

    #[test]
    fn nack_budget_renews_when_the_sender_starts_a_new_round() {
        let t0 = Instant::now();
        let d = data(1160 * 4, 7);
        let fi = frame_info(3, &d, 1200);
        let cfg = ReassemblyConfig {
            max_nacks: 2,
            ..ReassemblyConfig::default()
        };
        let mut r = Reassembler::new(cfg);
        for i in 1..4u16 {
            r.insert(t0, 1, &fi, i, 0, &d[fi.chunk_range(i)]);
        }
        let mut t = t0;
        let mut nacks = 0;
        for _ in 0..10 {
            t += Duration::from_millis(50);
            r.handle_timeout(t);
            nacks += std::iter::from_fn(|| r.poll_nack()).count();
        }
        assert_eq!(nacks, 2, "the budget is spent");
        // The sender's tail probe (attempt 1) arrives: the viewer may NACK again.
        r.insert(t, 1, &fi, 3, 1, &d[fi.chunk_range(3)]);
        r.handle_timeout(t + Duration::from_millis(2));
        let n = r.poll_nack().expect("a fresh NACK for the probe");
        assert_eq!((n.base, n.nbits), (0, 1));
    }

    #[test]
    fn lost_tail_is_nacked_after_the_longer_quiet() {
        let t0 = Instant::now();
        let d = data(1160 * 5, 7);
        let fi = frame_info(3, &d, 1200);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        for i in 0..4u16 {
            r.insert(t0, 1, &fi, i, 0, &d[fi.chunk_range(i)]);
        }
        r.handle_timeout(t0 + Duration::from_millis(9));
        assert_eq!(r.poll_nack(), None);
        r.handle_timeout(t0 + Duration::from_millis(10));
        let n = r.poll_nack().unwrap();
        assert_eq!((n.base, n.nbits), (4, 1));
    }

    #[test]
    fn a_slow_burst_is_not_nacked_between_its_chunks() {
        // Chunks 8 ms apart (a 1.2 Mbit/s bottleneck): longer than the 10 ms quiet would
        // allow after a few, but the quiet grows with the burst's own gap.
        let t0 = Instant::now();
        let d = data(1160 * 6, 9);
        let fi = frame_info(4, &d, 1200);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let ms = |n: u64| t0 + Duration::from_millis(n);
        for i in 0..5u16 {
            r.insert(ms(8 * i as u64), 1, &fi, i, 0, &d[fi.chunk_range(i)]);
            r.handle_timeout(ms(8 * i as u64 + 7));
            assert_eq!(r.poll_nack(), None, "after chunk {i}");
        }
        // The last chunk never comes: three gaps of quiet later, it is asked for.
        r.handle_timeout(ms(32 + 23));
        assert_eq!(r.poll_nack(), None);
        r.handle_timeout(ms(32 + 26));
        let n = r.poll_nack().unwrap();
        assert_eq!((n.base, n.nbits), (5, 1));
    }

    #[test]
    fn flood_of_other_sessions_cannot_evict_the_protected_frame() {
        let t0 = Instant::now();
        let d = data(5000, 1);
        let fi = frame_info(0, &d, 1200);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        r.set_protected(&[1]);
        r.insert(t0, 1, &fi, 0, 0, &d[fi.chunk_range(0)]);
        for junk in 0..1000u32 {
            let fj = frame_info(junk, &d, 1200);
            r.insert(t0, 100 + junk, &fj, 0, 0, &d[fj.chunk_range(0)]);
        }
        let mut done = None;
        for i in 1..fi.count {
            if let Insert::Complete(f) = r.insert(t0, 1, &fi, i, 0, &d[fi.chunk_range(i)]) {
                done = Some(f);
            }
        }
        assert_eq!(done.expect("frame survived the flood").data, d);
    }

    #[test]
    fn a_flooding_sender_evicts_its_own_frames_not_another_shown_one() {
        let t0 = Instant::now();
        let d = data(5000, 1);
        let cfg = ReassemblyConfig {
            max_partial_frames: 8,
            ..ReassemblyConfig::default()
        };
        let mut r = Reassembler::new(cfg);
        // Both shown; session 2 starts a frame and then floods with ever new ones.
        r.set_protected(&[1, 2]);
        let fi = frame_info(0, &d, 1200);
        r.insert(t0, 1, &fi, 0, 0, &d[fi.chunk_range(0)]);
        for seq in 0..100u32 {
            let fj = frame_info(seq, &d, 1200);
            let t = t0 + Duration::from_millis(u64::from(seq) + 1);
            r.insert(t, 2, &fj, 0, 0, &d[fj.chunk_range(0)]);
        }
        let mut done = None;
        for i in 1..fi.count {
            if let Insert::Complete(f) = r.insert(t0, 1, &fi, i, 0, &d[fi.chunk_range(i)]) {
                done = Some(f);
            }
        }
        assert_eq!(done.expect("session 1's frame survived").data, d);
    }

    #[test]
    fn a_resent_frame_is_never_delivered_twice_once_out_of_the_ring() {
        // Many senders complete frames between a sender's frame and its resend (its ACK was
        // lost): the ring of recent frames has moved on, the newest-seq list has not.
        let t0 = Instant::now();
        let d = data(3000, 4);
        let fi = frame_info(77, &d, 1200);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let deliver = |r: &mut Reassembler, session: u32, fi: &FrameInfo| {
            (0..fi.count)
                .filter(|&i| {
                    matches!(
                        r.insert(t0, session, fi, i, 1, &d[fi.chunk_range(i)]),
                        Insert::Complete(_)
                    )
                })
                .count()
        };
        assert_eq!(deliver(&mut r, 1, &fi), 1);
        for other in 0..(2 * RECENT as u32) {
            assert_eq!(
                deliver(&mut r, 100 + other % 40, &frame_info(other, &d, 1200)),
                1
            );
        }
        assert_eq!(
            r.insert(t0, 1, &fi, 0, 2, &d[fi.chunk_range(0)]),
            Insert::AlreadyComplete,
            "re-acknowledged, not assembled again"
        );
        assert_eq!(deliver(&mut r, 1, &fi), 0);
    }

    proptest! {
        /// Any order, any duplication: the exact frame, exactly once.
        #[test]
        fn shuffled_and_duplicated_chunks_give_the_exact_frame(
            len in 1usize..40_000,
            mtu in 256usize..2000,
            seed in any::<u64>(),
            dups in 0usize..50,
        ) {
            let d = data(len, seed as u8);
            let fi = frame_info(9, &d, mtu);
            let mut order: Vec<u16> = (0..fi.count).collect();
            let mut rng = fastrand::Rng::with_seed(seed);
            for _ in 0..dups {
                order.push(rng.u16(0..fi.count));
            }
            rng.shuffle(&mut order);
            let mut r = Reassembler::new(ReassemblyConfig::default());
            let mut done = Vec::new();
            for i in order {
                if let Insert::Complete(f) = r.insert(Instant::now(), 3, &fi, i, 0, &d[fi.chunk_range(i)]) {
                    done.push(f);
                }
            }
            prop_assert_eq!(done.len(), 1);
            prop_assert_eq!(&done[0].data, &d);
        }
    }
}
