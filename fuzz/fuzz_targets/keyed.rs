//! The keyed link under attack: a real keyed sender and viewer exchange a stream while the
//! input decides what an attacker on the path does to it (replays, bit flips, truncations,
//! reordering, made-up datagrams both ways). No panic; the viewer only ever delivers frames
//! the genuine sender pushed, and never holds more senders than proved the key.
#![no_main]
use std::time::{Duration, Instant};

use camwire::protocol::key::Key;
use camwire::protocol::receiver::{Receiver, ReceiverConfig, ReceiverEvent};
use camwire::protocol::sender::{OutgoingFrame, Sender, SenderConfig};
use camwire::protocol::wire::Codec;
use libfuzzer_sys::fuzz_target;

fn frame(n: u8) -> Vec<u8> {
    (0..3000u32).map(|i| (i as u8).wrapping_mul(n | 1)).collect()
}

fuzz_target!(|data: &[u8]| {
    let key = Key::from_bytes([7; 32]);
    let cfg = SenderConfig {
        pace_per_sec: 0.0,
        ..SenderConfig::default()
    };
    let mut s = Sender::keyed(cfg, 1, &key);
    let mut r = Receiver::keyed(ReceiverConfig::default(), &key);
    let from = "127.0.0.1:9".parse().unwrap();
    let mut now = Instant::now();
    let mut buf = vec![0u8; 1500];
    let mut wire: Vec<(bool, Vec<u8>)> = Vec::new();
    let genuine: Vec<Vec<u8>> = (0..8).map(frame).collect();
    let mut pushed = 0usize;
    let mut rest = data;
    while rest.len() >= 3 {
        let (op, arg, arg2) = (rest[0], rest[1] as usize, rest[2]);
        rest = &rest[3..];
        now += Duration::from_micros(u64::from(arg2) * 50);
        match op % 6 {
            0 if pushed < genuine.len() => {
                let f = OutgoingFrame {
                    data: genuine[pushed].clone(),
                    codec: Codec::Jpeg,
                    width: 8,
                    height: 8,
                    timestamp_us: 1,
                };
                let _ = s.push_frame(now, f);
                pushed += 1;
            }
            1 => {
                // Sender to viewer, dropping the datagrams the bits of `arg` pick.
                let mut i = 0;
                while let Some(n) = s.poll_transmit(now, &mut buf) {
                    wire.push((true, buf[..n].to_vec()));
                    if arg & (1 << (i % 8)) == 0 {
                        r.handle_datagram(now, from, &buf[..n]);
                    }
                    i += 1;
                }
            }
            2 => {
                while let Some((_, n)) = r.poll_transmit(&mut buf) {
                    wire.push((false, buf[..n].to_vec()));
                    s.handle_datagram(now, &buf[..n]);
                }
            }
            3 if !wire.is_empty() => {
                // Replay a recorded datagram, maybe with one bit flipped or cut short.
                let (to_viewer, mut d) = wire[arg % wire.len()].clone();
                match arg2 % 3 {
                    0 => {}
                    1 => {
                        let bit = usize::from(arg2) * 7 % (d.len() * 8);
                        d[bit / 8] ^= 1 << (bit % 8);
                    }
                    _ => d.truncate(usize::from(arg2) % d.len()),
                }
                if to_viewer {
                    r.handle_datagram(now, from, &d);
                } else {
                    s.handle_datagram(now, &d);
                }
            }
            4 | 5 => {
                // Made-up bytes, to either end.
                let d = &rest[..arg.min(rest.len())];
                rest = &rest[d.len()..];
                if op % 6 == 4 {
                    r.handle_datagram(now, from, d);
                } else {
                    s.handle_datagram(now, d);
                }
            }
            _ => {}
        }
        s.handle_timeout(now);
        r.handle_timeout(now);
        while let Some(e) = r.poll_event() {
            if let ReceiverEvent::Frame { frame, .. } = e {
                assert!(genuine[..pushed].contains(&frame.data), "a frame nobody sent");
                assert_eq!(frame.session, 1);
            }
        }
        while s.poll_event().is_some() {}
    }
});
