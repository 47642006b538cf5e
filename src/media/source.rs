//! Where frames come from: the built-in test pattern, image files ([`crate::media::images`]),
//! or a webcam ([`crate::media::camera`]). Every source is behind the same [`Source`] trait,
//! so the pipeline, and its tests, do not care which one runs.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::media::pattern::Pattern;

/// A frame's pixels as a source delivers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pixels {
    /// Packed RGB24, to be encoded.
    Rgb(Vec<u8>),
    /// Planar 4:2:0 with even sides (see [`crate::media::codec::i420_len`]), to be encoded.
    I420(Vec<u8>),
    /// A complete JPEG file, sent byte for byte without re-encoding.
    Jpeg(Vec<u8>),
}

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixels.
    pub pixels: Pixels,
    /// Capture time, microseconds since the Unix epoch.
    pub timestamp_us: u64,
}

/// Why a source could not deliver.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The path does not exist or cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A folder without any .jpg, .jpeg or .png file.
    #[error("no .jpg, .jpeg or .png files in {0}")]
    NoImages(PathBuf),
    /// A file that is not an image this program reads.
    #[error("{path} is not a readable JPEG or PNG image: {reason}")]
    BadImage {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The device behind a source (a camera) failed; see [`DeviceError`].
    #[error("{0}")]
    Device(Box<dyn DeviceError>),
    /// [`Source::reopen`] on a source that cannot be lost.
    #[error("{0} cannot be reopened")]
    NotReopenable(String),
}

/// The error of a device that a source reads from, such as a camera
/// ([`crate::media::camera::CameraError`]). Sources depend on this trait, not on the devices,
/// so that a device module can be added or left out without touching the pipeline.
pub trait DeviceError: std::error::Error + Send + Sync + 'static {
    /// True when the device went away but may come back (an unplugged camera).
    fn is_lost(&self) -> bool;
}

impl SourceError {
    /// True when the source went away but may come back (an unplugged camera): the pipeline
    /// then keeps its session and calls [`Source::reopen`] periodically instead of ending.
    pub fn is_lost(&self) -> bool {
        matches!(self, SourceError::Device(e) if e.is_lost())
    }
}

/// A producer of frames.
pub trait Source: Send {
    /// Blocks until the next frame is available; `Ok(None)` when a finite source is finished.
    fn next_frame(&mut self) -> Result<Option<CapturedFrame>, SourceError>;
    /// A short description for log lines, such as `test pattern 1280x720`.
    fn describe(&self) -> String;
    /// How many frames this source will deliver in all, if it knows.
    fn total_frames(&self) -> Option<u64> {
        None
    }
    /// True when the source produces frames on its own schedule (a camera), false when it can
    /// produce a frame whenever asked (the pattern, files), which lets the pipeline capture
    /// just in time instead of buffering a stale frame.
    fn is_live(&self) -> bool {
        false
    }
    /// Gives back the pixel buffer (RGB or 4:2:0) of the frame this source delivered last,
    /// once it is encoded, so that the next frame can reuse it (the pattern then repaints only
    /// what moved). Sources that cannot use it keep the default, which drops it.
    fn recycle(&mut self, pixels: Vec<u8>) {
        drop(pixels);
    }
    /// Tries to get a source that failed with an error for which
    /// [`SourceError::is_lost`] is true working again; must not block for long, since the
    /// caller checks its stop signal between attempts. Sources that cannot be lost keep the
    /// default, which refuses.
    fn reopen(&mut self) -> Result<(), SourceError> {
        Err(SourceError::NotReopenable(self.describe()))
    }
}

/// No pictures at all: a run that only sends messages.
pub struct NoFrames;

impl Source for NoFrames {
    fn next_frame(&mut self) -> Result<Option<CapturedFrame>, SourceError> {
        Ok(None)
    }

    fn describe(&self) -> String {
        "no pictures".into()
    }

    fn total_frames(&self) -> Option<u64> {
        Some(0)
    }
}

/// Microseconds since the Unix epoch, for capture timestamps.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The built-in moving test pattern as a source.
pub struct PatternSource {
    pattern: Pattern,
    n: u64,
    /// A buffer given back by [`Source::recycle`] and the frame number it holds.
    spare: Option<(Vec<u8>, u64)>,
}

impl PatternSource {
    /// A pattern of the given size.
    pub fn new(width: u32, height: u32) -> Self {
        PatternSource {
            pattern: Pattern::new(width, height),
            n: 0,
            spare: None,
        }
    }
}

impl Source for PatternSource {
    fn next_frame(&mut self) -> Result<Option<CapturedFrame>, SourceError> {
        let timestamp_us = now_us();
        let (mut buf, previous) = match self.spare.take() {
            Some((buf, held)) => (buf, Some(held)),
            None => (Vec::new(), None),
        };
        // Planar 4:2:0 where the encoder takes it without converting (libjpeg-turbo).
        let pixels = if crate::media::codec::PREFERS_I420 && self.pattern.has_i420() {
            self.pattern.render_i420_over(self.n, &mut buf, previous);
            Pixels::I420(buf)
        } else {
            self.pattern.render_over(self.n, &mut buf, previous);
            Pixels::Rgb(buf)
        };
        self.n += 1;
        Ok(Some(CapturedFrame {
            width: self.pattern.width(),
            height: self.pattern.height(),
            pixels,
            timestamp_us,
        }))
    }

    /// The buffer must be the last frame delivered, unchanged (the encoders only read it).
    fn recycle(&mut self, pixels: Vec<u8>) {
        if let Some(last) = self.n.checked_sub(1) {
            self.spare = Some((pixels, last));
        }
    }

    fn describe(&self) -> String {
        format!(
            "test pattern {}x{}",
            self.pattern.width(),
            self.pattern.height()
        )
    }
}

/// Keeps a steady frame rate without drift: each tick is scheduled from the previous tick,
/// not from when the work finished; after a long stall it catches up by one frame at most,
/// never with a burst.
pub struct Ticker {
    period: Duration,
    next: Instant,
}

impl Ticker {
    /// A ticker at `fps` frames per second, first tick at `now`.
    pub fn new(fps: f64, now: Instant) -> Self {
        Ticker {
            period: Duration::from_secs_f64(1.0 / fps.max(1e-3)),
            next: now,
        }
    }

    /// How long to wait from `now` for the next tick, and schedules the one after it.
    pub fn wait_from(&mut self, now: Instant) -> Duration {
        let wait = self.next.saturating_duration_since(now);
        let due = self.next.max(now.checked_sub(self.period).unwrap_or(now));
        self.next = due + self.period;
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_pattern_buffer_gives_the_same_frames() {
        let mut src = PatternSource::new(160, 120);
        let p = Pattern::new(160, 120);
        let mut full = Vec::new();
        for n in 0..50u64 {
            let f = src.next_frame().unwrap().unwrap();
            let got = match f.pixels {
                Pixels::Rgb(rgb) => {
                    p.render(n, &mut full);
                    rgb
                }
                Pixels::I420(yuv) => {
                    p.render_i420_over(n, &mut full, None);
                    yuv
                }
                Pixels::Jpeg(_) => panic!("the pattern is never JPEG"),
            };
            assert!(got == full, "frame {n}");
            if n % 7 != 3 {
                // Sometimes not given back (a frame dropped on the way): still right.
                src.recycle(got);
            }
        }
    }

    #[test]
    fn pattern_source_counts_up() {
        let mut s = PatternSource::new(64, 48);
        let a = s.next_frame().unwrap().unwrap();
        let b = s.next_frame().unwrap().unwrap();
        assert_eq!((a.width, a.height), (64, 48));
        assert_ne!(a.pixels, b.pixels, "the pattern moves");
    }

    #[test]
    fn ticker_keeps_rate_without_bursts() {
        let t0 = Instant::now();
        let mut t = Ticker::new(10.0, t0);
        assert_eq!(t.wait_from(t0), Duration::ZERO);
        assert_eq!(t.wait_from(t0), Duration::from_millis(100));
        // Far behind: one frame now, one catch-up frame, then the normal period again.
        let late = t0 + Duration::from_secs(5);
        assert_eq!(t.wait_from(late), Duration::ZERO);
        assert_eq!(t.wait_from(late), Duration::ZERO);
        assert_eq!(t.wait_from(late), Duration::from_millis(100));
        // Waking a little late does not drift the schedule.
        let mut t = Ticker::new(10.0, t0);
        t.wait_from(t0);
        assert_eq!(
            t.wait_from(t0 + Duration::from_millis(1)),
            Duration::from_millis(99)
        );
        assert_eq!(
            t.wait_from(t0 + Duration::from_millis(101)),
            Duration::from_millis(99)
        );
    }
}
