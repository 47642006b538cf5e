//! A stream of arbitrary datagrams into the viewer's state machine, with time moving on:
//! no panic, memory stays bounded, and every frame delivered matches its CRC.
#![no_main]
use std::time::{Duration, Instant};

use camwire::protocol::receiver::{Receiver, ReceiverConfig, ReceiverEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = Receiver::new(ReceiverConfig::default());
    let mut now = Instant::now();
    let from = "127.0.0.1:9".parse().unwrap();
    let mut buf = vec![0u8; camwire::protocol::link::MAX_VIEWER_DATAGRAM];
    // Each record: a length byte, a time step byte, then that many bytes of datagram. An odd
    // time step byte sends the bytes as a body with its CRC-32, so that the fuzzer reaches
    // the parser and the state machine behind the link's check.
    let mut rest = data;
    while rest.len() >= 2 {
        let len = rest[0] as usize * 8;
        let checked = rest[1] & 1 == 1;
        now += Duration::from_micros(rest[1] as u64 * 100);
        rest = &rest[2..];
        let d = &rest[..len.min(rest.len())];
        rest = &rest[d.len()..];
        if checked {
            r.handle_datagram(now, from, &camwire::protocol::link::plain_datagram(d));
        } else {
            r.handle_datagram(now, from, d);
        }
        r.handle_timeout(now);
        while r.poll_transmit(&mut buf).is_some() {}
        while let Some(e) = r.poll_event() {
            match e {
                ReceiverEvent::Frame { frame, .. } => {
                    assert_eq!(crc32fast::hash(&frame.data), frame.info.crc32);
                }
                // Only usable names name a sender.
                ReceiverEvent::SessionNamed { name, .. } => {
                    assert!(camwire::protocol::session_info::check_name(&name).is_ok());
                }
                // Only valid JSON is ever delivered.
                ReceiverEvent::Message { json, .. } => {
                    assert!(camwire::compat::tutorial::parse_json(&json).is_ok());
                }
                _ => {}
            }
        }
    }
});
