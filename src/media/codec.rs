//! JPEG encoding and decoding.
//!
//! The default codecs are pure Rust so that building needs no system packages:
//! `libjpeg-turbo-rs` (a port of libjpeg-turbo, SIMD chosen at run time) encodes, `zune-jpeg`
//! decodes ([`pure`]). With the `turbojpeg` cargo feature, [`encode_rgb`] and [`Decoder`] are
//! the C libjpeg-turbo instead (the `turbo` module), a little faster again at both ends
//! (README, Benchmarks); the pure Rust codec stays available as [`pure`] so that the two can
//! be compared.
//!
//! Live frames use 4:2:0 chroma subsampling: half the bytes of 4:4:4 for a difference webcam
//! footage does not show. Every decoder here treats its input as hostile: bad bytes give a
//! [`CodecError`], never a panic, never a picture larger than [`MAX_DECODE_SIDE`] square, and
//! never one larger than its bytes can code (`check_decode_size`), so a small JPEG cannot make
//! a decoder allocate and fill a large picture.

use std::panic::{catch_unwind, AssertUnwindSafe};

pub mod pure;
#[cfg(feature = "turbojpeg")]
pub mod turbo;

#[cfg(not(feature = "turbojpeg"))]
pub use pure::{encode_i420, encode_rgb, Decoder};
#[cfg(feature = "turbojpeg")]
pub use turbo::{encode_i420, encode_rgb, Decoder};

/// True when [`encode_i420`] is the cheaper way in: libjpeg-turbo encodes planar 4:2:0 without
/// the colour conversion and downsampling it does for RGB (GStreamer's `jpegenc` is fed I420
/// the same way). The pure Rust encoder takes planes too, but its RGB path is the tuned one
/// (its planar path costs about 1.2x at 1080p), so sources that can make either (the test
/// pattern) make RGB for it; a camera's YUYV or NV12 still goes in as planes, since that saves
/// a conversion to RGB worth more than the difference.
pub const PREFERS_I420: bool = cfg!(feature = "turbojpeg");

/// The length of a planar 4:2:0 picture: a full-size Y plane, then U and V planes of
/// `w/2 x h/2`, rows unpadded (libjpeg-turbo's layout with `pad` 1). Planar pictures have
/// even sides here: libjpeg-turbo pads odd ones, a layout not worth supporting for the rare
/// odd-sized source, which stays RGB.
pub fn i420_len(width: u32, height: u32) -> usize {
    let (w, h) = (width as usize, height as usize);
    w * h + 2 * (w / 2) * (h / 2)
}

/// Full-range BT.601 YCbCr of one RGB pixel, as JPEG defines it.
pub fn rgb_to_ycbcr(c: [u8; 3]) -> [u8; 3] {
    let (r, g, b) = (c[0] as i32, c[1] as i32, c[2] as i32);
    // 16-bit fixed point, rounded.
    let y = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16;
    let u = ((-11059 * r - 21709 * g + 32768 * b + 32768) >> 16) + 128;
    let v = ((32768 * r - 27439 * g - 5329 * b + 32768) >> 16) + 128;
    [
        y.clamp(0, 255) as u8,
        u.clamp(0, 255) as u8,
        v.clamp(0, 255) as u8,
    ]
}

/// Converts packed RGB24 to planar 4:2:0 (chroma averaged over each 2x2 block) into `out`.
pub fn rgb_to_i420(
    rgb: &[u8],
    width: u32,
    height: u32,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let odd = width % 2 == 1 || height % 2 == 1;
    check_input(
        rgb.len(),
        width as usize * height as usize * 3,
        width,
        height,
        odd,
    )?;
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w / 2, h / 2);
    out.clear();
    out.resize(i420_len(width, height), 0);
    let (y_plane, chroma) = out.split_at_mut(w * h);
    let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        y_plane[i] = rgb_to_ycbcr([px[0], px[1], px[2]])[0];
    }
    for cy in 0..ch {
        for cx in 0..cw {
            // Sides are even, so every 2x2 block is whole.
            let mut sum = [0u32; 3];
            for y in 2 * cy..2 * cy + 2 {
                for x in 2 * cx..2 * cx + 2 {
                    let p = (y * w + x) * 3;
                    for k in 0..3 {
                        sum[k] += rgb[p + k] as u32;
                    }
                }
            }
            let avg = sum.map(|s| ((s + 2) / 4) as u8);
            let [_, u, v] = rgb_to_ycbcr(avg);
            u_plane[cy * cw + cx] = u;
            v_plane[cy * cw + cx] = v;
        }
    }
    Ok(())
}

/// Converts planar 4:2:0 back to packed RGB24 (nearest chroma), for whatever needs RGB (no
/// encoder here does).
pub fn i420_to_rgb(
    yuv: &[u8],
    width: u32,
    height: u32,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    check_i420_input(yuv, width, height)?;
    let (w, h) = (width as usize, height as usize);
    let cw = w / 2;
    let (y_plane, chroma) = yuv.split_at(w * h);
    let (u_plane, v_plane) = chroma.split_at(cw * (h / 2));
    out.clear();
    out.reserve(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let l = y_plane[y * w + x] as i32;
            let c = (y / 2) * cw + x / 2;
            let (u, v) = (u_plane[c] as i32 - 128, v_plane[c] as i32 - 128);
            let r = l + ((91881 * v + 32768) >> 16);
            let g = l - ((22554 * u + 46802 * v - 32768) >> 16);
            let b = l + ((116130 * u + 32768) >> 16);
            out.extend_from_slice(&[
                r.clamp(0, 255) as u8,
                g.clamp(0, 255) as u8,
                b.clamp(0, 255) as u8,
            ]);
        }
    }
    Ok(())
}

/// Checks a planar 4:2:0 buffer against its stated size (even sides only).
fn check_i420_input(yuv: &[u8], width: u32, height: u32) -> Result<(u16, u16), CodecError> {
    let odd = width % 2 == 1 || height % 2 == 1;
    check_input(yuv.len(), i420_len(width, height), width, height, odd)
}

/// The name of the codec behind [`encode_rgb`] and [`Decoder`], for logs and benchmarks.
pub const ACTIVE: &str = if cfg!(feature = "turbojpeg") {
    "libjpeg-turbo"
} else {
    "libjpeg-turbo-rs + zune-jpeg"
};

/// The largest picture side the decoder accepts: bounds the memory a hostile JPEG can claim.
pub const MAX_DECODE_SIDE: usize = 8192;

/// The scale-down factors both decoders offer for [`Decoder::decode_0rgb_fit`]: libjpeg-turbo
/// has SIMD kernels for exactly these (the other N/8 factors are scalar and slower).
pub const DECODE_SCALES: [u32; 4] = [1, 2, 4, 8];

/// The size a `width` x `height` picture is drawn at when fitted, aspect kept, inside a
/// `box_w` x `box_h` box: one side equals the box's, the other is rounded to the nearest pixel
/// (at least 1). A box with a zero side gives `(0, 0)`.
pub fn fit_size(width: u32, height: u32, box_w: u32, box_h: u32) -> (u32, u32) {
    if width == 0 || height == 0 || box_w == 0 || box_h == 0 {
        return (0, 0);
    }
    let (w, h, bw, bh) = (width as u64, height as u64, box_w as u64, box_h as u64);
    // Compare aspects by cross-multiplying: no floats, exact for any u32 sides.
    if w * bh <= h * bw {
        let fw = ((w * bh * 2 + h) / (h * 2)).clamp(1, bw);
        (fw as u32, box_h)
    } else {
        let fh = ((h * bw * 2 + w) / (w * 2)).clamp(1, bh);
        (box_w, fh as u32)
    }
}

/// The scale-down factor for a `width` x `height` JPEG that will be drawn fitted inside
/// `box_w` x `box_h`: the largest of [`DECODE_SCALES`] whose decoded size (each side divided
/// and rounded up, as libjpeg-turbo's `TJSCALED` does) is still at least the drawn size on both
/// axes, so the picture is never enlarged after decoding. A box with a zero side means "size
/// unknown" and gives 1 (full size).
pub fn fit_scale(width: u32, height: u32, box_w: u32, box_h: u32) -> u32 {
    let (dw, dh) = fit_size(width, height, box_w, box_h);
    if dw == 0 || dh == 0 {
        return 1;
    }
    DECODE_SCALES
        .iter()
        .rev()
        .copied()
        .find(|&k| width.div_ceil(k) >= dw && height.div_ceil(k) >= dh)
        .unwrap_or(1)
}

/// Why encoding or decoding failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The pixel buffer does not match the stated size.
    #[error("pixel buffer is {got} bytes, {width}x{height} needs {need}")]
    BadInput {
        /// Stated width.
        width: u32,
        /// Stated height.
        height: u32,
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        got: usize,
    },
    /// JPEG sides are limited to 65,535 pixels by the format.
    #[error("{width}x{height} is too large for JPEG")]
    TooLarge {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// The encoder failed.
    #[error("JPEG encoding failed: {0}")]
    Encode(String),
    /// The bytes are not a JPEG this decoder can read.
    #[error("JPEG decoding failed: {0}")]
    Decode(String),
}

/// Checks an RGB24 buffer against its stated size; returns the sides as JPEG allows them.
fn check_rgb_input(rgb: &[u8], width: u32, height: u32) -> Result<(u16, u16), CodecError> {
    check_input(
        rgb.len(),
        width as usize * height as usize * 3,
        width,
        height,
        false,
    )
}

/// A pixel buffer of `got` bytes where `need` are due, for a `width` x `height` picture that
/// is also refused when `refuse` holds; returns the sides as JPEG allows them.
fn check_input(
    got: usize,
    need: usize,
    width: u32,
    height: u32,
    refuse: bool,
) -> Result<(u16, u16), CodecError> {
    if got != need || width == 0 || height == 0 || refuse {
        return Err(CodecError::BadInput {
            width,
            height,
            need,
            got,
        });
    }
    match (u16::try_from(width), u16::try_from(height)) {
        (Ok(w), Ok(h)) => Ok((w, h)),
        _ => Err(CodecError::TooLarge { width, height }),
    }
}

/// Checks the sides a JPEG header claims before anything is allocated for them: both back
/// ends call this between reading the header and sizing any buffer.
///
/// Besides the [`MAX_DECODE_SIDE`] bound, the claim must fit the bytes that carry it
/// ([`fits_in_jpeg`]): otherwise a datagram-sized JPEG claiming 8192x8192 would make the viewer
/// allocate and fill a quarter of a gigabyte of pixels, out of all proportion to its size.
fn check_decode_size(
    width: usize,
    height: usize,
    jpeg_len: usize,
) -> Result<(u32, u32), CodecError> {
    if width == 0 || height == 0 || width > MAX_DECODE_SIDE || height > MAX_DECODE_SIDE {
        return Err(CodecError::Decode(format!(
            "{width}x{height} is outside 1..={MAX_DECODE_SIDE} pixels a side"
        )));
    }
    if !fits_in_jpeg(width, height, jpeg_len) {
        return Err(CodecError::Decode(format!(
            "JPEG claims {width}x{height} but its {jpeg_len} bytes cannot hold that picture"
        )));
    }
    Ok((width as u32, height as u32))
}

/// True when `jpeg_len` bytes can code a `width` x `height` picture at all.
///
/// Every 8x8 block of every component costs at least one bit of entropy-coded data: its DC
/// coefficient's Huffman code (in a progressive JPEG, in the first DC scan). The component
/// with the highest sampling factors has `ceil(w/8) * ceil(h/8)` blocks, so a JPEG of N bytes
/// cannot hold more than `8 * N` of them, headers included. Real pictures are far inside this:
/// a uniform 4:2:0 frame costs about 6 bits a luma block with the standard tables. (Only
/// arithmetic coding, which camwire never makes and zune-jpeg does not read, could pack a
/// block into less than a bit; such a picture is refused.)
fn fits_in_jpeg(width: usize, height: usize, jpeg_len: usize) -> bool {
    let blocks = width.div_ceil(8) as u64 * height.div_ceil(8) as u64;
    blocks <= 8 * jpeg_len as u64
}

/// Runs a decoder call, turning its errors and (defensively) its panics into `CodecError`:
/// the bytes come from the network.
fn guard<T, E: std::fmt::Debug>(f: impl FnOnce() -> Result<T, E>) -> Result<T, CodecError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(CodecError::Decode(format!("{e:?}"))),
        Err(_) => Err(CodecError::Decode(
            "decoder panicked on malformed input".into(),
        )),
    }
}

// These run against whichever codec the build selects, so `cargo test --features turbojpeg`
// checks libjpeg-turbo with the same expectations as the default.
#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn gradient(w: u32, h: u32) -> Vec<u8> {
        let mut v = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                v.extend_from_slice(&[(x * 255 / w) as u8, (y * 255 / h) as u8, 128]);
            }
        }
        v
    }

    #[test]
    fn round_trip_is_close() {
        let (w, h) = (64, 48);
        let src = gradient(w, h);
        let mut jpeg = Vec::new();
        encode_rgb(&src, w, h, 90, &mut jpeg).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        assert_eq!(Decoder::dimensions(&jpeg).unwrap(), (w, h));
        let mut d = Decoder::new();
        let mut px = Vec::new();
        assert_eq!(d.decode_0rgb(&jpeg, &mut px).unwrap(), (w, h));
        assert_eq!(px.len(), (w * h) as usize);
        // Centre pixel within JPEG tolerance of the source, and the top byte zero.
        let i = (24 * w + 32) as usize;
        let got = px[i];
        assert_eq!(got >> 24, 0);
        let want = &src[i * 3..i * 3 + 3];
        for (k, shift) in [16, 8, 0].iter().enumerate() {
            let c = ((got >> shift) & 0xFF) as i32;
            assert!(
                (c - want[k] as i32).abs() <= 12,
                "channel {k}: {c} vs {}",
                want[k]
            );
        }
        // decode_rgb agrees with decode_0rgb.
        assert_eq!(d.decode_rgb(&jpeg).unwrap(), (w, h));
        let rgb = &d.rgb()[i * 3..i * 3 + 3];
        let from_words = [(got >> 16) as u8, (got >> 8) as u8, got as u8];
        for k in 0..3 {
            assert!((rgb[k] as i32 - from_words[k] as i32).abs() <= 2);
        }
    }

    #[test]
    fn encodes_with_420_subsampling() {
        let mut jpeg = Vec::new();
        encode_rgb(&gradient(32, 32), 32, 32, 80, &mut jpeg).unwrap();
        // SOF0 marker, then length(2) precision(1) h(2) w(2) ncomp(1), then the Y component
        // id(1) and its sampling byte: 0x22 means 2x2, i.e. 4:2:0.
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        assert_eq!(jpeg[sof + 9], 3, "three components");
        assert_eq!(jpeg[sof + 11], 0x22);
    }

    #[test]
    fn reuses_the_output_buffer() {
        let mut jpeg = vec![0xAA; 10];
        encode_rgb(&gradient(16, 16), 16, 16, 80, &mut jpeg).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "old contents cleared");
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9]);
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut out = Vec::new();
        assert!(encode_rgb(&[0; 5], 2, 2, 80, &mut out).is_err());
        assert!(encode_rgb(&[], 0, 0, 80, &mut out).is_err());
        assert!(matches!(
            encode_rgb(&[0; 3 * 70_000], 70_000, 1, 80, &mut out),
            Err(CodecError::TooLarge { .. })
        ));
        let mut d = Decoder::new();
        let mut px = Vec::new();
        assert!(d.decode_0rgb(b"not a jpeg", &mut px).is_err());
        assert!(d.decode_0rgb(&[], &mut px).is_err());
        let mut jpeg = Vec::new();
        encode_rgb(&gradient(16, 16), 16, 16, 80, &mut jpeg).unwrap();
        for cut in [3, 20, jpeg.len() / 2] {
            let _ = d.decode_0rgb(&jpeg[..cut], &mut px);
        }
        // Flipped bytes anywhere after the header: an error or a picture, never a panic.
        for i in (20..jpeg.len()).step_by(7) {
            let mut bad = jpeg.clone();
            bad[i] ^= 0x5A;
            let _ = d.decode_0rgb(&bad, &mut px);
        }
    }

    #[test]
    fn oversized_header_is_refused_before_allocating() {
        let mut jpeg = Vec::new();
        encode_rgb(&gradient(16, 16), 16, 16, 80, &mut jpeg).unwrap();
        // Rewrite SOF0's height and width to 60000x60000: ~14 GB of pixels if believed.
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        jpeg[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]);
        let mut d = Decoder::new();
        let mut px = Vec::new();
        assert!(d.decode_0rgb(&jpeg, &mut px).is_err());
        assert!(px.capacity() < 1 << 20);
        assert!(d.decode_check(&jpeg).is_err());
    }

    /// A small JPEG whose SOF0 claims `width` x `height`.
    fn with_claimed_size(width: u16, height: u16) -> Vec<u8> {
        let mut jpeg = Vec::new();
        encode_rgb(&gradient(16, 16), 16, 16, 80, &mut jpeg).unwrap();
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
        jpeg
    }

    #[test]
    fn a_size_its_bytes_cannot_hold_is_refused_before_allocating() {
        // Within MAX_DECODE_SIDE, but a few hundred bytes cannot code a million 8x8 blocks.
        for (w, h) in [(8192u16, 8192u16), (4000, 3000), (1280, 720)] {
            let jpeg = with_claimed_size(w, h);
            assert!(jpeg.len() < 1000, "{} bytes", jpeg.len());
            let want = format!(
                "JPEG claims {w}x{h} but its {} bytes cannot hold that picture",
                jpeg.len()
            );
            let mut d = Decoder::new();
            let mut px = Vec::new();
            for e in [
                d.decode_0rgb(&jpeg, &mut px).unwrap_err(),
                d.decode_rgb(&jpeg).unwrap_err(),
                d.decode_check(&jpeg).unwrap_err(),
            ] {
                assert!(e.to_string().contains(&want), "{e}");
            }
            assert_eq!(px.capacity(), 0, "nothing sized for the claim");
            assert_eq!(d.rgb().len(), 0);
            // The decoder is still good for a real frame afterwards.
            let mut ok = Vec::new();
            encode_rgb(&gradient(16, 16), 16, 16, 80, &mut ok).unwrap();
            assert_eq!(d.decode_0rgb(&ok, &mut px).unwrap(), (16, 16));
        }
        // The rule itself: one bit per block of the full-resolution component.
        assert!(fits_in_jpeg(64, 64, 8));
        assert!(!fits_in_jpeg(64, 72, 8));
        assert!(fits_in_jpeg(57, 57, 8), "partial blocks count whole");
        assert!(!fits_in_jpeg(65, 64, 8));
    }

    #[test]
    fn the_most_compressible_real_pictures_still_decode() {
        // Flat pictures, the fewest bytes a real encoder makes for their size: 4:2:0 from this
        // codec, and 4:4:4 and grey from a second encoder.
        let mut d = Decoder::new();
        let mut px = Vec::new();
        for (w, h) in [(1280u32, 720u32), (2048, 2048), (8, 8)] {
            let mut jpeg = Vec::new();
            encode_rgb(&vec![0; (w * h * 3) as usize], w, h, 1, &mut jpeg).unwrap();
            assert_eq!(d.decode_0rgb(&jpeg, &mut px).unwrap(), (w, h));
            assert_eq!(d.decode_check(&jpeg).unwrap(), (w, h));
            let rgb = image::RgbImage::from_pixel(w, h, image::Rgb([200, 10, 10]));
            let mut j = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut j, 1)
                .encode_image(&rgb)
                .unwrap();
            assert_eq!(d.decode_0rgb(&j, &mut px).unwrap(), (w, h));
            let grey = image::GrayImage::from_pixel(w, h, image::Luma([0]));
            let mut j = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut j, 1)
                .encode_image(&grey)
                .unwrap();
            assert_eq!(d.decode_check(&j).unwrap(), (w, h));
        }
    }

    #[test]
    fn decoders_keep_their_buffers_between_frames() {
        let (w, h) = (320, 240);
        let mut a = Vec::new();
        let mut b = Vec::new();
        encode_rgb(&gradient(w, h), w, h, 80, &mut a).unwrap();
        encode_rgb(&vec![90; (w * h * 3) as usize], w, h, 80, &mut b).unwrap();
        let mut d = Decoder::new();
        let mut px = Vec::new();
        d.decode_0rgb(&a, &mut px).unwrap();
        d.decode_rgb(&a).unwrap();
        let (px_at, rgb_at) = (px.as_ptr(), d.rgb().as_ptr());
        for jpeg in [&b, &a, &b] {
            d.decode_0rgb(jpeg, &mut px).unwrap();
            d.decode_rgb(jpeg).unwrap();
            d.decode_check(jpeg).unwrap();
            assert_eq!(px.as_ptr(), px_at, "the caller's pixels were reused");
            assert_eq!(
                d.rgb().as_ptr(),
                rgb_at,
                "the decoder's RGB buffer was reused"
            );
        }
    }

    /// Planar 4:2:0 in, a JPEG out that decodes close to the RGB it came from, at even and
    /// odd sizes; a buffer of the wrong length is refused.
    #[test]
    fn i420_encodes_like_rgb() {
        for (w, h) in [(64u32, 48u32), (34, 18)] {
            let rgb = gradient(w, h);
            let mut yuv = Vec::new();
            rgb_to_i420(&rgb, w, h, &mut yuv).unwrap();
            assert_eq!(yuv.len(), i420_len(w, h));
            let mut jpeg = Vec::new();
            encode_i420(&yuv, w, h, 90, &mut jpeg).unwrap();
            let mut d = Decoder::new();
            assert_eq!(d.decode_rgb(&jpeg).unwrap(), (w, h));
            let worst = d
                .rgb()
                .iter()
                .zip(&rgb)
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap();
            assert!(worst < 40, "{w}x{h}: worst channel difference {worst}");
            // And back: the conversion pair is close on its own.
            let mut back = Vec::new();
            i420_to_rgb(&yuv, w, h, &mut back).unwrap();
            let worst = back
                .iter()
                .zip(&rgb)
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap();
            assert!(worst < 40, "{w}x{h}: round trip {worst}");
        }
        let mut jpeg = Vec::new();
        assert!(encode_i420(&[0; 10], 4, 4, 80, &mut jpeg).is_err());
        // Odd sides are refused rather than laid out wrongly.
        assert!(encode_i420(&vec![0; i420_len(3, 4)], 3, 4, 80, &mut jpeg).is_err());
        assert!(rgb_to_i420(&gradient(3, 4), 3, 4, &mut Vec::new()).is_err());
        assert_eq!(rgb_to_ycbcr([255, 255, 255]), [255, 128, 128]);
        assert_eq!(rgb_to_ycbcr([0, 0, 0]), [0, 128, 128]);
    }

    /// The headless check decodes what the window path decodes (colour, 4:4:4, grey) and
    /// refuses what it refuses.
    #[test]
    fn fit_size_keeps_the_aspect_inside_the_box() {
        assert_eq!(fit_size(640, 480, 960, 540), (720, 540));
        assert_eq!(fit_size(1920, 1080, 480, 480), (480, 270));
        assert_eq!(fit_size(641, 481, 320, 240), (320, 240));
        assert_eq!(fit_size(10_000, 1, 5, 5), (5, 1));
        assert_eq!(fit_size(1, 10_000, 5, 5), (1, 5));
        assert_eq!(fit_size(640, 480, 0, 100), (0, 0));
        assert_eq!(fit_size(0, 480, 100, 100), (0, 0));
        assert_eq!(
            fit_size(u32::MAX, u32::MAX - 1, u32::MAX, 3),
            (3, 3),
            "no overflow"
        );
    }

    #[test]
    fn fit_scale_never_decodes_below_the_drawn_size() {
        assert_eq!(fit_scale(640, 480, 0, 0), 1, "unknown box: full size");
        assert_eq!(fit_scale(640, 480, 960, 540), 1, "drawn larger: full size");
        assert_eq!(fit_scale(640, 480, 320, 240), 2);
        assert_eq!(fit_scale(640, 480, 322, 242), 1);
        assert_eq!(fit_scale(640, 480, 240, 180), 2, "survey 2.3's 3x3 example");
        assert_eq!(fit_scale(1920, 1080, 240, 180), 8);
        assert_eq!(fit_scale(1920, 1080, 480, 270), 4);
        assert_eq!(
            fit_scale(7, 5, 1, 1),
            8,
            "a picture smaller than a block still scales"
        );
        for (w, h) in [(641, 481), (1, 1), (8192, 3), (17, 4099)] {
            for (bw, bh) in [(1, 1), (50, 700), (320, 240), (9000, 9000)] {
                let k = fit_scale(w, h, bw, bh);
                let (dw, dh) = fit_size(w, h, bw, bh);
                assert!(DECODE_SCALES.contains(&k));
                // Drawn larger than the picture: full size, the best there is.
                let enlarged = dw > w || dh > h;
                assert!(
                    (enlarged && k == 1) || (w.div_ceil(k) >= dw && h.div_ceil(k) >= dh),
                    "{w}x{h} in {bw}x{bh}"
                );
            }
        }
    }

    #[test]
    fn fit_decode_scales_odd_sizes_by_rounding_up() {
        let (w, h) = (641, 481);
        let mut jpeg = Vec::new();
        encode_rgb(&gradient(w, h), w, h, 85, &mut jpeg).unwrap();
        let mut d = Decoder::new();
        let mut px = Vec::new();
        for (bw, bh, want) in [
            (641, 481, (641, 481)),
            (0, 0, (641, 481)),
            (320, 240, (321, 241)),
            (160, 120, (161, 121)),
            (80, 60, (81, 61)),
            (1, 1, (81, 61)),
        ] {
            assert_eq!(d.decode_0rgb_fit(&jpeg, bw, bh, &mut px).unwrap(), want);
            assert_eq!(px.len(), (want.0 * want.1) as usize);
            assert!(px.iter().all(|p| p >> 24 == 0));
        }
        // The gradient survives: left is darker red than right, top less green than bottom.
        let (sw, sh) = (81usize, 61usize);
        let red = |i: usize| (px[i] >> 16) & 0xFF;
        let green = |i: usize| (px[i] >> 8) & 0xFF;
        assert!(red(30 * sw + 2) + 150 < red(30 * sw + sw - 3));
        assert!(green(2 * sw + 40) + 150 < green((sh - 3) * sw + 40));
    }

    #[test]
    fn fit_decode_at_full_size_is_the_plain_decode() {
        let (w, h) = (96, 72);
        let mut jpeg = Vec::new();
        encode_rgb(&gradient(w, h), w, h, 85, &mut jpeg).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut d = Decoder::new();
        assert_eq!(d.decode_0rgb(&jpeg, &mut a).unwrap(), (w, h));
        assert_eq!(d.decode_0rgb_fit(&jpeg, w, h, &mut b).unwrap(), (w, h));
        assert_eq!(a, b);
        assert_eq!(d.decode_0rgb_fit(&jpeg, 2 * w, h, &mut b).unwrap(), (w, h));
        assert_eq!(a, b);
    }

    #[test]
    fn fit_decode_refuses_hostile_input_without_panicking() {
        let mut d = Decoder::new();
        let mut px = Vec::new();
        let huge = with_claimed_size(8192, 8192);
        assert!(d.decode_0rgb_fit(&huge, 64, 64, &mut px).is_err());
        assert_eq!(px.capacity(), 0, "nothing allocated for a refused claim");
        assert!(d.decode_0rgb_fit(b"not a jpeg", 64, 64, &mut px).is_err());
        assert!(d.decode_0rgb_fit(&[], 0, 0, &mut px).is_err());
        let (w, h) = (64, 48);
        let mut jpeg = Vec::new();
        encode_rgb(&gradient(w, h), w, h, 85, &mut jpeg).unwrap();
        for i in (2..jpeg.len()).step_by(7) {
            let mut bad = jpeg.clone();
            bad[i] ^= 0x5A;
            let _ = d.decode_0rgb_fit(&bad, 16, 12, &mut px);
            let _ = d.decode_0rgb_fit(&jpeg[..i], 16, 12, &mut px);
        }
        // And the decoder still works afterwards.
        assert_eq!(d.decode_0rgb_fit(&jpeg, 16, 12, &mut px).unwrap(), (16, 12));
    }

    #[test]
    fn decode_check_agrees_with_the_full_decode() {
        let mut d = Decoder::new();
        let mut px = Vec::new();
        let mut jpegs = Vec::new();
        let mut j = Vec::new();
        encode_rgb(&gradient(64, 40), 64, 40, 80, &mut j).unwrap();
        jpegs.push(j);
        let grey = image::GrayImage::from_fn(33, 17, |x, y| image::Luma([(x * 7 + y) as u8]));
        let mut j = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut j, 80)
            .encode_image(&grey)
            .unwrap();
        jpegs.push(j);
        let rgb =
            image::RgbImage::from_fn(30, 20, |x, y| image::Rgb([x as u8 * 8, y as u8 * 9, 77]));
        let mut j = Vec::new();
        // The image crate writes 4:4:4.
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut j, 90)
            .encode_image(&rgb)
            .unwrap();
        jpegs.push(j);
        for j in &jpegs {
            let full = d.decode_0rgb(j, &mut px).unwrap();
            assert_eq!(d.decode_check(j).unwrap(), full);
        }
        assert!(d.decode_check(b"not a jpeg").is_err());
        for i in (20..jpegs[0].len()).step_by(11) {
            let mut bad = jpegs[0].clone();
            bad[i] ^= 0x5A;
            let _ = d.decode_check(&bad);
        }
    }
}
