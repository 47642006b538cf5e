//! The viewing pipeline: network, decode and display, each on its own thread.
//!
//! ```text
//!  network thread ──newest-wins──▶ decode thread ──newest-wins──▶ window (main thread)
//!   (reassemble, ACK at once,      (one per sender:         (a tile per sender)
//!    --save,        ──newest-wins──▶ JPEG → 0RGB at ──▶ ...    or headless stats loop
//!    --record)                       the tile's size)
//! ```
//!
//! The network thread only reads, reassembles and acknowledges, so the socket is drained even
//! while a frame decodes; the ACK goes out the moment a frame is whole, so the sender's next
//! transfer overlaps this frame's decode. Each hand-off keeps only the newest frame; `--save`
//! writes on a thread of its own (the private `save` module) and messages wait for the owner in a queue the
//! network thread never blocks on.
//!
//! The private modules `network` and `decode` are the network thread and the decode thread; this module holds the
//! configuration, opens the sockets and the window, and runs the owner's loop.

mod decode;
mod feeds;
mod network;
mod save;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver};

use super::messages::MessageRecord;
use super::window::{Display, DrawSizes, Signal};
use super::{AppError, Stop};
use crate::app::record::{RecordTarget, Recorder};
use crate::app::stats::{Report, Role, StatsBook};
use crate::compat::tutorial_json::json_loop;
use crate::protocol::key::Key;
use crate::protocol::reassembly::ReassemblyConfig;
use crate::protocol::receiver::{EndReason, MAX_SENDERS};
use crate::runtime::net::{bind_viewer, small_rcvbuf_advice, NetError};
use crate::web::{HttpConfig, Hub, WebView};

pub(crate) use network::hand_over;

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
    /// Record every received frame, byte for byte, into one Matroska file per sender
    /// (`--record`, see [`crate::app::record`]).
    pub record: Option<RecordTarget>,
    /// Frames larger than this are refused.
    pub max_frame_bytes: usize,
    /// Decode frames even when headless (for latency and decode-error statistics).
    pub decode: bool,
    /// Draw the latest JSON message over the picture in the window.
    pub show_messages: bool,
    /// Also accept the classic tutorial's pictures on the main port, and its JSON datagrams
    /// on a second one (see [`crate::compat::tutorial`]).
    pub tutorial: Option<TutorialMode>,
    /// The shared key: only senders with it are shown, saved, printed or answered
    /// (docs/PROTOCOL.md section 11). Not with `tutorial`.
    pub key: Option<Key>,
    /// Take RTP/JPEG (RFC 2435) from ffmpeg, GStreamer or `cam-send rtp://` on `listen`
    /// instead of camwire's protocol (`--listen rtp://`). Not with `key` or `tutorial`.
    pub rtp: bool,
    /// Serve the live picture to browsers over HTTP (`--http`, see [`crate::app::http`]);
    /// with `key`, only to those with its token.
    pub http: Option<HttpConfig>,
    /// Senders shown at once (`--max-senders`, 1 to [`MAX_SENDERS`]); another is refused
    /// and counted until one ends.
    pub max_senders: usize,
    /// Show only the sender with this name (`--only`).
    pub only: Option<String>,
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
            record: None,
            max_frame_bytes: ReassemblyConfig::default().max_frame_bytes,
            decode: true,
            show_messages: false,
            tutorial: None,
            key: None,
            rtp: false,
            http: None,
            max_senders: 16,
            only: None,
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
    /// The web view is serving (`--http`): the link to open, with the token if there is a key.
    WebView(String),
    /// A warning for the user.
    Warning(String),
    /// A sender is shown from now on.
    SenderConnected {
        /// Session id.
        session: u32,
        /// Its address.
        from: SocketAddr,
        /// Its name, or its session id in hex until it says one.
        name: Arc<str>,
    },
    /// A shown sender said BYE, went silent, or was replaced by its own restart.
    SenderDisconnected {
        /// Session id.
        session: u32,
        /// Its address.
        from: SocketAddr,
        /// Why.
        reason: EndReason,
        /// Its name.
        name: Arc<str>,
    },
    /// A shown sender told its name after its first frames (shown under `old`, its session
    /// id, so far).
    SenderNamed {
        /// Session id.
        session: u32,
        /// Its address.
        from: SocketAddr,
        /// What it was shown as.
        old: Arc<str>,
        /// Its name.
        name: Arc<str>,
    },
    /// An older process of a shown sender (same name) is still sending: it is ignored.
    SenderIgnored {
        /// Session id.
        session: u32,
        /// Its address.
        from: SocketAddr,
        /// Its name.
        name: Arc<str>,
    },
    /// A sender is not shown: `--max-senders` others are, or it is not the `--only` one.
    SenderRefused {
        /// Session id.
        session: u32,
        /// Its address.
        from: SocketAddr,
        /// Its name.
        name: Arc<str>,
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

/// Said once by a viewer that listens beyond this machine without a key.
fn open_listen_warning(listen: SocketAddr) -> Option<String> {
    if listen.ip().is_loopback() {
        return None;
    }
    Some(format!(
        "warning: listening on {listen} without a key: anyone who can reach this port can \
         watch and replace the picture. To add a key: `cam-view --gen-key > camwire.key`, \
         copy camwire.key to the sending machine, then `cam-view --key-file camwire.key` \
         here and `cam-send HOST --key-file camwire.key` there"
    ))
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
    if cfg.key.is_some() && cfg.tutorial.is_some() {
        return Err(AppError::TutorialKey);
    }
    if !(1..=MAX_SENDERS).contains(&cfg.max_senders) {
        return Err(AppError::Config(format!(
            "--max-senders {} is out of range: give 1 to {MAX_SENDERS}",
            cfg.max_senders
        )));
    }
    if cfg.rtp && (cfg.key.is_some() || cfg.tutorial.is_some()) {
        return Err(AppError::Config(
            "RTP/JPEG has no key and is not the tutorial's format: --listen rtp:// takes \
             neither --key nor --compat tutorial"
                .into(),
        ));
    }
    // Open the window first: with no display, fail before anything else happens.
    let mut display = if cfg.window {
        let mut d = Display::open("cam-view")?;
        d.show_messages(cfg.show_messages);
        Some(d)
    } else {
        None
    };
    if let Some(dir) = &cfg.save {
        check_save_dir(dir)?;
    }
    if let Some(target) = &cfg.record {
        target.prepare()?;
    }
    let sockets = Sockets::open(&cfg)?;
    let web = cfg
        .http
        .as_ref()
        .map(|h| WebView::start(h, cfg.key.as_ref()))
        .transpose()?;
    on_update(ViewUpdate::Notice(Notice::Listening(sockets.local)));
    if let Some(w) = &web {
        on_update(ViewUpdate::Notice(Notice::WebView(w.url())));
        if let Some(warning) = w.exposure_warning() {
            on_update(ViewUpdate::Notice(Notice::Warning(warning)));
        }
    }
    // (RTP has no key to advise.)
    if cfg.key.is_none() && !cfg.rtp {
        if let Some(w) = open_listen_warning(sockets.local) {
            on_update(ViewUpdate::Notice(Notice::Warning(w)));
        }
    }
    if let Some(s) = &sockets.json {
        on_update(ViewUpdate::Notice(Notice::TutorialJson(s.local_addr()?)));
    }
    if let Some(w) = small_rcvbuf_advice(sockets.rcvbuf) {
        on_update(ViewUpdate::Notice(Notice::Warning(w)));
    }
    let start = Instant::now();
    let book: Book = Arc::new(Mutex::new(StatsBook::new(Role::View, start)));
    with_book(&book, |b| b.rcvbuf = Some(sockets.rcvbuf));

    let local_stop = Stop::new();
    let web_hub = web.as_ref().map(|w| w.hub().clone());
    let (threads, channels) = Threads::spawn(
        &cfg,
        sockets,
        display.as_ref().map(Display::draw_sizes),
        web_hub.clone(),
        &book,
        &stop,
        &local_stop,
    );
    let mut owner = Owner {
        display: &mut display,
        on_update: &mut on_update,
        web: web_hub,
    };
    owner.run(&channels, &book, &stop, &local_stop, start);
    local_stop.trigger();
    let net_result = threads.join();
    owner.drain(&channels);
    net_result?;
    let summary = with_book(&book, |b| b.summary(Instant::now()));
    Ok(ViewOutcome { summary })
}

/// Makes the `--save` folder and proves it takes a file, so that a folder that cannot be
/// written is refused before anything is shown rather than on the first frame.
fn check_save_dir(dir: &std::path::Path) -> Result<(), AppError> {
    let save_err = |source| AppError::Save {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(save_err)?;
    let probe = dir.join(".cam-view-write-test");
    std::fs::write(&probe, b"").map_err(save_err)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The viewer's sockets: its port and, with `--compat tutorial`, the tutorial's JSON port.
struct Sockets {
    main: UdpSocket,
    local: SocketAddr,
    rcvbuf: usize,
    json: Option<UdpSocket>,
}

impl Sockets {
    fn open(cfg: &ViewConfig) -> Result<Sockets, AppError> {
        let (main, rcvbuf) = bind_viewer(cfg.listen)?;
        let local = main.local_addr()?;
        let json = match cfg.tutorial {
            Some(t) => {
                let addr = SocketAddr::new(local.ip(), t.json_port);
                // The generic message would point at --listen, which is not the busy port.
                let (s, _) = bind_viewer(addr).map_err(|e| match e {
                    NetError::InUse { .. } => AppError::Config(format!(
                        "cannot open the tutorial JSON port {addr}: the address is already in use \
                         (choose another with --json-port)"
                    )),
                    e => e.into(),
                })?;
                Some(s)
            }
            None => None,
        };
        Ok(Sockets {
            main,
            local,
            rcvbuf,
            json,
        })
    }
}

/// What the worker threads tell the owner, and the window's frames.
struct Channels {
    notices: Receiver<Notice>,
    messages: Receiver<MessageRecord>,
    /// Each new sender's pictures.
    feeds: Receiver<feeds::Feed>,
    /// Some sender has a new picture.
    wake: Receiver<()>,
    px_back: crossbeam_channel::Sender<Vec<u32>>,
}

/// The viewer's worker threads (each sender's decoder belongs to the network thread).
struct Threads {
    net: thread::JoinHandle<Result<(), AppError>>,
    json: Option<thread::JoinHandle<Result<(), AppError>>>,
}

impl Threads {
    fn spawn(
        cfg: &ViewConfig,
        sockets: Sockets,
        window: Option<DrawSizes>,
        web: Option<Arc<Hub>>,
        book: &Book,
        stop: &Stop,
        local_stop: &Stop,
    ) -> (Threads, Channels) {
        let (notice_tx, notices) = bounded::<Notice>(64);
        // Messages are acknowledged to their sender before they reach the owner, so this
        // channel must never drop one: the network thread holds message datagrams back when
        // it is nearly full.
        let (message_tx, messages) = bounded::<MessageRecord>(MESSAGE_QUEUE);
        let json = sockets.json.map(|s| {
            let (tx, stop, local_stop) = (message_tx.clone(), stop.clone(), local_stop.clone());
            thread::Builder::new()
                .name("tutorial-json".into())
                .spawn(move || json_loop(s, tx, &stop, &local_stop))
                .expect("spawning a thread")
        });
        // Buffers in circulation: a few per sender.
        let (frame_back_tx, frame_back_rx) = bounded::<Vec<u8>>(2 * MAX_SENDERS);
        let (feeds_tx, feeds) = bounded::<feeds::Feed>(2 * MAX_SENDERS);
        let (wake_tx, wake) = bounded::<()>(1);
        let (px_back, px_back_rx) = bounded::<Vec<u32>>(2 * MAX_SENDERS);
        let decoders = feeds::Decoders::new(feeds::Shared {
            decode: cfg.decode || window.is_some(),
            feeds: window.map(|sizes| (feeds_tx, sizes)),
            wake: wake_tx,
            px_back: px_back_rx,
            frame_back: frame_back_tx,
            book: book.clone(),
        });
        let net = {
            let cfg = cfg.clone();
            let book = book.clone();
            let (stop, local_stop) = (stop.clone(), local_stop.clone());
            let saver = cfg
                .save
                .as_deref()
                .map(|dir| save::Saver::start(dir, notice_tx.clone()));
            let recorder = cfg.record.clone().and_then(|target| {
                let tx = notice_tx.clone();
                let warn = Box::new(move |w: String| {
                    let _ = tx.try_send(Notice::Warning(w));
                });
                // Checked by `run_view` already: an error here is a folder gone since.
                Recorder::start(target, warn)
                    .map_err(|e| notice_tx.try_send(Notice::Warning(e.to_string())))
                    .ok()
            });
            let out = network::Outputs {
                decoders,
                frame_back: frame_back_rx,
                notices: notice_tx,
                messages: message_tx,
                saver,
                recorder,
                web,
            };
            thread::Builder::new()
                .name("net".into())
                .spawn(move || {
                    let r = network::NetLoop::new(&cfg, sockets.main, out, book)
                        .and_then(|l| l.run(&stop, &local_stop));
                    // Whatever ended the network side (frame limit, error) ends the run.
                    local_stop.trigger();
                    r
                })
                .expect("spawning a thread")
        };
        let threads = Threads { net, json };
        let channels = Channels {
            notices,
            messages,
            feeds,
            wake,
            px_back,
        };
        (threads, channels)
    }

    /// Waits for every thread; the network thread's result is the run's.
    fn join(self) -> Result<(), AppError> {
        let net = self.net.join().unwrap_or(Ok(()));
        if let Some(j) = self.json {
            let _ = j.join();
        }
        net
    }
}

/// The owner's side, on the calling thread: the window (or, headless, a wait), notices,
/// messages and the once-a-second report.
struct Owner<'a, F: FnMut(ViewUpdate<'_>)> {
    display: &'a mut Option<Display>,
    on_update: &'a mut F,
    /// `--http`: where `/stats` reads the last second's report.
    web: Option<Arc<Hub>>,
}

impl<F: FnMut(ViewUpdate<'_>)> Owner<'_, F> {
    fn run(&mut self, ch: &Channels, book: &Book, stop: &Stop, local_stop: &Stop, start: Instant) {
        let mut next_report = start + Duration::from_secs(1);
        let mut feeds: Vec<feeds::Feed> = Vec::new();
        loop {
            self.drain(ch);
            if stop.is_set() || local_stop.is_set() {
                return;
            }
            let now = Instant::now();
            if now >= next_report {
                let r = with_book(book, |b| b.interval(now));
                if let Some(d) = self.display.as_mut() {
                    d.set_status(&r.status_line());
                }
                if let Some(web) = &self.web {
                    web.set_stats(r.to_json());
                }
                (self.on_update)(ViewUpdate::Report(&r));
                next_report = (next_report + Duration::from_secs(1)).max(now);
            }
            match self.display.as_mut() {
                Some(d) => {
                    // The window loop: show each sender's newest decoded picture, keep the
                    // window responsive.
                    let _ = ch.wake.recv_timeout(Duration::from_millis(10));
                    feeds.extend(ch.feeds.try_iter());
                    let mut shown = false;
                    feeds.retain(|f| loop {
                        match f.frames.try_recv() {
                            Ok(frame) => {
                                if let Some(old) = d.show_tile(&f.name, frame) {
                                    let _ = ch.px_back.try_send(old);
                                }
                                shown = true;
                            }
                            Err(crossbeam_channel::TryRecvError::Empty) => break true,
                            // Its sender ended and the last picture is shown.
                            Err(crossbeam_channel::TryRecvError::Disconnected) => break false,
                        }
                    });
                    if !shown {
                        d.idle();
                    }
                    if !d.is_open() {
                        return;
                    }
                }
                None => select! {
                    recv(stop.channel()) -> _ => {},
                    recv(local_stop.channel()) -> _ => {},
                    recv(ch.notices) -> n => if let Ok(n) = n { self.notice(n) },
                    recv(ch.messages) -> m => if let Ok(m) = m { self.message(&m) },
                    default(next_report.saturating_duration_since(Instant::now())) => {},
                },
            }
        }
    }

    /// Passes on every notice and message waiting.
    fn drain(&mut self, ch: &Channels) {
        while let Ok(n) = ch.notices.try_recv() {
            self.notice(n);
        }
        while let Ok(m) = ch.messages.try_recv() {
            self.message(&m);
        }
    }

    /// Passes a notice on, after showing sender changes in the window.
    fn notice(&mut self, n: Notice) {
        if let Some(d) = self.display.as_mut() {
            match &n {
                Notice::SenderConnected { name, .. } => d.set_signal(name, Signal::Live),
                Notice::SenderDisconnected {
                    reason: EndReason::Bye,
                    name,
                    ..
                } => d.set_signal(name, Signal::Finished),
                Notice::SenderDisconnected { name, .. } => d.set_signal(name, Signal::Lost),
                Notice::SenderNamed { old, .. } => d.remove_tile(old),
                _ => {}
            }
        }
        (self.on_update)(ViewUpdate::Notice(n));
    }

    /// Passes a message on, after showing it in the window when asked to.
    fn message(&mut self, m: &MessageRecord) {
        if let Some(d) = self.display.as_mut() {
            let tile = match (&m.sender, m.session) {
                (Some(name), _) => name.to_string(),
                (None, Some(session)) => format!("{session:08x}"),
                // The tutorial's JSON port: its pictures are session 0.
                (None, None) => "00000000".to_string(),
            };
            d.set_tile_message(&tile, &m.message.to_string());
        }
        (self.on_update)(ViewUpdate::Message(m));
    }
}

/// Messages that may wait for the owner.
const MESSAGE_QUEUE: usize = 1024;
