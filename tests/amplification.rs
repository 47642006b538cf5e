//! No amplification (#11): a datagram must not cost the viewer memory or time out of
//! proportion to its size. A live 720p30 stream runs on loopback while a thread floods the
//! viewer's port with small well-formed chunks of made-up sessions that each claim a 16 MiB
//! frame in 65,281 chunks (297-byte datagrams). A viewer that sized or zero-filled a frame by
//! its claim spends a millisecond or more on each (16 MiB), falls a whole queue behind and
//! loses the real stream's chunks; one whose memory follows the bytes that arrived keeps up
//! and shows the stream.
//!
//! Measured on a busy 2-core machine: with `ChunkBuffer` zero-filling the claim, the viewer
//! showed about one frame in five at 2,000 forged datagrams a second, and the same at 20,000;
//! with memory following the bytes, every frame at 50,000 and 100,000, and 93-98% with the
//! flood unthrottled (200,000+ a second from one thread, which there leaves the viewer's
//! threads less than a core: a test of the machine, not of the viewer). The flood therefore
//! runs at [`FLOOD_RATE`], 25 times the rate that already ruins the old viewer;
//! `CAMWIRE_FLOOD_RATE=N` (datagrams a second, 0 for as fast as possible) overrides it.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use camwire::media::codec::encode_rgb;
use camwire::media::pattern::Pattern;
use camwire::protocol::link::plain_datagram;
use camwire::protocol::reassembly::DEFAULT_MAX_FRAME_BYTES;
use camwire::protocol::wire::{chunk_count, Codec, Datagram, FrameInfo};
use support::*;

const T: Duration = Duration::from_secs(60);
/// Frames the sender puts on the wire before it stops (`--frames`): five seconds at 30 fps
/// when the viewer keeps up, all of it under the flood.
const FRAMES: u64 = 150;

/// Forged datagrams a second (0: as fast as one thread can): about 15 MB/s, six times the
/// stream's bytes and over twenty times its datagrams.
const FLOOD_RATE: f64 = 50_000.0;
/// The weakest flood that proves anything: five times the rate at which a viewer that
/// zero-fills each claim already loses most frames.
const MIN_FLOOD_RATE: f64 = 10_000.0;

/// The flood ends with the sender's last frame, or after this long at most (a viewer it
/// hurts may take much longer to show the sender's frames).
const FLOOD_MAX: Duration = Duration::from_secs(10);

/// What the flooding thread did.
struct Flood {
    datagrams: u64,
    bytes: u64,
    elapsed: Duration,
}

/// Sends forged chunks to `to`, `rate` a second (0: as fast as one thread can), until `stop`
/// or [`FLOOD_MAX`]: each of a new random session and frame, claiming the largest frame the
/// viewer takes (16 MiB) in the most chunks the wire allows for it, so that each datagram is
/// as small as such a claim can be. Built with the library's encoder, so they are valid for
/// whatever the wire format is.
fn flood(to: SocketAddr, rate: f64, stop: Arc<AtomicBool>, seed: u64) -> Flood {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = fastrand::Rng::with_seed(seed);
    let len = DEFAULT_MAX_FRAME_BYTES;
    // 257-byte chunks: the smallest a 16 MiB frame can be cut into (65,281 of them).
    let count = chunk_count(len, 297).unwrap();
    let zeros = vec![0u8; 1500];
    let mut buf = vec![0u8; 1500];
    let start = Instant::now();
    let (mut datagrams, mut bytes) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) && start.elapsed() < FLOOD_MAX {
        if rate > 0.0 && datagrams as f64 >= rate * start.elapsed().as_secs_f64() {
            thread::sleep(Duration::from_millis(1));
            continue;
        }
        let frame = FrameInfo {
            seq: rng.u32(..),
            count,
            len: len as u32,
            crc32: rng.u32(..),
            codec: Codec::Jpeg,
            width: 1280,
            height: 720,
            timestamp_us: 0,
        };
        let index = rng.u16(..count);
        let d = Datagram::Chunk {
            session: rng.u32(..),
            frame,
            index,
            attempt: 0,
            payload: &zeros[..frame.chunk_range(index).len()],
        };
        let n = d.encode(&mut buf).unwrap();
        // With its CRC-32, as a keyless sender sends it: well formed at the link, so that
        // each one reaches reassembly.
        let datagram = plain_datagram(&buf[..n]);
        // A full socket buffer (ENOBUFS) is the flood doing its job: go on.
        if sock.send_to(&datagram, to).is_ok() {
            datagrams += 1;
            bytes += datagram.len() as u64;
        }
    }
    Flood {
        datagrams,
        bytes,
        elapsed: start.elapsed(),
    }
}

/// The first `n` frames of the built-in 720p test pattern as JPEG files, quality 80 (what
/// `cam-send --pattern` sends). Sent from files, they cost the sender no encoding: on a small
/// machine the viewer, not the sender's encoder, is then what the test measures.
fn pattern_jpegs(dir: &Path, n: u64) {
    let pattern = Pattern::new(1280, 720);
    let mut rgb = Vec::new();
    let mut jpeg = Vec::new();
    for i in 0..n {
        pattern.render(i, &mut rgb);
        encode_rgb(&rgb, 1280, 720, 80, &mut jpeg).unwrap();
        std::fs::write(dir.join(format!("frame_{i:03}.jpg")), &jpeg).unwrap();
    }
}

#[test]
fn a_flood_of_chunks_claiming_16_mib_frames_does_not_starve_a_720p_stream() {
    let src = tempfile::tempdir().unwrap();
    pattern_jpegs(src.path(), 30);
    let mut v = Proc::spawn(
        VIEW,
        &["--listen", "127.0.0.1:0", "--headless", "--stats-json"],
    );
    let vaddr = v.listening_addr();
    let frames = FRAMES.to_string();
    let s = Proc::spawn(
        SEND,
        &[
            &vaddr.to_string(),
            "--image",
            src.path().to_str().unwrap(),
            "--loop",
            "--fps",
            "30",
            "--frames",
            &frames,
            "--stats-json",
        ],
    );
    // The flood starts once the stream is shown: a session that has never completed a frame
    // cannot be told from the flood's made-up ones, so nothing protects its first frame (9.3).
    assert!(
        v.wait_line("connected from", Duration::from_secs(20))
            .is_some(),
        "no stream before the flood; viewer: {:?}",
        v.stderr
    );
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = {
        let stop = stop.clone();
        let rate = std::env::var("CAMWIRE_FLOOD_RATE")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(FLOOD_RATE);
        thread::spawn(move || flood(vaddr, rate, stop, 11))
    };
    // The flood lasts as long as the sender sends (or FLOOD_MAX).
    let (sst, sout, serr) = s.finish(T);
    stop.store(true, Ordering::Relaxed);
    let fl = flooder.join().unwrap();
    // The sender's BYE ends the session at the viewer once it has caught up.
    let bye = v
        .wait_line("said goodbye", Duration::from_secs(10))
        .is_some();
    v.interrupt();
    let (vst, vout, verr) = v.finish(T);
    assert!(sst.success(), "sender: {serr:?}");
    assert!(vst.success(), "viewer: {verr:?}");
    let sent = summary(&sout);
    let seen = summary(&vout);
    // Every frame the sender's source produced was acknowledged or dropped for a newer one:
    // abandoned on the wire, or never sent because the viewer had not yet acknowledged the
    // one before (dropped_frames counts both).
    let count = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap();
    let produced = count(&sent, "frames") + count(&sent, "dropped_frames");
    let shown = count(&seen, "frames");
    let secs = fl.elapsed.as_secs_f64();
    eprintln!(
        "flood: {} datagrams ({:.1} MB) in {secs:.2} s = {:.0}/s, claiming {:.0} TiB of frames; \
         sender produced {produced} ({sent}); viewer delivered {shown} ({seen}); \
         bye seen: {bye}",
        fl.datagrams,
        fl.bytes as f64 / 1e6,
        fl.datagrams as f64 / secs,
        fl.datagrams as f64 * DEFAULT_MAX_FRAME_BYTES as f64 / (1u64 << 40) as f64,
    );
    // Enough that a viewer spending even a millisecond on each (zeroing 16 MiB takes longer)
    // could not keep up. A loopback send takes a few microseconds.
    assert!(
        fl.datagrams as f64 >= MIN_FLOOD_RATE * secs && secs >= 3.0,
        "the flood was too weak to prove anything: {} datagrams in {secs:.2} s",
        fl.datagrams
    );
    // The flood reached reassembly: the viewer took every forged datagram for a chunk and
    // started a partial frame for it (given up for the next one's room), unless its queue
    // was full. A wire change that made the viewer refuse them would prove nothing: build
    // them as the library sends datagrams.
    let forged = fl.datagrams;
    assert!(
        count(&seen, "rejected_datagrams") * 100 <= forged,
        "the viewer refused the flood as invalid, so it tested nothing: {seen}"
    );
    assert!(
        (count(&seen, "dropped_frames") + count(&seen, "deferred_datagrams")) * 10 >= forged * 9,
        "the flood did not reach reassembly: {forged} sent, {seen}"
    );
    assert!(
        shown * 100 >= produced * 95,
        "the viewer delivered {shown} of {produced} frames under the flood"
    );
}
