//! What a viewer (or anyone on the path) says to a sender with frames in flight: arbitrary
//! ACKs, NACKs and junk, with time moving on. No panic; the flight and the window never pass
//! 255 frames (what an ACK can advertise), a push only happens when the window has room or
//! replaces, the target rate is either unset or a positive finite rate, and every datagram the
//! sender emits fits its MTU.
#![no_main]
use std::time::{Duration, Instant};

use camwire::protocol::link::plain_datagram;
use camwire::protocol::sender::{OutgoingFrame, Sender, SenderConfig};
use camwire::protocol::wire::{Codec, Datagram, ACK_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = SenderConfig::default();
    let mut s = Sender::new(cfg, 7).with_first_seq(100);
    let mut now = Instant::now();
    let mut buf = vec![0u8; cfg.mtu];
    let mut pushed = 0u32;
    // Each record: an op byte, a time step byte, then up to 24 bytes of argument.
    let mut rest = data;
    while rest.len() >= 2 {
        let (op, step) = (rest[0], rest[1]);
        now += Duration::from_micros(u64::from(step) * 500);
        rest = &rest[2..];
        let take = rest.len().min(24);
        let arg = &rest[..take];
        rest = &rest[take..];
        let word = |i: usize| arg.get(i..i + 4).map_or(0, |b| u32::from_be_bytes(b.try_into().unwrap()));
        match op % 4 {
            0 => {
                if s.wants_frame(now) {
                    let len = 1 + (word(0) as usize % 20_000);
                    s.push_frame(
                        now,
                        OutgoingFrame {
                            data: vec![pushed as u8; len],
                            codec: Codec::Jpeg,
                            width: 8,
                            height: 8,
                            timestamp_us: 0,
                        },
                    )
                    .unwrap();
                    pushed += 1;
                }
            }
            1 => {
                // An ACK near the frames in flight, with any window and spread.
                let mut b = [0u8; ACK_LEN];
                Datagram::Ack {
                    session: 7,
                    seq: 100 + word(0) % (pushed + 2),
                    index: (word(4) % 70) as u16,
                    attempt: arg.get(8).copied().unwrap_or(0) % 4,
                    window: arg.get(9).copied().unwrap_or(1),
                    spread_us: word(10),
                }
                .encode(&mut b)
                .unwrap();
                s.handle_datagram(now, &plain_datagram(&b));
            }
            2 => s.handle_datagram(now, &plain_datagram(arg)),
            _ => s.handle_datagram(now, arg),
        }
        while let Some(n) = s.poll_transmit(now, &mut buf) {
            assert!(n <= cfg.mtu);
        }
        s.handle_timeout(now);
        while s.poll_event().is_some() {}
        assert!(s.in_flight() <= 255 && s.window() <= 255);
        if let Some(t) = s.target_bitrate() {
            assert!(t.is_finite() && t > 0.0, "{t}");
        }
    }
});
