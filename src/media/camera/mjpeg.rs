//! Webcam MJPEG frames made safe to send as they are.
//!
//! Two camera habits break a plain "send the buffer" approach:
//!
//! - The V4L2 backend hands over the whole mmap'd buffer (the driver's `sizeimage`), not the
//!   bytes the camera wrote, and buffers are reused: after the JPEG's end-of-image marker come
//!   zeros or the tail of an older, longer frame. So the frame is cut at its EOI, found by
//!   parsing forward from the start. Searching backwards for `FF D9` would find the stale
//!   frame's EOI.
//! - UVC cameras may omit the Huffman tables (DHT) and rely on the standard ones of JPEG
//!   Annex K.3; libjpeg accepts that, the pure-Rust decoders (zune-jpeg, jpeg-decoder) do not.
//!   So the standard tables are inserted before the first scan when a frame has none.
//!
//! Every byte here comes from a device, so every function returns an error on malformed input
//! and never panics or reads out of bounds.

/// Why a camera buffer is not a usable JPEG.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MjpegError {
    /// The buffer does not start with the start-of-image marker `FF D8`.
    #[error("not a JPEG: no start-of-image marker")]
    NoSoi,
    /// A marker segment's length runs past the end of the buffer, or the buffer ends inside
    /// a marker.
    #[error("JPEG truncated at byte {0}")]
    Truncated(usize),
    /// A marker segment with a length under 2, or a start-of-frame segment too short to hold
    /// the picture size.
    #[error("bad JPEG segment length at byte {0}")]
    BadLength(usize),
    /// A second start-of-image, or an end-of-image before any scan.
    #[error("unexpected JPEG marker FF {marker:02X} at byte {offset}")]
    UnexpectedMarker {
        /// The marker code.
        marker: u8,
        /// Where it is.
        offset: usize,
    },
    /// No start-of-frame segment before the first scan, or a picture size of zero.
    #[error("JPEG has no picture size before its first scan")]
    NoFrameHeader,
    /// The headers end without a start-of-scan segment.
    #[error("JPEG has no start-of-scan marker")]
    NoSos,
    /// The scan data runs to the end of the buffer without an end-of-image marker.
    #[error("JPEG has no end-of-image marker")]
    NoEoi,
}

/// What a forward parse learned about the JPEG at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegLayout {
    /// Length of the JPEG, up to and including its EOI marker; bytes after it are not part of
    /// the frame.
    pub len: usize,
    /// Picture width, from the start-of-frame segment.
    pub width: u16,
    /// Picture height, from the start-of-frame segment.
    pub height: u16,
    /// Offset of the first start-of-scan marker (`FF DA`).
    pub first_sos: usize,
    /// True when a DHT segment comes before the first scan.
    pub has_dht: bool,
    /// True when the frame uses restart markers (a DRI segment).
    pub has_restart: bool,
}

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const DHT: u8 = 0xC4;
const DRI: u8 = 0xDD;

fn is_rst(m: u8) -> bool {
    (0xD0..=0xD7).contains(&m)
}

/// SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range.
fn is_sof(m: u8) -> bool {
    (0xC0..=0xCF).contains(&m) && !matches!(m, 0xC4 | 0xC8 | 0xCC)
}

/// Parses the JPEG at the start of `buf` forward: marker segments by their lengths up to each
/// start-of-scan, then the entropy-coded data up to the first `FF` that is neither a stuffed
/// zero, a restart marker nor fill. Several scans (progressive JPEG) are followed in turn.
pub fn parse(buf: &[u8]) -> Result<JpegLayout, MjpegError> {
    if buf.len() < 2 || buf[0] != 0xFF || buf[1] != SOI {
        return Err(MjpegError::NoSoi);
    }
    let mut size: Option<(u16, u16)> = None;
    let mut first_sos = None;
    let mut has_dht = false;
    let mut has_restart = false;
    let mut i = 2;
    loop {
        // Between segments: tolerate junk bytes (some cameras emit them) and FF fill bytes.
        while i < buf.len() && buf[i] != 0xFF {
            i += 1;
        }
        while i < buf.len() && buf[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = buf.get(i) else {
            return Err(if first_sos.is_some() {
                MjpegError::NoEoi
            } else {
                MjpegError::NoSos
            });
        };
        let at = i - 1;
        i += 1;
        match marker {
            EOI if first_sos.is_some() => break,
            SOI | EOI | 0x00 => return Err(MjpegError::UnexpectedMarker { marker, offset: at }),
            // Standalone markers without a length.
            m if is_rst(m) || m == 0x01 => continue,
            _ => {}
        }
        let len_bytes = buf.get(i..i + 2).ok_or(MjpegError::Truncated(at))?;
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        if len < 2 {
            return Err(MjpegError::BadLength(at));
        }
        let body = i + 2..i + len;
        if body.end > buf.len() {
            return Err(MjpegError::Truncated(at));
        }
        i = body.end;
        match marker {
            DHT if first_sos.is_none() => has_dht = true,
            DRI => has_restart = true,
            m if is_sof(m) => {
                // precision(1) height(2) width(2) components(1)
                let b = buf.get(body.clone()).ok_or(MjpegError::Truncated(at))?;
                if b.len() < 6 {
                    return Err(MjpegError::BadLength(at));
                }
                let h = u16::from_be_bytes([b[1], b[2]]);
                let w = u16::from_be_bytes([b[3], b[4]]);
                size = Some((w, h));
            }
            SOS => {
                match size {
                    Some((w, h)) if w > 0 && h > 0 => {}
                    _ => return Err(MjpegError::NoFrameHeader),
                }
                first_sos.get_or_insert(at);
                i = skip_entropy_data(buf, i)?;
            }
            _ => {}
        }
    }
    let (width, height) = size.ok_or(MjpegError::NoFrameHeader)?;
    Ok(JpegLayout {
        len: i,
        width,
        height,
        first_sos: first_sos.ok_or(MjpegError::NoSos)?,
        has_dht,
        has_restart,
    })
}

/// From the first byte of entropy-coded data, the offset of the `FF` of the marker that ends
/// it (anything but a stuffed `FF 00`, a restart marker or fill `FF`s).
fn skip_entropy_data(buf: &[u8], mut i: usize) -> Result<usize, MjpegError> {
    loop {
        let ff = buf
            .get(i..)
            .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
            .ok_or(MjpegError::NoEoi)?;
        i += ff;
        // Skip fill bytes: the marker code is the first byte after the run of FFs.
        let mut j = i + 1;
        while buf.get(j) == Some(&0xFF) {
            j += 1;
        }
        match buf.get(j) {
            None => return Err(MjpegError::NoEoi),
            Some(&m) if m == 0x00 || is_rst(m) => i = j + 1,
            Some(_) => return Ok(j - 1),
        }
    }
}

/// The length of the JPEG at the start of `buf`: everything after its EOI is stale.
pub fn frame_len(buf: &[u8]) -> Result<usize, MjpegError> {
    parse(buf).map(|l| l.len)
}

/// The standard Huffman tables of JPEG Annex K.3 (luminance and chrominance, DC and AC) as
/// one DHT segment, marker included: what UVC cameras that omit DHT rely on.
pub const STANDARD_DHT: [u8; 420] = standard_dht();

const DC_LUMA_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_CHROMA_BITS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_LUMA_BITS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D];
const AC_LUMA_VALUES: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
    0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5,
    0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2,
    0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];
const AC_CHROMA_BITS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
const AC_CHROMA_VALUES: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0,
    0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26,
    0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5,
    0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3,
    0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA,
    0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];

// Built at compile time so that the table data above is the only source of truth.
const fn standard_dht() -> [u8; 420] {
    let mut out = [0u8; 420];
    out[0] = 0xFF;
    out[1] = DHT;
    out[2] = (418 >> 8) as u8;
    out[3] = (418 & 0xFF) as u8;
    let mut at = 4;
    // Table class/id: DC0 = 0x00, AC0 = 0x10, DC1 = 0x01, AC1 = 0x11.
    at = put_table(&mut out, at, 0x00, &DC_LUMA_BITS, &DC_VALUES);
    at = put_table(&mut out, at, 0x10, &AC_LUMA_BITS, &AC_LUMA_VALUES);
    at = put_table(&mut out, at, 0x01, &DC_CHROMA_BITS, &DC_VALUES);
    at = put_table(&mut out, at, 0x11, &AC_CHROMA_BITS, &AC_CHROMA_VALUES);
    assert!(at == 420);
    out
}

const fn put_table(
    out: &mut [u8; 420],
    mut at: usize,
    id: u8,
    bits: &[u8; 16],
    vals: &[u8],
) -> usize {
    out[at] = id;
    at += 1;
    let mut k = 0;
    while k < 16 {
        out[at] = bits[k];
        at += 1;
        k += 1;
    }
    k = 0;
    while k < vals.len() {
        out[at] = vals[k];
        at += 1;
        k += 1;
    }
    at
}

/// The bytes of a camera buffer that make a complete, self-contained JPEG: cut at its EOI,
/// with the standard Huffman tables inserted before the first scan when the frame has none.
/// Returns the JPEG and its picture size.
pub fn passthrough(buf: &[u8]) -> Result<(Vec<u8>, u16, u16), MjpegError> {
    let layout = parse(buf)?;
    let jpeg = &buf[..layout.len];
    let out = if layout.has_dht {
        jpeg.to_vec()
    } else {
        with_dht_at(jpeg, layout.first_sos)
    };
    Ok((out, layout.width, layout.height))
}

fn with_dht_at(jpeg: &[u8], at: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(jpeg.len() + STANDARD_DHT.len());
    out.extend_from_slice(&jpeg[..at]);
    out.extend_from_slice(&STANDARD_DHT);
    out.extend_from_slice(&jpeg[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::camera::fake::samples;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Always the pure Rust decoder: it is the one that needs the inserted tables
    /// (libjpeg-turbo falls back to the standard ones by itself).
    fn decode(jpeg: &[u8]) -> Result<(u32, u32, Vec<u8>), crate::media::codec::CodecError> {
        let mut d = crate::media::codec::pure::Decoder::new();
        let (w, h) = d.decode_rgb(jpeg)?;
        Ok((w, h, d.rgb().to_vec()))
    }

    fn sample(w: u32, h: u32) -> Vec<u8> {
        samples::jpeg(&samples::scene(w, h, 1), w, h).unwrap()
    }

    /// Every Huffman table in the DHT segments before the first scan, by class and id.
    fn tables(jpeg: &[u8]) -> BTreeMap<u8, Vec<u8>> {
        let layout = parse(jpeg).unwrap();
        let mut out = BTreeMap::new();
        let mut i = 2;
        while i < layout.first_sos {
            let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
            if jpeg[i + 1] == DHT {
                let mut t = &jpeg[i + 4..i + 2 + len];
                while !t.is_empty() {
                    let n: usize = t[1..17].iter().map(|&b| usize::from(b)).sum();
                    out.insert(t[0], t[1..17 + n].to_vec());
                    t = &t[17 + n..];
                }
            }
            i += 2 + len;
        }
        out
    }

    #[test]
    fn standard_dht_is_annex_k3_as_the_encoder_uses_it() {
        // The encoder writes the Annex K.3 tables unless asked to optimise them: an
        // independent copy of the same constants.
        let mut ours = STANDARD_DHT.to_vec();
        ours.splice(0..0, [0xFF, 0xD8]);
        ours.extend_from_slice(&[0xFF, 0xDA, 0, 2, 0xFF, 0xD9]);
        // A bare SOF so that `parse` accepts the stub.
        ours.splice(2..2, [0xFF, 0xC0, 0, 8, 8, 0, 1, 0, 1, 0]);
        let ours = tables(&ours);
        assert_eq!(ours.len(), 4);
        assert_eq!(ours, tables(&sample(32, 16)));
        assert_eq!(STANDARD_DHT.len(), 420);
    }

    #[test]
    fn eoi_cut_leaves_exactly_the_jpeg() {
        let jpeg = sample(64, 48);
        let l = parse(&jpeg).unwrap();
        assert_eq!((l.len, l.width, l.height), (jpeg.len(), 64, 48));
        assert!(l.has_dht && !l.has_restart);
        // A reused driver buffer: stale bytes with their own FF D9, then zeros.
        let buf = samples::in_stale_buffer(&jpeg, 1 << 20);
        assert_eq!(frame_len(&buf), Ok(jpeg.len()));
        let (out, w, h) = passthrough(&buf).unwrap();
        assert_eq!((w, h), (64, 48));
        assert_eq!(out, jpeg, "a frame with tables is sent byte for byte");
        // An older, longer frame left behind the new one.
        let mut buf = jpeg.clone();
        buf.extend_from_slice(&sample(320, 240)[200..]);
        assert_eq!(frame_len(&buf), Ok(jpeg.len()));
        // Fill bytes before the EOI are part of the frame.
        let mut filled = jpeg[..jpeg.len() - 2].to_vec();
        filled.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xD9, 0, 0]);
        assert_eq!(frame_len(&filled), Ok(filled.len() - 2));
    }

    #[test]
    fn scan_data_has_stuffed_bytes_that_are_not_markers() {
        let jpeg = sample(64, 48);
        let sos = parse(&jpeg).unwrap().first_sos;
        assert!(
            jpeg[sos..].windows(2).any(|w| w == [0xFF, 0x00]),
            "the sample must exercise byte stuffing"
        );
    }

    #[test]
    fn dht_insertion_makes_a_dhtless_frame_decode_to_the_same_pixels() {
        let jpeg = sample(96, 64);
        let original = decode(&jpeg).unwrap();
        let bare = samples::without_dht(&jpeg).unwrap();
        assert!(bare.len() < jpeg.len() - 400);
        assert!(!parse(&bare).unwrap().has_dht);
        assert!(
            decode(&bare).is_err(),
            "zune-jpeg refuses frames without DHT"
        );
        let (fixed, w, h) = passthrough(&samples::in_stale_buffer(&bare, 100_000)).unwrap();
        assert_eq!((w, h), (96, 64));
        assert!(parse(&fixed).unwrap().has_dht);
        assert_eq!(fixed.len(), bare.len() + STANDARD_DHT.len());
        assert_eq!(decode(&fixed).unwrap(), original);
    }

    #[test]
    fn restart_marker_jpegs_survive() {
        let (w, h) = (80u16, 48u16);
        let rgb = samples::scene(w.into(), h.into(), 7);
        let jpeg = samples::jpeg_with_restarts(&rgb, w, h, 1).unwrap();
        let l = parse(&jpeg).unwrap();
        assert!(l.has_restart);
        let rst = jpeg[l.first_sos..]
            .windows(2)
            .filter(|p| p[0] == 0xFF && is_rst(p[1]))
            .count();
        assert!(rst >= 8, "only {rst} restart markers");
        let original = decode(&jpeg).unwrap();
        assert_eq!(original.0, u32::from(w));
        // Cut out of a stale buffer, and without tables: still the same picture.
        let buf = samples::in_stale_buffer(&jpeg, 50_000);
        assert_eq!(frame_len(&buf), Ok(jpeg.len()));
        let bare = samples::without_dht(&jpeg).unwrap();
        let (fixed, ..) = passthrough(&samples::in_stale_buffer(&bare, 50_000)).unwrap();
        assert_eq!(decode(&fixed).unwrap(), original);
    }

    #[test]
    fn malformed_buffers_are_errors() {
        let jpeg = sample(32, 32);
        assert_eq!(parse(&[]), Err(MjpegError::NoSoi));
        assert_eq!(parse(b"\x89PNG\r\n"), Err(MjpegError::NoSoi));
        assert_eq!(parse(&[0xFF, 0xD8]), Err(MjpegError::NoSos));
        assert_eq!(
            parse(&[0xFF, 0xD8, 0xFF, 0xE0, 0xFF]),
            Err(MjpegError::Truncated(2))
        );
        assert_eq!(
            parse(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0, 0]),
            Err(MjpegError::Truncated(2)),
            "a segment length past the end"
        );
        assert_eq!(
            parse(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01]),
            Err(MjpegError::BadLength(2))
        );
        assert_eq!(
            parse(&[0xFF, 0xD8, 0xFF, 0xD9]),
            Err(MjpegError::UnexpectedMarker {
                marker: 0xD9,
                offset: 2
            })
        );
        assert_eq!(
            parse(&[0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 1, 2, 0xFF, 0xD9]),
            Err(MjpegError::NoFrameHeader)
        );
        // Every truncation of a real frame is an error, never a panic or a shorter "frame".
        for cut in 0..jpeg.len() {
            assert!(parse(&jpeg[..cut]).is_err(), "cut at {cut}");
            assert!(passthrough(&jpeg[..cut]).is_err());
        }
        // No EOI: the scan data runs into zeros.
        let mut no_eoi = jpeg[..jpeg.len() - 2].to_vec();
        no_eoi.resize(no_eoi.len() + 1000, 0);
        assert_eq!(parse(&no_eoi), Err(MjpegError::NoEoi));
    }

    fn check_layout(buf: &[u8]) {
        if let Ok(l) = parse(buf) {
            assert!(l.len <= buf.len());
            assert!(l.first_sos < l.len);
            assert_eq!(&buf[l.len - 2..l.len], &[0xFF, 0xD9]);
            assert!(l.width > 0 && l.height > 0);
        }
        if let Ok((out, ..)) = passthrough(buf) {
            assert!(out.starts_with(&[0xFF, 0xD8]) && out.ends_with(&[0xFF, 0xD9]));
            // Whatever was let through is, again, a JPEG with tables; decoding it may fail,
            // but must not panic.
            let again = parse(&out).unwrap();
            assert!(again.has_dht && again.len == out.len());
            let _ = decode(&out);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..2048)) {
            check_layout(&buf);
            let mut with_soi = vec![0xFF, 0xD8];
            with_soi.extend_from_slice(&buf);
            check_layout(&with_soi);
        }

        #[test]
        fn mutated_real_jpegs_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
            drop_dht in any::<bool>(),
        ) {
            let base = sample(48, 32);
            let mut buf = if drop_dht { samples::without_dht(&base).unwrap() } else { base };
            for (at, byte) in edits {
                let i = at.index(buf.len());
                buf[i] = byte;
            }
            check_layout(&buf);
            let n = cut.index(buf.len() + 1);
            check_layout(&buf[..n]);
        }
    }
}
