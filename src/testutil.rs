//! Helpers the unit tests of several modules share.

use crate::media::codec::{encode_rgb, Decoder};
use crate::media::pattern::Pattern;

/// Frame `n` of the test pattern at `w` x `h`, as camwire's encoder makes it (quality 80,
/// 4:2:0, standard tables).
pub fn pattern_jpeg(w: u32, h: u32, n: u64) -> Vec<u8> {
    let mut rgb = Vec::new();
    Pattern::new(w, h).render(n, &mut rgb);
    let mut jpeg = Vec::new();
    encode_rgb(&rgb, w, h, 80, &mut jpeg).unwrap();
    jpeg
}

/// A JPEG's pixels, decoded.
pub fn pixels(jpeg: &[u8]) -> Vec<u8> {
    let mut d = Decoder::new();
    d.decode_rgb(jpeg).unwrap();
    d.rgb().to_vec()
}

/// The bytes of docs/PROTOCOL.md's fenced block with the info string `info` (two-digit hex
/// bytes, `#` starting a comment), which a test compares with what the code sends.
pub fn golden_block(info: &str) -> Vec<u8> {
    let doc = include_str!("../docs/PROTOCOL.md");
    let fence = format!("```{info}\n");
    let start = doc
        .find(&fence)
        .unwrap_or_else(|| panic!("PROTOCOL.md has no {fence:?} block"))
        + fence.len();
    let end = start + doc[start..].find("```").unwrap();
    doc[start..end]
        .lines()
        .flat_map(|l| l.split('#').next().unwrap().split_whitespace())
        .map(|t| u8::from_str_radix(t, 16).unwrap())
        .collect()
}
