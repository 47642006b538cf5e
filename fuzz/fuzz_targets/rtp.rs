//! Any datagrams into the RTP/JPEG receiver, and any bytes as RTCP NACKs (several streams, depayloading, statistics): a
//! value or nothing, never a panic; every frame it gives is a JPEG that RFC 2435's rules made
//! (SOI first, EOI last); memory stays bounded by its limits.
#![no_main]
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use camwire::rtp::receive::{RtpConfig, RtpEvent, RtpReceiver};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The same bytes as RTCP, as a sender reads the NACKs that come back.
    for n in camwire::rtp::rtcp::nacks(data) {
        assert!(n.lost.len() <= 17 * camwire::rtp::rtcp::MAX_NACK_ENTRIES);
    }
    let t0 = Instant::now();
    let cfg = RtpConfig {
        max_frame_bytes: 1 << 16,
        x_dimensions: Some((2560, 1440)),
        nack: true,
    };
    let mut r = RtpReceiver::new(cfg, t0);
    let from = SocketAddr::from(([127, 0, 0, 1], 5004));
    // Datagrams are separated by a length byte; the clock steps 1 ms per datagram.
    let mut rest = data;
    let mut now = t0;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        r.handle_datagram(now, from, &tail[..n]);
        rest = &tail[n..];
        now += Duration::from_millis(1);
        if len == 0 {
            now += Duration::from_secs(3);
        }
        // Timers as a driver runs them: NACKs come due, streams go silent.
        r.handle_timeout(now);
        while let Some((_, nack)) = r.poll_transmit() {
            assert!(camwire::rtp::rtcp::is_rtcp(&nack));
        }
        while let Some(e) = r.poll_event() {
            if let RtpEvent::Frame { jpeg, .. } = e {
                assert!(jpeg.starts_with(&[0xFF, 0xD8]) && jpeg.ends_with(&[0xFF, 0xD9]));
            }
        }
    }
    let _ = r.stats();
});
