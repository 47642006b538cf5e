//! `--record PATH`: every frame, byte for byte, into one Matroska file per sender, written on
//! a thread of its own.
//!
//! The caller is a network thread whose ACKs must never wait, so [`Recorder::push`] never
//! blocks: a frame goes into a bounded queue, or is counted as unrecorded when the disk is a
//! queue behind. The writer thread turns frames into [`crate::media::mkv`] files and makes
//! the file durable at least once a second: it flushes its buffer and calls
//! `File::sync_data` when a cluster closes and on a 1 s timer while anything is unsynced. A
//! file cut by `kill -9` or a power cut therefore plays up to its last sync. Any write error
//! (a full disk) is one line through the warning callback and ends that sender's recording;
//! the stream goes on.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender as Tx};

use crate::media::codec::Decoder;
use crate::media::mkv::{Header, MkvError, MkvWriter};

/// Frames that may wait for the disk: about a second of a 30 fps stream.
const QUEUE: usize = 32;

/// The longest unsynced data may wait in the writer's buffer or the page cache.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// A sender silent this long has its file closed; frames after that start a new file.
const IDLE_CLOSE: Duration = Duration::from_secs(30);

/// Files kept open at once; the longest idle one is closed to make room.
const MAX_OPEN: usize = 64;

/// The writer's buffer: large enough that a 30 fps 720p stream is a few writes a second.
const BUFFER: usize = 256 << 10;

/// Where recordings go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordTarget {
    /// A folder: each sender gets `<sender>-<YYYYmmdd-HHMMSS>.mkv` (UTC) in it.
    Folder(PathBuf),
    /// A file ending in `.mkv`: the first sender's recording. Any other sender gets
    /// `<stem>-<sender>.mkv` beside it, so that nothing this run wrote is overwritten.
    File(PathBuf),
}

/// Why recording cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The path cannot be a recording's place.
    #[error("cannot record to {path}: {reason}")]
    Path {
        /// The path given.
        path: PathBuf,
        /// What is wrong, and what to do.
        reason: String,
    },
    /// The folder cannot be made or written to.
    #[error("cannot record to {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

impl RecordTarget {
    /// What `--record PATH` means: a path ending in `.mkv` (and not an existing folder) is
    /// the file; anything else is a folder, made if it does not exist. The folder that holds
    /// the file, or that the folder goes into, must exist.
    pub fn parse(path: &Path) -> Result<RecordTarget, RecordError> {
        let bad = |reason: String| RecordError::Path {
            path: path.to_owned(),
            reason,
        };
        if path.as_os_str().is_empty() {
            return Err(bad("the path is empty".into()));
        }
        if path.is_dir() {
            return Ok(RecordTarget::Folder(path.to_owned()));
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !parent.is_dir() {
            return Err(bad(format!(
                "the folder {} does not exist (make it first)",
                parent.display()
            )));
        }
        let is_mkv = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("mkv"));
        if is_mkv {
            return Ok(RecordTarget::File(path.to_owned()));
        }
        if path.exists() {
            return Err(bad(
                "it is a file and not a folder: give a folder, or a file name ending in .mkv"
                    .into(),
            ));
        }
        Ok(RecordTarget::Folder(path.to_owned()))
    }

    /// Makes the folder if needed and proves that it takes a file, so that a place that
    /// cannot be written is refused at start rather than on the first frame.
    pub fn prepare(&self) -> Result<(), RecordError> {
        let dir = match self {
            RecordTarget::Folder(d) => d.clone(),
            RecordTarget::File(f) => match f.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
                _ => PathBuf::from("."),
            },
        };
        let io = |source| RecordError::Io {
            path: dir.clone(),
            source,
        };
        if let RecordTarget::Folder(d) = self {
            std::fs::create_dir_all(d).map_err(io)?;
        }
        let probe = dir.join(format!(".camwire-record-test-{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(io)?;
        let _ = std::fs::remove_file(&probe);
        Ok(())
    }

    /// The place that holds the recordings (for messages).
    pub fn path(&self) -> &Path {
        match self {
            RecordTarget::Folder(p) | RecordTarget::File(p) => p,
        }
    }
}

/// How the recorder tells the user that a recording stopped: one line each time.
pub type Warn = Box<dyn Fn(String) + Send>;

/// One frame for the writer.
struct Job {
    sender: Box<str>,
    jpeg: Vec<u8>,
    capture_us: u64,
    width: u32,
    height: u32,
}

/// The recording thread's handle. Dropping it writes what is queued, syncs every file and
/// waits for the thread.
pub struct Recorder {
    tx: Option<Tx<Job>>,
    unrecorded: Arc<AtomicU64>,
    writer: Option<thread::JoinHandle<()>>,
}

impl Recorder {
    /// Prepares `target` (see [`RecordTarget::prepare`]) and starts the writer thread.
    /// A recording that stops (a write error) is told through `warn`, once per file.
    pub fn start(target: RecordTarget, warn: Warn) -> Result<Recorder, RecordError> {
        target.prepare()?;
        let (tx, rx) = bounded::<Job>(QUEUE);
        let unrecorded = Arc::new(AtomicU64::new(0));
        let mut files = Files {
            target,
            warn,
            unrecorded: unrecorded.clone(),
            open: Vec::new(),
            used: HashSet::new(),
            first: None,
        };
        let writer = thread::Builder::new()
            .name("record".into())
            .spawn(move || {
                loop {
                    let wait = files
                        .next_deadline()
                        .map_or(SYNC_EVERY, |d| d.saturating_duration_since(Instant::now()));
                    match rx.recv_timeout(wait) {
                        Ok(job) => files.write(job),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    files.tick(Instant::now());
                }
                files.close_all();
            })
            .map_err(|source| RecordError::Io {
                path: PathBuf::from("(thread)"),
                source,
            })?;
        Ok(Recorder {
            tx: Some(tx),
            unrecorded,
            writer: Some(writer),
        })
    }

    /// Queues a JPEG from `sender` captured at `capture_us` (microseconds since the Unix
    /// epoch) for its file. `width` and `height` are the picture's size, or 0 when not known
    /// (read from the JPEG then). Never blocks: when the disk is a queue behind, the frame is
    /// counted in [`Recorder::unrecorded`].
    pub fn push(&self, sender: &str, jpeg: &[u8], capture_us: u64, width: u32, height: u32) {
        let Some(tx) = &self.tx else { return };
        // No copy of a frame that has no room anyway.
        let sent = !tx.is_full()
            && tx
                .try_send(Job {
                    sender: sender.into(),
                    jpeg: jpeg.to_vec(),
                    capture_us,
                    width,
                    height,
                })
                .is_ok();
        if !sent {
            self.unrecorded.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Frames not recorded so far: the disk was behind, a recording stopped on an error, or
    /// a frame's size could not be read.
    pub fn unrecorded(&self) -> u64 {
        self.unrecorded.load(Ordering::Relaxed)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// One sender's recording.
struct Open {
    sender: Box<str>,
    state: State,
    last_frame: Instant,
}

enum State {
    Writing(Box<Writing>),
    /// Stopped on an error (said once): this sender's frames are counted, not written.
    Stopped,
}

struct Writing {
    path: PathBuf,
    mkv: MkvWriter<BufWriter<File>>,
    width: u32,
    height: u32,
    /// Bytes were written since the last sync.
    dirty: bool,
    synced: Instant,
}

impl Writing {
    /// Flushes the buffer and asks the OS to put the data on the disk.
    fn sync(&mut self, now: Instant) -> std::io::Result<()> {
        self.mkv.get_mut().flush()?;
        match self.mkv.get_ref().get_ref().sync_data() {
            // A file that cannot be synced (a pipe, a device) is as durable as it gets.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {}
            r => r?,
        }
        self.dirty = false;
        self.synced = now;
        Ok(())
    }
}

/// The writer thread's state.
struct Files {
    target: RecordTarget,
    warn: Warn,
    unrecorded: Arc<AtomicU64>,
    open: Vec<Open>,
    /// Files this run made, never written over.
    used: HashSet<PathBuf>,
    /// The sender whose file is `--record FILE.mkv` itself.
    first: Option<Box<str>>,
}

impl Files {
    fn write(&mut self, job: Job) {
        let now = Instant::now();
        // RTP and tutorial frames come without a size: read from the JPEG's header (a few
        // microseconds), so that a new size is noticed for them too.
        let size = match (job.width, job.height) {
            (0, _) | (_, 0) => Decoder::dimensions(&job.jpeg).map_err(|e| e.to_string()),
            s => Ok(s),
        };
        let idx = match self.open.iter().position(|o| *o.sender == *job.sender) {
            Some(i) => i,
            None => {
                if self.open.len() >= MAX_OPEN {
                    if let Some(i) = (0..self.open.len()).min_by_key(|&i| self.open[i].last_frame) {
                        let o = self.open.swap_remove(i);
                        self.close(o);
                    }
                }
                self.open.push(Open {
                    sender: job.sender.clone(),
                    state: State::Stopped,
                    last_frame: now,
                });
                let i = self.open.len() - 1;
                self.open[i].state = self.begin(&job, &size, now);
                i
            }
        };
        self.open[idx].last_frame = now;
        // A new size needs a new file: the track's size is fixed in the header.
        let resized = match &self.open[idx].state {
            State::Writing(w) => size.as_ref().is_ok_and(|&s| s != (w.width, w.height)),
            State::Stopped => false,
        };
        if resized {
            let old = std::mem::replace(&mut self.open[idx].state, State::Stopped);
            if let State::Writing(w) = old {
                self.finish(*w);
            }
            self.open[idx].state = self.begin(&job, &size, now);
        }
        let result = match &mut self.open[idx].state {
            State::Writing(w) => match w.mkv.write_frame(&job.jpeg, job.capture_us) {
                Ok(written) => {
                    w.dirty = true;
                    if written.new_cluster || now.duration_since(w.synced) >= SYNC_EVERY {
                        w.sync(now).map_err(MkvError::Io)
                    } else {
                        Ok(())
                    }
                }
                Err(e) => Err(e),
            },
            State::Stopped => {
                self.unrecorded.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        if let Err(e) = result {
            self.unrecorded.fetch_add(1, Ordering::Relaxed);
            let old = std::mem::replace(&mut self.open[idx].state, State::Stopped);
            if let State::Writing(w) = old {
                (self.warn)(stopped(&w.path, &e.to_string()));
            }
        }
    }

    /// Opens a file for `job`'s sender and writes its header; on failure says so once and
    /// returns `Stopped`.
    fn begin(&mut self, job: &Job, size: &Result<(u32, u32), String>, now: Instant) -> State {
        let (width, height) = match size {
            Ok(s) => *s,
            Err(e) => {
                (self.warn)(format!(
                    "not recording {}: its frame is not a JPEG whose size can be read ({e})",
                    job.sender
                ));
                return State::Stopped;
            }
        };
        let (path, exclusive) = self.file_name(&job.sender);
        let opened = OpenOptions::new()
            .write(true)
            .create(true)
            .create_new(exclusive)
            .truncate(!exclusive)
            .open(&path);
        self.used.insert(path.clone());
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                (self.warn)(stopped(&path, &e.to_string()));
                return State::Stopped;
            }
        };
        let header = Header {
            title: Some(job.sender.to_string()),
            date_unix_us: Some(job.capture_us),
            ..Header::new(width, height)
        };
        match MkvWriter::new(BufWriter::with_capacity(BUFFER, file), &header) {
            Ok(mkv) => State::Writing(Box::new(Writing {
                path,
                mkv,
                width,
                height,
                dirty: true,
                // The first frame's write syncs: a new cluster.
                synced: now,
            })),
            Err(e) => {
                (self.warn)(stopped(&path, &e.to_string()));
                State::Stopped
            }
        }
    }

    /// The next file's name for `sender`, and whether it must be new (`create_new`): only
    /// `--record FILE.mkv` itself, named by the user, may replace a file from before the run.
    fn file_name(&mut self, sender: &str) -> (PathBuf, bool) {
        let safe = file_safe(sender);
        let base = match &self.target {
            RecordTarget::Folder(dir) => {
                dir.join(format!("{safe}-{}.mkv", utc_stamp(SystemTime::now())))
            }
            RecordTarget::File(f) => {
                let first = self.first.get_or_insert_with(|| sender.into());
                if **first == *sender && !self.used.contains(f) {
                    return (f.clone(), false);
                }
                if **first == *sender {
                    f.clone()
                } else {
                    let stem = f.file_stem().unwrap_or_default().to_string_lossy();
                    f.with_file_name(format!("{stem}-{safe}.mkv"))
                }
            }
        };
        (self.unique(base), true)
    }

    /// `base`, or `base` with `-2`, `-3`, ... before `.mkv`: a name neither this run nor
    /// anything before it used.
    fn unique(&self, base: PathBuf) -> PathBuf {
        let free = |p: &Path| !self.used.contains(p) && !p.exists();
        if free(&base) {
            return base;
        }
        let stem = base.file_stem().unwrap_or_default().to_string_lossy();
        (2..10_000)
            .map(|n| base.with_file_name(format!("{stem}-{n}.mkv")))
            .find(|p| free(p))
            // Ten thousand files of one sender in one second: `create_new` refuses the last.
            .unwrap_or(base)
    }

    /// When something is next due: a sync of unsynced data, or closing an idle file.
    fn next_deadline(&self) -> Option<Instant> {
        self.open
            .iter()
            .map(|o| match &o.state {
                State::Writing(w) if w.dirty => {
                    (w.synced + SYNC_EVERY).min(o.last_frame + IDLE_CLOSE)
                }
                _ => o.last_frame + IDLE_CLOSE,
            })
            .min()
    }

    /// Syncs what has waited a second, and closes the files of senders gone silent.
    fn tick(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.open.len() {
            if now.duration_since(self.open[i].last_frame) >= IDLE_CLOSE {
                let o = self.open.swap_remove(i);
                self.close(o);
                continue;
            }
            let o = &mut self.open[i];
            if let State::Writing(w) = &mut o.state {
                if w.dirty && now.duration_since(w.synced) >= SYNC_EVERY {
                    if let Err(e) = w.sync(now) {
                        (self.warn)(stopped(&w.path, &e.to_string()));
                        o.state = State::Stopped;
                    }
                }
            }
            i += 1;
        }
    }

    fn close(&mut self, o: Open) {
        if let State::Writing(w) = o.state {
            self.finish(*w);
        }
    }

    /// Syncs a file for the last time; nothing else is needed to finish a live Matroska file.
    fn finish(&mut self, mut w: Writing) {
        if let Err(e) = w.sync(Instant::now()) {
            (self.warn)(stopped(&w.path, &e.to_string()));
        }
    }

    fn close_all(&mut self) {
        for o in std::mem::take(&mut self.open) {
            self.close(o);
        }
    }
}

/// The one line said when a recording stops.
fn stopped(path: &Path, why: &str) -> String {
    format!(
        "recording to {} stopped: {why}; the stream goes on unrecorded",
        path.display()
    )
}

/// A sender's name as a file name: letters, digits, `-`, `_` and `.` are kept, anything else
/// (a `/`, spaces, control characters) becomes `_`; no leading dot, at most 64 characters.
pub fn file_safe(sender: &str) -> String {
    let s: String = sender
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let s = s.trim_start_matches('.');
    if s.is_empty() {
        "sender".into()
    } else {
        s.into()
    }
}

/// `YYYYmmdd-HHMMSS` in UTC: the same on every machine, and sorted by time when sorted by name.
fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    // Howard Hinnant's days-to-civil: the proleptic Gregorian calendar, no table.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::mkv::tests::walk;
    use std::sync::Mutex;

    fn jpeg(w: u32, h: u32, shade: u8) -> Vec<u8> {
        let rgb = vec![shade; (w * h * 3) as usize];
        let mut out = Vec::new();
        crate::media::codec::encode_rgb(&rgb, w, h, 80, &mut out).unwrap();
        out
    }

    fn warnings() -> (Warn, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        (Box::new(move |w| s.lock().unwrap().push(w)), seen)
    }

    fn mkvs(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "mkv"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn utc_stamps() {
        let at = |s: u64| utc_stamp(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "19700101-000000");
        assert_eq!(at(951_782_400), "20000229-000000");
        assert_eq!(at(1_709_251_199), "20240229-235959");
        assert_eq!(at(4_102_444_800), "21000101-000000");
    }

    #[test]
    fn sender_names_become_safe_file_names() {
        assert_eq!(file_safe("0badf00d"), "0badf00d");
        assert_eq!(file_safe("garden cam/2"), "garden_cam_2");
        assert_eq!(file_safe("../../etc"), "_.._etc");
        assert_eq!(file_safe("..."), "sender");
        assert_eq!(file_safe(""), "sender");
        assert_eq!(file_safe("é\n"), "__");
        assert_eq!(file_safe(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn targets_are_parsed_with_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(
            RecordTarget::parse(d).unwrap(),
            RecordTarget::Folder(d.to_owned())
        );
        let f = d.join("out.MKV");
        assert_eq!(RecordTarget::parse(&f).unwrap(), RecordTarget::File(f));
        let new = d.join("recordings");
        assert_eq!(
            RecordTarget::parse(&new).unwrap(),
            RecordTarget::Folder(new)
        );
        let e = RecordTarget::parse(&d.join("missing/out.mkv")).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        let e = RecordTarget::parse(&d.join("missing/sub")).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        std::fs::write(d.join("notes.txt"), b"").unwrap();
        let e = RecordTarget::parse(&d.join("notes.txt")).unwrap_err();
        assert!(e.to_string().contains("ending in .mkv"), "{e}");
        // A folder is made by prepare.
        let t = RecordTarget::parse(&d.join("made")).unwrap();
        t.prepare().unwrap();
        assert!(d.join("made").is_dir());
    }

    #[test]
    fn one_file_per_sender_and_a_new_file_when_the_size_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (warn, seen) = warnings();
        let r = Recorder::start(RecordTarget::Folder(dir.path().into()), warn).unwrap();
        let (a, b) = (jpeg(32, 16, 10), jpeg(16, 16, 200));
        let t0 = 1_700_000_000_000_000;
        for i in 0..5u64 {
            r.push("cam/a", &a, t0 + i * 40_000, 32, 16);
            // The size read from the JPEG when not given (RTP frames).
            r.push("b", &b, t0 + i * 40_000, 0, 0);
        }
        let big = jpeg(48, 16, 10);
        r.push("cam/a", &big, t0 + 400_000, 48, 16);
        // Without a size given, a new size is read from the JPEG and gets a new file too.
        r.push("b", &a, t0 + 400_000, 0, 0);
        drop(r);
        assert!(seen.lock().unwrap().is_empty(), "{:?}", seen.lock());
        let files = mkvs(dir.path());
        assert_eq!(files.len(), 4, "{files:?}");
        let name = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
        // Each sender's files, smallest picture first: `<sender>-YYYYmmdd-HHMMSS.mkv`, and
        // the second one ends in `-2` if it started within the same second.
        let of = |prefix: &str| {
            let mut v: Vec<_> = files
                .iter()
                .filter(|p| name(p).starts_with(prefix))
                .map(|p| (name(p), walk(&std::fs::read(p).unwrap())))
                .collect();
            v.sort_by_key(|(_, w)| w.width);
            v
        };
        let (a_files, b_files) = (of("cam_a-"), of("b-"));
        assert_eq!((a_files.len(), b_files.len()), (2, 2), "{files:?}");
        assert_eq!(b_files[0].0.len(), "b-20240229-235959.mkv".len());
        let b1 = &b_files[0].1;
        assert_eq!(b1.frames.len(), 5);
        assert_eq!((b1.width, b1.height), (Some(16), Some(16)));
        assert_eq!(b1.title.as_deref(), Some(&b"b"[..]));
        let b2 = &b_files[1].1;
        assert_eq!(
            (b2.width, b2.height, b2.frames.len()),
            (Some(32), Some(16), 1)
        );
        let (a1, a2) = (&a_files[0].1, &a_files[1].1);
        assert_eq!(a1.frames.len(), 5);
        assert_eq!(a1.width, Some(32));
        assert!(a1.frames.iter().all(|f| f.data == a));
        let ts: Vec<i64> = a1.frames.iter().map(|f| f.ts_ms).collect();
        assert_eq!(ts, [0, 40, 80, 120, 160]);
        assert_eq!(a2.frames.len(), 1);
        assert_eq!((a2.width, a2.height), (Some(48), Some(16)));
    }

    #[test]
    fn a_named_file_is_the_first_senders_and_others_go_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.mkv");
        // The file named by the user may be replaced; nothing else is.
        std::fs::write(&path, b"old").unwrap();
        std::fs::write(dir.path().join("rec-two.mkv"), b"keep").unwrap();
        let (warn, seen) = warnings();
        let r = Recorder::start(RecordTarget::File(path.clone()), warn).unwrap();
        let j = jpeg(16, 16, 0);
        r.push("one", &j, 1, 16, 16);
        r.push("two", &j, 1, 16, 16);
        r.push("one", &j, 40_001, 16, 16);
        drop(r);
        assert!(seen.lock().unwrap().is_empty());
        assert_eq!(walk(&std::fs::read(&path).unwrap()).frames.len(), 2);
        assert_eq!(
            std::fs::read(dir.path().join("rec-two.mkv")).unwrap(),
            b"keep"
        );
        let two = walk(&std::fs::read(dir.path().join("rec-two-2.mkv")).unwrap());
        assert_eq!(two.frames.len(), 1);
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("burst.mkv");
        let (warn, seen) = warnings();
        let r = Recorder::start(RecordTarget::File(path.clone()), warn).unwrap();
        let j = jpeg(256, 256, 90);
        let started = Instant::now();
        for i in 0..2000u64 {
            r.push("s", &j, i * 1000, 256, 256);
        }
        // Never waiting on the disk, a push is a copy and a try_send.
        assert!(started.elapsed() < Duration::from_secs(5));
        let dropped = r.unrecorded();
        drop(r);
        assert!(seen.lock().unwrap().is_empty());
        let written = walk(&std::fs::read(&path).unwrap()).frames.len() as u64;
        assert_eq!(
            written + dropped,
            2000,
            "{written} written, {dropped} dropped"
        );
    }

    #[test]
    fn unsynced_data_reaches_the_file_within_a_second_of_idle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idle.mkv");
        let (warn, _) = warnings();
        let r = Recorder::start(RecordTarget::File(path.clone()), warn).unwrap();
        let j = jpeg(16, 16, 0);
        // Two frames in one cluster: the second is only in the buffer until the timer.
        r.push("s", &j, 1_000_000, 16, 16);
        r.push("s", &j, 1_040_000, 16, 16);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let n = std::fs::read(&path)
                .map(|b| walk(&b).frames.len())
                .unwrap_or(0);
            if n == 2 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{n} frames in the file after 10 s"
            );
            thread::sleep(Duration::from_millis(50));
        }
        drop(r);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_write_error_is_one_line_and_only_that_sender_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("full.mkv");
        // Every write to /dev/full fails with "No space left on device".
        std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        let (warn, seen) = warnings();
        let r = Recorder::start(RecordTarget::File(path.clone()), warn).unwrap();
        let j = jpeg(64, 64, 0);
        for i in 0..40u64 {
            r.push("full", &j, i * 40_000, 64, 64);
            r.push("fine", &j, i * 40_000, 64, 64);
            thread::sleep(Duration::from_millis(5));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.lock().unwrap().is_empty() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        drop(r);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(seen[0].contains("full.mkv stopped"), "{seen:?}");
        assert!(seen[0].contains("No space left"), "{seen:?}");
        let fine = walk(&std::fs::read(dir.path().join("full-fine.mkv")).unwrap());
        assert_eq!(fine.frames.len(), 40);
    }
}
