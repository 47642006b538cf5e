//! The seeded fault relay's own tests: same seed, same faults; reordering; both directions
//! on loopback.

#[path = "support/relay.rs"]
#[allow(dead_code)]
mod relay;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use relay::{FaultModel, Faults, Relay};

#[test]
fn same_seed_same_faults() {
    let f = Faults {
        drop: 0.2,
        duplicate: 0.1,
        corrupt: 0.1,
        jitter: Duration::from_millis(3),
        ..Faults::default()
    };
    let run = |seed| {
        let t0 = Instant::now();
        let mut m = FaultModel::new(f, seed);
        for i in 0..1000u32 {
            m.push(t0, &i.to_be_bytes());
        }
        let mut out = Vec::new();
        while let Some(d) = m.poll(t0 + Duration::from_secs(1)) {
            out.push(d);
        }
        (out, m.stats())
    };
    let (a, sa) = run(7);
    let (b, sb) = run(7);
    assert_eq!(a, b);
    assert_eq!(sa, sb);
    let (c, _) = run(8);
    assert_ne!(a, c);
    // Roughly the asked-for rates.
    assert!((150..250).contains(&sa.dropped), "{sa:?}");
    assert!((50..130).contains(&sa.duplicated), "{sa:?}");
    assert_eq!(a.len() as u64, 1000 - sa.dropped + sa.duplicated);
}

#[test]
fn reorder_lets_later_datagrams_overtake() {
    let t0 = Instant::now();
    let f = Faults {
        reorder: 1.0,
        reorder_by: Duration::from_millis(5),
        ..Faults::default()
    };
    let mut m = FaultModel::new(f, 1);
    m.push(t0, b"first");
    let mut plain = FaultModel::new(Faults::default(), 1);
    plain.push(t0, b"second");
    assert_eq!(m.poll(t0), None, "held back");
    assert_eq!(plain.poll(t0).as_deref(), Some(&b"second"[..]));
    assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_millis(5)));
    assert_eq!(
        m.poll(t0 + Duration::from_millis(5)).as_deref(),
        Some(&b"first"[..])
    );
}

#[test]
fn relay_forwards_both_ways_on_loopback() {
    let viewer = UdpSocket::bind("127.0.0.1:0").unwrap();
    viewer
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let relay = Relay::start(
        viewer.local_addr().unwrap(),
        Faults::default(),
        Faults::default(),
        1,
    )
    .unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    sender.send_to(b"ping", relay.addr()).unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = viewer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    viewer.send_to(b"pong", from).unwrap();
    let (n, back_from) = sender.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"pong");
    assert_eq!(back_from, relay.addr());
    assert_eq!(relay.stats().0.received, 1);
}
