//! The RTP fixed header (RFC 3550 section 5.1), read and written. Only what a JPEG stream
//! needs: CSRCs, a header extension and padding are accepted and skipped when read, and never
//! written.

/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 12;
/// Static payload type of JPEG (RFC 3551).
pub const PT_JPEG: u8 = 26;
/// The RTP clock of video, Hz.
pub const CLOCK_RATE: u32 = 90_000;

/// Why bytes are not an RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than its headers say.
    #[error("RTP packet truncated")]
    Truncated,
    /// Not RTP version 2.
    #[error("not RTP version 2")]
    Version,
    /// Padding longer than the payload.
    #[error("RTP padding longer than the packet")]
    Padding,
}

/// An RTP packet, borrowed from the bytes it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The marker bit: for video, the last packet of a frame.
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub seq: u16,
    /// Media timestamp (90 kHz for video).
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// The payload, without padding.
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Reads a packet; any bytes give a packet or an error.
    pub fn parse(b: &'a [u8]) -> Result<Packet<'a>, PacketError> {
        if b.len() < HEADER_LEN {
            return Err(PacketError::Truncated);
        }
        if b[0] >> 6 != 2 {
            return Err(PacketError::Version);
        }
        let padding = b[0] & 0x20 != 0;
        let extension = b[0] & 0x10 != 0;
        let csrcs = usize::from(b[0] & 0x0F);
        let mut at = HEADER_LEN + 4 * csrcs;
        if extension {
            let ext = b.get(at..at + 4).ok_or(PacketError::Truncated)?;
            at += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        }
        if at > b.len() {
            return Err(PacketError::Truncated);
        }
        let mut end = b.len();
        if padding {
            let pad = usize::from(b[end - 1]);
            if pad == 0 || pad > end - at {
                return Err(PacketError::Padding);
            }
            end -= pad;
        }
        Ok(Packet {
            marker: b[1] & 0x80 != 0,
            payload_type: b[1] & 0x7F,
            seq: u16::from_be_bytes([b[2], b[3]]),
            timestamp: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            payload: &b[at..end],
        })
    }
}

/// Writes the fixed header (no CSRC, extension or padding) to the start of `out`.
pub fn write_header(
    out: &mut [u8; HEADER_LEN],
    marker: bool,
    payload_type: u8,
    seq: u16,
    timestamp: u32,
    ssrc: u32,
) {
    out[0] = 0x80;
    out[1] = (u8::from(marker) << 7) | (payload_type & 0x7F);
    out[2..4].copy_from_slice(&seq.to_be_bytes());
    out[4..8].copy_from_slice(&timestamp.to_be_bytes());
    out[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_header_reads_back() {
        let mut h = [0u8; HEADER_LEN];
        write_header(&mut h, true, PT_JPEG, 0xFFFF, 0xDEAD_BEEF, 7);
        let mut b = h.to_vec();
        b.extend_from_slice(b"jpeg");
        let p = Packet::parse(&b).unwrap();
        assert_eq!(
            p,
            Packet {
                marker: true,
                payload_type: 26,
                seq: 0xFFFF,
                timestamp: 0xDEAD_BEEF,
                ssrc: 7,
                payload: b"jpeg",
            }
        );
    }

    #[test]
    fn csrcs_extension_and_padding_are_skipped() {
        let mut b = vec![0x80 | 0x20 | 0x10 | 2, 26, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        b.extend_from_slice(&[0; 8]); // two CSRCs
        b.extend_from_slice(&[0xBE, 0xDE, 0, 1, 1, 2, 3, 4]); // a one-word extension
        b.extend_from_slice(b"data");
        b.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        assert_eq!(Packet::parse(&b).unwrap().payload, b"data");
    }

    #[test]
    fn malformed_packets_are_errors() {
        assert_eq!(Packet::parse(&[0x80; 11]), Err(PacketError::Truncated));
        assert_eq!(Packet::parse(&[0x40; 12]), Err(PacketError::Version));
        let mut b = vec![0x8F, 26, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(Packet::parse(&b), Err(PacketError::Truncated));
        b = vec![0xA0, 26, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 200];
        assert_eq!(Packet::parse(&b), Err(PacketError::Padding));
        b = vec![0x90, 26, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF];
        assert_eq!(Packet::parse(&b), Err(PacketError::Truncated));
    }
}
