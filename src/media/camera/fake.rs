//! A camera without hardware: replays recorded buffers (with their pixel format) through the
//! same conversion path as a real camera, at a camera's pace, and can act out a camera that is
//! unplugged and comes back. For tests and demos; needs no feature.

use std::thread;
use std::time::{Duration, Instant};

use super::frame::{to_captured_via, BadFrameGuard, RawRoute};
use super::mode::{ModeRequest, PixelFormat};
use super::CameraError;
use crate::media::source::{now_us, CapturedFrame, Source, SourceError};

/// One recorded camera buffer, exactly as a backend would hand it over (for MJPEG, possibly
/// with stale bytes after the JPEG).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedBuffer {
    /// The camera mode's pixel format.
    pub format: PixelFormat,
    /// The camera mode's width.
    pub width: u32,
    /// The camera mode's height.
    pub height: u32,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A live [`Source`] that plays [`RecordedBuffer`]s in a loop.
pub struct FakeCamera {
    buffers: Vec<RecordedBuffer>,
    next: usize,
    interval: Option<Duration>,
    last: Option<Instant>,
    delivered: u64,
    lose_after: Option<u64>,
    reopen_failures: u32,
    reopen_attempts: u32,
    lost: bool,
    guard: BadFrameGuard,
    route: RawRoute,
    label: Option<String>,
}

const NAME: &str = "fake";

/// What `--camera fake:FORMAT` selects: a [`FakeCamera`] made up on the spot
/// ([`FakeCamera::from_selector`]).
pub const SELECTOR_PREFIX: &str = "fake:";

/// The formats `--camera fake:FORMAT` knows, with the route raw frames take.
const SELECTOR_FORMATS: [(&str, PixelFormat, RawRoute); 5] = [
    ("mjpeg", PixelFormat::Mjpeg, RawRoute::I420),
    ("yuyv", PixelFormat::Yuyv, RawRoute::I420),
    ("nv12", PixelFormat::Nv12, RawRoute::I420),
    ("yuyv-rgb", PixelFormat::Yuyv, RawRoute::Rgb),
    ("nv12-rgb", PixelFormat::Nv12, RawRoute::Rgb),
];

/// How many different pictures a selected fake camera plays in a loop.
const SELECTOR_PICTURES: u32 = 4;

impl FakeCamera {
    /// A camera that plays `buffers` in a loop, as fast as it is asked.
    pub fn new(buffers: Vec<RecordedBuffer>) -> Self {
        FakeCamera {
            buffers,
            next: 0,
            interval: None,
            last: None,
            delivered: 0,
            lose_after: None,
            reopen_failures: 0,
            reopen_attempts: 0,
            lost: false,
            guard: BadFrameGuard::new(),
            route: RawRoute::I420,
            label: None,
        }
    }

    /// The camera `--camera fake:FORMAT` names (`name` is what follows `--camera`), or `None`
    /// when `name` does not start with [`SELECTOR_PREFIX`]. FORMAT is `mjpeg`, `yuyv` or
    /// `nv12`, or `yuyv-rgb` or `nv12-rgb` for raw frames that take the RGB route
    /// ([`RawRoute::Rgb`]) to the encoder. It plays a few [`samples::scene`] pictures at
    /// exactly the requested size and rate (0: as fast as it is asked), in any build: for
    /// demos, tests and `scripts/bench-camera.sh`.
    pub fn from_selector(name: &str, mode: &ModeRequest) -> Option<Result<Self, CameraError>> {
        let format = name.strip_prefix(SELECTOR_PREFIX)?.to_ascii_lowercase();
        let fail = |reason: String| {
            Some(Err(CameraError::Backend {
                camera: name.to_string(),
                reason,
            }))
        };
        let Some(&(_, pixel, route)) = SELECTOR_FORMATS.iter().find(|f| f.0 == format) else {
            let known: Vec<_> = SELECTOR_FORMATS.iter().map(|f| f.0).collect();
            return fail(format!(
                "no such fake format; try one of {}",
                known.join(", ")
            ));
        };
        let (w, h) = (mode.width, mode.height);
        let even = w.is_multiple_of(2) && (h.is_multiple_of(2) || pixel != PixelFormat::Nv12);
        if w == 0 || h == 0 || w > 8192 || h > 8192 || !even {
            return fail(format!("cannot make {} pictures of {w}x{h}", pixel.name()));
        }
        let mut buffers = Vec::new();
        for seed in 0..SELECTOR_PICTURES {
            let rgb = samples::scene(w, h, seed * 17);
            let bytes = match pixel {
                PixelFormat::Mjpeg => match samples::jpeg(&rgb, w, h) {
                    Ok(j) => j,
                    Err(e) => return fail(e.to_string()),
                },
                PixelFormat::Yuyv => samples::to_yuyv(&rgb, w, h),
                _ => samples::to_nv12(&rgb, w, h),
            };
            buffers.push(RecordedBuffer {
                format: pixel,
                width: w,
                height: h,
                bytes,
            });
        }
        let mut cam = FakeCamera::new(buffers)
            .with_fps(f64::from(mode.fps))
            .via(route);
        cam.label = Some(format!(
            "fake camera {} {w}x{h} at {} fps{}",
            pixel.name(),
            mode.fps,
            if route == RawRoute::Rgb {
                " (through RGB)"
            } else {
                ""
            }
        ));
        Some(Ok(cam))
    }

    /// Sends YUYV and NV12 frames to the encoder by `route`.
    pub fn via(mut self, route: RawRoute) -> Self {
        self.route = route;
        self
    }

    /// Delivers at most `fps` frames a second, as a camera does.
    pub fn with_fps(mut self, fps: f64) -> Self {
        self.interval = (fps > 0.0).then(|| Duration::from_secs_f64(1.0 / fps));
        self
    }

    /// Acts out an unplugged camera: after `frames` frames it fails with
    /// [`CameraError::Lost`], then refuses `reopen_failures` reopen attempts before it comes
    /// back.
    pub fn losing_after(mut self, frames: u64, reopen_failures: u32) -> Self {
        self.lose_after = Some(frames);
        self.reopen_failures = reopen_failures;
        self
    }

    /// How many times [`Source::reopen`] was called.
    pub fn reopen_attempts(&self) -> u32 {
        self.reopen_attempts
    }

    fn pace(&mut self) {
        if let (Some(interval), Some(last)) = (self.interval, self.last) {
            let due = last + interval;
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
        }
        self.last = Some(Instant::now());
    }
}

impl Source for FakeCamera {
    fn next_frame(&mut self) -> Result<Option<CapturedFrame>, SourceError> {
        if self.lose_after == Some(self.delivered) || self.lost {
            self.lose_after = None;
            self.lost = true;
            return Err(CameraError::Lost {
                camera: NAME.into(),
                reason: "No such device (os error 19)".into(),
            }
            .into());
        }
        if self.buffers.is_empty() {
            return Err(CameraError::Backend {
                camera: NAME.into(),
                reason: "no recorded buffers".into(),
            }
            .into());
        }
        loop {
            self.pace();
            let b = &self.buffers[self.next % self.buffers.len()];
            self.next = (self.next + 1) % self.buffers.len();
            let frame =
                to_captured_via(self.route, b.format, b.width, b.height, &b.bytes, now_us());
            if let Some(f) = self.guard.check(NAME, frame)? {
                self.delivered += 1;
                return Ok(Some(f));
            }
        }
    }

    fn describe(&self) -> String {
        match &self.label {
            Some(l) => l.clone(),
            None => format!("fake camera ({} recorded buffers)", self.buffers.len()),
        }
    }

    fn is_live(&self) -> bool {
        true
    }

    fn reopen(&mut self) -> Result<(), SourceError> {
        self.reopen_attempts += 1;
        if self.reopen_failures > 0 {
            self.reopen_failures -= 1;
            return Err(
                CameraError::opening(NAME, "No such file or directory (os error 2)").into(),
            );
        }
        self.lost = false;
        self.last = None;
        Ok(())
    }
}

/// Camera-like buffers made from any RGB picture: the quirks of real webcams, reproduced.
pub mod samples {
    use crate::media::camera::mjpeg;
    use crate::media::codec::{encode_rgb, CodecError};

    /// A picture with gradients, flat colour and fine detail (so its JPEG has stuffed `FF 00`
    /// bytes in the scan data), varied by `seed`.
    pub fn scene(width: u32, height: u32, seed: u32) -> Vec<u8> {
        let mut v = Vec::with_capacity(width as usize * height as usize * 3);
        for y in 0..height {
            for x in 0..width {
                let noise = (x.wrapping_mul(7919) ^ y.wrapping_mul(104_729) ^ seed) % 23;
                let px = if x < width / 4 {
                    [230, 40, 30]
                } else {
                    [
                        ((x * 255 / width.max(1)) + noise) as u8,
                        ((y * 255 / height.max(1)) ^ (seed & 0x3F)) as u8,
                        (((x + y) * 4) % 256) as u8,
                    ]
                };
                v.extend_from_slice(&px);
            }
        }
        v
    }

    /// A baseline JPEG of `rgb` from the project's encoder, with Huffman tables.
    pub fn jpeg(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        encode_rgb(rgb, width, height, 90, &mut out)?;
        Ok(out)
    }

    /// A 4:2:2 JPEG with a restart marker every `interval` MCUs, as UVC cameras such as the
    /// Logitech C920 send.
    pub fn jpeg_with_restarts(
        rgb: &[u8],
        width: u16,
        height: u16,
        interval: u16,
    ) -> Result<Vec<u8>, CodecError> {
        libjpeg_turbo_rs::Encoder::new(
            rgb,
            width.into(),
            height.into(),
            libjpeg_turbo_rs::PixelFormat::Rgb,
        )
        .quality(90)
        .subsampling(libjpeg_turbo_rs::Subsampling::S422)
        .restart_blocks(interval)
        .encode()
        .map_err(|e| CodecError::Encode(e.to_string()))
    }

    /// `jpeg` without its DHT segments, as cameras that rely on the standard tables send it.
    /// `None` if `jpeg` is not a plain sequence of marker segments up to its first scan.
    pub fn without_dht(jpeg: &[u8]) -> Option<Vec<u8>> {
        let layout = mjpeg::parse(jpeg).ok()?;
        let mut out = jpeg.get(..2)?.to_vec();
        let mut i = 2;
        while i < layout.first_sos {
            let seg = jpeg.get(i..i + 4)?;
            if seg[0] != 0xFF {
                return None;
            }
            let end = i + 2 + usize::from(u16::from_be_bytes([seg[2], seg[3]]));
            if seg[1] != 0xC4 {
                out.extend_from_slice(jpeg.get(i..end)?);
            }
            i = end;
        }
        out.extend_from_slice(jpeg.get(i..layout.len)?);
        Some(out)
    }

    /// `jpeg` at the start of a reused driver buffer: followed by the tail of an older, longer
    /// frame (with its own `FF D9`) and zeros up to `total` bytes.
    pub fn in_stale_buffer(jpeg: &[u8], total: usize) -> Vec<u8> {
        let mut buf = jpeg.to_vec();
        buf.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD9]);
        buf.extend_from_slice(&[0xA5; 64]);
        buf.extend_from_slice(&[0xFF, 0xD9]);
        buf.resize(total.max(buf.len()), 0);
        buf
    }

    fn yuv(px: &[u8]) -> (i32, i32, i32) {
        let (r, g, b) = (i32::from(px[0]), i32::from(px[1]), i32::from(px[2]));
        (
            ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16,
            ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128,
            ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128,
        )
    }

    /// `rgb` as YUYV 4:2:2 (limited-range BT.601), chroma averaged over each pixel pair.
    /// `width` must be even.
    pub fn to_yuyv(rgb: &[u8], width: u32, height: u32) -> Vec<u8> {
        let n = width as usize * height as usize;
        let mut out = Vec::with_capacity(n * 2);
        for pair in rgb[..n * 3].chunks_exact(6) {
            let (y0, u0, v0) = yuv(&pair[..3]);
            let (y1, u1, v1) = yuv(&pair[3..]);
            out.extend_from_slice(&[
                y0 as u8,
                ((u0 + u1) / 2) as u8,
                y1 as u8,
                ((v0 + v1) / 2) as u8,
            ]);
        }
        out
    }

    /// `rgb` as NV12 (limited-range BT.601), chroma taken from each 2x2 block's top-left
    /// pixel. `width` and `height` must be even.
    pub fn to_nv12(rgb: &[u8], width: u32, height: u32) -> Vec<u8> {
        let (w, h) = (width as usize, height as usize);
        let mut out: Vec<u8> = rgb[..w * h * 3]
            .chunks_exact(3)
            .map(|px| yuv(px).0 as u8)
            .collect();
        for y in (0..h).step_by(2) {
            for x in (0..w).step_by(2) {
                let (_, u, v) = yuv(&rgb[(y * w + x) * 3..]);
                out.extend_from_slice(&[u as u8, v as u8]);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::samples::*;
    use super::*;
    use crate::media::codec::Decoder;
    use crate::media::source::Pixels;

    fn mjpeg(bytes: Vec<u8>, width: u32, height: u32) -> RecordedBuffer {
        RecordedBuffer {
            format: PixelFormat::Mjpeg,
            width,
            height,
            bytes,
        }
    }

    fn decoded(jpeg: &[u8]) -> Vec<u8> {
        let mut d = Decoder::new();
        d.decode_rgb(jpeg).unwrap();
        d.rgb().to_vec()
    }

    #[test]
    fn every_camera_quirk_comes_out_as_a_clean_picture() {
        let (w, h) = (64u32, 32u32);
        let rgb = scene(w, h, 5);
        let plain = jpeg(&rgb, w, h).unwrap();
        let bare = without_dht(&plain).unwrap();
        let rst = jpeg_with_restarts(&rgb, w as u16, h as u16, 2).unwrap();
        let rst_bare = without_dht(&rst).unwrap();
        let mut cam = FakeCamera::new(vec![
            mjpeg(in_stale_buffer(&plain, 65_536), w, h),
            mjpeg(in_stale_buffer(&bare, 65_536), w, h),
            mjpeg(in_stale_buffer(&rst_bare, 65_536), w, h),
            RecordedBuffer {
                format: PixelFormat::Yuyv,
                width: w,
                height: h,
                bytes: to_yuyv(&rgb, w, h),
            },
            RecordedBuffer {
                format: PixelFormat::Nv12,
                width: w,
                height: h,
                bytes: to_nv12(&rgb, w, h),
            },
        ]);
        assert!(cam.is_live());
        let mut next = || cam.next_frame().unwrap().unwrap();

        // With tables: the camera's bytes exactly, cut at EOI.
        let f = next();
        assert_eq!((f.width, f.height), (w, h));
        assert_eq!(f.pixels, Pixels::Jpeg(plain.clone()));
        // Without tables: tables added, same picture.
        let Pixels::Jpeg(fixed) = next().pixels else {
            panic!("not passed through")
        };
        assert_eq!(
            fixed.len(),
            bare.len() + crate::media::camera::mjpeg::STANDARD_DHT.len()
        );
        assert_eq!(decoded(&fixed), decoded(&plain));
        let Pixels::Jpeg(fixed) = next().pixels else {
            panic!("not passed through")
        };
        assert_eq!(decoded(&fixed), decoded(&rst));
        // Raw formats become 4:2:0 (full range, as JPEG stores it), close to the original.
        for _ in 0..2 {
            let f = next();
            let Pixels::I420(yuv) = f.pixels else {
                panic!("raw frames go to the encoder as 4:2:0")
            };
            let mut out = Vec::new();
            crate::media::codec::i420_to_rgb(&yuv, w, h, &mut out).unwrap();
            assert_eq!(out.len(), rgb.len());
            let total: i64 = out
                .iter()
                .zip(&rgb)
                .map(|(a, b)| i64::from((i32::from(*a) - i32::from(*b)).abs()))
                .sum();
            let mean = total as f64 / rgb.len() as f64;
            // Chroma subsampling blurs colour edges a little; a wrong byte order or
            // range is off by tens on average.
            assert!(mean < 10.0, "mean channel error {mean}");
            // The flat red quarter is exact within the integer rounding.
            assert!(out[..3]
                .iter()
                .zip([230, 40, 30])
                .all(|(a, b)| (i32::from(*a) - b).abs() <= 3));
        }
        // And round again.
        assert_eq!(next().pixels, Pixels::Jpeg(plain));
    }

    #[test]
    fn the_rgb_route_and_odd_sizes_give_rgb() {
        let (w, h) = (16u32, 8u32);
        let rgb = scene(w, h, 1);
        let yuyv = RecordedBuffer {
            format: PixelFormat::Yuyv,
            width: w,
            height: h,
            bytes: to_yuyv(&rgb, w, h),
        };
        let mut cam = FakeCamera::new(vec![yuyv.clone()]).via(RawRoute::Rgb);
        let f = cam.next_frame().unwrap().unwrap();
        assert!(matches!(&f.pixels, Pixels::Rgb(p) if p.len() == rgb.len()));
        // 16x7: 4:2:0 planes cannot hold an odd height, so RGB it is.
        let odd = RecordedBuffer { height: 7, ..yuyv };
        let f = FakeCamera::new(vec![odd]).next_frame().unwrap().unwrap();
        assert!(matches!(&f.pixels, Pixels::Rgb(p) if p.len() == 16 * 7 * 3));
    }

    #[test]
    fn selectors_make_fake_cameras_of_the_requested_mode() {
        let mode = |width, height| ModeRequest {
            width,
            height,
            fps: 0,
        };
        assert!(FakeCamera::from_selector("HD Webcam", &mode(64, 48)).is_none());
        for (name, want) in [
            ("fake:mjpeg", "JPEG"),
            ("fake:YUYV", "4:2:0"),
            ("fake:nv12", "4:2:0"),
            ("fake:yuyv-rgb", "RGB"),
            ("fake:nv12-rgb", "RGB"),
        ] {
            let mut cam = FakeCamera::from_selector(name, &mode(64, 48))
                .unwrap()
                .unwrap();
            assert!(cam.describe().contains("64x48"), "{}", cam.describe());
            let kinds: Vec<_> = (0..SELECTOR_PICTURES + 1)
                .map(|_| {
                    let f = cam.next_frame().unwrap().unwrap();
                    assert_eq!((f.width, f.height), (64, 48));
                    match f.pixels {
                        Pixels::Jpeg(_) => "JPEG",
                        Pixels::I420(_) => "4:2:0",
                        Pixels::Rgb(_) => "RGB",
                    }
                })
                .collect();
            assert!(kinds.iter().all(|k| *k == want), "{name}: {kinds:?}");
        }
        for (name, w, h) in [
            ("fake:h264", 64, 48),
            ("fake:yuyv", 63, 48),
            ("fake:nv12", 64, 47),
        ] {
            let e = FakeCamera::from_selector(name, &mode(w, h))
                .unwrap()
                .err()
                .unwrap();
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }

    #[test]
    fn odd_bad_frames_are_skipped_a_broken_camera_is_an_error() {
        let good = jpeg(&scene(16, 16, 0), 16, 16).unwrap();
        let mut cam = FakeCamera::new(vec![
            mjpeg(vec![0x94, 0x94, 0x94], 16, 16),
            mjpeg(good.clone(), 16, 16),
        ]);
        for _ in 0..3 {
            assert_eq!(
                cam.next_frame().unwrap().unwrap().pixels,
                Pixels::Jpeg(good.clone())
            );
        }
        let mut broken = FakeCamera::new(vec![mjpeg(vec![0; 100], 16, 16)]);
        let e = broken.next_frame().err().unwrap();
        assert!(!e.is_lost());
        assert!(e.to_string().contains("30 unreadable frames"), "{e}");
    }

    #[test]
    fn an_unplugged_camera_is_lost_then_reopened() {
        let good = jpeg(&scene(16, 16, 0), 16, 16).unwrap();
        let mut cam = FakeCamera::new(vec![mjpeg(good, 16, 16)]).losing_after(2, 1);
        assert!(cam.next_frame().unwrap().is_some());
        assert!(cam.next_frame().unwrap().is_some());
        let e = cam.next_frame().err().unwrap();
        assert!(e.is_lost(), "{e}");
        assert!(e.to_string().contains("stopped"), "{e}");
        // Still lost until reopened.
        assert!(cam.next_frame().err().unwrap().is_lost());
        let e = cam.reopen().err().unwrap();
        assert!(e.to_string().contains("no camera"), "{e}");
        cam.reopen().unwrap();
        assert_eq!(cam.reopen_attempts(), 2);
        assert!(cam.next_frame().unwrap().is_some());
    }

    #[test]
    fn paced_like_a_camera() {
        let good = jpeg(&scene(16, 16, 0), 16, 16).unwrap();
        let mut cam = FakeCamera::new(vec![mjpeg(good, 16, 16)]).with_fps(50.0);
        let t = Instant::now();
        for _ in 0..6 {
            cam.next_frame().unwrap();
        }
        assert!(
            t.elapsed() >= Duration::from_millis(95),
            "{:?}",
            t.elapsed()
        );
    }
}
