//! JPEG encoding and decoding.
//!
//! The default codecs are pure Rust so that building needs no system packages:
//! `jpeg-encoder` (AVX2 chosen at run time) encodes, `zune-jpeg` decodes. Live frames use 4:2:0
//! chroma subsampling: half the bytes of 4:4:4 for a difference webcam footage does not show.
//! Decoding goes to RGB and then to minifb's `0RGB` words because zune-jpeg's RGB path is
//! vectorised while its BGRA path is not.

use std::panic::{catch_unwind, AssertUnwindSafe};

use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

/// The largest picture side the decoder accepts: bounds the memory a hostile JPEG can claim.
pub const MAX_DECODE_SIDE: usize = 8192;

/// Why encoding or decoding failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The pixel buffer does not match the stated size.
    #[error("pixel buffer is {got} bytes, {width}x{height} RGB needs {need}")]
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

/// Encodes packed RGB24 pixels as a baseline JPEG with 4:2:0 subsampling, into `out`
/// (cleared first, so a caller can reuse one buffer for every frame).
pub fn encode_rgb(
    rgb: &[u8],
    width: u32,
    height: u32,
    quality: u8,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let need = width as usize * height as usize * 3;
    if rgb.len() != need || width == 0 || height == 0 {
        return Err(CodecError::BadInput {
            width,
            height,
            need,
            got: rgb.len(),
        });
    }
    let (w, h) = match (u16::try_from(width), u16::try_from(height)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => return Err(CodecError::TooLarge { width, height }),
    };
    out.clear();
    let mut enc = Encoder::new(&mut *out, quality.clamp(1, 100));
    enc.set_sampling_factor(SamplingFactor::F_2_2);
    enc.encode(rgb, w, h, ColorType::Rgb)
        .map_err(|e| CodecError::Encode(e.to_string()))
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

    /// Decodes `jpeg` to packed RGB24, kept in this decoder; see [`Decoder::rgb`].
    pub fn decode_rgb(&mut self, jpeg: &[u8]) -> Result<(u32, u32), CodecError> {
        let mut d = JpegDecoder::new_with_options(ZCursor::new(jpeg), options());
        guard(|| d.decode_headers())?;
        let info = d
            .info()
            .ok_or_else(|| CodecError::Decode("no image header".into()))?;
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

fn options() -> DecoderOptions {
    DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(MAX_DECODE_SIDE)
        .set_max_height(MAX_DECODE_SIDE)
}

/// Runs a decoder call, turning its errors and (defensively) its panics into `CodecError`:
/// the bytes come from the network.
fn guard<E: std::fmt::Debug>(f: impl FnOnce() -> Result<(), E>) -> Result<(), CodecError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(CodecError::Decode(format!("{e:?}"))),
        Err(_) => Err(CodecError::Decode(
            "decoder panicked on malformed input".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> Vec<u8> {
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
        // Centre pixel within JPEG tolerance of the source.
        let i = (24 * w + 32) as usize;
        let got = px[i];
        let want = &src[i * 3..i * 3 + 3];
        for (k, shift) in [16, 8, 0].iter().enumerate() {
            let c = ((got >> shift) & 0xFF) as i32;
            assert!(
                (c - want[k] as i32).abs() <= 12,
                "channel {k}: {c} vs {}",
                want[k]
            );
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
    fn bad_input_is_an_error() {
        let mut out = Vec::new();
        assert!(encode_rgb(&[0; 5], 2, 2, 80, &mut out).is_err());
        assert!(encode_rgb(&[], 0, 0, 80, &mut out).is_err());
        let mut d = Decoder::new();
        let mut px = Vec::new();
        assert!(d.decode_0rgb(b"not a jpeg", &mut px).is_err());
        assert!(d.decode_0rgb(&[], &mut px).is_err());
        let mut jpeg = Vec::new();
        encode_rgb(&gradient(16, 16), 16, 16, 80, &mut jpeg).unwrap();
        for cut in [3, 20, jpeg.len() / 2] {
            let _ = d.decode_0rgb(&jpeg[..cut], &mut px);
        }
    }
}
