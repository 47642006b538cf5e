//! The protocol's own cost per frame: packetizing (`Sender::push_frame` + `poll_transmit`,
//! which includes the frame's CRC) and reassembly (`Reassembler::insert` of every chunk, in
//! order and shuffled, which includes the CRC check), for a 75 KB (720p) and a 160 KB (1080p)
//! JPEG at the default MTU of 1200; and a whole frame through both machines and the link
//! (`link`: sender to viewer and its ACK back), keyless against keyed, which is what a key
//! costs per frame. Run with `cargo bench --bench transport`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use camwire::protocol::key::Key;
use camwire::protocol::link::plain_body;
use camwire::protocol::reassembly::{Insert, Reassembler, ReassemblyConfig};
use camwire::protocol::receiver::{Receiver, ReceiverConfig, ReceiverEvent};
use camwire::protocol::sender::{OutgoingFrame, Sender, SenderConfig};
use camwire::protocol::wire::{self, Codec, Datagram, FrameInfo};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const MTU: usize = 1200;
/// Frame sizes of the 720p and 1080p test frame at quality 80.
const FRAMES: [(&str, usize); 2] = [("75KB", 75_000), ("160KB", 160_000)];

fn frame_bytes(len: usize) -> Vec<u8> {
    // JPEG entropy-coded data looks random; so does this, and the CRC does not care.
    let mut rng = fastrand::Rng::with_seed(len as u64);
    (0..len).map(|_| rng.u8(..)).collect()
}

fn outgoing(data: Vec<u8>) -> OutgoingFrame {
    OutgoingFrame {
        data,
        codec: Codec::Jpeg,
        width: 1280,
        height: 720,
        timestamp_us: 1,
    }
}

fn packetize(c: &mut Criterion) {
    let mut g = c.benchmark_group("packetize");
    for (name, len) in FRAMES {
        g.throughput(Throughput::Bytes(len as u64));
        // Unpaced: with one instant per iteration a paced sender would stop after its first
        // burst of 32, and the bench would time that burst instead of the frame.
        let cfg = SenderConfig {
            mtu: MTU,
            pace_per_sec: 0.0,
            ..SenderConfig::default()
        };
        let mut sender = Sender::new(cfg, 0x1234_5678);
        let first = frame_bytes(len);
        let mut buf = vec![0u8; MTU];
        g.bench_function(BenchmarkId::new("push_frame+poll_transmit", name), |b| {
            b.iter(|| {
                // Pushing a frame abandons the previous one and hands back its buffer, so
                // no iteration pays for a copy of the frame.
                let data = sender.take_spare_buffer().unwrap_or_else(|| first.clone());
                let now = Instant::now();
                sender.push_frame(now, outgoing(data)).unwrap();
                let mut n = 0;
                while let Some(len) = sender.poll_transmit(now, &mut buf) {
                    n += black_box(&buf[..len]).len();
                }
                while sender.poll_event().is_some() {}
                n
            })
        });
        let data = frame_bytes(len);
        g.bench_function(BenchmarkId::new("crc32fast", name), |b| {
            b.iter(|| crc32fast::hash(black_box(&data)))
        });
    }
    g.finish();
}

/// Every chunk of one frame as the receiver parses it: (frame info, index, payload).
fn chunks(len: usize) -> Vec<(FrameInfo, u16, Vec<u8>)> {
    // Unpaced: with a fixed `now`, a paced sender would stop after its first burst.
    let mut sender = Sender::new(
        SenderConfig {
            mtu: MTU,
            pace_per_sec: 0.0,
            ..SenderConfig::default()
        },
        7,
    );
    let now = Instant::now();
    sender.push_frame(now, outgoing(frame_bytes(len))).unwrap();
    let mut buf = vec![0u8; MTU];
    let mut out = Vec::new();
    while let Some(n) = sender.poll_transmit(now, &mut buf) {
        let body = plain_body(&buf[..n]).expect("a keyless datagram");
        match wire::parse(body).unwrap() {
            Datagram::Chunk {
                frame,
                index,
                payload,
                ..
            } => out.push((frame, index, payload.to_vec())),
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

fn reassembly(c: &mut Criterion) {
    let mut g = c.benchmark_group("reassembly");
    for (name, len) in FRAMES {
        g.throughput(Throughput::Bytes(len as u64));
        let in_order = chunks(len);
        let mut shuffled = in_order.clone();
        fastrand::Rng::with_seed(3).shuffle(&mut shuffled);
        for (order, list) in [("in order", &in_order), ("shuffled", &shuffled)] {
            let mut r = Reassembler::new(ReassemblyConfig {
                partial_timeout: Duration::from_secs(3600),
                ..ReassemblyConfig::default()
            });
            let mut seq = 0u32;
            let now = Instant::now();
            g.bench_function(
                BenchmarkId::new(format!("insert all, {order}"), name),
                |b| {
                    b.iter(|| {
                        // A fresh sequence number each time: a finished frame's chunks are dropped
                        // as duplicates, which would measure the wrong path.
                        seq = seq.wrapping_add(1);
                        let mut done = false;
                        for (info, index, payload) in list.iter() {
                            let info = FrameInfo { seq, ..*info };
                            match r.insert(now, 1, &info, *index, 0, payload) {
                                Insert::Stored => {}
                                Insert::Complete(f) => {
                                    done = true;
                                    r.recycle(black_box(f).data);
                                }
                                other => panic!("unexpected {other:?}"),
                            }
                        }
                        assert!(done);
                    })
                },
            );
        }
        let datagrams: Vec<Vec<u8>> = {
            let mut s = Sender::new(
                SenderConfig {
                    mtu: MTU,
                    ..SenderConfig::default()
                },
                9,
            );
            let now = Instant::now();
            s.push_frame(now, outgoing(frame_bytes(len))).unwrap();
            let mut buf = vec![0u8; MTU];
            std::iter::from_fn(|| s.poll_transmit(now, &mut buf).map(|n| buf[..n].to_vec()))
                .collect()
        };
        g.bench_function(BenchmarkId::new("wire::parse all chunks", name), |b| {
            b.iter(|| {
                datagrams
                    .iter()
                    .filter(|d| wire::parse(black_box(d)).is_ok())
                    .count()
            })
        });
    }
    g.finish();
}

/// One frame from `s` to `r`, every datagram in order, and the viewer's answers back.
fn transfer(s: &mut Sender, r: &mut Receiver, data: Vec<u8>, buf: &mut [u8]) -> usize {
    let now = Instant::now();
    let from = "127.0.0.1:9".parse().unwrap();
    s.push_frame(now, outgoing(data)).unwrap();
    let mut delivered = 0;
    for _ in 0..4 {
        while let Some(n) = s.poll_transmit(now, buf) {
            r.handle_datagram(now, from, &buf[..n]);
        }
        while let Some((_, n)) = r.poll_transmit(buf) {
            s.handle_datagram(now, &buf[..n]);
        }
        while let Some(e) = r.poll_event() {
            if let ReceiverEvent::Frame { frame, .. } = e {
                delivered += frame.data.len();
                r.recycle(frame.data);
            }
        }
        if s.is_idle() {
            break;
        }
    }
    while s.poll_event().is_some() {}
    delivered
}

fn link(c: &mut Criterion) {
    let mut g = c.benchmark_group("link");
    let key = Key::from_bytes([7; 32]);
    for (name, len) in FRAMES {
        g.throughput(Throughput::Bytes(len as u64));
        for keyed in [false, true] {
            let cfg = SenderConfig {
                mtu: MTU,
                pace_per_sec: 0.0,
                ..SenderConfig::default()
            };
            let (mut s, mut r) = if keyed {
                (
                    Sender::keyed(cfg, 1, &key),
                    Receiver::keyed(ReceiverConfig::default(), &key),
                )
            } else {
                (
                    Sender::new(cfg, 1),
                    Receiver::new(ReceiverConfig::default()),
                )
            };
            let mut buf = vec![0u8; 1500];
            // The handshake (keyed) and a first frame, outside the measurement.
            assert_eq!(transfer(&mut s, &mut r, frame_bytes(len), &mut buf), len);
            let label = if keyed { "keyed" } else { "keyless" };
            g.bench_function(BenchmarkId::new(label, name), |b| {
                b.iter(|| {
                    let data = s.take_spare_buffer().unwrap_or_else(|| frame_bytes(len));
                    let n = transfer(&mut s, &mut r, data, &mut buf);
                    assert_eq!(n, len);
                    n
                })
            });
        }
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = packetize, reassembly, link }
criterion_main!(benches);
