//! The pure Rust codec, the default: `jpeg-encoder` (AVX2 chosen at run time) encodes and
//! `zune-jpeg` decodes. Building it needs no system packages.
//!
//! Decoding goes to RGB and then to minifb's `0RGB` words because zune-jpeg's RGB path is
//! vectorised while its BGRA path is not.

use jpeg_encoder::{
    ChromaSubsamplingMethod, ColorType, Encoder, ImageBuffer, JpegColorType, SamplingFactor,
};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use super::{check_decode_size, check_rgb_input, fit_scale, guard, CodecError, MAX_DECODE_SIDE};

/// Encodes packed RGB24 pixels as a baseline JPEG with 4:2:0 subsampling, into `out`
/// (cleared first, so a caller can reuse one buffer for every frame).
pub fn encode_rgb(
    rgb: &[u8],
    width: u32,
    height: u32,
    quality: u8,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let (w, h) = check_rgb_input(rgb, width, height)?;
    out.clear();
    let mut enc = Encoder::new(&mut *out, quality.clamp(1, 100));
    enc.set_sampling_factor(SamplingFactor::F_2_2);
    enc.encode(rgb, w, h, ColorType::Rgb)
        .map_err(|e| CodecError::Encode(e.to_string()))
}

/// Encodes planar 4:2:0 (see [`super::i420_len`]; full-range BT.601, as JPEG stores it) as a
/// baseline 4:2:0 JPEG, into `out` (cleared first). No colour conversion: jpeg-encoder takes
/// the planes as YCbCr rows ([`I420Rows`]).
pub fn encode_i420(
    yuv: &[u8],
    width: u32,
    height: u32,
    quality: u8,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let (w, h) = super::check_i420_input(yuv, width, height)?;
    let (wu, hu) = (usize::from(w), usize::from(h));
    let (y, chroma) = yuv.split_at(wu * hu);
    let (u, v) = chroma.split_at((wu / 2) * (hu / 2));
    out.clear();
    let mut enc = Encoder::new(&mut *out, quality.clamp(1, 100));
    enc.set_sampling_factor(SamplingFactor::F_2_2);
    // The default, said out loud: each 2x2 block keeps its top-left chroma sample, which
    // I420Rows made the block's own.
    enc.set_chroma_subsampling_method(ChromaSubsamplingMethod::Nearest);
    enc.encode_image(I420Rows { y, u, v, w, h })
        .map_err(|e| CodecError::Encode(e.to_string()))
}

/// Planar 4:2:0 as jpeg-encoder's full-width YCbCr rows: each chroma sample is given twice
/// across and on both rows of its block, so the encoder's `Nearest` 2x2 subsampling picks
/// exactly the original sample back. Sides are even (checked by the caller).
struct I420Rows<'a> {
    y: &'a [u8],
    u: &'a [u8],
    v: &'a [u8],
    w: u16,
    h: u16,
}

impl ImageBuffer for I420Rows<'_> {
    fn get_jpeg_color_type(&self) -> JpegColorType {
        JpegColorType::Ycbcr
    }

    fn width(&self) -> u16 {
        self.w
    }

    fn height(&self) -> u16 {
        self.h
    }

    fn fill_buffers(&self, row: u16, buffers: &mut [Vec<u8>; 4]) {
        let (w, row) = (usize::from(self.w), usize::from(row));
        let cw = w / 2;
        let c = (row / 2) * cw;
        buffers[0].extend_from_slice(&self.y[row * w..][..w]);
        for (plane, buf) in [self.u, self.v].into_iter().zip(&mut buffers[1..3]) {
            buf.extend(plane[c..c + cw].iter().flat_map(|&s| [s, s]));
        }
    }
}

/// A JPEG decoder that keeps its scratch buffer between frames.
#[derive(Default)]
pub struct Decoder {
    rgb: Vec<u8>,
}

impl Decoder {
    /// A decoder with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads only the picture size from a JPEG's headers.
    pub fn dimensions(jpeg: &[u8]) -> Result<(u32, u32), CodecError> {
        let mut d = JpegDecoder::new_with_options(ZCursor::new(jpeg), options());
        guard(|| d.decode_headers())?;
        let info = d
            .info()
            .ok_or_else(|| CodecError::Decode("no image header".into()))?;
        Ok((info.width as u32, info.height as u32))
    }

    /// Decodes `jpeg` into `out` as `0RGB` words (minifb's pixel format), resizing `out` to
    /// `width * height`. Returns `(width, height)`.
    ///
    /// Hostile input gives an error, never a panic, and never more memory than
    /// [`MAX_DECODE_SIDE`] squared allows.
    pub fn decode_0rgb(
        &mut self,
        jpeg: &[u8],
        out: &mut Vec<u32>,
    ) -> Result<(u32, u32), CodecError> {
        let (w, h) = self.decode_rgb(jpeg)?;
        out.resize(w as usize * h as usize, 0);
        for (px, c) in out.iter_mut().zip(self.rgb.chunks_exact(3)) {
            *px = (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32;
        }
        Ok((w, h))
    }

    /// Decodes `jpeg` into `out` as `0RGB` words at the size it will be drawn: fitted, aspect
    /// kept, inside `box_w` x `box_h`, divided by the factor [`super::fit_scale`] picks (1, 2,
    /// 4 or 8; each side rounded up). Returns the decoded `(width, height)`; a box with a zero
    /// side decodes at full size, exactly as [`Decoder::decode_0rgb`].
    ///
    /// zune-jpeg cannot decode at a reduced scale, so this decodes at full size and averages
    /// each k x k block (clipped at the right and bottom edges) into one pixel while packing to
    /// `0RGB`: the same single pass as the full-size packing, over fewer output words. The
    /// hostile-input guards are [`Decoder::decode_0rgb`]'s.
    pub fn decode_0rgb_fit(
        &mut self,
        jpeg: &[u8],
        box_w: u32,
        box_h: u32,
        out: &mut Vec<u32>,
    ) -> Result<(u32, u32), CodecError> {
        let (w, h) = Self::dimensions(jpeg)?;
        let k = fit_scale(w, h, box_w, box_h);
        if k == 1 {
            return self.decode_0rgb(jpeg, out);
        }
        let (w, h) = self.decode_rgb(jpeg)?;
        box_downscale(&self.rgb, w, h, k, out)
            .ok_or_else(|| CodecError::Decode("decoded fewer pixels than the header says".into()))
    }

    /// Decodes `jpeg` all the way but leaves it in YCbCr (no colour conversion): proof that a
    /// frame decodes, for a viewer that shows nothing. Returns `(width, height)`.
    pub fn decode_check(&mut self, jpeg: &[u8]) -> Result<(u32, u32), CodecError> {
        self.decode_as(jpeg, ColorSpace::YCbCr)
    }

    /// Decodes `jpeg` to packed RGB24, kept in this decoder; see [`Decoder::rgb`].
    pub fn decode_rgb(&mut self, jpeg: &[u8]) -> Result<(u32, u32), CodecError> {
        self.decode_as(jpeg, ColorSpace::RGB)
    }

    fn decode_as(&mut self, jpeg: &[u8], out: ColorSpace) -> Result<(u32, u32), CodecError> {
        let opts = options().jpeg_set_out_colorspace(out);
        let mut d = JpegDecoder::new_with_options(ZCursor::new(jpeg), opts);
        guard(|| d.decode_headers())?;
        if out == ColorSpace::YCbCr && d.input_colorspace() != Some(ColorSpace::YCbCr) {
            // Grey (or CMYK) pictures have no YCbCr form to stop at.
            return self.decode_as(jpeg, ColorSpace::RGB);
        }
        let info = d
            .info()
            .ok_or_else(|| CodecError::Decode("no image header".into()))?;
        // zune-jpeg applies the side limits too; checking here keeps the guarantee ours, and
        // adds the one it lacks: the claim must fit the bytes.
        check_decode_size(info.width as usize, info.height as usize, jpeg.len())?;
        let size = d
            .output_buffer_size()
            .ok_or_else(|| CodecError::Decode("image too large".into()))?;
        self.rgb.resize(size, 0);
        let rgb = &mut self.rgb;
        guard(|| d.decode_into(rgb))?;
        Ok((info.width as u32, info.height as u32))
    }

    /// The RGB24 pixels of the last [`Decoder::decode_rgb`].
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }
}

/// Averages each `k` x `k` block of a packed RGB24 `w` x `h` picture into one `0RGB` word of
/// `out` (resized to `ceil(w/k) * ceil(h/k)`); blocks cut by the right or bottom edge average
/// the pixels they have, matching libjpeg-turbo's `TJSCALED` output size. Returns the new size,
/// or `None` when `rgb` is shorter than `w * h` pixels or `k` is not 2, 4 or 8.
fn box_downscale(rgb: &[u8], w: u32, h: u32, k: u32, out: &mut Vec<u32>) -> Option<(u32, u32)> {
    let (wu, hu) = (w as usize, h as usize);
    if rgb.len() < wu * hu * 3 {
        return None;
    }
    // A constant k lets the compiler unroll the block loops: about 4x faster than a loop
    // over a run-time k.
    match k {
        2 => Some(box_k::<2>(rgb, wu, hu, out)),
        4 => Some(box_k::<4>(rgb, wu, hu, out)),
        8 => Some(box_k::<8>(rgb, wu, hu, out)),
        _ => None,
    }
}

fn box_k<const K: usize>(rgb: &[u8], wu: usize, hu: usize, out: &mut Vec<u32>) -> (u32, u32) {
    let (sw, sh) = (wu.div_ceil(K), hu.div_ceil(K));
    let whole = wu / K;
    out.clear();
    out.reserve(sw * sh);
    // One row of per-block channel sums, reused for every output row.
    let mut sums = vec![0u32; sw * 3];
    let shift = (K * K).trailing_zeros();
    for by in 0..sh {
        sums.fill(0);
        let (y0, y1) = (by * K, (by * K + K).min(hu));
        for y in y0..y1 {
            let row = &rgb[y * wu * 3..(y + 1) * wu * 3];
            let (body, tail) = row.split_at(whole * K * 3);
            for (s, block) in sums.chunks_exact_mut(3).zip(body.chunks_exact(K * 3)) {
                let mut acc = [0u32; 3];
                for c in block.chunks_exact(3) {
                    acc[0] += c[0] as u32;
                    acc[1] += c[1] as u32;
                    acc[2] += c[2] as u32;
                }
                s[0] += acc[0];
                s[1] += acc[1];
                s[2] += acc[2];
            }
            if let Some(s) = sums.get_mut(whole * 3..whole * 3 + 3) {
                for c in tail.chunks_exact(3) {
                    s[0] += c[0] as u32;
                    s[1] += c[1] as u32;
                    s[2] += c[2] as u32;
                }
            }
        }
        let rows = y1 - y0;
        for (bx, s) in sums.chunks_exact(3).enumerate() {
            let cols = if bx < whole { K } else { wu - whole * K };
            let n = (cols * rows) as u32;
            let avg = |v: u32| {
                if n as usize == K * K {
                    (v + n / 2) >> shift
                } else {
                    (v + n / 2) / n
                }
            };
            out.push(avg(s[0]) << 16 | avg(s[1]) << 8 | avg(s[2]));
        }
    }
    (sw as u32, sh as u32)
}

fn options() -> DecoderOptions {
    DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(MAX_DECODE_SIDE)
        .set_max_height(MAX_DECODE_SIDE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i420_planes_go_in_as_they_are() {
        // Four flat quadrants of different colour, each a whole MCU (16x16): the JPEG decodes to
        // what the planes say, so every chroma sample reached the encoder as it was.
        let (w, h) = (32usize, 32usize);
        let quads = [
            [100u8, 60, 200],
            [180, 200, 90],
            [40, 128, 128],
            [220, 90, 150],
        ];
        let quad = |x: usize, y: usize| quads[(y / 16) * 2 + x / 16];
        let mut yuv = Vec::new();
        for plane in 0..3 {
            let (pw, ph, k) = if plane == 0 {
                (w, h, 1)
            } else {
                (w / 2, h / 2, 2)
            };
            for y in 0..ph {
                for x in 0..pw {
                    yuv.push(quad(x * k, y * k)[plane]);
                }
            }
        }
        let mut jpeg = Vec::new();
        encode_i420(&yuv, w as u32, h as u32, 95, &mut jpeg).unwrap();
        let mut want = Vec::new();
        super::super::i420_to_rgb(&yuv, w as u32, h as u32, &mut want).unwrap();
        let mut d = Decoder::new();
        d.decode_rgb(&jpeg).unwrap();
        for (x, y) in [(4, 4), (27, 5), (6, 28), (26, 26)] {
            let i = (y * w + x) * 3;
            for k in 0..3 {
                let (got, want) = (d.rgb()[i + k], want[i + k]);
                assert!(
                    got.abs_diff(want) <= 3,
                    "({x},{y}) channel {k}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn box_average_clips_blocks_at_the_edges() {
        // 3x3 grey levels 0..=8 (r = g = b); k = 2 gives 2x2 blocks of 4, 2, 2 and 1 pixels.
        let rgb: Vec<u8> = (0..9u8).flat_map(|v| [v * 10, v * 10, v * 10]).collect();
        let mut out = Vec::new();
        assert_eq!(box_downscale(&rgb, 3, 3, 2, &mut out), Some((2, 2)));
        let grey = |v: u32| v << 16 | v << 8 | v;
        // (0+10+30+40)/4 = 20, (20+50)/2 = 35, (60+70)/2 = 65, 80.
        assert_eq!(out, vec![grey(20), grey(35), grey(65), grey(80)]);
        assert_eq!(box_downscale(&rgb, 3, 3, 8, &mut out), Some((1, 1)));
        assert_eq!(out, vec![grey(40)]);
        assert_eq!(
            box_downscale(&rgb, 3, 3, 3, &mut out),
            None,
            "not a DCT scale"
        );
        assert_eq!(box_downscale(&rgb[..9], 3, 3, 2, &mut out), None, "short");
    }
}
