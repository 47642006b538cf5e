//! A JPEG as RFC 2435 carries it, both ways: [`analyse`] takes a JFIF file apart into what
//! travels (type, size, quantization tables, restart interval, the entropy-coded scan), or says
//! why RFC 2435 cannot carry it; [`rebuild`] puts the JFIF headers back together at the far
//! end (RFC 2435 Appendix B), with the standard Huffman tables that every RTP/JPEG receiver
//! assumes.
//!
//! Every byte here may come from the network or a camera: any input gives a value or an
//! error, never a panic.

use crate::media::camera::mjpeg::{self, STANDARD_DHT};

/// The largest side RFC 2435's header can state (255 blocks of 8 pixels); larger pictures
/// travel with 0 there and their size in the SDP (`a=x-dimensions`, as GStreamer does).
pub const MAX_SIDE: u16 = 2040;

/// Why a JPEG cannot travel as RFC 2435 as it is. All but [`Unfit::Malformed`] are made
/// carriable by re-encoding the picture as baseline 4:2:0 with the standard tables.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unfit {
    /// Not a readable JPEG.
    #[error("not a readable JPEG: {0}")]
    Malformed(String),
    /// Progressive, lossless, arithmetic-coded or 12-bit: RFC 2435 carries baseline only.
    #[error("RFC 2435 carries baseline 8-bit JPEG only (this one is {0})")]
    NotBaseline(&'static str),
    /// Grey, or anything but three components.
    #[error("RFC 2435 carries three-component colour JPEG only (this one has {0})")]
    Components(u8),
    /// Sampling other than 4:2:0 or 4:2:2 (for example 4:4:4).
    #[error("RFC 2435 carries 4:2:0 and 4:2:2 only (this one samples luma {0:#04x})")]
    Sampling(u8),
    /// Huffman tables other than the standard ones, which RFC 2435 has no room to send.
    #[error(
        "the JPEG has Huffman tables other than the standard ones, which RFC 2435 cannot send"
    )]
    Huffman,
    /// The two chroma components use different quantization tables.
    #[error("the chroma components use two quantization tables; RFC 2435 has room for one")]
    Tables,
}

/// RFC 2435's type: how the picture is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// Type 0: luma sampled 2x1 against chroma.
    S422,
    /// Type 1: luma sampled 2x2 against chroma.
    S420,
}

impl Sampling {
    /// The type byte: 0 or 1, plus 64 with restart markers.
    pub fn type_byte(self, restart: bool) -> u8 {
        let t = match self {
            Sampling::S422 => 0,
            Sampling::S420 => 1,
        };
        t | if restart { 64 } else { 0 }
    }

    /// From a type byte; `None` for the types RFC 2435 leaves to others.
    pub fn from_type(t: u8) -> Option<(Sampling, bool)> {
        let restart = t & 64 != 0;
        match t & !64 {
            0 => Some((Sampling::S422, restart)),
            1 => Some((Sampling::S420, restart)),
            _ => None,
        }
    }

    fn luma_factors(self) -> u8 {
        match self {
            Sampling::S422 => 0x21,
            Sampling::S420 => 0x22,
        }
    }
}

/// A quantization table as DQT holds it: 64 values in zigzag order, 8 or 16 bits each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QTable {
    /// 8-bit values.
    Bits8([u8; 64]),
    /// 16-bit values, big-endian as in DQT.
    Bits16([u8; 128]),
}

impl QTable {
    fn bytes(&self) -> &[u8] {
        match self {
            QTable::Bits8(t) => t,
            QTable::Bits16(t) => t,
        }
    }

    fn is_16(&self) -> bool {
        matches!(self, QTable::Bits16(_))
    }
}

/// What of a JPEG travels in RFC 2435.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts<'a> {
    /// Picture width in pixels.
    pub width: u16,
    /// Picture height in pixels.
    pub height: u16,
    /// The sampling.
    pub sampling: Sampling,
    /// Luma's table, then chroma's.
    pub tables: [QTable; 2],
    /// The restart interval in MCUs, when the JPEG has restart markers.
    pub restart_interval: Option<u16>,
    /// The entropy-coded data of the one scan, restart markers included, EOI excluded.
    pub scan: &'a [u8],
}

/// Takes a JPEG apart for RFC 2435, or says why it cannot travel as it is.
pub fn analyse(jpeg: &[u8]) -> Result<Parts<'_>, Unfit> {
    let layout = mjpeg::parse(jpeg).map_err(|e| Unfit::Malformed(e.to_string()))?;
    let jpeg = &jpeg[..layout.len];
    let mut dqt: [Option<QTable>; 4] = [None, None, None, None];
    let mut dht: Vec<(u8, &[u8])> = Vec::new();
    let mut frame: Option<Frame> = None;
    let mut restart_interval = None;
    for seg in segments(jpeg) {
        let (marker, body) = seg?;
        match marker {
            0xDB => read_dqt(body, &mut dqt)?,
            0xC4 => read_dht(body, &mut dht)?,
            0xDD => {
                let b = body.get(..2).ok_or_else(|| malformed("short DRI"))?;
                let n = u16::from_be_bytes([b[0], b[1]]);
                restart_interval = (n > 0).then_some(n);
            }
            0xC0 | 0xC1 => frame = Some(read_sof(body)?),
            0xC2 | 0xC6 | 0xCA | 0xCE => return Err(Unfit::NotBaseline("progressive")),
            0xC3 | 0xC7 | 0xCB | 0xCF => return Err(Unfit::NotBaseline("lossless")),
            0xC5 | 0xC9 | 0xCD => return Err(Unfit::NotBaseline("hierarchical or arithmetic")),
            0xDA => {
                let f = frame.ok_or_else(|| malformed("no frame header before the scan"))?;
                check_scan(body)?;
                if !dht.iter().all(|(id, t)| is_standard(*id, t)) {
                    return Err(Unfit::Huffman);
                }
                let table = |i: usize| {
                    dqt[usize::from(f.qt[i])]
                        .clone()
                        .ok_or_else(|| malformed("a component's quantization table is missing"))
                };
                let (luma, chroma) = (table(0)?, table(1)?);
                if table(2)? != chroma {
                    return Err(Unfit::Tables);
                }
                // The scan runs from after the SOS segment to the EOI, which is not sent.
                let start = body.as_ptr() as usize - jpeg.as_ptr() as usize + body.len();
                let scan = &jpeg[start..jpeg.len() - 2];
                if mjpeg_has_second_scan(scan) {
                    return Err(Unfit::NotBaseline("multi-scan"));
                }
                return Ok(Parts {
                    width: f.width,
                    height: f.height,
                    sampling: f.sampling,
                    tables: [luma, chroma],
                    restart_interval,
                    scan,
                });
            }
            _ => {}
        }
    }
    Err(malformed("no scan"))
}

fn malformed(why: &str) -> Unfit {
    Unfit::Malformed(why.to_owned())
}

/// The marker segments before the first scan (the SOS included), as (marker, body).
fn segments(jpeg: &[u8]) -> impl Iterator<Item = Result<(u8, &[u8]), Unfit>> {
    let mut i = 2;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        while jpeg.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = jpeg.get(i) else {
            done = true;
            return Some(Err(malformed("headers run to the end")));
        };
        if jpeg.get(i - 1) != Some(&0xFF) {
            done = true;
            return Some(Err(malformed("junk between segments")));
        }
        let Some(len) = jpeg.get(i + 1..i + 3) else {
            done = true;
            return Some(Err(malformed("truncated segment")));
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let Some(body) = jpeg.get(i + 3..i + 1 + len).filter(|_| len >= 2) else {
            done = true;
            return Some(Err(malformed("bad segment length")));
        };
        i += 1 + len + 1;
        done = marker == 0xDA;
        Some(Ok((marker, body)))
    })
}

/// A second scan after the first one's data would need its own SOS: multi-scan JPEGs are
/// found by the layout parse having stopped at a marker other than EOI inside "the scan".
fn mjpeg_has_second_scan(scan: &[u8]) -> bool {
    // `mjpeg::parse` ended the scan data at the first marker that is not RST or a stuffed
    // zero; the JPEG's last marker is EOI, so any such marker inside is another segment.
    scan.windows(2)
        .any(|w| w[0] == 0xFF && w[1] != 0x00 && !(0xD0..=0xD7).contains(&w[1]) && w[1] != 0xFF)
}

#[derive(Clone, Copy)]
struct Frame {
    width: u16,
    height: u16,
    sampling: Sampling,
    /// Quantization table of each component.
    qt: [u8; 3],
}

fn read_sof(b: &[u8]) -> Result<Frame, Unfit> {
    let h = b.get(..6).ok_or_else(|| malformed("short SOF"))?;
    if h[0] != 8 {
        return Err(Unfit::NotBaseline("12-bit"));
    }
    let (height, width, n) = (
        u16::from_be_bytes([h[1], h[2]]),
        u16::from_be_bytes([h[3], h[4]]),
        h[5],
    );
    if n != 3 {
        return Err(Unfit::Components(n));
    }
    let c = b.get(6..15).ok_or_else(|| malformed("short SOF"))?;
    let sampling = match c[1] {
        0x21 => Sampling::S422,
        0x22 => Sampling::S420,
        s => return Err(Unfit::Sampling(s)),
    };
    if c[4] != 0x11 || c[7] != 0x11 {
        return Err(Unfit::Sampling(c[1]));
    }
    if width == 0 || height == 0 {
        return Err(malformed("a picture size of zero"));
    }
    let qt = [c[2], c[5], c[8]];
    if qt.iter().any(|&t| t > 3) {
        return Err(malformed("a quantization table id above 3"));
    }
    Ok(Frame {
        width,
        height,
        sampling,
        qt,
    })
}

fn read_dqt(mut b: &[u8], out: &mut [Option<QTable>; 4]) -> Result<(), Unfit> {
    while let Some((&pq_tq, rest)) = b.split_first() {
        let id = usize::from(pq_tq & 0x0F);
        if id > 3 {
            return Err(malformed("a quantization table id above 3"));
        }
        let (table, rest) = if pq_tq >> 4 == 0 {
            let t = rest.get(..64).ok_or_else(|| malformed("short DQT"))?;
            (QTable::Bits8(t.try_into().expect("64 bytes")), &rest[64..])
        } else {
            let t = rest.get(..128).ok_or_else(|| malformed("short DQT"))?;
            (
                QTable::Bits16(t.try_into().expect("128 bytes")),
                &rest[128..],
            )
        };
        out[id] = Some(table);
        b = rest;
    }
    Ok(())
}

/// Collects each Huffman table of a DHT segment as (class/id byte, bits and values).
fn read_dht<'a>(mut b: &'a [u8], out: &mut Vec<(u8, &'a [u8])>) -> Result<(), Unfit> {
    while !b.is_empty() {
        let bits = b.get(1..17).ok_or_else(|| malformed("short DHT"))?;
        let n: usize = bits.iter().map(|&x| usize::from(x)).sum();
        let t = b.get(..17 + n).ok_or_else(|| malformed("short DHT"))?;
        out.push((t[0], &t[1..]));
        b = &b[17 + n..];
    }
    Ok(())
}

/// Whether a Huffman table is the standard one (Annex K.3) for its class and id.
fn is_standard(class_id: u8, table: &[u8]) -> bool {
    standard_tables().any(|(id, t)| id == class_id && t == table)
}

/// The four standard tables as (class/id byte, bits and values), from the one copy of them.
fn standard_tables() -> impl Iterator<Item = (u8, &'static [u8])> {
    let mut b: &'static [u8] = &STANDARD_DHT[4..];
    std::iter::from_fn(move || {
        let (&id, rest) = b.split_first()?;
        let n: usize = rest[..16].iter().map(|&x| usize::from(x)).sum();
        let t = &rest[..16 + n];
        b = &rest[16 + n..];
        Some((id, t))
    })
}

/// The scan must be Y, Cb, Cr in the frame's order, with the standard tables' selectors
/// (Y: DC 0, AC 0; chroma: DC 1, AC 1) and full spectral range, as RFC 2435 rebuilds it.
fn check_scan(b: &[u8]) -> Result<(), Unfit> {
    let h = b.first().ok_or_else(|| malformed("short SOS"))?;
    if *h != 3 {
        return Err(Unfit::NotBaseline("multi-scan"));
    }
    let c = b.get(1..10).ok_or_else(|| malformed("short SOS"))?;
    if c[1] != 0x00 || c[3] != 0x11 || c[5] != 0x11 {
        return Err(Unfit::Huffman);
    }
    Ok(())
}

/// Rebuilds a complete JFIF file from what RFC 2435 carried (its Appendix B): headers for
/// `width` x `height`, the tables, the restart interval, then `scan` and an EOI.
pub fn rebuild(
    width: u16,
    height: u16,
    sampling: Sampling,
    tables: &[QTable; 2],
    restart_interval: Option<u16>,
    scan: &[u8],
    out: &mut Vec<u8>,
) {
    out.clear();
    out.extend_from_slice(&[0xFF, 0xD8]);
    for (id, t) in tables.iter().enumerate() {
        let len = 2 + 1 + t.bytes().len();
        out.extend_from_slice(&[0xFF, 0xDB, (len >> 8) as u8, len as u8]);
        out.push((u8::from(t.is_16()) << 4) | id as u8);
        out.extend_from_slice(t.bytes());
    }
    out.extend_from_slice(&[0xFF, 0xC0, 0, 17, 8]);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&[3, 0, sampling.luma_factors(), 0, 1, 0x11, 1, 2, 0x11, 1]);
    if let Some(n) = restart_interval {
        out.extend_from_slice(&[0xFF, 0xDD, 0, 4]);
        out.extend_from_slice(&n.to_be_bytes());
    }
    out.extend_from_slice(&STANDARD_DHT);
    out.extend_from_slice(&[0xFF, 0xDA, 0, 12, 3, 0, 0x00, 1, 0x11, 2, 0x11, 0, 63, 0]);
    out.extend_from_slice(scan);
    if !scan.ends_with(&[0xFF, 0xD9]) {
        out.extend_from_slice(&[0xFF, 0xD9]);
    }
}

/// The quantization tables RFC 2435 means by a Q of 1 to 99 without tables (its Appendix A:
/// the IJG quality scaling of JPEG Annex K's tables), luma then chroma, in zigzag order.
pub fn q_tables(q: u8) -> [QTable; 2] {
    let q = u32::from(q.clamp(1, 99));
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    let make = |base: &[u8; 64]| {
        let mut t = [0u8; 64];
        for (i, v) in t.iter_mut().enumerate() {
            let x = (u32::from(base[ZIGZAG[i]]) * scale + 50) / 100;
            *v = x.clamp(1, 255) as u8;
        }
        QTable::Bits8(t)
    };
    [make(&LUMA_QUANT), make(&CHROMA_QUANT)]
}

/// JPEG Annex K.1 luminance quantization table, natural (row-major) order.
const LUMA_QUANT: [u8; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
/// JPEG Annex K.2 chrominance quantization table, natural order.
const CHROMA_QUANT: [u8; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];
/// The natural-order index of each zigzag position.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{pattern_jpeg, pixels as decode};

    #[test]
    fn our_encoders_jpegs_travel_and_rebuild_to_the_same_pixels() {
        let jpeg = pattern_jpeg(320, 240, 7);
        let p = analyse(&jpeg).unwrap();
        assert_eq!((p.width, p.height, p.sampling), (320, 240, Sampling::S420));
        assert_eq!(p.restart_interval, None);
        let mut back = Vec::new();
        rebuild(
            p.width,
            p.height,
            p.sampling,
            &p.tables,
            p.restart_interval,
            p.scan,
            &mut back,
        );
        assert_eq!(decode(&back), decode(&jpeg));
    }

    #[test]
    fn q_tables_at_50_are_annex_k() {
        let [QTable::Bits8(l), QTable::Bits8(c)] = q_tables(50) else {
            panic!("8-bit tables")
        };
        assert_eq!(l[..3], [16, 11, 12]);
        assert_eq!(c[..3], [17, 18, 18]);
        let [QTable::Bits8(l), _] = q_tables(99) else {
            panic!()
        };
        assert!(l.iter().all(|&v| v == 1 || v == 2));
    }

    #[test]
    fn the_standard_tables_are_read_back_from_the_one_copy() {
        let ids: Vec<u8> = standard_tables().map(|(id, _)| id).collect();
        assert_eq!(ids, [0x00, 0x10, 0x01, 0x11]);
    }

    #[test]
    fn what_cannot_travel_says_why() {
        let grey = {
            let img = image::GrayImage::from_pixel(16, 16, image::Luma([9]));
            let mut out = Vec::new();
            image::codecs::jpeg::JpegEncoder::new(&mut out)
                .encode_image(&img)
                .unwrap();
            out
        };
        assert_eq!(analyse(&grey), Err(Unfit::Components(1)));
        assert!(matches!(analyse(b"\xff\xd8junk"), Err(Unfit::Malformed(_))));
        // A standard-table JPEG whose DHT is changed in one value.
        let mut j = pattern_jpeg(64, 64, 7);
        let dht = j.windows(2).position(|w| w == [0xFF, 0xC4]).unwrap();
        j[dht + 5 + 16] ^= 1;
        assert_eq!(analyse(&j), Err(Unfit::Huffman));
    }
}
