//! A camera without hardware: replays recorded buffers (with their pixel format) through the
//! same conversion path as a real camera, at a camera's pace, and can act out a camera that is
//! unplugged and comes back. For tests and demos; needs no feature.

use std::thread;
use std::time::{Duration, Instant};

use super::frame::{to_captured, BadFrameGuard};
use super::mode::PixelFormat;
use super::CameraError;
use crate::source::{now_us, CapturedFrame, Source, SourceError};

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
}

const NAME: &str = "fake";

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
        }
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
            let frame = to_captured(b.format, b.width, b.height, &b.bytes, now_us());
            if let Some(f) = self.guard.check(NAME, frame)? {
                self.delivered += 1;
                return Ok(Some(f));
            }
        }
    }

    fn describe(&self) -> String {
        format!("fake camera ({} recorded buffers)", self.buffers.len())
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
