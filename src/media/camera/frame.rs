//! One camera buffer to one [`CapturedFrame`]: the code path shared by the real camera and
//! [`FakeCamera`](super::fake::FakeCamera).
//!
//! MJPEG is passed through (cut at EOI, standard Huffman tables added when missing), so the
//! camera's own compression is sent without a decode and re-encode. YUYV and NV12 become planar
//! 4:2:0 ([`Pixels::I420`]), the encoder's own input, with no RGB on the way: both codecs take
//! it without a colour conversion. Odd-sized YUYV or NV12 pictures (which 4:2:0 planes here
//! cannot hold), and the RGB, BGR and grey formats, are converted to RGB.

use super::convert::{
    gray_to_rgb, nv12_to_i420, nv12_to_rgb, rgb24_to_rgb, yuyv_to_i420, yuyv_to_rgb, ConvertError,
};
use super::mjpeg;
use super::mode::PixelFormat;
use super::CameraError;
use crate::media::source::{CapturedFrame, Pixels};

/// Unreadable frames in a row before the camera counts as broken: a camera may send a bad
/// frame now and then (USB hiccups), which is skipped, but one that sends nothing else would
/// otherwise leave the viewer blank with no explanation.
pub const MAX_BAD_FRAMES: u32 = 30;

/// How YUYV and NV12 frames are handed to the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RawRoute {
    /// Planar 4:2:0 (odd-sized pictures RGB): what cameras use.
    #[default]
    I420,
    /// Always RGB: the way before 4:2:0, kept to measure against (`cam-send --camera
    /// fake:yuyv-rgb`).
    Rgb,
}

/// Converts one camera buffer. `width` and `height` are the camera mode's; for MJPEG the
/// picture size comes from the JPEG itself.
pub fn to_captured(
    format: PixelFormat,
    width: u32,
    height: u32,
    buf: &[u8],
    timestamp_us: u64,
) -> Result<CapturedFrame, String> {
    to_captured_via(RawRoute::I420, format, width, height, buf, timestamp_us)
}

/// [`to_captured`], with YUYV and NV12 taking `route`.
pub fn to_captured_via(
    route: RawRoute,
    format: PixelFormat,
    width: u32,
    height: u32,
    buf: &[u8],
    timestamp_us: u64,
) -> Result<CapturedFrame, String> {
    type Convert = fn(&[u8], u32, u32, &mut Vec<u8>) -> Result<(), ConvertError>;
    let planar = route == RawRoute::I420 && width.is_multiple_of(2) && height.is_multiple_of(2);
    let (convert, i420): (Convert, bool) = match format {
        PixelFormat::Mjpeg => {
            let (jpeg, w, h) = mjpeg::passthrough(buf).map_err(|e| e.to_string())?;
            return Ok(CapturedFrame {
                width: u32::from(w),
                height: u32::from(h),
                pixels: Pixels::Jpeg(jpeg),
                timestamp_us,
            });
        }
        PixelFormat::Yuyv if planar => (yuyv_to_i420, true),
        PixelFormat::Nv12 if planar => (nv12_to_i420, true),
        PixelFormat::Yuyv => (yuyv_to_rgb, false),
        PixelFormat::Nv12 => (nv12_to_rgb, false),
        PixelFormat::Rgb => (|s, w, h, o| rgb24_to_rgb(s, w, h, false, o), false),
        PixelFormat::Bgr => (|s, w, h, o| rgb24_to_rgb(s, w, h, true, o), false),
        PixelFormat::Gray => (gray_to_rgb, false),
    };
    let mut px = Vec::new();
    convert(buf, width, height, &mut px).map_err(|e| e.to_string())?;
    let pixels = if i420 {
        Pixels::I420(px)
    } else {
        Pixels::Rgb(px)
    };
    Ok(CapturedFrame {
        width,
        height,
        pixels,
        timestamp_us,
    })
}

/// Skips the odd unreadable frame, and gives up after [`MAX_BAD_FRAMES`] in a row.
#[derive(Debug, Default)]
pub struct BadFrameGuard {
    in_a_row: u32,
    skipped: u64,
}

impl BadFrameGuard {
    /// A guard that has seen no bad frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Passes a good frame on (`Ok(Some)`), swallows a bad one (`Ok(None)`: read the next),
    /// or fails when too many bad ones came in a row.
    pub fn check(
        &mut self,
        camera: &str,
        frame: Result<CapturedFrame, String>,
    ) -> Result<Option<CapturedFrame>, CameraError> {
        match frame {
            Ok(f) => {
                self.in_a_row = 0;
                Ok(Some(f))
            }
            Err(reason) => {
                self.in_a_row += 1;
                self.skipped += 1;
                if self.in_a_row >= MAX_BAD_FRAMES {
                    self.in_a_row = 0;
                    Err(CameraError::BadFrames {
                        camera: camera.to_string(),
                        count: MAX_BAD_FRAMES,
                        reason,
                    })
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// How many frames were skipped in all.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}
