//! Reliable JSON messages beside the video, as two sans-IO halves.
//!
//! [`Outbox`] (inside [`crate::protocol::sender::Sender`]) sends one message at a time: all its chunks,
//! then waits for the viewer's MESSAGE_ACK; with no answer within the retransmission timeout
//! it sends the whole message again (the viewer keeps the chunks it already has, so every
//! round fills more of the gaps), until `message_timeout` gives up. One message in flight per
//! session is what makes delivery *in order*; sequence numbers make it *exactly once*.
//!
//! [`Inbox`] (one per session inside [`crate::protocol::receiver::Receiver`]) reassembles a message,
//! checks its CRC, validates the JSON and answers with a verdict: delivered, invalid JSON (with
//! the parser's reason) or too large. A repeat of the last message (its ACK was lost) gets the
//! same verdict again and is not delivered twice.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::protocol::chunks::{ChunkBuffer, Put};
use crate::protocol::serial;
use crate::protocol::wire::{self, Content, Datagram, MessageInfo, MessageStatus};

/// The largest message, in bytes of JSON text. Chosen so a message is at most 56 datagrams at
/// the default MTU: big enough for telemetry, annotations and small documents, small enough
/// that a resend of the whole message under loss stays cheap.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Messages that may wait behind the one in flight before [`Outbox::push`] refuses more.
pub const MAX_QUEUED_MESSAGES: usize = 1024;

/// Why a message was refused before it was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The message has no bytes.
    #[error("message is empty")]
    Empty,
    /// Longer than [`MAX_MESSAGE_LEN`] (or than one datagram count allows at this MTU).
    #[error("message of {len} bytes is larger than the limit of {max} bytes")]
    TooLarge {
        /// The message's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// [`MAX_QUEUED_MESSAGES`] messages are already waiting.
    #[error("too many messages waiting ({MAX_QUEUED_MESSAGES}); the viewer is not keeping up")]
    QueueFull,
}

/// What became of a message, as the sender learns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    /// The viewer has it.
    Delivered,
    /// The viewer refused it: `status` says why in short, `reason` in words.
    Refused {
        /// Invalid JSON or too large.
        status: MessageStatus,
        /// The viewer's explanation.
        reason: String,
    },
    /// No verdict arrived within the message timeout.
    TimedOut,
}

struct OutMsg {
    seq: u32,
    content: Content,
    data: Vec<u8>,
    info: MessageInfo,
    /// Next chunk of the current round to send; `count` when the round is out.
    next: u16,
    attempt: u8,
    round_sent: Option<Instant>,
    started: Instant,
    rto_at: Option<Instant>,
    rounds: u32,
}

/// The sending half: a queue of messages, one in flight.
pub struct Outbox {
    mtu: usize,
    timeout: Duration,
    next_seq: u32,
    queue: VecDeque<(u32, Content, Vec<u8>)>,
    current: Option<OutMsg>,
}

impl Outbox {
    /// An outbox for datagrams of at most `mtu` bytes that gives a message up after `timeout`
    /// without a verdict.
    pub fn new(mtu: usize, timeout: Duration) -> Self {
        Outbox {
            mtu,
            timeout,
            next_seq: 0,
            queue: VecDeque::new(),
            current: None,
        }
    }

    /// Queues a JSON text; returns its sequence number. The JSON is not checked here: the
    /// viewer is the judge (and says why it refuses).
    pub fn push(&mut self, data: Vec<u8>) -> Result<u32, MessageError> {
        if data.is_empty() {
            return Err(MessageError::Empty);
        }
        if data.len() > MAX_MESSAGE_LEN || wire::message_chunk_count(data.len(), self.mtu).is_none()
        {
            return Err(MessageError::TooLarge {
                len: data.len(),
                max: MAX_MESSAGE_LEN,
            });
        }
        if self.queue.len() >= MAX_QUEUED_MESSAGES {
            return Err(MessageError::QueueFull);
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.queue.push_back((seq, Content::Json, data));
        Ok(seq)
    }

    /// Queues the sender's description ([`Content::SessionInfo`]) unless one is already
    /// waiting; returns its sequence number, or `None` when one was waiting. It goes in
    /// sending order like every message: behind those already queued, so that no sequence
    /// number handed out changes.
    pub fn push_info(&mut self, data: Vec<u8>) -> Option<u32> {
        if self
            .queue
            .iter()
            .any(|(_, c, _)| *c == Content::SessionInfo)
        {
            return None;
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.queue.push_back((seq, Content::SessionInfo, data));
        Some(seq)
    }

    /// Messages not yet answered, including the one in flight.
    pub fn len(&self) -> usize {
        self.queue.len() + usize::from(self.current.is_some())
    }

    /// Messages pushed by the caller and not yet answered: the sender's own description
    /// ([`Outbox::push_info`]) is nobody's to wait for.
    pub fn pushed_len(&self) -> usize {
        let info = |c: &Content| *c == Content::SessionInfo;
        self.queue.iter().filter(|(_, c, _)| !info(c)).count()
            + usize::from(self.current.as_ref().is_some_and(|m| !info(&m.content)))
    }

    /// True when every message has its verdict.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when a chunk is ready to go now.
    pub fn has_chunk(&self) -> bool {
        match &self.current {
            Some(m) => m.next < m.info.count,
            None => !self.queue.is_empty(),
        }
    }

    /// Writes the next chunk into `buf`; `rto` is how long to wait for the verdict once the
    /// round is out.
    pub fn poll_chunk(
        &mut self,
        now: Instant,
        session: u32,
        rto: Duration,
        buf: &mut [u8],
    ) -> Option<usize> {
        if self.current.is_none() {
            let (seq, content, data) = self.queue.pop_front()?;
            let count = wire::message_chunk_count(data.len(), self.mtu).expect("checked in push");
            let info = MessageInfo {
                seq,
                count,
                len: data.len() as u32,
                crc32: crc32fast::hash(&data),
                content,
            };
            self.current = Some(OutMsg {
                seq,
                content,
                data,
                info,
                next: 0,
                attempt: 0,
                round_sent: None,
                started: now,
                rto_at: None,
                rounds: 0,
            });
        }
        let m = self.current.as_mut()?;
        if m.next >= m.info.count {
            return None;
        }
        let index = m.next;
        let d = Datagram::MessageChunk {
            session,
            msg: m.info,
            index,
            attempt: m.attempt,
            payload: &m.data[m.info.chunk_range(index)],
        };
        let n = d.encode(buf).ok()?;
        m.next += 1;
        if m.next == m.info.count {
            m.round_sent = Some(now);
            // Each silent round doubles the wait, up to 8x the RTO.
            m.rto_at = Some(now + rto * (1u32 << m.rounds.min(3)));
        }
        Some(n)
    }

    /// What the message in flight carries, if one is: a verdict on the sender's own
    /// description is not the caller's business.
    pub fn current_content(&self) -> Option<Content> {
        self.current.as_ref().map(|m| m.content)
    }

    /// Takes in a MESSAGE_ACK. Returns the message's outcome and, when the ACK answers the
    /// latest round, a round-trip sample.
    pub fn on_ack(
        &mut self,
        now: Instant,
        seq: u32,
        status: MessageStatus,
        attempt: u8,
        reason: &str,
    ) -> Option<(u32, MessageOutcome, Option<Duration>)> {
        let m = self.current.as_ref().filter(|m| m.seq == seq)?;
        let rtt = match m.round_sent {
            Some(t) if attempt == m.attempt => Some(now.saturating_duration_since(t)),
            _ => None,
        };
        self.current = None;
        let outcome = match status {
            MessageStatus::Delivered => MessageOutcome::Delivered,
            status => MessageOutcome::Refused {
                status,
                reason: reason.to_owned(),
            },
        };
        Some((seq, outcome, rtt))
    }

    /// The next instant [`Outbox::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let m = self.current.as_ref()?;
        let give_up = m.started + self.timeout;
        Some(m.rto_at.map_or(give_up, |t| t.min(give_up)))
    }

    /// Starts another round of the message in flight when its verdict is overdue; gives it up
    /// (returning its sequence number) once the message timeout has passed.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<u32> {
        let m = self.current.as_mut()?;
        if now >= m.started + self.timeout {
            let seq = m.seq;
            self.current = None;
            return Some(seq);
        }
        if m.rto_at.is_some_and(|t| now >= t) {
            m.rto_at = None;
            m.next = 0;
            m.rounds += 1;
            m.attempt = m.attempt.wrapping_add(1);
        }
        None
    }
}

struct Partial {
    info: MessageInfo,
    chunks: ChunkBuffer,
}

/// What the inbox made of one message chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxOutcome {
    /// Stored, or a duplicate or stale chunk: nothing to answer yet.
    Nothing,
    /// The chunk disagrees with the earlier chunks of the same message.
    Inconsistent,
    /// The message is whole but its CRC is wrong: dropped, the sender's next round repairs it.
    CrcMismatch,
    /// Answer with this verdict; `deliver` carries a valid JSON message the first time only.
    Answer {
        /// The verdict.
        status: MessageStatus,
        /// Why it was refused (empty when delivered).
        reason: String,
        /// The message, when this chunk completed it and it is valid.
        deliver: Option<Vec<u8>>,
    },
}

/// The receiving half for one session.
#[derive(Default)]
pub struct Inbox {
    /// The next sequence number expected; `None` until the first message.
    next: Option<u32>,
    /// The last verdict, repeated to a sender whose ACK was lost.
    last: Option<(u32, MessageStatus, String)>,
    partial: Option<Partial>,
    /// (seq, attempt) last answered: one answer per round, not one per chunk.
    answered: Option<(u32, u8)>,
}

impl Inbox {
    /// Takes in one chunk of `msg`; `max_len` is the largest message accepted.
    pub fn on_chunk(
        &mut self,
        msg: &MessageInfo,
        index: u16,
        attempt: u8,
        payload: &[u8],
        max_len: usize,
    ) -> InboxOutcome {
        if let Some((seq, status, reason)) = &self.last {
            if *seq == msg.seq {
                return self.answer_once(msg.seq, attempt, *status, reason.clone(), None);
            }
        }
        // Before the next expected: a delayed copy of something long answered.
        if let Some(n) = self.next {
            if serial::before(msg.seq, n) {
                return InboxOutcome::Nothing;
            }
        }
        if msg.len as usize > max_len {
            self.partial = None;
            let reason = format!(
                "message of {} bytes is larger than this viewer's limit of {max_len} bytes",
                msg.len
            );
            return self.conclude(msg.seq, attempt, MessageStatus::TooLarge, reason, None);
        }
        match &self.partial {
            Some(p) if p.info.seq == msg.seq && p.info != *msg => {
                return InboxOutcome::Inconsistent
            }
            Some(p) if p.info.seq == msg.seq => {}
            // A newer message (the sender gave the old one up), or the first.
            _ => {
                self.partial = Some(Partial {
                    info: *msg,
                    chunks: ChunkBuffer::new(Vec::new(), msg.len as usize, msg.count as usize),
                })
            }
        }
        let p = self.partial.as_mut().expect("set above");
        match p
            .chunks
            .put(index as usize, msg.chunk_range(index), payload)
        {
            Put::Duplicate | Put::Stored => return InboxOutcome::Nothing,
            Put::Complete => {}
        }
        let p = self.partial.take().expect("set above");
        let data = p.chunks.into_data();
        if crc32fast::hash(&data) != p.info.crc32 {
            return InboxOutcome::CrcMismatch;
        }
        match serde_json::from_slice::<serde::de::IgnoredAny>(&data) {
            Ok(_) => self.conclude(
                msg.seq,
                attempt,
                MessageStatus::Delivered,
                String::new(),
                Some(data),
            ),
            Err(e) => {
                let mut reason = format!("invalid JSON: {e}");
                truncate_utf8(&mut reason, wire::MAX_REASON_LEN);
                self.conclude(msg.seq, attempt, MessageStatus::InvalidJson, reason, None)
            }
        }
    }

    fn conclude(
        &mut self,
        seq: u32,
        attempt: u8,
        status: MessageStatus,
        reason: String,
        deliver: Option<Vec<u8>>,
    ) -> InboxOutcome {
        self.next = Some(seq.wrapping_add(1));
        self.last = Some((seq, status, reason.clone()));
        self.answered = None;
        self.answer_once(seq, attempt, status, reason, deliver)
    }

    fn answer_once(
        &mut self,
        seq: u32,
        attempt: u8,
        status: MessageStatus,
        reason: String,
        deliver: Option<Vec<u8>>,
    ) -> InboxOutcome {
        if self.answered == Some((seq, attempt)) {
            return InboxOutcome::Nothing;
        }
        self.answered = Some((seq, attempt));
        InboxOutcome::Answer {
            status,
            reason,
            deliver,
        }
    }
}

/// Cuts `s` to at most `max` bytes, at a character boundary.
pub(crate) fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const MAX: usize = MAX_MESSAGE_LEN;

    fn round(o: &mut Outbox, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1200];
        while let Some(n) = o.poll_chunk(now, 9, 20 * MS, &mut buf) {
            out.push(buf[..n].to_vec());
        }
        out
    }

    fn feed(inbox: &mut Inbox, d: &[u8]) -> InboxOutcome {
        match wire::parse(d).unwrap() {
            Datagram::MessageChunk {
                msg,
                index,
                attempt,
                payload,
                ..
            } => inbox.on_chunk(&msg, index, attempt, payload, MAX),
            other => panic!("{other:?}"),
        }
    }

    fn big_json(len: usize) -> Vec<u8> {
        let mut s = String::from("[\"");
        while s.len() < len - 2 {
            s.push((b'a' + (s.len() % 26) as u8) as char);
        }
        s.push_str("\"]");
        s.into_bytes()
    }

    #[test]
    fn a_large_message_arrives_whole_once() {
        let t0 = Instant::now();
        let mut o = Outbox::new(1200, Duration::from_secs(5));
        let data = big_json(50_000);
        assert_eq!(o.push(data.clone()), Ok(0));
        let chunks = round(&mut o, t0);
        assert_eq!(
            chunks.len(),
            50_000usize.div_ceil(1200 - wire::MESSAGE_HEADER_LEN)
        );
        let mut inbox = Inbox::default();
        let mut answers = Vec::new();
        for c in &chunks {
            match feed(&mut inbox, c) {
                InboxOutcome::Nothing => {}
                a => answers.push(a),
            }
        }
        assert_eq!(
            answers,
            vec![InboxOutcome::Answer {
                status: MessageStatus::Delivered,
                reason: String::new(),
                deliver: Some(data)
            }]
        );
        let (seq, outcome, rtt) = o
            .on_ack(t0 + 3 * MS, 0, MessageStatus::Delivered, 0, "")
            .unwrap();
        assert_eq!(
            (seq, outcome, rtt),
            (0, MessageOutcome::Delivered, Some(3 * MS))
        );
        assert!(o.is_empty());
        assert_eq!(o.poll_timeout(), None);
    }

    #[test]
    fn lost_chunks_fill_in_over_rounds_and_the_repeat_is_not_delivered_twice() {
        let t0 = Instant::now();
        let mut o = Outbox::new(300, Duration::from_secs(5));
        let data = big_json(2000);
        o.push(data.clone()).unwrap();
        let mut inbox = Inbox::default();
        let first = round(&mut o, t0);
        assert!(first.len() > 4);
        // Round 1 loses the odd chunks, round 2 the even ones: together, everything.
        for c in first.iter().step_by(2) {
            assert_eq!(feed(&mut inbox, c), InboxOutcome::Nothing);
        }
        let rto = o.poll_timeout().unwrap();
        assert_eq!(rto, t0 + 20 * MS);
        assert_eq!(o.handle_timeout(rto), None);
        let second = round(&mut o, rto);
        assert_eq!(second.len(), first.len());
        let mut delivered = 0;
        for c in second.iter().skip(1).step_by(2) {
            if let InboxOutcome::Answer {
                deliver, status, ..
            } = feed(&mut inbox, c)
            {
                assert_eq!(status, MessageStatus::Delivered);
                assert_eq!(deliver.as_deref(), Some(&data[..]));
                delivered += 1;
            }
        }
        assert_eq!(delivered, 1);
        // The ACK is lost; the third round draws one repeated verdict and no second delivery.
        let next = o.poll_timeout().unwrap();
        assert_eq!(next, rto + 40 * MS, "the wait doubles after a silent round");
        o.handle_timeout(next);
        let third = round(&mut o, next);
        let answers: Vec<_> = third
            .iter()
            .map(|c| feed(&mut inbox, c))
            .filter(|a| *a != InboxOutcome::Nothing)
            .collect();
        assert_eq!(
            answers,
            vec![InboxOutcome::Answer {
                status: MessageStatus::Delivered,
                reason: String::new(),
                deliver: None
            }]
        );
    }

    #[test]
    fn invalid_json_is_refused_with_the_parser_reason() {
        let mut o = Outbox::new(1200, Duration::from_secs(5));
        o.push(b"[1, 2,]".to_vec()).unwrap();
        let c = round(&mut o, Instant::now());
        match feed(&mut Inbox::default(), &c[0]) {
            InboxOutcome::Answer {
                status: MessageStatus::InvalidJson,
                reason,
                deliver: None,
            } => assert!(
                reason.starts_with("invalid JSON: expected value at line 1 column 7"),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oversize_is_refused_on_both_sides() {
        let mut o = Outbox::new(1200, Duration::from_secs(5));
        assert_eq!(
            o.push(vec![b' '; MAX + 1]),
            Err(MessageError::TooLarge {
                len: MAX + 1,
                max: MAX
            })
        );
        assert_eq!(o.push(Vec::new()), Err(MessageError::Empty));
        // A viewer with a smaller limit refuses on the first chunk, before storing anything.
        o.push(big_json(5000)).unwrap();
        let c = round(&mut o, Instant::now());
        let mut inbox = Inbox::default();
        let Datagram::MessageChunk { msg, payload, .. } = wire::parse(&c[1]).unwrap() else {
            panic!()
        };
        match inbox.on_chunk(&msg, 1, 0, payload, 1000) {
            InboxOutcome::Answer {
                status: MessageStatus::TooLarge,
                reason,
                ..
            } => assert!(reason.contains("5000 bytes"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(inbox.partial.is_none());
    }

    #[test]
    fn messages_go_one_at_a_time_in_order_and_give_up_after_the_timeout() {
        let t0 = Instant::now();
        let mut o = Outbox::new(1200, Duration::from_millis(500));
        for i in 0..3 {
            assert_eq!(o.push(format!("{i}").into_bytes()), Ok(i));
        }
        assert_eq!(round(&mut o, t0).len(), 1, "only the first is in flight");
        assert_eq!(
            o.on_ack(t0, 1, MessageStatus::Delivered, 0, ""),
            None,
            "not in flight"
        );
        assert!(o.on_ack(t0, 0, MessageStatus::Delivered, 0, "").is_some());
        let c = round(&mut o, t0);
        assert!(
            matches!(wire::parse(&c[0]).unwrap(), Datagram::MessageChunk { msg, .. } if msg.seq == 1)
        );
        // Nothing ever answers: rounds repeat until the timeout, then the next message goes.
        let mut now = t0;
        let mut gave_up = None;
        for _ in 0..100 {
            now = o.poll_timeout().unwrap();
            gave_up = o.handle_timeout(now);
            if gave_up.is_some() {
                break;
            }
            assert_eq!(round(&mut o, now).len(), 1);
        }
        assert_eq!(gave_up, Some(1));
        assert_eq!(now, t0 + Duration::from_millis(500));
        assert_eq!(o.len(), 1);
    }

    #[test]
    fn a_chunk_claiming_a_huge_message_holds_only_its_payload() {
        // A viewer that takes messages up to 16 MiB: the limit bounds what a message may become,
        // not what its first chunk costs.
        let max = 16 << 20;
        let mut inbox = Inbox::default();
        let msg = MessageInfo {
            seq: 0,
            count: 65_281,
            len: max as u32,
            crc32: 0,
            content: Content::Json,
        };
        let payload = vec![b' '; msg.chunk_range(9).len()];
        assert_eq!(payload.len(), 257);
        assert_eq!(
            inbox.on_chunk(&msg, 9, 0, &payload, max),
            InboxOutcome::Nothing
        );
        let held = inbox.partial.as_ref().unwrap().chunks.held();
        assert!(held < 400, "one chunk holds {held} bytes");
        // Each newer forged message replaces the last: still one chunk's worth.
        for seq in 1..100u32 {
            let m = MessageInfo { seq, ..msg };
            inbox.on_chunk(&m, seq as u16, 0, &payload, max);
            let held = inbox.partial.as_ref().unwrap().chunks.held();
            assert!(held < 400, "{held} bytes");
        }
        // At the default limit the same holds for a message of 64 KiB in 32,768 chunks.
        let msg = MessageInfo {
            seq: 1000,
            count: 32_768,
            len: MAX as u32,
            ..msg
        };
        let payload = vec![b' '; msg.chunk_range(5).len()];
        inbox.on_chunk(&msg, 5, 0, &payload, MAX);
        assert!(inbox.partial.as_ref().unwrap().chunks.held() < 200);
    }

    #[test]
    fn an_inbox_ignores_stale_and_inconsistent_chunks() {
        let mut inbox = Inbox::default();
        let mut o = Outbox::new(300, Duration::from_secs(5));
        o.push(b"1".to_vec()).unwrap();
        o.push(big_json(1000)).unwrap();
        let first = round(&mut o, Instant::now());
        assert!(matches!(
            feed(&mut inbox, &first[0]),
            InboxOutcome::Answer { .. }
        ));
        o.on_ack(Instant::now(), 0, MessageStatus::Delivered, 0, "");
        let second = round(&mut o, Instant::now());
        assert_eq!(feed(&mut inbox, &second[0]), InboxOutcome::Nothing);
        // Same seq, different length: a chunk that does not belong.
        let Datagram::MessageChunk { mut msg, .. } = wire::parse(&second[1]).unwrap() else {
            panic!()
        };
        msg.crc32 ^= 1;
        let r = msg.chunk_range(1);
        let payload = vec![b' '; r.len()];
        assert_eq!(
            inbox.on_chunk(&msg, 1, 0, &payload, MAX),
            InboxOutcome::Inconsistent
        );
        // Message 0 again after message 1 began: a delayed copy, answered once more, no
        // delivery (its ACK may have been lost).
        match feed(&mut inbox, &first[0]) {
            InboxOutcome::Answer { deliver: None, .. } | InboxOutcome::Nothing => {}
            other => panic!("{other:?}"),
        }
    }
}
