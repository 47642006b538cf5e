//! Where the viewer leaves its newest frames and numbers for the web view: one newest-wins
//! slot per sender and one for whichever sent last, and the latest statistics line. The
//! network thread publishes without ever waiting (a `watch` send replaces the value), and each
//! browser's stream takes the newest value when it is ready for one, so a slow browser skips
//! frames and nobody else notices.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::watch;

/// Senders with a slot of their own; the one updated longest ago gives way to a new one.
pub const MAX_FEEDS: usize = 16;

/// One frame as the web view serves it: the JPEG bytes exactly as received.
#[derive(Debug, Clone)]
pub struct Shot {
    /// The sender's name.
    pub sender: Arc<str>,
    /// The frame's sequence number in its session.
    pub seq: u32,
    /// The JPEG.
    pub jpeg: Bytes,
}

/// A sender's slot.
struct Feed {
    name: Arc<str>,
    tx: watch::Sender<Option<Shot>>,
    /// Publication count when it last had a frame, to find the stalest.
    touched: u64,
}

/// The web view's shared state (see the module documentation).
pub struct Hub {
    newest: watch::Sender<Option<Shot>>,
    feeds: Mutex<Vec<Feed>>,
    stats: Mutex<Arc<str>>,
    published: AtomicU64,
    /// Streams being served now.
    pub(super) streams: AtomicUsize,
    /// Connections open now.
    pub(super) connections: AtomicUsize,
    /// Streams refused by the client limit, and connections closed unread over the connection
    /// limit.
    pub(super) refused: AtomicU64,
    /// Frames written to streams, all clients together.
    pub(super) parts: AtomicU64,
    /// Streams closed because their client took no frame for the stall time.
    pub(super) stalled: AtomicU64,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    /// An empty hub: no frame yet, statistics saying the viewer is waiting.
    pub fn new() -> Hub {
        Hub {
            newest: watch::Sender::new(None),
            feeds: Mutex::new(Vec::new()),
            stats: Mutex::new(Arc::from(
                r#"{"type":"interval","role":"view","peer":"waiting"}"#,
            )),
            published: AtomicU64::new(0),
            streams: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            parts: AtomicU64::new(0),
            stalled: AtomicU64::new(0),
        }
    }

    /// Offers a frame of `sender` to every browser. One copy of the bytes, shared by all.
    pub fn publish(&self, sender: &str, seq: u32, jpeg: &[u8]) {
        let n = self.published.fetch_add(1, Ordering::Relaxed) + 1;
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        let i = match feeds.iter().position(|f| &*f.name == sender) {
            Some(i) => i,
            None => {
                if feeds.len() >= MAX_FEEDS {
                    let stalest = (0..feeds.len()).min_by_key(|&i| feeds[i].touched);
                    if let Some(s) = stalest {
                        // Its streams end: their receivers see the slot closed.
                        feeds.swap_remove(s);
                    }
                }
                feeds.push(Feed {
                    name: Arc::from(sender),
                    tx: watch::Sender::new(None),
                    touched: n,
                });
                feeds.len() - 1
            }
        };
        let feed = &mut feeds[i];
        feed.touched = n;
        let shot = Shot {
            sender: feed.name.clone(),
            seq,
            jpeg: Bytes::copy_from_slice(jpeg),
        };
        feed.tx.send_replace(Some(shot.clone()));
        drop(feeds);
        self.newest.send_replace(Some(shot));
    }

    /// A slot to follow: the named sender's, or the newest of any when `sender` is `None`.
    /// `None` when no sender of that name has sent.
    pub fn subscribe(&self, sender: Option<&str>) -> Option<watch::Receiver<Option<Shot>>> {
        match sender {
            None => Some(self.newest.subscribe()),
            Some(name) => {
                let feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
                feeds
                    .iter()
                    .find(|f| &*f.name == name)
                    .map(|f| f.tx.subscribe())
            }
        }
    }

    /// The newest frame, of the named sender or of any.
    pub fn latest(&self, sender: Option<&str>) -> Option<Shot> {
        self.subscribe(sender)?.borrow().clone()
    }

    /// The names of the senders with a slot, most recently updated first.
    pub fn senders(&self) -> Vec<Arc<str>> {
        let feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = feeds.iter().map(|f| (f.touched, f.name.clone())).collect();
        v.sort_by_key(|f| std::cmp::Reverse(f.0));
        v.into_iter().map(|(_, n)| n).collect()
    }

    /// Replaces the statistics that `/stats` serves (one `--stats-json` line).
    pub fn set_stats(&self, json: String) {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner()) = Arc::from(json);
    }

    /// The statistics that `/stats` serves.
    pub fn stats(&self) -> Arc<str> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// What the web view has done so far.
    pub fn counts(&self) -> HttpCounts {
        HttpCounts {
            streams: self.streams.load(Ordering::Relaxed),
            parts: self.parts.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            stalled: self.stalled.load(Ordering::Relaxed),
        }
    }
}

/// The web view's counters (see [`Hub::counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct HttpCounts {
    /// Streams being served now.
    pub streams: usize,
    /// Frames written to streams so far, all clients together.
    pub parts: u64,
    /// Clients refused by the limit.
    pub refused: u64,
    /// Streams closed because their client stopped reading.
    pub stalled: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_wins_per_sender_and_overall() {
        let hub = Hub::new();
        assert!(hub.latest(None).is_none());
        assert!(hub.subscribe(Some("a")).is_none());
        let mut any = hub.subscribe(None).unwrap();
        hub.publish("a", 1, b"one");
        hub.publish("b", 7, b"seven");
        hub.publish("a", 2, b"two");
        let a = hub.latest(Some("a")).unwrap();
        assert_eq!((a.seq, &a.jpeg[..]), (2, &b"two"[..]));
        assert_eq!(hub.latest(Some("b")).unwrap().seq, 7);
        // A follower that was away sees only the newest, once.
        assert!(any.has_changed().unwrap());
        assert_eq!(any.borrow_and_update().as_ref().unwrap().seq, 2);
        assert!(!any.has_changed().unwrap());
        assert_eq!(&*hub.senders()[0], "a");
    }

    #[test]
    fn feeds_are_bounded_and_the_stalest_gives_way() {
        let hub = Hub::new();
        let first = hub.subscribe(None);
        hub.publish("s0", 0, b"x");
        let s0 = hub.subscribe(Some("s0")).unwrap();
        for i in 1..=MAX_FEEDS {
            hub.publish(&format!("s{i}"), 0, b"x");
        }
        assert_eq!(hub.senders().len(), MAX_FEEDS);
        assert!(hub.subscribe(Some("s0")).is_none());
        // The evicted sender's followers see its slot closed and end.
        assert!(s0.has_changed().is_err());
        assert!(first.is_some());
    }
}
