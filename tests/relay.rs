//! The seeded fault relay's own tests: same seed, same faults; reordering; the bandwidth
//! bottleneck and its queue on a virtual clock; both directions, delay and rate on loopback.

#[path = "support/relay.rs"]
#[allow(dead_code)]
mod relay;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use relay::{queue_bytes_for, FaultModel, Faults, Relay, DEFAULT_QUEUE};

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

/// Runs `m` on a virtual clock: each datagram pushed at its instant (in order), each release
/// taken at exactly its release time. Returns what came out, with when.
fn simulate(m: &mut FaultModel, input: &[(Instant, Vec<u8>)]) -> Vec<(Instant, Vec<u8>)> {
    let mut out = Vec::new();
    let mut release_due = |m: &mut FaultModel, until: Option<Instant>| {
        while let Some(t) = m.poll_timeout().filter(|t| until.is_none_or(|u| *t <= u)) {
            out.push((t, m.poll(t).expect("due at its own release time")));
        }
    };
    for (at, d) in input {
        release_due(m, Some(*at));
        m.push(*at, d);
    }
    release_due(m, None);
    out
}

/// A datagram of `len` bytes carrying the number `i`.
fn datagram(i: u32, len: usize) -> Vec<u8> {
    let mut d = vec![0u8; len];
    d[..4].copy_from_slice(&i.to_be_bytes());
    d
}

/// `n` datagrams of `len` bytes, one every `gap` from `t0`, numbered from 0.
fn stream(t0: Instant, n: u32, len: usize, gap: Duration) -> Vec<(Instant, Vec<u8>)> {
    (0..n).map(|i| (t0 + gap * i, datagram(i, len))).collect()
}

/// `a` is `b` to within a microsecond (serialization times are rounded to nanoseconds).
fn close(a: Duration, b: Duration) -> bool {
    a.abs_diff(b) < Duration::from_micros(1)
}

fn number(d: &[u8]) -> u32 {
    u32::from_be_bytes(d[..4].try_into().unwrap())
}

/// Bits per second between the first and the last release.
fn throughput(out: &[(Instant, Vec<u8>)]) -> f64 {
    let span = (out.last().unwrap().0 - out[0].0).as_secs_f64();
    let bits: usize = out[1..].iter().map(|(_, d)| d.len() * 8).sum();
    bits as f64 / span
}

#[test]
fn bottleneck_throughput_matches_the_rate() {
    // 10 Mbit/s offered for 2 s into a 5 Mbit/s bottleneck with the default queue: the
    // output runs at the bottleneck's rate and about half is tail-dropped.
    let t0 = Instant::now();
    let rate = 5e6;
    let mut m = FaultModel::new(Faults::bottleneck(rate), 1);
    let gap = Duration::from_secs_f64(1200.0 * 8.0 / 10e6);
    let out = simulate(&mut m, &stream(t0, 2083, 1200, gap));
    let bps = throughput(&out);
    assert!(
        (bps / rate - 1.0).abs() < 0.01,
        "{bps} bit/s through {rate}"
    );
    let st = m.stats();
    assert_eq!(out.len() as u64, st.received - st.queue_dropped);
    assert!((900..1100).contains(&st.queue_dropped), "{st:?}");
    // The queue filled to its limit, and no further.
    let limit = queue_bytes_for(rate, DEFAULT_QUEUE) as u64;
    assert_eq!(limit, 125_000);
    assert!(
        st.queue_peak_bytes <= limit && st.queue_peak_bytes > limit - 1200,
        "{st:?}"
    );

    // Datagrams of mixed sizes, all at once into a queue that holds them: still the rate.
    let roomy = Faults {
        queue_bytes: 1 << 20,
        ..Faults::bottleneck(rate)
    };
    let mut m = FaultModel::new(roomy, 1);
    let burst: Vec<_> = (0..300u32)
        .map(|i| (t0, datagram(i, 100 + (i as usize * 397) % 1300)))
        .collect();
    let out = simulate(&mut m, &burst);
    assert_eq!(out.len(), 300, "{:?}", m.stats());
    let bps = throughput(&out);
    assert!(
        (bps / rate - 1.0).abs() < 0.01,
        "{bps} bit/s through {rate}"
    );
}

#[test]
fn below_the_rate_nothing_waits_long() {
    // 2.5 Mbit/s through 5 Mbit/s: each datagram leaves one serialization time after it came.
    let t0 = Instant::now();
    let mut m = FaultModel::new(Faults::bottleneck(5e6), 1);
    let input = stream(t0, 500, 1250, Duration::from_millis(4));
    let out = simulate(&mut m, &input);
    assert_eq!(out.len(), 500);
    for ((at, _), (left, _)) in input.iter().zip(&out) {
        assert!(close(*left - *at, Duration::from_millis(2)));
    }
    assert_eq!(m.stats().queue_peak_bytes, 0, "nothing ever waited");
}

#[test]
fn bottleneck_queue_limit_is_enforced() {
    let t0 = Instant::now();
    // 1 Mbit/s: a 1250-byte datagram takes 10 ms. Room for 10 to wait.
    let f = Faults {
        rate_bps: Some(1e6),
        queue_bytes: 12_500,
        ..Faults::default()
    };
    let mut m = FaultModel::new(f, 1);
    // 20 at once: one goes on the wire, 10 wait, 9 are tail-dropped.
    let mut input = stream(t0, 20, 1250, Duration::ZERO);
    // 25 ms later two have left: one on the wire, 8 waiting, so 2 more fit and the third not.
    input.extend((100..103).map(|i| (t0 + Duration::from_millis(25), datagram(i, 1250))));
    let out = simulate(&mut m, &input);
    let st = m.stats();
    assert_eq!(st.queue_dropped, 9 + 1, "{st:?}");
    assert_eq!(st.queue_peak_bytes, 12_500);
    let got: Vec<u32> = out.iter().map(|(_, d)| number(d)).collect();
    let mut want: Vec<u32> = (0..11).collect();
    want.extend([100, 101]);
    assert_eq!(got, want, "the tail is dropped, in order");
    // Back to back at the rate, from t0.
    for (i, (t, _)) in out.iter().enumerate() {
        assert!(close(*t - t0, Duration::from_millis(10) * (i as u32 + 1)));
    }

    // A datagram larger than the queue still passes an idle link: it never waits.
    let small = Faults {
        queue_bytes: 100,
        ..f
    };
    let mut m = FaultModel::new(small, 1);
    let out = simulate(&mut m, &stream(t0, 2, 1250, Duration::ZERO));
    assert_eq!(out.len(), 1);
    assert_eq!(m.stats().queue_dropped, 1);
}

#[test]
fn delay_comes_after_the_bottleneck_and_order_is_kept() {
    let t0 = Instant::now();
    let f = Faults {
        delay: Duration::from_millis(30),
        ..Faults::bottleneck(1e6)
    };
    let mut m = FaultModel::new(f, 1);
    // 10 ms to serialize each, then 30 ms on the way.
    let out = simulate(&mut m, &stream(t0, 3, 1250, Duration::ZERO));
    assert_eq!(out.len(), 3);
    for ((t, _), ms) in out.iter().zip([40, 50, 60]) {
        let want = Duration::from_millis(ms);
        assert!(close(*t - t0, want), "{:?}, not {want:?}", *t - t0);
    }

    // Mixed sizes and irregular arrivals, some faster than the rate: the order is kept and
    // each release is at least serialization + delay after its arrival.
    let mut rng = fastrand::Rng::with_seed(5);
    let mut at = t0;
    let input: Vec<_> = (0..2000u32)
        .map(|i| {
            at += Duration::from_micros(rng.u64(0..4000));
            (at, datagram(i, rng.usize(4..1400)))
        })
        .collect();
    let mut m = FaultModel::new(f, 1);
    let out = simulate(&mut m, &input);
    assert!(m.stats().queue_dropped > 0, "the queue overflowed at times");
    let mut last = (t0, None);
    for (t, d) in &out {
        let i = number(d);
        assert!(last.1.is_none_or(|p| p < i), "order kept");
        assert!(*t >= last.0);
        let (arrived, _) = &input[i as usize];
        let serialize = Duration::from_secs_f64(d.len() as f64 * 8.0 / 1e6);
        assert!(*t >= *arrived + serialize + f.delay);
        last = (*t, Some(i));
    }
    // The same input, the same output.
    let mut again = FaultModel::new(f, 1);
    assert_eq!(simulate(&mut again, &input), out);
}

#[test]
fn relay_delays_and_paces_on_loopback() {
    let viewer = UdpSocket::bind("127.0.0.1:0").unwrap();
    viewer
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let forward = Faults {
        delay: Duration::from_millis(20),
        ..Faults::bottleneck(8e6)
    };
    let relay = Relay::start(viewer.local_addr().unwrap(), forward, Faults::default(), 1).unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let t0 = Instant::now();
    for i in 0..50 {
        sender.send_to(&datagram(i, 1000), relay.addr()).unwrap();
    }
    // 50 KB at 8 Mbit/s takes 50 ms to pass the bottleneck, then 20 ms on the way. A busy
    // machine can make the relay late, never early: only lower bounds are checked.
    let mut buf = [0u8; 2048];
    let mut got = Vec::new();
    for _ in 0..50 {
        let n = viewer.recv(&mut buf).unwrap();
        got.push((t0.elapsed(), number(&buf[..n])));
    }
    assert_eq!(
        got.iter().map(|g| g.1).collect::<Vec<_>>(),
        (0..50).collect::<Vec<_>>()
    );
    assert!(got[0].0 >= Duration::from_millis(21), "{:?}", got[0]);
    assert!(got[49].0 >= Duration::from_millis(70), "{:?}", got[49]);
    assert_eq!(relay.stats().0.queue_dropped, 0);
}
