//! The sending pipeline's network loop: takes encoded frames and messages into the sans-IO
//! [`Sender`], runs it in the shared [`Driver`], keeps the statistics and decides how the run
//! ended.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{never, select, Receiver, Sender as Tx, TryRecvError};

use super::adapt::AdaptShared;
use super::{SendConfig, SendNotice, SendOutcome, SendUpdate};
use crate::app::record::Recorder;
use crate::app::stats::{PathReport, Role, StatsBook};
use crate::app::{AppError, Stop};
use crate::protocol::message::MessageOutcome;
use crate::protocol::sender::{OutgoingFrame, PushError, Sender, SenderEvent};
use crate::runtime::driver::{Driver, DriverError};
use crate::runtime::net::{is_network_away, route_to};

/// Messages taken into the sender before the loop stops reading the message channel.
const MESSAGE_WINDOW: usize = 64;

/// What the producer threads feed the loop, and what it gives back to them.
pub(super) struct Inputs {
    /// Encoded frames, one at a time.
    pub frames: Receiver<Result<OutgoingFrame, AppError>>,
    /// Buffers of frames that are done with, for the encoder to reuse.
    pub recycle: Tx<Vec<u8>>,
    /// Frames the capture thread dropped for newer ones.
    pub capture_drops: Arc<AtomicU64>,
    /// A source lost or back.
    pub notices: Receiver<SendNotice>,
    /// The sender's target rate, for the encoder; the quality it uses, for the statistics.
    pub adapt: Arc<AdaptShared>,
    /// `--record`: every frame taken for sending, on a thread of its own.
    pub record: Option<Recorder>,
}

/// Where a finite stream stands: frames taken so far and whether the last one is in.
struct Progress {
    total: Option<u64>,
    pushed: u64,
    source_done: bool,
    last_acked: bool,
}

/// The message side of the loop.
struct Msgs {
    rx: Receiver<Vec<u8>>,
    /// The channel is closed (or there never was one).
    done: bool,
    failed: u64,
    timed_out: bool,
}

impl From<DriverError> for AppError {
    fn from(e: DriverError) -> Self {
        match e {
            DriverError::Io(e) => AppError::Io(e),
        }
    }
}

/// The loop's state: one instance per run.
pub(super) struct NetworkLoop<'a> {
    cfg: &'a SendConfig,
    driver: Driver<Sender>,
    inputs: Inputs,
    /// Pictures are part of the run (not messages alone).
    video: bool,
    one_shot: bool,
    progress: Progress,
    msgs: Msgs,
    book: StatsBook,
    next_report: Instant,
    /// The viewer is lost and this machine has no route to it: the route is looked up again
    /// every [`super::ROUTE_POLL`] until it is back.
    net_down: Option<Instant>,
}

impl<'a> NetworkLoop<'a> {
    /// A loop for `cfg` over `sock`, sending `total` frames (`None`: until stopped).
    pub fn new(
        cfg: &'a SendConfig,
        sock: UdpSocket,
        inputs: Inputs,
        total: Option<u64>,
        one_shot: bool,
    ) -> Result<Self, AppError> {
        let session = fastrand::u32(..);
        let mut protocol = cfg.protocol;
        if cfg.fps > 0.0 {
            // The window of frames in flight covers a round trip at the capture rate.
            protocol.frame_interval = Duration::from_secs_f64(1.0 / cfg.fps);
        }
        let mut sender = match &cfg.key {
            Some(k) => Sender::keyed(protocol, session, k),
            None => Sender::new(protocol, session),
        };
        if let Some(name) = &cfg.name {
            sender
                .set_name(name)
                .map_err(|e| AppError::Config(format!("--name {name:?}: {e}")))?;
        }
        let start = Instant::now();
        let mut book = StatsBook::new(Role::Send, start);
        book.pictures = total != Some(0);
        Ok(NetworkLoop {
            cfg,
            driver: Driver::new(sender, sock, cfg.protocol.mtu)?,
            inputs,
            video: total != Some(0),
            one_shot,
            progress: Progress {
                total,
                pushed: 0,
                source_done: total == Some(0),
                last_acked: false,
            },
            msgs: Msgs {
                rx: cfg.messages.clone().unwrap_or_else(never),
                done: cfg.messages.is_none(),
                failed: 0,
                timed_out: false,
            },
            book,
            next_report: start + Duration::from_secs(1),
            net_down: None,
        })
    }

    /// Runs until the frames and messages are done or `stop` fires.
    pub fn run(
        mut self,
        stop: &Stop,
        on_update: &mut impl FnMut(SendUpdate<'_>),
    ) -> Result<SendOutcome, AppError> {
        let mut notices = self.inputs.notices.clone();
        loop {
            // The newest frame wins: one that missed its ACK is replaced as soon as a newer
            // exists.
            if self.wants_frame() {
                match self.inputs.frames.try_recv() {
                    Ok(f) => self.take(Some(f), on_update)?,
                    Err(TryRecvError::Disconnected) => self.take(None, on_update)?,
                    Err(TryRecvError::Empty) => {}
                }
            }
            self.driver.flush()?;
            self.events(on_update);
            self.count();
            let sender = self.driver.machine();
            let messages_done = self.msgs.done && sender.messages_pending() == 0;
            if (self.progress.source_done && sender.is_idle() && messages_done) || stop.is_set() {
                break;
            }
            if !self.video && self.msgs.timed_out {
                // Without a stream to keep going, a viewer that does not answer one message
                // will not answer the rest: stop now rather than wait out every timeout.
                break;
            }
            let now = Instant::now();
            if now >= self.next_report {
                on_update(SendUpdate::Report(&self.book.interval(now)));
                self.next_report = (self.next_report + Duration::from_secs(1)).max(now);
            }
            self.wait(stop, &mut notices, on_update)?;
        }
        while let Ok(n) = self.inputs.notices.try_recv() {
            on_update(SendUpdate::Source(n));
        }
        self.finish()
    }

    fn wants_frame(&self) -> bool {
        !self.progress.source_done && self.driver.machine().wants_frame(Instant::now())
    }

    /// Waits for the first of: a message, a frame (when the sender wants one), a datagram, a
    /// source notice, the stop signal, or the next timer; and handles it.
    fn wait(
        &mut self,
        stop: &Stop,
        notices: &mut Receiver<SendNotice>,
        on_update: &mut impl FnMut(SendUpdate<'_>),
    ) -> Result<(), AppError> {
        let deadline = self.driver.deadline(
            self.net_down
                .map_or(self.next_report, |t| t.min(self.next_report)),
        );
        let no_frames = never();
        let frames = if self.wants_frame() {
            &self.inputs.frames
        } else {
            &no_frames
        };
        // Take messages only while few are waiting: the bounded channel then holds the
        // producer back.
        let sender = self.driver.machine();
        let messages = if !self.msgs.done && sender.messages_pending() < MESSAGE_WINDOW {
            self.msgs.rx.clone()
        } else {
            never()
        };
        let incoming = self.driver.incoming().clone();
        select! {
            recv(messages) -> m => match m {
                Ok(m) => {
                    if let Err(e) = self.driver.machine_mut().push_message(m) {
                        self.msgs.failed += 1;
                        on_update(SendUpdate::MessageNotSent(e));
                    }
                }
                Err(_) => self.msgs.done = true,
            },
            recv(frames) -> f => {
                let f = f.ok();
                self.take(f, on_update)?;
            }
            recv(incoming) -> d => match d {
                Ok(d) => self.driver.handle(d),
                Err(_) => return Err(self.driver.reader_failure().into()),
            },
            recv(notices) -> n => match n {
                Ok(n) => on_update(SendUpdate::Source(n)),
                // No capture thread (or it ended): a disconnected channel is always ready,
                // so stop listening to it rather than spin on it.
                Err(_) => *notices = never(),
            },
            recv(stop.channel()) -> _ => {},
            default(deadline.saturating_duration_since(Instant::now())) => {},
        }
        self.driver.handle_timeout();
        Ok(())
    }

    /// Takes the encoder's next frame, or `None` when the source has ended. After the last
    /// frame (the source ended, or `--frames` reached) the wait for its ACK is bounded.
    /// A frame over the viewer's limit is refused before sending: skipped with a warning, or
    /// the end of a one-picture run.
    fn take(
        &mut self,
        next: Option<Result<OutgoingFrame, AppError>>,
        on_update: &mut impl FnMut(SendUpdate<'_>),
    ) -> Result<(), AppError> {
        let sender = self.driver.machine_mut();
        let p = &mut self.progress;
        if let Some(f) = next {
            let f = f?;
            if let Some(r) = &self.inputs.record {
                let (w, h) = (f.width.into(), f.height.into());
                r.push(self.cfg.record_name(), &f.data, f.timestamp_us, w, h);
            }
            // How old the picture is when it leaves: capture, encoding and its wait here.
            let age_us = crate::media::source::now_us().saturating_sub(f.timestamp_us);
            self.book.age.record(Duration::from_micros(age_us));
            match sender.push_frame(Instant::now(), f) {
                Ok(_) => p.last_acked = false,
                Err(e @ PushError::OverLimit { .. }) if !self.one_shot => {
                    on_update(SendUpdate::FrameSkipped {
                        index: p.pushed,
                        reason: e,
                    });
                }
                Err(e @ PushError::OverLimit { .. }) => {
                    return Err(AppError::Config(e.to_string()))
                }
                Err(e) => {
                    return Err(AppError::Config(format!(
                        "{e}; raise --mtu or lower --quality"
                    )))
                }
            }
            p.pushed += 1;
            if p.total.is_none_or(|t| p.pushed < t) {
                return Ok(());
            }
        }
        p.source_done = true;
        sender.set_max_attempts(Some(self.cfg.final_attempts.max(1)));
        Ok(())
    }

    /// Acts on what the sender has to say.
    fn events(&mut self, on_update: &mut impl FnMut(SendUpdate<'_>)) {
        let now = Instant::now();
        while let Some(ev) = self.driver.machine_mut().poll_event() {
            match ev {
                SenderEvent::Acked { rtt, .. } => {
                    if let Some(rtt) = rtt {
                        self.book.rtt.record(rtt);
                    }
                    self.book.first_frame.get_or_insert(now);
                    self.book.last_frame = Some(now);
                    self.book.peer = "connected";
                    self.progress.last_acked = true;
                }
                SenderEvent::Message { seq, outcome, .. } => {
                    match outcome {
                        MessageOutcome::Delivered => self.book.peer = "connected",
                        MessageOutcome::TimedOut => {
                            self.msgs.failed += 1;
                            self.msgs.timed_out = true;
                        }
                        MessageOutcome::Refused { .. } => {
                            // Refused is an answer: the viewer is there.
                            self.book.peer = "connected";
                            self.msgs.failed += 1;
                        }
                    }
                    on_update(SendUpdate::Message { seq, outcome });
                }
                SenderEvent::PeerLost => {
                    // A viewer that never answered is still awaited, not lost.
                    if self.book.peer == "connected" {
                        self.book.peer = "disconnected";
                    }
                    // The driver takes an unreachable network in its stride, as it does an
                    // absent viewer; say which of the two it is.
                    match route_to(self.cfg.dest) {
                        Err(e) if is_network_away(&e) => {
                            self.net_down = Some(now + super::ROUTE_POLL);
                            on_update(SendUpdate::NetworkDown(e.to_string()))
                        }
                        _ if self.handshake_unanswered() => on_update(SendUpdate::NoHandshake),
                        _ => on_update(SendUpdate::ViewerLost),
                    }
                }
                SenderEvent::ViewerClosed => {
                    if self.book.peer == "connected" {
                        self.book.peer = "disconnected";
                    }
                    on_update(SendUpdate::ViewerClosed)
                }
                SenderEvent::PeerBack => {
                    self.book.peer = "connected";
                    on_update(SendUpdate::ViewerBack)
                }
                SenderEvent::TimedOut { .. }
                | SenderEvent::Abandoned { .. }
                | SenderEvent::GaveUp { .. } => {}
            }
        }
        if let Some(b) = self.driver.machine_mut().take_spare_buffer() {
            let _ = self.inputs.recycle.try_send(b);
        }
        if self.net_down.is_some_and(|t| now >= t) {
            if route_to(self.cfg.dest).is_ok() {
                self.net_down = None;
                on_update(SendUpdate::NetworkBack);
            } else {
                self.net_down = Some(now + super::ROUTE_POLL);
            }
        }
    }

    /// Copies the sender's counters and its view of the path into the statistics, and hands
    /// the target rate to the encoder.
    fn count(&mut self) {
        let sender = self.driver.machine();
        let e = sender.path_estimate();
        self.inputs.adapt.set_target(e.target_bps);
        let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e5).round() / 100.0;
        let mbps = |b: f64| (b / 1e4).round() / 100.0;
        let q = self.inputs.adapt.quality();
        self.book.path = Some(PathReport {
            target_mbps: e.target_bps.map(mbps),
            capacity_mbps: e.capacity_bps.map(mbps),
            base_rtt_ms: e.base_rtt.map(ms),
            queue_ms: e.queue.map(ms),
            window: sender.window(),
            quality: (q > 0).then_some(q),
            decreases: e.decreases,
        });
        let st = self.driver.machine().stats();
        let c = &mut self.book.counts;
        c.frames = st.frames_acked;
        c.bytes = st.bytes_acked;
        c.dropped_frames = st.frames_dropped + self.inputs.capture_drops.load(Ordering::Relaxed);
        c.retransmitted_chunks = st.retransmitted_chunks;
        c.timeouts = st.timeouts;
        c.rejected_datagrams = st.invalid_datagrams + st.unauthenticated + st.replayed + st.damaged;
        c.abandoned_frames = st.frames_abandoned;
        c.nacks = st.nacks;
        c.messages = st.messages_delivered;
        c.messages_refused = self.msgs.failed;
    }

    /// With a key, no viewer has answered the handshake yet.
    fn handshake_unanswered(&self) -> bool {
        let m = self.driver.machine();
        m.is_keyed() && m.stats().handshakes == 0
    }

    /// What to check when the viewer does not answer, in the words that fit the run.
    fn what_to_check(&self) -> String {
        let port = self.cfg.dest.port();
        if self.handshake_unanswered() {
            format!("is cam-view running there with the same key, and is UDP port {port} open?")
        } else {
            format!("is cam-view running there, and is UDP port {port} open?")
        }
    }

    /// Says BYE, and turns the run into its outcome.
    fn finish(mut self) -> Result<SendOutcome, AppError> {
        self.driver.machine_mut().close();
        let _ = self.driver.flush();
        let summary = self.book.summary(Instant::now());
        let cfg = self.cfg;
        if !self.video && self.msgs.timed_out {
            return Err(AppError::NoAck {
                reason: format!(
                    "no answer from {} to a message within {} s: {}",
                    cfg.dest,
                    cfg.protocol.message_timeout.as_secs_f64(),
                    self.what_to_check()
                ),
                summary: Some(Box::new(summary)),
            });
        }
        if self.one_shot && !self.progress.last_acked {
            return Err(AppError::NoAck {
                reason: if self.handshake_unanswered() {
                    format!(
                        "no answer to the keyed handshake from {}: {}",
                        cfg.dest,
                        self.what_to_check()
                    )
                } else {
                    format!(
                        "no ACK from {} after {} tries of {} ms: {}",
                        cfg.dest,
                        cfg.final_attempts.max(1),
                        cfg.protocol.ack_timeout.as_millis(),
                        self.what_to_check()
                    )
                },
                summary: Some(Box::new(summary)),
            });
        }
        Ok(SendOutcome {
            summary,
            one_shot: self.one_shot,
            last_acked: self.progress.last_acked,
            messages_delivered: self.driver.machine().stats().messages_delivered,
            messages_failed: self.msgs.failed,
        })
    }
}
