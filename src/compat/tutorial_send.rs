//! `cam-send --compat tutorial`: the classic tutorial's client, made safe, for its original
//! server (or `cam-view --compat tutorial`).
//!
//! Each picture goes as an 8-byte little-endian length (what `struct.pack('l', n)` gives on
//! 64-bit Linux and macOS) and 1024-byte chunks, then the sender waits for `get message!!!`.
//! Unlike the original client, the wait is bounded ([`REPLY_TIMEOUT`]): a picture whose answer
//! never comes counts as lost and the next one goes. The chunks leave through the same pacer as
//! camwire's, so an original server with its default receive buffer is not overrun by one
//! burst. Messages are single JSON datagrams to the JSON port, answered `get the msg`. The
//! format has no sequence numbers, so a late answer cannot be told from a fresh one.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::app::send::{encode, frame_budget, SendConfig, SendOutcome, SendUpdate};
use crate::app::stats::{Role, StatsBook};
use crate::app::{AppError, Stop};
use crate::compat::tutorial::{self, REPLY_JSON, REPLY_PICTURE};
use crate::media::source::{Source, Ticker};
use crate::protocol::message::{MessageError, MessageOutcome, MAX_MESSAGE_LEN};
use crate::protocol::timing::{datagrams_per_sec, Pacer};
use crate::protocol::wire::MessageStatus;
use crate::runtime::net::{connect_sender, is_transient};

/// How long to wait for the server's answer to a picture or a message.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(1);

/// What became of one datagram exchange.
enum Answer {
    /// The expected reply.
    Expected,
    /// Some other reply (its text).
    Other(String),
    /// Nothing within the timeout.
    Silence,
}

fn await_reply(sock: &UdpSocket, expected: &[u8], stop: &Stop) -> Result<Answer, AppError> {
    let deadline = Instant::now() + REPLY_TIMEOUT;
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stop.is_set() {
            return Ok(Answer::Silence);
        }
        sock.set_read_timeout(Some(left.min(Duration::from_millis(50))))?;
        match sock.recv(&mut buf) {
            Ok(n) if &buf[..n] == expected => return Ok(Answer::Expected),
            Ok(n) => {
                return Ok(Answer::Other(
                    String::from_utf8_lossy(&buf[..n]).into_owned(),
                ))
            }
            Err(e) if is_transient(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

fn send_paced(sock: &UdpSocket, pacer: &mut Pacer, d: &[u8]) -> Result<(), AppError> {
    if let Some(at) = pacer.delay(Instant::now()) {
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
    }
    pacer.on_send(Instant::now());
    match sock.send(d) {
        Err(e) if !is_transient(&e) => Err(e.into()),
        _ => Ok(()),
    }
}

/// Runs the tutorial-format sender: pictures from `source` to `cfg.dest`, messages from
/// `cfg.messages` to `json_dest`, one at a time, each waiting for its answer.
pub fn run_send_tutorial(
    cfg: SendConfig,
    source: Box<dyn Source>,
    json_dest: SocketAddr,
    stop: Stop,
    mut on_update: impl FnMut(SendUpdate<'_>),
) -> Result<SendOutcome, AppError> {
    let (total, one_shot) = frame_budget(&cfg, &*source);
    let start = Instant::now();
    let mut client = Client {
        pic_sock: connect_sender(cfg.dest)?,
        json_sock: connect_sender(json_dest)?,
        json_dest,
        pacer: Pacer::new(
            datagrams_per_sec(cfg.protocol.max_rate_mbps(), tutorial::CHUNK),
            32,
        ),
        ticker: (cfg.fps > 0.0 && !source.is_live()).then(|| Ticker::new(cfg.fps, start)),
        source,
        quality: cfg.quality,
        total,
        book: StatsBook::new(Role::Send, start),
        sent: 0,
        acked: 0,
        last_acked: false,
        pictures_done: total == Some(0),
        delivered: 0,
        failed: 0,
        msg_seq: 0,
        spare: Vec::new(),
    };
    let mut messages_done = cfg.messages.is_none();
    let mut next_report = start + Duration::from_secs(1);
    loop {
        let all_done = client.pictures_done && messages_done;
        if all_done || stop.is_set() {
            break;
        }
        // Messages first: they are small and someone may be waiting on them.
        if let Some(rx) = &cfg.messages {
            let next = if client.pictures_done {
                rx.recv_timeout(Duration::from_millis(50))
                    .map_err(|e| e.is_disconnected())
            } else {
                rx.try_recv().map_err(|e| e.is_disconnected())
            };
            match next {
                Ok(m) => {
                    client.message(m, &stop, &mut on_update)?;
                    continue;
                }
                Err(true) => messages_done = true,
                Err(false) => {}
            }
        }
        if !client.pictures_done {
            client.picture(&stop)?;
        }
        client.book.counts.messages = client.delivered;
        client.book.counts.messages_refused = client.failed;
        let now = Instant::now();
        if now >= next_report {
            on_update(SendUpdate::Report(&client.book.interval(now)));
            next_report = (next_report + Duration::from_secs(1)).max(now);
        }
    }
    client.book.counts.messages = client.delivered;
    client.book.counts.messages_refused = client.failed;
    let summary = client.book.summary(Instant::now());
    if one_shot && !client.last_acked {
        return Err(AppError::NoAck {
            reason: format!(
                "no \"get message!!!\" from {} within {} s: is the server running there?",
                cfg.dest,
                REPLY_TIMEOUT.as_secs_f64()
            ),
            summary: Some(Box::new(summary)),
        });
    }
    Ok(SendOutcome {
        summary,
        one_shot,
        last_acked: client.last_acked,
        messages_delivered: client.delivered,
        messages_failed: client.failed,
    })
}

/// The tutorial client's state: its two sockets, the source, and what it has counted.
struct Client {
    pic_sock: UdpSocket,
    json_sock: UdpSocket,
    json_dest: SocketAddr,
    pacer: Pacer,
    ticker: Option<Ticker>,
    source: Box<dyn Source>,
    quality: u8,
    total: Option<u64>,
    book: StatsBook,
    sent: u64,
    acked: u64,
    last_acked: bool,
    pictures_done: bool,
    delivered: u64,
    failed: u64,
    msg_seq: u32,
    spare: Vec<u8>,
}

impl Client {
    /// Sends one message datagram and waits for its answer.
    fn message(
        &mut self,
        m: Vec<u8>,
        stop: &Stop,
        on_update: &mut impl FnMut(SendUpdate<'_>),
    ) -> Result<(), AppError> {
        let seq = self.msg_seq;
        self.msg_seq = self.msg_seq.wrapping_add(1);
        let max = MAX_MESSAGE_LEN.min(crate::protocol::wire::MAX_DATAGRAM);
        if m.len() > max {
            self.failed += 1;
            on_update(SendUpdate::MessageNotSent(MessageError::TooLarge {
                len: m.len(),
                max,
            }));
            return Ok(());
        }
        send_paced(&self.json_sock, &mut self.pacer, &m)?;
        let outcome = match await_reply(&self.json_sock, REPLY_JSON, stop)? {
            Answer::Expected => MessageOutcome::Delivered,
            Answer::Other(reason) => MessageOutcome::Refused {
                status: MessageStatus::InvalidJson,
                reason,
            },
            Answer::Silence => MessageOutcome::TimedOut,
        };
        if outcome == MessageOutcome::Delivered {
            self.delivered += 1;
        } else {
            self.failed += 1;
        }
        let no_answer = outcome == MessageOutcome::TimedOut;
        on_update(SendUpdate::Message { seq, outcome });
        if no_answer && self.pictures_done {
            return Err(AppError::NoAck {
                reason: format!(
                    "no answer from {} to a message within {} s: is the server running there?",
                    self.json_dest,
                    REPLY_TIMEOUT.as_secs_f64()
                ),
                summary: None,
            });
        }
        Ok(())
    }

    /// Captures, encodes and sends the next picture when it is due, and waits for its answer.
    fn picture(&mut self, stop: &Stop) -> Result<(), AppError> {
        if let Some(t) = &mut self.ticker {
            let wait = t.wait_from(Instant::now());
            if !wait.is_zero() {
                let _ = stop.channel().recv_timeout(wait);
                return Ok(());
            }
        }
        let Some(f) = self.source.next_frame()? else {
            self.pictures_done = true;
            return Ok(());
        };
        let (frame, rgb) = encode(f, self.quality, std::mem::take(&mut self.spare))?;
        if let Some(rgb) = rgb {
            self.source.recycle(rgb);
        }
        send_paced(
            &self.pic_sock,
            &mut self.pacer,
            &tutorial::header(frame.data.len()),
        )?;
        for chunk in tutorial::picture_datagrams(&frame.data) {
            send_paced(&self.pic_sock, &mut self.pacer, chunk)?;
        }
        self.sent += 1;
        self.last_acked = matches!(
            await_reply(&self.pic_sock, REPLY_PICTURE, stop)?,
            Answer::Expected
        );
        let now = Instant::now();
        if self.last_acked {
            self.acked += 1;
            self.book.counts.bytes += frame.data.len() as u64;
            self.book.first_frame.get_or_insert(now);
            self.book.last_frame = Some(now);
        }
        self.book.counts.frames = self.acked;
        self.book.counts.dropped_frames = self.sent - self.acked;
        self.spare = frame.data;
        if self.total.is_some_and(|t| self.sent >= t) {
            self.pictures_done = true;
        }
        Ok(())
    }
}
