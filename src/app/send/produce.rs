//! The producer threads of the sending pipeline: capture (on a thread of its own for a live
//! or paced source, into a newest-wins slot) and encode, handing one frame at a time to the
//! network loop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender as Tx};

use super::{encode, SendNotice, REOPEN_INTERVAL};
use crate::app::{AppError, Stop};
use crate::media::source::{CapturedFrame, Source, SourceError, Ticker};
use crate::protocol::sender::OutgoingFrame;
use crate::runtime::latest::{newest_wins, LatestSender};

/// A captured frame, or why capture failed (handed on so the network loop can report it).
type Captured = Result<CapturedFrame, AppError>;

/// What the producer threads need: a source, how to encode, and where frames go.
pub(super) struct Producer {
    pub source: Box<dyn Source>,
    /// Capture rate; 0 captures just in time for the network loop.
    pub fps: f64,
    pub quality: u8,
    /// Encoded frames, handed over one at a time (a rendezvous channel).
    pub out: Tx<Result<OutgoingFrame, AppError>>,
    /// Buffers of sent frames, to encode the next frames into.
    pub recycled: Receiver<Vec<u8>>,
    /// Frames a live source captured that a newer one replaced before encoding.
    pub capture_drops: Arc<AtomicU64>,
    pub notices: Tx<SendNotice>,
}

/// Runs the producer side: capture (on its own thread for live or paced sources) and encode.
/// Ends when the source ends, the consumer goes away, or `stop` fires.
pub(super) fn spawn(p: Producer, stop: Stop) -> Vec<thread::JoinHandle<()>> {
    let Producer {
        source,
        fps,
        quality,
        out,
        recycled,
        capture_drops,
        notices,
    } = p;
    let mut handles = Vec::new();
    // With a pace of its own, capture runs on its own thread into a newest-wins slot;
    // otherwise the encoder captures just in time.
    let input = if fps > 0.0 || source.is_live() {
        let (cap_tx, cap_rx) = newest_wins::<Captured>();
        let stop = stop.clone();
        handles.push(
            thread::Builder::new()
                .name("capture".into())
                .spawn(move || capture_loop(source, fps, cap_tx, capture_drops, notices, stop))
                .expect("spawning a thread"),
        );
        Input::Captured(cap_rx)
    } else {
        Input::OnDemand(source)
    };
    handles.push(
        thread::Builder::new()
            .name("encode".into())
            .spawn(move || encode_loop(input, quality, out, recycled, stop))
            .expect("spawning a thread"),
    );
    handles
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

/// The encode thread: each frame encoded (JPEG passes through) and handed to the network
/// loop when it wants one.
fn encode_loop(
    mut input: Input,
    quality: u8,
    out: Tx<Result<OutgoingFrame, AppError>>,
    recycled: Receiver<Vec<u8>>,
    stop: Stop,
) {
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
        let buf = recycled.try_recv().unwrap_or_default();
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
        let failed = encoded.is_err();
        // Blocks until the network loop wants a frame: the hand-off is the queue.
        if out.send(encoded).is_err() || failed {
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
