//! How fast the path is, from the ACKs, and what to send into it: a delay-based rate
//! controller in the manner of Google Congestion Control (draft-ietf-rmcat-gcc-02) with the
//! base-delay bookkeeping of LEDBAT (RFC 6817) and the receive-rate sample of BBR's delivery
//! rate estimation (draft-cheng-iccrg-delivery-rate-estimation).
//!
//! Every ACK of a frame sent in one round (no repair) says three things:
//! - its round trip `rtt`, from the completing chunk's send to the ACK;
//! - its *spread*, measured by the viewer, from the frame's first chunk arriving to the last;
//! - the frame's size.
//!
//! `rtt + send spread − spread` is the round trip of the frame's first chunk (`rtt` runs from
//! the last chunk's send, which left the send spread after the first): its minimum over ten
//! seconds is the path's *base* round trip, and the excess over it is the *queue* the frame found at
//! the bottleneck. When a frame was sent faster than it arrived (spread well over the time it
//! took to send), `size / spread` is what the bottleneck delivers: a *capacity* sample.
//!
//! The *target* rate starts unconstrained (a LAN never sees a cut). It is set to 85% of the
//! capacity (the median of recent samples) as soon as a sample shows the stream does not fit,
//! and on overuse, a queue above the threshold on three frames in a row, to 85% of what got
//! through in the last second and of the target itself, whichever is less (GCC's 0.85 and its
//! hold time after a decrease, so one cut takes effect before the next). Without a queue it grows by 8% a second, never past
//! 1.5 times what was delivered in the last second (GCC's bound, so an idle stream does not
//! claim a rate it has not shown). Pure: it is told instants and durations, reads no clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Queue delay below which the path is taken to be uncongested, at least.
const MIN_THRESHOLD: Duration = Duration::from_millis(15);
/// Frames in a row whose queue must exceed the threshold to count as overuse.
const OVERUSE_FRAMES: usize = 3;
/// How long a base round trip is trusted without a smaller one.
const BASE_WINDOW: Duration = Duration::from_secs(10);
/// How long a capacity sample counts.
const CAPACITY_WINDOW: Duration = Duration::from_secs(2);
/// The span over which the delivered rate is measured.
const DELIVERED_WINDOW: Duration = Duration::from_secs(1);
/// Share of the capacity the target takes after a decrease (GCC's beta).
const BETA: f64 = 0.85;
/// Growth per second without a queue (GCC's multiplicative increase).
const GROWTH_PER_SEC: f64 = 1.08;
/// The lowest target, bits per second: below it nothing useful fits.
const MIN_TARGET: f64 = 100_000.0;

/// What one ACK of a frame tells the controller.
#[derive(Debug, Clone, Copy)]
pub struct AckSample {
    /// Frame size in bytes.
    pub bytes: usize,
    /// Chunks it was sent in.
    pub chunks: u16,
    /// Round trip of the completing transmission, when it is known exactly.
    pub rtt: Option<Duration>,
    /// The viewer's spread (zero: not measured).
    pub spread: Duration,
    /// From the frame's first chunk leaving to its last chunk leaving.
    pub send_spread: Duration,
    /// Sent in one round: no chunk repaired or probed. Only such frames are measured.
    pub clean: bool,
}

/// The controller's view of the path, for statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct PathEstimate {
    /// Bits per second the stream should use; `None` while unconstrained.
    pub target_bps: Option<f64>,
    /// The bottleneck's rate, from recent samples (`None`: the path has never been the
    /// limit).
    pub capacity_bps: Option<f64>,
    /// The smallest round trip seen lately, without queueing.
    pub base_rtt: Option<Duration>,
    /// The queue the latest measured frame found.
    pub queue: Option<Duration>,
    /// Decreases so far.
    pub decreases: u64,
}

/// The rate controller (see the module documentation).
#[derive(Debug, Clone)]
pub struct RateController {
    max_bps: f64,
    target: Option<f64>,
    base: Option<(Duration, Instant)>,
    queues: VecDeque<Duration>,
    capacity: VecDeque<(f64, Instant)>,
    /// Their median, kept as they change: the estimate is read far more often than an ACK
    /// comes.
    capacity_median: Option<f64>,
    delivered: VecDeque<(usize, Instant)>,
    hold_until: Option<Instant>,
    last_growth: Option<Instant>,
    decreases: u64,
}

impl RateController {
    /// A controller whose target never exceeds `max_bps` (0 or less: no ceiling).
    pub fn new(max_bps: f64) -> Self {
        RateController {
            max_bps: if max_bps > 0.0 {
                max_bps
            } else {
                f64::INFINITY
            },
            target: None,
            base: None,
            queues: VecDeque::new(),
            capacity: VecDeque::new(),
            capacity_median: None,
            delivered: VecDeque::new(),
            hold_until: None,
            last_growth: None,
            decreases: 0,
        }
    }

    /// The target in bits per second, `None` while the path has not limited the stream.
    pub fn target_bps(&self) -> Option<f64> {
        self.target
    }

    /// The pacing rate in bits per second, `None` when unconstrained: the target itself. A
    /// frame larger than the target allows at the frame rate then takes longer than a frame
    /// interval to leave, and as the sender takes a new frame only once the last has left, the
    /// frame rate gives way by itself instead of a queue growing at the bottleneck.
    pub fn pacing_bps(&self) -> Option<f64> {
        self.target.map(|t| t.min(self.max_bps))
    }

    /// What the controller knows of the path.
    pub fn estimate(&self) -> PathEstimate {
        PathEstimate {
            target_bps: self.target,
            capacity_bps: self.capacity_bps(),
            base_rtt: self.base.map(|(b, _)| b),
            queue: self.queues.back().copied(),
            decreases: self.decreases,
        }
    }

    /// The median of the recent capacity samples: one frame whose chunks the viewer happened
    /// to read in a batch (a short spread, a rate far too high) must not set the level.
    fn capacity_bps(&self) -> Option<f64> {
        self.capacity_median
    }

    fn capacity_changed(&mut self) {
        let mut v: Vec<f64> = self.capacity.iter().map(|&(c, _)| c).collect();
        v.sort_by(f64::total_cmp);
        self.capacity_median = v.get(v.len() / 2).copied();
    }

    /// Bits per second acknowledged over the last second (or since the first ACK).
    fn delivered_bps(&self, now: Instant) -> Option<f64> {
        let first = self.delivered.front()?.1;
        let span = now
            .saturating_duration_since(first)
            .max(Duration::from_millis(100));
        let bytes: usize = self.delivered.iter().map(|&(b, _)| b).sum();
        Some(bytes as f64 * 8.0 / span.as_secs_f64())
    }

    fn threshold(&self) -> Duration {
        self.base
            .map_or(MIN_THRESHOLD, |(b, _)| (b / 4).max(MIN_THRESHOLD))
    }

    /// Takes in the ACK of a frame.
    pub fn on_ack(&mut self, now: Instant, s: AckSample) {
        self.delivered.push_back((s.bytes, now));
        while self
            .delivered
            .front()
            .is_some_and(|&(_, t)| now.saturating_duration_since(t) > DELIVERED_WINDOW)
        {
            self.delivered.pop_front();
        }
        let before = self.capacity.len();
        self.capacity
            .retain(|&(_, t)| now.saturating_duration_since(t) <= CAPACITY_WINDOW);
        if self.capacity.len() != before {
            self.capacity_changed();
        }
        let Some(rtt) = s.rtt.filter(|_| s.clean) else {
            return;
        };
        // The first chunk's round trip: `rtt` runs from the last chunk's send, which left
        // `send_spread` after the first, to the ACK, sent `spread` after the first chunk
        // arrived. The frame's own time through the bottleneck is not queueing the path
        // imposed on it.
        let path_rtt = (rtt + s.send_spread).saturating_sub(s.spread);
        let base = match self.base {
            Some((b, at)) if b <= path_rtt && now.saturating_duration_since(at) < BASE_WINDOW => b,
            _ => {
                self.base = Some((path_rtt, now));
                path_rtt
            }
        };
        let queue = path_rtt - base;
        self.queues.push_back(queue);
        if self.queues.len() > OVERUSE_FRAMES {
            self.queues.pop_front();
        }
        let mut over_capacity = false;
        // The frame arrived over a longer span than it was sent in: the bottleneck set the
        // pace, and its rate is a capacity sample.
        if s.chunks > 1
            && s.spread >= Duration::from_millis(1)
            && s.spread > s.send_spread.mul_f64(1.25)
        {
            // The spread runs from the first chunk's arrival: it covers the others.
            let after_first = s.bytes as f64 * f64::from(s.chunks - 1) / f64::from(s.chunks);
            let c = after_first * 8.0 / s.spread.as_secs_f64();
            self.capacity.push_back((c, now));
            self.capacity_changed();
            // It limits only a stream that could fill it: a small frame whose chunks the
            // viewer read late (a busy machine) says nothing of a path the stream uses a
            // fraction of.
            let could_fill = self.delivered_bps(now).is_some_and(|d| c < d * 1.5);
            over_capacity = could_fill && self.target.is_none_or(|t| t > c);
        }
        let threshold = self.threshold();
        let overuse =
            self.queues.len() == OVERUSE_FRAMES && self.queues.iter().all(|&q| q > threshold);
        let held = self.hold_until.is_some_and(|h| now < h);
        if (over_capacity || overuse) && !held {
            // Over capacity: the path's rate sets the level. Overuse: what actually got through
            // lately (GCC's measured incoming rate), which a queue has capped at the
            // bottleneck; and a decrease in any case, since the queue says the target is high.
            let level = if overuse {
                self.delivered_bps(now).or_else(|| self.capacity_bps())
            } else {
                self.capacity_bps()
            };
            let mut cut = (level.unwrap_or(MIN_TARGET) * BETA).max(MIN_TARGET);
            if overuse {
                if let Some(t) = self.target {
                    cut = cut.min(t * BETA).max(MIN_TARGET);
                }
            }
            if self.target.is_none_or(|t| cut < t) {
                self.target = Some(cut);
                self.decreases += 1;
            }
            // The cut needs a round trip to show, and the queue built before it time to drain.
            self.hold_until = Some(now + rtt + queue);
            self.last_growth = Some(now);
            self.queues.clear();
        } else if queue < threshold / 2 && !held {
            if let Some(t) = self.target {
                let dt = self
                    .last_growth
                    .map_or(Duration::ZERO, |g| now.saturating_duration_since(g));
                let mut grown = t * GROWTH_PER_SEC.powf(dt.as_secs_f64());
                if let Some(d) = self.delivered_bps(now) {
                    grown = grown.min((d * 1.5).max(t));
                }
                self.target = Some(grown.min(self.max_bps));
            }
            self.last_growth = Some(now);
        } else {
            self.last_growth = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn clean(bytes: usize, rtt_ms: u32, spread_ms: u32) -> AckSample {
        AckSample {
            bytes,
            chunks: 100,
            rtt: Some(rtt_ms * MS),
            spread: spread_ms * MS,
            send_spread: Duration::from_micros(600),
            clean: true,
        }
    }

    #[test]
    fn a_lan_never_constrains() {
        let t0 = Instant::now();
        let mut r = RateController::new(0.0);
        for i in 0..300 {
            // 77 KB frames, arriving within 0.7 ms: sent as fast as they arrive.
            let s = AckSample {
                spread: Duration::from_micros(700),
                ..clean(77_000, 1, 0)
            };
            r.on_ack(t0 + i * 33 * MS, s);
        }
        assert_eq!(r.target_bps(), None);
        assert_eq!(r.pacing_bps(), None);
    }

    #[test]
    fn one_frame_through_a_bottleneck_sets_the_target_below_it() {
        let t0 = Instant::now();
        let mut r = RateController::new(0.0);
        // 77 KB at 5 Mbit/s takes 123 ms to arrive; 50 ms of path on top.
        r.on_ack(t0, clean(77_000, 173, 123));
        let target = r.target_bps().expect("constrained");
        let e = r.estimate();
        assert!((e.capacity_bps.unwrap() - 5.0e6).abs() < 0.1e6, "{e:?}");
        assert!((target - 0.85 * 5.0e6).abs() < 0.1e6, "{e:?}");
        assert_eq!(e.base_rtt, Some(Duration::from_micros(50_600)));
        assert_eq!(r.pacing_bps(), Some(target));
    }

    #[test]
    fn a_growing_queue_cuts_and_a_clear_path_grows_back() {
        let t0 = Instant::now();
        let mut r = RateController::new(0.0);
        r.on_ack(t0, clean(77_000, 173, 123));
        let first = r.target_bps().unwrap();
        // Small frames paced near the bottleneck (sent over 28 ms, arriving over 30): no
        // queue, the target grows 8% a second (no faster than 1.5 times what was delivered).
        let paced = |rtt| AckSample {
            send_spread: 28 * MS,
            ..clean(17_000, rtt, 30)
        };
        let mut t = t0;
        for _ in 0..60 {
            t += 33 * MS;
            r.on_ack(t, paced(53));
        }
        let grown = r.target_bps().unwrap();
        assert!(
            grown > first * 1.1 && grown < first * 1.25,
            "{first} {grown}"
        );
        // Then the queue builds: 40 ms over the base on three frames in a row.
        let paced = |rtt| AckSample {
            send_spread: 28 * MS,
            ..clean(17_000, rtt, 30)
        };
        for _ in 0..3 {
            t += 33 * MS;
            r.on_ack(t, paced(93));
        }
        let cut = r.target_bps().unwrap();
        assert!(cut < grown, "{grown} {cut}");
        assert_eq!(r.estimate().decreases, 2);
        // Held: the same signal right after does not cut again.
        t += 33 * MS;
        r.on_ack(t, paced(93));
        assert_eq!(r.target_bps(), Some(cut));
    }

    #[test]
    fn a_late_read_of_a_small_frame_does_not_cut_a_stream_far_below_it() {
        let t0 = Instant::now();
        let mut r = RateController::new(0.0);
        // 8 KB frames at 30 fps (2 Mbit/s) on a clean path; one arrives spread over 1.5 ms
        // because the viewer was busy: "43 Mbit/s", nothing this stream comes near.
        for i in 0..30 {
            r.on_ack(
                t0 + i * 33 * MS,
                AckSample {
                    spread: Duration::from_micros(if i == 20 { 1500 } else { 300 }),
                    send_spread: Duration::from_micros(50),
                    ..clean(8_000, 101, 0)
                },
            );
        }
        assert_eq!(r.target_bps(), None);
    }

    #[test]
    fn repaired_frames_are_not_measured() {
        let t0 = Instant::now();
        let mut r = RateController::new(0.0);
        r.on_ack(
            t0,
            AckSample {
                clean: false,
                ..clean(77_000, 500, 400)
            },
        );
        assert_eq!(r.estimate().base_rtt, None);
        assert_eq!(r.target_bps(), None);
    }

    #[test]
    fn the_ceiling_holds() {
        let t0 = Instant::now();
        let mut r = RateController::new(2.0e6);
        r.on_ack(t0, clean(77_000, 173, 123));
        let mut t = t0;
        for _ in 0..600 {
            t += 33 * MS;
            r.on_ack(t, clean(40_000, 51, 1));
        }
        assert!(r.target_bps().unwrap() <= 2.0e6);
        assert!(r.pacing_bps().unwrap() <= 2.0e6);
    }
}
