//! A Matroska (`.mkv`) muxer for live MJPEG: every JPEG as it arrived, one `SimpleBlock`
//! each, in a file that plays up to its last whole block however it was cut.
//!
//! The layout (docs/PROTOCOL.md, "Recording files"; the research is
//! `docs/design/issue-15-survey.md` section 1) is the "livestreaming" one: the EBML header,
//! a Segment of **unknown size**, Info and Tracks written whole, then Clusters of **unknown
//! size**, each a Timestamp and SimpleBlocks. Nothing is ever written back: no SeekHead, no
//! Cues, no Duration, no sizes patched at the end. That is what makes a file cut by `kill -9`
//! or a power cut valid up to its last whole block, since readers end an unknown-size element
//! at the next Cluster or at the end of the file. The price is that players treat the file
//! as not seekable; `ffmpeg -i rec.mkv -c copy seekable.mkv` makes a seekable copy.
//!
//! Sans-IO at heart: [`Muxer`] only computes bytes (the header, and the few bytes that go
//! before each JPEG) and never touches a file, so it is tested byte for byte. [`MkvWriter`]
//! puts those bytes and the JPEGs into any [`std::io::Write`]; flushing and syncing are the
//! caller's (the recorder flushes and syncs when [`Written::new_cluster`] says a cluster
//! closed, and on an idle timer).

use std::io::Write;

/// Matroska's `TimestampScale`: one tick is 1 ms, so a block's 16-bit relative timestamp
/// covers 32.767 s and the rest of the file needs no finer clock than the senders' frames.
pub const TIMESTAMP_SCALE_NS: u64 = 1_000_000;

/// Microseconds from the Unix epoch to 2001-01-01T00:00:00Z, Matroska's date origin.
const MKV_EPOCH_UNIX_US: u64 = 978_307_200_000_000;

/// The 8-byte "unknown" size (all value bits set): the form ffmpeg and GStreamer write for a
/// live Segment and Cluster, so the one readers know best.
const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

// Element IDs, as the bytes written (IDs keep their length marker bits).
const EBML: &[u8] = &[0x1A, 0x45, 0xDF, 0xA3];
const EBML_VERSION: &[u8] = &[0x42, 0x86];
const EBML_READ_VERSION: &[u8] = &[0x42, 0xF7];
const EBML_MAX_ID_LENGTH: &[u8] = &[0x42, 0xF2];
const EBML_MAX_SIZE_LENGTH: &[u8] = &[0x42, 0xF3];
const DOC_TYPE: &[u8] = &[0x42, 0x82];
const DOC_TYPE_VERSION: &[u8] = &[0x42, 0x87];
const DOC_TYPE_READ_VERSION: &[u8] = &[0x42, 0x85];
const SEGMENT: &[u8] = &[0x18, 0x53, 0x80, 0x67];
const INFO: &[u8] = &[0x15, 0x49, 0xA9, 0x66];
const TIMESTAMP_SCALE: &[u8] = &[0x2A, 0xD7, 0xB1];
const MUXING_APP: &[u8] = &[0x4D, 0x80];
const WRITING_APP: &[u8] = &[0x57, 0x41];
const DATE_UTC: &[u8] = &[0x44, 0x61];
const TITLE: &[u8] = &[0x7B, 0xA9];
const TRACKS: &[u8] = &[0x16, 0x54, 0xAE, 0x6B];
const TRACK_ENTRY: &[u8] = &[0xAE];
const TRACK_NUMBER: &[u8] = &[0xD7];
const TRACK_UID: &[u8] = &[0x73, 0xC5];
const TRACK_TYPE: &[u8] = &[0x83];
const FLAG_LACING: &[u8] = &[0x9C];
const CODEC_ID: &[u8] = &[0x86];
const VIDEO: &[u8] = &[0xE0];
const PIXEL_WIDTH: &[u8] = &[0xB0];
const PIXEL_HEIGHT: &[u8] = &[0xBA];
const CLUSTER: &[u8] = &[0x1F, 0x43, 0xB6, 0x75];
const CLUSTER_TIMESTAMP: &[u8] = &[0xE7];
const SIMPLE_BLOCK: &[u8] = &[0xA3];

/// The only track: number 1, written as the one-byte VINT `81` in every block.
const TRACK: u8 = 1;
/// SimpleBlock flags: keyframe (every JPEG stands alone), no lacing.
const KEYFRAME: u8 = 0x80;
/// The bytes of a SimpleBlock's data before the frame: track VINT, int16 timestamp, flags.
const BLOCK_HEADER: usize = 4;

/// Why a recording cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum MkvError {
    /// Matroska needs a non-zero `PixelWidth` and `PixelHeight`.
    #[error("a {width}x{height} picture cannot be recorded: its size must not be zero")]
    ZeroSize {
        /// The width given.
        width: u32,
        /// The height given.
        height: u32,
    },
    /// A frame without bytes is not a picture.
    #[error("an empty frame cannot be recorded")]
    EmptyFrame,
    /// The output failed (disk full, a write error).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What goes into a recording's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The picture's width in pixels (the track's `PixelWidth`; not zero).
    pub width: u32,
    /// The picture's height in pixels (`PixelHeight`; not zero).
    pub height: u32,
    /// `Title`: the sender's name, shown by `ffprobe` and players. Left out when `None`.
    pub title: Option<String>,
    /// `DateUTC`: when the recording starts (the first frame's capture time), in
    /// microseconds since the Unix epoch. Left out when `None`.
    pub date_unix_us: Option<u64>,
    /// `TrackUID`: a random non-zero number, so that tools which merge files can tell tracks
    /// apart (0 is written as 1).
    pub track_uid: u64,
    /// `WritingApp`, for example `camwire 0.1.0`.
    pub writing_app: String,
}

impl Header {
    /// A header for a `width` x `height` track with a random `TrackUID`, this crate's name and
    /// version as `WritingApp`, and no title or date.
    pub fn new(width: u32, height: u32) -> Self {
        Header {
            width,
            height,
            title: None,
            date_unix_us: None,
            track_uid: fastrand::u64(1..),
            writing_app: concat!("camwire ", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// When a Cluster closes and the next frame starts a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterLimits {
    /// A frame this many milliseconds or more after the cluster's start opens a new one. At
    /// 1000 (the default) a cluster is what the recorder flushes and syncs each second.
    pub max_ms: u64,
    /// A frame arriving when the cluster already holds more than this many bytes opens a new
    /// one (default 4 MiB; the spec suggests at most 5 MB per cluster).
    pub max_bytes: u64,
}

impl Default for ClusterLimits {
    fn default() -> Self {
        ClusterLimits {
            max_ms: 1000,
            max_bytes: 4 << 20,
        }
    }
}

/// What writing one frame did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The frame opened a new Cluster: the previous one (if any) is complete, a good moment
    /// to flush and sync.
    pub new_cluster: bool,
    /// The frame's timestamp in the file, in ms from the first frame.
    pub timestamp_ms: u64,
    /// The capture time went backwards and the frame was given the previous frame's time,
    /// since Matroska timestamps within a track must not decrease.
    pub clamped: bool,
    /// Where the frame's SimpleBlock element starts in the output (its ID byte).
    pub block_offset: u64,
    /// Where the JPEG's bytes start in the output.
    pub frame_offset: u64,
}

/// The open cluster.
#[derive(Debug, Clone, Copy)]
struct Cluster {
    /// Its `Timestamp`, in ms from the first frame.
    start_ms: u64,
    /// Bytes written into it so far.
    bytes: u64,
}

/// The sans-IO muxer: which bytes go where, with no output of its own.
///
/// Call [`Muxer::header`] once, then [`Muxer::frame`] for each JPEG and write the bytes it
/// gives, followed by the JPEG itself.
#[derive(Debug, Clone)]
pub struct Muxer {
    limits: ClusterLimits,
    /// The first frame's capture time: the file's time 0.
    t0_us: Option<u64>,
    /// The last frame's timestamp, which the next may not go below.
    last_ms: u64,
    cluster: Option<Cluster>,
    /// Bytes given out so far (header, block prefixes and frames).
    offset: u64,
    clamped: u64,
}

impl Muxer {
    /// A muxer with these cluster limits.
    pub fn new(limits: ClusterLimits) -> Self {
        Muxer {
            limits,
            t0_us: None,
            last_ms: 0,
            cluster: None,
            offset: 0,
            clamped: 0,
        }
    }

    /// Appends the file's header (EBML, the Segment's start, Info and Tracks) to `out`.
    pub fn header(&mut self, h: &Header, out: &mut Vec<u8>) -> Result<(), MkvError> {
        if h.width == 0 || h.height == 0 {
            return Err(MkvError::ZeroSize {
                width: h.width,
                height: h.height,
            });
        }
        let start = out.len();
        let mut ebml = Vec::new();
        uint_el(&mut ebml, EBML_VERSION, 1);
        uint_el(&mut ebml, EBML_READ_VERSION, 1);
        // Matroska requires 4-byte IDs and sizes of at most 8 bytes.
        uint_el(&mut ebml, EBML_MAX_ID_LENGTH, 4);
        uint_el(&mut ebml, EBML_MAX_SIZE_LENGTH, 8);
        element(&mut ebml, DOC_TYPE, b"matroska");
        // SimpleBlock is a version 2 element: readers need version 2, and 4 is what ffmpeg
        // writes for `matroska`.
        uint_el(&mut ebml, DOC_TYPE_VERSION, 4);
        uint_el(&mut ebml, DOC_TYPE_READ_VERSION, 2);
        element(out, EBML, &ebml);

        // The Segment's size stays unknown for good: a known size around unknown-size
        // Clusters is an error for ffmpeg's reader.
        out.extend_from_slice(SEGMENT);
        out.extend_from_slice(&UNKNOWN_SIZE);

        // Info and Tracks have known sizes: readers accept unknown sizes only for the
        // Segment and Clusters.
        let mut info = Vec::new();
        uint_el(&mut info, TIMESTAMP_SCALE, TIMESTAMP_SCALE_NS);
        element(&mut info, MUXING_APP, b"camwire");
        element(&mut info, WRITING_APP, h.writing_app.as_bytes());
        if let Some(us) = h.date_unix_us {
            // A signed 8-byte count of nanoseconds since 2001-01-01T00:00:00Z.
            let ns = (i128::from(us) - i128::from(MKV_EPOCH_UNIX_US)) * 1000;
            let ns = ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
            element(&mut info, DATE_UTC, &ns.to_be_bytes());
        }
        if let Some(t) = &h.title {
            element(&mut info, TITLE, t.as_bytes());
        }
        element(out, INFO, &info);

        let mut video = Vec::new();
        uint_el(&mut video, PIXEL_WIDTH, u64::from(h.width));
        uint_el(&mut video, PIXEL_HEIGHT, u64::from(h.height));
        let mut entry = Vec::new();
        uint_el(&mut entry, TRACK_NUMBER, u64::from(TRACK));
        uint_el(&mut entry, TRACK_UID, h.track_uid.max(1));
        uint_el(&mut entry, TRACK_TYPE, 1); // video
        uint_el(&mut entry, FLAG_LACING, 0);
        // V_MJPEG has no CodecPrivate: each frame is a whole JPEG.
        element(&mut entry, CODEC_ID, b"V_MJPEG");
        element(&mut entry, VIDEO, &video);
        let mut tracks = Vec::new();
        element(&mut tracks, TRACK_ENTRY, &entry);
        element(out, TRACKS, &tracks);
        self.offset += (out.len() - start) as u64;
        Ok(())
    }

    /// Appends to `out` what goes before a `len`-byte JPEG captured at `capture_us`
    /// (microseconds on any clock that all of this file's frames share): a new Cluster's
    /// start when one is due, then the SimpleBlock's ID, size and header. The JPEG's bytes
    /// must follow at once.
    pub fn frame(
        &mut self,
        len: usize,
        capture_us: u64,
        out: &mut Vec<u8>,
    ) -> Result<Written, MkvError> {
        if len == 0 {
            return Err(MkvError::EmptyFrame);
        }
        let start = out.len();
        let t0 = *self.t0_us.get_or_insert(capture_us);
        let raw_ms = capture_us.saturating_sub(t0) / 1000;
        let clamped = raw_ms < self.last_ms;
        let ts = raw_ms.max(self.last_ms);
        if clamped {
            self.clamped += 1;
        }
        self.last_ms = ts;
        let new_cluster = match self.cluster {
            None => true,
            Some(c) => {
                let rel = ts - c.start_ms;
                rel >= self.limits.max_ms
                    || c.bytes > self.limits.max_bytes
                    || rel > i16::MAX as u64
            }
        };
        if new_cluster {
            out.extend_from_slice(CLUSTER);
            out.extend_from_slice(&UNKNOWN_SIZE);
            uint_el(out, CLUSTER_TIMESTAMP, ts);
            self.cluster = Some(Cluster {
                start_ms: ts,
                bytes: 0,
            });
        }
        let block_offset = self.offset + (out.len() - start) as u64;
        let c = self.cluster.get_or_insert(Cluster {
            start_ms: ts,
            bytes: 0,
        });
        // Within 0..=i16::MAX by the checks above.
        let rel = (ts - c.start_ms) as i16;
        out.extend_from_slice(SIMPLE_BLOCK);
        write_size(out, (BLOCK_HEADER + len) as u64);
        out.push(0x80 | TRACK);
        out.extend_from_slice(&rel.to_be_bytes());
        out.push(KEYFRAME);
        let prefix = (out.len() - start) as u64;
        let frame_offset = self.offset + prefix;
        c.bytes += prefix + len as u64;
        self.offset += prefix + len as u64;
        Ok(Written {
            new_cluster,
            timestamp_ms: ts,
            clamped,
            block_offset,
            frame_offset,
        })
    }

    /// Frames whose capture time went backwards and were clamped so far.
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// Bytes of the file so far, the JPEGs included.
    pub fn bytes(&self) -> u64 {
        self.offset
    }
}

/// A recording written as it goes into `W` (a `BufWriter<File>`, a `Vec<u8>`, ...).
#[derive(Debug)]
pub struct MkvWriter<W: Write> {
    out: W,
    mux: Muxer,
    scratch: Vec<u8>,
}

impl<W: Write> MkvWriter<W> {
    /// Writes the header for `header` into `out`, with the default [`ClusterLimits`].
    pub fn new(out: W, header: &Header) -> Result<Self, MkvError> {
        Self::with_limits(out, header, ClusterLimits::default())
    }

    /// [`MkvWriter::new`] with other cluster limits.
    pub fn with_limits(
        mut out: W,
        header: &Header,
        limits: ClusterLimits,
    ) -> Result<Self, MkvError> {
        let mut mux = Muxer::new(limits);
        let mut scratch = Vec::with_capacity(256);
        mux.header(header, &mut scratch)?;
        out.write_all(&scratch)?;
        Ok(MkvWriter { out, mux, scratch })
    }

    /// Writes one JPEG, byte for byte, captured at `capture_us` (microseconds).
    ///
    /// After an error the output may end inside a block: the file plays up to the block
    /// before, and nothing more should be written to it.
    pub fn write_frame(&mut self, jpeg: &[u8], capture_us: u64) -> Result<Written, MkvError> {
        self.scratch.clear();
        let w = self.mux.frame(jpeg.len(), capture_us, &mut self.scratch)?;
        self.out.write_all(&self.scratch)?;
        self.out.write_all(jpeg)?;
        Ok(w)
    }

    /// The muxer's state (bytes written, clamped timestamps).
    pub fn muxer(&self) -> &Muxer {
        &self.mux
    }

    /// The output.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// The output, to flush or sync it.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// The output back. Nothing needs writing to finish the file.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Appends an EBML element with a known size.
fn element(out: &mut Vec<u8>, id: &[u8], payload: &[u8]) {
    out.extend_from_slice(id);
    write_size(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// Appends an unsigned integer element, big-endian in as few bytes as it takes (at least 1).
fn uint_el(out: &mut Vec<u8>, id: &[u8], v: u64) {
    let bytes = v.to_be_bytes();
    let skip = (v.leading_zeros() / 8).min(7) as usize;
    element(out, id, &bytes[skip..]);
}

/// Appends `n` as the shortest EBML size VINT. A length of L bytes carries 7·L bits, and the
/// value with all of them set means "unknown", so it is never used for a known size.
fn write_size(out: &mut Vec<u8>, n: u64) {
    let len = (1..=8u32)
        .find(|&l| n < (1u64 << (7 * l)) - 1)
        // Larger than any file: 2^56 - 2 bytes is the most 8 bytes can say.
        .unwrap_or(8);
    let marked = n.min((1u64 << 56) - 2) | (1u64 << (7 * len));
    out.extend_from_slice(&marked.to_be_bytes()[8 - len as usize..]);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The survey's golden file: one 640x480 frame of the two bytes `FF D8` at time 0.
    pub const GOLDEN: &str = "1a45dfa3a34286810142f7810142f2810442f381084282886d6174726f736b61\
        42878104428581021853806701ffffffffffffff1549a9669b2ad7b1830f42404d808763616d776972655741\
        8763616d776972651654ae6ba2aea0d7810173c581018381019c81008687565f4d4a504547e088b0820280ba\
        8201e01f43b67501ffffffffffffffe78100a38681000080ffd8";

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    pub fn golden_header() -> Header {
        Header {
            width: 640,
            height: 480,
            title: None,
            date_unix_us: None,
            track_uid: 1,
            writing_app: "camwire".into(),
        }
    }

    /// One frame in an element-by-element walk.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Frame {
        pub ts_ms: i64,
        pub track: u64,
        pub flags: u8,
        pub data: Vec<u8>,
        /// Where the block's ID is.
        pub block_offset: usize,
    }

    /// What a walk found.
    #[derive(Debug, Default)]
    pub struct Walked {
        pub frames: Vec<Frame>,
        pub width: Option<u64>,
        pub height: Option<u64>,
        pub codec: Option<Vec<u8>>,
        pub timestamp_scale: Option<u64>,
        pub title: Option<Vec<u8>>,
        pub date: Option<i64>,
        pub clusters: usize,
        /// The walk stopped before the end of the input (a cut element).
        pub cut: bool,
    }

    /// Reads an ID (1 to 4 bytes, marker bits kept).
    fn read_id(b: &[u8], i: usize) -> Option<(u64, usize)> {
        let first = *b.get(i)?;
        let len = first.leading_zeros() as usize + 1;
        if len > 4 {
            return None;
        }
        let bytes = b.get(i..i + len)?;
        Some((bytes.iter().fold(0, |a, &x| a << 8 | u64::from(x)), i + len))
    }

    /// Reads a size VINT; `None` inside the pair means "unknown".
    fn read_size(b: &[u8], i: usize) -> Option<(Option<u64>, usize)> {
        let first = *b.get(i)?;
        let len = first.leading_zeros() as usize + 1;
        if len > 8 {
            return None;
        }
        let bytes = b.get(i..i + len)?;
        let raw = bytes.iter().fold(0u64, |a, &x| a << 8 | u64::from(x));
        let v = raw & ((1u64 << (7 * len)) - 1);
        let unknown = v == (1u64 << (7 * len)) - 1;
        Some(((!unknown).then_some(v), i + len))
    }

    fn uint(p: &[u8]) -> u64 {
        p.iter().fold(0, |a, &x| a << 8 | u64::from(x))
    }

    const CLUSTER_ID: u64 = 0x1F43B675;

    const MASTERS: [u64; 7] = [
        0x1A45DFA3, 0x18538067, 0x1549A966, 0x1654AE6B, 0xAE, 0xE0, 0x1F43B675,
    ];

    /// An independent EBML walker: every element, unknown sizes ending at the next Cluster
    /// (or the end), stopping quietly at the first element cut short.
    pub fn walk(b: &[u8]) -> Walked {
        let mut w = Walked::default();
        let mut cluster_ts: i64 = 0;
        let end = walk_in(b, 0, b.len(), 0, &mut cluster_ts, &mut w);
        if end < b.len() {
            w.cut = true;
        }
        w
    }

    fn walk_in(
        b: &[u8],
        mut i: usize,
        end: usize,
        depth: usize,
        cluster_ts: &mut i64,
        w: &mut Walked,
    ) -> usize {
        while i < end {
            let Some((id, j)) = read_id(b, i) else {
                return i;
            };
            // An unknown-size Cluster ends where the next one starts.
            if id == CLUSTER_ID && depth > 1 {
                return i;
            }
            let Some((size, k)) = read_size(b, j) else {
                return i;
            };
            if MASTERS.contains(&id) {
                if id == CLUSTER_ID {
                    w.clusters += 1;
                }
                let inner_end = match size {
                    None => end,
                    Some(s) => match k.checked_add(s as usize) {
                        Some(e) if e <= end => e,
                        _ => return i,
                    },
                };
                let stop = walk_in(b, k, inner_end, depth + 1, cluster_ts, w);
                let next_cluster = read_id(b, stop).is_some_and(|(id, _)| id == CLUSTER_ID);
                if stop == inner_end || (size.is_none() && next_cluster) {
                    i = stop;
                    continue;
                }
                // Something inside was cut short.
                return stop;
            }
            let Some(size) = size else {
                return i;
            };
            let Some(p) = k
                .checked_add(size as usize)
                .filter(|&e| e <= end)
                .and_then(|e| b.get(k..e))
            else {
                return i;
            };
            match id {
                0xB0 => w.width = Some(uint(p)),
                0xBA => w.height = Some(uint(p)),
                0x86 => w.codec = Some(p.to_vec()),
                0x2AD7B1 => w.timestamp_scale = Some(uint(p)),
                0x7BA9 => w.title = Some(p.to_vec()),
                0x4461 if p.len() == 8 => w.date = Some(uint(p) as i64),
                0xE7 => *cluster_ts = uint(p) as i64,
                0xA3 => {
                    let Some((track, t)) = read_size(p, 0) else {
                        return i;
                    };
                    let Some(hdr) = p.get(t..t + 3) else {
                        return i;
                    };
                    let rel = i16::from_be_bytes([hdr[0], hdr[1]]);
                    w.frames.push(Frame {
                        ts_ms: *cluster_ts + i64::from(rel),
                        track: track.unwrap_or(u64::MAX),
                        flags: hdr[2],
                        data: p[t + 3..].to_vec(),
                        block_offset: i,
                    });
                }
                _ => {}
            }
            i = k + size as usize;
        }
        i
    }

    #[test]
    fn the_golden_file_byte_for_byte() {
        let mut out = Vec::new();
        let mut w = MkvWriter::new(&mut out, &golden_header()).unwrap();
        let written = w.write_frame(&[0xFF, 0xD8], 1_700_000_000_000_000).unwrap();
        assert_eq!(out.len(), 146);
        assert_eq!(out, hex(GOLDEN));
        assert!(written.new_cluster);
        assert_eq!(written.timestamp_ms, 0);
        assert_eq!(written.block_offset, 138);
        assert_eq!(written.frame_offset, 144);
        let walked = walk(&out);
        assert!(!walked.cut);
        assert_eq!(walked.frames.len(), 1);
        assert_eq!(walked.frames[0].data, [0xFF, 0xD8]);
        assert_eq!(walked.frames[0].flags, 0x80);
        assert_eq!(walked.frames[0].track, 1);
        assert_eq!((walked.width, walked.height), (Some(640), Some(480)));
        assert_eq!(walked.codec.as_deref(), Some(&b"V_MJPEG"[..]));
        assert_eq!(walked.timestamp_scale, Some(1_000_000));
    }

    #[test]
    fn size_vints_take_the_shortest_form_and_never_all_ones() {
        let enc = |n: u64| {
            let mut v = Vec::new();
            write_size(&mut v, n);
            v
        };
        assert_eq!(enc(0), [0x80]);
        assert_eq!(enc(126), [0xFE]);
        // 127 in one byte would be FF, "unknown".
        assert_eq!(enc(127), [0x40, 0x7F]);
        assert_eq!(enc(16_382), [0x7F, 0xFE]);
        assert_eq!(enc(16_383), [0x20, 0x3F, 0xFF]);
        assert_eq!(enc(30_004), [0x20, 0x75, 0x34]);
        assert_eq!(enc(2_097_150), [0x3F, 0xFF, 0xFE]);
        assert_eq!(enc(2_097_151), [0x10, 0x1F, 0xFF, 0xFF]);
        assert_eq!(
            enc((1 << 56) - 2),
            [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE]
        );
        for n in [0, 1, 126, 127, 128, 16_382, 16_383, 2_097_151, 268_435_455] {
            assert_eq!(read_size(&enc(n), 0), Some((Some(n), enc(n).len())), "{n}");
        }
    }

    #[test]
    fn blocks_at_the_vint_boundaries_read_back() {
        // Block data = 4 + payload: 126 | 127 and 16 382 | 16 383 are the 1/2 and 2/3-byte
        // size boundaries.
        for (payload, size_bytes) in [(122, 1), (123, 2), (16_378, 2), (16_379, 3)] {
            let mut out = Vec::new();
            let mut w = MkvWriter::new(&mut out, &golden_header()).unwrap();
            let jpeg: Vec<u8> = (0..payload).map(|i| i as u8).collect();
            let wr = w.write_frame(&jpeg, 0).unwrap();
            assert_eq!(
                wr.frame_offset - wr.block_offset,
                1 + size_bytes + 4,
                "{payload}"
            );
            assert_eq!(out.len() as u64, wr.frame_offset + payload as u64);
            let walked = walk(&out);
            assert_eq!(walked.frames.len(), 1);
            assert_eq!(walked.frames[0].data, jpeg);
        }
    }

    #[test]
    fn clusters_roll_over_each_second_at_4_mib_and_before_the_int16_overflows() {
        let mut m = Muxer::new(ClusterLimits::default());
        m.header(&golden_header(), &mut Vec::new()).unwrap();
        let mut new = |len: usize, ms: u64| {
            m.frame(len, 5_000_000 + ms * 1000, &mut Vec::new())
                .unwrap()
                .new_cluster
        };
        assert!(new(10, 0));
        assert!(!new(10, 999));
        assert!(new(10, 1000), "1000 ms after the cluster's start");
        assert!(!new(5 << 20, 1001));
        assert!(new(10, 1002), "the cluster holds more than 4 MiB");
        assert!(!new(10, 1003));

        // Without the time limit, the 16-bit relative timestamp still forces one.
        let mut m = Muxer::new(ClusterLimits {
            max_ms: u64::MAX,
            max_bytes: u64::MAX,
        });
        let mut out = Vec::new();
        m.header(&golden_header(), &mut out).unwrap();
        for ms in [0u64, 32_767, 32_768, 40_000, 100_000] {
            let w = m.frame(2, ms * 1000, &mut out).unwrap();
            out.extend_from_slice(&[0xFF, 0xD8]);
            assert_eq!(
                w.new_cluster,
                ms == 0 || ms == 32_768 || ms == 100_000,
                "{ms}"
            );
        }
        let walked = walk(&out);
        assert_eq!(walked.clusters, 3);
        let ts: Vec<i64> = walked.frames.iter().map(|f| f.ts_ms).collect();
        assert_eq!(ts, [0, 32_767, 32_768, 40_000, 100_000]);
    }

    #[test]
    fn timestamps_never_decrease() {
        let mut out = Vec::new();
        let mut w = MkvWriter::new(&mut out, &golden_header()).unwrap();
        let t0 = 1_000_000_000u64;
        let mut clamped = Vec::new();
        for us in [t0, t0 + 40_000, t0 + 20_000, t0 - 500_000, t0 + 80_000] {
            clamped.push(w.write_frame(&[1, 2, 3], us).unwrap().clamped);
        }
        assert_eq!(clamped, [false, false, true, true, false]);
        assert_eq!(w.muxer().clamped(), 2);
        let ts: Vec<i64> = walk(&out).frames.iter().map(|f| f.ts_ms).collect();
        assert_eq!(ts, [0, 40, 40, 40, 80]);
    }

    #[test]
    fn title_and_date_are_written_when_given() {
        let mut h = golden_header();
        h.title = Some("garden cam".into());
        // 2001-01-01T00:00:01Z
        h.date_unix_us = Some(MKV_EPOCH_UNIX_US + 1_000_000);
        let mut out = Vec::new();
        MkvWriter::new(&mut out, &h).unwrap();
        let walked = walk(&out);
        assert_eq!(walked.title.as_deref(), Some(&b"garden cam"[..]));
        assert_eq!(walked.date, Some(1_000_000_000));
    }

    #[test]
    fn zero_sizes_and_empty_frames_are_refused() {
        let mut h = golden_header();
        h.width = 0;
        assert!(matches!(
            MkvWriter::new(Vec::new(), &h),
            Err(MkvError::ZeroSize { width: 0, .. })
        ));
        let mut w = MkvWriter::new(Vec::new(), &golden_header()).unwrap();
        assert!(matches!(w.write_frame(&[], 0), Err(MkvError::EmptyFrame)));
    }

    #[test]
    fn a_file_cut_at_any_byte_yields_every_whole_frame_before_the_cut() {
        let mut out = Vec::new();
        let limits = ClusterLimits {
            max_ms: 50,
            max_bytes: u64::MAX,
        };
        let mut w = MkvWriter::with_limits(&mut out, &golden_header(), limits).unwrap();
        let frames: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 20 + 150 * i as usize]).collect();
        let mut ends = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let wr = w.write_frame(f, i as u64 * 40_000).unwrap();
            ends.push(wr.frame_offset as usize + f.len());
        }
        let whole = walk(&out);
        assert_eq!(whole.frames.len(), 4);
        assert_eq!(whole.clusters, 2);
        for cut in 0..=out.len() {
            let walked = walk(&out[..cut]);
            let expect = ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(walked.frames.len(), expect, "cut at {cut}");
            for (got, want) in walked.frames.iter().zip(&frames) {
                assert_eq!(&got.data, want, "cut at {cut}");
            }
        }
    }
}
