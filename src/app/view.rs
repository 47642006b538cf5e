//! The viewing pipeline: network, decode and display, each on its own thread.
//!
//! ```text
//!  network thread ──newest-wins──▶ decode thread ──newest-wins──▶ window (main thread)
//!   (reassemble, ACK at once, --save)      (JPEG → 0RGB, latency)      or headless stats loop
//! ```
//!
//! The network thread only reads, reassembles and acknowledges, so the socket is drained even
//! while a frame decodes; the ACK goes out the moment a frame is whole, so the sender's next
//! transfer overlaps this frame's decode. Each hand-off keeps only the newest frame.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, SendTimeoutError, Sender as Tx};

use super::messages::{Carrier, MessageRecord};
use super::window::{Display, DisplayFrame};
use super::{AppError, Stop};
use crate::app::stats::{Report, Role, StatsBook};
use crate::compat::tutorial::{self, TutorialConfig, TutorialEvent, TutorialReceiver};
use crate::media::codec::Decoder;
use crate::media::source::now_us;
use crate::protocol::reassembly::{CompleteFrame, ReassemblyConfig};
use crate::protocol::receiver::{EndReason, Receiver as Proto, ReceiverConfig, ReceiverEvent};
use crate::protocol::wire::{self, Codec, FrameInfo, MAX_DATAGRAM, MAX_NACK_LEN};
use crate::runtime::latest::{newest_wins, LatestSender};
use crate::runtime::net::{bind_viewer, is_transient, small_rcvbuf_advice};

/// Everything the viewing pipeline needs to know.
#[derive(Debug, Clone)]
pub struct ViewConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Show frames in a window (needs a display); otherwise run headless.
    pub window: bool,
    /// Exit after this many frames.
    pub frames: Option<u64>,
    /// Write every received frame's bytes to `DIR/<seq, 8 digits>.jpg`.
    pub save: Option<PathBuf>,
    /// Frames larger than this are refused.
    pub max_frame_bytes: usize,
    /// Decode frames even when headless (for latency and decode-error statistics).
    pub decode: bool,
    /// Draw the latest JSON message over the picture in the window.
    pub show_messages: bool,
    /// Also accept the classic tutorial's pictures on the main port, and its JSON datagrams
    /// on a second one (see [`crate::compat::tutorial`]).
    pub tutorial: Option<TutorialMode>,
}

/// The tutorial-compatible side of the viewer (`cam-view --compat tutorial`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TutorialMode {
    /// Port for the tutorial's JSON datagrams, on the listening address's IP (0 picks a free
    /// port).
    pub json_port: u16,
}

impl Default for ViewConfig {
    fn default() -> Self {
        ViewConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 9999)),
            window: true,
            frames: None,
            save: None,
            max_frame_bytes: ReassemblyConfig::default().max_frame_bytes,
            decode: true,
            show_messages: false,
            tutorial: None,
        }
    }
}

/// How a viewing run ended.
#[derive(Debug, Clone)]
pub struct ViewOutcome {
    /// The final statistics.
    pub summary: Report,
}

/// What the viewer tells its owner as it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The socket is bound (the actual address, useful with port 0).
    Listening(SocketAddr),
    /// The tutorial-compatible JSON port is bound (`--compat tutorial`).
    TutorialJson(SocketAddr),
    /// A warning for the user.
    Warning(String),
    /// A sender's session began.
    SenderConnected {
        /// Session id.
        session: u32,
        /// Its address.
        from: SocketAddr,
    },
    /// The shown sender said BYE, went silent, or was replaced by a newer one.
    SenderDisconnected {
        /// Session id.
        session: u32,
        /// Its address.
        from: SocketAddr,
        /// Why.
        reason: EndReason,
    },
    /// An older sender is still sending while a newer one is shown: it is ignored.
    SenderIgnored {
        /// Session id.
        session: u32,
        /// Its address.
        from: SocketAddr,
    },
}

/// What the viewing pipeline tells its owner as it runs.
#[derive(Debug, Clone)]
pub enum ViewUpdate<'a> {
    /// Something happened (see [`Notice`]).
    Notice(Notice),
    /// The statistics of the last second.
    Report(&'a Report),
    /// A JSON message arrived (printed by `cam-view` as one line on stdout).
    Message(&'a MessageRecord),
}

type Book = Arc<Mutex<StatsBook>>;

fn with_book<R>(book: &Book, f: impl FnOnce(&mut StatsBook) -> R) -> R {
    let mut g = book.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut g)
}

/// Runs a viewer until `--frames` is reached, the window closes, or `stop` fires. Must be
/// called on the main thread when `cfg.window` is set (macOS requires windows there).
///
/// `on_update` hears about the bound address, warnings and senders, and gets the statistics
/// once a second.
pub fn run_view(
    cfg: ViewConfig,
    stop: Stop,
    mut on_update: impl FnMut(ViewUpdate<'_>),
) -> Result<ViewOutcome, AppError> {
    // Open the window first: with no display, fail before anything else happens.
    let mut display = if cfg.window {
        let mut d = Display::open("cam-view")?;
        d.show_messages(cfg.show_messages);
        Some(d)
    } else {
        None
    };
    if let Some(dir) = &cfg.save {
        std::fs::create_dir_all(dir).map_err(|source| AppError::Save {
            path: dir.clone(),
            source,
        })?;
    }
    let (sock, rcvbuf) = bind_viewer(cfg.listen)?;
    let local = sock.local_addr()?;
    let json_sock = match cfg.tutorial {
        Some(t) => {
            let addr = SocketAddr::new(local.ip(), t.json_port);
            // The generic message would point at --listen, which is not the busy port.
            let (s, _) = bind_viewer(addr).map_err(|e| match e {
                crate::runtime::net::NetError::InUse { .. } => AppError::Config(format!(
                    "cannot open the tutorial JSON port {addr}: the address is already in use \
                     (choose another with --json-port)"
                )),
                e => e.into(),
            })?;
            Some(s)
        }
        None => None,
    };
    on_update(ViewUpdate::Notice(Notice::Listening(local)));
    if let Some(s) = &json_sock {
        on_update(ViewUpdate::Notice(Notice::TutorialJson(s.local_addr()?)));
    }
    if let Some(w) = small_rcvbuf_advice(rcvbuf) {
        on_update(ViewUpdate::Notice(Notice::Warning(w)));
    }
    let start = Instant::now();
    let book: Book = Arc::new(Mutex::new(StatsBook::new(Role::View, start)));
    with_book(&book, |b| b.rcvbuf = Some(rcvbuf));

    let local_stop = Stop::new();
    let (notice_tx, notice_rx) = bounded::<Notice>(64);
    // Messages are acknowledged to their sender before they reach the owner, so this channel
    // must never drop one: the network thread waits when it is full.
    let (message_tx, message_rx) = bounded::<MessageRecord>(MESSAGE_QUEUE);
    let json = json_sock.map(|s| {
        let (tx, stop, local_stop) = (message_tx.clone(), stop.clone(), local_stop.clone());
        thread::Builder::new()
            .name("tutorial-json".into())
            .spawn(move || json_loop(s, tx, &stop, &local_stop))
            .expect("spawning a thread")
    });
    let (decode_tx, decode_rx) = newest_wins::<CompleteFrame>();
    let (frame_back_tx, frame_back_rx) = bounded::<Vec<u8>>(4);
    let net = {
        let cfg = cfg.clone();
        let book = book.clone();
        let stop = stop.clone();
        let local_stop = local_stop.clone();
        thread::Builder::new()
            .name("net".into())
            .spawn(move || {
                let r = net_loop(
                    &cfg,
                    sock,
                    decode_tx,
                    frame_back_rx,
                    notice_tx,
                    message_tx,
                    &book,
                    &stop,
                    &local_stop,
                );
                // Whatever ended the network side (frame limit, error) ends the run.
                local_stop.trigger();
                r
            })
            .expect("spawning a thread")
    };
    let (show_tx, show_rx) = newest_wins::<DisplayFrame>();
    let (px_back_tx, px_back_rx) = bounded::<Vec<u32>>(2);
    let dec = {
        let book = book.clone();
        let to_window = display.is_some();
        let decode = cfg.decode || to_window;
        thread::Builder::new()
            .name("decode".into())
            .spawn(move || {
                decode_loop(
                    decode_rx,
                    to_window.then_some(show_tx),
                    px_back_rx,
                    frame_back_tx,
                    decode,
                    &book,
                )
            })
            .expect("spawning a thread")
    };

    let mut next_report = start + Duration::from_secs(1);
    loop {
        while let Ok(n) = notice_rx.try_recv() {
            notice(n, &mut display, &mut on_update);
        }
        while let Ok(m) = message_rx.try_recv() {
            message(&m, &mut display, &mut on_update);
        }
        if stop.is_set() || local_stop.is_set() {
            break;
        }
        let now = Instant::now();
        if now >= next_report {
            let r = with_book(&book, |b| b.interval(now));
            if let Some(d) = &mut display {
                d.set_status(&r.status_line());
            }
            on_update(ViewUpdate::Report(&r));
            next_report = (next_report + Duration::from_secs(1)).max(now);
        }
        match &mut display {
            Some(d) => {
                // The window loop: show the newest decoded frame, keep the window responsive.
                match show_rx.recv_timeout(Duration::from_millis(10)) {
                    Ok(f) => {
                        if let Some(old) = d.show(f) {
                            let _ = px_back_tx.try_send(old);
                        }
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => d.idle(),
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                }
                if !d.is_open() {
                    break;
                }
            }
            None => {
                select! {
                    recv(stop.channel()) -> _ => {},
                    recv(local_stop.channel()) -> _ => {},
                    recv(notice_rx) -> n => if let Ok(n) = n {
                        notice(n, &mut display, &mut on_update)
                    },
                    recv(message_rx) -> m => if let Ok(m) = m {
                        message(&m, &mut display, &mut on_update)
                    },
                    default(next_report.saturating_duration_since(Instant::now())) => {},
                }
            }
        }
    }
    local_stop.trigger();
    let net_result = net.join().unwrap_or(Ok(()));
    let _ = dec.join();
    if let Some(j) = json {
        let _ = j.join();
    }
    while let Ok(n) = notice_rx.try_recv() {
        notice(n, &mut display, &mut on_update);
    }
    while let Ok(m) = message_rx.try_recv() {
        message(&m, &mut display, &mut on_update);
    }
    net_result?;
    let summary = with_book(&book, |b| b.summary(Instant::now()));
    Ok(ViewOutcome { summary })
}

/// Passes a notice on, after showing sender changes in the window.
fn notice(n: Notice, display: &mut Option<Display>, on_update: &mut impl FnMut(ViewUpdate<'_>)) {
    if let Some(d) = display {
        match &n {
            Notice::SenderConnected { .. } => d.set_disconnected(false),
            Notice::SenderDisconnected {
                reason: EndReason::Bye,
                ..
            } => d.set_finished(),
            Notice::SenderDisconnected { .. } => d.set_disconnected(true),
            _ => {}
        }
    }
    on_update(ViewUpdate::Notice(n));
}

/// Messages that may wait for the owner before the network thread waits too.
const MESSAGE_QUEUE: usize = 1024;

/// Hands a message record to the owner, waiting for room: never drops one that its sender
/// was told was delivered.
fn hand_over(messages: &Tx<MessageRecord>, mut m: MessageRecord, stop: &Stop) {
    loop {
        match messages.send_timeout(m, Duration::from_millis(50)) {
            Ok(()) => return,
            Err(SendTimeoutError::Timeout(back)) if !stop.is_set() => m = back,
            Err(_) => return,
        }
    }
}

/// The tutorial's second server thread: one JSON value a datagram, each answered.
fn json_loop(
    sock: std::net::UdpSocket,
    messages: Tx<MessageRecord>,
    stop: &Stop,
    local_stop: &Stop,
) -> Result<(), AppError> {
    sock.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut seq = 0u64;
    while !stop.is_set() && !local_stop.is_set() {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if is_transient(&e) => continue,
            Err(e) => return Err(e.into()),
        };
        let answer = match tutorial::parse_json(&buf[..n]) {
            Ok(message) => {
                let m = MessageRecord {
                    from,
                    session: None,
                    seq,
                    via: Carrier::Tutorial,
                    message,
                };
                seq += 1;
                hand_over(&messages, m, stop);
                tutorial::REPLY_JSON.to_vec()
            }
            Err(reason) => reason.into_bytes(),
        };
        let _ = sock.send_to(&answer, from);
    }
    Ok(())
}

/// Passes a message on, after showing it in the window when asked to.
fn message(
    m: &MessageRecord,
    display: &mut Option<Display>,
    on_update: &mut impl FnMut(ViewUpdate<'_>),
) {
    if let Some(d) = display {
        d.set_message(&m.message.to_string());
    }
    on_update(ViewUpdate::Message(m));
}

#[allow(clippy::too_many_arguments)]
fn net_loop(
    cfg: &ViewConfig,
    sock: std::net::UdpSocket,
    decode_tx: LatestSender<CompleteFrame>,
    frame_back: Receiver<Vec<u8>>,
    notices: Tx<Notice>,
    messages: Tx<MessageRecord>,
    book: &Book,
    stop: &Stop,
    local_stop: &Stop,
) -> Result<(), AppError> {
    let mut proto = Proto::new(ReceiverConfig {
        reassembly: ReassemblyConfig {
            max_frame_bytes: cfg.max_frame_bytes,
            ..ReassemblyConfig::default()
        },
        ..ReceiverConfig::default()
    });
    // The read timeout follows the protocol's next timer (a NACK is due 2 ms after a burst),
    // and is never so long that the stop signal goes unnoticed.
    const MAX_WAIT: Duration = Duration::from_millis(20);
    let mut wait = MAX_WAIT;
    sock.set_read_timeout(Some(wait))?;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut out = vec![0u8; MAX_NACK_LEN];
    let mut delivered = 0u64;
    let mut tut = cfg
        .tutorial
        .map(|_| TutorialReceiver::new(TutorialConfig::default()));
    let mut tut_seq = 0u32;
    let mut saved_session = None;
    loop {
        if stop.is_set() || local_stop.is_set() {
            return Ok(());
        }
        let next = match (
            proto.poll_timeout(),
            tut.as_ref().and_then(|t| t.poll_timeout()),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let want = next
            .map_or(MAX_WAIT, |t| t.saturating_duration_since(Instant::now()))
            .clamp(Duration::from_millis(1), MAX_WAIT);
        // Whole milliseconds, so the socket option is set only when the wait really changes.
        let want = Duration::from_millis(want.as_millis() as u64).max(Duration::from_millis(1));
        if want != wait {
            sock.set_read_timeout(Some(want))?;
            wait = want;
        }
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => match &mut tut {
                // In compatibility mode whatever is not camwire is the tutorial's.
                Some(t) if wire::parse(&buf[..n]).is_err() => {
                    t.handle_datagram(Instant::now(), from, &buf[..n])
                }
                _ => proto.handle_datagram(Instant::now(), from, &buf[..n]),
            },
            Err(e) if is_transient(&e) => {}
            Err(e) => return Err(e.into()),
        }
        let now = Instant::now();
        proto.handle_timeout(now);
        let mut tut_frames = Vec::new();
        if let Some(t) = &mut tut {
            t.handle_timeout(now);
            while let Some((to, reply)) = t.poll_transmit() {
                if let Err(e) = sock.send_to(reply, to) {
                    if !is_transient(&e) {
                        return Err(e.into());
                    }
                }
            }
            while let Some(TutorialEvent::Picture { from, jpeg }) = t.poll_event() {
                let frame = tutorial_frame(&mut tut_seq, jpeg);
                tut_frames.push(ReceiverEvent::Frame { from, frame });
            }
        }
        // ACK first: the sender's next frame should not wait on anything below.
        while let Some((to, n)) = proto.poll_transmit(&mut out) {
            if let Err(e) = sock.send_to(&out[..n], to) {
                if !is_transient(&e) {
                    return Err(e.into());
                }
            }
        }
        while let Ok(b) = frame_back.try_recv() {
            proto.recycle(b);
        }
        let mut reached_limit = false;
        // Collected first: handling an event gives buffers back to `proto`.
        let events: Vec<ReceiverEvent> = std::iter::from_fn(|| proto.poll_event())
            .chain(tut_frames)
            .collect();
        for ev in events {
            match ev {
                ReceiverEvent::Frame { frame, .. } => {
                    if let Some(dir) = &cfg.save {
                        let path = dir.join(save_name(&mut saved_session, &frame));
                        std::fs::write(&path, &frame.data)
                            .map_err(|source| AppError::Save { path, source })?;
                    }
                    delivered += 1;
                    with_book(book, |b| {
                        b.first_frame.get_or_insert(now);
                        b.last_frame = Some(now);
                        b.counts.bytes += frame.data.len() as u64;
                        if frame.info.width > 0 && frame.info.height > 0 {
                            b.size = Some((frame.info.width as u32, frame.info.height as u32));
                        }
                    });
                    if let Some(old) = decode_tx.send(frame) {
                        with_book(book, |b| b.counts.skipped_frames += 1);
                        proto.recycle(old.data);
                    }
                    if cfg.frames.is_some_and(|n| delivered >= n) {
                        reached_limit = true;
                    }
                }
                ReceiverEvent::SessionStarted { session, from } => {
                    with_book(book, |b| b.peer = "connected");
                    let _ = notices.try_send(Notice::SenderConnected { session, from });
                }
                ReceiverEvent::SessionEnded {
                    session,
                    from,
                    reason,
                } => {
                    with_book(book, |b| b.peer = "disconnected");
                    let _ = notices.try_send(Notice::SenderDisconnected {
                        session,
                        from,
                        reason,
                    });
                }
                ReceiverEvent::Message {
                    from,
                    session,
                    seq,
                    json,
                } => {
                    // Validated by the receiver, so this parse cannot fail; re-serialized so
                    // that it prints as one line.
                    if let Ok(message) = serde_json::from_slice(&json) {
                        let m = MessageRecord {
                            from,
                            session: Some(session),
                            seq: seq as u64,
                            via: Carrier::Camwire,
                            message,
                        };
                        hand_over(&messages, m, stop);
                    }
                }
                ReceiverEvent::SessionIgnored { session, from } => {
                    let _ = notices.try_send(Notice::SenderIgnored { session, from });
                }
            }
        }
        let st = proto.stats();
        with_book(book, |b| {
            b.counts.frames = delivered;
            let tut = tut.as_ref().map(|t| *t.stats()).unwrap_or_default();
            b.counts.dropped_frames = st.reassembly.incomplete_dropped + tut.lost;
            b.counts.crc_failures = st.reassembly.crc_failures;
            b.counts.rejected_datagrams = st.rejected_total() + tut.junk;
            b.counts.retransmitted_chunks = st.retransmitted_chunks;
            b.counts.nacks = st.nacks;
            b.counts.ignored_datagrams = st.ignored_datagrams;
            b.counts.messages = st.messages;
            b.counts.messages_refused = st.messages_refused;
            if b.rejected_by_kind != st.rejected {
                b.rejected_by_kind = st.rejected.clone();
            }
        });
        if reached_limit {
            // Dropping decode_tx lets the decoder finish the frames it has, then end.
            return Ok(());
        }
    }
}

/// The `--save` file name of a frame: `<seq>.jpg` for the first sender of the run, and
/// `<session>-<seq>.jpg` for any later one (a restarted sender, tutorial pictures beside camwire
/// ones), so that a second sender's frames never overwrite the first one's.
fn save_name(first: &mut Option<u32>, frame: &CompleteFrame) -> String {
    let first = *first.get_or_insert(frame.session);
    if frame.session == first {
        format!("{:08}.jpg", frame.info.seq)
    } else {
        format!("{:08x}-{:08}.jpg", frame.session, frame.info.seq)
    }
}

/// A tutorial picture as a frame of the pipeline: numbered per run, stamped on arrival (the
/// tutorial sends no capture time), size read by the decoder.
fn tutorial_frame(seq: &mut u32, jpeg: Vec<u8>) -> CompleteFrame {
    let info = FrameInfo {
        seq: *seq,
        count: 1,
        len: jpeg.len() as u32,
        crc32: 0,
        codec: Codec::Jpeg,
        width: 0,
        height: 0,
        timestamp_us: now_us(),
    };
    *seq = seq.wrapping_add(1);
    CompleteFrame {
        session: 0,
        info,
        data: jpeg,
        attempt: 0,
    }
}

fn decode_loop(
    frames: Receiver<CompleteFrame>,
    show: Option<LatestSender<DisplayFrame>>,
    px_back: Receiver<Vec<u32>>,
    frame_back: Tx<Vec<u8>>,
    decode: bool,
    book: &Book,
) {
    let mut decoder = Decoder::new();
    let mut scratch = Vec::new();
    while let Ok(frame) = frames.recv() {
        if decode {
            // Reuse a buffer the window is done with, or one a newer frame displaced.
            let mut px = px_back
                .try_recv()
                .unwrap_or_else(|_| std::mem::take(&mut scratch));
            // Headless, a frame only has to prove it decodes: skip the colour conversion.
            let decoded = if show.is_some() {
                decoder.decode_0rgb(&frame.data, &mut px)
            } else {
                decoder.decode_check(&frame.data)
            };
            match decoded {
                Ok((width, height)) => {
                    let latency = now_us().saturating_sub(frame.info.timestamp_us);
                    with_book(book, |b| {
                        b.latency.record(Duration::from_micros(latency));
                        // The decoder knows the size even when the sender did not say it.
                        b.size = Some((width, height));
                    });
                    match &show {
                        Some(tx) => {
                            if let Some(old) = tx.send(DisplayFrame {
                                width,
                                height,
                                pixels: px,
                            }) {
                                with_book(book, |b| b.counts.skipped_frames += 1);
                                scratch = old.pixels;
                            }
                        }
                        None => scratch = px,
                    }
                }
                Err(_) => {
                    with_book(book, |b| b.counts.decode_errors += 1);
                    scratch = px;
                }
            }
        }
        let _ = frame_back.try_send(frame.data);
    }
}
