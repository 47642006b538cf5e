//! The producer threads of the sending pipeline: capture (on a thread of its own for a live
//! or paced source, into a newest-wins slot) and encode, handing one frame at a time to the
//! network loop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, Sender as Tx};

use super::adapt::{AdaptShared, FrameGate, QualityFit};
use super::{encode, SendNotice, REOPEN_INTERVAL};
use crate::app::{AppError, Stop};
use crate::media::source::{CapturedFrame, Pixels, Source, SourceError, Ticker};
use crate::protocol::sender::OutgoingFrame;
use crate::runtime::latest::{newest_wins, LatestSender};

/// A captured frame, or why capture failed (handed on so the network loop can report it).
type Captured = Result<CapturedFrame, AppError>;

/// What the producer threads need: a source, how to encode, and where frames go.
pub(super) struct Producer {
    pub source: Box<dyn Source>,
    /// Capture rate; 0 captures just in time for the network loop.
    pub fps: f64,
    /// The user's JPEG quality: the ceiling of the adaptation.
    pub quality: u8,
    /// The floor of the adaptation (`quality` itself fixes it).
    pub min_quality: u8,
    /// The target rate in, the quality in use out.
    pub adapt: Arc<AdaptShared>,
    /// Buffers of sent frames, to encode the next frames into.
    pub recycled: Receiver<Vec<u8>>,
    /// Frames a live source captured that a newer one replaced before encoding.
    pub capture_drops: Arc<AtomicU64>,
    pub notices: Tx<SendNotice>,
}

/// Encoded frames for the network loop.
pub(super) type Encoded = Result<OutgoingFrame, AppError>;

/// Where the encoder puts its frames.
enum Out {
    /// Handed over one at a time, each waiting until the network loop takes it: a source
    /// asked for frames just in time, where no frame may be lost (a list of images).
    Rendezvous(Tx<Encoded>),
    /// A newest-wins slot: a live source keeps encoding what it captures, and the frame that
    /// leaves is the newest when the sender's window opens, never one left waiting.
    Newest(LatestSender<Encoded>),
}

/// Runs the producer side: capture (on its own thread for live or paced sources) and encode.
/// Ends when the source ends, the consumer goes away, or `stop` fires. Returns the threads
/// and the channel of encoded frames.
pub(super) fn spawn(p: Producer, stop: Stop) -> (Vec<thread::JoinHandle<()>>, Receiver<Encoded>) {
    let Producer {
        source,
        fps,
        quality,
        min_quality,
        adapt,
        recycled,
        capture_drops,
        notices,
    } = p;
    let mut handles = Vec::new();
    // With a pace of its own, capture runs on its own thread into a newest-wins slot;
    // otherwise the encoder captures just in time.
    let (input, out, frames) = if fps > 0.0 || source.is_live() {
        let (cap_tx, cap_rx) = newest_wins::<Captured>();
        let stop = stop.clone();
        let drops = capture_drops.clone();
        handles.push(
            thread::Builder::new()
                .name("capture".into())
                .spawn(move || capture_loop(source, fps, cap_tx, drops, notices, stop))
                .expect("spawning a thread"),
        );
        let (tx, rx) = newest_wins::<Encoded>();
        (Input::Captured(cap_rx), Out::Newest(tx), rx)
    } else {
        let (tx, rx) = bounded::<Encoded>(0);
        (Input::OnDemand(source), Out::Rendezvous(tx), rx)
    };
    let encoder = Encoder {
        fit: QualityFit::new(quality, min_quality),
        fps: if fps > 0.0 { fps } else { 30.0 },
        adapt,
        capture_drops,
    };
    handles.push(
        thread::Builder::new()
            .name("encode".into())
            .spawn(move || encode_loop(input, encoder, out, recycled, stop))
            .expect("spawning a thread"),
    );
    (handles, frames)
}

/// The encoder's side of the adaptation.
struct Encoder {
    fit: QualityFit,
    /// The frame rate the budget per frame is counted at (the capture rate, or 30).
    fps: f64,
    adapt: Arc<AdaptShared>,
    capture_drops: Arc<AtomicU64>,
}

/// Where the encoder gets its frames.
enum Input {
    /// From the capture thread.
    Captured(Receiver<Captured>),
    /// Straight from a source that can produce a frame whenever asked.
    OnDemand(Box<dyn Source>),
}

/// The capture thread: frames on the source's own clock (or `fps`) into the newest-wins slot.
fn capture_loop(
    mut source: Box<dyn Source>,
    fps: f64,
    cap_tx: LatestSender<Captured>,
    capture_drops: Arc<AtomicU64>,
    notices: Tx<SendNotice>,
    stop: Stop,
) {
    // A live source (a camera) delivers at its own rate: pacing it here too would only make
    // it hand over older frames.
    let mut ticker = (fps > 0.0 && !source.is_live()).then(|| Ticker::new(fps, Instant::now()));
    while !stop.is_set() {
        if let Some(t) = &mut ticker {
            let wait = t.wait_from(Instant::now());
            if !wait.is_zero() {
                // Sleep on the stop channel so that Ctrl-C is prompt.
                let _ = stop.channel().recv_timeout(wait);
                if stop.is_set() {
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
                if !wait_for_source(&mut *source, e, &notices, &stop) {
                    break;
                }
            }
            Err(e) => {
                cap_tx.send(Err(e.into()));
                break;
            }
        }
    }
}

/// The encode thread: each frame encoded (JPEG passes through) at the quality that fits the
/// path, and handed to the network loop.
fn encode_loop(
    mut input: Input,
    mut enc: Encoder,
    out: Out,
    recycled: Receiver<Vec<u8>>,
    stop: Stop,
) {
    // Buffers of encoded frames a newer one displaced from the slot.
    let mut spare: Vec<Vec<u8>> = Vec::new();
    // Which captures to encode when the path carries fewer frames than the camera makes.
    let mut gate = FrameGate::default();
    while !stop.is_set() {
        let captured = match &mut input {
            Input::Captured(rx) => match rx.recv() {
                Ok(r) => r,
                Err(_) => break,
            },
            Input::OnDemand(src) => match src.next_frame() {
                Ok(Some(f)) => Ok(f),
                Ok(None) => break,
                Err(e) => Err(e.into()),
            },
        };
        if let (Ok(f), Input::Captured(_)) = (&captured, &input) {
            // Frames at the lowest quality still do not fit: encode only as many as the path
            // carries.
            let iv = enc.fit.min_interval(enc.adapt.target(), enc.fps);
            if !gate.admit(f.timestamp_us, iv) {
                enc.capture_drops.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        }
        let buf = spare
            .pop()
            .or_else(|| recycled.try_recv().ok())
            .unwrap_or_default();
        let quality = enc.fit.quality();
        // A camera's JPEG passes through: its quality is the camera's.
        let passthrough = matches!(&captured, Ok(f) if matches!(f.pixels, Pixels::Jpeg(_)));
        let encoded = captured
            .and_then(|f| encode(f, quality, buf))
            .map(|(f, pixels)| {
                // Only here, where each frame is encoded as soon as it is taken, is the buffer
                // surely the source's last frame: a paced capture thread may have dropped
                // newer ones.
                if let (Input::OnDemand(src), Some(pixels)) = (&mut input, pixels) {
                    src.recycle(pixels);
                }
                f
            });
        if let Ok(f) = &encoded {
            if passthrough {
                enc.fit.observe_fixed(f.data.len());
            } else {
                enc.fit.observe(f.data.len(), enc.adapt.target(), enc.fps);
                enc.adapt.set_quality(quality);
            }
        }
        let failed = encoded.is_err();
        match &out {
            // Blocks until the network loop wants a frame: the hand-off is the queue.
            Out::Rendezvous(tx) => {
                if tx.send(encoded).is_err() {
                    break;
                }
            }
            Out::Newest(slot) => {
                if let Some(old) = slot.send(encoded) {
                    enc.capture_drops.fetch_add(1, Ordering::Relaxed);
                    if let Ok(f) = old {
                        if spare.len() < 2 {
                            spare.push(f.data);
                        }
                    }
                }
            }
        }
        if failed {
            break;
        }
    }
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
