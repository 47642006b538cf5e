//! How many frames may be in flight at once: enough to cover the time a frame takes from push
//! to ACK at the stream's frame rate, never more than the viewer said it assembles at once.
//!
//! On a LAN a frame is acknowledged long before the next is captured, so the window is one
//! frame: stop-and-wait. Across a 100 ms round trip at 30 fps, four frames are on their way
//! before the first ACK can return (five are allowed, one spare for a frame whose repair runs
//! long); with one, the rate would be capped at one frame per round trip. Pure: it is told durations and never reads a clock.

use std::time::Duration;

/// Recent frames whose push-to-ACK time sizes the window.
const SAMPLES: usize = 16;

/// The window of frames in flight (PROTOCOL.md 8.12).
#[derive(Debug, Clone)]
pub struct FrameWindow {
    /// Push-to-ACK times of the latest acknowledged frames, a ring.
    occupancy: [Duration; SAMPLES],
    /// Whether each of those frames needed a repair or a probe.
    repaired: [bool; SAMPLES],
    len: usize,
    next: usize,
    /// What the viewer's latest ACK said it takes; 1 until the first ACK.
    viewer: u8,
}

impl Default for FrameWindow {
    fn default() -> Self {
        FrameWindow::new()
    }
}

impl FrameWindow {
    /// One frame until an ACK has said more.
    pub fn new() -> Self {
        FrameWindow {
            occupancy: [Duration::ZERO; SAMPLES],
            repaired: [false; SAMPLES],
            len: 0,
            next: 0,
            viewer: 1,
        }
    }

    /// A frame pushed `occupancy` ago was acknowledged (`repaired`: it needed a repair or a
    /// probe). The viewer's window comes with every ACK: [`FrameWindow::on_viewer_window`].
    pub fn on_ack(&mut self, occupancy: Duration, repaired: bool) {
        self.occupancy[self.next] = occupancy;
        self.repaired[self.next] = repaired;
        self.next = (self.next + 1) % SAMPLES;
        self.len = (self.len + 1).min(SAMPLES);
    }

    /// The viewer's advertised window, from any ACK (a stale one too: it is the viewer's word).
    pub fn on_viewer_window(&mut self, viewer: u8) {
        self.viewer = viewer.max(1);
    }

    /// What the viewer said it takes.
    pub fn viewer(&self) -> u8 {
        self.viewer
    }

    /// The longest push-to-ACK time of the recent frames: a frame that needed a repair counts,
    /// so that under steady loss the window covers the repair too.
    pub fn occupancy(&self) -> Option<Duration> {
        self.occupancy[..self.len].iter().copied().max()
    }

    /// Frames that may be in flight when a new one is pushed every `interval`:
    /// `floor(occupancy / interval) + 1`, and one more once the occupancy is over an interval,
    /// or over half of one while frames need repairs; at most the viewer's window, at least 1.
    pub fn limit(&self, interval: Duration) -> usize {
        let interval = interval.max(Duration::from_millis(1));
        let Some(o) = self.occupancy() else { return 1 };
        let covered = (o.as_nanos() / interval.as_nanos()) as usize;
        // One frame more once a frame takes longer than an interval, or half of one under
        // loss: room for the one whose repair runs longer than those measured, so that it does
        // not hold the next. (Not for a clean LAN's one slow ACK, which would only put two
        // frames' bursts back to back.)
        let lossy = self.repaired[..self.len].iter().any(|&r| r);
        let spare = usize::from(o > interval || (lossy && o * 2 > interval));
        (covered + 1 + spare).min(self.viewer as usize).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const FRAME_30: Duration = Duration::from_nanos(33_333_333);

    #[test]
    fn one_frame_until_the_viewer_says_more() {
        let mut w = FrameWindow::new();
        assert_eq!(w.limit(FRAME_30), 1);
        w.on_viewer_window(14);
        assert_eq!(w.limit(FRAME_30), 1, "no round trip measured yet");
    }

    #[test]
    fn stop_and_wait_on_a_lan_and_more_across_a_continent() {
        for (rtt_ms, want) in [
            (1, 1),
            (20, 1),
            (33, 1),
            (34, 3),
            (50, 3),
            (101, 5),
            (300, 11),
        ] {
            let mut w = FrameWindow::new();
            w.on_viewer_window(14);
            w.on_ack(rtt_ms * MS, false);
            assert_eq!(w.limit(FRAME_30), want, "RTT {rtt_ms} ms");
        }
    }

    #[test]
    fn never_more_than_the_viewer_takes() {
        let mut w = FrameWindow::new();
        w.on_viewer_window(6);
        w.on_ack(1000 * MS, false);
        assert_eq!(w.limit(FRAME_30), 6);
        w.on_viewer_window(0);
        assert_eq!(
            w.limit(FRAME_30),
            1,
            "a window of 0 still lets one frame go"
        );
    }

    #[test]
    fn half_an_interval_earns_a_spare_frame_only_under_loss() {
        let mut w = FrameWindow::new();
        w.on_viewer_window(14);
        w.on_ack(20 * MS, false);
        assert_eq!(w.limit(FRAME_30), 1, "a clean LAN's slow ACK");
        w.on_viewer_window(14);
        w.on_ack(20 * MS, true);
        assert_eq!(w.limit(FRAME_30), 2, "a repaired frame");
    }

    #[test]
    fn a_repaired_frame_widens_the_window_until_it_ages_out() {
        let mut w = FrameWindow::new();
        w.on_viewer_window(14);
        w.on_ack(5 * MS, false);
        w.on_viewer_window(14);
        w.on_ack(70 * MS, true);
        assert_eq!(w.limit(FRAME_30), 4);
        for _ in 0..SAMPLES {
            w.on_viewer_window(14);
            w.on_ack(5 * MS, false);
        }
        assert_eq!(w.limit(FRAME_30), 1);
    }
}
