//! RTCP sender reports (RFC 3550 section 6.4.1), so that receivers can map RTP timestamps to
//! wall-clock time: a compound packet of a sender report (SR) and a source description with
//! the stream's CNAME (SDES), which RFC 3550 requires in every compound packet.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
/// How often a sender reports (RFC 3550 suggests 5 s at these rates).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// What a sender report says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport {
    /// The stream.
    pub ssrc: u32,
    /// Wall-clock time of the report.
    pub wallclock: SystemTime,
    /// The RTP timestamp of that same instant.
    pub rtp_timestamp: u32,
    /// Packets sent so far.
    pub packets: u32,
    /// Payload bytes sent so far.
    pub octets: u32,
}

/// The 64-bit NTP timestamp of `t` (seconds since 1900, 32.32 fixed point).
pub fn ntp_timestamp(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() + NTP_UNIX_OFFSET;
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

impl SenderReport {
    /// The compound packet: SR, then SDES with `cname` (at most 255 bytes of it).
    pub fn to_bytes(&self, cname: &str) -> Vec<u8> {
        let mut b = Vec::with_capacity(64);
        // SR: V=2, no padding, RC=0, PT=200, length 6 (28 bytes).
        b.extend_from_slice(&[0x80, 200, 0, 6]);
        b.extend_from_slice(&self.ssrc.to_be_bytes());
        b.extend_from_slice(&ntp_timestamp(self.wallclock).to_be_bytes());
        b.extend_from_slice(&self.rtp_timestamp.to_be_bytes());
        b.extend_from_slice(&self.packets.to_be_bytes());
        b.extend_from_slice(&self.octets.to_be_bytes());
        // SDES: V=2, SC=1, PT=202; one chunk: SSRC, CNAME item, END, padded to 32 bits.
        let name = &cname.as_bytes()[..cname.len().min(255)];
        let chunk = 4 + 2 + name.len() + 1;
        let padded = chunk.div_ceil(4) * 4;
        let words = (4 + padded) / 4 - 1;
        b.extend_from_slice(&[0x81, 202]);
        b.extend_from_slice(&(words as u16).to_be_bytes());
        b.extend_from_slice(&self.ssrc.to_be_bytes());
        b.extend_from_slice(&[1, name.len() as u8]);
        b.extend_from_slice(name);
        b.resize(28 + 4 + padded, 0);
        b
    }
}

/// A generic NACK (RFC 4585 section 6.2.1, RTPFB, FMT 1): the packets of `media_ssrc` that
/// `sender_ssrc` asks to be sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nack {
    /// Who asks.
    pub sender_ssrc: u32,
    /// Whose packets.
    pub media_ssrc: u32,
    /// Their sequence numbers.
    pub lost: Vec<u16>,
}

/// At most this many sequence numbers in one NACK (64 FCI entries of up to 17).
pub const MAX_NACK_ENTRIES: usize = 64;

impl Nack {
    /// The RTCP packet: each FCI entry names a packet (PID) and which of the 16 after it are
    /// lost too (BLP).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut lost = self.lost.clone();
        lost.sort_unstable();
        lost.dedup();
        let mut fci: Vec<(u16, u16)> = Vec::new();
        for seq in lost {
            if let Some((pid, blp)) = fci.last_mut() {
                let d = seq.wrapping_sub(*pid);
                if (1..=16).contains(&d) {
                    *blp |= 1 << (d - 1);
                    continue;
                }
            }
            if fci.len() == MAX_NACK_ENTRIES {
                break;
            }
            fci.push((seq, 0));
        }
        let words = 2 + fci.len();
        let mut b = Vec::with_capacity(4 + 4 * words);
        b.extend_from_slice(&[0x81, 205]);
        b.extend_from_slice(&(words as u16).to_be_bytes());
        b.extend_from_slice(&self.sender_ssrc.to_be_bytes());
        b.extend_from_slice(&self.media_ssrc.to_be_bytes());
        for (pid, blp) in fci {
            b.extend_from_slice(&pid.to_be_bytes());
            b.extend_from_slice(&blp.to_be_bytes());
        }
        b
    }
}

/// Whether a datagram is RTCP rather than RTP (RFC 5761 section 4: RTCP's packet types 200
/// to 206 sit where RTP's marker bit and payload types 72 to 78 would).
pub fn is_rtcp(b: &[u8]) -> bool {
    b.len() >= 8 && b[0] >> 6 == 2 && (200..=206).contains(&b[1])
}

/// The generic NACKs in a compound RTCP packet; anything else in it, or anything malformed,
/// is passed over. At most [`MAX_NACK_ENTRIES`] entries are read from each.
pub fn nacks(mut b: &[u8]) -> Vec<Nack> {
    let mut out = Vec::new();
    while b.len() >= 4 && b[0] >> 6 == 2 {
        let len = 4 * (usize::from(u16::from_be_bytes([b[2], b[3]])) + 1);
        let Some(pkt) = b.get(..len) else { break };
        if pkt[1] == 205 && pkt[0] & 0x1F == 1 && pkt.len() >= 12 {
            let sender_ssrc = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
            let media_ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
            let mut lost = Vec::new();
            for e in pkt[12..].chunks_exact(4).take(MAX_NACK_ENTRIES) {
                let pid = u16::from_be_bytes([e[0], e[1]]);
                let blp = u16::from_be_bytes([e[2], e[3]]);
                lost.push(pid);
                lost.extend(
                    (0..16)
                        .filter(|i| blp & (1 << i) != 0)
                        .map(|i| pid.wrapping_add(i + 1)),
                );
            }
            out.push(Nack {
                sender_ssrc,
                media_ssrc,
                lost,
            });
        }
        b = &b[len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nacks_pack_runs_into_pid_and_blp_and_read_back() {
        let n = Nack {
            sender_ssrc: 9,
            media_ssrc: 7,
            lost: vec![65535, 0, 3, 16, 40, 3],
        };
        let b = n.to_bytes();
        // 0 with 3 (bit 2) and 16 (bit 15); then 40; then 65535: three entries.
        assert_eq!(&b[..4], &[0x81, 205, 0, 5]);
        assert_eq!(&b[12..16], &[0, 0, 0x80, 0x04]);
        assert!(is_rtcp(&b));
        let back = nacks(&b);
        assert_eq!(back.len(), 1);
        let mut lost = back[0].lost.clone();
        lost.sort_unstable();
        assert_eq!(lost, vec![0, 3, 16, 40, 65535]);
        assert_eq!((back[0].sender_ssrc, back[0].media_ssrc), (9, 7));
        // After a sender report in the same compound packet, and junk after it.
        let mut compound = SenderReport {
            ssrc: 1,
            wallclock: UNIX_EPOCH,
            rtp_timestamp: 0,
            packets: 0,
            octets: 0,
        }
        .to_bytes("x");
        compound.extend_from_slice(&b);
        compound.extend_from_slice(&[0x80, 205, 0xFF, 0xFF, 1]);
        assert_eq!(nacks(&compound), back);
        assert!(!is_rtcp(&[0x80, 26, 0, 0, 0, 0, 0, 0]));
        for cut in 0..b.len() {
            let _ = nacks(&b[..cut]);
        }
    }

    #[test]
    fn a_report_is_an_sr_and_an_sdes_in_whole_words() {
        let t = UNIX_EPOCH + Duration::from_millis(1_500);
        let r = SenderReport {
            ssrc: 0x0102_0304,
            wallclock: t,
            rtp_timestamp: 90_000,
            packets: 10,
            octets: 12_000,
        };
        let b = r.to_bytes("camwire@host");
        assert_eq!(b.len() % 4, 0);
        assert_eq!(&b[..4], &[0x80, 200, 0, 6]);
        assert_eq!(&b[4..8], &[1, 2, 3, 4]);
        // 1970-01-01 00:00:01.5 is NTP second 2208988801, fraction one half.
        assert_eq!(&b[8..12], &2_208_988_801u32.to_be_bytes());
        assert_eq!(&b[12..16], &0x8000_0000u32.to_be_bytes());
        assert_eq!(&b[16..20], &90_000u32.to_be_bytes());
        let sdes = &b[28..];
        assert_eq!(sdes[1], 202);
        let words = usize::from(u16::from_be_bytes([sdes[2], sdes[3]]));
        assert_eq!(sdes.len(), (words + 1) * 4);
        assert_eq!(&sdes[8..10], &[1, 12]);
        assert_eq!(&sdes[10..22], b"camwire@host");
        assert_eq!(sdes[22], 0, "END after the item");
    }
}
