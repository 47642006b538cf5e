//! Raw camera pixel formats to packed RGB24, for the encoder.
//!
//! Integer BT.601 with limited ("studio") range, the colour space UVC cameras use for YUYV
//! and NV12: Y in 16..=235, U and V in 16..=240 around 128. Fixed-point coefficients scaled
//! by 256 keep it exact enough (±1) and fast without floating point.
//!
//! Buffers may be longer than the picture (a driver's whole buffer): only the bytes the
//! picture needs are read. Shorter buffers are an error. Rows are assumed tightly packed,
//! which is what nokhwa hands over.

/// Why a raw frame cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// The buffer is shorter than the picture needs.
    #[error("{format} frame of {width}x{height} needs {need} bytes, got {got}")]
    Short {
        /// The pixel format.
        format: &'static str,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        got: usize,
    },
    /// A width or height the format cannot have (zero, or an odd YUYV width).
    #[error("{format} frame cannot be {width}x{height}")]
    BadSize {
        /// The pixel format.
        format: &'static str,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
}

/// One pixel from limited-range BT.601 Y, U (Cb), V (Cr).
#[inline]
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 298 * (i32::from(y) - 16);
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clip = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clip(c + 409 * e),
        clip(c - 100 * d - 208 * e),
        clip(c + 516 * d),
    ]
}

fn check(
    format: &'static str,
    width: u32,
    height: u32,
    need: usize,
    got: usize,
) -> Result<(), ConvertError> {
    if width == 0 || height == 0 {
        return Err(ConvertError::BadSize {
            format,
            width,
            height,
        });
    }
    if got < need {
        return Err(ConvertError::Short {
            format,
            width,
            height,
            need,
            got,
        });
    }
    Ok(())
}

/// YUYV 4:2:2 (bytes `Y0 U Y1 V` per pixel pair: the order nokhwa once got wrong) to RGB24,
/// into `out` (resized).
pub fn yuyv_to_rgb(
    src: &[u8],
    width: u32,
    height: u32,
    out: &mut Vec<u8>,
) -> Result<(), ConvertError> {
    if width % 2 != 0 {
        return Err(ConvertError::BadSize {
            format: "YUYV",
            width,
            height,
        });
    }
    let pixels = width as usize * height as usize;
    check("YUYV", width, height, pixels * 2, src.len())?;
    out.resize(pixels * 3, 0);
    for (quad, rgb) in src[..pixels * 2]
        .chunks_exact(4)
        .zip(out.chunks_exact_mut(6))
    {
        let (y0, u, y1, v) = (quad[0], quad[1], quad[2], quad[3]);
        rgb[..3].copy_from_slice(&yuv_to_rgb(y0, u, v));
        rgb[3..].copy_from_slice(&yuv_to_rgb(y1, u, v));
    }
    Ok(())
}

/// NV12 (a full-size Y plane, then a half-size plane of interleaved `U V` pairs, one pair per
/// 2x2 block) to RGB24, into `out` (resized). Odd sizes round the chroma plane up.
pub fn nv12_to_rgb(
    src: &[u8],
    width: u32,
    height: u32,
    out: &mut Vec<u8>,
) -> Result<(), ConvertError> {
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let luma = w * h;
    check("NV12", width, height, luma + cw * ch * 2, src.len())?;
    let (ys, uv) = src.split_at(luma);
    out.resize(luma * 3, 0);
    for (row, (y_row, rgb_row)) in ys
        .chunks_exact(w)
        .zip(out.chunks_exact_mut(w * 3))
        .enumerate()
    {
        let uv_row = &uv[(row / 2) * cw * 2..][..cw * 2];
        for (x, (&y, rgb)) in y_row.iter().zip(rgb_row.chunks_exact_mut(3)).enumerate() {
            let k = (x / 2) * 2;
            rgb.copy_from_slice(&yuv_to_rgb(y, uv_row[k], uv_row[k + 1]));
        }
    }
    Ok(())
}

/// 8-bit greyscale to RGB24, into `out` (resized).
pub fn gray_to_rgb(
    src: &[u8],
    width: u32,
    height: u32,
    out: &mut Vec<u8>,
) -> Result<(), ConvertError> {
    let pixels = width as usize * height as usize;
    check("GRAY", width, height, pixels, src.len())?;
    out.clear();
    out.extend(src[..pixels].iter().flat_map(|&g| [g, g, g]));
    Ok(())
}

/// Packed RGB24 or BGR24 to RGB24, into `out` (resized).
pub fn rgb24_to_rgb(
    src: &[u8],
    width: u32,
    height: u32,
    bgr: bool,
    out: &mut Vec<u8>,
) -> Result<(), ConvertError> {
    let bytes = width as usize * height as usize * 3;
    let format = if bgr { "BGR" } else { "RGB" };
    check(format, width, height, bytes, src.len())?;
    out.clear();
    out.extend_from_slice(&src[..bytes]);
    if bgr {
        for px in out.chunks_exact_mut(3) {
            px.swap(0, 2);
        }
    }
    Ok(())
}
