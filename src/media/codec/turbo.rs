//! libjpeg-turbo through the `turbojpeg` crate (feature `turbojpeg`): the same interface as
//! [`super::pure`], about three times faster at both ends on x86-64 (README, Benchmarks).
//!
//! Links the system library: building needs `libturbojpeg0-dev` (Debian/Ubuntu), running needs
//! `libturbojpeg0`. The crate's 0.5 line is used because its 1.x line wants libjpeg-turbo 3,
//! which Debian 12 does not ship, or else cmake and nasm to build its own copy.
//!
//! Unlike the pure Rust decoder, libjpeg-turbo also reads the DHT-less MJPEG that many webcams
//! send (it falls back to the standard Huffman tables).

use turbojpeg::{Compressor, Decompressor, Image, PixelFormat, Subsamp, YuvImage};

use super::{check_decode_size, check_rgb_input, fit_scale, guard, CodecError};

/// The byte order of minifb's `0RGB` words in memory: blue first on a little-endian machine.
/// Decoding straight into the `u32` buffer in this order makes the colour conversion free.
#[cfg(target_endian = "little")]
const WORD_FORMAT: PixelFormat = PixelFormat::BGRX;
#[cfg(target_endian = "big")]
const WORD_FORMAT: PixelFormat = PixelFormat::XRGB;

/// What each encoding thread keeps between frames.
struct EncodeState {
    /// A tjhandle is cheap to keep and a few hundred microseconds to make.
    tj: Compressor,
    /// libjpeg-turbo's worst-case output buffer (tjBufSize, about 4 bytes a pixel), zeroed
    /// once when it grows: zeroing it for every frame cost 6% of the sender's CPU, far more
    /// than copying the ~1 byte a pixel of JPEG out of it.
    scratch: Vec<u8>,
}

thread_local! {
    // `encode_rgb` is a free function, so each encoding thread keeps its own state.
    static ENCODER: std::cell::RefCell<Option<EncodeState>> = const { std::cell::RefCell::new(None) };
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
    check_rgb_input(rgb, width, height)?;
    let (w, h) = (width as usize, height as usize);
    let enc_err = |e: turbojpeg::Error| CodecError::Encode(e.to_string());
    ENCODER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let st = match &mut *slot {
            Some(st) => st,
            None => slot.insert(EncodeState {
                tj: Compressor::new().map_err(enc_err)?,
                scratch: Vec::new(),
            }),
        };
        st.tj.set_quality(i32::from(quality.clamp(1, 100)));
        st.tj.set_subsamp(Subsamp::Sub2x2);
        // The worst case, so that libjpeg-turbo never needs to reallocate.
        let cap = st.tj.buf_len(w, h).map_err(enc_err)?;
        if st.scratch.len() < cap {
            st.scratch.resize(cap, 0);
        }
        let image = Image {
            pixels: rgb,
            width: w,
            pitch: w * 3,
            height: h,
            format: PixelFormat::RGB,
        };
        out.clear();
        match st.tj.compress_to_slice(image, &mut st.scratch[..cap]) {
            Ok(n) => {
                out.extend_from_slice(&st.scratch[..n]);
                Ok(())
            }
            Err(e) => {
                // Same caution as the decoder: never reuse a handle that failed.
                *slot = None;
                Err(enc_err(e))
            }
        }
    })
}

/// A raw libjpeg-turbo compressor handle: the `turbojpeg` 0.5 crate has no safe call for
/// encoding from YUV planes, so `tjCompressFromYUV` is called directly.
struct RawCompressor(turbojpeg::raw::tjhandle);

impl Drop for RawCompressor {
    fn drop(&mut self) {
        // SAFETY: the handle came from tjInitCompress, is non-null, and is destroyed once.
        unsafe {
            turbojpeg::raw::tjDestroy(self.0);
        }
    }
}

thread_local! {
    static YUV_ENCODER: std::cell::RefCell<Option<(RawCompressor, Vec<u8>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Encodes planar 4:2:0 (see [`super::i420_len`]) as a baseline 4:2:0 JPEG into `out`,
/// without the colour conversion and downsampling [`encode_rgb`] does: the planes go to the
/// DCT as they are.
pub fn encode_i420(
    yuv: &[u8],
    width: u32,
    height: u32,
    quality: u8,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    use turbojpeg::raw;
    super::check_i420_input(yuv, width, height)?;
    let (w, h) = (
        width as turbojpeg::libc::c_int,
        height as turbojpeg::libc::c_int,
    );
    YUV_ENCODER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            // SAFETY: no arguments; a null result is checked.
            let handle = unsafe { raw::tjInitCompress() };
            if handle.is_null() {
                return Err(CodecError::Encode(
                    "cannot create a libjpeg-turbo compressor".into(),
                ));
            }
            *slot = Some((RawCompressor(handle), Vec::new()));
        }
        let (tj, scratch) = slot.as_mut().expect("set above");
        // SAFETY: plain arithmetic on the sizes.
        let cap = unsafe { raw::tjBufSize(w, h, raw::TJSAMP_TJSAMP_420 as turbojpeg::libc::c_int) };
        if cap == turbojpeg::libc::c_ulong::MAX || cap == 0 {
            return Err(CodecError::TooLarge { width, height });
        }
        let cap = cap as usize;
        if scratch.len() < cap {
            scratch.resize(cap, 0);
        }
        let mut ptr = scratch.as_mut_ptr();
        let mut size = cap as turbojpeg::libc::c_ulong;
        // SAFETY: `yuv` holds exactly i420_len(w, h) bytes (checked), which is what libjpeg-turbo
        // reads with pad 1 and 4:2:0; the output buffer is tjBufSize bytes and NOREALLOC keeps
        // libjpeg-turbo from reallocating or freeing it; `ptr` and `size` outlive the call.
        let r = unsafe {
            raw::tjCompressFromYUV(
                tj.0,
                yuv.as_ptr(),
                w,
                1,
                h,
                raw::TJSAMP_TJSAMP_420 as turbojpeg::libc::c_int,
                &mut ptr,
                &mut size,
                i32::from(quality.clamp(1, 100)),
                raw::TJFLAG_NOREALLOC as turbojpeg::libc::c_int,
            )
        };
        if r != 0 || ptr != scratch.as_mut_ptr() || size as usize > cap {
            // SAFETY: the handle is valid; the string is copied before anything else runs.
            let msg = unsafe { std::ffi::CStr::from_ptr(raw::tjGetErrorStr2(tj.0)) }
                .to_string_lossy()
                .into_owned();
            // Never reuse a handle that failed.
            *slot = None;
            return Err(CodecError::Encode(msg));
        }
        out.clear();
        out.extend_from_slice(&scratch[..size as usize]);
        Ok(())
    })
}

/// A JPEG decoder that keeps its libjpeg-turbo handle and scratch buffer between frames.
pub struct Decoder {
    tj: Option<Decompressor>,
    rgb: Vec<u8>,
    yuv: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with empty buffers. The libjpeg-turbo handle is made on first use, so that a
    /// failure to make it is reported as a decode error rather than a panic here.
    pub fn new() -> Self {
        Decoder {
            tj: None,
            rgb: Vec::new(),
            yuv: Vec::new(),
        }
    }

    fn tj(&mut self) -> Result<&mut Decompressor, CodecError> {
        if self.tj.is_none() {
            self.tj = Some(Decompressor::new().map_err(|e| CodecError::Decode(e.to_string()))?);
        }
        Ok(self.tj.as_mut().expect("just set"))
    }

    /// Reads only the picture size from a JPEG's headers.
    pub fn dimensions(jpeg: &[u8]) -> Result<(u32, u32), CodecError> {
        Decoder::new().header(jpeg)
    }

    /// Reads and bounds the header: nothing is allocated for a picture that fails here.
    fn header(&mut self, jpeg: &[u8]) -> Result<(u32, u32), CodecError> {
        let tj = self.tj()?;
        let r = guard(|| tj.read_header(jpeg));
        let h = self.reset_on_error(r)?;
        check_decode_size(h.width, h.height, jpeg.len())
    }

    /// Drops the handle after a failure: libjpeg-turbo 2.1 can leave a handle that failed
    /// mid-header in a state where the next good frame reads as 0x0. A new handle costs far
    /// less than a frame, and failures are rare.
    fn reset_on_error<T>(&mut self, r: Result<T, CodecError>) -> Result<T, CodecError> {
        if r.is_err() {
            self.tj = None;
        }
        r
    }

    /// Decodes `jpeg` into `out` as `0RGB` words (minifb's pixel format), resizing `out` to
    /// `width * height`. Returns `(width, height)`.
    ///
    /// libjpeg-turbo writes the words directly (as BGRX bytes on a little-endian machine), so
    /// there is no conversion pass. Hostile input gives an error, never a panic, and never more
    /// memory than [`super::MAX_DECODE_SIDE`] squared allows.
    pub fn decode_0rgb(
        &mut self,
        jpeg: &[u8],
        out: &mut Vec<u32>,
    ) -> Result<(u32, u32), CodecError> {
        let (w, h) = self.header(jpeg)?;
        self.decompress_0rgb(jpeg, w, h, out)
    }

    /// Decodes into `out` at `w` x `h`, which libjpeg-turbo must be able to scale to (the
    /// picture's size, or its `TJSCALED` size for one of its factors).
    fn decompress_0rgb(
        &mut self,
        jpeg: &[u8],
        w: u32,
        h: u32,
        out: &mut Vec<u32>,
    ) -> Result<(u32, u32), CodecError> {
        let (wu, hu) = (w as usize, h as usize);
        out.resize(wu * hu, 0);
        let tj = self.tj()?;
        let image = Image {
            pixels: bytemuck::cast_slice_mut::<u32, u8>(out),
            width: wu,
            pitch: wu * 4,
            height: hu,
            format: WORD_FORMAT,
        };
        let r = guard(|| tj.decompress(jpeg, image));
        self.reset_on_error(r)?;
        // The X byte is unspecified in libjpeg-turbo's docs (it writes 0xFF today); minifb
        // ignores it, but 0RGB promises zero.
        if cfg!(target_endian = "little") {
            for px in out.iter_mut() {
                *px &= 0x00FF_FFFF;
            }
        }
        Ok((w, h))
    }

    /// Decodes `jpeg` into `out` as `0RGB` words at the size it will be drawn: fitted, aspect
    /// kept, inside `box_w` x `box_h`, divided by the factor [`super::fit_scale`] picks (1, 2,
    /// 4 or 8; each side rounded up). Returns the decoded `(width, height)`; a box with a zero
    /// side decodes at full size, exactly as [`Decoder::decode_0rgb`].
    ///
    /// libjpeg-turbo scales inside the IDCT, so the work shrinks with the picture. The
    /// `turbojpeg` 0.5 crate has no scaling call: `tjDecompress2` takes the first of its
    /// factors whose `TJSCALED` size fits the `width` and `height` it is given, so this passes
    /// exactly `ceil(side / k)` (a side rounded down would make it fall to the next smaller
    /// factor).
    pub fn decode_0rgb_fit(
        &mut self,
        jpeg: &[u8],
        box_w: u32,
        box_h: u32,
        out: &mut Vec<u32>,
    ) -> Result<(u32, u32), CodecError> {
        let (w, h) = self.header(jpeg)?;
        let k = fit_scale(w, h, box_w, box_h);
        if k == 1 {
            return self.decode_0rgb(jpeg, out);
        }
        self.decompress_0rgb(jpeg, w.div_ceil(k), h.div_ceil(k), out)
    }

    /// Decodes `jpeg` all the way, but only to the planes it was coded in (no chroma
    /// upsampling, no colour conversion): proof that a frame decodes, for a viewer that shows
    /// nothing. About a third cheaper than [`Decoder::decode_0rgb`]. Returns `(width, height)`.
    pub fn decode_check(&mut self, jpeg: &[u8]) -> Result<(u32, u32), CodecError> {
        let tj = self.tj()?;
        let r = guard(|| tj.read_header(jpeg));
        let h = self.reset_on_error(r)?;
        let (w, hgt) = check_decode_size(h.width, h.height, jpeg.len())?;
        let len = turbojpeg::yuv_pixels_len(h.width, 4, h.height, h.subsamp)
            .map_err(|e| CodecError::Decode(e.to_string()))?;
        let mut yuv = std::mem::take(&mut self.yuv);
        yuv.resize(len, 0);
        let tj = self.tj()?;
        let image = YuvImage {
            pixels: &mut yuv[..],
            width: h.width,
            align: 4,
            height: h.height,
            subsamp: h.subsamp,
        };
        let r = guard(|| tj.decompress_to_yuv(jpeg, image));
        self.yuv = yuv;
        self.reset_on_error(r).map(|()| (w, hgt))
    }

    /// Decodes `jpeg` to packed RGB24, kept in this decoder; see [`Decoder::rgb`].
    pub fn decode_rgb(&mut self, jpeg: &[u8]) -> Result<(u32, u32), CodecError> {
        let (w, h) = self.header(jpeg)?;
        let (wu, hu) = (w as usize, h as usize);
        let mut rgb = std::mem::take(&mut self.rgb);
        rgb.resize(wu * hu * 3, 0);
        let tj = self.tj()?;
        let image = Image {
            pixels: &mut rgb[..],
            width: wu,
            pitch: wu * 3,
            height: hu,
            format: PixelFormat::RGB,
        };
        let r = guard(|| tj.decompress(jpeg, image));
        self.rgb = rgb;
        self.reset_on_error(r).map(|()| (w, h))
    }

    /// The RGB24 pixels of the last [`Decoder::decode_rgb`].
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::pure;

    fn noisy(w: u32, h: u32) -> Vec<u8> {
        let mut rng = fastrand::Rng::with_seed(7);
        (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                let n = rng.u8(0..16);
                [(x * 200 / w) as u8 + n, (y * 200 / h) as u8 + n, 100 + n]
            })
            .collect()
    }

    #[test]
    fn agrees_with_the_pure_rust_codec() {
        let (w, h) = (96, 64);
        let src = noisy(w, h);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        encode_rgb(&src, w, h, 85, &mut a).unwrap();
        pure::encode_rgb(&src, w, h, 85, &mut b).unwrap();
        // Each decoder reads the other's JPEG, and the pictures match within rounding.
        for jpeg in [&a, &b] {
            let (mut pa, mut pb) = (Vec::new(), Vec::new());
            assert_eq!(Decoder::new().decode_0rgb(jpeg, &mut pa).unwrap(), (w, h));
            assert_eq!(
                pure::Decoder::new().decode_0rgb(jpeg, &mut pb).unwrap(),
                (w, h)
            );
            let worst = pa
                .iter()
                .zip(&pb)
                .flat_map(|(x, y)| [16, 8, 0].map(|s| ((x >> s) & 0xFF).abs_diff((y >> s) & 0xFF)))
                .max()
                .unwrap();
            // Different IDCTs and chroma upsamplers: a few levels apart at most.
            assert!(worst <= 16, "worst channel difference {worst}");
        }
    }

    /// Flat vertical colour bars, 4:4:4-free of any edge surprises inside a bar.
    fn bars(w: u32, h: u32) -> Vec<u8> {
        const C: [[u8; 3]; 4] = [[200, 40, 40], [40, 200, 40], [40, 40, 200], [220, 220, 60]];
        (0..w * h)
            .flat_map(|i| C[((i % w) * 4 / w) as usize])
            .collect()
    }

    #[test]
    fn scaled_decode_agrees_with_the_pure_box_average() {
        let (w, h) = (641, 481);
        let mut jpeg = Vec::new();
        encode_rgb(&bars(w, h), w, h, 90, &mut jpeg).unwrap();
        for (k, bw, bh) in [(2, 320, 240), (4, 160, 120), (8, 80, 60)] {
            let (mut t, mut p) = (Vec::new(), Vec::new());
            let tsize = Decoder::new()
                .decode_0rgb_fit(&jpeg, bw, bh, &mut t)
                .unwrap();
            let psize = pure::Decoder::new()
                .decode_0rgb_fit(&jpeg, bw, bh, &mut p)
                .unwrap();
            assert_eq!(tsize, (w.div_ceil(k), h.div_ceil(k)), "k={k}");
            assert_eq!(psize, tsize, "k={k}");
            // Away from the bar edges (where the two filters differ by design) the colours
            // agree within JPEG rounding.
            let (sw, sh) = (tsize.0 as usize, tsize.1 as usize);
            let mut worst = 0;
            for y in 2..sh - 2 {
                for x in 2..sw - 2 {
                    let bar_edge = (1..4).any(|b| (x * 4).abs_diff(b * sw) <= 20);
                    if bar_edge {
                        continue;
                    }
                    let (a, b) = (t[y * sw + x], p[y * sw + x]);
                    for s in [16, 8, 0] {
                        worst = worst.max(((a >> s) & 0xFF).abs_diff((b >> s) & 0xFF));
                    }
                }
            }
            assert!(worst <= 12, "k={k}: worst channel difference {worst}");
            assert!(t.iter().all(|p| p >> 24 == 0));
        }
    }

    #[test]
    fn decodes_mjpeg_without_huffman_tables() {
        // Webcams often omit DHT and rely on the standard tables; drop every DHT segment.
        let (w, h) = (32, 32);
        let mut jpeg = Vec::new();
        encode_rgb(&noisy(w, h), w, h, 80, &mut jpeg).unwrap();
        let out = crate::media::camera::fake::samples::without_dht(&jpeg).unwrap();
        assert!(out.len() < jpeg.len(), "a DHT was removed");
        // libjpeg-turbo's encoder writes the standard tables, so the picture is unchanged.
        let (mut p1, mut p2) = (Vec::new(), Vec::new());
        let mut d = Decoder::new();
        d.decode_0rgb(&jpeg, &mut p1).unwrap();
        d.decode_0rgb(&out, &mut p2).unwrap();
        assert_eq!(p1, p2);
    }

    #[test]
    fn both_back_ends_refuse_a_size_the_bytes_cannot_hold() {
        let mut jpeg = Vec::new();
        encode_rgb(&noisy(16, 16), 16, 16, 80, &mut jpeg).unwrap();
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        jpeg[sof + 5..sof + 9].copy_from_slice(&[0x20, 0x00, 0x20, 0x00]); // 8192x8192
        let want = format!(
            "JPEG claims 8192x8192 but its {} bytes cannot hold that picture",
            jpeg.len()
        );
        let mut px = Vec::new();
        let errors = [
            Decoder::new().decode_0rgb(&jpeg, &mut px).unwrap_err(),
            Decoder::new().decode_check(&jpeg).unwrap_err(),
            pure::Decoder::new()
                .decode_0rgb(&jpeg, &mut px)
                .unwrap_err(),
            pure::Decoder::new().decode_check(&jpeg).unwrap_err(),
        ];
        for e in errors {
            assert!(e.to_string().contains(&want), "{e}");
        }
        assert_eq!(px.capacity(), 0);
    }

    #[test]
    fn a_bad_frame_does_not_spoil_the_next() {
        let (w, h) = (48, 32);
        let mut jpeg = Vec::new();
        encode_rgb(&noisy(w, h), w, h, 80, &mut jpeg).unwrap();
        let mut d = Decoder::new();
        let mut px = Vec::new();
        for cut in [10, jpeg.len() / 3, jpeg.len() - 10] {
            let _ = d.decode_0rgb(&jpeg[..cut], &mut px);
            assert_eq!(
                d.decode_0rgb(&jpeg, &mut px).unwrap(),
                (w, h),
                "after a cut at {cut}"
            );
        }
    }
}
