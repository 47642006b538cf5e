//! The sending pipeline: capture, encode and the network loop, each on its own thread.
//!
//! ```text
//!  live source:  capture thread ──newest-wins──▶ encoder thread ──rendezvous──▶ network loop
//!  on-demand:                      encoder thread (captures just in time) ──▶ network loop
//!                                          socket reader thread ──ACKs──▶ network loop
//! ```
//!
//! The encoder hands frames over a zero-capacity channel, so exactly one encoded frame waits
//! while another is in flight: encoding frame N+1 overlaps frame N's transfer and ACK, and the
//! frame sent next is never more than one frame old. A live source (a camera, or the pattern at
//! a fixed `--fps`) captures on its own clock into a newest-wins slot and never waits for the
//! network; a source that can produce a frame whenever asked is asked just in time.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, never, select, Receiver, Sender as Tx};

use super::{AppError, Stop};
use crate::app::stats::{Report, Role, StatsBook};
use crate::media::camera::{CameraRequest, REOPEN_INTERVAL};
use crate::media::codec::{encode_i420, encode_rgb};
use crate::media::images::ImageSource;
use crate::media::source::{
    CapturedFrame, NoFrames, PatternSource, Pixels, Source, SourceError, Ticker,
};
use crate::protocol::message::{MessageError, MessageOutcome};
use crate::protocol::sender::{OutgoingFrame, Sender, SenderConfig, SenderEvent};
use crate::protocol::wire::{Codec, MAX_DATAGRAM};
use crate::runtime::latest::newest_wins;
use crate::runtime::net::{connect_sender, is_transient};

/// Where frames come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// The built-in moving test pattern.
    Pattern {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// A still image or a folder of them.
    Images {
        /// File or folder.
        path: PathBuf,
        /// Repeat for ever.
        looping: bool,
        /// Scale every image to this size.
        resize: Option<(u32, u32)>,
    },
    /// A webcam, in the mode closest to the request (needs the `camera` feature).
    Camera(CameraRequest),
    /// No pictures: the run only sends [`SendConfig::messages`].
    Nothing,
}

/// Events of a sending run worth telling the user about, apart from the statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendNotice {
    /// The source went away (an unplugged camera); the session goes on and the source is
    /// reopened every [`REOPEN_INTERVAL`].
    SourceLost(String),
    /// The lost source works again.
    SourceBack(String),
}

/// Everything the sending pipeline needs to know.
#[derive(Debug, Clone)]
pub struct SendConfig {
    /// The viewer's address.
    pub dest: SocketAddr,
    /// Where frames come from.
    pub source: SourceSpec,
    /// Capture rate; 0 means as fast as the ACKs allow.
    pub fps: f64,
    /// JPEG quality, 1 to 100.
    pub quality: u8,
    /// Stop after this many frames.
    pub frames: Option<u64>,
    /// Largest datagram, bytes of UDP payload.
    pub mtu: usize,
    /// The longest wait for the viewer's answer before probing again (the retransmission
    /// timeout adapts below it).
    pub ack_timeout: Duration,
    /// A frame older than this gives way to a newer one.
    pub max_latency: Duration,
    /// Pacing rate in megabits per second of datagrams; 0 sends unpaced.
    pub max_rate_mbps: f64,
    /// Rounds for the last frame of a finite stream before giving up on its ACK.
    pub final_attempts: u32,
    /// JSON messages to send beside the frames, one per item, in order; the run waits for
    /// every verdict once the channel is closed. Bounded, so a fast producer waits for the
    /// viewer instead of queueing without limit.
    pub messages: Option<Receiver<Vec<u8>>>,
    /// A message without the viewer's verdict after this long counts as not delivered.
    pub message_timeout: Duration,
}

impl Default for SendConfig {
    fn default() -> Self {
        SendConfig {
            dest: SocketAddr::from(([127, 0, 0, 1], 9999)),
            source: SourceSpec::Pattern {
                width: 1280,
                height: 720,
            },
            fps: 30.0,
            quality: 80,
            frames: None,
            mtu: 1200,
            ack_timeout: Duration::from_millis(100),
            max_latency: Duration::from_millis(150),
            max_rate_mbps: 1000.0,
            final_attempts: 3,
            messages: None,
            message_timeout: Duration::from_secs(5),
        }
    }
}

/// What the sending pipeline tells its owner as it runs.
#[derive(Debug, Clone)]
pub enum SendUpdate<'a> {
    /// The statistics of the last second.
    Report(&'a Report),
    /// The viewer stopped answering; the sender keeps capturing and probes at a low rate.
    ViewerLost,
    /// The viewer answers again.
    ViewerBack,
    /// The source was lost or came back (an unplugged camera).
    Source(SendNotice),
    /// A message has its verdict (delivered, refused by the viewer, or no answer in time).
    Message {
        /// Its sequence number in this session (0 for the first message).
        seq: u32,
        /// What became of it.
        outcome: MessageOutcome,
    },
    /// A message was refused before sending (empty, too large, queue full).
    MessageNotSent(MessageError),
}

/// How a sending run ended.
#[derive(Debug, Clone)]
pub struct SendOutcome {
    /// The final statistics.
    pub summary: Report,
    /// True when the run was a single still image (the one-shot "send a picture, get a reply").
    pub one_shot: bool,
    /// True when the last frame was acknowledged.
    pub last_acked: bool,
    /// Messages the viewer accepted.
    pub messages_delivered: u64,
    /// Messages refused (by the viewer or before sending) or not answered in time.
    pub messages_failed: u64,
}

/// Opens the configured source.
pub fn open_source(spec: &SourceSpec) -> Result<Box<dyn Source>, SourceError> {
    Ok(match spec {
        SourceSpec::Pattern { width, height } => Box::new(PatternSource::new(*width, *height)),
        SourceSpec::Images {
            path,
            looping,
            resize,
        } => Box::new(ImageSource::open(path, *looping, *resize)?),
        SourceSpec::Camera(req) => crate::media::camera::open(req)?,
        SourceSpec::Nothing => Box::new(NoFrames),
    })
}

/// Encodes a captured frame (JPEG frames pass through), reusing `out`'s allocation. Also
/// returns the RGB or 4:2:0 pixels, unchanged, for [`Source::recycle`].
pub(crate) fn encode(
    frame: CapturedFrame,
    quality: u8,
    out: Vec<u8>,
) -> Result<(OutgoingFrame, Option<Vec<u8>>), AppError> {
    let (data, rgb) = match frame.pixels {
        Pixels::Jpeg(bytes) => (bytes, None),
        Pixels::Rgb(rgb) => {
            let mut out = out;
            encode_rgb(&rgb, frame.width, frame.height, quality, &mut out)?;
            (out, Some(rgb))
        }
        Pixels::I420(yuv) => {
            let mut out = out;
            encode_i420(&yuv, frame.width, frame.height, quality, &mut out)?;
            (out, Some(yuv))
        }
    };
    let side = |v: u32| u16::try_from(v).unwrap_or(0);
    let f = OutgoingFrame {
        data,
        codec: Codec::Jpeg,
        width: side(frame.width),
        height: side(frame.height),
        timestamp_us: frame.timestamp_us,
    };
    Ok((f, rgb))
}

/// A captured frame, or why capture failed (handed on so the network loop can report it).
type Captured = Result<CapturedFrame, AppError>;

/// Runs the producer side: capture (on its own thread for live or paced sources) and encode.
/// Ends when the source ends, the consumer goes away, or `stop` fires.
#[allow(clippy::too_many_arguments)]
fn spawn_producer(
    mut source: Box<dyn Source>,
    fps: f64,
    quality: u8,
    out: Tx<Result<OutgoingFrame, AppError>>,
    recycled: Receiver<Vec<u8>>,
    capture_drops: Arc<AtomicU64>,
    notices: Tx<SendNotice>,
    stop: Stop,
) -> Vec<thread::JoinHandle<()>> {
    let mut handles = Vec::new();
    let paced = fps > 0.0 || source.is_live();
    // With a pace of its own, capture runs on its own thread into a newest-wins slot.
    let (cap_rx, on_demand): (Option<Receiver<Captured>>, Option<Box<dyn Source>>) = if paced {
        let (cap_tx, cap_rx) = newest_wins::<Captured>();
        let stop_c = stop.clone();
        handles.push(
            thread::Builder::new()
                .name("capture".into())
                .spawn(move || {
                    // A live source (a camera) delivers at its own rate: pacing it here too
                    // would only make it hand over older frames.
                    let mut ticker =
                        (fps > 0.0 && !source.is_live()).then(|| Ticker::new(fps, Instant::now()));
                    while !stop_c.is_set() {
                        if let Some(t) = &mut ticker {
                            let wait = t.wait_from(Instant::now());
                            if !wait.is_zero() {
                                // Sleep on the stop channel so that Ctrl-C is prompt.
                                let _ = stop_c.channel().recv_timeout(wait);
                                if stop_c.is_set() {
                                    break;
                                }
                            }
                        }
                        match source.next_frame() {
                            Ok(Some(f)) => {
                                if cap_tx.send(Ok(f)).is_some() {
                                    capture_drops.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Ok(None) => break,
                            Err(e) if e.is_lost() => {
                                if !wait_for_source(&mut *source, e, &notices, &stop_c) {
                                    break;
                                }
                            }
                            Err(e) => {
                                cap_tx.send(Err(e.into()));
                                break;
                            }
                        }
                    }
                })
                .expect("spawning a thread"),
        );
        (Some(cap_rx), None)
    } else {
        (None, Some(source))
    };
    handles.push(
        thread::Builder::new()
            .name("encode".into())
            .spawn(move || {
                let mut on_demand = on_demand;
                loop {
                    if stop.is_set() {
                        break;
                    }
                    let captured = match (&cap_rx, &mut on_demand) {
                        (Some(rx), _) => match rx.recv() {
                            Ok(r) => r,
                            Err(_) => break,
                        },
                        (None, Some(src)) => match src.next_frame() {
                            Ok(Some(f)) => Ok(f),
                            Ok(None) => break,
                            Err(e) => Err(e.into()),
                        },
                        (None, None) => break,
                    };
                    let buf = recycled.try_recv().unwrap_or_default();
                    let encoded = captured
                        .and_then(|f| encode(f, quality, buf))
                        .map(|(f, rgb)| {
                            // Only here, where each frame is encoded as soon as it is taken, is the
                            // buffer surely the source's last frame: a paced capture thread may
                            // have dropped newer ones.
                            if let (Some(src), Some(rgb)) = (&mut on_demand, rgb) {
                                src.recycle(rgb);
                            }
                            f
                        });
                    let failed = encoded.is_err();
                    // Blocks until the network loop wants a frame: the hand-off is the queue.
                    if out.send(encoded).is_err() || failed {
                        break;
                    }
                }
            })
            .expect("spawning a thread"),
    );
    handles
}

/// Reopens a lost source every [`REOPEN_INTERVAL`] until it works (true) or `stop` fires
/// (false). Waits on the stop channel between attempts, so Ctrl-C is never delayed by more
/// than one reopen attempt.
fn wait_for_source(
    source: &mut dyn Source,
    lost: SourceError,
    notices: &Tx<SendNotice>,
    stop: &Stop,
) -> bool {
    let _ = notices.try_send(SendNotice::SourceLost(format!(
        "{lost}; trying again every {} s",
        REOPEN_INTERVAL.as_secs_f64()
    )));
    loop {
        let _ = stop.channel().recv_timeout(REOPEN_INTERVAL);
        if stop.is_set() {
            return false;
        }
        if source.reopen().is_ok() {
            let _ = notices.try_send(SendNotice::SourceBack(format!(
                "{} is back",
                source.describe()
            )));
            return true;
        }
    }
}

fn spawn_reader(sock: std::net::UdpSocket, tx: Tx<Vec<u8>>, stop: Stop) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name("ack-reader".into())
        .spawn(move || {
            let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
            let mut buf = vec![0u8; MAX_DATAGRAM];
            while !stop.is_set() {
                match sock.recv(&mut buf) {
                    Ok(n) => {
                        // Full means the loop is far behind; dropping an ACK only costs a retry.
                        let _ = tx.try_send(buf[..n].to_vec());
                    }
                    Err(e) if is_transient(&e) => {}
                    Err(_) => break,
                }
            }
        })
        .expect("spawning a thread")
}

/// Runs a sending pipeline until its frames are done or `stop` fires. `on_update` hears the
/// statistics once a second, and when the viewer goes and comes back.
pub fn run_send(
    cfg: SendConfig,
    stop: Stop,
    on_update: impl FnMut(SendUpdate<'_>),
) -> Result<SendOutcome, AppError> {
    check_mtu(&cfg)?;
    let source = open_source(&cfg.source)?;
    run_send_with(cfg, source, stop, on_update)
}

fn check_mtu(cfg: &SendConfig) -> Result<(), AppError> {
    if !(crate::protocol::wire::MIN_MTU..=MAX_DATAGRAM).contains(&cfg.mtu) {
        return Err(AppError::Config(format!(
            "--mtu must be between {} and {MAX_DATAGRAM} bytes",
            crate::protocol::wire::MIN_MTU
        )));
    }
    Ok(())
}

/// [`run_send`] with a source the caller opened (so it can describe it first, or bring its
/// own `Source`; `cfg.source` is then ignored). `on_update` also hears about a source that
/// was lost and came back.
pub fn run_send_with(
    cfg: SendConfig,
    source: Box<dyn Source>,
    stop: Stop,
    mut on_update: impl FnMut(SendUpdate<'_>),
) -> Result<SendOutcome, AppError> {
    check_mtu(&cfg)?;
    let (total, one_shot) = frame_budget(&cfg, &*source);
    let sock = connect_sender(cfg.dest)?;
    let session = fastrand::u32(..);

    // The producer threads must end when this function returns, whatever the reason.
    let local_stop = Stop::new();
    let (enc_tx, enc_rx) = bounded::<Result<OutgoingFrame, AppError>>(0);
    let (recycle_tx, recycle_rx) = bounded::<Vec<u8>>(2);
    let capture_drops = Arc::new(AtomicU64::new(0));
    let (notice_tx, notice_rx) = bounded::<SendNotice>(16);
    let mut handles = spawn_producer(
        source,
        cfg.fps,
        cfg.quality,
        enc_tx,
        recycle_rx,
        capture_drops.clone(),
        notice_tx,
        local_stop.clone(),
    );
    let (dgram_tx, dgram_rx) = bounded::<Vec<u8>>(64);
    handles.push(spawn_reader(
        sock.try_clone()?,
        dgram_tx,
        local_stop.clone(),
    ));

    let result = network_loop(
        &cfg,
        &sock,
        session,
        total,
        one_shot,
        &enc_rx,
        &dgram_rx,
        &recycle_tx,
        &capture_drops,
        &notice_rx,
        &stop,
        &mut on_update,
    );
    local_stop.trigger();
    drop(enc_rx);
    for h in handles {
        let _ = h.join();
    }
    result
}

/// How many frames the run sends (`--frames` or the source's own count, whichever is less)
/// and whether it is a one-shot picture (one frame, no messages).
pub(crate) fn frame_budget(cfg: &SendConfig, source: &dyn Source) -> (Option<u64>, bool) {
    let total = match (cfg.frames, source.total_frames()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let one_shot = source.total_frames() == Some(1) && cfg.messages.is_none();
    (total, one_shot)
}

/// `--max-rate` megabits per second as datagrams per second, counting each datagram as
/// `datagram` bytes; 0 (unpaced) stays 0.
pub(crate) fn pace_rate(mbps: f64, datagram: usize) -> f64 {
    if mbps > 0.0 {
        mbps * 1e6 / 8.0 / datagram as f64
    } else {
        0.0
    }
}

/// Where a finite stream stands: frames taken so far and whether the last one is in.
struct Progress {
    pushed: u64,
    source_done: bool,
    last_acked: bool,
}

impl Progress {
    /// Takes the encoder's next frame, or `None` when the source has ended. After the last
    /// frame (the source ended, or `--frames` reached) the wait for its ACK is bounded.
    fn take(
        &mut self,
        sender: &mut Sender,
        next: Option<Result<OutgoingFrame, AppError>>,
        total: Option<u64>,
        cfg: &SendConfig,
    ) -> Result<(), AppError> {
        if let Some(f) = next {
            sender
                .push_frame(Instant::now(), f?)
                .map_err(|e| AppError::Config(format!("{e}; raise --mtu or lower --quality")))?;
            self.last_acked = false;
            self.pushed += 1;
            if !total.is_some_and(|t| self.pushed >= t) {
                return Ok(());
            }
        }
        self.source_done = true;
        sender.set_max_attempts(Some(cfg.final_attempts.max(1)));
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn network_loop(
    cfg: &SendConfig,
    sock: &std::net::UdpSocket,
    session: u32,
    total: Option<u64>,
    one_shot: bool,
    enc_rx: &Receiver<Result<OutgoingFrame, AppError>>,
    dgram_rx: &Receiver<Vec<u8>>,
    recycle_tx: &Tx<Vec<u8>>,
    capture_drops: &AtomicU64,
    notice_rx: &Receiver<SendNotice>,
    stop: &Stop,
    on_update: &mut impl FnMut(SendUpdate<'_>),
) -> Result<SendOutcome, AppError> {
    let pace_per_sec = pace_rate(cfg.max_rate_mbps, cfg.mtu);
    let mut sender = Sender::new(
        SenderConfig {
            mtu: cfg.mtu,
            ack_timeout: cfg.ack_timeout,
            max_latency: cfg.max_latency,
            pace_per_sec,
            message_timeout: cfg.message_timeout,
            ..SenderConfig::default()
        },
        session,
    );
    let video = total != Some(0);
    let mut msgs = Msgs {
        rx: cfg.messages.clone().unwrap_or_else(never),
        done: cfg.messages.is_none(),
        failed: 0,
        timed_out: false,
    };
    let start = Instant::now();
    let mut book = StatsBook::new(Role::Send, start);
    let mut next_report = start + Duration::from_secs(1);
    let mut buf = vec![0u8; cfg.mtu];
    let mut progress = Progress {
        pushed: 0,
        source_done: total == Some(0),
        last_acked: false,
    };
    let no_frames = never();
    let mut notices = notice_rx.clone();

    loop {
        // The newest frame wins: one that missed its ACK is replaced as soon as a newer exists.
        if sender.wants_frame(Instant::now()) && !progress.source_done {
            match enc_rx.try_recv() {
                Ok(f) => progress.take(&mut sender, Some(f), total, cfg)?,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    progress.take(&mut sender, None, total, cfg)?
                }
                Err(crossbeam_channel::TryRecvError::Empty) => {}
            }
        }
        let now = Instant::now();
        while let Some(n) = sender.poll_transmit(now, &mut buf) {
            if let Err(e) = sock.send(&buf[..n]) {
                if !is_transient(&e) {
                    return Err(e.into());
                }
            }
        }
        while let Some(ev) = sender.poll_event() {
            match ev {
                SenderEvent::Acked { rtt, .. } => {
                    if let Some(rtt) = rtt {
                        book.rtt.record(rtt);
                    }
                    book.first_frame.get_or_insert(now);
                    book.last_frame = Some(now);
                    progress.last_acked = true;
                }
                SenderEvent::Message { seq, outcome, .. } => {
                    match outcome {
                        MessageOutcome::Delivered => {}
                        MessageOutcome::TimedOut => {
                            msgs.failed += 1;
                            msgs.timed_out = true;
                        }
                        MessageOutcome::Refused { .. } => msgs.failed += 1,
                    }
                    on_update(SendUpdate::Message { seq, outcome });
                }
                SenderEvent::PeerLost => on_update(SendUpdate::ViewerLost),
                SenderEvent::PeerBack => on_update(SendUpdate::ViewerBack),
                SenderEvent::TimedOut { .. }
                | SenderEvent::Abandoned { .. }
                | SenderEvent::GaveUp { .. } => {}
            }
        }
        if let Some(b) = sender.take_spare_buffer() {
            let _ = recycle_tx.try_send(b);
        }
        let st = sender.stats();
        book.counts.frames = st.frames_acked;
        book.counts.bytes = st.bytes_acked;
        book.counts.dropped_frames = st.frames_dropped + capture_drops.load(Ordering::Relaxed);
        book.counts.retransmitted_chunks = st.retransmitted_chunks;
        book.counts.timeouts = st.timeouts;
        book.counts.rejected_datagrams = st.invalid_datagrams;
        book.counts.abandoned_frames = st.frames_abandoned;
        book.counts.nacks = st.nacks;
        book.counts.messages = st.messages_delivered;
        book.counts.messages_refused = msgs.failed;

        let messages_done = msgs.done && sender.messages_pending() == 0;
        if (progress.source_done && sender.is_idle() && messages_done) || stop.is_set() {
            break;
        }
        if !video && msgs.timed_out {
            // Without a stream to keep going, a viewer that does not answer one message will
            // not answer the rest: stop now rather than wait out every message's timeout.
            break;
        }
        if now >= next_report {
            on_update(SendUpdate::Report(&book.interval(now)));
            next_report += Duration::from_secs(1);
            if next_report < now {
                next_report = now + Duration::from_secs(1);
            }
        }
        let deadline = sender
            .poll_timeout()
            .map_or(next_report, |t| t.min(next_report));
        let frames = if sender.wants_frame(Instant::now()) && !progress.source_done {
            enc_rx
        } else {
            &no_frames
        };
        // Take messages only while few are waiting: the bounded channel then holds the
        // producer back.
        let messages = if !msgs.done && sender.messages_pending() < MESSAGE_WINDOW {
            msgs.rx.clone()
        } else {
            never()
        };
        select! {
            recv(messages) -> m => match m {
                Ok(m) => {
                    if let Err(e) = sender.push_message(m) {
                        msgs.failed += 1;
                        on_update(SendUpdate::MessageNotSent(e));
                    }
                }
                Err(_) => msgs.done = true,
            },
            recv(frames) -> f => progress.take(&mut sender, f.ok(), total, cfg)?,
            recv(dgram_rx) -> d => if let Ok(d) = d {
                sender.handle_datagram(Instant::now(), &d);
                // Take whatever else is already queued before deciding anything.
                while let Ok(d) = dgram_rx.try_recv() {
                    sender.handle_datagram(Instant::now(), &d);
                }
            },
            recv(notices) -> n => match n {
                Ok(n) => on_update(SendUpdate::Source(n)),
                // No capture thread (or it ended): a disconnected channel is always ready,
                // so stop listening to it rather than spin on it.
                Err(_) => notices = never(),
            },
            recv(stop.channel()) -> _ => {},
            default(deadline.saturating_duration_since(Instant::now())) => {},
        }
        sender.handle_timeout(Instant::now());
    }

    while let Ok(n) = notice_rx.try_recv() {
        on_update(SendUpdate::Source(n));
    }
    sender.close();
    while let Some(n) = sender.poll_transmit(Instant::now(), &mut buf) {
        let _ = sock.send(&buf[..n]);
    }
    let summary = book.summary(Instant::now());
    if !video && msgs.timed_out {
        return Err(AppError::NoAck(format!(
            "no answer from {} to a message within {} s: is cam-view running there, and is UDP port {} open?",
            cfg.dest,
            cfg.message_timeout.as_secs_f64(),
            cfg.dest.port()
        )));
    }
    if one_shot && !progress.last_acked {
        return Err(AppError::NoAck(format!(
            "no ACK from {} after {} tries of {} ms: is cam-view running there, and is UDP port {} open?",
            cfg.dest,
            cfg.final_attempts.max(1),
            cfg.ack_timeout.as_millis(),
            cfg.dest.port()
        )));
    }
    Ok(SendOutcome {
        summary,
        one_shot,
        last_acked: progress.last_acked,
        messages_delivered: sender.stats().messages_delivered,
        messages_failed: msgs.failed,
    })
}

/// Messages taken into the sender before the loop stops reading the message channel.
const MESSAGE_WINDOW: usize = 64;

/// The message side of the network loop.
struct Msgs {
    rx: Receiver<Vec<u8>>,
    /// The channel is closed (or there never was one).
    done: bool,
    failed: u64,
    timed_out: bool,
}
