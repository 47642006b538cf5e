//! How a protocol datagram travels: the layer under [`crate::protocol::sender`] and
//! [`crate::protocol::receiver`], which only ever see *bodies* (the datagrams of
//! docs/PROTOCOL.md sections 2 to 5 and 12).
//!
//! - Without a key, a datagram is `body ‖ CRC-32(body)`: a damaged datagram is found on its
//!   own and treated as lost, so the normal NACK repairs it (PROTOCOL.md 11.1).
//! - With a key, the sender first proves the key in a one-round-trip handshake (HELLO,
//!   WELCOME) that leaves the viewer no state; then every body travels sealed with
//!   ChaCha20-Poly1305 under a key per direction and handshake, behind a replay window
//!   (PROTOCOL.md 11.2 to 11.6).
//!
//! [`SenderLink`] and [`ViewerLink`] are sans-IO, like the machines above them.

pub mod crypto;
mod sender;
#[cfg(test)]
mod tests;
mod viewer;

pub use sender::{SenderLink, SenderOpened};
pub use viewer::{ViewerLink, ViewerOpened};

use crypto::{HandshakeId, MAC_LEN, NONCE_LEN, TAG_LEN};

use crate::protocol::wire::{check_common, WireError, COMMON_HEADER_LEN, MAGIC, VERSION};

/// Bytes of the CRC-32 after a keyless body.
pub const CHECK_LEN: usize = 4;
/// HELLO and WELCOME are both exactly this long, so an answer is never larger than its
/// request.
pub const HANDSHAKE_LEN: usize = 46 + MAC_LEN;
/// A SEALED datagram's header: common header and counter.
pub const SEALED_HEADER_LEN: usize = 18;
/// A SEALED datagram's header while the viewer may not yet know the handshake.
pub const INIT_HEADER_LEN: usize = SEALED_HEADER_LEN + 4 + NONCE_LEN;
/// The most a keyed datagram adds to its body.
pub const KEYED_OVERHEAD: usize = INIT_HEADER_LEN + TAG_LEN;
/// The largest datagram a viewer sends: a NACK body of [`crate::protocol::wire::MAX_NACK_LEN`]
/// sealed.
pub const MAX_VIEWER_DATAGRAM: usize =
    crate::protocol::wire::MAX_NACK_LEN + SEALED_HEADER_LEN + TAG_LEN;
/// Type byte of HELLO (sender to viewer).
pub const TYPE_HELLO: u8 = 8;
/// Type byte of WELCOME (viewer to sender).
pub const TYPE_WELCOME: u8 = 9;
/// Type byte of SEALED (both ways).
pub const TYPE_SEALED: u8 = 10;
/// SEALED flag: the handshake id follows the counter.
pub const FLAG_INIT: u16 = 0x0001;
/// A side seals at most this many datagrams under one handshake's key, then refuses: the
/// sender starts a new handshake long before (at [`REKEY_AFTER`]), so no counter comes near
/// wrapping.
pub const MAX_COUNTER: u64 = 1 << 60;
/// The sender starts a new handshake once its counter reaches this.
pub const REKEY_AFTER: u64 = MAX_COUNTER - (1 << 32);

/// Why the link dropped a datagram before the protocol saw it. Nothing is kept and nothing
/// is answered for any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkDrop {
    /// Not a well-formed datagram of this version: the [`WireError::kind`] of why.
    Malformed(&'static str),
    /// A keyless datagram whose CRC-32 does not match: damaged on the way.
    Damaged,
    /// With a key: a tag that does not match, or a sealed datagram of a handshake this end
    /// does not know.
    Unauthenticated,
    /// With a key: a hello whose MAC does not match (a different key, or a forgery).
    /// Counted as `unauthenticated`.
    WrongKey,
    /// With a key: a keyless datagram. Counted as `unauthenticated`.
    Keyless,
    /// With a key: a counter already seen, or too old for the window.
    Replayed,
    /// Without a key: a keyed peer's datagram.
    NeedsKey,
    /// A valid datagram that this end never takes (a WELCOME at a viewer).
    Unexpected,
}

impl LinkDrop {
    /// The name it is counted under.
    pub fn kind(&self) -> &'static str {
        match self {
            LinkDrop::Malformed(kind) => kind,
            LinkDrop::Damaged => "damaged",
            LinkDrop::Unauthenticated | LinkDrop::WrongKey | LinkDrop::Keyless => "unauthenticated",
            LinkDrop::Replayed => "replayed",
            LinkDrop::NeedsKey => "needs_key",
            LinkDrop::Unexpected => "unexpected_type",
        }
    }
}

/// One datagram as the link sees it, before any key is used.
#[derive(Debug)]
enum Envelope<'a> {
    /// A keyless body whose check matched.
    Plain(&'a [u8]),
    Hello {
        id: HandshakeId,
    },
    Welcome {
        id: HandshakeId,
        viewer_nonce: [u8; NONCE_LEN],
    },
    Sealed(Sealed),
}

/// Where the parts of a SEALED datagram are.
#[derive(Debug, Clone, Copy)]
struct Sealed {
    session: u32,
    counter: u64,
    init: Option<HandshakeId>,
    header_len: usize,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn nonce_at(b: &[u8], at: usize) -> [u8; NONCE_LEN] {
    b[at..at + NONCE_LEN].try_into().expect("16 bytes")
}

fn handshake_id(b: &[u8], at: usize) -> HandshakeId {
    HandshakeId {
        session: be32(b, 6),
        handshake: be32(b, at),
        sender_nonce: nonce_at(b, at + 4),
    }
}

/// True when `bytes` claim to be camwire datagrams of this version (what a shell that also
/// takes other traffic on the port, the tutorial's, needs to know).
pub fn is_camwire(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && bytes[..2] == MAGIC && bytes[2] == VERSION
}

/// Sorts a datagram into its envelope; checks lengths and, for a keyless body, its CRC.
/// Total: any byte string gives an envelope or a drop.
fn envelope(b: &[u8]) -> Result<Envelope<'_>, LinkDrop> {
    fn malformed<T>(e: WireError) -> Result<T, LinkDrop> {
        Err(LinkDrop::Malformed(e.kind()))
    }
    check_common(b).or_else(malformed)?;
    let flags = u16::from_be_bytes([b[4], b[5]]);
    let exact = |len: usize| -> Result<(), LinkDrop> {
        match b.len().cmp(&len) {
            std::cmp::Ordering::Less => Err(LinkDrop::Malformed("truncated")),
            std::cmp::Ordering::Greater => Err(LinkDrop::Malformed("length_mismatch")),
            std::cmp::Ordering::Equal => Ok(()),
        }
    };
    match b[3] {
        1..=7 => {
            if b.len() < COMMON_HEADER_LEN + CHECK_LEN {
                return malformed(WireError::Truncated {
                    need: COMMON_HEADER_LEN + CHECK_LEN,
                    got: b.len(),
                });
            }
            let (body, check) = b.split_at(b.len() - CHECK_LEN);
            if crc32fast::hash(body).to_be_bytes() != check {
                return Err(LinkDrop::Damaged);
            }
            Ok(Envelope::Plain(body))
        }
        TYPE_HELLO | TYPE_WELCOME => {
            if flags != 0 {
                return malformed(WireError::UnsupportedFlags(flags));
            }
            exact(HANDSHAKE_LEN)?;
            let id = handshake_id(b, 10);
            Ok(if b[3] == TYPE_HELLO {
                Envelope::Hello { id }
            } else {
                Envelope::Welcome {
                    id,
                    viewer_nonce: nonce_at(b, 30),
                }
            })
        }
        TYPE_SEALED => {
            if flags & !FLAG_INIT != 0 {
                return malformed(WireError::UnsupportedFlags(flags));
            }
            let init = flags & FLAG_INIT != 0;
            let header_len = if init {
                INIT_HEADER_LEN
            } else {
                SEALED_HEADER_LEN
            };
            // The smallest body is a common header.
            let need = header_len + COMMON_HEADER_LEN + TAG_LEN;
            if b.len() < need {
                return malformed(WireError::Truncated { need, got: b.len() });
            }
            Ok(Envelope::Sealed(Sealed {
                session: be32(b, 6),
                counter: u64::from_be_bytes(b[10..18].try_into().expect("8 bytes")),
                init: init.then(|| handshake_id(b, SEALED_HEADER_LEN)),
                header_len,
            }))
        }
        t => malformed(WireError::UnknownType(t)),
    }
}

/// Writes a common header of this version.
fn common_header(out: &mut [u8], kind: u8, flags: u16, session: u32) {
    out[..2].copy_from_slice(&MAGIC);
    out[2] = VERSION;
    out[3] = kind;
    out[4..6].copy_from_slice(&flags.to_be_bytes());
    out[6..10].copy_from_slice(&session.to_be_bytes());
}

/// Writes a HELLO or WELCOME (`second` is zero in a HELLO, the viewer's nonce in a WELCOME)
/// and its MAC into `out`; returns its length.
fn handshake(
    out: &mut [u8],
    kind: u8,
    id: &HandshakeId,
    second: &[u8; NONCE_LEN],
    master: &crypto::Master,
) -> usize {
    common_header(out, kind, 0, id.session);
    out[10..14].copy_from_slice(&id.handshake.to_be_bytes());
    out[14..30].copy_from_slice(&id.sender_nonce);
    out[30..46].copy_from_slice(second);
    let mac = master.hello_mac(&out[..46]);
    out[46..HANDSHAKE_LEN].copy_from_slice(&mac);
    HANDSHAKE_LEN
}

/// Checks a handshake datagram's MAC (the bytes are already sorted by [`envelope`]).
fn handshake_ok(bytes: &[u8], master: &crypto::Master) -> bool {
    bytes.len() == HANDSHAKE_LEN && master.hello_mac_ok(&bytes[..46], &bytes[46..])
}

/// A keyless datagram: `body` and its CRC-32 (for tools and tests that build bodies with
/// [`crate::protocol::wire`]).
pub fn plain_datagram(body: &[u8]) -> Vec<u8> {
    let mut d = Vec::with_capacity(body.len() + CHECK_LEN);
    d.extend_from_slice(body);
    d.extend_from_slice(&crc32fast::hash(body).to_be_bytes());
    d
}

/// The body of a keyless datagram whose CRC-32 matches.
pub fn plain_body(datagram: &[u8]) -> Result<&[u8], LinkDrop> {
    match envelope(datagram)? {
        Envelope::Plain(body) => Ok(body),
        _ => Err(LinkDrop::NeedsKey),
    }
}

/// Appends the CRC-32 to a keyless body of `body_len` bytes at the start of `buf`.
fn plain_seal(buf: &mut [u8], body_len: usize) -> Option<usize> {
    let check = crc32fast::hash(&buf[..body_len]).to_be_bytes();
    buf.get_mut(body_len..body_len + CHECK_LEN)?
        .copy_from_slice(&check);
    Some(body_len + CHECK_LEN)
}

/// Seals the body at `buf[header_len..header_len + body_len]` in place: writes the header
/// before it and the tag after it; returns the datagram's length.
fn seal(
    buf: &mut [u8],
    aead: &crypto::Aead,
    session: u32,
    counter: u64,
    init: Option<&HandshakeId>,
    body_len: usize,
) -> Option<usize> {
    let header_len = if init.is_some() {
        INIT_HEADER_LEN
    } else {
        SEALED_HEADER_LEN
    };
    let total = header_len + body_len + TAG_LEN;
    if buf.len() < total {
        return None;
    }
    let flags = if init.is_some() { FLAG_INIT } else { 0 };
    common_header(buf, TYPE_SEALED, flags, session);
    buf[10..18].copy_from_slice(&counter.to_be_bytes());
    if let Some(id) = init {
        buf[18..22].copy_from_slice(&id.handshake.to_be_bytes());
        buf[22..38].copy_from_slice(&id.sender_nonce);
    }
    let (header, rest) = buf.split_at_mut(header_len);
    let tag = aead.seal(counter, header, &mut rest[..body_len]);
    rest[body_len..body_len + TAG_LEN].copy_from_slice(&tag);
    Some(total)
}

/// Opens a SEALED datagram into `scratch` (the body, decrypted) if its tag matches.
fn open<'s>(
    bytes: &[u8],
    s: &Sealed,
    aead: &crypto::Aead,
    scratch: &'s mut Vec<u8>,
) -> Option<&'s [u8]> {
    let (header, rest) = bytes.split_at(s.header_len);
    scratch.clear();
    scratch.extend_from_slice(rest);
    let n = aead.open(s.counter, header, scratch)?;
    scratch.truncate(n);
    // The body names the same session as the envelope; only a key holder could make
    // them differ, and then the body is not to be trusted either.
    (scratch.len() >= COMMON_HEADER_LEN && be32(scratch, 6) == s.session).then_some(&scratch[..])
}
