//! The keyed link end to end through the two protocol machines, on a virtual clock and a
//! virtual wire: what gets through, what is dropped, and what is never answered.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::protocol::key::Key;
use crate::protocol::receiver::{KeyMismatch, Receiver, ReceiverConfig, ReceiverEvent};
use crate::protocol::sender::{OutgoingFrame, Sender, SenderConfig};
use crate::protocol::wire::Codec;

const MS: Duration = Duration::from_millis(1);

fn key(b: u8) -> Key {
    Key::from_bytes([b; 32])
}

fn addr(p: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], p))
}

fn cfg() -> SenderConfig {
    SenderConfig {
        pace_per_sec: 0.0,
        ..SenderConfig::default()
    }
}

fn frame(n: usize, salt: u8) -> OutgoingFrame {
    OutgoingFrame {
        data: (0..n).map(|i| (i as u8) ^ salt).collect(),
        codec: Codec::Jpeg,
        width: 4,
        height: 4,
        timestamp_us: 1,
    }
}

/// Everything the sender sends now.
fn sent(s: &mut Sender, now: Instant) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 1500];
    std::iter::from_fn(|| s.poll_transmit(now, &mut buf).map(|n| buf[..n].to_vec())).collect()
}

/// Everything the receiver sends now.
fn answers(r: &mut Receiver) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut buf = vec![0u8; 1500];
    std::iter::from_fn(|| {
        r.poll_transmit(&mut buf)
            .map(|(to, n)| (to, buf[..n].to_vec()))
    })
    .collect()
}

/// Frames delivered and other events.
fn frames(r: &mut Receiver) -> (Vec<Vec<u8>>, Vec<ReceiverEvent>) {
    let mut f = Vec::new();
    let mut other = Vec::new();
    while let Some(e) = r.poll_event() {
        match e {
            ReceiverEvent::Frame { frame, .. } => f.push(frame.data),
            e => other.push(e),
        }
    }
    (f, other)
}

/// Moves datagrams both ways until nothing moves; returns the frames delivered.
fn exchange(s: &mut Sender, r: &mut Receiver, now: Instant) -> Vec<Vec<u8>> {
    for _ in 0..100 {
        let out = sent(s, now);
        for d in &out {
            r.handle_datagram(now, addr(1), d);
        }
        let back = answers(r);
        for (to, d) in &back {
            assert_eq!(*to, addr(1));
            s.handle_datagram(now, d);
        }
        if out.is_empty() && back.is_empty() {
            return frames(r).0;
        }
    }
    panic!("exchange did not settle")
}

fn rejected(r: &Receiver, kind: &str) -> u64 {
    r.stats().rejected.get(kind).copied().unwrap_or(0)
}

#[test]
fn same_key_streams_after_one_handshake_and_nothing_travels_in_the_clear() {
    let t = Instant::now();
    let mut s = Sender::keyed(cfg(), 7, &key(1));
    let mut r = Receiver::keyed(ReceiverConfig::default(), &key(1));
    let f = frame(5000, 3);
    s.push_frame(t, f.clone()).unwrap();
    // Before the viewer answers, only a hello leaves: no chunk, no byte of the picture.
    let first = sent(&mut s, t);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].len(), HANDSHAKE_LEN);
    assert_eq!(first[0][3], TYPE_HELLO);
    for d in &first {
        r.handle_datagram(t, addr(1), d);
    }
    assert_eq!(r.stats().hellos, 1);
    let got = exchange(&mut s, &mut r, t + MS);
    assert_eq!(got, vec![f.data.clone()]);
    assert_eq!(s.stats().handshakes, 1);
    assert_eq!(s.stats().frames_acked, 1);
    // The next frame's datagrams are all sealed, and none shows a run of the frame's bytes.
    s.push_frame(t + 2 * MS, f.clone()).unwrap();
    let out = sent(&mut s, t + 2 * MS);
    assert!(!out.is_empty());
    for d in &out {
        assert_eq!(d[3], TYPE_SEALED);
        assert!(d.len() <= 1200);
        assert!(
            !d.windows(16).any(|w| f.data.windows(16).any(|x| x == w)),
            "plaintext leaked"
        );
    }
    for d in &out {
        r.handle_datagram(t + 2 * MS, addr(1), d);
    }
    assert_eq!(frames(&mut r).0.len(), 1);
    assert_eq!(r.stats().rejected_total(), 0);
}

#[test]
fn a_different_key_gets_no_answer_no_state_and_one_notice() {
    let t = Instant::now();
    let mut s = Sender::keyed(cfg(), 7, &key(1));
    let mut r = Receiver::keyed(ReceiverConfig::default(), &key(2));
    s.push_frame(t, frame(3000, 1)).unwrap();
    for i in 0..20 {
        let now = t + 250 * MS * i;
        for d in sent(&mut s, now) {
            r.handle_datagram(now, addr(1), &d);
        }
        s.handle_timeout(now);
        assert!(answers(&mut r).is_empty());
    }
    assert!(s.stats().hellos >= 19, "{:?}", s.stats());
    assert_eq!(rejected(&r, "unauthenticated"), s.stats().hellos);
    assert_eq!(r.stats().hellos, 0);
    let (f, ev) = frames(&mut r);
    assert!(f.is_empty());
    assert_eq!(
        ev,
        vec![ReceiverEvent::KeyMismatch {
            from: addr(1),
            kind: KeyMismatch::DifferentKey
        }]
    );
    assert!(!s.is_link_open());
}

#[test]
fn key_on_one_side_only_is_told_by_the_viewer() {
    let t = Instant::now();
    // A keyed sender, a keyless viewer.
    let mut s = Sender::keyed(cfg(), 7, &key(1));
    let mut r = Receiver::new(ReceiverConfig::default());
    s.push_frame(t, frame(300, 1)).unwrap();
    for d in sent(&mut s, t) {
        r.handle_datagram(t, addr(1), &d);
    }
    assert!(answers(&mut r).is_empty());
    assert_eq!(rejected(&r, "needs_key"), 1);
    assert!(frames(&mut r).1.contains(&ReceiverEvent::KeyMismatch {
        from: addr(1),
        kind: KeyMismatch::PeerHasKey
    }));
    // A keyless sender, a keyed viewer: dropped unread, never answered.
    let mut s = Sender::new(cfg(), 8);
    let mut r = Receiver::keyed(ReceiverConfig::default(), &key(1));
    s.push_frame(t, frame(3000, 1)).unwrap();
    for d in sent(&mut s, t) {
        r.handle_datagram(t, addr(1), &d);
    }
    assert!(answers(&mut r).is_empty());
    assert_eq!(rejected(&r, "unauthenticated"), 3);
    assert!(frames(&mut r).1.contains(&ReceiverEvent::KeyMismatch {
        from: addr(1),
        kind: KeyMismatch::PeerHasNoKey
    }));
}

/// A keyed pair with the handshake done and one frame delivered.
fn open_pair(t: Instant) -> (Sender, Receiver) {
    let mut s = Sender::keyed(cfg(), 7, &key(1));
    let mut r = Receiver::keyed(ReceiverConfig::default(), &key(1));
    s.push_frame(t, frame(100, 0)).unwrap();
    assert_eq!(exchange(&mut s, &mut r, t).len(), 1);
    (s, r)
}

#[test]
fn every_flipped_bit_of_a_sealed_datagram_or_a_hello_is_refused() {
    let t = Instant::now();
    let (mut s, mut r) = open_pair(t);
    s.push_frame(t, frame(500, 9)).unwrap();
    let d = sent(&mut s, t);
    assert_eq!(d.len(), 1);
    let good = &d[0];
    let before = r.stats().rejected_total();
    for bit in 0..good.len() * 8 {
        let mut bad = good.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        r.handle_datagram(t, addr(1), &bad);
    }
    assert_eq!(r.stats().rejected_total() - before, good.len() as u64 * 8);
    assert!(frames(&mut r).0.is_empty());
    assert!(answers(&mut r).is_empty());
    // The genuine datagram still opens afterwards: no flipped copy moved the window.
    r.handle_datagram(t, addr(1), good);
    assert_eq!(frames(&mut r).0.len(), 1);
    assert_eq!(answers(&mut r).len(), 1, "its ACK");

    let mut s2 = Sender::keyed(cfg(), 8, &key(1));
    s2.push_frame(t, frame(10, 0)).unwrap();
    let hello = sent(&mut s2, t).remove(0);
    for bit in 0..hello.len() * 8 {
        let mut bad = hello.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        r.handle_datagram(t, addr(2), &bad);
    }
    assert!(answers(&mut r).is_empty(), "no flipped hello is answered");
    assert_eq!(r.stats().hellos, 1, "only the first pair's");
}

#[test]
fn replayed_datagrams_are_dropped_and_reordering_inside_the_window_is_not() {
    let t = Instant::now();
    let (mut s, mut r) = open_pair(t);
    s.push_frame(t, frame(1160 * 20, 5)).unwrap();
    let mut d = sent(&mut s, t);
    assert!(d.len() >= 20);
    d.reverse();
    for x in &d {
        r.handle_datagram(t, addr(1), x);
    }
    assert_eq!(frames(&mut r).0.len(), 1, "reordered, still whole");
    let acks = answers(&mut r);
    assert_eq!(acks.len(), 1);
    // Every datagram again, and the ACK again: all refused as replays.
    for x in &d {
        r.handle_datagram(t, addr(1), x);
    }
    assert_eq!(rejected(&r, "replayed"), d.len() as u64);
    assert!(answers(&mut r).is_empty(), "a replay draws no answer");
    s.handle_datagram(t, &acks[0].1);
    s.handle_datagram(t, &acks[0].1);
    assert_eq!(s.stats().replayed, 1);
}

#[test]
fn a_counter_jump_past_the_window_leaves_the_skipped_ones_too_old() {
    let t = Instant::now();
    let (mut s, mut r) = open_pair(t);
    s.push_frame(t, frame(1160 * 3, 1)).unwrap();
    let early = sent(&mut s, t);
    s.set_link_counter_for_tests(10 * crypto::REPLAY_WINDOW);
    s.push_frame(t, frame(1160 * 3, 2)).unwrap();
    let late = sent(&mut s, t);
    for x in &late {
        r.handle_datagram(t, addr(1), x);
    }
    assert_eq!(frames(&mut r).0.len(), 1);
    for x in &early {
        r.handle_datagram(t, addr(1), x);
    }
    assert_eq!(rejected(&r, "replayed"), early.len() as u64);
}

#[test]
fn a_hello_flood_leaves_no_state_and_wrong_ones_draw_no_reply() {
    let t = Instant::now();
    let mut r = Receiver::keyed(ReceiverConfig::default(), &key(1));
    let mut rng = fastrand::Rng::with_seed(3);
    // Hellos made without the key: well formed, random MACs, from many addresses.
    for i in 0..20_000u32 {
        let mut h = [0u8; HANDSHAKE_LEN];
        common_header(&mut h, TYPE_HELLO, 0, i);
        rng.fill(&mut h[10..]);
        r.handle_datagram(t, addr(1000 + (i % 5000) as u16), &h);
    }
    assert_eq!(rejected(&r, "unauthenticated"), 20_000);
    assert!(answers(&mut r).is_empty());
    // A genuine hello replayed many times: answered, never with more bytes than it has,
    // at most a bounded number of answers between two sends, and still no entry.
    let mut s = Sender::keyed(cfg(), 9, &key(1));
    s.push_frame(t, frame(10, 0)).unwrap();
    let hello = sent(&mut s, t).remove(0);
    for _ in 0..1000 {
        r.handle_datagram(t, addr(5), &hello);
    }
    let a = answers(&mut r);
    assert!(!a.is_empty() && a.len() <= 32, "{}", a.len());
    assert!(a
        .iter()
        .all(|(to, d)| *to == addr(5) && d.len() <= hello.len()));
    assert_eq!(r.link_peers_for_tests(), 0, "a hello keeps nothing");
    // Forged sealed datagrams claiming a first handshake: nothing either.
    for i in 0..1000u32 {
        let mut d = vec![0u8; INIT_HEADER_LEN + 100];
        common_header(&mut d, TYPE_SEALED, FLAG_INIT, i);
        rng.fill(&mut d[10..]);
        r.handle_datagram(t, addr(6), &d);
    }
    assert_eq!(r.link_peers_for_tests(), 0);
    assert!(answers(&mut r).is_empty());
}

#[test]
fn a_restarted_viewer_gets_a_new_handshake_and_the_stream_goes_on() {
    let t = Instant::now();
    let (mut s, _old) = open_pair(t);
    let mut r = Receiver::keyed(ReceiverConfig::default(), &key(1));
    let mut now = t;
    let mut got = Vec::new();
    for i in 0..40u8 {
        now += 100 * MS;
        s.handle_timeout(now);
        if s.wants_frame(now) {
            s.push_frame(now, frame(2000, i)).unwrap();
        }
        got.extend(exchange(&mut s, &mut r, now));
    }
    assert!(s.stats().handshakes >= 2, "{:?}", s.stats());
    assert!(got.len() >= 20, "{} frames after the restart", got.len());
}

#[test]
fn the_sender_rekeys_before_its_counter_runs_out_and_old_keys_are_refused_after() {
    let t = Instant::now();
    let (mut s, mut r) = open_pair(t);
    s.push_frame(t, frame(100, 1)).unwrap();
    let old = sent(&mut s, t);
    s.set_link_counter_for_tests(REKEY_AFTER - 1);
    s.push_frame(t, frame(100, 2)).unwrap();
    let last = sent(&mut s, t);
    assert_eq!(
        last.len(),
        2,
        "the last datagram under the old key, then a hello"
    );
    assert_eq!((last[0][3], last[1][3]), (TYPE_SEALED, TYPE_HELLO));
    assert!(!s.is_link_open(), "a new handshake has begun");
    for x in &last {
        r.handle_datagram(t, addr(1), x);
    }
    let got = exchange(&mut s, &mut r, t + MS);
    assert_eq!(s.stats().handshakes, 2);
    s.push_frame(t + 2 * MS, frame(100, 3)).unwrap();
    let after = exchange(&mut s, &mut r, t + 2 * MS);
    assert_eq!(after.len(), 1);
    assert!(got.len() <= 1);
    // Datagrams of the first handshake are refused now that a later one replaced it.
    let before = r.stats().rejected_total();
    for x in &old {
        r.handle_datagram(t, addr(1), x);
    }
    assert_eq!(r.stats().rejected_total() - before, old.len() as u64);
}

#[test]
fn a_damaged_keyless_datagram_costs_only_itself() {
    let t = Instant::now();
    let mut s = Sender::new(cfg(), 1);
    let mut r = Receiver::new(ReceiverConfig::default());
    s.push_frame(t, frame(1150 * 50, 4)).unwrap();
    let out = sent(&mut s, t);
    assert_eq!(out.len(), 50);
    for (i, d) in out.iter().enumerate() {
        let mut d = d.clone();
        if i == 17 {
            d[600] ^= 0x10;
        }
        r.handle_datagram(t, addr(1), &d);
    }
    assert_eq!(rejected(&r, "damaged"), 1);
    assert!(frames(&mut r).0.is_empty());
    // The NACK asks for that one chunk only, and the frame completes.
    r.handle_timeout(t + 50 * MS);
    let got = exchange(&mut s, &mut r, t + 50 * MS);
    assert_eq!(got.len(), 1);
    assert_eq!(s.stats().retransmitted_chunks, 1);
    assert_eq!(r.stats().reassembly.crc_failures, 0);
}

/// The blocks of docs/PROTOCOL.md fenced as ```INFO: (label line, bytes).
fn doc_blocks(info: &str) -> Vec<(String, Vec<u8>)> {
    let doc = include_str!("../../../docs/PROTOCOL.md");
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    let fence = format!("```{info}");
    for (i, l) in lines.iter().enumerate() {
        if l.trim() != fence {
            continue;
        }
        let label = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .expect("a label")
            .to_string();
        let mut bytes = Vec::new();
        for l in lines[i + 1..].iter().take_while(|l| l.trim() != "```") {
            for tok in l.split('#').next().unwrap().split_whitespace() {
                bytes.push(u8::from_str_radix(tok, 16).expect("hex"));
            }
        }
        out.push((label, bytes));
    }
    out
}

#[test]
fn golden_keyless_datagrams_of_the_document_check_and_parse() {
    let blocks = doc_blocks("wire");
    assert!(blocks.len() >= 2);
    for (label, bytes) in blocks {
        let body = plain_body(&bytes).unwrap_or_else(|e| panic!("{label}: {e:?}"));
        let d = crate::protocol::wire::parse(body).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert!(label.starts_with("Golden keyless datagram: "), "{label}");
        let want = format!("(type {})", body[3]);
        assert!(label.ends_with(&want), "{label}: {d:?}");
        assert_eq!(plain_datagram(body), bytes);
    }
}

#[test]
fn golden_keyed_vectors_are_stable() {
    // The vectors of docs/PROTOCOL.md 11.7: a key, both nonces, a body, its datagram.
    let k = Key::from_bytes(core::array::from_fn(|i| i as u8));
    let master = crypto::Master::new(&k);
    let id = crypto::HandshakeId {
        session: 0x0102_0304,
        handshake: 0,
        sender_nonce: [0x11; 16],
    };
    let mut hello = [0u8; HANDSHAKE_LEN];
    handshake(&mut hello, TYPE_HELLO, &id, &[0; 16], &master);
    let mut welcome = [0u8; HANDSHAKE_LEN];
    handshake(&mut welcome, TYPE_WELCOME, &id, &[0x22; 16], &master);
    let (s2v, _) = master.traffic(&id, &[0x22; 16]);
    let body = [b'C', b'W', 3, 7, 0, 0, 1, 2, 3, 4]; // a KEEPALIVE
    let mut buf = [0u8; 64];
    buf[INIT_HEADER_LEN..INIT_HEADER_LEN + 10].copy_from_slice(&body);
    let n = seal(&mut buf, &s2v, id.session, 0, Some(&id), body.len()).unwrap();
    let doc = doc_blocks("keyed");
    let named = |t: u8| {
        doc.iter()
            .find(|(l, _)| l.ends_with(&format!("(type {t})")))
            .unwrap_or_else(|| panic!("no keyed golden of type {t}"))
            .1
            .clone()
    };
    assert_eq!(named(TYPE_HELLO), hello);
    assert_eq!(named(TYPE_WELCOME), welcome);
    assert_eq!(named(TYPE_SEALED), &buf[..n]);
    assert!(handshake_ok(&hello, &master) && handshake_ok(&welcome, &master));
    let Ok(Envelope::Sealed(sealed)) = envelope(&buf[..n]) else {
        panic!("not sealed")
    };
    let mut scratch = Vec::new();
    assert_eq!(
        open(&buf[..n], &sealed, &s2v, &mut scratch),
        Some(&body[..])
    );
}
