//! Arbitrary datagrams from a few senders into the tutorial-compatible receiver, with time
//! moving on: no panic, buffers bounded by what a header announced, and every picture given
//! up in the end.
#![no_main]
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use camwire::compat::tutorial::{TutorialConfig, TutorialReceiver};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = TutorialConfig {
        max_picture: 1 << 20,
        ..TutorialConfig::default()
    };
    let mut r = TutorialReceiver::new(cfg);
    let mut now = Instant::now();
    // Each record: sender (low 2 bits) and length byte, a time step byte, then the datagram.
    let mut rest = data;
    while rest.len() >= 3 {
        let from = SocketAddr::from(([127, 0, 0, 1], 1000 + u16::from(rest[0] & 3)));
        let len = rest[1] as usize * 8;
        now += Duration::from_millis(u64::from(rest[2]));
        rest = &rest[3..];
        let d = &rest[..len.min(rest.len())];
        rest = &rest[d.len()..];
        r.handle_datagram(now, from, d);
        r.handle_timeout(now);
        while r.poll_transmit().is_some() {}
        while let Some(e) = r.poll_event() {
            let camwire::compat::tutorial::TutorialEvent::Picture { jpeg, .. } = e;
            assert!(!jpeg.is_empty() && jpeg.len() <= 1 << 20);
        }
    }
    r.handle_timeout(now + Duration::from_secs(10));
    assert!(r.poll_timeout().is_none());
});
