//! Raw camera pixel formats for the encoder: YUYV and NV12 to planar 4:2:0 (the encoder's own
//! input, no colour conversion), and every format to packed RGB24 (odd-sized pictures, and the
//! formats that are RGB or grey already).
//!
//! Cameras (UVC) send YUYV and NV12 as BT.601 with limited ("studio") range: Y in 16..=235, U
//! and V in 16..=240 around 128. JPEG (JFIF) is BT.601 with full range, so the 4:2:0 converters
//! only stretch the range, through two 256-entry tables ([`Y_FULL`], [`C_FULL`]). The RGB
//! converters use fixed-point coefficients scaled by 256: exact enough (±1) and fast without
//! floating point.
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
    /// A width or height the format cannot have (zero, an odd YUYV width, or odd sides for
    /// planar 4:2:0).
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

/// Limited-range luma to full range: `(Y - 16) * 255 / 219`, rounded and clamped to 0..=255.
pub static Y_FULL: [u8; 256] = range_table(16, 255, 219);

/// Limited-range chroma to full range: `(C - 128) * 255 / 224 + 128`, rounded and clamped.
pub static C_FULL: [u8; 256] = range_table(128, 255, 224);

/// `v -> round((v - zero) * num / den) + (zero == 128 ? 128 : 0)`, clamped, for every byte.
const fn range_table(zero: i32, num: i32, den: i32) -> [u8; 256] {
    let offset = if zero == 128 { 128 } else { 0 };
    let mut t = [0u8; 256];
    let mut v = 0;
    while v < 256 {
        // floor(x + 1/2) in integers: rounds halves up, for negative x too.
        let scaled = ((v - zero) * num * 2 + den).div_euclid(2 * den) + offset;
        t[v as usize] = if scaled < 0 {
            0
        } else if scaled > 255 {
            255
        } else {
            scaled as u8
        };
        v += 1;
    }
    t
}

/// Planar 4:2:0 here has even sides (see [`crate::media::codec::i420_len`]).
fn even_sides(format: &'static str, width: u32, height: u32) -> Result<(), ConvertError> {
    if width.is_multiple_of(2) && height.is_multiple_of(2) {
        Ok(())
    } else {
        Err(ConvertError::BadSize {
            format,
            width,
            height,
        })
    }
}

/// YUYV 4:2:2 (`Y0 U Y1 V`) to planar 4:2:0 in full range, the layout of
/// [`crate::media::codec::i420_len`], into `out` (resized). Each 2x2 block's chroma is the
/// average of its two rows' samples. Sides must be even (odd-sized pictures go through
/// [`yuyv_to_rgb`]).
pub fn yuyv_to_i420(
    src: &[u8],
    width: u32,
    height: u32,
    out: &mut Vec<u8>,
) -> Result<(), ConvertError> {
    even_sides("YUYV", width, height)?;
    let (w, h) = (width as usize, height as usize);
    check("YUYV", width, height, w * h * 2, src.len())?;
    let (cw, ch) = (w / 2, h / 2);
    out.resize(w * h + 2 * cw * ch, 0);
    let (ys, chroma) = out.split_at_mut(w * h);
    let (us, vs) = chroma.split_at_mut(cw * ch);
    let rows = src[..w * h * 2].chunks_exact(w * 4);
    let y_rows = ys.chunks_exact_mut(w * 2);
    for (((pair, y_pair), u_row), v_row) in rows
        .zip(y_rows)
        .zip(us.chunks_exact_mut(cw))
        .zip(vs.chunks_exact_mut(cw))
    {
        let (top, bottom) = pair.split_at(w * 2);
        let (y_top, y_bottom) = y_pair.split_at_mut(w);
        for ((((a, b), yt), yb), (u, v)) in top
            .chunks_exact(4)
            .zip(bottom.chunks_exact(4))
            .zip(y_top.chunks_exact_mut(2))
            .zip(y_bottom.chunks_exact_mut(2))
            .zip(u_row.iter_mut().zip(v_row.iter_mut()))
        {
            yt[0] = Y_FULL[usize::from(a[0])];
            yt[1] = Y_FULL[usize::from(a[2])];
            yb[0] = Y_FULL[usize::from(b[0])];
            yb[1] = Y_FULL[usize::from(b[2])];
            *u = C_FULL[(usize::from(a[1]) + usize::from(b[1]) + 1) >> 1];
            *v = C_FULL[(usize::from(a[3]) + usize::from(b[3]) + 1) >> 1];
        }
    }
    Ok(())
}

/// NV12 (a Y plane, then interleaved `U V` pairs, one per 2x2 block) to planar 4:2:0 in full
/// range, the layout of [`crate::media::codec::i420_len`], into `out` (resized): the chroma is
/// de-interleaved, nothing is resampled. Sides must be even (odd-sized pictures go through
/// [`nv12_to_rgb`]).
pub fn nv12_to_i420(
    src: &[u8],
    width: u32,
    height: u32,
    out: &mut Vec<u8>,
) -> Result<(), ConvertError> {
    even_sides("NV12", width, height)?;
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w / 2, h / 2);
    check("NV12", width, height, w * h + cw * ch * 2, src.len())?;
    out.resize(w * h + 2 * cw * ch, 0);
    let (ys, chroma) = out.split_at_mut(w * h);
    let (us, vs) = chroma.split_at_mut(cw * ch);
    for (o, &i) in ys.iter_mut().zip(&src[..w * h]) {
        *o = Y_FULL[usize::from(i)];
    }
    let uv = &src[w * h..w * h + cw * ch * 2];
    for ((pair, u), v) in uv.chunks_exact(2).zip(us.iter_mut()).zip(vs.iter_mut()) {
        *u = C_FULL[usize::from(pair[0])];
        *v = C_FULL[usize::from(pair[1])];
    }
    Ok(())
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

    #[test]
    fn range_tables_match_a_float_reference() {
        for v in 0..=255u8 {
            let f = |x: f64| x.round().clamp(0.0, 255.0) as i32;
            let y = f((f64::from(v) - 16.0) * 255.0 / 219.0);
            let c = f((f64::from(v) - 128.0) * 255.0 / 224.0 + 128.0);
            assert!((i32::from(Y_FULL[usize::from(v)]) - y).abs() <= 1, "Y {v}");
            assert!((i32::from(C_FULL[usize::from(v)]) - c).abs() <= 1, "C {v}");
        }
        // Black, white and neutral are exact; out-of-range input clamps.
        assert_eq!((Y_FULL[16], Y_FULL[235], Y_FULL[126]), (0, 255, 128));
        assert_eq!((Y_FULL[0], Y_FULL[255]), (0, 255));
        assert_eq!((C_FULL[128], C_FULL[16], C_FULL[240]), (128, 1, 255));
        assert_eq!((C_FULL[0], C_FULL[255]), (0, 255));
    }

    /// The limited-range BT.601 values of black, white, grey and the primaries and
    /// secondaries, with the full-range RGB they stand for.
    const GOLDEN: [([u8; 3], [u8; 3]); 9] = [
        ([16, 128, 128], [0, 0, 0]),
        ([235, 128, 128], [255, 255, 255]),
        ([126, 128, 128], [128, 128, 128]),
        ([81, 90, 240], [255, 0, 0]),
        ([145, 54, 34], [0, 255, 0]),
        ([41, 240, 110], [0, 0, 255]),
        ([210, 16, 146], [255, 255, 0]),
        ([169, 166, 16], [0, 255, 255]),
        ([107, 202, 222], [255, 0, 255]),
    ];

    /// Full-range YCbCr (what JPEG stores) of `rgb`, from the codec's own converter.
    fn jpeg_ycbcr(rgb: [u8; 3]) -> [u8; 3] {
        crate::media::codec::rgb_to_ycbcr(rgb)
    }

    fn within(got: [u8; 3], want: [u8; 3], tol: i32, what: &str) {
        for k in 0..3 {
            assert!(
                (i32::from(got[k]) - i32::from(want[k])).abs() <= tol,
                "{what}: {got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn golden_colours_become_jpegs_full_range() {
        for (yuv, rgb) in GOLDEN {
            // A flat 4x2 picture of one colour, both ways in.
            let [y, u, v] = yuv;
            let yuyv: Vec<u8> = [y, u, y, v].repeat(4);
            let nv12: Vec<u8> = [vec![y; 8], [u, v].repeat(2)].concat();
            let want = jpeg_ycbcr(rgb);
            for (name, out) in [
                ("YUYV", {
                    let mut o = Vec::new();
                    yuyv_to_i420(&yuyv, 4, 2, &mut o).unwrap();
                    o
                }),
                ("NV12", {
                    let mut o = Vec::new();
                    nv12_to_i420(&nv12, 4, 2, &mut o).unwrap();
                    o
                }),
            ] {
                assert_eq!(out.len(), crate::media::codec::i420_len(4, 2));
                assert!(out[..8].iter().all(|&l| l == out[0]), "{name} {rgb:?}");
                // Y, then U of both blocks, then V of both blocks.
                assert_eq!(out[8], out[9]);
                assert_eq!(out[10], out[11]);
                // The limited-range values are themselves rounded: 2 steps of slack.
                within([out[0], out[8], out[10]], want, 2, name);
            }
        }
        // Black, white and grey exactly.
        let mut o = Vec::new();
        nv12_to_i420(
            &[16, 235, 16, 235, 126, 126, 126, 126, 128, 128, 128, 128],
            4,
            2,
            &mut o,
        )
        .unwrap();
        assert_eq!(o, [0, 255, 0, 255, 128, 128, 128, 128, 128, 128, 128, 128]);
    }

    #[test]
    fn yuyv_averages_the_two_rows_chroma_nv12_only_deinterleaves() {
        // 2x2: row 0 says U 100 V 200, row 1 says U 110 V 150; Y differs per pixel.
        let yuyv = [16, 100, 235, 200, 126, 110, 81, 150];
        let mut o = Vec::new();
        yuyv_to_i420(&yuyv, 2, 2, &mut o).unwrap();
        assert_eq!(
            o,
            [
                Y_FULL[16],
                Y_FULL[235],
                Y_FULL[126],
                Y_FULL[81],
                C_FULL[105],
                C_FULL[175]
            ]
        );
        // 4x4 NV12: four blocks, U V pairs in block order.
        let mut nv12 = vec![126; 16];
        nv12.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        nv12_to_i420(&nv12, 4, 4, &mut o).unwrap();
        assert_eq!(&o[16..], [1, 3, 5, 7, 2, 4, 6, 8].map(|c| C_FULL[c]));
    }

    #[test]
    fn i420_converters_refuse_what_the_rgb_ones_refuse_and_odd_sides() {
        let mut out = vec![9; 3];
        assert!(matches!(
            yuyv_to_i420(&[0; 7], 2, 2, &mut out),
            Err(ConvertError::Short {
                need: 8,
                got: 7,
                ..
            })
        ));
        assert!(matches!(
            nv12_to_i420(&[0; 5], 2, 2, &mut out),
            Err(ConvertError::Short {
                need: 6,
                got: 5,
                ..
            })
        ));
        for (w, h) in [(0, 0), (0, 2), (2, 0), (3, 2), (2, 3), (1, 1)] {
            let big = [128; 64];
            assert!(
                matches!(
                    yuyv_to_i420(&big, w, h, &mut out),
                    Err(ConvertError::BadSize { .. })
                ),
                "YUYV {w}x{h}"
            );
            assert!(
                matches!(
                    nv12_to_i420(&big, w, h, &mut out),
                    Err(ConvertError::BadSize { .. })
                ),
                "NV12 {w}x{h}"
            );
        }
        assert_eq!(out, [9; 3], "untouched on error");
        // A whole driver buffer, longer than the picture; the output buffer is reused.
        let mut out = Vec::with_capacity(64);
        let cap = out.capacity();
        yuyv_to_i420(&[128; 4096], 2, 2, &mut out).unwrap();
        assert_eq!(
            out,
            [Y_FULL[128], Y_FULL[128], Y_FULL[128], Y_FULL[128], 128, 128]
        );
        nv12_to_i420(&[128; 4096], 4, 2, &mut out).unwrap();
        assert_eq!(out.len(), 12);
        assert_eq!(out.capacity(), cap);
    }

    /// Mean absolute difference per channel of two RGB24 pictures.
    fn mean_diff(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        let total: u64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .sum();
        total as f64 / a.len() as f64
    }

    #[test]
    fn frames_encoded_via_i420_decode_like_the_rgb_path() {
        use crate::media::codec::{encode_i420, encode_rgb, Decoder};
        let (w, h) = (64, 48);
        let scene = samples::scene(w, h, 7);
        let decode = |jpeg: &[u8]| {
            let mut d = Decoder::new();
            d.decode_rgb(jpeg).unwrap();
            d.rgb().to_vec()
        };
        for (name, raw, to_rgb, to_i420) in [
            (
                "YUYV",
                samples::to_yuyv(&scene, w, h),
                yuyv_to_rgb as fn(&[u8], u32, u32, &mut Vec<u8>) -> Result<(), ConvertError>,
                yuyv_to_i420 as fn(&[u8], u32, u32, &mut Vec<u8>) -> Result<(), ConvertError>,
            ),
            (
                "NV12",
                samples::to_nv12(&scene, w, h),
                nv12_to_rgb,
                nv12_to_i420,
            ),
        ] {
            let (mut rgb, mut yuv, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            to_rgb(&raw, w, h, &mut rgb).unwrap();
            encode_rgb(&rgb, w, h, 90, &mut a).unwrap();
            to_i420(&raw, w, h, &mut yuv).unwrap();
            encode_i420(&yuv, w, h, 90, &mut b).unwrap();
            let (old, new) = (decode(&a), decode(&b));
            // The scene's noise and sharp colour edges are where the two differ: the RGB
            // path's chroma is each YUYV row's, the encoder's 4:2:0 then takes one of them
            // (jpeg-encoder) or averages (libjpeg-turbo); the 4:2:0 path averages the rows.
            let mean = mean_diff(&old, &new);
            assert!(mean < 5.0, "{name}: mean channel difference {mean}");
            // And the new path is no farther from the scene than the old one.
            let (was, is) = (mean_diff(&old, &scene), mean_diff(&new, &scene));
            assert!(is < 10.0 && is <= was + 0.25, "{name}: {is} vs {was}");
            // The flat red quarter: the same colour both ways, and the scene's.
            for (x, y) in [(2, 2), (9, 30)] {
                let i = (y * w as usize + x) * 3;
                within(
                    [new[i], new[i + 1], new[i + 2]],
                    [old[i], old[i + 1], old[i + 2]],
                    3,
                    name,
                );
                within([new[i], new[i + 1], new[i + 2]], [230, 40, 30], 5, name);
            }
        }
    }
}
