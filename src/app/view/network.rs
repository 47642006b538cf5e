//! The viewer's network thread: the sans-IO [`Receiver`] (and, with `--compat tutorial`, the
//! tutorial's receiver on the same socket) in the shared [`Driver`]. It only reads,
//! reassembles and acknowledges; frames go on to their sender's decoder and the `--save`
//! writer, messages and notices to the owner, each through a queue that never makes this
//! thread wait, so that a slow disk, a slow reader of stdout or one sender's huge pictures
//! never delay an ACK.
//!
//! Senders are known by name (`cam-send --name`), or by their session id in hex until they
//! say one: the name keys their decoder, tile, statistics and saved files.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver as Rx, Sender as Tx};

use super::feeds::Decoders;
use super::save::Saver;
use super::{with_book, Book, Notice, ViewConfig};
use crate::app::messages::{Carrier, MessageRecord};
use crate::app::record::Recorder;
use crate::app::stats::RtpReport;
use crate::app::{AppError, Stop};
use crate::compat::tutorial::{TutorialConfig, TutorialEvent, TutorialReceiver};
use crate::media::source::now_us;
use crate::protocol::link::{is_camwire, MAX_VIEWER_DATAGRAM};
use crate::protocol::reassembly::{CompleteFrame, ReassemblyConfig};
use crate::protocol::receiver::{KeyMismatch, Receiver, ReceiverConfig, ReceiverEvent};
use crate::protocol::wire::{Codec, FrameInfo};
use crate::rtp::receive::{RtpConfig, RtpEvent, RtpReceiver};
use crate::runtime::driver::{Driver, Machine};
use crate::web::Hub;

/// The longest the thread waits without looking at the stop signal.
const MAX_WAIT: Duration = Duration::from_millis(20);

/// Everything that arrives on the viewer's port: camwire's protocol and, in compatibility
/// mode, the tutorial's, told apart datagram by datagram.
pub(super) struct ViewMachine {
    proto: Receiver,
    tutorial: Option<TutorialReceiver>,
    /// `--listen rtp://`: every datagram is RTP/JPEG's.
    rtp: Option<RtpReceiver>,
}

impl Machine for ViewMachine {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if let Some(r) = &mut self.rtp {
            return r.handle_datagram(now, from, bytes);
        }
        match &mut self.tutorial {
            // In compatibility mode whatever is not camwire is the tutorial's.
            Some(t) if !is_camwire(bytes) => t.handle_datagram(now, from, bytes),
            _ => self.proto.handle_datagram(now, from, bytes),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.proto.handle_timeout(now);
        if let Some(r) = &mut self.rtp {
            r.handle_timeout(now);
        }
        if let Some(t) = &mut self.tutorial {
            t.handle_timeout(now);
        }
    }

    fn poll_transmit(
        &mut self,
        _now: Instant,
        buf: &mut [u8],
    ) -> Option<(Option<SocketAddr>, usize)> {
        if let Some((to, n)) = self.proto.poll_transmit(buf) {
            return Some((Some(to), n));
        }
        if let Some((to, b)) = self.rtp.as_mut().and_then(|r| r.poll_transmit()) {
            let n = b.len().min(buf.len());
            buf[..n].copy_from_slice(&b[..n]);
            return Some((Some(to), n));
        }
        let (to, reply) = self.tutorial.as_mut()?.poll_transmit()?;
        buf[..reply.len()].copy_from_slice(reply);
        Some((Some(to), reply.len()))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let tut = self.tutorial.as_ref().and_then(|t| t.poll_timeout());
        let rtp = self.rtp.as_ref().and_then(|r| r.poll_timeout());
        [self.proto.poll_timeout(), tut, rtp]
            .into_iter()
            .flatten()
            .min()
    }
}

/// The one line that tells the user how to make the two ends' keys agree.
pub(crate) fn key_mismatch_advice(kind: KeyMismatch, from: SocketAddr) -> String {
    match kind {
        KeyMismatch::PeerHasKey => format!(
            "a sender at {from} uses a key and this viewer has none: start cam-view with the \
             same --key (or --key-file, or CAMWIRE_KEY)"
        ),
        KeyMismatch::PeerHasNoKey => format!(
            "datagrams without a key arrive from {from} and are dropped: give cam-send the \
             same --key as this viewer"
        ),
        KeyMismatch::DifferentKey => format!(
            "a keyed handshake from {from} failed: its key differs from this viewer's; use \
             the same key on both ends"
        ),
    }
}

/// Where the network thread sends what it receives.
pub(super) struct Outputs {
    /// Whole frames to each sender's decoder (newest wins, per sender).
    pub decoders: Decoders,
    /// Frame buffers the decoders are done with.
    pub frame_back: Rx<Vec<u8>>,
    /// Sender changes, for the owner.
    pub notices: Tx<Notice>,
    /// JSON messages, for the owner; never dropped once acknowledged.
    pub messages: Tx<MessageRecord>,
    /// `--save`, on a thread of its own.
    pub saver: Option<Saver>,
    /// `--record`, on a thread of its own.
    pub recorder: Option<Recorder>,
    /// `--http`: the browsers' newest frames.
    pub web: Option<Arc<Hub>>,
}

/// The network thread's state.
pub(super) struct NetLoop<'a> {
    cfg: &'a ViewConfig,
    driver: Driver<ViewMachine>,
    out: Outputs,
    book: Book,
    delivered: u64,
    tutorial_seq: u32,
    /// Each live session's sender name: its `--name`, or its session id in hex.
    labels: HashMap<u32, Arc<str>>,
}

/// Senders the statistics remember, gone ones included (each about 80 KiB of histograms).
const MAX_SENDER_ENTRIES: usize = 2 * crate::protocol::receiver::MAX_SENDERS;

/// A session's name until it says one.
fn session_label(session: u32) -> Arc<str> {
    Arc::from(format!("{session:08x}"))
}

impl<'a> NetLoop<'a> {
    /// The loop for `cfg` on the bound socket `sock`.
    pub fn new(
        cfg: &'a ViewConfig,
        sock: UdpSocket,
        out: Outputs,
        book: Book,
    ) -> Result<Self, AppError> {
        let rcfg = ReceiverConfig {
            reassembly: ReassemblyConfig {
                max_frame_bytes: cfg.max_frame_bytes,
                ..ReassemblyConfig::default()
            },
            max_senders: cfg.max_senders,
            ..ReceiverConfig::default()
        };
        let mut proto = match &cfg.key {
            Some(k) => Receiver::keyed(rcfg, k),
            None => Receiver::new(rcfg),
        };
        proto.set_only(cfg.only.as_deref());
        let machine = ViewMachine {
            proto,
            tutorial: cfg
                .tutorial
                .map(|_| TutorialReceiver::new(TutorialConfig::default())),
            rtp: cfg.rtp.then(|| {
                let rc = RtpConfig {
                    max_frame_bytes: cfg.max_frame_bytes,
                    ..RtpConfig::default()
                };
                RtpReceiver::new(rc, Instant::now())
            }),
        };
        Ok(NetLoop {
            cfg,
            driver: Driver::new(machine, sock, MAX_VIEWER_DATAGRAM)?,
            out,
            book,
            delivered: 0,
            tutorial_seq: 0,
            labels: HashMap::new(),
        })
    }

    /// Runs until `--frames` is reached or a stop signal fires.
    pub fn run(mut self, stop: &Stop, local_stop: &Stop) -> Result<(), AppError> {
        loop {
            if stop.is_set() || local_stop.is_set() {
                self.say_bye();
                return Ok(());
            }
            let room = self.out.messages.capacity().unwrap_or(usize::MAX) - self.out.messages.len();
            // One batch of datagrams completes at most one message per session.
            self.driver
                .machine_mut()
                .proto
                .set_hold_messages(room < HOLD_MARGIN);
            // ACKs leave inside the turn, the moment a frame is whole: the sender's next
            // frame waits on nothing below.
            self.driver.turn(Instant::now() + MAX_WAIT)?;
            let reached_limit = self.events(stop);
            self.count();
            if reached_limit {
                // No BYE: the sender has had all it was asked for (its summary says
                // "connected"), and it may be finishing a finite stream.
                // Dropping the decoder's queue lets it finish the frames it has, then end.
                return Ok(());
            }
        }
    }

    /// Tells the senders that this viewer is closing, so that they probe for a viewer at once
    /// instead of sending frames to nobody until their peer timeout.
    fn say_bye(&mut self) {
        self.driver.machine_mut().proto.close();
        let _ = self.driver.flush();
    }

    /// Passes on what the receivers made; true once `--frames` is reached.
    fn events(&mut self, stop: &Stop) -> bool {
        while let Ok(b) = self.out.frame_back.try_recv() {
            self.driver.machine_mut().proto.recycle(b);
        }
        let mut reached_limit = false;
        // Collected first: handling an event gives buffers back to the receiver.
        let m = self.driver.machine_mut();
        let mut events: Vec<ReceiverEvent> = std::iter::from_fn(|| m.proto.poll_event()).collect();
        if let Some(t) = &mut m.tutorial {
            while let Some(TutorialEvent::Picture { from, jpeg }) = t.poll_event() {
                let frame = arrived_frame(0, &mut self.tutorial_seq, jpeg);
                events.push(ReceiverEvent::Frame { from, frame });
            }
        }
        if let Some(r) = &mut m.rtp {
            // RTP streams take the places of camwire's sessions: the SSRC is the session.
            while let Some(e) = r.poll_event() {
                events.push(match e {
                    RtpEvent::Started { ssrc, from } => ReceiverEvent::SessionStarted {
                        session: ssrc,
                        from,
                        name: None,
                    },
                    RtpEvent::Ended { ssrc, from, reason } => ReceiverEvent::SessionEnded {
                        session: ssrc,
                        from,
                        reason,
                    },
                    RtpEvent::Frame {
                        ssrc, from, jpeg, ..
                    } => ReceiverEvent::Frame {
                        from,
                        frame: arrived_frame(ssrc, &mut self.tutorial_seq, jpeg),
                    },
                });
            }
        }
        for ev in events {
            match ev {
                // `--frames N` is N frames shown, saved and recorded: the rest of a batch
                // (several senders, or a window of frames in flight) goes unused.
                ReceiverEvent::Frame { frame, .. } if reached_limit => {
                    self.driver.machine_mut().proto.recycle(frame.data)
                }
                ReceiverEvent::Frame { frame, .. } => reached_limit |= self.frame(frame),
                ReceiverEvent::SessionStarted {
                    session,
                    from,
                    name,
                } => {
                    let name = name.unwrap_or_else(|| session_label(session));
                    self.labels.insert(session, name.clone());
                    with_book(&self.book, |b| {
                        b.peer = "connected";
                        let s = b.senders.entry(name.clone()).or_default();
                        s.connected = true;
                        s.session = session;
                    });
                    self.notice(Notice::SenderConnected {
                        session,
                        from,
                        name,
                    });
                }
                ReceiverEvent::SessionNamed {
                    session,
                    from,
                    name,
                } => {
                    // A session not shown (yet) gets no entry: its start will carry the name,
                    // and made-up sessions that only name themselves cost nothing here.
                    let Some(label) = self.labels.get_mut(&session) else {
                        continue;
                    };
                    let old = std::mem::replace(label, name.clone());
                    if old != name {
                        // Its frames so far went under its session id: the tile, decoder and
                        // statistics move to the name.
                        self.out.decoders.retire(&old);
                        if let Some(saver) = &mut self.out.saver {
                            saver.rename(&old, &name);
                        }
                        with_book(&self.book, |b| {
                            if let Some(s) = b.senders.remove(&old) {
                                b.senders.entry(name.clone()).or_insert(s);
                            }
                        });
                        self.notice(Notice::SenderNamed {
                            session,
                            from,
                            old,
                            name,
                        });
                    }
                }
                ReceiverEvent::SessionEnded {
                    session,
                    from,
                    reason,
                } => {
                    let name = self
                        .labels
                        .remove(&session)
                        .unwrap_or_else(|| session_label(session));
                    self.out.decoders.retire(&name);
                    let any = !self.labels.is_empty();
                    with_book(&self.book, |b| {
                        b.peer = if any { "connected" } else { "disconnected" };
                        if let Some(s) = b.senders.get_mut(&name) {
                            s.connected = false;
                        }
                        // Gone senders stay in the statistics, but not without bound: senders
                        // without a name come back from each restart under a new id.
                        if b.senders.len() > MAX_SENDER_ENTRIES {
                            let gone = b.senders.iter().find(|(_, s)| !s.connected);
                            if let Some(k) = gone.map(|(k, _)| k.clone()) {
                                b.senders.remove(&k);
                            }
                        }
                    });
                    self.notice(Notice::SenderDisconnected {
                        session,
                        from,
                        reason,
                        name,
                    });
                }
                ReceiverEvent::SessionRefused {
                    session,
                    from,
                    name,
                } => self.notice(Notice::SenderRefused {
                    session,
                    from,
                    name: name.unwrap_or_else(|| session_label(session)),
                }),
                ReceiverEvent::Message {
                    from,
                    session,
                    seq,
                    json,
                } => {
                    // Validated by the receiver, so this parse cannot fail; re-serialized so
                    // that it prints as one line.
                    if let Ok(message) = serde_json::from_slice(&json) {
                        let sender = self
                            .driver
                            .machine_mut()
                            .proto
                            .session_name(session)
                            .cloned();
                        let m = MessageRecord {
                            from,
                            session: Some(session),
                            sender,
                            seq: seq as u64,
                            via: Carrier::Camwire,
                            message,
                        };
                        hand_over(&self.out.messages, m, stop);
                    }
                }
                ReceiverEvent::SessionIgnored { session, from } => {
                    let name = self
                        .driver
                        .machine_mut()
                        .proto
                        .session_name(session)
                        .cloned()
                        .unwrap_or_else(|| session_label(session));
                    self.notice(Notice::SenderIgnored {
                        session,
                        from,
                        name,
                    });
                }
                ReceiverEvent::OtherVersion { from, version } => {
                    self.notice(Notice::Warning(format!(
                        "a sender at {from} speaks camwire protocol version {version} and this \
                         viewer speaks {}: run the same camwire version on both machines",
                        crate::protocol::wire::VERSION
                    )));
                }
                ReceiverEvent::KeyMismatch { from, kind } => {
                    self.notice(Notice::Warning(key_mismatch_advice(kind, from)));
                }
            }
        }
        reached_limit
    }

    /// Tells the owner, unless its queue is full (notices are for people: never worth a
    /// late ACK).
    fn notice(&self, n: Notice) {
        let _ = self.out.notices.try_send(n);
    }

    /// A whole frame: to `--save`, `--record`, the statistics and the decoder. True once `--frames` is
    /// reached.
    fn frame(&mut self, frame: CompleteFrame) -> bool {
        let now = Instant::now();
        let name = self
            .labels
            .entry(frame.session)
            .or_insert_with(|| session_label(frame.session))
            .clone();
        if let Some(saver) = &mut self.out.saver {
            saver.save(&frame, &name);
        }
        if let Some(r) = &self.out.recorder {
            let (w, h) = (frame.info.width.into(), frame.info.height.into());
            r.push(&name, &frame.data, frame.info.timestamp_us, w, h);
        }
        if let Some(web) = &self.out.web {
            web.publish(&name, frame.info.seq, &frame.data);
        }
        self.delivered += 1;
        with_book(&self.book, |b| {
            if b.sender.as_ref() != Some(&name) {
                b.sender = Some(name.clone());
            }
            let s = b.senders.entry(name.clone()).or_default();
            s.connected = true;
            s.delivered(frame.session, frame.info.seq);
            b.first_frame.get_or_insert(now);
            b.last_frame = Some(now);
            b.counts.bytes += frame.data.len() as u64;
            if frame.info.width > 0 && frame.info.height > 0 {
                b.size = Some((frame.info.width as u32, frame.info.height as u32));
            }
        });
        if let Some(old) = self.out.decoders.send(&name, frame) {
            with_book(&self.book, |b| {
                b.counts.skipped_frames += 1;
                if let Some(s) = b.senders.get_mut(&name) {
                    s.dropped += 1;
                }
            });
            self.driver.machine_mut().proto.recycle(old.data);
        }
        self.cfg.frames.is_some_and(|n| self.delivered >= n)
    }

    /// Copies the receivers' counters into the statistics.
    fn count(&mut self) {
        let overflow = self.driver.overflow();
        let m = self.driver.machine_mut();
        let tut = m.tutorial.as_ref().map(|t| *t.stats()).unwrap_or_default();
        let rtp = m.rtp.as_ref().map(|r| r.stats());
        let st = m.proto.stats();
        let held = st.held_messages;
        let saver = self.out.saver.as_ref().map(|s| s.skipped()).unwrap_or(0);
        let unrecorded = self.out.recorder.as_ref().map_or(0, |r| r.unrecorded());
        with_book(&self.book, |b| {
            b.counts.frames = self.delivered;
            let rtp_counts = rtp.unwrap_or_default();
            b.counts.dropped_frames =
                st.reassembly.incomplete_dropped + tut.lost + rtp_counts.dropped_frames;
            b.counts.crc_failures = st.reassembly.crc_failures;
            b.counts.rejected_datagrams = st.rejected_total() + tut.junk + rtp_counts.rejected;
            b.counts.retransmitted_chunks = st.retransmitted_chunks;
            b.counts.nacks = st.nacks + rtp_counts.nacks;
            b.counts.ignored_datagrams = st.ignored_datagrams + rtp_counts.ignored;
            b.rtp = rtp.map(|r| RtpReport {
                packets: r.packets,
                lost_packets: r.lost_packets,
                jitter_ms: r.jitter_us as f64 / 1000.0,
            });
            b.counts.deferred_datagrams = held + overflow;
            b.counts.messages = st.messages;
            b.counts.messages_refused = st.messages_refused;
            b.counts.unsaved_frames = saver;
            b.counts.refused_senders = st.refused_senders;
            b.counts.unrecorded_frames = unrecorded;
            if b.rejected_by_kind != st.rejected {
                b.rejected_by_kind = st.rejected.clone();
            }
        });
    }
}

/// Free places in the owner's message queue below which message datagrams are held back:
/// one batch of datagrams completes at most one message per session, and the receiver keeps
/// at most this many sessions.
const HOLD_MARGIN: usize = crate::protocol::receiver::MAX_SENDERS + 16;

/// Hands a message record to the owner. Never drops one that its sender was told was
/// delivered: with [`HOLD_MARGIN`] places kept free this does not wait, but if it must, it
/// waits rather than lose the message.
pub(crate) fn hand_over(messages: &Tx<MessageRecord>, mut m: MessageRecord, stop: &Stop) {
    loop {
        match messages.send_timeout(m, Duration::from_millis(50)) {
            Ok(()) => return,
            Err(crossbeam_channel::SendTimeoutError::Timeout(back)) if !stop.is_set() => m = back,
            Err(_) => return,
        }
    }
}

/// A tutorial or RTP picture as a frame of the pipeline: numbered per run, stamped on
/// arrival (neither carries camwire's capture time), size read by the decoder.
fn arrived_frame(session: u32, seq: &mut u32, jpeg: Vec<u8>) -> CompleteFrame {
    let info = FrameInfo {
        seq: *seq,
        count: 1,
        len: jpeg.len() as u32,
        crc32: 0,
        codec: Codec::Jpeg,
        width: 0,
        height: 0,
        timestamp_us: now_us(),
    };
    *seq = seq.wrapping_add(1);
    CompleteFrame {
        session,
        info,
        data: jpeg,
        attempt: 0,
        spread: std::time::Duration::ZERO,
    }
}
