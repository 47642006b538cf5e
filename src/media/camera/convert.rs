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
    if !width.is_multiple_of(2) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::camera::fake::samples;

    fn close(got: &[u8], want: [u8; 3], tol: i32) {
        for k in 0..3 {
            assert!(
                (i32::from(got[k]) - i32::from(want[k])).abs() <= tol,
                "{got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn known_bt601_colours() {
        close(&yuv_to_rgb(235, 128, 128), [255, 255, 255], 1);
        close(&yuv_to_rgb(16, 128, 128), [0, 0, 0], 1);
        close(&yuv_to_rgb(126, 128, 128), [128, 128, 128], 1);
        // The BT.601 limited-range values of the primaries.
        close(&yuv_to_rgb(81, 90, 240), [255, 0, 0], 3);
        close(&yuv_to_rgb(145, 54, 34), [0, 255, 0], 3);
        close(&yuv_to_rgb(41, 240, 110), [0, 0, 255], 3);
        // Out-of-range input clamps instead of wrapping.
        assert_eq!(yuv_to_rgb(255, 255, 255)[0], 255);
        assert_eq!(yuv_to_rgb(0, 0, 0), [0, 135, 0]);
    }

    #[test]
    fn yuyv_byte_order_is_y0_u_y1_v() {
        // Red pair, then white and black sharing neutral chroma. With U and V swapped the red
        // pair would come out blue: the nokhwa colour bug.
        let src = [81, 90, 81, 240, 235, 128, 16, 128];
        let mut out = Vec::new();
        yuyv_to_rgb(&src, 4, 1, &mut out).unwrap();
        assert_eq!(out.len(), 12);
        close(&out[0..3], [255, 0, 0], 3);
        close(&out[3..6], [255, 0, 0], 3);
        close(&out[6..9], [255, 255, 255], 1);
        close(&out[9..12], [0, 0, 0], 1);
    }

    #[test]
    fn nv12_blocks_share_chroma() {
        // 4x2: a red 2x2 block, then a blue one.
        let src = [
            81, 81, 41, 41, // Y row 0
            81, 81, 41, 41, // Y row 1
            90, 240, 240, 110, // U V per block
        ];
        let mut out = Vec::new();
        nv12_to_rgb(&src, 4, 2, &mut out).unwrap();
        for (i, px) in out.chunks_exact(3).enumerate() {
            let want = if i % 4 < 2 { [255, 0, 0] } else { [0, 0, 255] };
            close(px, want, 3);
        }
        // Odd sizes round the chroma plane up.
        let mut out = Vec::new();
        nv12_to_rgb(&[235; 3 * 3 + 2 * 2 * 2], 3, 3, &mut out).unwrap();
        assert_eq!(out.len(), 27);
    }

    #[test]
    fn round_trip_of_a_picture_is_close() {
        let (w, h) = (16, 8);
        let rgb = samples::scene(w, h, 3);
        let mut out = Vec::new();
        nv12_to_rgb(&samples::to_nv12(&rgb, w, h), w, h, &mut out).unwrap();
        // Chroma is shared by 2x2 blocks, so compare the top-left pixel of each block.
        for y in (0..h as usize).step_by(2) {
            for x in (0..w as usize).step_by(2) {
                let i = (y * w as usize + x) * 3;
                close(&out[i..i + 3], [rgb[i], rgb[i + 1], rgb[i + 2]], 4);
            }
        }
    }

    #[test]
    fn short_and_odd_buffers_are_errors_longer_ones_are_fine() {
        let mut out = Vec::new();
        assert!(matches!(
            yuyv_to_rgb(&[0; 7], 2, 2, &mut out),
            Err(ConvertError::Short {
                need: 8,
                got: 7,
                ..
            })
        ));
        assert!(matches!(
            yuyv_to_rgb(&[0; 12], 3, 2, &mut out),
            Err(ConvertError::BadSize { .. })
        ));
        assert!(nv12_to_rgb(&[0; 5], 2, 2, &mut out).is_err());
        assert!(nv12_to_rgb(&[], 0, 0, &mut out).is_err());
        assert!(gray_to_rgb(&[0; 3], 2, 2, &mut out).is_err());
        assert!(rgb24_to_rgb(&[0; 11], 2, 2, false, &mut out).is_err());
        // A whole driver buffer, longer than the picture.
        yuyv_to_rgb(&[128; 4096], 2, 2, &mut out).unwrap();
        assert_eq!(out.len(), 12);
        rgb24_to_rgb(&[1, 2, 3, 9, 9, 9], 1, 1, true, &mut out).unwrap();
        assert_eq!(out, [3, 2, 1]);
        gray_to_rgb(&[7, 9], 2, 1, &mut out).unwrap();
        assert_eq!(out, [7, 7, 7, 9, 9, 9]);
    }
}
