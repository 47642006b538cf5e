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

    /// Queues `frame` of the sender `name` for writing, or counts it as unsaved if the disk
    /// is a queue behind.
    pub fn save(&mut self, frame: &CompleteFrame, name: &Arc<str>) {
        let path = self.dir.join(self.names.name(frame, name));
        if let Some(tx) = &self.tx {
            if tx.try_send((path, frame.data.clone())).is_err() {
                self.skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The sender `old` (its session id) told its name `new`: its files go on under the new
    /// name with the next number, and if it was the first sender, it keeps the short names.
    pub fn rename(&mut self, old: &Arc<str>, new: &Arc<str>) {
        self.names.rename(old, new);
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

/// Senders whose numbering is remembered; more are rare (senders without a name that
/// restart come back under a new one).
const MAX_NAMED_SENDERS: usize = 64;

/// Where a sender's file numbers stand.
struct Count {
    name: Arc<str>,
    session: u32,
    /// The session's first saved `seq`, and the file number it got.
    base: (u32, u32),
    /// The last file number given.
    last: u32,
}

/// How `--save` names files.
#[derive(Default)]
struct Names {
    /// The first sender saved, whose files keep the short names.
    first: Option<Arc<str>>,
    counts: Vec<Count>,
}

impl Names {
    /// See [`Saver::rename`]. A name already counted keeps its own numbers.
    fn rename(&mut self, old: &Arc<str>, new: &Arc<str>) {
        if self.counts.iter().any(|c| c.name == *new) {
            return;
        }
        if self.first.as_ref() == Some(old) {
            self.first = Some(new.clone());
        }
        if let Some(c) = self.counts.iter_mut().find(|c| c.name == *old) {
            c.name = new.clone();
        }
    }

    /// The file name of a frame: `<n>.jpg` for the first sender of the run, and
    /// `<sender>-<n>.jpg` for any other (its name made safe for a file name), so that a
    /// second sender's frames never overwrite the first one's. `n` counts from the sender's
    /// first saved frame, gaps (lost frames) included; a sender that restarts (a new
    /// session, a new random `seq`) goes on after its last number.
    fn name(&mut self, frame: &CompleteFrame, sender: &Arc<str>) -> String {
        let first = self.first.get_or_insert_with(|| sender.clone()).clone();
        let seq = frame.info.seq;
        let i = match self.counts.iter().position(|c| c.name == *sender) {
            Some(i) => i,
            None => {
                if self.counts.len() >= MAX_NAMED_SENDERS {
                    // Keep the first sender's count: its files have the short names.
                    let drop = usize::from(self.counts[0].name == first);
                    self.counts.remove(drop);
                }
                self.counts.push(Count {
                    name: sender.clone(),
                    session: frame.session,
                    base: (seq, 0),
                    last: 0,
                });
                self.counts.len() - 1
            }
        };
        let c = &mut self.counts[i];
        if c.session != frame.session {
            c.session = frame.session;
            c.base = (seq, c.last.wrapping_add(1));
        }
        let n = c.base.1.wrapping_add(seq.wrapping_sub(c.base.0));
        c.last = n;
        if *sender == first {
            format!("{n:08}.jpg")
        } else {
            format!("{}-{n:08}.jpg", crate::app::record::file_safe(sender))
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
        s.save(&frame(7, 0), &Arc::from("00000007"));
        s.save(&frame(9, 0), &Arc::from("00000009"));
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
    fn files_count_from_each_senders_first_frame_across_the_wrap_with_gaps() {
        let mut n = Names::default();
        let (door, yard): (Arc<str>, Arc<str>) = (Arc::from("door"), Arc::from("yard/../x"));
        assert_eq!(n.name(&frame(7, u32::MAX - 1), &door), "00000000.jpg");
        assert_eq!(n.name(&frame(7, u32::MAX), &door), "00000001.jpg");
        assert_eq!(
            n.name(&frame(7, 1), &door),
            "00000003.jpg",
            "seq 0 was lost"
        );
        assert_eq!(n.name(&frame(9, 500), &yard), "yard_.._x-00000000.jpg");
        assert_eq!(n.name(&frame(7, 2), &door), "00000004.jpg");
        // The first sender restarts: a new session and `seq`, the numbers go on.
        assert_eq!(n.name(&frame(8, 90), &door), "00000005.jpg");
        assert_eq!(n.name(&frame(8, 91), &door), "00000006.jpg");
        // Many other senders later, the first one still has its short names.
        for session in 100..300 {
            let name: Arc<str> = Arc::from(format!("{session:08x}"));
            n.name(&frame(session, session * 3), &name);
        }
        assert_eq!(n.name(&frame(8, 92), &door), "00000007.jpg");
        // A sender whose name comes after its first frames: one numbering, under its name.
        let (id, gate): (Arc<str>, Arc<str>) = (Arc::from("0000000c"), Arc::from("gate"));
        assert_eq!(n.name(&frame(12, 5), &id), "0000000c-00000000.jpg");
        n.rename(&id, &gate);
        assert_eq!(n.name(&frame(12, 6), &gate), "gate-00000001.jpg");
        let mut n = Names::default();
        assert_eq!(n.name(&frame(12, 5), &id), "00000000.jpg");
        n.rename(&id, &gate);
        assert_eq!(
            n.name(&frame(12, 6), &gate),
            "00000001.jpg",
            "still the first"
        );
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
            s.save(&frame(1, seq), &Arc::from("a"));
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
