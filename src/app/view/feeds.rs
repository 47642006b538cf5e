//! One decode thread per sender, started by the network thread at a sender's first frame and
//! retired when the sender ends, and the feed through which the window receives each one's
//! newest picture. No sender's frames wait behind another's.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{Receiver, Sender as Tx};

use super::decode::{decode_loop, ToWindow};
use super::Book;
use crate::app::window::{DisplayFrame, DrawSizes};
use crate::protocol::reassembly::CompleteFrame;
use crate::runtime::latest::{newest_wins, LatestSender};

/// A sender's pictures, as the window takes them.
pub(super) struct Feed {
    /// The sender's name (its tile).
    pub name: Arc<str>,
    /// Its newest decoded picture.
    pub frames: Receiver<DisplayFrame>,
}

/// What every decode thread shares.
pub(super) struct Shared {
    /// Decode frames (always with a window; headless only when asked, for latency and
    /// decode errors).
    pub decode: bool,
    /// New senders' feeds, to the window, and the boxes its tiles are drawn in; `None` when
    /// headless.
    pub feeds: Option<(Tx<Feed>, DrawSizes)>,
    /// Nudges the window when any sender has a new picture.
    pub wake: Tx<()>,
    /// Pixel buffers the window is done with.
    pub px_back: Receiver<Vec<u32>>,
    /// Frame buffers the decoders are done with, back to the receiver.
    pub frame_back: Tx<Vec<u8>>,
    /// The statistics.
    pub book: Book,
}

struct Slot {
    frames: LatestSender<CompleteFrame>,
    thread: thread::JoinHandle<()>,
}

/// The live senders' decode threads.
pub(super) struct Decoders {
    shared: Shared,
    slots: HashMap<Arc<str>, Slot>,
    retired: Vec<thread::JoinHandle<()>>,
}

impl Decoders {
    pub fn new(shared: Shared) -> Self {
        Decoders {
            shared,
            slots: HashMap::new(),
            retired: Vec::new(),
        }
    }

    /// Hands `frame` to `name`'s decoder (started if it has none); returns the frame it
    /// displaced, which was never decoded.
    pub fn send(&mut self, name: &Arc<str>, frame: CompleteFrame) -> Option<CompleteFrame> {
        if !self.slots.contains_key(name) {
            let slot = self.start(name.clone());
            self.slots.insert(name.clone(), slot);
        }
        self.slots[name].frames.send(frame)
    }

    fn start(&mut self, name: Arc<str>) -> Slot {
        let (tx, rx) = newest_wins::<CompleteFrame>();
        let sh = &self.shared;
        let show = sh.feeds.as_ref().map(|(feeds, sizes)| {
            let (frames, window_rx) = newest_wins::<DisplayFrame>();
            // Bounded and never waited on: a window that has stopped taking feeds costs
            // this sender its tile, never the network thread its pace.
            let _ = feeds.try_send(Feed {
                name: name.clone(),
                frames: window_rx,
            });
            ToWindow {
                frames,
                wake: sh.wake.clone(),
                sizes: sizes.clone(),
            }
        });
        let (px_back, frame_back, book) =
            (sh.px_back.clone(), sh.frame_back.clone(), sh.book.clone());
        let decode = sh.decode;
        let thread = thread::Builder::new()
            .name(format!("decode {name}"))
            .spawn(move || decode_loop(name, rx, show, px_back, frame_back, decode, &book))
            .expect("spawning a thread");
        Slot { frames: tx, thread }
    }

    /// `name` ended: its decoder finishes what it holds and stops (its tile keeps the last
    /// picture). Threads retired earlier that have finished are reaped.
    pub fn retire(&mut self, name: &str) {
        if let Some(slot) = self.slots.remove(name) {
            drop(slot.frames);
            self.retired.push(slot.thread);
        }
        let (done, running): (Vec<_>, Vec<_>) =
            self.retired.drain(..).partition(|t| t.is_finished());
        for t in done {
            let _ = t.join();
        }
        self.retired = running;
    }
}

impl Drop for Decoders {
    /// Lets every decoder finish the frame it holds, then waits for it.
    fn drop(&mut self) {
        let slots: Vec<Slot> = self.slots.drain().map(|(_, s)| s).collect();
        let threads: Vec<_> = slots
            .into_iter()
            .map(|s| {
                drop(s.frames);
                s.thread
            })
            .chain(self.retired.drain(..))
            .collect();
        for t in threads {
            let _ = t.join();
        }
    }
}
