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

#[cfg(test)]
mod tests {
    use super::*;

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
