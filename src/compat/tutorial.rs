//! The classic Python/OpenCV tutorial's UDP formats, spoken safely, as sans-IO pieces.
//!
//! The tutorial's client sends a picture as a header datagram, `struct.pack('l', len)` (native
//! size and order: 8 bytes little-endian on 64-bit Linux and macOS, 4 on Windows), then the
//! JPEG in 1024-byte datagrams back to back; the server answers `get message!!!`. A variant
//! sends the whole JPEG in one datagram. A second client sends JSON datagrams to another port
//! ([`JSON_PORT`], 6666), each answered `get the msg`.
//!
//! The original trusts the length and waits for ever: one lost datagram hangs it, or makes it
//! read the next header as picture data. [`TutorialReceiver`] bounds every picture by length
//! ([`TutorialConfig::max_picture`]) and by time ([`TutorialConfig::silence`]), resynchronises
//! on the next header, keeps senders apart by address, and answers a picture it had to give up
//! with [`REPLY_LOST`], so that an unchanged client blocked on its reply moves on.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The answer to a whole picture, byte for byte the tutorial's.
pub const REPLY_PICTURE: &[u8] = b"get message!!!";
/// The answer to a valid JSON datagram, byte for byte the tutorial's.
pub const REPLY_JSON: &[u8] = b"get the msg";
/// camwire's answer to a picture it gave up (a datagram lost, more bytes than announced, a
/// header over the limit, or no room for its sender).
pub const REPLY_LOST: &[u8] = b"lost picture";
/// The tutorial's chunk size.
pub const CHUNK: usize = 1024;
/// The port the tutorial's JSON server listens on and its JSON client sends to: the default
/// of `--json-port` in both programs.
pub const JSON_PORT: u16 = 6666;

/// Limits of the tutorial receiver.
#[derive(Debug, Clone, Copy)]
pub struct TutorialConfig {
    /// Largest picture accepted; a header announcing more is answered [`REPLY_LOST`].
    pub max_picture: usize,
    /// A picture with no datagram for this long is given up.
    pub silence: Duration,
    /// Senders tracked at once (the longest silent is forgotten first).
    pub max_peers: usize,
}

impl Default for TutorialConfig {
    fn default() -> Self {
        TutorialConfig {
            max_picture: 16 << 20,
            silence: Duration::from_millis(500),
            max_peers: 16,
        }
    }
}

/// Something the receiver wants its owner to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TutorialEvent {
    /// A picture arrived whole (and was answered [`REPLY_PICTURE`]).
    Picture {
        /// Its sender.
        from: SocketAddr,
        /// The bytes (a JPEG, if the sender is honest).
        jpeg: Vec<u8>,
    },
}

/// Counters of the tutorial receiver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TutorialStats {
    /// Pictures received whole.
    pub pictures: u64,
    /// Pictures given up: silence, a new header before the end, or an overrun.
    pub lost: u64,
    /// Of those, pictures that received more bytes than their header announced.
    pub overruns: u64,
    /// Datagrams that were neither a header, a chunk, nor a whole JPEG.
    pub junk: u64,
    /// Headers announcing more than [`TutorialConfig::max_picture`] (answered [`REPLY_LOST`]).
    pub too_large: u64,
}

struct Partial {
    from: SocketAddr,
    expected: usize,
    data: Vec<u8>,
    last: Instant,
}

/// Reads a tutorial header: exactly 8 (u64) or 4 (u32) bytes, little-endian, announcing
/// 1 to `max` bytes.
pub fn parse_header(bytes: &[u8], max: usize) -> Option<usize> {
    let len = match bytes.len() {
        8 => u64::from_le_bytes(bytes.try_into().ok()?),
        4 => u32::from_le_bytes(bytes.try_into().ok()?) as u64,
        _ => return None,
    };
    usize::try_from(len).ok().filter(|&l| l >= 1 && l <= max)
}

fn is_whole_jpeg(b: &[u8]) -> bool {
    b.len() >= 4 && b[..2] == [0xFF, 0xD8] && b[b.len() - 2..] == [0xFF, 0xD9]
}

/// The picture side of the tutorial's server, sans-IO.
pub struct TutorialReceiver {
    cfg: TutorialConfig,
    partials: Vec<Partial>,
    replies: VecDeque<(SocketAddr, &'static [u8])>,
    events: VecDeque<TutorialEvent>,
    stats: TutorialStats,
}

const MAX_PENDING_REPLIES: usize = 64;

impl TutorialReceiver {
    /// A receiver with the given limits.
    pub fn new(cfg: TutorialConfig) -> Self {
        TutorialReceiver {
            cfg,
            partials: Vec::new(),
            replies: VecDeque::new(),
            events: VecDeque::new(),
            stats: TutorialStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &TutorialStats {
        &self.stats
    }

    fn reply(&mut self, to: SocketAddr, what: &'static [u8]) {
        if self.replies.len() >= MAX_PENDING_REPLIES {
            self.replies.pop_front();
        }
        self.replies.push_back((to, what));
    }

    fn lose(&mut self, i: usize, answer: bool) {
        let p = self.partials.swap_remove(i);
        self.stats.lost += 1;
        if answer {
            self.reply(p.from, REPLY_LOST);
        }
    }

    fn complete(&mut self, from: SocketAddr, jpeg: Vec<u8>) {
        self.stats.pictures += 1;
        self.reply(from, REPLY_PICTURE);
        self.events.push_back(TutorialEvent::Picture { from, jpeg });
    }

    /// Takes in one datagram that arrived from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if let Some(i) = self.partials.iter().position(|p| p.from == from) {
            if bytes.is_empty() {
                // Not a chunk: it must not keep a picture alive past its silence either.
                self.stats.junk += 1;
                return;
            }
            let remaining = self.partials[i].expected - self.partials[i].data.len();
            // A datagram that ends the picture exactly is its last chunk, even when it is
            // 4 or 8 bytes long and so looks like a header.
            if bytes.len() == remaining {
                let mut p = self.partials.swap_remove(i);
                // Exactly the picture, not a doubled allocation.
                p.data.reserve_exact(bytes.len());
                p.data.extend_from_slice(bytes);
                return self.complete(from, p.data);
            }
            if let Some(len) = parse_header(bytes, self.cfg.max_picture) {
                // The client has moved on to its next picture: resynchronise on it. It is no
                // longer waiting for an answer to the old one.
                self.lose(i, false);
                return self.start(now, from, len);
            }
            if bytes.len() > remaining {
                // More than announced: the stream is out of step. Answer, so that a client
                // blocked on its reply goes on to its next picture.
                self.stats.overruns += 1;
                return self.lose(i, true);
            }
            let p = &mut self.partials[i];
            let need = p.data.len() + bytes.len();
            if need > p.data.capacity() {
                // Amortised growth (never past twice what arrived), and never past the
                // announced length.
                let want = need.max(p.data.capacity() * 2).min(p.expected);
                p.data.reserve_exact(want - p.data.len());
            }
            p.data.extend_from_slice(bytes);
            p.last = now;
            return;
        }
        if let Some(len) = parse_header(bytes, self.cfg.max_picture) {
            self.start(now, from, len);
        } else if parse_header(bytes, usize::MAX).is_some() {
            // A header over the limit: its chunks will be junk here, and the client, blocked
            // on its reply, would wait for ever without this answer.
            self.stats.too_large += 1;
            self.reply(from, REPLY_LOST);
        } else if is_whole_jpeg(bytes) {
            self.complete(from, bytes.to_vec());
        } else {
            self.stats.junk += 1;
        }
    }

    fn start(&mut self, now: Instant, from: SocketAddr, expected: usize) {
        if self.partials.len() >= self.cfg.max_peers.max(1) {
            if let Some(i) = (0..self.partials.len()).min_by_key(|&i| self.partials[i].last) {
                // Its sender is still waiting for a reply: tell it, so it moves on.
                self.lose(i, true);
            }
        }
        self.partials.push(Partial {
            from,
            expected,
            // Grown as bytes arrive (at most twice what came): a header is only a claim, and
            // allocates nothing, so an 8-byte datagram cannot cost more than its size.
            data: Vec::new(),
            last: now,
        });
    }

    /// The next answer to send, and where.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, &'static [u8])> {
        self.replies.pop_front()
    }

    /// The next thing that happened, if any.
    pub fn poll_event(&mut self) -> Option<TutorialEvent> {
        self.events.pop_front()
    }

    /// When [`TutorialReceiver::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.partials
            .iter()
            .map(|p| p.last + self.cfg.silence)
            .min()
    }

    /// Gives up pictures silent for too long, answering their senders [`REPLY_LOST`].
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(i) = self
            .partials
            .iter()
            .position(|p| now.saturating_duration_since(p.last) >= self.cfg.silence)
        {
            self.lose(i, true);
        }
    }
}

/// The JSON side of the tutorial's server: the value, or why it is not JSON.
pub fn parse_json(bytes: &[u8]) -> Result<serde_json::Value, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))
}

/// The datagrams the tutorial's client sends for one picture after its [`header`]: 1024-byte
/// chunks, the last shorter.
pub fn picture_datagrams(jpeg: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    jpeg.chunks(CHUNK)
}

/// The header datagram for a picture of `len` bytes, as a 64-bit little-endian machine packs
/// `struct.pack('l', len)`.
pub fn header(len: usize) -> [u8; 8] {
    (len as u64).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    fn addr(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    fn jpeg_like(n: usize, salt: u8) -> Vec<u8> {
        let mut v: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(31) ^ salt).collect();
        v[0] = 0xFF;
        v[1] = 0xD8;
        v[n - 2] = 0xFF;
        v[n - 1] = 0xD9;
        v
    }

    fn send(
        r: &mut TutorialReceiver,
        now: Instant,
        from: SocketAddr,
        pic: &[u8],
        skip: Option<usize>,
    ) {
        r.handle_datagram(now, from, &header(pic.len()));
        for (i, c) in picture_datagrams(pic).enumerate() {
            if Some(i) != skip {
                r.handle_datagram(now, from, c);
            }
        }
    }

    fn replies(r: &mut TutorialReceiver) -> Vec<(SocketAddr, &'static [u8])> {
        std::iter::from_fn(|| r.poll_transmit()).collect()
    }

    fn pictures(r: &mut TutorialReceiver) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| r.poll_event())
            .map(|TutorialEvent::Picture { jpeg, .. }| jpeg)
            .collect()
    }

    #[test]
    fn pictures_arrive_and_are_answered_like_the_tutorial() {
        let mut r = TutorialReceiver::new(TutorialConfig::default());
        let t = Instant::now();
        let a = jpeg_like(5000, 1);
        let b = jpeg_like(1024 * 3, 2); // an exact multiple of the chunk size
        send(&mut r, t, addr(1), &a, None);
        send(&mut r, t, addr(1), &b, None);
        assert_eq!(pictures(&mut r), vec![a, b]);
        assert_eq!(replies(&mut r), vec![(addr(1), REPLY_PICTURE); 2]);
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn a_lost_chunk_costs_that_picture_only_and_the_next_header_resyncs() {
        let mut r = TutorialReceiver::new(TutorialConfig::default());
        let t = Instant::now();
        let a = jpeg_like(5000, 1);
        let b = jpeg_like(4000, 2);
        send(&mut r, t, addr(1), &a, Some(2));
        send(&mut r, t + MS, addr(1), &b, None);
        assert_eq!(pictures(&mut r), vec![b]);
        assert_eq!(replies(&mut r), vec![(addr(1), REPLY_PICTURE)]);
        assert_eq!(r.stats().lost, 1);
    }

    #[test]
    fn a_silent_picture_is_given_up_and_answered_so_a_blocked_client_moves_on() {
        let mut r = TutorialReceiver::new(TutorialConfig::default());
        let t = Instant::now();
        send(&mut r, t, addr(1), &jpeg_like(5000, 1), Some(4));
        assert_eq!(r.poll_timeout(), Some(t + 500 * MS));
        r.handle_timeout(t + 499 * MS);
        assert!(replies(&mut r).is_empty());
        r.handle_timeout(t + 500 * MS);
        assert_eq!(replies(&mut r), vec![(addr(1), REPLY_LOST)]);
        assert!(pictures(&mut r).is_empty());
    }

    #[test]
    fn overruns_4_byte_headers_whole_jpegs_and_interleaved_senders() {
        let mut r = TutorialReceiver::new(TutorialConfig::default());
        let t = Instant::now();
        // Windows' 4-byte 'l'.
        let a = jpeg_like(2100, 1);
        r.handle_datagram(t, addr(1), &(a.len() as u32).to_le_bytes());
        // Another sender interleaves its picture chunk by chunk.
        let b = jpeg_like(3000, 2);
        r.handle_datagram(t, addr(2), &header(b.len()));
        for (ca, cb) in a.chunks(CHUNK).zip(b.chunks(CHUNK)) {
            r.handle_datagram(t, addr(1), ca);
            r.handle_datagram(t, addr(2), cb);
        }
        let got = pictures(&mut r);
        assert_eq!(got, vec![a.clone(), b.clone()]);
        // Eight bytes that finish a picture are its last chunk, not a header.
        let c = jpeg_like(1032, 3);
        send(&mut r, t, addr(3), &c, None);
        assert_eq!(pictures(&mut r), vec![c]);
        // An overrun: announced 100, sent 1024.
        r.handle_datagram(t, addr(4), &header(100));
        r.handle_datagram(t, addr(4), &a[..1024]);
        assert_eq!(r.stats().overruns, 1);
        assert!(replies(&mut r).contains(&(addr(4), REPLY_LOST)));
        // The one-datagram variant.
        let d = jpeg_like(3000, 4);
        r.handle_datagram(t, addr(5), &d);
        assert_eq!(pictures(&mut r), vec![d]);
        // Junk and absurd headers.
        r.handle_datagram(t, addr(6), b"hello");
        r.handle_datagram(t, addr(6), &u64::MAX.to_le_bytes());
        r.handle_datagram(t, addr(6), &0u64.to_le_bytes());
        assert_eq!(r.stats().junk, 2);
        assert_eq!(r.stats().too_large, 1);
    }

    #[test]
    fn pictures_given_up_for_size_or_room_are_answered_so_no_client_hangs() {
        let cfg = TutorialConfig {
            max_picture: 10_000,
            max_peers: 2,
            ..TutorialConfig::default()
        };
        let mut r = TutorialReceiver::new(cfg);
        let t = Instant::now();
        r.handle_datagram(t, addr(1), &header(10_001));
        r.handle_datagram(t, addr(1), &(10_001u32).to_le_bytes());
        assert_eq!(replies(&mut r), vec![(addr(1), REPLY_LOST); 2]);
        assert_eq!(r.stats().too_large, 2);
        // A third sender pushes out the longest-silent one, which is told.
        for p in 2..5 {
            r.handle_datagram(t + MS * u32::from(p), addr(p), &header(5000));
        }
        assert_eq!(replies(&mut r), vec![(addr(2), REPLY_LOST)]);
        assert_eq!(r.partials.len(), 2);
    }

    #[test]
    fn empty_datagrams_do_not_keep_a_picture_alive_and_buffers_stay_within_the_length() {
        let mut r = TutorialReceiver::new(TutorialConfig::default());
        let t = Instant::now();
        let pic = jpeg_like(70_000, 1);
        r.handle_datagram(t, addr(1), &header(pic.len()));
        for c in picture_datagrams(&pic).take(68) {
            r.handle_datagram(t, addr(1), c);
        }
        assert!(r.partials[0].data.capacity() <= pic.len());
        r.handle_datagram(t + 400 * MS, addr(1), b"");
        assert_eq!(r.stats().junk, 1);
        r.handle_timeout(t + 500 * MS);
        assert_eq!(replies(&mut r), vec![(addr(1), REPLY_LOST)]);
    }

    #[test]
    fn a_header_alone_holds_nothing_and_memory_follows_the_bytes() {
        let mut r = TutorialReceiver::new(TutorialConfig::default());
        let t = Instant::now();
        // Sixteen senders each announce 16 MiB: nothing is allocated for the claims.
        for p in 0..16 {
            r.handle_datagram(t, addr(p), &header(16 << 20));
        }
        assert_eq!(r.partials.len(), 16);
        assert!(r.partials.iter().all(|p| p.data.capacity() == 0));
        // Chunks come: each picture holds about what arrived, at most twice.
        let chunk = [0x42u8; CHUNK];
        for n in 1..=100 {
            for p in 0..16 {
                r.handle_datagram(t, addr(p), &chunk);
            }
            for p in &r.partials {
                assert_eq!(p.data.len(), n * CHUNK);
                assert!(p.data.capacity() <= 2 * n * CHUNK, "{}", p.data.capacity());
            }
        }
        // And a whole picture still arrives exactly.
        let pic = jpeg_like(70_000, 3);
        send(&mut r, t, addr(1), &pic, None);
        assert_eq!(pictures(&mut r), vec![pic]);
    }

    #[test]
    fn json_port_answers() {
        assert_eq!(
            parse_json(b"[0,0,0,1]").unwrap(),
            serde_json::json!([0, 0, 0, 1])
        );
        let e = parse_json(b"[0,0,").unwrap_err();
        assert!(e.starts_with("invalid JSON: EOF while parsing"), "{e}");
    }

    proptest! {
        /// Any datagrams from a few senders: no panic, pending bytes bounded by what arrived,
        /// never by what a header claimed.
        #[test]
        fn arbitrary_datagrams_never_panic_and_memory_follows_arrivals(
            dgrams in proptest::collection::vec(
                (0u16..4, prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..1100),
                    any::<u64>().prop_map(|v| v.to_le_bytes().to_vec()),
                    (1u32..5000).prop_map(|v| v.to_le_bytes().to_vec()),
                ]),
                0..200,
            ),
        ) {
            let mut r = TutorialReceiver::new(TutorialConfig { max_picture: 1 << 20, ..TutorialConfig::default() });
            let t = Instant::now();
            let mut arrived = 0usize;
            for (i, (p, d)) in dgrams.iter().enumerate() {
                arrived += d.len();
                r.handle_datagram(t + MS * i as u32, addr(*p), d);
                let held: usize = r.partials.iter().map(|p| p.data.capacity()).sum();
                prop_assert!(held <= arrived * 2);
                for p in &r.partials {
                    prop_assert!(p.data.capacity() <= 2 * p.data.len());
                    prop_assert!(p.data.capacity() <= p.expected);
                }
                prop_assert!(r.partials.len() <= 4);
            }
            r.handle_timeout(t + Duration::from_secs(10));
            prop_assert!(r.partials.is_empty());
        }
    }
}
