//! A sender's decode thread: each frame the network thread hands over becomes pixels for the
//! window (or, headless, is only proven to decode), and its latency is recorded, in the
//! totals and in the sender's own statistics. Every sender has one, so a sender of huge or
//! hostile pictures only ever slows its own tile.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest a decoder waits for the window to take its last picture.
const MAX_WINDOW_WAIT: Duration = Duration::from_millis(100);
/// How often it looks while it waits: well under a frame interval.
const WINDOW_POLL: Duration = Duration::from_millis(2);

use crossbeam_channel::{Receiver, Sender as Tx};

use super::{with_book, Book};
use crate::app::window::{DisplayFrame, DrawSizes};
use crate::media::codec::Decoder;
use crate::media::source::now_us;
use crate::protocol::reassembly::CompleteFrame;
use crate::runtime::latest::LatestSender;

/// Where a sender's decoded pictures go.
pub(super) struct ToWindow {
    /// The sender's newest-wins slot.
    pub frames: LatestSender<DisplayFrame>,
    /// A nudge for the window, which waits on all senders at once.
    pub wake: Tx<()>,
    /// The boxes tiles are drawn in, so that the picture is decoded no larger than needed.
    pub sizes: DrawSizes,
}

/// Decodes `name`'s frames until the network thread drops its end. Buffers go back where
/// they came from: pixels the window is done with come in on `px_back`, frame bytes go back
/// on `frame_back`.
pub(super) fn decode_loop(
    name: Arc<str>,
    frames: Receiver<CompleteFrame>,
    show: Option<ToWindow>,
    px_back: Receiver<Vec<u32>>,
    frame_back: Tx<Vec<u8>>,
    decode: bool,
    book: &Book,
) {
    let mut decoder = Decoder::new();
    let mut scratch = Vec::new();
    loop {
        if let Some(to) = &show {
            // A picture decoded before the window has taken the last one would only replace
            // it unseen: work thrown away when the CPU is short. Wait (a while at most) for
            // the window instead; meanwhile newer frames replace older ones in the network
            // thread's slot, undecoded, at no cost.
            let deadline = Instant::now() + MAX_WINDOW_WAIT;
            while to.frames.is_full() && Instant::now() < deadline {
                std::thread::sleep(WINDOW_POLL);
            }
        }
        let Ok(frame) = frames.recv() else { break };
        if decode {
            // Reuse a buffer the window is done with, or one a newer frame displaced.
            let mut px = px_back
                .try_recv()
                .unwrap_or_else(|_| std::mem::take(&mut scratch));
            // Headless, a frame only has to prove it decodes: skip the colour conversion.
            let decoded = match &show {
                Some(to) => {
                    let (w, h) = to.sizes.get(&name);
                    decoder.decode_0rgb_fit(&frame.data, w, h, &mut px)
                }
                None => decoder.decode_check(&frame.data),
            };
            match decoded {
                Ok((width, height)) => {
                    let latency =
                        Duration::from_micros(now_us().saturating_sub(frame.info.timestamp_us));
                    with_book(book, |b| {
                        b.latency.record(latency);
                        if let Some(s) = b.senders.get_mut(&name) {
                            s.latency.record(latency);
                        }
                        // The decoder knows the size even when the sender did not say it.
                        if show.is_none() {
                            b.size = Some((width, height));
                        }
                    });
                    match &show {
                        Some(to) => {
                            let f = DisplayFrame {
                                width,
                                height,
                                pixels: px,
                            };
                            if let Some(old) = to.frames.send(f) {
                                with_book(book, |b| {
                                    b.counts.skipped_frames += 1;
                                    if let Some(s) = b.senders.get_mut(&name) {
                                        s.dropped += 1;
                                    }
                                });
                                scratch = old.pixels;
                            }
                            let _ = to.wake.try_send(());
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
