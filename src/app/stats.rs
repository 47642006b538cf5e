//! Stream statistics: counters, latency percentiles, the once-a-second report and the summary.
//!
//! Percentiles come from HDR histograms, so a run of any length uses the same few kilobytes.
//! Reports are JSON objects (for `--stats-json`) or a one-line status for a terminal.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Serialize, Serializer};

/// Rates need at least this many frames in their window: one frame has no rate.
pub const MIN_RATE_FRAMES: u64 = 2;
/// Rates need a window at least this long: a few frames in a few microseconds would claim
/// thousands of frames per second.
pub const MIN_RATE_WINDOW: Duration = Duration::from_millis(100);

/// Cumulative counters of one side of a stream. Each report shows the change since the last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Frames delivered (viewer: received whole; sender: acknowledged).
    pub frames: u64,
    /// Bytes of those frames.
    pub bytes: u64,
    /// Frames lost, abandoned or superseded before being shown (viewer) or acknowledged (sender).
    pub dropped_frames: u64,
    /// Frames received whole but replaced by a newer one before they were decoded or shown:
    /// the newest-wins rule at work, not loss.
    pub skipped_frames: u64,
    /// Chunks sent (sender) or received (viewer) in a retransmission round.
    pub retransmitted_chunks: u64,
    /// Frames whose CRC did not match (viewer).
    pub crc_failures: u64,
    /// Frames that did not decode (viewer).
    pub decode_errors: u64,
    /// Invalid datagrams ignored.
    pub rejected_datagrams: u64,
    /// Retransmission timeouts (sender).
    pub timeouts: u64,
    /// Frames given up because a newer one was ready after their deadline (sender).
    pub abandoned_frames: u64,
    /// NACKs received (sender) or sent (viewer).
    pub nacks: u64,
    /// Valid datagrams of sessions not shown (viewer): older senders, ended sessions.
    pub ignored_datagrams: u64,
    /// JSON messages delivered (viewer: accepted; sender: acknowledged as delivered).
    pub messages: u64,
    /// JSON messages refused (invalid, too large) or, at the sender, never answered.
    pub messages_refused: u64,
    /// Datagrams left unprocessed while the viewer was behind (viewer): message chunks held
    /// back while the reader of messages was slow (their sender repeats them), and datagrams
    /// dropped while the network thread was a whole queue behind.
    pub deferred_datagrams: u64,
    /// Frames `--save` did not write because the disk was behind or failed (viewer).
    pub unsaved_frames: u64,
    /// Senders not shown because `--max-senders` others were (or not the `--only` one)
    /// (viewer).
    pub refused_senders: u64,
    /// Frames `--record` did not write because the disk was behind or failed (viewer).
    pub unrecorded_frames: u64,
}

impl Counters {
    fn minus(&self, o: &Counters) -> Counters {
        Counters {
            frames: self.frames - o.frames,
            bytes: self.bytes - o.bytes,
            dropped_frames: self.dropped_frames - o.dropped_frames,
            skipped_frames: self.skipped_frames - o.skipped_frames,
            retransmitted_chunks: self.retransmitted_chunks - o.retransmitted_chunks,
            crc_failures: self.crc_failures - o.crc_failures,
            decode_errors: self.decode_errors - o.decode_errors,
            rejected_datagrams: self.rejected_datagrams - o.rejected_datagrams,
            timeouts: self.timeouts - o.timeouts,
            abandoned_frames: self.abandoned_frames - o.abandoned_frames,
            nacks: self.nacks - o.nacks,
            ignored_datagrams: self.ignored_datagrams - o.ignored_datagrams,
            messages: self.messages - o.messages,
            messages_refused: self.messages_refused - o.messages_refused,
            deferred_datagrams: self.deferred_datagrams - o.deferred_datagrams,
            unsaved_frames: self.unsaved_frames - o.unsaved_frames,
            refused_senders: self.refused_senders - o.refused_senders,
            unrecorded_frames: self.unrecorded_frames - o.unrecorded_frames,
        }
    }
}

/// Percentiles of a duration, recorded in microseconds.
pub struct Percentiles {
    total: Histogram<u64>,
    interval: Histogram<u64>,
}

impl Default for Percentiles {
    fn default() -> Self {
        // 1 µs to 10 minutes at 3 significant digits: a fixed ~40 KiB each.
        let h = || Histogram::new_with_bounds(1, 600_000_000, 3).expect("static bounds are valid");
        Percentiles {
            total: h(),
            interval: h(),
        }
    }
}

impl Percentiles {
    /// Records one sample; out-of-range samples are clamped.
    pub fn record(&mut self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, 600_000_000);
        let _ = self.total.record(us);
        let _ = self.interval.record(us);
    }

    fn ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
        (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
    }
}

/// Which side a report describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `cam-send`.
    Send,
    /// `cam-view`.
    View,
}

/// Counters only a viewer keeps: left out of the sender's JSON.
pub const VIEWER_ONLY: [&str; 8] = [
    "skipped_frames",
    "crc_failures",
    "decode_errors",
    "deferred_datagrams",
    "unsaved_frames",
    "refused_senders",
    "senders",
    "unrecorded_frames",
];

/// One `--stats-json` line. The sender's leaves out the [`VIEWER_ONLY`] counters.
#[derive(Debug, Clone, Serialize)]
// The derived serializer becomes `Report::serialize`, wrapped by the impl below.
#[serde(remote = "Self")]
pub struct Report {
    /// `"interval"` once a second, `"summary"` once at exit.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Which program.
    pub role: Role,
    /// Seconds since the stream started.
    pub elapsed_s: f64,
    /// Seconds this report covers.
    pub window_s: f64,
    /// Counts for the window.
    #[serde(flatten)]
    pub counts: Counters,
    /// Frames per second over the window; `None` (JSON `null`) when the window is too short
    /// or holds too few frames for a rate to mean anything (see [`MIN_RATE_FRAMES`] and
    /// [`MIN_RATE_WINDOW`]).
    pub fps: Option<f64>,
    /// Megabits per second of frame data over the window; `None` like `fps`.
    pub mbps: Option<f64>,
    /// Capture-to-decoded latency (viewer) or ACK round trip (sender), median, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms_p50: Option<f64>,
    /// The same, 95th percentile, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms_p95: Option<f64>,
    /// ACK round-trip time, median, ms (sender).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms_p50: Option<f64>,
    /// ACK round-trip time, 95th percentile, ms (sender).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms_p95: Option<f64>,
    /// Age of a frame when the network loop takes it for sending (capture to first
    /// transmission: capture, encoding and the wait for its turn), median, ms (sender).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_ms_p50: Option<f64>,
    /// The same, 95th percentile, ms (sender).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_ms_p95: Option<f64>,
    /// Picture size of the last frame, `WxH`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// The sender of the last frame: its session id in hex (viewer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// What the sender knows of the path and how it fits the picture to it (sender).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathReport>,
    /// RTP reception: packets, lost packets, jitter (viewer, `--listen rtp://`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtp: Option<RtpReport>,
    /// Each sender seen (viewer), in order of name: its own frames, rate, losses and
    /// latency beside the totals above.
    pub senders: Vec<SenderReport>,
    /// Receive buffer the OS granted, bytes (viewer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcvbuf: Option<usize>,
    /// The peer's state: `"connected"`, `"disconnected"` or `"waiting"` (nothing yet).
    pub peer: &'static str,
    /// Invalid datagrams by reason, in the summary (viewer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected_by_kind: Option<std::collections::BTreeMap<&'static str, u64>>,
    /// The run sends or expects pictures (false for a run of messages alone: its status line
    /// then says nothing of frames).
    #[serde(skip)]
    pub pictures: bool,
}

impl Serialize for Report {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct All<'a>(&'a Report);
        impl Serialize for All<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                Report::serialize(self.0, s)
            }
        }
        if self.role == Role::View {
            return All(self).serialize(s);
        }
        let mut v = serde_json::to_value(All(self)).map_err(serde::ser::Error::custom)?;
        if let Some(m) = v.as_object_mut() {
            for k in VIEWER_ONLY {
                m.remove(k);
            }
        }
        v.serialize(s)
    }
}

/// One sender's part of a viewer's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SenderReport {
    /// Its name (`cam-send --name`), or its session id in hex until it says one.
    pub name: String,
    /// Its current session id, hex.
    pub session: String,
    /// `"connected"` while shown, else `"disconnected"`.
    pub state: &'static str,
    /// Frames delivered in the report's window.
    pub frames: u64,
    /// Frames per second over the window, `null` as for the totals.
    pub fps: Option<f64>,
    /// Frames that never arrived whole (gaps in its frame numbers) or were skipped for a
    /// newer one before decoding, in the window.
    pub dropped: u64,
    /// Capture-to-decoded latency, median and 95th percentile, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms_p50: Option<f64>,
    /// The same, 95th percentile, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms_p95: Option<f64>,
}

/// One sender's running counts in a viewer's [`StatsBook`].
#[derive(Default)]
pub struct SenderBook {
    /// Its session id now (a restart under the same name changes it).
    pub session: u32,
    /// Shown now.
    pub connected: bool,
    /// Frames delivered.
    pub frames: u64,
    /// Frames missed or skipped.
    pub dropped: u64,
    /// The last frame number delivered, to count gaps.
    pub last_seq: Option<(u32, u32)>,
    /// Capture-to-decoded latency.
    pub latency: Percentiles,
    at_last: (u64, u64),
}

impl SenderBook {
    /// Counts a delivered frame `seq` of `session`: gaps since the previous one of the same
    /// session are frames that never came.
    pub fn delivered(&mut self, session: u32, seq: u32) {
        if let Some((s, last)) = self.last_seq {
            if s == session {
                let gap = seq.wrapping_sub(last).wrapping_sub(1);
                // A gap beyond a few seconds of frames is a jump (reordering, a restart of
                // the numbering), not loss.
                if gap < 1 << 16 {
                    self.dropped += u64::from(gap);
                }
            }
        }
        self.last_seq = Some((session, seq));
        self.session = session;
        self.frames += 1;
    }
}

/// An RTP/JPEG viewer's reception (`--listen rtp://`), over every stream since the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RtpReport {
    /// RTP packets received.
    pub packets: u64,
    /// Packets the sequence numbers say never came (RFC 3550 A.3).
    pub lost_packets: u64,
    /// The shown stream's interarrival jitter (RFC 3550 A.8), ms.
    pub jitter_ms: f64,
}

/// The sender's view of the path and its choices, at the time of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PathReport {
    /// The rate the stream fits itself to, Mbit/s; `null` while the path has never limited
    /// it.
    pub target_mbps: Option<f64>,
    /// The bottleneck's rate from recent frames, Mbit/s; `null` when none was measured.
    pub capacity_mbps: Option<f64>,
    /// The path's round trip without queueing, ms.
    pub base_rtt_ms: Option<f64>,
    /// The queue the latest measured frame found at the bottleneck, ms.
    pub queue_ms: Option<f64>,
    /// Frames that may be in flight at once.
    pub window: usize,
    /// The JPEG quality in use (`null` for a camera's own JPEG, passed through).
    pub quality: Option<u8>,
    /// Times the target was lowered.
    pub decreases: u64,
}

/// The statistics of one program run.
pub struct StatsBook {
    role: Role,
    start: Instant,
    last: Instant,
    /// Running totals; update these directly.
    pub counts: Counters,
    at_last: Counters,
    /// Capture-to-decoded latency (viewer).
    pub latency: Percentiles,
    /// ACK round trips (sender).
    pub rtt: Percentiles,
    /// Frame age when it is taken for sending (sender).
    pub age: Percentiles,
    /// Picture size of the newest frame.
    pub size: Option<(u32, u32)>,
    /// The sender of the newest frame (viewer).
    pub sender: Option<std::sync::Arc<str>>,
    /// Every sender seen, by name (viewer).
    pub senders: std::collections::BTreeMap<std::sync::Arc<str>, SenderBook>,
    /// The sender's view of the path (sender).
    pub path: Option<PathReport>,
    /// RTP reception (viewer, `--listen rtp://`).
    pub rtp: Option<RtpReport>,
    /// Receive buffer granted by the OS.
    pub rcvbuf: Option<usize>,
    /// The peer's state for reports: `"waiting"`, `"connected"` or `"disconnected"`.
    pub peer: &'static str,
    /// Invalid datagrams by reason, shown in the summary.
    pub rejected_by_kind: std::collections::BTreeMap<&'static str, u64>,
    /// The run sends or expects pictures (default true); see [`Report::pictures`].
    pub pictures: bool,
    /// When the first frame was delivered: summary rates are measured from here, so that
    /// time spent waiting for the peer does not count against the frame rate.
    pub first_frame: Option<Instant>,
    /// When the last frame was delivered: summary rates are measured up to here, so that
    /// time after the stream ended does not count either.
    pub last_frame: Option<Instant>,
}

impl StatsBook {
    /// A fresh book starting at `now`.
    pub fn new(role: Role, now: Instant) -> Self {
        StatsBook {
            role,
            start: now,
            last: now,
            counts: Counters::default(),
            at_last: Counters::default(),
            latency: Percentiles::default(),
            rtt: Percentiles::default(),
            age: Percentiles::default(),
            size: None,
            sender: None,
            senders: Default::default(),
            path: None,
            rtp: None,
            rcvbuf: None,
            peer: "waiting",
            rejected_by_kind: Default::default(),
            first_frame: None,
            last_frame: None,
            pictures: true,
        }
    }

    fn report(
        &self,
        kind: &'static str,
        now: Instant,
        c: Counters,
        window: Duration,
        h: bool,
    ) -> Report {
        let secs = window.as_secs_f64().max(1e-9);
        let rated = c.frames >= MIN_RATE_FRAMES && window >= MIN_RATE_WINDOW;
        let pick =
            |p: &Percentiles, q: f64| Percentiles::ms(if h { &p.interval } else { &p.total }, q);
        let round = |x: f64| (x * 100.0).round() / 100.0;
        Report {
            kind,
            role: self.role,
            elapsed_s: round(now.saturating_duration_since(self.start).as_secs_f64()),
            window_s: round(secs),
            counts: c,
            fps: rated.then(|| round(c.frames as f64 / secs)),
            mbps: rated.then(|| round(c.bytes as f64 * 8.0 / secs / 1e6)),
            latency_ms_p50: pick(&self.latency, 0.5).map(round),
            latency_ms_p95: pick(&self.latency, 0.95).map(round),
            rtt_ms_p50: pick(&self.rtt, 0.5).map(round),
            rtt_ms_p95: pick(&self.rtt, 0.95).map(round),
            age_ms_p50: pick(&self.age, 0.5).map(round),
            age_ms_p95: pick(&self.age, 0.95).map(round),
            size: self.size.map(|(w, h)| format!("{w}x{h}")),
            sender: self.sender.as_deref().map(str::to_owned),
            path: self.path,
            rtp: self.rtp,
            senders: self
                .senders
                .iter()
                .map(|(name, b)| {
                    let (frames, dropped) = if h {
                        (b.frames - b.at_last.0, b.dropped - b.at_last.1)
                    } else {
                        (b.frames, b.dropped)
                    };
                    SenderReport {
                        name: name.to_string(),
                        session: format!("{:08x}", b.session),
                        state: if b.connected {
                            "connected"
                        } else {
                            "disconnected"
                        },
                        frames,
                        fps: (rated && frames >= MIN_RATE_FRAMES)
                            .then(|| round(frames as f64 / secs)),
                        dropped,
                        latency_ms_p50: pick(&b.latency, 0.5).map(round),
                        latency_ms_p95: pick(&b.latency, 0.95).map(round),
                    }
                })
                .collect(),
            rcvbuf: self.rcvbuf,
            peer: self.peer,
            rejected_by_kind: (!h && !self.rejected_by_kind.is_empty())
                .then(|| self.rejected_by_kind.clone()),
            pictures: self.pictures,
        }
    }

    /// The report for the time since the previous call, and the start of a new window.
    pub fn interval(&mut self, now: Instant) -> Report {
        let r = self.report(
            "interval",
            now,
            self.counts.minus(&self.at_last),
            now.saturating_duration_since(self.last),
            true,
        );
        self.at_last = self.counts;
        self.last = now;
        for b in self.senders.values_mut() {
            b.at_last = (b.frames, b.dropped);
            b.latency.interval.reset();
        }
        self.latency.interval.reset();
        self.rtt.interval.reset();
        self.age.interval.reset();
        r
    }

    /// The report for the whole run. Rates are taken between the first and the last frame
    /// delivered (`frames - 1` intervals), so idle time before or after the stream does not
    /// dilute them.
    pub fn summary(&self, now: Instant) -> Report {
        match (self.first_frame, self.last_frame) {
            (Some(a), Some(b)) if b > a && self.counts.frames > 1 => {
                let window = b - a;
                let mut r = self.report("summary", now, self.counts, window, false);
                let intervals = (self.counts.frames - 1) as f64;
                if r.fps.is_some() {
                    r.fps = Some((intervals / window.as_secs_f64() * 100.0).round() / 100.0);
                }
                r
            }
            _ => {
                let from = self.first_frame.unwrap_or(self.start);
                let window = now.saturating_duration_since(from);
                self.report("summary", now, self.counts, window, false)
            }
        }
    }
}

impl Report {
    /// A one-line human summary for a terminal status line or window title.
    pub fn status_line(&self) -> String {
        let mut s = match (self.fps, self.mbps) {
            (Some(fps), Some(mbps)) => format!("{fps:.1} fps  {mbps:.1} Mbit/s  "),
            _ => String::new(),
        };
        let c = &self.counts;
        let words = c.messages + c.messages_refused;
        // Frames are counted where pictures are (or are expected and nothing else came).
        if c.frames > 0 || (self.pictures && words == 0) {
            s.push_str(&format!("{} frames", c.frames));
        } else if words == 0 {
            s.push_str("0 messages");
        }
        if self.peer == "disconnected" {
            s = format!("disconnected  {s}");
        }
        if let Some(size) = &self.size {
            s = format!("{size}  {s}");
        }
        if let (Some(p50), Some(p95)) = (self.latency_ms_p50, self.latency_ms_p95) {
            s.push_str(&format!("  latency {p50:.1}/{p95:.1} ms"));
        }
        if let (Some(p50), Some(p95)) = (self.rtt_ms_p50, self.rtt_ms_p95) {
            s.push_str(&format!("  rtt {p50:.1}/{p95:.1} ms"));
        }
        if let (Some(p50), Some(p95)) = (self.age_ms_p50, self.age_ms_p95) {
            s.push_str(&format!("  age {p50:.1}/{p95:.1} ms"));
        }
        if let Some(p) = &self.path {
            if let Some(t) = p.target_mbps {
                s.push_str(&format!("  fit {t:.1} Mbit/s"));
            }
            if let Some(q) = p.quality {
                s.push_str(&format!("  q{q}"));
            }
            if p.window > 1 {
                s.push_str(&format!("  window {}", p.window));
            }
        }

        for (n, what) in [
            (c.dropped_frames, "dropped"),
            (c.skipped_frames, "skipped"),
            (c.retransmitted_chunks, "resent chunks"),
            (c.timeouts, "timeouts"),
            (c.abandoned_frames, "abandoned"),
            (c.nacks, "nacks"),
            (c.ignored_datagrams, "ignored"),
            (c.crc_failures, "crc failures"),
            (c.decode_errors, "decode errors"),
            (c.rejected_datagrams, "rejected"),
            (c.messages, "messages"),
            (c.messages_refused, "messages refused"),
            (c.deferred_datagrams, "deferred"),
            (c.unsaved_frames, "unsaved"),
            (c.refused_senders, "senders refused"),
            (c.unrecorded_frames, "unrecorded"),
        ] {
            if n > 0 {
                s.push_str(&format!("  {n} {what}"));
            }
        }
        s.trim_start().to_string()
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_counts_the_window_and_summary_the_run() {
        let t0 = Instant::now();
        let mut b = StatsBook::new(Role::View, t0);
        b.counts.frames = 30;
        b.counts.bytes = 3_000_000;
        for ms in [10, 20, 30, 40] {
            b.latency.record(Duration::from_millis(ms));
        }
        let r = b.interval(t0 + Duration::from_secs(1));
        assert_eq!(r.counts.frames, 30);
        assert_eq!(r.fps, Some(30.0));
        assert_eq!(r.mbps, Some(24.0));
        assert!((r.latency_ms_p50.unwrap() - 20.0).abs() < 0.1);
        b.counts.frames = 45;
        let r = b.interval(t0 + Duration::from_secs(2));
        assert_eq!(r.counts.frames, 15);
        assert_eq!(r.latency_ms_p50, None, "no samples this window");
        b.first_frame = Some(t0);
        let s = b.summary(t0 + Duration::from_secs(3));
        assert_eq!(s.counts.frames, 45);
        assert_eq!(s.fps, Some(15.0), "no last frame known: up to now");
        b.last_frame = Some(t0 + Duration::from_secs(2));
        let s = b.summary(t0 + Duration::from_secs(60));
        assert_eq!(
            s.fps,
            Some(22.0),
            "44 intervals in 2 s, whatever came after"
        );
        assert!((s.latency_ms_p95.unwrap() - 40.0).abs() < 0.1);
        let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(v["type"], "summary");
        assert_eq!(v["role"], "view");
        assert_eq!(v["frames"], 45);
        assert_eq!(v["crc_failures"], 0);
    }

    #[test]
    fn no_rates_from_one_frame_or_a_moment() {
        let t0 = Instant::now();
        // One picture acknowledged 40 us after the run started: no rate at all.
        let mut b = StatsBook::new(Role::Send, t0);
        b.counts.frames = 1;
        b.counts.bytes = 250_000;
        b.first_frame = Some(t0 + Duration::from_micros(20));
        b.last_frame = b.first_frame;
        let s = b.summary(t0 + Duration::from_micros(40));
        assert_eq!((s.fps, s.mbps), (None, None), "{}", s.to_json());
        let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert!(v["fps"].is_null() && v["mbps"].is_null(), "{v}");
        assert_eq!(s.status_line(), "1 frames");
        // Two frames 1 ms apart: still too short a window.
        b.counts.frames = 2;
        b.last_frame = Some(t0 + Duration::from_millis(1));
        assert_eq!(b.summary(t0 + Duration::from_secs(1)).fps, None);
        // One frame in a whole second's interval: no rate either.
        let mut b = StatsBook::new(Role::View, t0);
        b.counts.frames = 1;
        let r = b.interval(t0 + Duration::from_secs(1));
        assert_eq!((r.fps, r.mbps), (None, None));
        assert!(!r.status_line().contains("fps"), "{}", r.status_line());
        // Two frames 200 ms apart: a rate.
        b.counts.frames = 3;
        b.first_frame = Some(t0);
        b.last_frame = Some(t0 + Duration::from_millis(200));
        let s = b.summary(t0 + Duration::from_secs(2));
        assert_eq!(s.fps, Some(10.0), "{}", s.to_json());
        assert!(
            s.status_line().starts_with("10.0 fps"),
            "{}",
            s.status_line()
        );
    }

    #[test]
    fn the_senders_json_has_no_viewer_counters_and_message_runs_no_frames() {
        let t0 = Instant::now();
        let mut b = StatsBook::new(Role::Send, t0);
        b.pictures = false;
        b.counts.messages = 3;
        let r = b.summary(t0 + Duration::from_secs(1));
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        for k in VIEWER_ONLY {
            assert!(v.get(k).is_none(), "{k} in the sender's {v}");
        }
        assert_eq!(v["messages"], 3);
        assert_eq!(v["frames"], 0);
        assert!(v.get("pictures").is_none(), "{v}");
        assert_eq!(r.status_line(), "3 messages");
        b.counts.messages = 0;
        assert_eq!(b.summary(t0).status_line(), "0 messages");
        // The viewer keeps them all.
        let r = StatsBook::new(Role::View, t0).summary(t0);
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        for k in VIEWER_ONLY {
            assert!(v.get(k).is_some(), "{k} missing from the viewer's {v}");
        }
        assert_eq!(r.status_line(), "0 frames");
    }
}
