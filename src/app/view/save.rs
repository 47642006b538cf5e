//! `cam-view --save DIR`: every whole frame's bytes to a file, written on a thread of its own
//! so that a slow or failing disk never delays the network thread and its ACKs. A disk that
//! falls a queue behind costs saved frames (counted), never the live view; a write error
//! stops saving with one line and the viewing goes on.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{bounded, Sender as Tx};

use super::Notice;
use crate::protocol::reassembly::CompleteFrame;

/// Frames that may wait for the disk.
const QUEUE: usize = 32;

/// The writer thread's handle.
pub(super) struct Saver {
    dir: PathBuf,
    tx: Option<Tx<(PathBuf, Vec<u8>)>>,
    names: Names,
    skipped: Arc<AtomicU64>,
    writer: Option<thread::JoinHandle<()>>,
}

impl Saver {
    /// Starts the writer for `dir` (which exists); a write error is told through `notices`.
    pub fn start(dir: &Path, notices: Tx<Notice>) -> Saver {
        let (tx, rx) = bounded::<(PathBuf, Vec<u8>)>(QUEUE);
        let skipped = Arc::new(AtomicU64::new(0));
        let writer_skipped = skipped.clone();
        let writer = thread::Builder::new()
            .name("save".into())
            .spawn(move || {
                let mut failed = false;
                for (path, data) in rx {
                    if failed {
                        writer_skipped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    if let Err(e) = std::fs::write(&path, &data) {
                        failed = true;
                        writer_skipped.fetch_add(1, Ordering::Relaxed);
                        let _ = notices.try_send(Notice::Warning(format!(
                            "cannot write {}: {e}; saving stopped, the viewing goes on",
                            path.display()
                        )));
                    }
                }
            })
            .expect("spawning a thread");
        Saver {
            dir: dir.to_owned(),
            tx: Some(tx),
            names: Names::default(),
            skipped,
            writer: Some(writer),
        }
    }

    /// Queues `frame` for writing, or counts it as unsaved if the disk is a queue behind.
    pub fn save(&mut self, frame: &CompleteFrame) {
        let path = self.dir.join(self.names.name(frame));
        if let Some(tx) = &self.tx {
            if tx.try_send((path, frame.data.clone())).is_err() {
                self.skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Frames not written so far.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
}

impl Drop for Saver {
    /// Writes what is queued before the run ends.
    fn drop(&mut self) {
        self.tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// Sessions whose first saved `seq` is remembered; more are rare (each is a sender restart).
const MAX_NAMED_SESSIONS: usize = 64;

/// How `--save` names files.
#[derive(Default)]
struct Names {
    /// The first session saved, whose files keep the short names.
    first: Option<u32>,
    /// Each session's first saved `seq`: sessions start at a random `seq`, and the files of
    /// each count from 0, gaps (lost frames) included.
    starts: Vec<(u32, u32)>,
}

impl Names {
    /// The file name of a frame: `<n>.jpg` for the first sender of the run, and
    /// `<session>-<n>.jpg` for any later one (a restarted sender, tutorial pictures beside
    /// camwire ones), so that a second sender's frames never overwrite the first one's; `n`
    /// is the frame's `seq` counted from the session's first saved frame.
    fn name(&mut self, frame: &CompleteFrame) -> String {
        let first = *self.first.get_or_insert(frame.session);
        let start = match self.starts.iter().find(|(s, _)| *s == frame.session) {
            Some((_, start)) => *start,
            None => {
                if self.starts.len() >= MAX_NAMED_SESSIONS {
                    // Keep the first session's start: its files have the short names.
                    let drop = usize::from(self.starts[0].0 == first);
                    self.starts.remove(drop);
                }
                self.starts.push((frame.session, frame.info.seq));
                frame.info.seq
            }
        };
        let n = frame.info.seq.wrapping_sub(start);
        if frame.session == first {
            format!("{n:08}.jpg")
        } else {
            format!("{:08x}-{n:08}.jpg", frame.session)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{Codec, FrameInfo};

    fn frame(session: u32, seq: u32) -> CompleteFrame {
        CompleteFrame {
            session,
            info: FrameInfo {
                seq,
                count: 1,
                len: 3,
                crc32: 0,
                codec: Codec::Jpeg,
                width: 0,
                height: 0,
                timestamp_us: 0,
            },
            data: vec![1, 2, seq as u8],
            attempt: 0,
            spread: std::time::Duration::ZERO,
        }
    }

    #[test]
    fn frames_are_written_and_a_second_session_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, _rx) = bounded(4);
        let mut s = Saver::start(dir.path(), tx);
        s.save(&frame(7, 0));
        s.save(&frame(9, 0));
        drop(s);
        assert_eq!(
            std::fs::read(dir.path().join("00000000.jpg")).unwrap(),
            [1, 2, 0]
        );
        assert_eq!(
            std::fs::read(dir.path().join("00000009-00000000.jpg")).unwrap(),
            [1, 2, 0]
        );
    }

    #[test]
    fn files_count_from_each_sessions_first_frame_across_the_wrap_with_gaps() {
        let mut n = Names::default();
        assert_eq!(n.name(&frame(7, u32::MAX - 1)), "00000000.jpg");
        assert_eq!(n.name(&frame(7, u32::MAX)), "00000001.jpg");
        assert_eq!(n.name(&frame(7, 1)), "00000003.jpg", "seq 0 was lost");
        assert_eq!(n.name(&frame(9, 500)), "00000009-00000000.jpg");
        assert_eq!(n.name(&frame(7, 2)), "00000004.jpg");
        // Many restarted senders later, the first one still has its short names.
        for session in 100..300 {
            n.name(&frame(session, session * 3));
        }
        assert_eq!(n.name(&frame(7, 3)), "00000005.jpg");
    }

    #[test]
    fn a_write_error_is_one_line_and_saving_stops() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        std::fs::create_dir(&gone).unwrap();
        let (tx, rx) = bounded(4);
        let mut s = Saver::start(&gone, tx);
        std::fs::remove_dir(&gone).unwrap();
        for seq in 0..3 {
            s.save(&frame(1, seq));
        }
        drop(s);
        let warnings: Vec<Notice> = rx.try_iter().collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            matches!(&warnings[0], Notice::Warning(w) if w.contains("saving stopped")),
            "{warnings:?}"
        );
    }
}
