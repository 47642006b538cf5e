//! The pure Rust codec, the default: `libjpeg-turbo-rs` encodes and `zune-jpeg` decodes.
//! Building it needs no system packages.
//!
//! The encoder is a Rust port of libjpeg-turbo with its SIMD (AVX2/SSE2 chosen at run time,
//! NEON on aarch64): 3-4x less CPU per frame than `jpeg-encoder`, the encoder this build had
//! before, and within about 1.2x of the C library (README, Benchmarks). Decoding network input stays
//! with zune-jpeg, the decoder of the `image` crate, fuzzed in that ecosystem for years; the
//! port is young and says it makes no memory-safety promise yet, which our own pictures do
//! not test but a hostile sender would.
//!
//! Decoding goes to RGB and then to minifb's `0RGB` words because zune-jpeg's RGB path is
//! vectorised while its BGRA path is not.

use libjpeg_turbo_rs::{PixelFormat, Subsampling};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use super::{
    check_decode_size, check_i420_input, check_rgb_input, fit_scale, guard, CodecError,
    MAX_DECODE_SIDE,
};

/// Encodes packed RGB24 pixels as a baseline JPEG with 4:2:0 subsampling, into `out`.
/// `out` is replaced, not refilled: libjpeg-turbo-rs writes into a buffer of its own, and
/// copying that into the caller's allocation would cost a memcpy of the frame to save a
/// malloc.
pub fn encode_rgb(
    rgb: &[u8],
    width: u32,
    height: u32,
    quality: u8,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let (w, h) = check_rgb_input(rgb, width, height)?;
    *out = encoded(|| {
        libjpeg_turbo_rs::compress(
            rgb,
            w.into(),
            h.into(),
            PixelFormat::Rgb,
            quality.clamp(1, 100),
            Subsampling::S420,
        )
    })?;
    Ok(())
}

/// Encodes planar 4:2:0 (see [`super::i420_len`]) as a baseline 4:2:0 JPEG into `out`, the
/// planes going to the DCT as they are: no colour conversion or downsampling.
pub fn encode_i420(
    yuv: &[u8],
    width: u32,
    height: u32,
    quality: u8,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    check_i420_input(yuv, width, height)?;
    let (w, h) = (width as usize, height as usize);
    let (y, chroma) = yuv.split_at(w * h);
    let (u, v) = chroma.split_at((w / 2) * (h / 2));
    *out = encoded(|| {
        libjpeg_turbo_rs::yuv::compress_from_yuv_planes(
            &[y, u, v],
            w,
            h,
            Subsampling::S420,
            quality.clamp(1, 100),
        )
    })?;
    Ok(())
}

/// The encoder's result as ours; a panic in it (none is known) is an error, not a crash.
fn encoded(f: impl FnOnce() -> libjpeg_turbo_rs::Result<Vec<u8>>) -> Result<Vec<u8>, CodecError> {
    guard(f).map_err(|e| match e {
        CodecError::Decode(m) => CodecError::Encode(m),
        e => e,
    })
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

    /// Decodes `jpeg` all the way: proof that a frame decodes, for a viewer that shows
    /// nothing. Returns `(width, height)`.
    ///
    /// To RGB, although nobody looks at the colours: zune-jpeg's RGB output is its vectorised
    /// path, 10-20% less CPU than stopping at YCbCr (measured at 720p and 1080p).
    pub fn decode_check(&mut self, jpeg: &[u8]) -> Result<(u32, u32), CodecError> {
        self.decode_rgb(jpeg)
    }

    /// Decodes `jpeg` to packed RGB24, kept in this decoder; see [`Decoder::rgb`].
    pub fn decode_rgb(&mut self, jpeg: &[u8]) -> Result<(u32, u32), CodecError> {
        let opts = options().jpeg_set_out_colorspace(ColorSpace::RGB);
        let mut d = JpegDecoder::new_with_options(ZCursor::new(jpeg), opts);
        guard(|| d.decode_headers())?;
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

    /// The encoder at every awkward size: sides of 1 to 40 pixels (partial MCUs in both
    /// directions, odd widths, single rows and columns) give a JPEG of exactly that size that
    /// zune-jpeg decodes back to the picture, and I420 at even sides likewise.
    #[test]
    fn every_small_size_encodes_and_decodes_back() {
        let mut rng = fastrand::Rng::with_seed(17);
        let mut jpeg = Vec::new();
        let mut d = Decoder::new();
        for w in 1..=40u32 {
            for h in [1u32, 2, 7, 8, 15, 16, 17, 33] {
                // Ramps (no wrap: an edge is not what this checks) plus a little noise.
                let base = rng.u8(..50);
                let rgb: Vec<u8> = (0..w * h)
                    .flat_map(|i| {
                        let (x, y) = (i % w, i / w);
                        let v = base + (x * 2 + y * 2) as u8 + rng.u8(..4);
                        [v, v / 2 + 40, 255 - v]
                    })
                    .collect();
                encode_rgb(&rgb, w, h, 95, &mut jpeg).unwrap();
                assert_eq!(Decoder::dimensions(&jpeg).unwrap(), (w, h));
                assert_eq!(d.decode_rgb(&jpeg).unwrap(), (w, h));
                let err: u64 = d
                    .rgb()
                    .iter()
                    .zip(&rgb)
                    .map(|(a, b)| u64::from(a.abs_diff(*b)))
                    .sum();
                let mean = err as f64 / rgb.len() as f64;
                assert!(mean < 6.0, "{w}x{h}: mean error {mean}");
                if w % 2 == 0 && h % 2 == 0 {
                    let mut yuv = Vec::new();
                    super::super::rgb_to_i420(&rgb, w, h, &mut yuv).unwrap();
                    encode_i420(&yuv, w, h, 95, &mut jpeg).unwrap();
                    assert_eq!(d.decode_rgb(&jpeg).unwrap(), (w, h), "i420 {w}x{h}");
                }
            }
        }
    }
}
