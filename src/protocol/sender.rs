//! The sending side of the protocol as a sans-IO state machine.
//!
//! [`Sender`] never touches a socket or a clock. The caller feeds it frames
//! ([`Sender::push_frame`]), received datagrams ([`Sender::handle_datagram`]) and timer expiries
//! ([`Sender::handle_timeout`]), and drains what it wants to send ([`Sender::poll_transmit`]) and
//! what happened ([`Sender::poll_event`]). The same loop shape as quinn-proto and str0m.
//!
//! Every frame is acknowledged, and ACKs pace the sender: a window of frames may be in flight,
//! as many as cover a frame's push-to-ACK time at the capture rate ([`FrameWindow`]), so one
//! (stop-and-wait) on a LAN and five across a 100 ms round trip at 30 fps, never more than the
//! viewer says it takes.
//! - Loss is repaired selectively: the viewer NACKs the chunks it lacks and only those are
//!   sent again.
//! - When nothing at all comes back within the retransmission timeout (RFC 6298, from measured
//!   round trips), the frame's last chunk is sent again as a probe: the viewer answers it with
//!   an ACK (if only the ACK was lost) or a NACK.
//! - A frame older than `max_latency` beyond the round trip gives way to a newer one
//!   ([`Sender::wants_frame`]); an ACK of a newer frame ends every older one (the viewer never
//!   shows an older frame after a newer one).
//! - After `peer_timeout` without any answer the viewer counts as gone: frames are then only
//!   probed, one datagram every `probe_interval`, until it answers again.
//! - Chunks leave through a token-bucket pacer, so a large frame does not arrive as one burst.
//! - JSON messages ([`Sender::push_message`]) go beside the frames, reliably and in order,
//!   through the same pacer and ahead of frame chunks (see [`crate::protocol::message`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use fixedbitset::FixedBitSet;

use crate::protocol::key::Key;
use crate::protocol::link::{LinkDrop, SenderLink, SenderOpened};
use crate::protocol::message::{MessageError, MessageOutcome, Outbox};
use crate::protocol::rate::{AckSample, PathEstimate, RateController};
use crate::protocol::reassembly::DEFAULT_MAX_FRAME_BYTES;
use crate::protocol::session_info::{NameError, SessionInfo};
use crate::protocol::timing::{datagrams_per_sec, Pacer, RttEstimator};
use crate::protocol::window::FrameWindow;
use crate::protocol::wire::{self, chunk_count, nack_missing, Codec, Content, Datagram, FrameInfo};

/// Tunables of the sender.
#[derive(Debug, Clone, Copy)]
pub struct SenderConfig {
    /// Largest datagram to send, in bytes of UDP payload.
    pub mtu: usize,
    /// The longest wait for an answer (ACK or NACK) before probing again; also the first wait,
    /// before any round trip has been measured.
    pub ack_timeout: Duration,
    /// The shortest retransmission timeout, however fast the path looks.
    pub min_rto: Duration,
    /// How late a frame may be beyond the path's round trip: once it has been in flight for
    /// `max_latency` + SRTT, it gives way to a newer one (PROTOCOL.md 8.8).
    pub max_latency: Duration,
    /// How often the caller offers a frame (its capture rate): with the measured push-to-ACK
    /// time it sizes the window of frames in flight (PROTOCOL.md 8.12).
    pub frame_interval: Duration,
    /// Timeouts a frame may have before it is given up on, when no newer frame replaces it
    /// (at least 1); `None` keeps probing for as long as no newer frame arrives.
    pub max_attempts: Option<u32>,
    /// Silence after which the viewer counts as gone.
    pub peer_timeout: Duration,
    /// While the viewer is gone, one probe datagram per this interval.
    pub probe_interval: Duration,
    /// Pacing rate in datagrams per second; 0 disables pacing. Users think in megabits per
    /// second: see [`SenderConfig::with_max_rate_mbps`].
    pub pace_per_sec: f64,
    /// Datagrams that may leave back to back before pacing applies.
    pub pace_burst: u32,
    /// A message without a verdict from the viewer after this long is given up.
    pub message_timeout: Duration,
    /// After this long without sending anything (a camera away, no messages), send a
    /// KEEPALIVE, so that the viewer does not count the sender gone. Well under the viewer's
    /// 2 s session timeout.
    pub keepalive: Duration,
    /// Frames longer than this are refused by [`Sender::push_frame`]
    /// ([`PushError::OverLimit`]): a viewer refuses them on their first chunk (its
    /// `max_frame_bytes`, by default the same [`DEFAULT_MAX_FRAME_BYTES`]), so sending them
    /// would only look like a viewer that does not answer.
    pub max_frame_bytes: usize,
}

/// The default pacing rate, megabits per second of datagrams (`cam-send --max-rate`).
pub const DEFAULT_MAX_RATE_MBPS: f64 = 1000.0;

impl SenderConfig {
    /// The same settings, paced at `mbps` megabits per second of datagrams of this `mtu`
    /// (0 sends unpaced). Set `mtu` first.
    pub fn with_max_rate_mbps(mut self, mbps: f64) -> Self {
        self.pace_per_sec = datagrams_per_sec(mbps, self.mtu);
        self
    }

    /// The pacing rate in megabits per second (0 when unpaced).
    pub fn max_rate_mbps(&self) -> f64 {
        self.pace_per_sec * self.mtu as f64 * 8.0 / 1e6
    }
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            mtu: 1200,
            ack_timeout: Duration::from_millis(100),
            min_rto: Duration::from_millis(20),
            max_latency: Duration::from_millis(150),
            frame_interval: Duration::from_nanos(1_000_000_000 / 30),
            max_attempts: None,
            peer_timeout: Duration::from_secs(1),
            probe_interval: Duration::from_millis(250),
            // 1 Gbit/s of 1200-byte datagrams, in bursts of 32 (~74 KB of kernel buffer each,
            // a third of Linux's default receive buffer).
            pace_per_sec: datagrams_per_sec(DEFAULT_MAX_RATE_MBPS, 1200),
            pace_burst: 32,
            message_timeout: Duration::from_secs(5),
            keepalive: Duration::from_millis(500),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        }
    }
}

/// A frame ready to go on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingFrame {
    /// The encoded bytes.
    pub data: Vec<u8>,
    /// How `data` is encoded.
    pub codec: Codec,
    /// Picture width in pixels.
    pub width: u16,
    /// Picture height in pixels.
    pub height: u16,
    /// Capture time, microseconds since the Unix epoch.
    pub timestamp_us: u64,
}

/// Something the sender wants its owner to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderEvent {
    /// The viewer has the frame.
    Acked {
        /// The frame's sequence number.
        seq: u32,
        /// Round trip of the transmission the ACK names; `None` when the ACK names one this
        /// sender no longer remembers, so that no false sample is taken.
        rtt: Option<Duration>,
        /// Frame size in bytes.
        bytes: usize,
        /// Chunks that had to be sent again.
        resent_chunks: u32,
    },
    /// Nothing came back within the retransmission timeout.
    TimedOut {
        /// The frame's sequence number.
        seq: u32,
        /// Timeouts of this frame so far.
        timeouts: u32,
    },
    /// An unacknowledged frame was replaced by a newer one (or cut off by `close`).
    Abandoned {
        /// The frame's sequence number.
        seq: u32,
    },
    /// A frame used all its attempts and nothing newer replaced it.
    GaveUp {
        /// The frame's sequence number.
        seq: u32,
    },
    /// The viewer stopped answering: from now on frames are only probed.
    PeerLost,
    /// The viewer said BYE (it was closed): as after [`SenderEvent::PeerLost`], frames are
    /// only probed from now on, until a viewer answers ([`SenderEvent::PeerBack`]).
    ViewerClosed,
    /// The viewer answers again.
    PeerBack,
    /// A message has its verdict: delivered, refused, or timed out.
    Message {
        /// The message's sequence number (from [`Sender::push_message`]).
        seq: u32,
        /// What became of it.
        outcome: MessageOutcome,
        /// Round trip of the round the verdict answered, when known.
        rtt: Option<Duration>,
    },
}

/// Counters the sender keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SenderStats {
    /// Frames started.
    pub frames_sent: u64,
    /// Frames acknowledged.
    pub frames_acked: u64,
    /// Bytes of acknowledged frames.
    pub bytes_acked: u64,
    /// Frames that never got an ACK: abandoned, given up on, or cut off by `close`.
    pub frames_dropped: u64,
    /// Of those, frames replaced by a newer one before their ACK.
    pub frames_abandoned: u64,
    /// Datagrams sent (chunks and control).
    pub datagrams_sent: u64,
    /// Chunks sent again (after a NACK, or as a probe).
    pub retransmitted_chunks: u64,
    /// NACKs received for the frame in flight.
    pub nacks: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Probe datagrams sent while the viewer was gone.
    pub probes: u64,
    /// Datagrams received that were not valid camwire datagrams for a sender.
    pub invalid_datagrams: u64,
    /// Messages queued.
    pub messages_sent: u64,
    /// Messages the viewer accepted.
    pub messages_delivered: u64,
    /// Messages the viewer refused (invalid JSON, too large).
    pub messages_refused: u64,
    /// Messages given up without a verdict.
    pub messages_failed: u64,
    /// Valid ACKs and NACKs that were not for the frame in flight (late, duplicated, or
    /// another session).
    pub stale_replies: u64,
    /// With a key: datagrams whose tag or MAC did not match, keyless ones, and sealed ones
    /// of no handshake of ours. Dropped unread.
    pub unauthenticated: u64,
    /// With a key: authentic datagrams seen before (or too old for the replay window).
    pub replayed: u64,
    /// Without a key: datagrams whose CRC-32 did not match.
    pub damaged: u64,
    /// With a key: hellos sent.
    pub hellos: u64,
    /// With a key: handshakes completed (the first, and one after each time the viewer went
    /// away and came back).
    pub handshakes: u64,
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The frame has no bytes.
    #[error("frame is empty")]
    Empty,
    /// More than 65,535 chunks at this MTU.
    #[error("frame of {len} bytes is too large for MTU {mtu}")]
    TooLarge {
        /// Frame length.
        len: usize,
        /// Configured MTU.
        mtu: usize,
    },
    /// Larger than a viewer takes ([`SenderConfig::max_frame_bytes`]).
    #[error("frame of {len} bytes is larger than the viewer's limit of {limit} bytes")]
    OverLimit {
        /// Frame length.
        len: usize,
        /// The limit.
        limit: usize,
    },
}

/// Why a frame in flight stops being sent.
enum Drop {
    Replaced,
    Closed,
    GaveUp,
}

struct InFlight {
    info: FrameInfo,
    data: Vec<u8>,
    /// The `attempt` byte for chunks sent from now on: 0 first, +1 per repair or probe.
    gen: u8,
    pushed: Instant,
    /// When its first chunk left, and when the last chunk of its first round did (`None`
    /// while the first round is still going out).
    first_sent: Option<Instant>,
    round_sent: Option<Instant>,
    /// Set while the deadline is still ahead, so that `poll_timeout` wakes the caller once.
    deadline_armed: bool,
    /// Armed when nothing is left to send: the retransmission timer.
    rto_at: Option<Instant>,
    timeouts: u32,
    resent: u32,
    /// Chunks still to send.
    pending: FixedBitSet,
    pending_count: usize,
    scan: usize,
    /// Per chunk: the `attempt` and time of its latest transmission.
    sent_at: Vec<Option<(u8, Instant)>>,
    /// Earlier transmissions `(index, attempt, time)` that a later one replaced in `sent_at`,
    /// the latest [`EARLIER`]: an ACK that names one still measures a true round trip (on a
    /// path longer than the RTO, the first round's ACK arrives after a tail probe).
    earlier: VecDeque<(u16, u8, Instant)>,
}

/// Replaced transmissions remembered per frame.
const EARLIER: usize = 32;

impl InFlight {
    /// When the transmission `(index, attempt)` left, if it is remembered.
    fn sent(&self, index: u16, attempt: u8) -> Option<Instant> {
        match self.sent_at.get(index as usize) {
            Some(Some((a, t))) if *a == attempt => Some(*t),
            _ => self
                .earlier
                .iter()
                .find(|&&(i, a, _)| i == index && a == attempt)
                .map(|&(_, _, t)| t),
        }
    }

    /// What an ACK at `now` of this frame (`bytes` long), naming transmission
    /// `(index, attempt)` and reporting `spread`, measures. The round trip only when it names
    /// a transmission remembered exactly (Karn's rule, 8.11). A frame completed by a chunk of
    /// its first round arrived in one burst, so its spread measures the path; a repair or
    /// probe before it does not change that.
    fn measure(
        &self,
        now: Instant,
        bytes: usize,
        (index, attempt): (u16, u8),
        spread: Duration,
    ) -> Measured {
        Measured {
            occupancy: now.saturating_duration_since(self.pushed),
            repaired: self.gen > 0,
            rate: AckSample {
                bytes,
                chunks: self.info.count,
                rtt: self
                    .sent(index, attempt)
                    .map(|t| now.saturating_duration_since(t)),
                spread,
                send_spread: match (self.first_sent, self.round_sent) {
                    (Some(a), Some(b)) => b.saturating_duration_since(a),
                    _ => Duration::ZERO,
                },
                clean: attempt == 0,
            },
        }
    }

    fn record_send(&mut self, index: usize, attempt: u8, now: Instant) {
        if let Some((a, t)) = self.sent_at[index].replace((attempt, now)) {
            if self.earlier.len() >= EARLIER {
                self.earlier.pop_front();
            }
            self.earlier.push_back((index as u16, a, t));
        }
    }

    fn queue(&mut self, index: u16) -> bool {
        if self.pending.put(index as usize) {
            return false;
        }
        self.pending_count += 1;
        self.rto_at = None;
        true
    }

    fn clear_pending(&mut self) {
        self.pending.clear();
        self.pending_count = 0;
    }
}

/// What one ACK of a frame measures, for the RTO estimator, the window and the rate.
struct Measured {
    /// From its push to the ACK.
    occupancy: Duration,
    /// It needed a repair or a probe.
    repaired: bool,
    rate: AckSample,
}

/// What is kept of a dropped frame to take a sample from a late ACK.
struct Gone {
    /// Its size (the bytes themselves went back to the caller).
    bytes: usize,
    /// Its transmissions, as [`InFlight::sent`] finds them.
    frame: InFlight,
}

/// Dropped frames remembered for their late ACKs.
const GONE: usize = 16;

/// The sans-IO sending endpoint of one session.
pub struct Sender {
    cfg: SenderConfig,
    /// The most body bytes per datagram: the MTU less what the link adds.
    body_mtu: usize,
    link: SenderLink,
    /// Decrypted bodies land here.
    scratch: Vec<u8>,
    /// When a chunk or message went out with no answer since: the keyed link starts a new
    /// handshake once this is `peer_timeout` old (the viewer may have restarted and lost
    /// its keys).
    unanswered_since: Option<Instant>,
    /// The hello deadline already counted as a timeout of the frames in flight.
    hello_counted: Option<Instant>,
    session: u32,
    next_seq: u32,
    /// Frames pushed and not yet acknowledged or dropped, oldest first.
    flight: VecDeque<InFlight>,
    /// Frames recently dropped for newer ones: an ACK that still comes for one of them
    /// measures the path as well as any (on a long round trip, every early frame is replaced
    /// before its ACK can return, and without these samples the window would never open).
    gone: VecDeque<Gone>,
    window: FrameWindow,
    rtt: RttEstimator,
    rate: RateController,
    pacer: Pacer,
    responsive: bool,
    /// When the viewer last answered, or when we began waiting for it to.
    heard: Option<Instant>,
    last_probe: Option<Instant>,
    /// While the viewer is gone, queued chunks wait for this probe slot.
    probe_at: Option<Instant>,
    /// When the pacer next allows a datagram, while chunks wait for it.
    pace_at: Option<Instant>,
    bye: bool,
    /// When the last datagram went out; `None` until the first, and after `close`.
    last_sent: Option<Instant>,
    closed: bool,
    outbox: Outbox,
    /// The sender's description ([`Sender::set_name`]), sent again to every viewer that
    /// answers after a silence: it may be a new process that never heard it.
    info: Option<Vec<u8>>,
    events: VecDeque<SenderEvent>,
    spare: Option<Vec<u8>>,
    stats: SenderStats,
}

impl Sender {
    /// A sender for session `session` (pick it at random per run, so viewers can tell runs
    /// apart). `cfg.mtu` is clamped to `wire::MIN_MTU..=wire::MAX_DATAGRAM`.
    pub fn new(cfg: SenderConfig, session: u32) -> Self {
        Sender::with_link(cfg, SenderLink::plain(session))
    }

    /// A sender whose every datagram is sealed with `key` (PROTOCOL.md 11): it sends hellos
    /// until a viewer with the same key answers, and nothing else before.
    pub fn keyed(cfg: SenderConfig, session: u32, key: &Key) -> Self {
        Sender::with_link(cfg, SenderLink::keyed(session, key, cfg.probe_interval))
    }

    fn with_link(mut cfg: SenderConfig, link: SenderLink) -> Self {
        cfg.mtu = cfg.mtu.clamp(wire::MIN_MTU, wire::MAX_DATAGRAM);
        let body_mtu = cfg.mtu - link.overhead();
        let session = link.session();
        Sender {
            cfg,
            body_mtu,
            link,
            scratch: Vec::new(),
            unanswered_since: None,
            hello_counted: None,
            session,
            next_seq: random_seq(),
            flight: VecDeque::new(),
            gone: VecDeque::new(),
            window: FrameWindow::new(),
            rtt: RttEstimator::new(cfg.min_rto, cfg.ack_timeout),
            rate: RateController::new(cfg.max_rate_mbps() * 1e6),
            pacer: Pacer::new(cfg.pace_per_sec, cfg.pace_burst),
            responsive: true,
            heard: None,
            last_probe: None,
            probe_at: None,
            pace_at: None,
            bye: false,
            last_sent: None,
            closed: false,
            outbox: Outbox::new(body_mtu, cfg.message_timeout),
            info: None,
            events: VecDeque::new(),
            spare: None,
            stats: SenderStats::default(),
        }
    }

    /// Starts the frame sequence at `seq` instead of a random value (for tests and tools
    /// that want reproducible numbers).
    pub fn with_first_seq(mut self, seq: u32) -> Self {
        self.next_seq = seq;
        self
    }

    /// This sender's session id.
    pub fn session(&self) -> u32 {
        self.session
    }

    /// True when datagrams are sealed with a key.
    pub fn is_keyed(&self) -> bool {
        self.link.is_keyed()
    }

    #[cfg(test)]
    pub(crate) fn set_link_counter_for_tests(&mut self, sent: u64) {
        self.link.set_sent_counter(sent);
    }

    /// True when frames and messages can go: keyless, or keyed with a handshake done and
    /// still trusted.
    pub fn is_link_open(&self) -> bool {
        self.link.is_open()
    }

    /// Counters so far.
    pub fn stats(&self) -> &SenderStats {
        &self.stats
    }

    /// The smoothed round-trip time, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// False while the viewer is considered gone (only probes are sent).
    pub fn is_peer_responsive(&self) -> bool {
        self.responsive
    }

    /// Changes how many timeouts a frame may have when nothing newer replaces it, for example
    /// to bound the wait for the last frame of a finite stream.
    pub fn set_max_attempts(&mut self, max: Option<u32>) {
        self.cfg.max_attempts = max;
    }

    /// Frames in flight: pushed and neither acknowledged nor dropped.
    pub fn in_flight(&self) -> usize {
        self.flight.len()
    }

    /// How many frames may be in flight now (PROTOCOL.md 8.12): one while the viewer is
    /// gone, else enough to cover a frame's push-to-ACK time at the frame interval, never more
    /// than the viewer's advertised window.
    pub fn window(&self) -> usize {
        if self.responsive {
            self.window.limit(self.cfg.frame_interval)
        } else {
            1
        }
    }

    /// What the rate controller knows of the path: its target, the bottleneck's capacity, the
    /// base round trip and the queue (PROTOCOL.md 8.13).
    pub fn path_estimate(&self) -> PathEstimate {
        self.rate.estimate()
    }

    /// The bit rate the stream should fit in, `None` while the path has never limited it.
    pub fn target_bitrate(&self) -> Option<f64> {
        self.rate.target_bps()
    }

    /// The longest push-to-ACK time of the recent frames, once a frame has been acknowledged.
    pub fn frame_round_trip(&self) -> Option<Duration> {
        self.window.occupancy()
    }

    /// When a frame pushed at `pushed` stops holding its place against newer frames: its
    /// `max_latency` beyond the path's own round trip.
    fn deadline(&self, pushed: Instant) -> Instant {
        pushed + self.cfg.max_latency + self.rtt.srtt().unwrap_or(Duration::ZERO)
    }

    /// True when a new frame should be pushed now: the window has room, or its oldest frame
    /// is past its deadline (the push then replaces it). (While the viewer is gone the window
    /// is one frame, and a pushed frame only replaces the one waiting for the next probe
    /// slot, so pushing costs no datagrams.)
    pub fn wants_frame(&self, now: Instant) -> bool {
        match self.flight.front() {
            None => true,
            Some(f) => self.has_room() || now >= self.deadline(f.pushed),
        }
    }

    /// A new frame may join the flight without replacing one: the window has room, and the
    /// newest frame has left whole (a frame taken while another still leaves through the
    /// pacer would only wait behind it and leave old; a fresher one is taken when the link
    /// is free, so a slow path lowers the frame rate instead of growing a queue here).
    fn has_room(&self) -> bool {
        self.responsive
            && self.flight.len() < self.window()
            && self.flight.back().is_none_or(|f| f.round_sent.is_some())
    }

    /// The next probe slot while the viewer is gone.
    fn next_probe_slot(&self, now: Instant) -> Instant {
        self.last_probe
            .map_or(now, |t| (t + self.cfg.probe_interval).max(now))
    }

    /// True when no frame is waiting for its ACK.
    pub fn is_idle(&self) -> bool {
        self.flight.is_empty()
    }

    /// Queues a JSON message (the viewer validates it); returns its sequence number. Its
    /// verdict arrives as [`SenderEvent::Message`].
    pub fn push_message(&mut self, json: Vec<u8>) -> Result<u32, MessageError> {
        let seq = self.outbox.push(json)?;
        self.stats.messages_sent += 1;
        Ok(seq)
    }

    /// Names this sender (PROTOCOL.md 12.6): the viewer labels, counts and records its frames
    /// by the name, and knows a restarted sender by it. Sent at once, ahead of frames, and
    /// again whenever a viewer answers after a silence.
    pub fn set_name(&mut self, name: &str) -> Result<(), NameError> {
        let json = SessionInfo::new(name)?.to_json();
        self.outbox.push_info(json.clone());
        self.info = Some(json);
        Ok(())
    }

    /// Messages pushed by the caller still waiting for their verdict (the sender's name,
    /// [`Sender::set_name`], is nobody's to wait for and is not counted).
    pub fn messages_pending(&self) -> usize {
        self.outbox.pushed_len()
    }

    /// The buffer of the last finished frame, for the caller to reuse.
    pub fn take_spare_buffer(&mut self) -> Option<Vec<u8>> {
        self.spare.take()
    }

    /// Drops the frame at `pos` of the flight with the event `why` calls for.
    fn drop_frame(&mut self, pos: usize, why: Drop) {
        let Some(mut old) = self.flight.remove(pos) else {
            return;
        };
        let seq = old.info.seq;
        if self.gone.len() >= GONE {
            self.gone.pop_front();
        }
        let data = std::mem::take(&mut old.data);
        self.gone.push_back(Gone {
            bytes: data.len(),
            frame: old,
        });
        self.stats.frames_dropped += 1;
        self.events.push_back(match why {
            Drop::Replaced => {
                self.stats.frames_abandoned += 1;
                SenderEvent::Abandoned { seq }
            }
            Drop::Closed => SenderEvent::Abandoned { seq },
            Drop::GaveUp => SenderEvent::GaveUp { seq },
        });
        self.spare = Some(data);
    }

    /// Drops every frame but the newest (the viewer is gone: only one frame is probed).
    fn keep_newest_only(&mut self) {
        while self.flight.len() > 1 {
            self.drop_frame(0, Drop::Replaced);
        }
    }

    /// Starts sending `frame`; returns its sequence number. When the window is full (see
    /// [`Sender::window`]), the oldest frames in flight are abandoned to make room: the newest
    /// frame wins. Call it when [`Sender::wants_frame`] says so.
    pub fn push_frame(&mut self, now: Instant, frame: OutgoingFrame) -> Result<u32, PushError> {
        if frame.data.is_empty() {
            return Err(PushError::Empty);
        }
        if frame.data.len() > self.cfg.max_frame_bytes {
            return Err(PushError::OverLimit {
                len: frame.data.len(),
                limit: self.cfg.max_frame_bytes,
            });
        }
        let too_large = || PushError::TooLarge {
            len: frame.data.len(),
            mtu: self.cfg.mtu,
        };
        let count = chunk_count(frame.data.len(), self.body_mtu).ok_or_else(too_large)?;
        let len = u32::try_from(frame.data.len()).map_err(|_| too_large())?;
        if self.flight.is_empty() {
            // Silence is counted from when we start waiting, not from an answer long ago.
            self.heard = Some(now);
        }
        if !self.flight.is_empty() && !self.has_room() {
            // A replacement: the oldest frame gives way.
            self.drop_frame(0, Drop::Replaced);
        }
        let room = self.window();
        while self.flight.len() >= room {
            self.drop_frame(0, Drop::Replaced);
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let n = count as usize;
        let mut f = InFlight {
            info: FrameInfo {
                seq,
                count,
                len,
                crc32: crc32fast::hash(&frame.data),
                codec: frame.codec,
                width: frame.width,
                height: frame.height,
                timestamp_us: frame.timestamp_us,
            },
            data: frame.data,
            gen: 0,
            pushed: now,
            first_sent: None,
            round_sent: None,
            deadline_armed: true,
            rto_at: None,
            timeouts: 0,
            resent: 0,
            pending: FixedBitSet::with_capacity(n),
            pending_count: 0,
            scan: 0,
            sent_at: vec![None; n],
            earlier: VecDeque::new(),
        };
        if self.responsive {
            f.pending.insert_range(..n);
            f.pending_count = n;
        } else {
            // The viewer is gone: probe with one chunk at the next slot. If it is back, it
            // NACKs the rest.
            f.queue(count - 1);
            self.probe_at = Some(self.next_probe_slot(now));
        }
        self.flight.push_back(f);
        self.stats.frames_sent += 1;
        Ok(seq)
    }

    /// Ends the session: drops every frame in flight and queues a BYE.
    pub fn close(&mut self) {
        while !self.flight.is_empty() {
            self.drop_frame(0, Drop::Closed);
        }
        self.bye = true;
        self.closed = true;
        self.last_sent = None;
    }

    /// Writes the next datagram to send into `buf` and returns its length, or `None` when
    /// there is nothing to send now (see [`Sender::poll_timeout`] for when to ask again).
    ///
    /// # Panics
    /// If `buf` is shorter than the configured MTU: a caller bug that would otherwise stall
    /// the stream silently.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        assert!(
            buf.len() >= self.cfg.mtu,
            "poll_transmit needs a buffer of at least mtu ({}) bytes",
            self.cfg.mtu
        );
        if !self.link.is_open() {
            // Nothing but hellos until a viewer with the key answers (and no hello once
            // closed: the BYE of a session no viewer knows is not worth a handshake).
            if self.closed {
                return None;
            }
            let n = self.link.poll_hello(now, buf)?;
            self.stats.hellos += 1;
            self.stats.datagrams_sent += 1;
            return Some(n);
        }
        let off = self.link.body_offset();
        let n = self.next_datagram(now, &mut buf[off..off + self.body_mtu])?;
        // Nothing is kept alive after close.
        if !self.closed {
            self.last_sent = Some(now);
        }
        let kind = buf[off + 3];
        if self.unanswered_since.is_none()
            && (kind == wire::Kind::FrameChunk as u8 || kind == wire::Kind::MessageChunk as u8)
        {
            self.unanswered_since = Some(now);
        }
        self.link.seal(buf, n)
    }

    fn chunks_queued(&self) -> bool {
        self.flight.iter().any(|f| f.pending_count > 0)
    }

    fn next_datagram(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let probe_waits = !self.responsive && self.probe_at.is_some_and(|t| now < t);
        let frame_ready = !probe_waits && self.chunks_queued();
        let message_ready = self.outbox.has_chunk();
        self.pace_at = None;
        if frame_ready || message_ready {
            // Remembered for poll_timeout: without it a frame pushed into an empty bucket
            // would have no timer and wait for its deadline.
            self.pace_at = self.pacer.delay(now);
        }
        if message_ready && self.pace_at.is_none() {
            let wait = if self.responsive {
                self.rtt.rto()
            } else {
                self.cfg.probe_interval
            };
            if let Some(n) = self.outbox.poll_chunk(now, self.session, wait, buf) {
                self.pacer.on_send(now);
                self.stats.datagrams_sent += 1;
                return Some(n);
            }
        }
        if frame_ready && self.pace_at.is_none() {
            // Oldest frame first: its repairs go before a newer frame's first transmission,
            // as they would leave a FIFO bottleneck anyway, and it is closest to its deadline.
            let wait = if self.responsive {
                self.rtt.rto()
            } else {
                self.cfg.probe_interval
            };
            if let Some(f) = self.flight.iter_mut().find(|f| f.pending_count > 0) {
                let n = f.info.count as usize;
                // Ascending from where we left off, wrapping: the first round goes in order.
                let index = f
                    .pending
                    .ones()
                    .find(|&i| i >= f.scan)
                    .or_else(|| f.pending.ones().next())
                    .expect("pending_count > 0");
                f.pending.set(index, false);
                f.pending_count -= 1;
                f.scan = (index + 1) % n;
                let d = Datagram::Chunk {
                    session: self.session,
                    frame: f.info,
                    index: index as u16,
                    attempt: f.gen,
                    payload: &f.data[f.info.chunk_range(index as u16)],
                };
                let len = d.encode(buf).expect("buffer checked above");
                f.record_send(index, f.gen, now);
                f.first_sent.get_or_insert(now);
                if f.gen > 0 {
                    self.stats.retransmitted_chunks += 1;
                    f.resent += 1;
                }
                if f.pending_count == 0 {
                    f.rto_at = Some(now + wait);
                    f.round_sent.get_or_insert(now);
                }
                self.pacer.on_send(now);
                self.stats.datagrams_sent += 1;
                if !self.responsive {
                    self.stats.probes += 1;
                    self.last_probe = Some(now);
                }
                return Some(len);
            }
        }
        if self.bye {
            self.bye = false;
            self.stats.datagrams_sent += 1;
            return Datagram::Bye {
                session: self.session,
            }
            .encode(buf)
            .ok();
        }
        if self
            .last_sent
            .is_some_and(|t| now >= t + self.cfg.keepalive)
        {
            self.stats.datagrams_sent += 1;
            return Datagram::KeepAlive {
                session: self.session,
            }
            .encode(buf)
            .ok();
        }
        None
    }

    fn heard_from_peer(&mut self, now: Instant) {
        self.heard = Some(now);
        if !self.responsive {
            self.responsive = true;
            self.events.push_back(SenderEvent::PeerBack);
            if let Some(info) = &self.info {
                self.outbox.push_info(info.clone());
            }
        }
    }

    /// Takes in one datagram from the viewer.
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8]) {
        let mut scratch = std::mem::take(&mut self.scratch);
        match self.link.open(bytes, &mut scratch) {
            SenderOpened::Body(body) => {
                self.unanswered_since = None;
                self.handle_body(now, body);
            }
            SenderOpened::Welcomed(first) => {
                if first {
                    self.stats.handshakes += 1;
                    self.unanswered_since = None;
                    // The viewer is there and has the key: whatever waits for a probe slot
                    // goes now.
                    self.heard_from_peer(now);
                    if self.probe_at.is_some() {
                        self.probe_at = Some(now);
                    }
                }
            }
            SenderOpened::Dropped(d) => match d {
                LinkDrop::Unauthenticated | LinkDrop::WrongKey | LinkDrop::Keyless => {
                    self.stats.unauthenticated += 1
                }
                LinkDrop::Replayed => self.stats.replayed += 1,
                LinkDrop::Damaged => self.stats.damaged += 1,
                LinkDrop::Malformed(_) | LinkDrop::NeedsKey | LinkDrop::Unexpected => {
                    self.stats.invalid_datagrams += 1
                }
            },
        }
        self.scratch = scratch;
    }

    fn handle_body(&mut self, now: Instant, bytes: &[u8]) {
        match wire::parse(bytes) {
            Ok(Datagram::Ack {
                session,
                seq,
                index,
                attempt,
                window,
                spread_us,
            }) if session == self.session => {
                self.heard_from_peer(now);
                // The viewer's word, from any ACK of ours, stale ones too.
                self.window.on_viewer_window(window);
                let spread = Duration::from_micros(spread_us.into());
                self.on_ack(now, seq, (index, attempt), spread);
            }
            Ok(Datagram::Nack {
                session,
                seq,
                base,
                nbits,
                bitmap,
            }) if session == self.session => {
                self.heard_from_peer(now);
                self.on_nack(now, seq, base, nbits, bitmap);
            }
            Ok(Datagram::MessageAck {
                session,
                seq,
                status,
                attempt,
                reason,
            }) if session == self.session => {
                self.heard_from_peer(now);
                let info = self.outbox.current_content() == Some(Content::SessionInfo);
                match self.outbox.on_ack(now, seq, status, attempt, reason) {
                    Some((seq, outcome, rtt)) => {
                        self.rtt.on_answer();
                        if let Some(r) = rtt {
                            self.rtt.on_sample(r);
                        }
                        if info {
                            // The sender's own description: nobody pushed it, nobody waits.
                            return;
                        }
                        match outcome {
                            MessageOutcome::Delivered => self.stats.messages_delivered += 1,
                            _ => self.stats.messages_refused += 1,
                        }
                        self.events
                            .push_back(SenderEvent::Message { seq, outcome, rtt });
                    }
                    None => self.stats.stale_replies += 1,
                }
            }
            Ok(Datagram::Bye { session }) if session == self.session => self.viewer_closed(now),
            Ok(Datagram::Ack { .. })
            | Ok(Datagram::Nack { .. })
            | Ok(Datagram::MessageAck { .. }) => self.stats.stale_replies += 1,
            Ok(_) | Err(_) => self.stats.invalid_datagrams += 1,
        }
    }

    /// The viewer said BYE: it is gone as if it had gone silent, without the wait for
    /// `peer_timeout`. The newest frame in flight is kept but only probed, at the next probe
    /// slot (PROTOCOL.md 8.9, 8.10).
    fn viewer_closed(&mut self, now: Instant) {
        if self.closed || !self.responsive {
            // Already probing (or done): nothing changes.
            return;
        }
        // A viewer that comes back is a new process without our keys.
        self.link.restart();
        self.unanswered_since = None;
        self.responsive = false;
        self.events.push_back(SenderEvent::ViewerClosed);
        self.keep_newest_only();
        if let Some(f) = self.flight.front_mut() {
            // Nobody is there to take the chunks still queued; probe with the last one.
            let last = f.info.count - 1;
            f.clear_pending();
            f.queue(last);
            self.probe_at = Some(self.next_probe_slot(now));
        }
    }

    fn position(&self, seq: u32) -> Option<usize> {
        self.flight.iter().position(|f| f.info.seq == seq)
    }

    /// Feeds what an ACK measured to the RTO estimator, the window and the rate controller,
    /// and paces at what the rate allows; returns the round trip, if one was measured.
    fn take(&mut self, now: Instant, m: Measured) -> Option<Duration> {
        if let Some(r) = m.rate.rtt {
            self.rtt.on_sample(r);
        }
        self.window.on_ack(m.occupancy, m.repaired);
        self.rate.on_ack(now, m.rate);
        if let Some(bps) = self.rate.pacing_bps() {
            let paced = datagrams_per_sec(bps / 1e6, self.cfg.mtu);
            self.pacer.set_rate(if self.cfg.pace_per_sec > 0.0 {
                paced.min(self.cfg.pace_per_sec)
            } else {
                paced
            });
        }
        m.rate.rtt
    }

    fn on_ack(&mut self, now: Instant, seq: u32, chunk: (u16, u8), spread: Duration) {
        let Some(pos) = self.position(seq) else {
            self.stats.stale_replies += 1;
            // A frame dropped for a newer one may still be acknowledged: measure with it,
            // once.
            if let Some(g) = self.gone.iter().position(|g| g.frame.info.seq == seq) {
                let g = self.gone.remove(g).expect("found");
                let m = g.frame.measure(now, g.bytes, chunk, spread);
                self.take(now, m);
            }
            return;
        };
        self.rtt.on_answer();
        let f = &self.flight[pos];
        let m = f.measure(now, f.data.len(), chunk, spread);
        let rtt = self.take(now, m);
        // The viewer never shows a frame older than one it has shown: older frames in flight
        // are of no use now.
        for _ in 0..pos {
            self.drop_frame(0, Drop::Replaced);
        }
        let f = self.flight.pop_front().expect("found above");
        self.stats.frames_acked += 1;
        self.stats.bytes_acked += f.data.len() as u64;
        self.events.push_back(SenderEvent::Acked {
            seq,
            rtt,
            bytes: f.data.len(),
            resent_chunks: f.resent,
        });
        self.spare = Some(f.data);
    }

    fn on_nack(&mut self, now: Instant, seq: u32, base: u16, nbits: u16, bitmap: &[u8]) {
        let Some(pos) = self.position(seq) else {
            self.stats.stale_replies += 1;
            return;
        };
        self.stats.nacks += 1;
        self.rtt.on_answer();
        // A chunk sent again very recently is still on its way: a delayed or duplicated NACK
        // must not send it a third time.
        let guard = self.rtt.srtt().map_or(Duration::from_millis(1), |s| {
            (s / 2).max(Duration::from_millis(1))
        });
        let f = &mut self.flight[pos];
        let count = f.info.count;
        let mut added = false;
        for i in nack_missing(base, nbits, bitmap) {
            if i >= count {
                break;
            }
            // Never sent (the viewer answered a probe): send it; `queue` skips pending ones.
            let fresh = match f.sent_at[i as usize] {
                Some((_, t)) => now.saturating_duration_since(t) >= guard,
                None => true,
            };
            if fresh && f.queue(i) {
                added = true;
            }
        }
        if added {
            f.gen = f.gen.saturating_add(1);
        }
    }

    /// When [`Sender::handle_timeout`] (or [`Sender::poll_transmit`], when paced) should next
    /// be called. Includes each frame's deadline once, so that the caller wakes to replace it.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.link.is_open() {
            // Only hellos can go; the other timers are looked at with each hello, which is
            // often enough for them (a probe interval).
            return self.link.poll_timeout();
        }
        let mut t = self.outbox.poll_timeout();
        let mut earliest = |x: Instant| t = Some(t.map_or(x, |y| y.min(x)));
        if let Some(s) = self.last_sent {
            earliest(s + self.cfg.keepalive);
        }
        if self.link.is_keyed() {
            if let Some(u) = self.unanswered_since {
                earliest(u + self.cfg.peer_timeout);
            }
        }
        if self.outbox.has_chunk() {
            if let Some(p) = self.pace_at {
                earliest(p);
            }
        }
        if self.flight.is_empty() {
            return t;
        }
        for f in &self.flight {
            if let Some(r) = f.rto_at {
                earliest(r);
            }
            if f.deadline_armed {
                earliest(self.deadline(f.pushed));
            }
        }
        let queued = self.chunks_queued();
        if !self.responsive && queued {
            if let Some(p) = self.probe_at {
                earliest(p);
            }
        }
        if queued {
            if let Some(p) = self.pace_at {
                earliest(p);
            }
        }
        if self.responsive {
            // Peer loss is judged on its own clock: frames replaced before their RTO fires
            // must not hide a silent viewer.
            if let Some(h) = self.heard {
                earliest(h + self.cfg.peer_timeout);
            }
        }
        t
    }

    /// Acts on timers that have expired by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let cfg = self.cfg;
        if let Some(due) = self.link.poll_timeout().filter(|&t| now >= t) {
            if self.hello_counted != Some(due) {
                // A hello went unanswered: to the frame in flight that is a timeout, as an
                // unanswered probe would be, so that a finite stream gives up in time.
                self.hello_counted = Some(due);
                self.keep_newest_only();
                if !self.flight.is_empty() {
                    self.frame_timed_out(0);
                }
            }
        }
        if self.link.is_open()
            && self
                .unanswered_since
                .is_some_and(|u| now.saturating_duration_since(u) >= cfg.peer_timeout)
        {
            // No answer for a while: the viewer may be a new process that has no keys of
            // ours. Prove the key again (keyless: nothing happens).
            self.link.restart();
            self.unanswered_since = None;
        }
        let info = self.outbox.current_content() == Some(Content::SessionInfo);
        if let Some(seq) = self.outbox.handle_timeout(now).filter(|_| !info) {
            self.stats.messages_failed += 1;
            self.events.push_back(SenderEvent::Message {
                seq,
                outcome: MessageOutcome::TimedOut,
                rtt: None,
            });
        }
        if self.responsive
            && !self.flight.is_empty()
            && self
                .heard
                .is_some_and(|h| now.saturating_duration_since(h) >= cfg.peer_timeout)
        {
            self.responsive = false;
            self.events.push_back(SenderEvent::PeerLost);
            // Only the newest frame is probed from now on.
            self.keep_newest_only();
        }
        // A frame past its deadline gives way to a newer one already in flight: repairing it
        // would only show an old picture late.
        let mut i = 0;
        while i < self.flight.len() {
            let due = self.deadline(self.flight[i].pushed);
            let newer = i + 1 < self.flight.len();
            let f = &mut self.flight[i];
            if now >= due {
                f.deadline_armed = false;
                if newer {
                    self.drop_frame(i, Drop::Replaced);
                    continue;
                }
            }
            i += 1;
        }
        let mut i = 0;
        while i < self.flight.len() {
            let f = &mut self.flight[i];
            if f.rto_at.is_none_or(|r| now < r) {
                i += 1;
                continue;
            }
            f.rto_at = None;
            if !self.frame_timed_out(i) {
                // Given up: the next frame is now at `i`.
                continue;
            }
            // Probe with the last chunk: a viewer that has the frame re-ACKs, one that lacks
            // chunks NACKs them, a viewer that lost everything NACKs the rest.
            let slot = (!self.responsive).then(|| self.next_probe_slot(now));
            let f = &mut self.flight[i];
            f.gen = f.gen.saturating_add(1);
            let last = f.info.count - 1;
            // Already sent at least once, so `queue` cannot find it pending.
            f.queue(last);
            if slot.is_some() {
                self.probe_at = slot;
            }
            i += 1;
        }
    }

    /// Counts a timeout of the frame at `pos` of the flight; gives it up (false) once it has
    /// had `max_attempts`.
    fn frame_timed_out(&mut self, pos: usize) -> bool {
        let f = &mut self.flight[pos];
        f.timeouts += 1;
        let (seq, timeouts) = (f.info.seq, f.timeouts);
        self.stats.timeouts += 1;
        self.rtt.on_timeout();
        self.events
            .push_back(SenderEvent::TimedOut { seq, timeouts });
        if self
            .cfg
            .max_attempts
            .is_some_and(|max| timeouts >= max.max(1))
        {
            self.drop_frame(pos, Drop::GaveUp);
            return false;
        }
        true
    }

    /// The next thing that happened, if any.
    pub fn poll_event(&mut self) -> Option<SenderEvent> {
        self.events.pop_front()
    }
}

/// A session's first frame `seq`: random, so that a blind forger cannot guess where the
/// stream is, and the wrap at 2^32 happens in real runs, not only in tests.
fn random_seq() -> u32 {
    let mut b = [0u8; 4];
    crate::protocol::link::crypto::fill_random(&mut b);
    u32::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::link::{plain_body, plain_datagram};

    const MS: Duration = Duration::from_millis(1);

    /// Unpaced, and with room for 1200-byte bodies (chunks of 1160 bytes) beside the
    /// keyless link's CRC-32.
    fn unpaced() -> SenderConfig {
        SenderConfig {
            pace_per_sec: 0.0,
            mtu: 1200 + crate::protocol::link::CHECK_LEN,
            ..SenderConfig::default()
        }
    }

    fn frame(n: usize) -> OutgoingFrame {
        OutgoingFrame {
            data: (0..n).map(|i| i as u8).collect(),
            codec: Codec::Jpeg,
            width: 64,
            height: 48,
            timestamp_us: 42,
        }
    }

    fn drain(s: &mut Sender, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1500];
        while let Some(n) = s.poll_transmit(now, &mut buf) {
            out.push(plain_body(&buf[..n]).expect("a keyless datagram").to_vec());
        }
        out
    }

    fn indexes(d: &[Vec<u8>]) -> Vec<u16> {
        d.iter()
            .map(|b| match wire::parse(b).unwrap() {
                Datagram::Chunk { index, .. } => index,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    /// An ACK from a viewer that takes one frame at a time.
    fn ack(session: u32, seq: u32, index: u16, attempt: u8) -> Vec<u8> {
        ack_w(session, seq, index, attempt, 1)
    }

    fn ack_w(session: u32, seq: u32, index: u16, attempt: u8, window: u8) -> Vec<u8> {
        let mut b = [0u8; wire::ACK_LEN];
        Datagram::Ack {
            session,
            seq,
            index,
            attempt,
            window,
            spread_us: 0,
        }
        .encode(&mut b)
        .unwrap();
        plain_datagram(&b)
    }

    fn nack(session: u32, seq: u32, missing: &[u16]) -> Vec<u8> {
        let base = missing[0];
        let nbits = missing.last().unwrap() - base + 1;
        let mut bitmap = vec![0u8; (nbits as usize).div_ceil(8)];
        for m in missing {
            let i = (m - base) as usize;
            bitmap[i / 8] |= 0x80 >> (i % 8);
        }
        let d = Datagram::Nack {
            session,
            seq,
            base,
            nbits,
            bitmap: &bitmap,
        };
        let mut b = vec![0u8; d.encoded_len()];
        d.encode(&mut b).unwrap();
        plain_datagram(&b)
    }

    fn events(s: &mut Sender) -> Vec<SenderEvent> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    #[test]
    fn sends_chunks_then_waits_for_ack() {
        let t0 = Instant::now();
        let mut s = Sender::new(unpaced(), 77).with_first_seq(0);
        assert!(s.wants_frame(t0));
        assert_eq!(s.push_frame(t0, frame(3000)).unwrap(), 0);
        assert!(!s.wants_frame(t0));
        let dgrams = drain(&mut s, t0);
        assert_eq!(indexes(&dgrams), vec![0, 1, 2]);
        assert!(dgrams.iter().all(|d| d.len() <= 1200));
        // No round trip measured yet: the first wait is the full ack timeout.
        assert_eq!(s.rto(), 100 * MS);
        s.handle_datagram(t0 + 3 * MS, &ack(77, 0, 2, 0));
        assert_eq!(
            events(&mut s),
            vec![SenderEvent::Acked {
                seq: 0,
                rtt: Some(3 * MS),
                bytes: 3000,
                resent_chunks: 0
            }]
        );
        assert!(s.wants_frame(t0));
        // Idle now: the only timer left is the keepalive.
        assert_eq!(s.poll_timeout(), Some(t0 + 500 * MS));
        assert_eq!(s.srtt(), Some(3 * MS));
        assert_eq!(s.take_spare_buffer().map(|b| b.len()), Some(3000));
    }

    #[test]
    fn an_idle_sender_keeps_its_session_alive_until_it_closes() {
        let t0 = Instant::now();
        let mut s = Sender::new(unpaced(), 5).with_first_seq(0);
        // Nothing sent yet: nothing to keep alive.
        assert_eq!(s.poll_timeout(), None);
        s.push_frame(t0, frame(100)).unwrap();
        drain(&mut s, t0);
        s.handle_datagram(t0 + MS, &ack(5, 0, 0, 0));
        assert!(drain(&mut s, t0 + 499 * MS).is_empty());
        let d = drain(&mut s, t0 + 500 * MS);
        assert_eq!(d.len(), 1);
        assert_eq!(
            wire::parse(&d[0]).unwrap(),
            Datagram::KeepAlive { session: 5 }
        );
        assert_eq!(s.poll_timeout(), Some(t0 + 1000 * MS));
        s.close();
        assert_eq!(drain(&mut s, t0 + 600 * MS).len(), 1, "the BYE");
        assert!(
            drain(&mut s, t0 + 5000 * MS).is_empty(),
            "no keepalive after BYE"
        );
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn nack_resends_only_the_missing_chunks() {
        let t0 = Instant::now();
        let mut s = Sender::new(unpaced(), 1).with_first_seq(0);
        s.push_frame(t0, frame(1160 * 10)).unwrap();
        assert_eq!(drain(&mut s, t0).len(), 10);
        s.handle_datagram(t0 + 5 * MS, &nack(1, 0, &[3, 7]));
        let again = drain(&mut s, t0 + 5 * MS);
        assert_eq!(indexes(&again), vec![3, 7]);
        assert!(again.iter().all(|d| d[27] == 1), "attempt 1 on the repair");
        // The same NACK again at once (duplicated by the network): nothing is resent.
        s.handle_datagram(t0 + 5 * MS, &nack(1, 0, &[3, 7]));
        assert!(drain(&mut s, t0 + 5 * MS).is_empty());
        assert_eq!(s.stats().retransmitted_chunks, 2);
        // The ACK names chunk 7 of attempt 1: an exact round-trip sample.
        s.handle_datagram(t0 + 7 * MS, &ack(1, 0, 7, 1));
        match events(&mut s).pop() {
            Some(SenderEvent::Acked {
                rtt, resent_chunks, ..
            }) => {
                assert_eq!(rtt, Some(2 * MS));
                assert_eq!(resent_chunks, 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nack_indexes_past_the_frame_are_ignored() {
        let t0 = Instant::now();
        let mut s = Sender::new(unpaced(), 1).with_first_seq(0);
        s.push_frame(t0, frame(2000)).unwrap();
        drain(&mut s, t0);
        s.handle_datagram(t0 + 5 * MS, &nack(1, 0, &[1, 500]));
        assert_eq!(indexes(&drain(&mut s, t0 + 5 * MS)), vec![1]);
    }

    #[test]
    fn timeout_probes_with_the_last_chunk_and_backs_off() {
        let t0 = Instant::now();
        let mut s = Sender::new(unpaced(), 1).with_first_seq(0);
        s.push_frame(t0, frame(2500)).unwrap();
        drain(&mut s, t0);
        let rto = s.rto();
        s.handle_timeout(t0 + rto - MS);
        assert!(events(&mut s).is_empty(), "not yet");
        s.handle_timeout(t0 + rto);
        assert_eq!(
            events(&mut s),
            vec![SenderEvent::TimedOut {
                seq: 0,
                timeouts: 1
            }]
        );
        let probe = drain(&mut s, t0 + rto);
        assert_eq!(indexes(&probe), vec![2]);
        assert_eq!(probe[0][27], 1);
        // The ACK of the probe measures from the probe, not from the first send.
        s.handle_datagram(t0 + rto + 2 * MS, &ack(1, 0, 2, 1));
        match events(&mut s).pop() {
            Some(SenderEvent::Acked { rtt, .. }) => assert_eq!(rtt, Some(2 * MS)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_ack_of_an_earlier_transmission_measures_from_that_one() {
        let t0 = Instant::now();
        let mut s = Sender::new(unpaced(), 1).with_first_seq(0);
        s.push_frame(t0, frame(2500)).unwrap();
        drain(&mut s, t0);
        s.handle_timeout(t0 + s.rto());
        drain(&mut s, t0 + 100 * MS);
        // An ACK naming chunk 2's first transmission, sent again since by the probe: the
        // attempt says which one it answers, so the sample is exact (a long path answers the
        // first round after the probe has gone).
        s.handle_datagram(t0 + 101 * MS, &ack(1, 0, 2, 0));
        let acked = events(&mut s).into_iter().find_map(|e| match e {
            SenderEvent::Acked { rtt, .. } => Some(rtt),
            _ => None,
        });
        assert_eq!(acked, Some(Some(101 * MS)));
    }

    #[test]
    fn an_ack_of_no_known_transmission_gives_no_sample() {
        let t0 = Instant::now();
        let mut s = Sender::new(unpaced(), 1).with_first_seq(0);
        s.push_frame(t0, frame(2500)).unwrap();
        drain(&mut s, t0);
        s.handle_datagram(t0 + 5 * MS, &ack(1, 0, 2, 9));
        let acked = events(&mut s).into_iter().find_map(|e| match e {
            SenderEvent::Acked { rtt, .. } => Some(rtt),
            _ => None,
        });
        assert_eq!(acked, Some(None));
        assert_eq!(s.srtt(), None);
    }

    #[test]
    fn deadline_lets_a_newer_frame_win() {
        let t0 = Instant::now();
        let mut s = Sender::new(unpaced(), 1).with_first_seq(0);
        s.push_frame(t0, frame(2500)).unwrap();
        drain(&mut s, t0);
        let deadline = t0 + SenderConfig::default().max_latency;
        assert!(!s.wants_frame(deadline - MS));
        assert!(s.poll_timeout().unwrap() <= deadline);
        s.handle_timeout(deadline);
        assert!(s.wants_frame(deadline));
        assert_eq!(s.push_frame(deadline, frame(100)).unwrap(), 1);
        assert!(events(&mut s).contains(&SenderEvent::Abandoned { seq: 0 }));
        assert_eq!(drain(&mut s, deadline).len(), 1);
        assert_eq!(s.stats().frames_abandoned, 1);
    }

    #[test]
    fn ignores_replies_of_other_sessions_and_frames() {
        let t0 = Instant::now();
        let mut s = Sender::new(unpaced(), 1).with_first_seq(0);
        s.push_frame(t0, frame(10)).unwrap();
        drain(&mut s, t0);
        s.handle_datagram(t0, &ack(2, 0, 0, 0));
        s.handle_datagram(t0, &ack(1, 5, 0, 0));
        s.handle_datagram(t0, &nack(1, 5, &[0]));
        s.handle_datagram(t0, b"garbage");
        assert!(events(&mut s).is_empty());
        assert_eq!(s.stats().stale_replies, 3);
        assert_eq!(s.stats().invalid_datagrams, 1);
        assert!(!s.is_idle());
    }

    #[test]
    fn silent_viewer_is_probed_at_a_low_rate_and_resumes() {
        let t0 = Instant::now();
        let cfg = unpaced();
        let mut s = Sender::new(cfg, 1).with_first_seq(0);
        let mut t = t0;
        let mut sent_while_lost = 0;
        let mut frames = 0;
        // Five seconds of a 30 fps source with nobody answering.
        while t < t0 + Duration::from_secs(5) {
            if s.wants_frame(t) {
                s.push_frame(t, frame(1160 * 20)).unwrap();
                frames += 1;
            }
            let n = drain(&mut s, t).len();
            if !s.is_peer_responsive() {
                sent_while_lost += n;
            }
            s.handle_timeout(t);
            t += Duration::from_micros(33_333);
        }
        let ev = events(&mut s);
        assert!(ev.contains(&SenderEvent::PeerLost));
        assert!(!s.is_peer_responsive());
        // ~4 seconds lost at one probe per 250 ms, one datagram each: about 16, not 20 x 120.
        assert!(
            sent_while_lost <= 25,
            "{sent_while_lost} datagrams while the viewer was gone"
        );
        assert!(frames < 40, "{frames} frames started");
        // The viewer answers the probe with a NACK for everything else: back to full speed.
        let seq = s.stats().frames_sent as u32 - 1;
        let all: Vec<u16> = (0..19).collect();
        s.handle_datagram(t, &nack(1, seq, &all));
        assert!(events(&mut s).contains(&SenderEvent::PeerBack));
        // The whole frame goes out once: the 19 NACKed chunks and the probe still queued.
        let mut sent = indexes(&drain(&mut s, t));
        sent.sort();
        assert_eq!(sent, (0..20).collect::<Vec<u16>>());
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let t0 = Instant::now();
        let cfg = SenderConfig {
            max_attempts: Some(2),
            ..unpaced()
        };
        let mut s = Sender::new(cfg, 1).with_first_seq(0);
        s.push_frame(t0, frame(10)).unwrap();
        let mut t = t0;
        for _ in 0..2 {
            drain(&mut s, t);
            t += Duration::from_secs(1);
            s.handle_timeout(t);
        }
        let ev = events(&mut s);
        assert_eq!(ev.last(), Some(&SenderEvent::GaveUp { seq: 0 }));
        assert!(s.is_idle());
        assert_eq!(s.stats().frames_dropped, 1);
    }

    #[test]
    fn pacing_spreads_a_frame() {
        let t0 = Instant::now();
        let cfg = SenderConfig {
            pace_per_sec: 10_000.0,
            pace_burst: 8,
            ..SenderConfig::default()
        };
        let mut s = Sender::new(cfg, 1).with_first_seq(0);
        s.push_frame(t0, frame(1160 * 20)).unwrap();
        assert_eq!(drain(&mut s, t0).len(), 8, "one burst");
        let next = s.poll_timeout().unwrap();
        assert!(next > t0 && next <= t0 + Duration::from_micros(100));
        let mut t = t0;
        let mut sent = 8;
        while sent < 20 {
            t += Duration::from_micros(100);
            sent += drain(&mut s, t).len();
        }
        assert_eq!(
            t,
            t0 + Duration::from_micros(1200),
            "12 more at 10,000 per second"
        );
    }

    #[test]
    fn a_frame_pushed_into_an_empty_bucket_gets_a_timer() {
        let t0 = Instant::now();
        let cfg = SenderConfig {
            pace_per_sec: 10_000.0,
            pace_burst: 4,
            ..SenderConfig::default()
        };
        let mut s = Sender::new(cfg, 1).with_first_seq(0);
        s.push_frame(t0, frame(1160 * 4)).unwrap();
        assert_eq!(drain(&mut s, t0).len(), 4, "the bucket is now empty");
        s.handle_datagram(t0, &ack(1, 0, 3, 0));
        s.push_frame(t0, frame(1160 * 4)).unwrap();
        assert!(drain(&mut s, t0).is_empty(), "paced");
        let wake = s.poll_timeout().expect("a timer for the pacer");
        assert!(wake <= t0 + Duration::from_micros(100), "{:?}", wake - t0);
        assert_eq!(drain(&mut s, wake).len(), 1);
    }

    #[test]
    fn silent_viewer_is_noticed_even_when_frames_keep_being_replaced() {
        let t0 = Instant::now();
        // An RTO longer than the deadline: every frame is replaced before its timer fires.
        let cfg = SenderConfig {
            ack_timeout: Duration::from_millis(500),
            max_latency: Duration::from_millis(100),
            ..unpaced()
        };
        let mut s = Sender::new(cfg, 1).with_first_seq(0);
        let mut t = t0;
        while t < t0 + Duration::from_millis(1500) {
            if s.wants_frame(t) {
                s.push_frame(t, frame(5000)).unwrap();
            }
            drain(&mut s, t);
            s.handle_timeout(t);
            t += Duration::from_millis(33);
        }
        assert!(events(&mut s).contains(&SenderEvent::PeerLost));
    }

    #[test]
    fn close_sends_bye() {
        let t0 = Instant::now();
        let mut s = Sender::new(unpaced(), 9).with_first_seq(0);
        s.push_frame(t0, frame(10)).unwrap();
        s.close();
        let d = drain(&mut s, t0);
        assert_eq!(d.len(), 1);
        assert_eq!(wire::parse(&d[0]).unwrap(), Datagram::Bye { session: 9 });
        assert_eq!(s.stats().frames_dropped, 1);
    }

    fn bye(session: u32) -> Vec<u8> {
        let mut b = vec![0u8; 10];
        Datagram::Bye { session }.encode(&mut b).unwrap();
        plain_datagram(&b)
    }

    #[test]
    fn a_viewer_bye_means_probing_until_it_answers_again() {
        let t0 = Instant::now();
        let mut s = Sender::new(unpaced(), 9).with_first_seq(0);
        s.push_frame(t0, frame(1160 * 5)).unwrap();
        assert_eq!(drain(&mut s, t0).len(), 5);
        // Another session's BYE is none of our business.
        s.handle_datagram(t0 + MS, &bye(8));
        assert_eq!(s.stats().invalid_datagrams, 1);
        assert!(s.is_peer_responsive());
        assert!(events(&mut s).is_empty());
        // Ours: the viewer closed, at once, with no wait for the peer timeout.
        let t1 = t0 + 2 * MS;
        s.handle_datagram(t1, &bye(9));
        assert_eq!(events(&mut s), vec![SenderEvent::ViewerClosed]);
        assert!(!s.is_peer_responsive());
        assert_eq!(s.stats().invalid_datagrams, 1);
        // A second BYE changes nothing.
        s.handle_datagram(t1, &bye(9));
        assert!(events(&mut s).is_empty());
        // The frame in flight is probed with its last chunk, one per probe interval.
        assert_eq!(indexes(&drain(&mut s, t1)), vec![4]);
        assert_eq!(s.stats().probes, 1);
        let t2 = t1 + SenderConfig::default().probe_interval;
        assert!(s.poll_timeout().unwrap() <= t2);
        s.handle_timeout(t2);
        assert_eq!(indexes(&drain(&mut s, t2)), vec![4]);
        // A newer frame is probed too, not sent whole.
        let t3 = t0 + Duration::from_secs(1);
        s.handle_timeout(t3);
        assert!(s.wants_frame(t3));
        let seq = s.push_frame(t3, frame(1160 * 5)).unwrap();
        assert_eq!(indexes(&drain(&mut s, t3)), vec![4]);
        assert!(!events(&mut s).contains(&SenderEvent::PeerBack));
        // A viewer answers (a new one ACKs what it got): full speed again.
        s.handle_datagram(t3 + MS, &ack(9, seq, 4, 0));
        let ev = events(&mut s);
        assert_eq!(ev[0], SenderEvent::PeerBack);
        assert!(matches!(ev[1], SenderEvent::Acked { seq: q, .. } if q == seq));
        assert!(s.is_peer_responsive());
        s.push_frame(t3 + 2 * MS, frame(1160 * 5)).unwrap();
        assert_eq!(drain(&mut s, t3 + 2 * MS).len(), 5);
    }

    #[test]
    fn a_viewer_bye_while_idle_makes_the_next_frame_a_probe() {
        let t0 = Instant::now();
        let mut s = Sender::new(unpaced(), 9).with_first_seq(0);
        s.handle_datagram(t0, &bye(9));
        assert_eq!(events(&mut s), vec![SenderEvent::ViewerClosed]);
        s.push_frame(t0, frame(1160 * 3)).unwrap();
        assert_eq!(indexes(&drain(&mut s, t0)), vec![2]);
    }

    /// A sender that has measured a 100 ms round trip with a viewer taking 14 frames.
    fn windowed(t0: Instant) -> Sender {
        let mut s = Sender::new(unpaced(), 1).with_first_seq(0);
        s.push_frame(t0, frame(2000)).unwrap();
        drain(&mut s, t0);
        s.handle_datagram(t0 + 100 * MS, &ack_w(1, 0, 1, 0, 14));
        events(&mut s);
        s
    }

    #[test]
    fn the_window_opens_with_the_round_trip_and_the_viewers_word() {
        let t0 = Instant::now();
        let mut s = Sender::new(unpaced(), 1).with_first_seq(0);
        assert_eq!(s.window(), 1, "stop-and-wait until an ACK says more");
        s.push_frame(t0, frame(2000)).unwrap();
        drain(&mut s, t0);
        assert!(!s.wants_frame(t0 + MS));
        s.handle_datagram(t0 + 100 * MS, &ack_w(1, 0, 1, 0, 14));
        // 100 ms at 30 fps: three intervals, the frame being sent, one spare.
        assert_eq!(s.window(), 5);
        let t = t0 + 100 * MS;
        for k in 0..5 {
            assert!(s.wants_frame(t), "frame {k}");
            s.push_frame(t, frame(2000)).unwrap();
            drain(&mut s, t);
        }
        assert_eq!(s.in_flight(), 5);
        assert!(!s.wants_frame(t), "the window is full");
        // A viewer that takes fewer frames narrows it.
        s.handle_datagram(t + MS, &ack_w(1, 1, 1, 0, 2));
        assert_eq!(s.window(), 2);
    }

    #[test]
    fn a_frame_still_leaving_keeps_the_next_one_waiting() {
        let t0 = Instant::now();
        let mut s = windowed(t0);
        let t = t0 + 100 * MS;
        s.push_frame(t, frame(5000)).unwrap();
        // Nothing sent yet: the newest frame has not left, so a new one would wait behind it.
        assert!(!s.wants_frame(t));
        drain(&mut s, t);
        assert!(s.wants_frame(t));
    }

    #[test]
    fn an_ack_of_a_newer_frame_ends_the_older_ones() {
        let t0 = Instant::now();
        let mut s = windowed(t0);
        let t = t0 + 100 * MS;
        for _ in 0..3 {
            s.push_frame(t, frame(2000)).unwrap();
            drain(&mut s, t);
        }
        // seqs 1, 2, 3 in flight; the viewer completes 3 first.
        s.handle_datagram(t + 100 * MS, &ack_w(1, 3, 1, 0, 14));
        let ev = events(&mut s);
        assert_eq!(
            ev,
            vec![
                SenderEvent::Abandoned { seq: 1 },
                SenderEvent::Abandoned { seq: 2 },
                SenderEvent::Acked {
                    seq: 3,
                    rtt: Some(100 * MS),
                    bytes: 2000,
                    resent_chunks: 0
                }
            ]
        );
        assert!(s.is_idle());
        // A late ACK of an abandoned frame is stale, and still a sample.
        s.handle_datagram(t + 101 * MS, &ack_w(1, 1, 1, 0, 14));
        assert!(events(&mut s).is_empty());
        assert_eq!(s.stats().stale_replies, 1);
    }

    #[test]
    fn nacks_repair_the_frame_they_name_and_repairs_go_first() {
        let t0 = Instant::now();
        let mut s = windowed(t0);
        let t = t0 + 100 * MS;
        s.push_frame(t, frame(1160 * 3)).unwrap();
        drain(&mut s, t);
        // Past the resend guard (half the 100 ms round trip).
        s.handle_datagram(t + 60 * MS, &nack(1, 1, &[1]));
        s.push_frame(t + 60 * MS, frame(1160 * 2)).unwrap();
        let d = drain(&mut s, t + 60 * MS);
        let sent: Vec<(u32, u16, u8)> = d
            .iter()
            .map(|b| match wire::parse(b).unwrap() {
                Datagram::Chunk {
                    frame,
                    index,
                    attempt,
                    ..
                } => (frame.seq, index, attempt),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sent, vec![(1, 1, 1), (2, 0, 0), (2, 1, 0)]);
    }

    #[test]
    fn past_its_deadline_a_frame_gives_way_to_a_newer_one_in_flight() {
        let t0 = Instant::now();
        let mut s = windowed(t0);
        let t = t0 + 100 * MS;
        s.push_frame(t, frame(2000)).unwrap();
        drain(&mut s, t);
        s.push_frame(t + 33 * MS, frame(2000)).unwrap();
        drain(&mut s, t + 33 * MS);
        // Deadline: max_latency (150 ms) beyond the 100 ms round trip.
        s.handle_timeout(t + 249 * MS);
        assert_eq!(s.in_flight(), 2);
        s.handle_timeout(t + 250 * MS);
        assert_eq!(s.in_flight(), 1);
        assert!(events(&mut s).contains(&SenderEvent::Abandoned { seq: 1 }));
        // The last one stays: nothing newer would replace it.
        s.handle_timeout(t + 2000 * MS);
        assert!(s.in_flight() <= 1);
    }

    #[test]
    fn a_flood_of_forged_replies_leaves_the_sender_bounded() {
        let t0 = Instant::now();
        let mut s = windowed(t0);
        let mut rng = fastrand::Rng::with_seed(11);
        let mut now = t0 + 100 * MS;
        let mut buf = [0u8; 1500];
        for i in 0..200_000u32 {
            if i % 1000 == 0 && s.wants_frame(now) {
                s.push_frame(now, frame(5000)).unwrap();
            }
            let d = match rng.u8(..3) {
                0 => ack_w(1, rng.u32(..8), rng.u16(..), rng.u8(..), rng.u8(..)),
                1 => nack(1, rng.u32(..8), &[rng.u16(..5), 5 + rng.u16(..5)]),
                _ => (0..rng.usize(..64)).map(|_| rng.u8(..)).collect(),
            };
            s.handle_datagram(now, &d);
            while s.poll_transmit(now, &mut buf).is_some() {}
            now += Duration::from_micros(50);
            s.handle_timeout(now);
            assert!(s.in_flight() <= 255);
        }
        while s.poll_event().is_some() {}
        assert!(s.gone.len() <= GONE);
        assert!(s.flight.iter().all(|f| f.earlier.len() <= EARLIER));
    }

    #[test]
    fn refuses_unsendable_frames() {
        let mut s = Sender::new(unpaced(), 9).with_first_seq(0);
        let mut f = frame(0);
        assert_eq!(
            s.push_frame(Instant::now(), f.clone()),
            Err(PushError::Empty)
        );
        f.data = vec![0; 1160 * 65_535 + 1];
        assert!(matches!(
            s.push_frame(Instant::now(), f.clone()),
            Err(PushError::OverLimit { .. })
        ));
        // Within the viewer's limit but over 65,535 chunks of a small MTU.
        let mut s = Sender::new(
            SenderConfig {
                mtu: 256,
                max_frame_bytes: usize::MAX,
                ..unpaced()
            },
            1,
        )
        .with_first_seq(0);
        assert!(matches!(
            s.push_frame(Instant::now(), f),
            Err(PushError::TooLarge { .. })
        ));
    }

    #[test]
    fn frames_over_the_viewers_limit_are_refused_with_size_and_limit() {
        let mut s = Sender::new(unpaced(), 1).with_first_seq(0);
        let mut f = frame(10);
        f.data = vec![0; DEFAULT_MAX_FRAME_BYTES + 1];
        let e = s.push_frame(Instant::now(), f).unwrap_err();
        assert_eq!(
            e,
            PushError::OverLimit {
                len: 16_777_217,
                limit: 16_777_216
            }
        );
        assert_eq!(
            e.to_string(),
            "frame of 16777217 bytes is larger than the viewer's limit of 16777216 bytes"
        );
        assert!(s.is_idle(), "nothing queued");
        let mut buf = vec![0; 1500];
        assert_eq!(s.poll_transmit(Instant::now(), &mut buf), None);
        let mut f = frame(10);
        f.data = vec![1; DEFAULT_MAX_FRAME_BYTES];
        assert!(
            s.push_frame(Instant::now(), f).is_ok(),
            "the limit itself is fine"
        );
    }
}
