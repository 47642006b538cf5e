//! The sending pipeline: capture, encode and the network loop, each on its own thread.
//!
//! ```text
//!  live source:  capture thread ──newest-wins──▶ encoder thread ──rendezvous──▶ network loop
//!  on-demand:                      encoder thread (captures just in time) ──▶ network loop
//!                                  socket reader (the driver's) ──ACKs, NACKs──▶ network loop
//! ```
//!
//! `produce` (a private module) runs capture and encode; `network` runs the protocol in the shared
//! [`crate::runtime::driver::Driver`]; this module holds the configuration and starts both.
//!
//! The encoder hands frames over a zero-capacity channel, so exactly one encoded frame waits
//! while another is in flight: encoding frame N+1 overlaps frame N's transfer and ACK, and the
//! frame sent next is never more than one frame old. A live source (a camera, or the pattern at
//! a fixed `--fps`) captures on its own clock into a newest-wins slot and never waits for the
//! network; a source that can produce a frame whenever asked is asked just in time.

mod adapt;
mod network;
mod produce;
mod rtp;

pub use rtp::{RtpNotice, RtpOut};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver};

use super::record::{RecordTarget, Recorder};
use super::{AppError, Stop};
use crate::app::stats::Report;
use crate::media::camera::{CameraRequest, REOPEN_INTERVAL};
use crate::media::codec::{encode_i420, encode_rgb};
use crate::media::images::ImageSource;
use crate::media::source::{CapturedFrame, NoFrames, PatternSource, Pixels, Source, SourceError};
use crate::protocol::key::Key;
use crate::protocol::message::{MessageError, MessageOutcome};
use crate::protocol::sender::{OutgoingFrame, PushError, SenderConfig};
use crate::protocol::wire::{Codec, MAX_DATAGRAM, MIN_MTU};
use crate::runtime::net::{connect_sender, is_network_away, NetError};

/// The default floor of the quality adaptation: on a slow path motion comes first, and the
/// frame rate gives way only below this.
pub const DEFAULT_MIN_QUALITY: u8 = 5;

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
    /// Something the user should know that does not stop the stream (a recording stopped).
    Warning(String),
}

/// The sender's name in `--record` file names and titles: its `--name`, else this.
const RECORD_NAME: &str = "cam-send";

impl SendConfig {
    /// The name `--record` files are made under.
    pub(crate) fn record_name(&self) -> &str {
        self.name.as_deref().unwrap_or(RECORD_NAME)
    }
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
    /// JPEG quality, 1 to 100: what frames are encoded at while the path carries them, and the
    /// ceiling when it does not.
    pub quality: u8,
    /// The lowest quality the adaptation goes down to before the frame rate gives way
    /// (`quality` itself fixes the quality: sharpness before motion).
    pub min_quality: u8,
    /// Stop after this many frames.
    pub frames: Option<u64>,
    /// The protocol's settings: datagram size (`mtu`), the longest wait for an answer
    /// (`ack_timeout`), when a frame gives way to a newer one (`max_latency`), pacing
    /// ([`SenderConfig::with_max_rate_mbps`]) and `message_timeout`. Its defaults are the
    /// programs' defaults; `max_attempts` is set by the pipeline.
    pub protocol: SenderConfig,
    /// Rounds for the last frame of a finite stream before giving up on its ACK.
    pub final_attempts: u32,
    /// JSON messages to send beside the frames, one per item, in order; the run waits for
    /// every verdict once the channel is closed. Bounded, so a fast producer waits for the
    /// viewer instead of queueing without limit.
    pub messages: Option<Receiver<Vec<u8>>>,
    /// The shared key: every datagram authenticated and encrypted, and nothing sent before
    /// a viewer with the same key has answered the handshake (docs/PROTOCOL.md section 11).
    pub key: Option<Key>,
    /// Send RTP/JPEG (RFC 2435) to `dest` instead of camwire's protocol (`cam-send
    /// rtp://HOST:PORT`): no key, no messages, nothing comes back.
    pub rtp: Option<RtpOut>,
    /// The sender's name (`--name`): the viewer labels its tile, statistics and files with
    /// it, and knows this sender by it when it restarts (docs/PROTOCOL.md 12.6).
    pub name: Option<String>,
    /// Record every frame taken for sending, as sent, into a Matroska file (`--record`, see
    /// [`crate::app::record`]); a write error is a [`SendNotice::Warning`].
    pub record: Option<RecordTarget>,
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
            min_quality: DEFAULT_MIN_QUALITY,
            frames: None,
            protocol: SenderConfig::default(),
            final_attempts: 3,
            messages: None,
            key: None,
            rtp: None,
            name: None,
            record: None,
        }
    }
}

/// This machine's name, the default `--name`: what a viewer of several cameras shows a
/// sender as unless it is given another. `None` when the OS has none that is a usable name.
pub fn host_name() -> Option<String> {
    let name = gethostname::gethostname().to_string_lossy().into_owned();
    crate::protocol::session_info::check_name(&name)
        .ok()
        .map(|()| name)
}

/// What the sending pipeline tells its owner as it runs.
#[derive(Debug, Clone)]
pub enum SendUpdate<'a> {
    /// The statistics of the last second.
    Report(&'a Report),
    /// The viewer stopped answering; the sender keeps capturing and probes at a low rate.
    ViewerLost,
    /// With a key: no viewer has answered the keyed handshake yet (none is there, or it has
    /// no key or another one); the sender keeps capturing and sends hellos at a low rate.
    NoHandshake,
    /// The viewer said BYE (it was closed); the sender keeps capturing and probes at a low
    /// rate, as after [`SendUpdate::ViewerLost`].
    ViewerClosed,
    /// The viewer answers again.
    ViewerBack,
    /// This machine has no route to the viewer (the network is down or unreachable; the
    /// OS's reason): the sender keeps capturing and probing, and says [`SendUpdate::NetworkBack`]
    /// when a route is there again.
    NetworkDown(String),
    /// The network is back; the viewer is probed again (and [`SendUpdate::ViewerBack`]
    /// follows once it answers).
    NetworkBack,
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
    /// RTP output only: the session description, a source re-encoded to travel, a frame
    /// skipped.
    Rtp(RtpNotice),
    /// A frame was refused before sending ([`PushError::OverLimit`]: larger than a viewer
    /// takes) and skipped; the run goes on with the next.
    FrameSkipped {
        /// Which frame of the run (0 for the first; for an `--image` folder, the file's place
        /// in name order).
        index: u64,
        /// Why.
        reason: PushError,
    },
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
    if !(MIN_MTU..=MAX_DATAGRAM).contains(&cfg.protocol.mtu) {
        return Err(AppError::Config(format!(
            "--mtu must be between {MIN_MTU} and {MAX_DATAGRAM} bytes"
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
    if cfg.rtp.is_some() && (cfg.key.is_some() || cfg.messages.is_some()) {
        return Err(AppError::Config(
            "RTP output carries pictures only, unencrypted: it takes no key and no messages".into(),
        ));
    }
    let (total, one_shot) = frame_budget(&cfg, &*source);
    let one_shot = one_shot && cfg.rtp.is_none();
    let sock = if one_shot {
        // One picture: no route is an answer, as no ACK is.
        connect_sender(cfg.dest)?
    } else {
        connect_when_routed(cfg.dest, &stop, &mut on_update)?
    };

    // The producer threads must end when this function returns, whatever the reason.
    let local_stop = Stop::new();
    let (recycle_tx, recycle_rx) = bounded::<Vec<u8>>(2);
    let capture_drops = Arc::new(AtomicU64::new(0));
    let (notice_tx, notice_rx) = bounded::<SendNotice>(16);
    let record = match cfg.record.clone() {
        Some(target) => {
            let tx = notice_tx.clone();
            let warn = Box::new(move |w: String| {
                let _ = tx.try_send(SendNotice::Warning(w));
            });
            Some(Recorder::start(target, warn)?)
        }
        None => None,
    };
    let adapt = Arc::new(adapt::AdaptShared::default());
    let (handles, enc_rx) = produce::spawn(
        produce::Producer {
            source,
            fps: cfg.fps,
            quality: cfg.quality,
            min_quality: cfg.min_quality,
            adapt: adapt.clone(),
            recycled: recycle_rx,
            capture_drops: capture_drops.clone(),
            notices: notice_tx,
        },
        local_stop.clone(),
    );
    let inputs = network::Inputs {
        frames: enc_rx,
        recycle: recycle_tx,
        capture_drops,
        notices: notice_rx,
        adapt,
        record,
    };
    let result = match &cfg.rtp {
        Some(out) => rtp::run(&cfg, out, sock, inputs, total, &stop, &mut on_update),
        None => network::NetworkLoop::new(&cfg, sock, inputs, total, one_shot)
            .and_then(|l| l.run(&stop, &mut on_update)),
    };
    local_stop.trigger();
    for h in handles {
        let _ = h.join();
    }
    result
}

/// The sender's socket, once this machine has a route to `dest`: with no network at start,
/// says so once and tries again every [`ROUTE_POLL`] until there is one or `stop` fires.
fn connect_when_routed(
    dest: SocketAddr,
    stop: &Stop,
    on_update: &mut impl FnMut(SendUpdate<'_>),
) -> Result<std::net::UdpSocket, AppError> {
    let mut told = false;
    loop {
        match connect_sender(dest) {
            Ok(s) => {
                if told {
                    on_update(SendUpdate::NetworkBack);
                }
                return Ok(s);
            }
            Err(NetError::Io(e)) if is_network_away(&e) => {
                if !told {
                    on_update(SendUpdate::NetworkDown(e.to_string()));
                    told = true;
                }
                if stop.is_set() || stop.channel().recv_timeout(ROUTE_POLL).is_ok() {
                    return Err(AppError::Io(e));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// How often a sender whose network is away looks for a route again.
pub(crate) const ROUTE_POLL: std::time::Duration = std::time::Duration::from_millis(250);

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
