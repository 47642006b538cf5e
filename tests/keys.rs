//! Secured streams with the real programs on loopback: keys from every source, the stream
//! exact and shown only from key holders, and one clear line for each way the keys can
//! disagree.

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use camwire::protocol::link::{plain_datagram, TYPE_HELLO, TYPE_SEALED};
use camwire::protocol::wire::{Codec, Datagram, FrameInfo, VERSION};
use support::*;

const T: Duration = Duration::from_secs(30);

fn gen_key() -> String {
    let (st, out, err) = run(VIEW, &["--gen-key"], T);
    assert!(st.success(), "{err:?}");
    let key = out.trim().to_string();
    assert!(key.starts_with("cwk-") && key.len() == 68, "{key}");
    key
}

fn keyed_viewer(key: &str, extra: &[&str]) -> Proc {
    let mut args = vec!["--listen", "127.0.0.1:0", "--headless", "--stats-json"];
    args.extend_from_slice(extra);
    Proc::spawn_env(VIEW, &args, &[("CAMWIRE_KEY", key)])
}

#[test]
fn a_keyed_stream_arrives_exact_with_the_key_from_a_file_the_environment_or_a_flag() {
    let key = gen_key();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("camwire.key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let src = dir.path().join("in");
    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(&src).unwrap();
    let sent = write_jpegs(&src, 5, 320, 240);
    // The viewer takes the key from a file, the sender from the environment.
    let mut v = Proc::spawn_env(
        VIEW,
        &[
            "--listen",
            "127.0.0.1:0",
            "--headless",
            "--frames",
            "5",
            "--save",
            out_dir.to_str().unwrap(),
            "--stats-json",
            "--key-file",
            key_file.to_str().unwrap(),
        ],
        &[("CAMWIRE_KEY", "")],
    );
    let dest = v.listening_addr().to_string();
    let mut s = Proc::spawn_env(
        SEND,
        &[&dest, "--image", src.to_str().unwrap(), "--interval", "50"],
        &[("CAMWIRE_KEY", &key)],
    );
    let (vst, vout, verr) = v.finish(T);
    assert!(vst.success(), "{verr:?}");
    assert!(
        !verr.iter().any(|l| l.contains("without a key")),
        "a keyed viewer gives no open-port warning: {verr:?}"
    );
    let sum = summary(&vout);
    assert_eq!(sum["frames"], 5, "{sum}");
    for (i, want) in sent.iter().enumerate() {
        let got = std::fs::read(out_dir.join(format!("{i:08}.jpg")));
        assert!(got.is_ok_and(|g| &g == want), "frame {i}");
    }
    let _ = s.child.wait();
    // And --key on the command line works the same way.
    let mut v = keyed_viewer(&key, &["--frames", "3"]);
    let dest = v.listening_addr().to_string();
    let (st, _, err) = run(SEND, &[&dest, "--key", &key, "--frames", "3"], T);
    assert!(st.success(), "{err:?}");
    assert!(v.finish(T).0.success());
}

#[test]
fn keys_that_disagree_are_said_in_one_line_and_a_one_shot_sender_exits_nonzero() {
    let src = tempfile::tempdir().unwrap();
    write_jpegs(src.path(), 1, 64, 48);
    let file = src.path().join("frame_000.jpg");
    let file = file.to_str().unwrap();
    let (a, b) = (gen_key(), gen_key());

    // Different keys: the sender gives up within 5 s, saying what to check; the viewer
    // says once that a handshake with another key failed.
    let mut v = keyed_viewer(&a, &[]);
    let dest = v.listening_addr().to_string();
    let start = Instant::now();
    let (st, _, err) = run(SEND, &[&dest, "--image", file, "--key", &b], T);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(st.code(), Some(1), "{err:?}");
    let last = err.last().unwrap();
    assert!(
        last.contains("no answer to the keyed handshake") && last.contains("same key"),
        "{err:?}"
    );
    assert!(
        v.wait_line("its key differs from this viewer's", T)
            .is_some(),
        "{:?}",
        v.stderr
    );
    // No key at the sender: the keyed viewer says how to fix it, and shows nothing.
    let (st, _, _) = run(SEND, &[&dest, "--image", file, "--ack-timeout", "50"], T);
    assert_eq!(st.code(), Some(1));
    assert!(
        v.wait_line("datagrams without a key arrive", T).is_some(),
        "{:?}",
        v.stderr
    );
    v.interrupt();
    let (_, vout, verr) = v.finish(T);
    let sum = summary(&vout);
    assert_eq!(sum["frames"], 0, "{sum}");
    let unauth = sum["rejected_by_kind"]["unauthenticated"]
        .as_u64()
        .unwrap_or(0);
    assert!(unauth > 0, "{sum}");
    assert_eq!(
        verr.iter().filter(|l| l.contains("differs")).count(),
        1,
        "said once: {verr:?}"
    );

    // A key at the sender only: the keyless viewer names the fix.
    let mut v = Proc::spawn(
        VIEW,
        &["--listen", "127.0.0.1:0", "--headless", "--stats-json"],
    );
    let dest = v.listening_addr().to_string();
    let (st, _, err) = run(SEND, &[&dest, "--image", file, "--key", &a], T);
    assert_eq!(st.code(), Some(1), "{err:?}");
    assert!(
        v.wait_line("uses a key and this viewer has none", T)
            .is_some_and(|l| l.contains("--key")),
        "{:?}",
        v.stderr
    );
    v.interrupt();
    v.finish(T);
}

#[test]
fn a_streaming_sender_with_the_wrong_key_says_so_once_and_keeps_probing() {
    let mut v = keyed_viewer(&gen_key(), &[]);
    let dest = v.listening_addr().to_string();
    let mut s = Proc::spawn(SEND, &[&dest, "--key", &gen_key(), "--size", "320x240"]);
    let line = s.wait_line("no answer to the keyed handshake", Duration::from_secs(5));
    assert!(line.is_some(), "{:?}", s.stderr);
    // Still running: it probes until stopped.
    std::thread::sleep(Duration::from_millis(300));
    assert!(s.child.try_wait().unwrap().is_none(), "{:?}", s.stderr);
    s.interrupt();
    let (_, _, err) = s.finish(T);
    assert_eq!(
        err.iter()
            .filter(|l| l.contains("no answer to the keyed handshake"))
            .count(),
        1,
        "{err:?}"
    );
    v.interrupt();
    v.finish(T);
}

/// One-chunk frame of session `session`, as a keyless sender would send it: well formed, CRC
/// valid, datagram check valid.
fn forged_frame(session: u32, seq: u32, jpeg: &[u8]) -> Vec<u8> {
    let d = Datagram::Chunk {
        session,
        frame: FrameInfo {
            seq,
            count: 1,
            len: jpeg.len() as u32,
            crc32: crc32fast::hash(jpeg),
            codec: Codec::Jpeg,
            width: 64,
            height: 48,
            timestamp_us: 1,
        },
        index: 0,
        attempt: 0,
        payload: jpeg,
    };
    let mut b = vec![0u8; d.encoded_len()];
    d.encode(&mut b).unwrap();
    plain_datagram(&b)
}

#[test]
fn a_forger_without_the_key_never_takes_the_picture() {
    let key = gen_key();
    let dir = tempfile::tempdir().unwrap();
    let forged_jpeg = write_jpegs(dir.path(), 1, 64, 48).remove(0);
    let mut v = keyed_viewer(&key, &["--frames", "90"]);
    let vaddr = v.listening_addr();
    let s = Proc::spawn(
        SEND,
        &[
            &vaddr.to_string(),
            "--key",
            &key,
            "--size",
            "320x240",
            "--fps",
            "30",
        ],
    );
    v.wait_line("connected from", T).expect("the real sender");
    let forger = std::thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut rng = fastrand::Rng::with_seed(9);
        let start = Instant::now();
        let mut n = 0u32;
        while start.elapsed() < Duration::from_secs(2) {
            // Newer sessions with whole, valid frames (what took the picture before keys),
            // hellos and sealed datagrams with made-up MACs and tags.
            let _ = sock.send_to(&forged_frame(rng.u32(..), n, &forged_jpeg), vaddr);
            let mut h = vec![b'C', b'W', VERSION, TYPE_HELLO, 0, 0];
            h.extend((0..56).map(|_| rng.u8(..)));
            let _ = sock.send_to(&h, vaddr);
            let mut sealed = vec![b'C', b'W', VERSION, TYPE_SEALED, 0, rng.u8(0..2)];
            sealed.extend((0..200).map(|_| rng.u8(..)));
            let _ = sock.send_to(&sealed, vaddr);
            n += 1;
            if n.is_multiple_of(50) {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        n
    });
    let (vst, vout, verr) = v.finish(T);
    let forged = forger.join().unwrap();
    s.interrupt();
    s.finish(T);
    assert!(vst.success(), "{verr:?}");
    let sum = summary(&vout);
    assert_eq!(sum["frames"], 90, "{sum}");
    assert_eq!(
        sum["size"], "320x240",
        "only the real sender's pictures: {sum}"
    );
    assert_eq!(
        verr.iter().filter(|l| l.contains("connected from")).count(),
        1,
        "no forged session was ever shown: {verr:?}"
    );
    let unauth = sum["rejected_by_kind"]["unauthenticated"].as_u64().unwrap();
    assert!(unauth >= u64::from(forged), "{forged} rounds, {sum}");
}

#[test]
fn bad_keys_and_the_tutorial_are_refused_with_the_reason() {
    let cases: [(&[&str], &str); 4] = [
        (&["--key", "hunter2"], "can be guessed offline"),
        (&["--key", "cwk-1234"], "copy the whole line"),
        (
            &["--key-file", "/nonexistent/camwire.key"],
            "cannot read the key file",
        ),
        (
            &[
                "--compat",
                "tutorial",
                "--key",
                "correct horse battery staple",
            ],
            "--compat tutorial cannot carry a key",
        ),
    ];
    for bin in [SEND, VIEW] {
        for (args, want) in cases {
            let mut a = args.to_vec();
            if bin == VIEW {
                a.extend(["--headless", "--listen", "127.0.0.1:0"]);
            } else {
                a.extend(["127.0.0.1:9", "--frames", "1"]);
            }
            let (st, _, err) = run(bin, &a, T);
            assert_eq!(st.code(), Some(1), "{bin} {a:?}: {err:?}");
            let last = err.last().unwrap();
            assert!(last.contains(want), "{bin} {a:?}: {err:?}");
        }
    }
    // A viewer on every interface without a key says once how to add one.
    let mut v = Proc::spawn(
        VIEW,
        &["--listen", "0.0.0.0:0", "--headless", "--frames", "1"],
    );
    let w = v.wait_line("without a key", T).expect("the warning");
    assert!(
        w.contains("--gen-key") && w.contains("cam-send HOST --key-file"),
        "{w}"
    );
    v.interrupt();
    v.finish(T);
}
