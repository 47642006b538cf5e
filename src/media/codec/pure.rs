//! The pure Rust codec, the default: `jpeg-encoder` (AVX2 chosen at run time) encodes and
//! `zune-jpeg` decodes. Building it needs no system packages.
//!
//! Decoding goes to RGB and then to minifb's `0RGB` words because zune-jpeg's RGB path is
//! vectorised while its BGRA path is not.

use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use super::{check_decode_size, check_rgb_input, guard, CodecError, MAX_DECODE_SIDE};

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

/// Encodes planar 4:2:0 (see [`super::i420_len`]): the pure Rust encoder takes only RGB, so
/// this converts first. Sources make RGB for this codec ([`super::PREFERS_I420`] is false).
pub fn encode_i420(
    yuv: &[u8],
    width: u32,
    height: u32,
    quality: u8,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let mut rgb = Vec::new();
    super::i420_to_rgb(yuv, width, height, &mut rgb)?;
    encode_rgb(&rgb, width, height, quality, out)
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

fn options() -> DecoderOptions {
    DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(MAX_DECODE_SIDE)
        .set_max_height(MAX_DECODE_SIDE)
}

// TEMP STUB (replaced by the tiles branch)
impl Decoder {
    /// Stub.
    pub fn decode_0rgb_fit(
        &mut self,
        jpeg: &[u8],
        _w: u32,
        _h: u32,
        out: &mut Vec<u32>,
    ) -> Result<(u32, u32), CodecError> {
        self.decode_0rgb(jpeg, out)
    }
}
