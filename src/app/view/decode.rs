//! The viewer's decode thread: each frame the network thread hands over becomes pixels for
//! the window (or, headless, is only proven to decode), and its latency is recorded.

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender as Tx};

use super::{with_book, Book};
use crate::app::window::DisplayFrame;
use crate::media::codec::Decoder;
use crate::media::source::now_us;
use crate::protocol::reassembly::CompleteFrame;
use crate::runtime::latest::LatestSender;

/// Decodes frames until the network thread's queue closes. Buffers go back where they came
/// from: pixels the window is done with come in on `px_back`, frame bytes go back on
/// `frame_back`.
pub(super) fn decode_loop(
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
