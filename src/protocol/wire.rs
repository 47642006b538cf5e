//! Wire format, version 1: encoding and parsing of every camwire datagram.
//!
//! All integers are big-endian. Every datagram starts with the same 10-byte common header
//! (magic, version, type, flags, session), so any datagram can be recognised, versioned and
//! attributed to a sender before anything else is read. `docs/PROTOCOL.md` is the byte-by-byte
//! description; the golden-byte tests at the bottom of this file keep the two in step.
//!
//! Parsing treats its input as hostile: any byte string yields a [`Datagram`] or a
//! [`WireError`], never a panic, and parsing never allocates.

use std::ops::Range;

/// The two bytes every camwire datagram starts with: ASCII "CW".
pub const MAGIC: [u8; 2] = *b"CW";
/// The protocol version this module speaks.
pub const VERSION: u8 = 3;
/// Length of the header common to all datagram types.
pub const COMMON_HEADER_LEN: usize = 10;
/// Length of a frame chunk's header (common header included); the payload follows it.
pub const CHUNK_HEADER_LEN: usize = 40;
/// Length of an ACK datagram.
pub const ACK_LEN: usize = 22;
/// Length of a NACK datagram before its bitmap.
pub const NACK_HEADER_LEN: usize = 18;
/// The largest NACK body a viewer sends: sealed with a key (34 bytes more) it is still
/// 1200 bytes, which fits the smallest MTU any path is likely to have.
pub const MAX_NACK_LEN: usize = 1166;
/// The most chunk indexes one NACK can cover.
pub const MAX_NACK_BITS: usize = (MAX_NACK_LEN - NACK_HEADER_LEN) * 8;
/// Length of a BYE datagram.
pub const BYE_LEN: usize = COMMON_HEADER_LEN;
/// Bytes before the payload of a MESSAGE chunk.
pub const MESSAGE_HEADER_LEN: usize = 28;
/// Bytes before the reason text of a MESSAGE_ACK.
pub const MESSAGE_ACK_HEADER_LEN: usize = 16;
/// Longest reason text a MESSAGE_ACK may carry, in bytes of UTF-8.
pub const MAX_REASON_LEN: usize = 512;
/// The largest UDP payload IPv4 can carry; no datagram is ever larger.
pub const MAX_DATAGRAM: usize = 65_507;
/// The smallest `--mtu` we accept: a header and a useful amount of payload.
pub const MIN_MTU: usize = 256;
/// Flag bits a body may carry: none. (A SEALED datagram's flags are the link's, see
/// [`crate::protocol::link::FLAG_INIT`]; a body inside it still has none.)
pub const KNOWN_FLAGS: u16 = 0;

/// Datagram types (byte 3 of the common header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A chunk of a frame, sender to viewer.
    FrameChunk = 1,
    /// A frame was received whole and intact, viewer to sender.
    Ack = 2,
    /// Chunks of a frame are missing, viewer to sender.
    Nack = 3,
    /// The sender's session is ending, sender to viewer.
    Bye = 4,
    /// A chunk of a message (JSON), sender to viewer.
    MessageChunk = 5,
    /// The viewer's verdict on a whole message, viewer to sender.
    MessageAck = 6,
    /// The sender is alive but has nothing to send (its camera is away), sender to viewer.
    KeepAlive = 7,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        match v {
            1 => Some(Kind::FrameChunk),
            2 => Some(Kind::Ack),
            3 => Some(Kind::Nack),
            4 => Some(Kind::Bye),
            5 => Some(Kind::MessageChunk),
            6 => Some(Kind::MessageAck),
            7 => Some(Kind::KeepAlive),
            _ => None,
        }
    }
}

/// How a frame's bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[repr(u8)]
pub enum Codec {
    /// A baseline or progressive JFIF/JPEG image.
    Jpeg = 1,
}

impl Codec {
    fn from_u8(v: u8) -> Option<Codec> {
        match v {
            1 => Some(Codec::Jpeg),
            _ => None,
        }
    }
}

/// The metadata of one frame. Every chunk of the frame repeats it, so a viewer can start
/// reassembling from whichever chunk arrives first and can reject a chunk that disagrees with
/// the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// The frame's sequence number within its session.
    pub seq: u32,
    /// Number of chunks the frame is split into (at least 1).
    pub count: u16,
    /// Total length of the frame in bytes (at least 1).
    pub len: u32,
    /// CRC-32 (IEEE) of the whole frame.
    pub crc32: u32,
    /// How the frame is encoded.
    pub codec: Codec,
    /// Picture width in pixels (0 when unknown).
    pub width: u16,
    /// Picture height in pixels (0 when unknown).
    pub height: u16,
    /// When the frame was captured, in microseconds since the Unix epoch (sender's clock).
    pub timestamp_us: u64,
}

impl FrameInfo {
    /// The payload length of every chunk but the last: `ceil(len / count)`.
    pub fn chunk_len(&self) -> usize {
        balanced_chunk_len(self.len, self.count)
    }

    /// The byte range of chunk `index` within the frame.
    ///
    /// Only meaningful for an `index < count` of a `FrameInfo` that passed parsing (or was
    /// built with [`chunk_count`]); out-of-range input gives an empty range, never a panic.
    pub fn chunk_range(&self, index: u16) -> Range<usize> {
        balanced_range(self.len, self.count, index)
    }
}

/// What kind of content a message carries (byte 26 of a MESSAGE chunk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Content {
    /// One JSON value, UTF-8 (RFC 8259).
    Json = 1,
    /// The sender describing itself: a JSON object such as `{"name":"door"}` (PROTOCOL.md
    /// 12.6). The receiver keeps it and does not hand it on as a message.
    SessionInfo = 2,
}

impl Content {
    fn from_u8(v: u8) -> Option<Content> {
        match v {
            1 => Some(Content::Json),
            2 => Some(Content::SessionInfo),
            _ => None,
        }
    }
}

/// What every chunk of a message says about the whole message. Messages are chunked exactly
/// like frames (balanced chunks), in their own sequence space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageInfo {
    /// The message's sequence number within its session (0, 1, 2, ... in sending order).
    pub seq: u32,
    /// Number of chunks (at least 1).
    pub count: u16,
    /// Total length in bytes (at least 1).
    pub len: u32,
    /// CRC-32 (IEEE) of the whole message.
    pub crc32: u32,
    /// What the bytes are.
    pub content: Content,
}

impl MessageInfo {
    /// The byte range of chunk `index` within the message (see [`FrameInfo::chunk_range`]).
    pub fn chunk_range(&self, index: u16) -> Range<usize> {
        balanced_range(self.len, self.count, index)
    }
}

/// The viewer's verdict on a message (byte 14 of a MESSAGE_ACK).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum MessageStatus {
    /// Received whole and valid, and handed to the application.
    Delivered = 0,
    /// Received whole, but not valid JSON: refused (the reason says where).
    InvalidJson = 1,
    /// Longer than the viewer accepts: refused without being received.
    TooLarge = 2,
}

impl MessageStatus {
    fn from_u8(v: u8) -> Option<MessageStatus> {
        match v {
            0 => Some(MessageStatus::Delivered),
            1 => Some(MessageStatus::InvalidJson),
            2 => Some(MessageStatus::TooLarge),
            _ => None,
        }
    }
}

fn balanced_chunk_len(len: u32, count: u16) -> usize {
    (len as usize).div_ceil((count as usize).max(1))
}

fn balanced_range(len: u32, count: u16, index: u16) -> Range<usize> {
    let l = balanced_chunk_len(len, count);
    let start = (index as usize).saturating_mul(l).min(len as usize);
    let end = start.saturating_add(l).min(len as usize);
    start..end
}

/// Checks the chunking fields every chunked datagram shares: a non-zero length and count,
/// balanced chunks whose last keeps at least one byte, an index below the count, and a
/// payload of exactly the length the header implies.
fn check_chunking(len: u32, count: u16, index: u16, payload: usize) -> Result<(), WireError> {
    if len == 0 || count == 0 {
        return Err(WireError::BadChunking { count, len });
    }
    // Balanced chunking: a count that leaves the last chunk empty is a lie about the length.
    let l = balanced_chunk_len(len, count) as u64;
    if (count as u64 - 1) * l >= len as u64 {
        return Err(WireError::BadChunking { count, len });
    }
    if index >= count {
        return Err(WireError::IndexOutOfRange { index, count });
    }
    let expected = balanced_range(len, count, index).len();
    if payload != expected {
        return Err(WireError::LengthMismatch {
            expected,
            got: payload,
        });
    }
    Ok(())
}

/// How many chunks a frame of `len` bytes needs when each datagram may be `mtu` bytes long.
///
/// Returns `None` when the frame cannot be sent at this MTU (empty, or more than 65,535
/// chunks). Chunks are balanced: all but the last carry `ceil(len / count)` bytes, which is
/// never more than the MTU allows and always leaves the last chunk at least one byte.
pub fn chunk_count(len: usize, mtu: usize) -> Option<u16> {
    chunks_for(len, mtu, CHUNK_HEADER_LEN)
}

/// [`chunk_count`] for a message, whose chunk header is [`MESSAGE_HEADER_LEN`] bytes.
pub fn message_chunk_count(len: usize, mtu: usize) -> Option<u16> {
    chunks_for(len, mtu, MESSAGE_HEADER_LEN)
}

fn chunks_for(len: usize, mtu: usize, header: usize) -> Option<u16> {
    if len == 0 || mtu <= header {
        return None;
    }
    u16::try_from(len.div_ceil(mtu - header)).ok()
}

/// Every way a byte string can fail to be a valid v1 datagram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Shorter than the header its type needs.
    #[error("datagram too short: {got} bytes, need {need}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// Does not start with "CW": not camwire traffic.
    #[error("not a camwire datagram (bad magic)")]
    BadMagic,
    /// A protocol version this build does not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    /// A datagram type this build does not know.
    #[error("unknown datagram type {0}")]
    UnknownType(u8),
    /// Flag bits this build does not understand (for example authentication).
    #[error("unsupported flags {0:#06x}")]
    UnsupportedFlags(u16),
    /// A codec this build does not know.
    #[error("unknown codec {0}")]
    UnknownCodec(u8),
    /// A message content type this build does not know.
    #[error("unknown message content type {0}")]
    UnknownContent(u8),
    /// A MESSAGE_ACK with an unknown status, a reason that is not UTF-8 or too long, or a
    /// reason on a delivered message.
    #[error("bad message ACK")]
    BadMessageAck,
    /// Frame length or chunk count is zero, or the count does not fit the length.
    #[error("bad chunking: {count} chunks for {len} bytes")]
    BadChunking {
        /// Claimed chunk count.
        count: u16,
        /// Claimed frame length.
        len: u32,
    },
    /// Chunk index not below the chunk count.
    #[error("chunk index {index} out of range for {count} chunks")]
    IndexOutOfRange {
        /// Claimed index.
        index: u16,
        /// Claimed count.
        count: u16,
    },
    /// The payload length is not the one the header implies, or a fixed-size datagram has
    /// extra bytes.
    #[error("payload is {got} bytes, header implies {expected}")]
    LengthMismatch {
        /// Length implied by the header.
        expected: usize,
        /// Length present.
        got: usize,
    },
    /// A NACK whose range is empty, longer than [`MAX_NACK_BITS`], runs past index 65,535, or
    /// has stray padding bits.
    #[error("bad NACK range: base {base}, {nbits} bits")]
    BadNack {
        /// First index covered.
        base: u16,
        /// Bits claimed.
        nbits: u16,
    },
    /// The output buffer is too small to encode into.
    #[error("buffer too small: need {need} bytes, have {have}")]
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
}

impl WireError {
    /// A short, stable name for counting rejected datagrams by kind in stats.
    pub fn kind(&self) -> &'static str {
        match self {
            WireError::Truncated { .. } => "truncated",
            WireError::BadMagic => "bad_magic",
            WireError::UnsupportedVersion(_) => "bad_version",
            WireError::UnknownType(_) => "unknown_type",
            WireError::UnsupportedFlags(_) => "bad_flags",
            WireError::UnknownCodec(_) => "unknown_codec",
            WireError::UnknownContent(_) => "unknown_content",
            WireError::BadMessageAck => "bad_message_ack",
            WireError::BadChunking { .. } => "bad_chunking",
            WireError::IndexOutOfRange { .. } => "index_out_of_range",
            WireError::LengthMismatch { .. } => "length_mismatch",
            WireError::BadNack { .. } => "bad_nack",
            WireError::BufferTooSmall { .. } => "buffer_too_small",
        }
    }
}

/// One parsed datagram. Chunk payloads borrow from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// A piece of a frame.
    Chunk {
        /// The sender's session id.
        session: u32,
        /// The frame this chunk belongs to.
        frame: FrameInfo,
        /// Position of this chunk, `0..frame.count`.
        index: u16,
        /// Transmission round of this chunk (0 = first send), echoed in the ACK so that a
        /// round-trip time can be measured even for retransmitted frames.
        attempt: u8,
        /// The chunk's bytes: `frame.chunk_range(index)` of the frame.
        payload: &'a [u8],
    },
    /// The viewer received frame `seq` of `session` whole, with a valid CRC.
    Ack {
        /// The sender's session id (echoed).
        session: u32,
        /// The frame acknowledged.
        seq: u32,
        /// The index of the chunk that completed the frame (or, for a repeated ACK, of the
        /// chunk that drew it).
        index: u16,
        /// That chunk's `attempt`. With `index`, it names one transmission exactly, so the
        /// sender measures a true round trip even for retransmitted chunks.
        attempt: u8,
        /// How many frames of this session the viewer will assemble at once (at least 1):
        /// the sender keeps no more than this many unacknowledged frames in flight.
        window: u8,
        /// Microseconds from the arrival of the frame's first chunk to the arrival of the chunk
        /// that completed it (saturating); 0 when not measured (a repeated ACK). With the
        /// frame's size it tells the sender the rate the path delivered it at.
        spread_us: u32,
    },
    /// The viewer lacks chunks of frame `seq`: bit `i` of `bitmap` (most significant bit of
    /// byte 0 first) set means chunk `base + i` is missing.
    Nack {
        /// The sender's session id (echoed).
        session: u32,
        /// The incomplete frame.
        seq: u32,
        /// The chunk index of the bitmap's first bit.
        base: u16,
        /// How many bits of the bitmap are meaningful (1 or more).
        nbits: u16,
        /// `ceil(nbits / 8)` bytes; unused trailing bits are zero.
        bitmap: &'a [u8],
    },
    /// The sender is ending `session`.
    Bye {
        /// The sender's session id.
        session: u32,
    },
    /// The sender of `session` is alive with nothing to send: keeps the viewer from counting it
    /// gone while its source is away. Never answered.
    KeepAlive {
        /// The sender's session id.
        session: u32,
    },
    /// A piece of a message.
    MessageChunk {
        /// The sender's session id.
        session: u32,
        /// The message this chunk belongs to.
        msg: MessageInfo,
        /// Position of this chunk, `0..msg.count`.
        index: u16,
        /// Transmission round (0 = first send), echoed in the MESSAGE_ACK.
        attempt: u8,
        /// The chunk's bytes: `msg.chunk_range(index)` of the message.
        payload: &'a [u8],
    },
    /// The viewer's verdict on message `seq` of `session`.
    MessageAck {
        /// The sender's session id (echoed).
        session: u32,
        /// The message.
        seq: u32,
        /// Delivered or refused.
        status: MessageStatus,
        /// The `attempt` of the chunk that drew this answer, so that a round trip can be
        /// measured.
        attempt: u8,
        /// Why it was refused (empty when delivered); at most [`MAX_REASON_LEN`] bytes.
        reason: &'a str,
    },
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
#[inline]
fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// The first checks of every datagram, body or link (section 6, checks 1 to 4): long enough
/// for a common header, the magic, this version.
pub fn check_common(buf: &[u8]) -> Result<(), WireError> {
    if buf.len() < COMMON_HEADER_LEN {
        // Check the magic on what we have so that junk is reported as junk, not as truncation.
        if buf.len() >= 2 && buf[..2] != MAGIC {
            return Err(WireError::BadMagic);
        }
        return Err(WireError::Truncated {
            need: COMMON_HEADER_LEN,
            got: buf.len(),
        });
    }
    if buf[..2] != MAGIC {
        return Err(WireError::BadMagic);
    }
    if buf[2] != VERSION {
        return Err(WireError::UnsupportedVersion(buf[2]));
    }
    Ok(())
}

/// Parses one datagram. Never panics, never allocates.
pub fn parse(buf: &[u8]) -> Result<Datagram<'_>, WireError> {
    check_common(buf)?;
    let kind = Kind::from_u8(buf[3]).ok_or(WireError::UnknownType(buf[3]))?;
    let flags = be16(buf, 4);
    if flags & !KNOWN_FLAGS != 0 {
        return Err(WireError::UnsupportedFlags(flags));
    }
    let session = be32(buf, 6);
    match kind {
        Kind::FrameChunk => parse_chunk(buf, session),
        Kind::Ack => {
            exact_len(buf, ACK_LEN)?;
            Ok(Datagram::Ack {
                session,
                seq: be32(buf, 10),
                index: be16(buf, 14),
                attempt: buf[16],
                window: buf[17],
                spread_us: be32(buf, 18),
            })
        }
        Kind::Nack => parse_nack(buf, session),
        Kind::Bye => {
            exact_len(buf, BYE_LEN)?;
            Ok(Datagram::Bye { session })
        }
        Kind::KeepAlive => {
            exact_len(buf, BYE_LEN)?;
            Ok(Datagram::KeepAlive { session })
        }
        Kind::MessageChunk => parse_message_chunk(buf, session),
        Kind::MessageAck => parse_message_ack(buf, session),
    }
}

fn parse_message_chunk(buf: &[u8], session: u32) -> Result<Datagram<'_>, WireError> {
    if buf.len() < MESSAGE_HEADER_LEN {
        return Err(WireError::Truncated {
            need: MESSAGE_HEADER_LEN,
            got: buf.len(),
        });
    }
    let content = Content::from_u8(buf[26]).ok_or(WireError::UnknownContent(buf[26]))?;
    let msg = MessageInfo {
        seq: be32(buf, 10),
        count: be16(buf, 16),
        len: be32(buf, 18),
        crc32: be32(buf, 22),
        content,
    };
    let index = be16(buf, 14);
    let payload = &buf[MESSAGE_HEADER_LEN..];
    check_chunking(msg.len, msg.count, index, payload.len())?;
    Ok(Datagram::MessageChunk {
        session,
        msg,
        index,
        attempt: buf[27],
        payload,
    })
}

fn parse_message_ack(buf: &[u8], session: u32) -> Result<Datagram<'_>, WireError> {
    if buf.len() < MESSAGE_ACK_HEADER_LEN {
        return Err(WireError::Truncated {
            need: MESSAGE_ACK_HEADER_LEN,
            got: buf.len(),
        });
    }
    if buf.len() > MESSAGE_ACK_HEADER_LEN + MAX_REASON_LEN {
        return Err(WireError::BadMessageAck);
    }
    let status = MessageStatus::from_u8(buf[14]).ok_or(WireError::BadMessageAck)?;
    let reason = std::str::from_utf8(&buf[MESSAGE_ACK_HEADER_LEN..])
        .map_err(|_| WireError::BadMessageAck)?;
    if status == MessageStatus::Delivered && !reason.is_empty() {
        return Err(WireError::BadMessageAck);
    }
    Ok(Datagram::MessageAck {
        session,
        seq: be32(buf, 10),
        status,
        attempt: buf[15],
        reason,
    })
}

fn exact_len(buf: &[u8], len: usize) -> Result<(), WireError> {
    if buf.len() < len {
        Err(WireError::Truncated {
            need: len,
            got: buf.len(),
        })
    } else if buf.len() > len {
        Err(WireError::LengthMismatch {
            expected: len,
            got: buf.len(),
        })
    } else {
        Ok(())
    }
}

fn parse_nack(buf: &[u8], session: u32) -> Result<Datagram<'_>, WireError> {
    if buf.len() < NACK_HEADER_LEN {
        return Err(WireError::Truncated {
            need: NACK_HEADER_LEN,
            got: buf.len(),
        });
    }
    let base = be16(buf, 14);
    let nbits = be16(buf, 16);
    if nbits == 0 || nbits as usize > MAX_NACK_BITS || base as u32 + nbits as u32 > 65_536 {
        return Err(WireError::BadNack { base, nbits });
    }
    exact_len(buf, NACK_HEADER_LEN + (nbits as usize).div_ceil(8))?;
    let bitmap = &buf[NACK_HEADER_LEN..];
    // Padding bits past nbits must be zero, so that one NACK has exactly one encoding.
    let spare = bitmap.len() * 8 - nbits as usize;
    if spare > 0 && bitmap[bitmap.len() - 1] & ((1u8 << spare) - 1) != 0 {
        return Err(WireError::BadNack { base, nbits });
    }
    Ok(Datagram::Nack {
        session,
        seq: be32(buf, 10),
        base,
        nbits,
        bitmap,
    })
}

/// The chunk indexes a NACK's bitmap marks missing, in ascending order.
pub fn nack_missing(base: u16, nbits: u16, bitmap: &[u8]) -> impl Iterator<Item = u16> + '_ {
    (0..nbits as usize)
        .filter(move |i| {
            bitmap
                .get(i / 8)
                .is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
        })
        .map(move |i| (base as usize + i) as u16)
}

fn parse_chunk(buf: &[u8], session: u32) -> Result<Datagram<'_>, WireError> {
    if buf.len() < CHUNK_HEADER_LEN {
        return Err(WireError::Truncated {
            need: CHUNK_HEADER_LEN,
            got: buf.len(),
        });
    }
    let codec = Codec::from_u8(buf[26]).ok_or(WireError::UnknownCodec(buf[26]))?;
    let frame = FrameInfo {
        seq: be32(buf, 10),
        count: be16(buf, 16),
        len: be32(buf, 18),
        crc32: be32(buf, 22),
        codec,
        width: be16(buf, 28),
        height: be16(buf, 30),
        timestamp_us: be64(buf, 32),
    };
    let index = be16(buf, 14);
    let attempt = buf[27];
    let payload = &buf[CHUNK_HEADER_LEN..];
    check_chunking(frame.len, frame.count, index, payload.len())?;
    Ok(Datagram::Chunk {
        session,
        frame,
        index,
        attempt,
        payload,
    })
}

fn need(out: &[u8], n: usize) -> Result<(), WireError> {
    if out.len() < n {
        Err(WireError::BufferTooSmall {
            need: n,
            have: out.len(),
        })
    } else {
        Ok(())
    }
}

fn write_common(out: &mut [u8], kind: Kind, session: u32) {
    out[..2].copy_from_slice(&MAGIC);
    out[2] = VERSION;
    out[3] = kind as u8;
    out[4..6].copy_from_slice(&0u16.to_be_bytes());
    out[6..10].copy_from_slice(&session.to_be_bytes());
}

impl Datagram<'_> {
    /// The number of bytes [`Datagram::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Datagram::Chunk { payload, .. } => CHUNK_HEADER_LEN + payload.len(),
            Datagram::Ack { .. } => ACK_LEN,
            Datagram::Nack { bitmap, .. } => NACK_HEADER_LEN + bitmap.len(),
            Datagram::Bye { .. } | Datagram::KeepAlive { .. } => BYE_LEN,
            Datagram::MessageChunk { payload, .. } => MESSAGE_HEADER_LEN + payload.len(),
            Datagram::MessageAck { reason, .. } => MESSAGE_ACK_HEADER_LEN + reason.len(),
        }
    }

    /// Writes the datagram to the front of `out` and returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let n = self.encoded_len();
        need(out, n)?;
        match *self {
            Datagram::Chunk {
                session,
                ref frame,
                index,
                attempt,
                payload,
            } => {
                write_common(out, Kind::FrameChunk, session);
                out[10..14].copy_from_slice(&frame.seq.to_be_bytes());
                out[14..16].copy_from_slice(&index.to_be_bytes());
                out[16..18].copy_from_slice(&frame.count.to_be_bytes());
                out[18..22].copy_from_slice(&frame.len.to_be_bytes());
                out[22..26].copy_from_slice(&frame.crc32.to_be_bytes());
                out[26] = frame.codec as u8;
                out[27] = attempt;
                out[28..30].copy_from_slice(&frame.width.to_be_bytes());
                out[30..32].copy_from_slice(&frame.height.to_be_bytes());
                out[32..40].copy_from_slice(&frame.timestamp_us.to_be_bytes());
                out[CHUNK_HEADER_LEN..n].copy_from_slice(payload);
            }
            Datagram::Ack {
                session,
                seq,
                index,
                attempt,
                window,
                spread_us,
            } => {
                write_common(out, Kind::Ack, session);
                out[10..14].copy_from_slice(&seq.to_be_bytes());
                out[14..16].copy_from_slice(&index.to_be_bytes());
                out[16] = attempt;
                out[17] = window;
                out[18..22].copy_from_slice(&spread_us.to_be_bytes());
            }
            Datagram::Nack {
                session,
                seq,
                base,
                nbits,
                bitmap,
            } => {
                write_common(out, Kind::Nack, session);
                out[10..14].copy_from_slice(&seq.to_be_bytes());
                out[14..16].copy_from_slice(&base.to_be_bytes());
                out[16..18].copy_from_slice(&nbits.to_be_bytes());
                out[NACK_HEADER_LEN..n].copy_from_slice(bitmap);
            }
            Datagram::Bye { session } => write_common(out, Kind::Bye, session),
            Datagram::KeepAlive { session } => write_common(out, Kind::KeepAlive, session),
            Datagram::MessageChunk {
                session,
                ref msg,
                index,
                attempt,
                payload,
            } => {
                write_common(out, Kind::MessageChunk, session);
                out[10..14].copy_from_slice(&msg.seq.to_be_bytes());
                out[14..16].copy_from_slice(&index.to_be_bytes());
                out[16..18].copy_from_slice(&msg.count.to_be_bytes());
                out[18..22].copy_from_slice(&msg.len.to_be_bytes());
                out[22..26].copy_from_slice(&msg.crc32.to_be_bytes());
                out[26] = msg.content as u8;
                out[27] = attempt;
                out[MESSAGE_HEADER_LEN..n].copy_from_slice(payload);
            }
            Datagram::MessageAck {
                session,
                seq,
                status,
                attempt,
                reason,
            } => {
                write_common(out, Kind::MessageAck, session);
                out[10..14].copy_from_slice(&seq.to_be_bytes());
                out[14] = status as u8;
                out[15] = attempt;
                out[MESSAGE_ACK_HEADER_LEN..n].copy_from_slice(reason.as_bytes());
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn info(len: u32, count: u16) -> FrameInfo {
        FrameInfo {
            seq: 0x0102_0304,
            count,
            len,
            crc32: 0xCAFE_BABE,
            codec: Codec::Jpeg,
            width: 1280,
            height: 720,
            timestamp_us: 0x0011_2233_4455_6677,
        }
    }

    /// The exact bytes of docs/PROTOCOL.md's chunk example: if this changes, the doc must too.
    #[test]
    fn chunk_golden_bytes() {
        let payload = [0xAA, 0xBB, 0xCC];
        let d = Datagram::Chunk {
            session: 0xDEAD_BEEF,
            frame: info(5, 2),
            index: 0,
            attempt: 1,
            payload: &payload,
        };
        let mut out = [0u8; 64];
        let n = d.encode(&mut out).unwrap();
        #[rustfmt::skip]
        let expected: [u8; 43] = [
            b'C', b'W', 3, 1, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF, // common header
            0x01, 0x02, 0x03, 0x04, // seq
            0x00, 0x00,             // index
            0x00, 0x02,             // count
            0x00, 0x00, 0x00, 0x05, // frame length
            0xCA, 0xFE, 0xBA, 0xBE, // crc32
            1,                      // codec: JPEG
            1,                      // attempt
            0x05, 0x00, 0x02, 0xD0, // 1280 x 720
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, // timestamp
            0xAA, 0xBB, 0xCC,       // payload
        ];
        assert_eq!(&out[..n], &expected[..]);
        assert_eq!(parse(&expected).unwrap(), d);
    }

    #[test]
    fn ack_and_bye_golden_bytes() {
        let mut out = [0u8; 32];
        let n = Datagram::Ack {
            session: 7,
            seq: 258,
            index: 5,
            attempt: 3,
            window: 8,
            spread_us: 12_345,
        }
        .encode(&mut out)
        .unwrap();
        assert_eq!(
            &out[..n],
            &[b'C', b'W', 3, 2, 0, 0, 0, 0, 0, 7, 0, 0, 1, 2, 0, 5, 3, 8, 0, 0, 0x30, 0x39]
        );
        let bitmap = [0b1010_0000];
        let n = Datagram::Nack {
            session: 7,
            seq: 258,
            base: 4,
            nbits: 3,
            bitmap: &bitmap,
        }
        .encode(&mut out)
        .unwrap();
        assert_eq!(
            &out[..n],
            &[
                b'C',
                b'W',
                3,
                3,
                0,
                0,
                0,
                0,
                0,
                7,
                0,
                0,
                1,
                2,
                0,
                4,
                0,
                3,
                0b1010_0000
            ]
        );
        match parse(&out[..n]).unwrap() {
            Datagram::Nack {
                base,
                nbits,
                bitmap,
                ..
            } => {
                let missing: Vec<u16> = nack_missing(base, nbits, bitmap).collect();
                assert_eq!(missing, vec![4, 6]);
            }
            other => panic!("{other:?}"),
        }
        let mut stray = out;
        stray[18] |= 1; // a padding bit
        assert!(matches!(parse(&stray[..n]), Err(WireError::BadNack { .. })));
        let mut empty = out;
        empty[17] = 0; // nbits = 0
        assert!(matches!(parse(&empty[..n]), Err(WireError::BadNack { .. })));
        let mut past_end = out;
        past_end[14] = 0xFF; // base 65,535 + 3 bits runs past the last index
        past_end[15] = 0xFF;
        assert!(matches!(
            parse(&past_end[..n]),
            Err(WireError::BadNack { .. })
        ));
        let n = Datagram::Bye { session: 7 }.encode(&mut out).unwrap();
        assert_eq!(&out[..n], &[b'C', b'W', 3, 4, 0, 0, 0, 0, 0, 7]);
        assert_eq!(parse(&out[..n]).unwrap(), Datagram::Bye { session: 7 });
    }

    #[test]
    fn rejects_by_kind() {
        let mut ack = [0u8; ACK_LEN];
        Datagram::Ack {
            session: 1,
            seq: 2,
            index: 0,
            attempt: 0,
            window: 1,
            spread_us: 0,
        }
        .encode(&mut ack)
        .unwrap();
        assert_eq!(parse(b"hello world!"), Err(WireError::BadMagic));
        assert_eq!(parse(b"C"), Err(WireError::Truncated { need: 10, got: 1 }));
        let mut v = ack;
        v[2] = 1;
        assert_eq!(parse(&v), Err(WireError::UnsupportedVersion(1)));
        let mut t = ack;
        t[3] = 99;
        assert_eq!(parse(&t), Err(WireError::UnknownType(99)));
        let mut f = ack;
        f[5] = 1;
        assert_eq!(parse(&f), Err(WireError::UnsupportedFlags(1)));
        assert!(matches!(
            parse(&ack[..12]),
            Err(WireError::Truncated { .. })
        ));
        t[3] = 8;
        assert_eq!(parse(&t), Err(WireError::UnknownType(8)));
        let mut long = ack.to_vec();
        long.push(0);
        assert!(matches!(
            parse(&long),
            Err(WireError::LengthMismatch { .. })
        ));
    }

    fn encode_chunk(frame: FrameInfo, index: u16, payload: &[u8]) -> Vec<u8> {
        let d = Datagram::Chunk {
            session: 9,
            frame,
            index,
            attempt: 0,
            payload,
        };
        let mut out = vec![0u8; d.encoded_len()];
        d.encode(&mut out).unwrap();
        out
    }

    #[test]
    fn rejects_lying_chunks() {
        // count that would leave the last chunk empty: len 9, count 4 -> 3+3+3+0
        let b = encode_chunk(info(9, 4), 0, &[0; 3]);
        assert!(matches!(parse(&b), Err(WireError::BadChunking { .. })));
        // payload shorter than the header implies
        let b = encode_chunk(info(10, 2), 0, &[0; 4]);
        assert_eq!(
            parse(&b),
            Err(WireError::LengthMismatch {
                expected: 5,
                got: 4
            })
        );
        // index out of range
        let b = encode_chunk(info(10, 2), 2, &[]);
        assert!(matches!(parse(&b), Err(WireError::IndexOutOfRange { .. })));
        // zero length
        let b = encode_chunk(info(0, 1), 0, &[]);
        assert!(matches!(parse(&b), Err(WireError::BadChunking { .. })));
        // unknown codec
        let mut b = encode_chunk(info(1, 1), 0, &[7]);
        b[26] = 9;
        assert_eq!(parse(&b), Err(WireError::UnknownCodec(9)));
    }

    #[test]
    fn chunk_count_respects_mtu() {
        assert_eq!(chunk_count(0, 1200), None);
        assert_eq!(chunk_count(1, 1200), Some(1));
        assert_eq!(chunk_count(1160, 1200), Some(1));
        assert_eq!(chunk_count(1161, 1200), Some(2));
        assert_eq!(chunk_count(1160 * 65_535 + 1, 1200), None);
        assert_eq!(chunk_count(100, CHUNK_HEADER_LEN), None);
    }

    /// The exact bytes of docs/PROTOCOL.md's message examples: if this changes, the doc must.
    #[test]
    fn message_golden_bytes() {
        let msg = MessageInfo {
            seq: 7,
            count: 1,
            len: 9,
            crc32: crc32fast::hash(b"[0,0,0,1]"),
            content: Content::Json,
        };
        let d = Datagram::MessageChunk {
            session: 0xDEAD_BEEF,
            msg,
            index: 0,
            attempt: 0,
            payload: b"[0,0,0,1]",
        };
        let mut out = [0u8; 64];
        let n = d.encode(&mut out).unwrap();
        assert_eq!(n, MESSAGE_HEADER_LEN + 9);
        let hex: String = out[..n].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "43570305 0000deadbeef 00000007 0000 0001 00000009 896e63e6 01 00 5b302c302c302c315d"
                .replace(' ', "")
        );
        assert_eq!(parse(&out[..n]).unwrap(), d);

        let a = Datagram::MessageAck {
            session: 0xDEAD_BEEF,
            seq: 7,
            status: MessageStatus::InvalidJson,
            attempt: 2,
            reason: "EOF",
        };
        let n = a.encode(&mut out).unwrap();
        let hex: String = out[..n].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "435703060000deadbeef00000007010245 4f46".replace(' ', "")
        );
        assert_eq!(parse(&out[..n]).unwrap(), a);
    }

    #[test]
    fn bad_message_acks_are_refused() {
        let mut b = vec![b'C', b'W', 3, 6, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0];
        assert!(matches!(parse(&b), Ok(Datagram::MessageAck { .. })));
        b.push(b'x'); // a reason on a delivered message
        assert_eq!(parse(&b), Err(WireError::BadMessageAck));
        b[14] = 9; // unknown status
        assert_eq!(parse(&b), Err(WireError::BadMessageAck));
        b[14] = 1;
        b.push(0xFF); // not UTF-8
        assert_eq!(parse(&b), Err(WireError::BadMessageAck));
        b.pop();
        b.extend(std::iter::repeat_n(b'x', MAX_REASON_LEN)); // too long
        assert_eq!(parse(&b), Err(WireError::BadMessageAck));
        let mut c = vec![b'C', b'W', 3, 5, 0, 0, 0, 0, 0, 1];
        c.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 7, 0, b'1']);
        assert_eq!(parse(&c), Err(WireError::UnknownContent(7)));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Message-shaped input: a value or an error, and a parsed chunk's payload always fits.
        #[test]
        fn parse_never_panics_on_message_like_input(
            kind in 5u8..=6,
            tail in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut b = vec![b'C', b'W', 3, kind, 0, 0];
            b.extend_from_slice(&tail);
            if let Ok(Datagram::MessageChunk { msg, index, payload, .. }) = parse(&b) {
                prop_assert_eq!(payload.len(), msg.chunk_range(index).len());
            }
        }

        /// Message chunking tiles the message and every chunk fits the MTU.
        #[test]
        fn message_layout_round_trips(len in 1usize..70_000, mtu in MIN_MTU..9000usize) {
            let count = message_chunk_count(len, mtu).unwrap();
            let mi = MessageInfo { seq: 1, count, len: len as u32, crc32: 0, content: Content::Json };
            let mut covered = 0;
            let mut out = vec![0u8; mtu];
            for i in 0..count {
                let r = mi.chunk_range(i);
                prop_assert_eq!(r.start, covered);
                prop_assert!(!r.is_empty());
                covered = r.end;
                let payload = vec![i as u8; r.len()];
                let d = Datagram::MessageChunk { session: 1, msg: mi, index: i, attempt: 0, payload: &payload };
                let n = d.encode(&mut out).unwrap();
                prop_assert!(n <= mtu);
                prop_assert_eq!(parse(&out[..n]).unwrap(), d);
            }
            prop_assert_eq!(covered, len);
        }

        /// Any bytes at all: a value or an error, never a panic.
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let _ = parse(&bytes);
        }

        /// Bytes that start like a real chunk header exercise the deeper checks.
        #[test]
        fn parse_never_panics_on_chunk_like_input(
            tail in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut b = vec![b'C', b'W', 3, 1, 0, 0];
            b.extend_from_slice(&tail);
            if let Ok(Datagram::Chunk { frame, index, payload, .. }) = parse(&b) {
                prop_assert_eq!(payload.len(), frame.chunk_range(index).len());
            }
        }

        /// Every chunk the layout produces parses back to what was encoded, and the chunk
        /// ranges tile the frame exactly.
        #[test]
        fn layout_round_trips(len in 1usize..200_000, mtu in MIN_MTU..9000usize) {
            let count = chunk_count(len, mtu).unwrap();
            let fi = FrameInfo { len: len as u32, count, ..info(1, 1) };
            let mut covered = 0;
            for i in 0..count {
                let r = fi.chunk_range(i);
                prop_assert_eq!(r.start, covered);
                prop_assert!(!r.is_empty());
                prop_assert!(CHUNK_HEADER_LEN + r.len() <= mtu);
                covered = r.end;
                let payload = vec![i as u8; r.len()];
                let bytes = encode_chunk(fi, i, &payload);
                match parse(&bytes).unwrap() {
                    Datagram::Chunk { frame, index, payload: p, .. } => {
                        prop_assert_eq!(frame, fi);
                        prop_assert_eq!(index, i);
                        prop_assert_eq!(p, &payload[..]);
                    }
                    other => prop_assert!(false, "wrong type {:?}", other),
                }
            }
            prop_assert_eq!(covered, len);
        }
    }

    /// A valid datagram of every type `encode` can build, as bytes. Chunks and message chunks
    /// are laid out with the real chunking (`chunk_count` / `message_chunk_count`), so that
    /// mutations start from what a sender really puts on the wire.
    fn valid_datagram() -> impl Strategy<Value = Vec<u8>> {
        fn bytes(d: &Datagram<'_>) -> Vec<u8> {
            let mut out = vec![0u8; d.encoded_len()];
            let n = d.encode(&mut out).unwrap();
            assert_eq!(n, out.len());
            out
        }
        let chunk = (
            any::<(u32, u32, u32, u16, u16, u64, u8)>(),
            1usize..5000,
            MIN_MTU..1500usize,
            any::<u16>(),
            any::<u8>(),
        )
            .prop_map(
                |((session, seq, crc32, width, height, ts, attempt), len, mtu, i, fill)| {
                    let count = chunk_count(len, mtu).unwrap();
                    let frame = FrameInfo {
                        seq,
                        count,
                        len: len as u32,
                        crc32,
                        codec: Codec::Jpeg,
                        width,
                        height,
                        timestamp_us: ts,
                    };
                    let index = i % count;
                    let payload: Vec<u8> = frame
                        .chunk_range(index)
                        .map(|b| (b as u8).wrapping_mul(31) ^ fill)
                        .collect();
                    bytes(&Datagram::Chunk {
                        session,
                        frame,
                        index,
                        attempt,
                        payload: &payload,
                    })
                },
            );
        let ack = any::<(u32, u32, u16, u8, u8, u32)>().prop_map(
            |(session, seq, index, attempt, window, spread_us)| {
                bytes(&Datagram::Ack {
                    session,
                    seq,
                    index,
                    attempt,
                    window,
                    spread_us,
                })
            },
        );
        let nack = (
            any::<(u32, u32, u16)>(),
            1usize..=MAX_NACK_BITS,
            any::<u64>(),
        )
            .prop_map(|((session, seq, base), nbits, seed)| {
                // The range may not run past index 65,535; padding bits are zero.
                let nbits = nbits.min(65_536 - base as usize) as u16;
                let mut rng = fastrand::Rng::with_seed(seed);
                let mut bitmap: Vec<u8> = (0..(nbits as usize).div_ceil(8))
                    .map(|_| rng.u8(..))
                    .collect();
                let used = nbits as usize % 8;
                if used != 0 {
                    *bitmap.last_mut().unwrap() &= 0xFFu8 << (8 - used);
                }
                bytes(&Datagram::Nack {
                    session,
                    seq,
                    base,
                    nbits,
                    bitmap: &bitmap,
                })
            });
        let bye = any::<u32>().prop_map(|session| bytes(&Datagram::Bye { session }));
        let keepalive = any::<u32>().prop_map(|session| bytes(&Datagram::KeepAlive { session }));
        let message = (
            any::<(u32, u32, u32, u8)>(),
            1usize..3000,
            MIN_MTU..1500usize,
            any::<u16>(),
            any::<u8>(),
        )
            .prop_map(|((session, seq, crc32, attempt), len, mtu, i, fill)| {
                let count = message_chunk_count(len, mtu).unwrap();
                let msg = MessageInfo {
                    seq,
                    count,
                    len: len as u32,
                    crc32,
                    content: Content::Json,
                };
                let index = i % count;
                let payload: Vec<u8> = msg.chunk_range(index).map(|b| (b as u8) ^ fill).collect();
                bytes(&Datagram::MessageChunk {
                    session,
                    msg,
                    index,
                    attempt,
                    payload: &payload,
                })
            });
        let message_ack = (any::<(u32, u32, u8)>(), 0u8..3, "[ -~]{0,64}|\\PC{0,40}").prop_map(
            |((session, seq, attempt), status, reason)| {
                let status = MessageStatus::from_u8(status).unwrap();
                // At most 64 bytes or 40 chars: well within MAX_REASON_LEN.
                let reason = match status {
                    MessageStatus::Delivered => "",
                    _ => reason.as_str(),
                };
                bytes(&Datagram::MessageAck {
                    session,
                    seq,
                    status,
                    attempt,
                    reason,
                })
            },
        );
        prop_oneof![chunk, ack, nack, bye, keepalive, message, message_ack]
    }

    /// One way to damage a datagram. Positions are taken modulo the datagram's length.
    #[derive(Debug, Clone)]
    enum Mutation {
        /// XOR these masks in at these positions.
        FlipBits(Vec<(usize, u8)>),
        /// Keep only this many bytes (modulo length + 1).
        Truncate(usize),
        /// Append these bytes.
        Extend(Vec<u8>),
        /// Overwrite from this position with these bytes (growing it if they run past the end).
        Overwrite(usize, Vec<u8>),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            proptest::collection::vec((any::<usize>(), 1u8..=255), 1..8)
                .prop_map(Mutation::FlipBits),
            any::<usize>().prop_map(Mutation::Truncate),
            proptest::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Extend),
            (
                any::<usize>(),
                proptest::collection::vec(any::<u8>(), 1..48)
            )
                .prop_map(|(at, b)| Mutation::Overwrite(at, b)),
        ]
    }

    fn mutate(mut b: Vec<u8>, m: &Mutation) -> Vec<u8> {
        match m {
            Mutation::FlipBits(flips) => {
                for &(at, mask) in flips {
                    let i = at % b.len();
                    b[i] ^= mask;
                }
            }
            Mutation::Truncate(n) => b.truncate(n % (b.len() + 1)),
            Mutation::Extend(more) => b.extend_from_slice(more),
            Mutation::Overwrite(at, with) => {
                let start = at % b.len();
                for (k, &x) in with.iter().enumerate() {
                    match b.get_mut(start + k) {
                        Some(slot) => *slot = x,
                        None => b.push(x),
                    }
                }
            }
        }
        b
    }

    /// Whatever parses re-encodes to exactly the bytes it came from (the format has one
    /// encoding per value), and those bytes parse to the same value.
    fn assert_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
        if let Ok(d) = parse(bytes) {
            let mut out = vec![0u8; d.encoded_len()];
            let n = d.encode(&mut out).unwrap();
            prop_assert_eq!(parse(&out[..n]), Ok(d.clone()));
            prop_assert_eq!(&out[..n], bytes, "{:?} re-encodes differently", d);
            match d {
                Datagram::Chunk {
                    frame,
                    index,
                    payload,
                    ..
                } => {
                    prop_assert_eq!(payload.len(), frame.chunk_range(index).len());
                }
                Datagram::MessageChunk {
                    msg,
                    index,
                    payload,
                    ..
                } => {
                    prop_assert_eq!(payload.len(), msg.chunk_range(index).len());
                }
                _ => {}
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// Valid datagrams of every type parse and re-encode to the same bytes.
        #[test]
        fn valid_datagrams_round_trip(b in valid_datagram()) {
            prop_assert!(parse(&b).is_ok(), "{:?}", parse(&b));
            assert_canonical(&b)?;
        }

        /// Valid datagrams with bits flipped, cut short, extended or overwritten: a value or
        /// an error, never a panic, and a value re-encodes to the very bytes parsed. Unlike
        /// random bytes (1 in 65,536 of which get past the magic), these reach every check.
        #[test]
        fn mutated_datagrams_parse_or_fail_cleanly(
            b in valid_datagram(),
            muts in proptest::collection::vec(mutation(), 1..4),
        ) {
            let mut m = b;
            for mu in &muts {
                if m.is_empty() {
                    break;
                }
                m = mutate(m, mu);
            }
            assert_canonical(&m)?;
        }
    }
}
