//! Fits the picture to the path: the JPEG quality that makes frames of the size the sender's
//! target rate allows at the configured frame rate (PROTOCOL.md 8.13 says where the target
//! comes from). Quality goes first; once it is at its floor and frames are still too large,
//! the sender's window takes fewer frames (it takes one only when the last has left), so the
//! frame rate gives way next. A JPEG camera's frames pass through untouched: for them only the
//! frame rate adapts.
//!
//! Pure: it is told sizes and rates. The encoder thread owns one; the network loop publishes
//! the target through [`AdaptShared`].

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// How JPEG size follows quality, roughly: ln(size) grows by about 1/60 per quality step in
/// the middle of the scale (measured on the test pattern and on photographs), so a frame
/// `r` times too large wants about `60 ln r` steps less. Damped, so one noisy frame does not
/// swing the picture.
const STEPS_PER_LN: f64 = 45.0;
/// The most quality steps one frame may go down, and up.
const MAX_DOWN: f64 = 20.0;
const MAX_UP: f64 = 3.0;

/// The quality the encoder uses, between a floor and the user's ceiling.
#[derive(Debug, Clone)]
pub struct QualityFit {
    quality: f64,
    min: u8,
    max: u8,
    /// Size of the latest frame, and whether it was made at the floor.
    last: Option<(usize, bool)>,
}

impl QualityFit {
    /// Starts at `max` (the user's `--quality`); never goes below `min` (`--min-quality`).
    /// `min` = `max` fixes the quality.
    pub fn new(max: u8, min: u8) -> Self {
        let max = max.clamp(1, 100);
        let min = min.clamp(1, max);
        QualityFit {
            quality: max as f64,
            min,
            max,
            last: None,
        }
    }

    /// The quality for the next frame.
    pub fn quality(&self) -> u8 {
        self.quality.round() as u8
    }

    /// A frame encoded at [`QualityFit::quality`] came out `size` bytes; the stream may use
    /// `target_bps` (`None`: the path has not limited it) at `fps` frames a second.
    pub fn observe(&mut self, size: usize, target_bps: Option<f64>, fps: f64) {
        let (lo, hi) = (self.min as f64, self.max as f64);
        self.last = Some((size, self.quality() <= self.min));
        let Some(target) = target_bps else {
            // Unconstrained: back up to the user's quality, a little at a time.
            self.quality = (self.quality + MAX_UP).min(hi);
            return;
        };
        if size == 0 || fps <= 0.0 {
            return;
        }
        let budget = target / 8.0 / fps;
        let ratio = budget / size as f64;
        let step = if ratio < 0.95 {
            (STEPS_PER_LN * ratio.ln()).max(-MAX_DOWN)
        } else if ratio > 1.2 {
            // Room to spare: climb slowly, a frame that fits is worth more than a sharp one.
            (STEPS_PER_LN * 0.5 * ratio.ln()).min(MAX_UP)
        } else {
            0.0
        };
        self.quality = (self.quality + step).clamp(lo, hi);
    }
}

impl QualityFit {
    /// A frame whose quality is not ours to choose (a camera's own JPEG) came out `size`
    /// bytes: only the frame rate can adapt.
    pub fn observe_fixed(&mut self, size: usize) {
        self.last = Some((size, true));
    }

    /// The shortest time between frames that fits `target_bps` once the quality is at its
    /// floor and frames are still too large: the encoder skips captures closer together than
    /// this, rather than encode frames the sender would have to drop. `None` while frames fit
    /// at the capture rate.
    pub fn min_interval(&self, target_bps: Option<f64>, fps: f64) -> Option<std::time::Duration> {
        let (size, at_floor) = self.last?;
        let target = target_bps?;
        let secs = size as f64 * 8.0 / target;
        (at_floor && fps > 0.0 && secs > 1.0 / fps)
            .then(|| std::time::Duration::from_secs_f64(secs.min(1.0)))
    }
}

/// Which captures to encode when the path carries fewer frames than the camera makes: a
/// credit of frames that grows with the time between captures at the allowed rate, so that
/// 24 fps out of 30 skips one capture in five, not every other one.
#[derive(Debug, Clone, Default)]
pub struct FrameGate {
    credit: f64,
    last_us: Option<u64>,
}

impl FrameGate {
    /// Whether to encode the capture taken at `ts_us` (microseconds) when frames may be at
    /// most one per `interval` (`None`: every capture).
    pub fn admit(&mut self, ts_us: u64, interval: Option<std::time::Duration>) -> bool {
        let last = self.last_us.replace(ts_us);
        let (Some(iv), Some(last)) = (interval, last) else {
            self.credit = 1.0;
            return true;
        };
        let dt = ts_us.saturating_sub(last) as f64 / 1e6;
        // At most one frame saved up: a pause does not buy a burst.
        self.credit = (self.credit + dt / iv.as_secs_f64().max(1e-6)).min(2.0);
        if self.credit >= 1.0 {
            self.credit -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What the network loop and the encoder share: the target rate one way, the quality in use
/// the other (for the statistics).
#[derive(Debug, Default)]
pub struct AdaptShared {
    /// `f64` bits of the target in bits per second; 0 = unconstrained.
    target_bits: AtomicU64,
    quality: AtomicU8,
}

impl AdaptShared {
    /// Publishes the sender's target.
    pub fn set_target(&self, bps: Option<f64>) {
        let bits = bps.filter(|b| *b > 0.0).map_or(0, f64::to_bits);
        self.target_bits.store(bits, Ordering::Relaxed);
    }

    /// The latest target.
    pub fn target(&self) -> Option<f64> {
        match self.target_bits.load(Ordering::Relaxed) {
            0 => None,
            b => Some(f64::from_bits(b)),
        }
    }

    /// Publishes the quality in use.
    pub fn set_quality(&self, q: u8) {
        self.quality.store(q, Ordering::Relaxed);
    }

    /// The quality of the latest encoded frame (0 before the first, or for JPEG passthrough).
    pub fn quality(&self) -> u8 {
        self.quality.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes of the 720p test pattern by quality (measured): what the encoder would produce.
    fn pattern_size(q: u8) -> usize {
        let table = [
            (5, 19_000),
            (10, 24_000),
            (20, 31_000),
            (30, 38_000),
            (50, 48_000),
            (80, 77_000),
            (90, 105_000),
        ];
        let i = table
            .iter()
            .position(|&(tq, _)| tq >= q)
            .unwrap_or(table.len() - 1);
        if i == 0 {
            return table[0].1;
        }
        let ((q0, s0), (q1, s1)) = (table[i - 1], table[i]);
        s0 + (s1 - s0) * (q as usize - q0 as usize) / (q1 as usize - q0 as usize)
    }

    #[test]
    fn unconstrained_keeps_the_users_quality() {
        let mut f = QualityFit::new(80, 5);
        for _ in 0..10 {
            f.observe(pattern_size(f.quality()), None, 30.0);
        }
        assert_eq!(f.quality(), 80);
    }

    #[test]
    fn settles_where_frames_fit_the_target() {
        // 10 Mbit/s at 30 fps: 41.7 KB a frame, which the pattern makes at about q37.
        let mut f = QualityFit::new(80, 5);
        let mut trace = Vec::new();
        for _ in 0..30 {
            f.observe(pattern_size(f.quality()), Some(10e6), 30.0);
            trace.push(f.quality());
        }
        let q = f.quality();
        assert!((30..=42).contains(&q), "{trace:?}");
        let size = pattern_size(q) as f64;
        assert!(size <= 10e6 / 8.0 / 30.0 * 1.05, "{trace:?}");
        // Settled: the last frames stay put.
        assert!(trace[25..].iter().all(|&x| x == q), "{trace:?}");
    }

    #[test]
    fn stops_at_the_floor_and_fixed_means_fixed() {
        let mut f = QualityFit::new(80, 20);
        for _ in 0..30 {
            f.observe(pattern_size(f.quality()), Some(1e6), 30.0);
        }
        assert_eq!(f.quality(), 20);
        let mut fixed = QualityFit::new(70, 70);
        fixed.observe(pattern_size(70), Some(1e6), 30.0);
        assert_eq!(fixed.quality(), 70);
    }

    #[test]
    fn at_the_floor_the_frame_rate_gives_way() {
        let mut f = QualityFit::new(80, 20);
        assert_eq!(
            f.min_interval(Some(1e6), 30.0),
            None,
            "nothing measured yet"
        );
        for _ in 0..30 {
            f.observe(pattern_size(f.quality()), Some(4e6), 30.0);
        }
        // 31 KB at quality 20 in 4 Mbit/s: 62 ms a frame, 16 fps.
        let iv = f.min_interval(Some(4e6), 30.0).unwrap();
        assert!((iv.as_secs_f64() - 0.062).abs() < 0.002, "{iv:?}");
        // A path that carries the floor's frames at the capture rate skips none.
        f.observe(pattern_size(f.quality()), Some(20e6), 30.0);
        assert_eq!(f.min_interval(Some(20e6), 30.0), None);
    }

    #[test]
    fn a_cameras_own_jpeg_adapts_by_frame_rate_alone() {
        let mut f = QualityFit::new(80, 5);
        // 60 KB MJPEG frames into 8 Mbit/s: 60 ms a frame, whatever the quality setting.
        f.observe_fixed(60_000);
        let iv = f.min_interval(Some(8e6), 30.0).unwrap();
        assert!((iv.as_secs_f64() - 0.060).abs() < 0.001, "{iv:?}");
        assert_eq!(f.quality(), 80, "the quality is not ours to change");
        assert_eq!(
            f.min_interval(None, 30.0),
            None,
            "an unconstrained path takes them all"
        );
    }

    #[test]
    fn the_gate_keeps_the_allowed_rate_on_average() {
        let mut g = FrameGate::default();
        let iv = Some(std::time::Duration::from_micros(41_667)); // 24 fps
        let admitted = (0..300u64).filter(|k| g.admit(k * 33_333, iv)).count();
        assert!((235..=245).contains(&admitted), "{admitted} of 300");
        let mut open = FrameGate::default();
        assert!((0..30u64).all(|k| open.admit(k * 33_333, None)));
    }

    #[test]
    fn climbs_back_when_the_path_frees_up() {
        let mut f = QualityFit::new(80, 5);
        for _ in 0..30 {
            f.observe(pattern_size(f.quality()), Some(5e6), 30.0);
        }
        let low = f.quality();
        for _ in 0..60 {
            f.observe(pattern_size(f.quality()), Some(50e6), 30.0);
        }
        assert!(f.quality() > low + 20, "{low} -> {}", f.quality());
    }

    #[test]
    fn shared_target_round_trips() {
        let s = AdaptShared::default();
        assert_eq!(s.target(), None);
        s.set_target(Some(4.25e6));
        assert_eq!(s.target(), Some(4.25e6));
        s.set_target(None);
        assert_eq!(s.target(), None);
    }
}
