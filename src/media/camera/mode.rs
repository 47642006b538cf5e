//! Choosing the camera mode closest to what the user asked for.
//!
//! The rule, in order of importance:
//!
//! 1. **Size.** A mode of exactly the requested width and height wins. Otherwise the closest
//!    size, measured as `|ln(area / requested area)| + |ln(aspect / requested aspect)|`, so
//!    that 1280x720 asked of a camera with 1024x576 and 1280x960 picks the 16:9 one; on a tie,
//!    the larger picture.
//! 2. **Frame rate.** Among modes of that size, the one nearest the requested rate; on a tie,
//!    the faster. A requested rate of 0 means "as fast as possible": the fastest.
//! 3. **Format.** Among modes equal in both, MJPEG (sent as it is: no conversion, no
//!    re-encoding, and what USB 2.0 cameras need for 720p and up at 30 fps), then YUYV, NV12,
//!    RGB, BGR, greyscale.
//!
//! Size comes before frame rate because a wrong size is visible at once, and before format
//! because the user asked for a size, not a format.

use std::cmp::{Ordering, Reverse};
use std::fmt;

/// A camera pixel format this crate can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PixelFormat {
    /// Motion JPEG: every frame a JPEG, sent as it is.
    Mjpeg,
    /// YUV 4:2:2, bytes `Y0 U Y1 V`.
    Yuyv,
    /// YUV 4:2:0, a Y plane then interleaved `U V`.
    Nv12,
    /// Packed RGB24.
    Rgb,
    /// Packed BGR24.
    Bgr,
    /// 8-bit greyscale.
    Gray,
}

impl PixelFormat {
    /// Lower is preferred when everything else is equal.
    fn rank(self) -> u8 {
        self as u8
    }

    /// The usual four-character name.
    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::Mjpeg => "MJPEG",
            PixelFormat::Yuyv => "YUYV",
            PixelFormat::Nv12 => "NV12",
            PixelFormat::Rgb => "RGB3",
            PixelFormat::Bgr => "BGR3",
            PixelFormat::Gray => "GRAY",
        }
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One mode a camera offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mode {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Pixel format.
    pub format: PixelFormat,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}x{} at {} fps",
            self.format, self.width, self.height, self.fps
        )
    }
}

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeRequest {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second; 0 for the fastest.
    pub fps: u32,
}

fn size_distance(m: &Mode, r: &ModeRequest) -> f64 {
    if (m.width, m.height) == (r.width, r.height) {
        return 0.0;
    }
    let f = |v: u32| f64::from(v.max(1));
    let area = (f(m.width) * f(m.height)) / (f(r.width) * f(r.height));
    let aspect = (f(m.width) / f(m.height)) / (f(r.width) / f(r.height));
    area.ln().abs() + aspect.ln().abs()
}

/// The mode closest to `req` by the rule in the module documentation; `None` when `modes` is
/// empty.
pub fn closest_mode(modes: &[Mode], req: &ModeRequest) -> Option<Mode> {
    modes.iter().copied().min_by(|a, b| compare(a, b, req))
}

fn compare(a: &Mode, b: &Mode, r: &ModeRequest) -> Ordering {
    let size = size_distance(a, r).total_cmp(&size_distance(b, r));
    let area = |m: &Mode| Reverse(u64::from(m.width) * u64::from(m.height));
    let fps = |m: &Mode| {
        let off = if r.fps == 0 { 0 } else { m.fps.abs_diff(r.fps) };
        (off, Reverse(m.fps))
    };
    size.then_with(|| area(a).cmp(&area(b)))
        .then_with(|| fps(a).cmp(&fps(b)))
        .then_with(|| a.format.rank().cmp(&b.format.rank()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use PixelFormat::*;

    fn m(width: u32, height: u32, fps: u32, format: PixelFormat) -> Mode {
        Mode {
            width,
            height,
            fps,
            format,
        }
    }

    fn req(width: u32, height: u32, fps: u32) -> ModeRequest {
        ModeRequest { width, height, fps }
    }

    /// A typical USB 2.0 webcam: YUYV only fast at small sizes, MJPEG at every size.
    fn webcam() -> Vec<Mode> {
        vec![
            m(640, 480, 30, Yuyv),
            m(1280, 720, 10, Yuyv),
            m(1920, 1080, 5, Yuyv),
            m(640, 480, 30, Mjpeg),
            m(1280, 720, 30, Mjpeg),
            m(1280, 720, 15, Mjpeg),
            m(1920, 1080, 30, Mjpeg),
        ]
    }

    #[test]
    fn exact_match_prefers_mjpeg() {
        assert_eq!(
            closest_mode(&webcam(), &req(640, 480, 30)),
            Some(m(640, 480, 30, Mjpeg))
        );
        assert_eq!(
            closest_mode(&webcam(), &req(1280, 720, 30)),
            Some(m(1280, 720, 30, Mjpeg))
        );
    }

    #[test]
    fn frame_rate_beats_format_and_nearest_rate_wins() {
        // Only YUYV offers 10 fps at 720p: the asked-for rate wins over the preferred format.
        assert_eq!(
            closest_mode(&webcam(), &req(1280, 720, 10)),
            Some(m(1280, 720, 10, Yuyv))
        );
        // 25 is nearer 30 than 15.
        assert_eq!(
            closest_mode(&webcam(), &req(1280, 720, 25)),
            Some(m(1280, 720, 30, Mjpeg))
        );
        // 0 asks for the fastest.
        assert_eq!(
            closest_mode(&webcam(), &req(1920, 1080, 0)),
            Some(m(1920, 1080, 30, Mjpeg))
        );
        // Equally far from 20: the faster one.
        assert_eq!(
            closest_mode(
                &[m(800, 600, 10, Mjpeg), m(800, 600, 30, Mjpeg)],
                &req(800, 600, 20)
            ),
            Some(m(800, 600, 30, Mjpeg))
        );
    }

    #[test]
    fn missing_size_picks_the_closest_by_area_and_aspect() {
        // 1024x576 (16:9, smaller) against 1280x960 (4:3, larger) for 1280x720.
        let modes = [m(1024, 576, 30, Mjpeg), m(1280, 960, 30, Mjpeg)];
        assert_eq!(
            closest_mode(&modes, &req(1280, 720, 30)),
            Some(m(1024, 576, 30, Mjpeg))
        );
        // 1600x900 is nearer 1920x1080 than 640x480 is, and size beats frame rate.
        let modes = [m(640, 480, 30, Yuyv), m(1600, 900, 5, Yuyv)];
        assert_eq!(
            closest_mode(&modes, &req(1920, 1080, 30)),
            Some(m(1600, 900, 5, Yuyv))
        );
        // A camera that tops out at 720p gives 720p when asked for 1080p.
        let modes = [m(640, 480, 30, Yuyv), m(1280, 720, 30, Yuyv)];
        assert_eq!(
            closest_mode(&modes, &req(1920, 1080, 30)),
            Some(m(1280, 720, 30, Yuyv))
        );
    }

    #[test]
    fn size_beats_format() {
        let modes = [m(1280, 720, 30, Mjpeg), m(640, 480, 30, Nv12)];
        assert_eq!(
            closest_mode(&modes, &req(640, 480, 30)),
            Some(m(640, 480, 30, Nv12))
        );
    }

    #[test]
    fn empty_list_has_no_mode() {
        assert_eq!(closest_mode(&[], &req(640, 480, 30)), None);
    }

    #[test]
    fn order_of_the_list_does_not_matter() {
        let mut modes = webcam();
        let want = closest_mode(&modes, &req(1000, 700, 20));
        modes.reverse();
        assert_eq!(closest_mode(&modes, &req(1000, 700, 20)), want);
    }
}
