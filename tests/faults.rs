//! The real binaries through a fault-injecting relay, under hostile input, and across
//! restarts of either side. Loopback only; every wait is bounded.

mod support;

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use camwire::protocol::link::plain_datagram;
use camwire::protocol::wire::{ACK_LEN, VERSION};
use support::relay::{Faults, Relay};
use support::*;

const T: Duration = Duration::from_secs(90);

/// Streams a looping folder of distinct JPEGs through the relay and checks every frame the
/// viewer saved against the file with the same sequence number (seq k is file k mod n: the
/// encoder pulls files in order at --fps 0 and every file pulled is given the next seq).
fn lossy_run(forward: Faults, back: Faults, seed: u64, frames: usize) -> serde_json::Value {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let sent = write_jpegs(src.path(), 8, 640, 480);
    let saved = out.path().join("saved");
    let n = frames.to_string();
    let mut v = Proc::spawn(
        VIEW,
        &[
            "--listen",
            "127.0.0.1:0",
            "--headless",
            "--frames",
            &n,
            "--save",
            saved.to_str().unwrap(),
            "--stats-json",
        ],
    );
    let relay = Relay::start(v.listening_addr(), forward, back, seed).unwrap();
    let s = Proc::spawn(
        SEND,
        &[
            &relay.addr().to_string(),
            "--image",
            src.path().to_str().unwrap(),
            "--loop",
            "--fps",
            "0",
            "--stats-json",
        ],
    );
    let (vst, vout, verr) = v.finish(T);
    s.interrupt();
    let (sst, _, serr) = s.finish(T);
    assert!(vst.success(), "viewer: {verr:?}");
    assert!(sst.success(), "sender: {serr:?}");
    check_saved(&saved, &sent, frames);
    let summary = summary(&vout);
    assert_eq!(summary["frames"], frames as u64);
    eprintln!(
        "faults {forward:?}: relay {:?}; viewer {summary}",
        relay.stats()
    );
    summary
}

/// Every saved file is the frame sent with its sequence number. Files count from the first
/// frame saved (sessions start at a random `seq`), which is the folder's first picture unless
/// that frame gave way to a newer one: the offset comes from the first file.
fn check_saved(dir: &Path, sent: &[Vec<u8>], expect: usize) {
    let mut files: Vec<(usize, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let n = p.file_stem().unwrap().to_str().unwrap().parse().unwrap();
            (n, std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    let (n0, first) = &files[0];
    assert_eq!(*n0, 0, "numbering starts at the first frame saved");
    let offset = sent
        .iter()
        .position(|f| f == first)
        .expect("the first saved frame is one that was sent");
    for (n, got) in &files {
        assert!(
            *got == sent[(n + offset) % sent.len()],
            "frame {n} is not the frame sent with that sequence number"
        );
    }
    assert_eq!(files.len(), expect);
}

fn with_loss(p: f64) -> (Faults, Faults) {
    let forward = Faults {
        drop: p,
        duplicate: 0.02,
        reorder: 0.05,
        reorder_by: Duration::from_millis(3),
        jitter: Duration::from_micros(500),
        ..Faults::default()
    };
    (forward, Faults::loss(p))
}

#[test]
fn no_loss_but_duplicates_and_reordering() {
    let (f, b) = with_loss(0.0);
    let s = lossy_run(f, b, 1, 40);
    assert_eq!(s["crc_failures"], 0);
}

#[test]
fn one_percent_loss() {
    let (f, b) = with_loss(0.01);
    lossy_run(f, b, 2, 40);
}

#[test]
fn five_percent_loss() {
    let (f, b) = with_loss(0.05);
    let s = lossy_run(f, b, 3, 40);
    assert!(
        s["nacks"].as_u64().unwrap() > 0,
        "loss was repaired by NACKs: {s}"
    );
    assert!(s["retransmitted_chunks"].as_u64().unwrap() > 0, "{s}");
}

#[test]
fn ten_percent_loss() {
    let (f, b) = with_loss(0.10);
    lossy_run(f, b, 4, 40);
}

#[test]
fn thirty_percent_loss_both_ways() {
    let (f, b) = with_loss(0.30);
    lossy_run(f, b, 5, 30);
}

#[test]
fn corrupted_and_truncated_datagrams_never_make_a_wrong_frame() {
    let forward = Faults {
        drop: 0.02,
        corrupt: 0.03,
        truncate: 0.02,
        ..Faults::default()
    };
    let back = Faults {
        corrupt: 0.05,
        truncate: 0.05,
        ..Faults::default()
    };
    let s = lossy_run(forward, back, 6, 40);
    assert!(s["rejected_datagrams"].as_u64().unwrap() > 0, "{s}");
}

/// Malformed datagrams of every kind, and plain junk.
fn junk(rng: &mut fastrand::Rng, i: usize) -> Vec<u8> {
    let v = VERSION;
    let mut chunk = vec![b'C', b'W', v, 1, 0, 0];
    chunk.extend_from_slice(&rng.u32(..).to_be_bytes()); // a random session
    chunk.extend_from_slice(&[0u8; 30]);
    let set = |b: &mut Vec<u8>, at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    // Well-formed at the link (their CRC-32 matches), so that the body's checks are reached.
    let checked = |body: &[u8]| plain_datagram(body);
    match i % 10 {
        0 => (0..rng.usize(0..1500)).map(|_| rng.u8(..)).collect(),
        1 => b"CW\x09\x01 wrong version".to_vec(),
        2 => vec![b'C', b'W', v],
        3 => {
            // absurd chunk count for the length
            set(&mut chunk, 16, &65_535u16.to_be_bytes());
            set(&mut chunk, 18, &10u32.to_be_bytes());
            chunk[26] = 1;
            checked(&chunk)
        }
        4 => {
            // index out of range
            set(&mut chunk, 14, &9u16.to_be_bytes());
            set(&mut chunk, 16, &2u16.to_be_bytes());
            set(&mut chunk, 18, &100u32.to_be_bytes());
            chunk[26] = 1;
            chunk.extend_from_slice(&[0; 50]);
            checked(&chunk)
        }
        5 => {
            // a lying length: 4 GB frame (over the cap)
            set(&mut chunk, 16, &65_535u16.to_be_bytes());
            set(&mut chunk, 18, &u32::MAX.to_be_bytes());
            chunk[26] = 1;
            chunk.extend_from_slice(&vec![0; 65_538]);
            chunk.truncate(40 + 65_538 - 4);
            checked(&chunk)
        }
        6 => {
            // payload that disagrees with the header
            set(&mut chunk, 16, &1u16.to_be_bytes());
            set(&mut chunk, 18, &500u32.to_be_bytes());
            chunk[26] = 1;
            chunk.extend_from_slice(&[0; 10]);
            checked(&chunk)
        }
        7 => {
            // a well-formed chunk of a one-chunk frame with a wrong frame CRC, every other
            // time damaged on the way (its datagram CRC-32 no longer matches)
            set(&mut chunk, 16, &1u16.to_be_bytes());
            set(&mut chunk, 18, &20u32.to_be_bytes());
            chunk[26] = 1;
            chunk.extend_from_slice(&[7; 20]);
            let mut d = checked(&chunk);
            if i % 20 == 17 {
                d[45] ^= 0x01;
            }
            d
        }
        8 => {
            // an ACK, which only a sender takes
            let mut ack = vec![b'C', b'W', v, 2, 0, 0, 0, 0, 0, 1];
            ack.resize(ACK_LEN, 0);
            checked(&ack)
        }
        _ => checked(&[&[b'C', b'W', v, 1, 0xff, 0xff, 0, 0, 0, 1][..], b" flags"].concat()),
    }
}

#[test]
fn a_flood_of_junk_does_not_stop_a_live_stream() {
    let mut v = Proc::spawn(
        VIEW,
        &[
            "--listen",
            "127.0.0.1:0",
            "--headless",
            "--frames",
            "60",
            "--stats-json",
        ],
    );
    let vaddr = v.listening_addr();
    let s = Proc::spawn(
        SEND,
        &[
            &vaddr.to_string(),
            "--size",
            "640x480",
            "--fps",
            "30",
            "--stats-json",
        ],
    );
    let flooder = std::thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut rng = fastrand::Rng::with_seed(42);
        let start = Instant::now();
        let mut sent = 0usize;
        // Bounded in count and time: 40,000 datagrams or 8 seconds.
        while sent < 40_000 && start.elapsed() < Duration::from_secs(8) {
            let d = junk(&mut rng, sent);
            let _ = sock.send_to(&d[..d.len().min(65_507)], vaddr);
            sent += 1;
            if sent.is_multiple_of(200) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        sent
    });
    let (vst, vout, verr) = v.finish(T);
    let sent_junk = flooder.join().unwrap();
    s.interrupt();
    let (sst, _, serr) = s.finish(T);
    assert!(vst.success(), "{verr:?}");
    assert!(sst.success(), "{serr:?}");
    let sum = summary(&vout);
    assert_eq!(sum["frames"], 60, "{sum}");
    assert_eq!(sum["decode_errors"], 0);
    let kinds = sum["rejected_by_kind"]
        .as_object()
        .expect("rejections by kind");
    for k in [
        "bad_magic",
        "bad_version",
        "truncated",
        "bad_chunking",
        "index_out_of_range",
        "length_mismatch",
        "unexpected_type",
        "bad_flags",
        "damaged",
    ] {
        assert!(
            kinds.get(k).and_then(|v| v.as_u64()).unwrap_or(0) > 0,
            "no {k}: {sum}"
        );
    }
    assert!(
        sum["crc_failures"].as_u64().unwrap() > 0,
        "forged frames were caught: {sum}"
    );
    eprintln!("flood: {sent_junk} junk datagrams; viewer {sum}");
}

#[test]
fn viewer_restart_is_picked_up_without_restarting_the_sender() {
    // The sender's destination is a relay's port, held for the whole test; each viewer binds
    // a port of its own and the relay forwards to whichever is current, so to the sender the
    // viewer at its destination stops and starts again.
    let relay = Relay::start_parked(Faults::default(), Faults::default(), 3).unwrap();
    let dest = relay.addr().to_string();
    let mut s = Proc::spawn(
        SEND,
        &[&dest, "--size", "320x240", "--fps", "30", "--stats-json"],
    );
    let view = || {
        let mut v = Proc::spawn(
            VIEW,
            &[
                "--headless",
                "--listen",
                "127.0.0.1:0",
                "--frames",
                "15",
                "--stats-json",
            ],
        );
        relay.set_upstream(v.listening_addr());
        v
    };
    let (st, out, err) = view().finish(T);
    assert!(st.success(), "{err:?}");
    assert_eq!(summary(&out)["frames"], 15);
    // The sender decides the viewer is gone and falls back to probing (bounded: 20 s).
    s.wait_line("probing for the viewer", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the sender never noticed the viewer left: {:?}", s.stderr));
    let started = Instant::now();
    let (st, out, err) = view().finish(T);
    assert!(st.success(), "{err:?}");
    assert_eq!(summary(&out)["frames"], 15);
    assert!(started.elapsed() < Duration::from_secs(10));
    s.interrupt();
    let (sst, _, serr) = s.finish(T);
    assert!(sst.success());
    let all = serr.join("\n");
    assert!(all.contains("probing for the viewer"), "{all}");
    assert!(all.contains("answers again"), "{all}");
}

#[test]
fn sender_restart_is_picked_up_at_once_and_silence_means_disconnected() {
    let mut v = Proc::spawn(
        VIEW,
        &["--headless", "--listen", "127.0.0.1:0", "--stats-json"],
    );
    let dest = v.listening_addr().to_string();
    // The first sender dies without a BYE (killed), the second starts at once.
    let mut first = Proc::spawn(SEND, &[&dest, "--size", "320x240", "--fps", "30"]);
    v.wait_line("connected from", Duration::from_secs(10))
        .unwrap();
    // The first sender has delivered at least 10 frames before it dies: with the second's
    // 30, the viewer's total is at least 40 (checked below).
    v.wait_reported_frames(10, T);
    first.child.kill().unwrap();
    let _ = first.child.wait();
    let second = Proc::spawn(
        SEND,
        &[&dest, "--size", "320x240", "--fps", "30", "--frames", "30"],
    );
    let (sst, _, serr) = second.finish(T);
    assert!(sst.success(), "{serr:?}");
    // A BYE from the second: disconnected within a second.
    v.wait_line("said goodbye", Duration::from_secs(2))
        .expect("BYE shown as a disconnect");
    let connects = v
        .stderr
        .iter()
        .filter(|l| l.contains("connected from"))
        .count();
    assert_eq!(connects, 2, "{:?}", v.stderr);
    assert!(
        v.stderr
            .iter()
            .any(|l| l.contains("replaced by a newer sender")),
        "{:?}",
        v.stderr
    );
    v.interrupt();
    let (vst, vout, _) = v.finish(T);
    assert!(vst.success());
    let sum = summary(&vout);
    assert!(sum["frames"].as_u64().unwrap() >= 40, "{sum}");
    assert_eq!(sum["peer"], "disconnected");

    // Silence: a killed sender is reported disconnected after the session timeout.
    let mut v = Proc::spawn(VIEW, &["--headless", "--listen", "127.0.0.1:0"]);
    let dest = v.listening_addr().to_string();
    let mut s = Proc::spawn(SEND, &[&dest, "--size", "160x120", "--fps", "30"]);
    v.wait_line("connected from", Duration::from_secs(10))
        .unwrap();
    s.child.kill().unwrap();
    let _ = s.child.wait();
    let killed = Instant::now();
    v.wait_line("went silent", Duration::from_secs(5))
        .expect("silence shown as a disconnect");
    assert!(killed.elapsed() < Duration::from_secs(4));
}
