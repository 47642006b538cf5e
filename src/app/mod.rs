//! The programs' runtime: threads, sockets, the window and the stop signal around the sans-IO
//! protocol. `cam-send` and `cam-view` are thin command-line front ends over [`send`] and
//! [`view`]; a Rust program can call them the same way.

pub mod cli;
pub mod messages;
pub mod record;
pub mod send;
pub mod stats;
pub mod tiles;
pub mod view;
pub mod window;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{bounded, Receiver, Sender};

/// A stop signal shared by every thread of a pipeline: a flag to poll, and a channel that
/// disconnects when triggered, so that a thread blocked in `select!` wakes at once.
#[derive(Clone)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    tx: Arc<Mutex<Option<Sender<()>>>>,
    rx: Receiver<()>,
}

impl Default for Stop {
    fn default() -> Self {
        Self::new()
    }
}

impl Stop {
    /// A signal that has not fired.
    pub fn new() -> Self {
        let (tx, rx) = bounded(0);
        Stop {
            flag: Arc::new(AtomicBool::new(false)),
            tx: Arc::new(Mutex::new(Some(tx))),
            rx,
        }
    }

    /// Fires the signal (idempotent).
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
    }

    /// True once fired.
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// A channel that becomes ready (disconnected) when the signal fires; for `select!`.
    pub fn channel(&self) -> &Receiver<()> {
        &self.rx
    }

    /// Fires this signal on Ctrl-C (and SIGTERM). Only one handler can exist per process.
    pub fn on_ctrl_c(&self) {
        let me = self.clone();
        let _ = ctrlc::set_handler(move || me.trigger());
    }
}

/// Why a pipeline stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Socket set-up failed.
    #[error(transparent)]
    Net(#[from] crate::runtime::net::NetError),
    /// The source failed.
    #[error(transparent)]
    Source(#[from] crate::media::source::SourceError),
    /// A frame could not be encoded.
    #[error(transparent)]
    Codec(#[from] crate::media::codec::CodecError),
    /// The window could not be opened.
    #[error("{0}")]
    Display(String),
    /// A key was given for the tutorial's protocol, which cannot carry one.
    #[error(
        "--compat tutorial cannot carry a key: the tutorial's protocol has no way to \
         authenticate or encrypt anything. Leave out --key, --key-file and CAMWIRE_KEY to \
         talk to tutorial peers, or use camwire's own protocol with the key"
    )]
    TutorialKey,
    /// Nothing acknowledged the frame(s) or message(s).
    #[error("{reason}")]
    NoAck {
        /// What went unanswered, and what to check.
        reason: String,
        /// The statistics of the run up to then, for a summary that is printed anyway.
        summary: Option<Box<crate::app::stats::Report>>,
    },
    /// Writing a received frame failed.
    #[error("cannot write {path}: {source}")]
    Save {
        /// The file.
        path: std::path::PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A socket failed mid-stream.
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
    /// A configuration that cannot work.
    #[error("{0}")]
    Config(String),
    /// The web view (`--http`) could not start.
    #[error(transparent)]
    Web(#[from] crate::web::WebError),
    /// `--record` cannot write where it was asked to.
    #[error(transparent)]
    Record(#[from] record::RecordError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_wakes_select() {
        let s = Stop::new();
        let s2 = s.clone();
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(0);
        let t = std::thread::spawn(move || {
            // Not set yet: the select below must be woken by the trigger, not find it set.
            assert!(!s2.is_set());
            ready_tx.send(()).unwrap();
            crossbeam_channel::select! {
                recv(s2.channel()) -> _ => true,
                default(std::time::Duration::from_secs(10)) => false,
            }
        });
        // The thread is at its select (or about to be): either way the select must return
        // on the trigger, not after its 10 s default.
        ready_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        s.trigger();
        assert!(t.join().unwrap());
        assert!(s.is_set());
    }
}
