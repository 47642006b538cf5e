//! A simulated path for the protocol machines, on a virtual clock: delay each way, seeded random
//! loss, and a bottleneck of some rate with a tail-drop queue. The sender is offered a frame
//! every frame interval, as a camera would, and takes the newest one whenever it wants a frame;
//! the run reports what the viewer got and how late. Test-only: what the relay does to real
//! sockets (tests/support/relay.rs), without sockets or sleeps.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::protocol::receiver::{Receiver, ReceiverConfig, ReceiverEvent};
use crate::protocol::sender::{OutgoingFrame, Sender, SenderConfig};
use crate::protocol::wire::Codec;

/// One direction of the path.
#[derive(Debug, Clone, Copy)]
pub struct Way {
    /// Propagation delay.
    pub delay: Duration,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Bottleneck rate in bits per second (`None`: unlimited).
    pub rate_bps: Option<f64>,
    /// The bottleneck queue holds at most this long a backlog; a datagram that would wait
    /// longer is dropped (tail drop).
    pub queue: Duration,
}

impl Way {
    /// A clean path with `delay_ms` of delay.
    pub fn delay_ms(delay_ms: u64) -> Way {
        Way {
            delay: Duration::from_millis(delay_ms),
            loss: 0.0,
            rate_bps: None,
            queue: Duration::from_millis(100),
        }
    }
}

/// Datagrams on their way in one direction.
struct Pipe {
    way: Way,
    /// When the bottleneck is free again.
    busy_until: Option<Instant>,
    /// (arrival, bytes), in arrival order (the pipe is FIFO).
    flying: VecDeque<(Instant, Vec<u8>)>,
    dropped_queue: u64,
    datagrams: u64,
}

impl Pipe {
    fn new(way: Way) -> Pipe {
        Pipe {
            way,
            busy_until: None,
            flying: VecDeque::new(),
            dropped_queue: 0,
            datagrams: 0,
        }
    }

    fn send(&mut self, now: Instant, bytes: &[u8], rng: &mut fastrand::Rng) {
        self.datagrams += 1;
        if rng.f64() < self.way.loss {
            return;
        }
        let leaves = match self.way.rate_bps {
            None => now,
            Some(bps) => {
                let start = self.busy_until.map_or(now, |b| b.max(now));
                if start.saturating_duration_since(now) > self.way.queue {
                    self.dropped_queue += 1;
                    return;
                }
                let done = start + Duration::from_secs_f64(bytes.len() as f64 * 8.0 / bps);
                self.busy_until = Some(done);
                done
            }
        };
        self.flying
            .push_back((leaves + self.way.delay, bytes.to_vec()));
    }

    fn next(&self) -> Option<Instant> {
        self.flying.front().map(|(t, _)| *t)
    }

    fn pop(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.next().is_some_and(|t| t <= now) {
            self.flying.pop_front().map(|(_, b)| b)
        } else {
            None
        }
    }
}

/// What a simulated run delivered.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Frames shown per second of the measured span.
    pub fps: f64,
    /// Capture-to-shown latency of every shown frame, sorted.
    pub latency: Vec<Duration>,
    /// Frames the camera offered that the sender never took (a newer one replaced them).
    pub skipped: u64,
    /// Datagrams the bottleneck queue dropped, and all datagrams sent, sender to viewer.
    pub queue_drops: u64,
    /// Datagrams sent from sender to viewer.
    pub datagrams: u64,
    /// The sender's window at the end.
    pub window: usize,
    /// Shown frames whose bytes differ from what was sent (must be 0).
    pub corrupt: u64,
}

impl Outcome {
    /// The `p`-quantile of the latency (0.5 = median).
    pub fn latency_p(&self, p: f64) -> Duration {
        if self.latency.is_empty() {
            return Duration::MAX;
        }
        self.latency[((self.latency.len() - 1) as f64 * p) as usize]
    }
}

fn addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5000))
}

/// A frame of `len` bytes whose content depends on its capture time (since the run began),
/// which is also its timestamp in microseconds.
pub fn frame(len: usize, captured: Duration) -> OutgoingFrame {
    let salt = captured.as_micros() as u64;
    OutgoingFrame {
        data: (0..len)
            .map(|i| (i as u64 ^ salt ^ (salt >> 8)) as u8)
            .collect(),
        codec: Codec::Jpeg,
        width: 8,
        height: 8,
        timestamp_us: captured.as_micros() as u64,
    }
}

/// Runs a sender and a viewer over `fwd` (sender to viewer) and `back` for `secs` seconds of
/// virtual time, offering a `frame_len`-byte frame every `interval`; frames shown in the
/// first second are not counted (the window opens then).
pub fn run(
    cfg: SenderConfig,
    fwd: Way,
    back: Way,
    interval: Duration,
    frame_len: impl Fn(&Sender) -> usize,
    secs: u64,
    seed: u64,
) -> Outcome {
    let mut rng = fastrand::Rng::with_seed(seed);
    let t0 = Instant::now();
    let mut cfg = cfg;
    cfg.frame_interval = interval;
    let mut s = Sender::new(cfg, 1).with_first_seq(0);
    let mut r = Receiver::new(ReceiverConfig::default());
    let mut to_viewer = Pipe::new(fwd);
    let mut to_sender = Pipe::new(back);
    let mut buf = vec![0u8; 65_536];
    let end = t0 + Duration::from_secs(secs);
    let warm = t0 + Duration::from_secs(1);
    let mut next_capture = t0;
    // The capture time of the newest captured frame not yet taken.
    let mut waiting: Option<Duration> = None;
    let mut out = Outcome::default();
    let mut shown = 0u64;
    let mut now = t0;
    while now < end {
        if now >= next_capture {
            if waiting.is_some() && now >= warm {
                out.skipped += 1;
            }
            waiting = Some(now - t0);
            next_capture += interval;
        }
        if let Some(at) = waiting {
            if s.wants_frame(now) {
                s.push_frame(now, frame(frame_len(&s), at)).unwrap();
                waiting = None;
            }
        }
        while let Some(n) = s.poll_transmit(now, &mut buf) {
            to_viewer.send(now, &buf[..n], &mut rng);
        }
        while let Some(d) = to_viewer.pop(now) {
            r.handle_datagram(now, addr(), &d);
        }
        r.handle_timeout(now);
        while let Some((_, n)) = r.poll_transmit(&mut buf) {
            to_sender.send(now, &buf[..n], &mut rng);
        }
        while let Some(d) = to_sender.pop(now) {
            s.handle_datagram(now, &d);
        }
        s.handle_timeout(now);
        while let Some(e) = r.poll_event() {
            if let ReceiverEvent::Frame { frame: f, .. } = e {
                let at = Duration::from_micros(f.info.timestamp_us);
                if f.data != frame(f.data.len(), at).data {
                    out.corrupt += 1;
                }
                if now >= warm {
                    shown += 1;
                    out.latency.push((now - t0).saturating_sub(at));
                }
            }
        }
        while let Some(e) = s.poll_event() {
            if std::env::var_os("SIM_TRACE").is_some() {
                eprintln!(
                    "{:?} {e:?} target {:?} win {} inflight {}",
                    now - t0,
                    s.target_bitrate(),
                    s.window(),
                    s.in_flight()
                );
            }
        }
        let next = [
            s.poll_timeout(),
            r.poll_timeout(),
            to_viewer.next(),
            to_sender.next(),
            Some(next_capture),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + Duration::from_millis(1));
        // Never stand still: a timer due now has been handled above.
        now = next.max(now + Duration::from_micros(10));
    }
    out.latency.sort();
    out.fps = shown as f64 / (secs - 1) as f64;
    out.queue_drops = to_viewer.dropped_queue;
    out.datagrams = to_viewer.datagrams;
    out.window = s.window();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME_30: Duration = Duration::from_nanos(33_333_333);

    fn paced() -> SenderConfig {
        SenderConfig {
            mtu: 1200,
            ..SenderConfig::default()
        }
    }

    /// The window at round trips from 1 to 300 ms: the full 30 fps everywhere, one frame in
    /// flight on a LAN, and latency that is the path's, not a queue's.
    #[test]
    fn full_frame_rate_at_every_round_trip() {
        for (one_way, window) in [
            (0, 1),
            (5, 1),
            (10, 1),
            (25, 3),
            (50, 5),
            (100, 8),
            (150, 11),
        ] {
            let way = Way::delay_ms(one_way);
            let o = run(paced(), way, way, FRAME_30, |_| 30_000, 5, 1);
            let label = format!("one way {one_way} ms: {o:?}");
            assert!(o.fps >= 29.5, "{label}");
            assert_eq!(o.window, window, "{label}");
            assert_eq!(o.skipped, 0, "{label}");
            assert_eq!(o.corrupt, 0);
            // Capture to shown: the one-way delay and a few milliseconds of sending.
            let p50 = o.latency_p(0.5);
            assert!(
                p50 <= Duration::from_millis(one_way + 5),
                "p50 {p50:?}: {label}"
            );
        }
    }

    /// The window never exceeds what the viewer takes, however long the round trip.
    #[test]
    fn the_viewer_window_caps_the_flight() {
        let way = Way::delay_ms(400);
        let o = run(paced(), way, way, FRAME_30, |_| 10_000, 6, 2);
        let viewer = ReceiverConfig::default().reassembly.window() as usize;
        assert_eq!(o.window, viewer, "{o:?}");
        // 14 frames per 800 ms round trip.
        let cap = viewer as f64 / 0.8;
        assert!(o.fps > cap * 0.9 && o.fps < cap * 1.1, "{o:?}");
        assert_eq!(o.corrupt, 0);
    }

    /// Heavy loss: repairs of one frame do not hold back the next. Nearly every 30 KB frame
    /// loses a chunk at 10% loss, so frames complete out of order and the viewer drops the
    /// older ones (the newest wins); a frame still arrives within a repair round or two.
    #[test]
    fn repairs_do_not_stall_the_stream() {
        let way = Way {
            loss: 0.1,
            ..Way::delay_ms(50)
        };
        let o = run(paced(), way, way, FRAME_30, |_| 30_000, 6, 3);
        assert!(o.fps >= 19.0, "{o:?}");
        assert!(o.latency_p(0.5) <= Duration::from_millis(160), "{o:?}");
        assert_eq!(o.corrupt, 0);
        // 30% loss each way on a short path: 77 KB frames (a 720p picture) still flow.
        let way = Way {
            loss: 0.3,
            ..Way::delay_ms(1)
        };
        let o = run(paced(), way, way, FRAME_30, |_| 77_000, 6, 4);
        assert!(o.fps >= 26.0, "{o:?}");
        assert!(o.latency_p(0.5) <= Duration::from_millis(50), "{o:?}");
        assert_eq!(o.corrupt, 0);
    }
}

#[cfg(test)]
mod bottleneck {
    use super::*;

    const FRAME_30: Duration = Duration::from_nanos(33_333_333);

    /// Frames as a quality-adapting encoder would make them: 77 KB (a 720p picture at the
    /// default quality) until the sender has a target, then what fits it at 30 fps.
    fn fitted(s: &Sender) -> usize {
        match s.target_bitrate() {
            None => 77_000,
            Some(bps) => ((bps / 8.0 / 30.0) as usize).clamp(2_000, 77_000),
        }
    }

    /// A home uplink: 5 Mbit/s with 200 ms of queue, 25 ms each way. The rate settles below
    /// the bottleneck, the queue stays short, and the frame rate stays whole.
    #[test]
    fn the_rate_settles_below_a_bottleneck() {
        let fwd = Way {
            rate_bps: Some(5e6),
            queue: Duration::from_millis(200),
            ..Way::delay_ms(25)
        };
        let o = run(
            SenderConfig::default(),
            fwd,
            Way::delay_ms(25),
            FRAME_30,
            fitted,
            10,
            5,
        );
        eprintln!(
            "5 Mbit/s: {} fps p50 {:?} p95 {:?} skipped {} window {} drops {}/{}",
            o.fps,
            o.latency_p(0.5),
            o.latency_p(0.95),
            o.skipped,
            o.window,
            o.queue_drops,
            o.datagrams
        );
        assert!(o.fps >= 27.0, "{o:?}");
        assert!(o.latency_p(0.5) <= Duration::from_millis(100), "{o:?}");
        assert!(o.queue_drops * 100 <= o.datagrams, "{o:?}");
        assert_eq!(o.corrupt, 0);
    }
}
