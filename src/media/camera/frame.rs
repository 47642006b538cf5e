//! One camera buffer to one [`CapturedFrame`]: the code path shared by the real camera and
//! [`FakeCamera`](super::fake::FakeCamera).
//!
//! MJPEG is passed through (cut at EOI, standard Huffman tables added when missing), so the
//! camera's own compression is sent without a decode and re-encode; every other format is
//! converted to RGB for the encoder.

use super::convert::{gray_to_rgb, nv12_to_rgb, rgb24_to_rgb, yuyv_to_rgb, ConvertError};
use super::mjpeg;
use super::mode::PixelFormat;
use super::CameraError;
use crate::media::source::{CapturedFrame, Pixels};

/// Unreadable frames in a row before the camera counts as broken: a camera may send a bad
/// frame now and then (USB hiccups), which is skipped, but one that sends nothing else would
/// otherwise leave the viewer blank with no explanation.
pub const MAX_BAD_FRAMES: u32 = 30;

/// Converts one camera buffer. `width` and `height` are the camera mode's; for MJPEG the
/// picture size comes from the JPEG itself.
pub fn to_captured(
    format: PixelFormat,
    width: u32,
    height: u32,
    buf: &[u8],
    timestamp_us: u64,
) -> Result<CapturedFrame, String> {
    type Convert = fn(&[u8], u32, u32, &mut Vec<u8>) -> Result<(), ConvertError>;
    let convert: Convert = match format {
        PixelFormat::Mjpeg => {
            let (jpeg, w, h) = mjpeg::passthrough(buf).map_err(|e| e.to_string())?;
            return Ok(CapturedFrame {
                width: u32::from(w),
                height: u32::from(h),
                pixels: Pixels::Jpeg(jpeg),
                timestamp_us,
            });
        }
        PixelFormat::Yuyv => yuyv_to_rgb,
        PixelFormat::Nv12 => nv12_to_rgb,
        PixelFormat::Rgb => |s, w, h, o| rgb24_to_rgb(s, w, h, false, o),
        PixelFormat::Bgr => |s, w, h, o| rgb24_to_rgb(s, w, h, true, o),
        PixelFormat::Gray => gray_to_rgb,
    };
    let mut rgb = Vec::new();
    convert(buf, width, height, &mut rgb).map_err(|e| e.to_string())?;
    let pixels = Pixels::Rgb(rgb);
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
