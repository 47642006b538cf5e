//! The real binaries on 127.0.0.1 with ephemeral ports. Every wait is bounded.

mod support;

use std::time::Duration;

use support::*;

const T: Duration = Duration::from_secs(60);

fn viewer(args: &[&str]) -> Proc {
    let mut all = vec!["--listen", "127.0.0.1:0", "--headless"];
    all.extend_from_slice(args);
    Proc::spawn(VIEW, &all)
}

#[test]
fn pattern_720p_300_frames_all_arrive_and_decode() {
    let mut v = viewer(&["--frames", "300", "--stats-json"]);
    let dest = v.listening_addr().to_string();
    let (s_status, s_out, s_err) = run(
        SEND,
        &[
            &dest,
            "--pattern",
            "--size",
            "1280x720",
            "--fps",
            "0",
            "--frames",
            "300",
            "--stats-json",
        ],
        T,
    );
    assert!(s_status.success(), "sender failed: {s_err:?}");
    let (v_status, v_out, v_err) = v.finish(T);
    assert!(v_status.success(), "viewer failed: {v_err:?}");
    let vs = summary(&v_out);
    assert_eq!(vs["frames"], 300, "{vs}");
    assert_eq!(vs["crc_failures"], 0);
    assert_eq!(vs["decode_errors"], 0);
    assert_eq!(vs["size"], "1280x720");
    assert!(vs["latency_ms_p50"].as_f64().unwrap() > 0.0);
    let ss = summary(&s_out);
    assert_eq!(ss["frames"], 300, "{ss}");
    assert_eq!(ss["role"], "send");
}

#[test]
fn jpeg_folder_arrives_byte_identical() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let sent = write_jpegs(src.path(), 6, 320, 240);
    let out_dir = out.path().join("saved");
    let mut v = viewer(&["--frames", "6", "--save", out_dir.to_str().unwrap()]);
    let dest = v.listening_addr().to_string();
    let (st, _, err) = run(
        SEND,
        &[&dest, "--image", src.path().to_str().unwrap(), "--fps", "0"],
        T,
    );
    assert!(st.success(), "{err:?}");
    let (vst, _, verr) = v.finish(T);
    assert!(vst.success(), "{verr:?}");
    for (i, bytes) in sent.iter().enumerate() {
        let got = std::fs::read(out_dir.join(format!("{i:08}.jpg"))).unwrap();
        assert!(got == *bytes, "frame {i} differs");
    }
}

#[test]
fn slideshow_with_interval_paces_the_pictures_and_keeps_them_exact() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let sent = write_jpegs(src.path(), 4, 160, 120);
    let out_dir = out.path().join("saved");
    let mut v = viewer(&["--frames", "4", "--save", out_dir.to_str().unwrap()]);
    let dest = v.listening_addr().to_string();
    let t0 = std::time::Instant::now();
    let (st, _, err) = run(
        SEND,
        &[
            &dest,
            "--image",
            src.path().to_str().unwrap(),
            "--interval",
            "150",
        ],
        T,
    );
    let took = t0.elapsed();
    assert!(st.success(), "{err:?}");
    assert!(v.finish(T).0.success());
    for (i, bytes) in sent.iter().enumerate() {
        let got = std::fs::read(out_dir.join(format!("{i:08}.jpg"))).unwrap();
        assert!(got == *bytes, "picture {i} differs");
    }
    // Four pictures 150 ms apart cannot all be out in less than three intervals: the
    // interval is honoured (a lower bound only; no upper bound on a shared machine).
    assert!(took >= std::time::Duration::from_millis(450), "{took:?}");
}

#[test]
fn a_second_sender_never_overwrites_the_first_ones_saved_frames() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let sent = write_jpegs(src.path(), 2, 96, 64);
    let out_dir = out.path().join("saved");
    let mut v = viewer(&["--frames", "6", "--save", out_dir.to_str().unwrap()]);
    let dest = v.listening_addr().to_string();
    // Two senders, then the first one again (a restart: its numbers go on).
    for name in ["first", "second", "first"] {
        let (st, _, err) = run(
            SEND,
            &[
                &dest,
                "--name",
                name,
                "--image",
                src.path().to_str().unwrap(),
            ],
            T,
        );
        assert!(st.success(), "{err:?}");
    }
    assert!(v.finish(T).0.success());
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 6, "{names:?}");
    let (second, first): (Vec<String>, Vec<String>) =
        names.iter().cloned().partition(|n| n.contains('-'));
    assert_eq!(
        first,
        [
            "00000000.jpg",
            "00000001.jpg",
            "00000002.jpg",
            "00000003.jpg"
        ]
    );
    for (i, n) in second.iter().enumerate() {
        assert_eq!(*n, format!("second-{i:08}.jpg"), "{names:?}");
        assert!(std::fs::read(out_dir.join(n)).unwrap() == sent[i]);
    }
}

#[test]
fn one_shot_image_exits_zero_with_viewer_and_nonzero_without() {
    let src = tempfile::tempdir().unwrap();
    write_jpegs(src.path(), 1, 64, 48);
    let file = src.path().join("frame_000.jpg");
    let file = file.to_str().unwrap();

    let mut v = viewer(&["--frames", "1"]);
    let dest = v.listening_addr().to_string();
    let (st, _, err) = run(SEND, &[&dest, "--image", file], T);
    assert!(st.success(), "{err:?}");
    assert!(
        err.iter().any(|l| l.contains("acknowledged the image")),
        "{err:?}"
    );
    assert!(v.finish(T).0.success());

    // Nobody answering: a socket of ours, bound for the whole test and never read, so no
    // other program can be listening on its port.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let free = silent.local_addr().unwrap();
    let (st, out, err) = run(
        SEND,
        &[
            &free.to_string(),
            "--image",
            file,
            "--ack-timeout",
            "50",
            "--stats-json",
        ],
        T,
    );
    assert_eq!(st.code(), Some(1));
    let last = err.last().unwrap();
    assert!(last.contains("error: no ACK from"), "{err:?}");
    assert!(last.contains("is cam-view running"), "{err:?}");
    // The summary is printed all the same: nothing acknowledged, one timeout or more.
    let s = summary(&out);
    assert_eq!(s["frames"], 0, "{s}");
    assert!(s["timeouts"].as_u64().unwrap() >= 1, "{s}");
    assert!(s["fps"].is_null(), "{s}");
}

#[test]
fn a_save_folder_that_cannot_be_written_fails_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let in_the_way = tmp.path().join("a-file");
    std::fs::write(&in_the_way, b"x").unwrap();
    let under_a_file = in_the_way.join("saved");
    for dir in [
        in_the_way.to_str().unwrap(),
        under_a_file.to_str().unwrap(),
        "/proc/camwire-cannot-save-here",
    ] {
        let (st, _, err) = run(
            VIEW,
            &["--headless", "--listen", "127.0.0.1:0", "--save", dir],
            T,
        );
        assert_eq!(st.code(), Some(1), "{dir}: {err:?}");
        let last = err.last().unwrap();
        assert!(
            last.starts_with("cam-view: error: cannot write") && last.contains(dir),
            "{dir}: {err:?}"
        );
        assert!(
            !err.iter().any(|l| l.contains("connected")),
            "refused before any sender: {err:?}"
        );
    }
}

#[test]
fn bad_flags_and_busy_port_give_clear_errors() {
    let (st, _, err) = run(SEND, &["--quality", "101"], T);
    assert_eq!(st.code(), Some(2));
    assert!(err.join("\n").contains("--quality"), "{err:?}");
    let (st, _, err) = run(SEND, &["--size", "big"], T);
    assert_eq!(st.code(), Some(2));
    assert!(err.join("\n").contains("1280x720"), "{err:?}");
    let (st, _, err) = run(SEND, &["--image", "/no/such/file.jpg"], T);
    assert_eq!(st.code(), Some(1));
    assert!(
        err.last()
            .unwrap()
            .contains("cannot read /no/such/file.jpg"),
        "{err:?}"
    );
    let (st, _, err) = run(SEND, &["--camera"], T);
    assert_eq!(st.code(), Some(1));
    let last = err.last().unwrap();
    assert!(
        last.contains("cargo build --release --features camera") && last.contains("libclang-dev"),
        "{err:?}"
    );
    assert!(
        !last.contains("cargo install camwire"),
        "the crate is not published: {err:?}"
    );

    let busy = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let (st, _, err) = run(VIEW, &["--headless", "--listen", &addr], T);
    assert_eq!(st.code(), Some(1));
    let last = err.last().unwrap();
    assert!(last.contains("already in use"), "{err:?}");
    assert!(!err.iter().any(|l| l.contains("panicked")), "{err:?}");
}

#[test]
fn window_without_display_says_to_use_headless() {
    let p = Proc::spawn_env(
        VIEW,
        &["--listen", "127.0.0.1:0"],
        &[("DISPLAY", ""), ("WAYLAND_DISPLAY", "")],
    );
    let (st, _, err) = p.finish(T);
    assert_eq!(st.code(), Some(1));
    assert_eq!(err.len(), 1, "one line: {err:?}");
    assert!(
        err[0].contains("no display") && err[0].contains("--headless"),
        "{err:?}"
    );
}

#[test]
fn sender_keeps_streaming_until_a_viewer_appears() {
    // The sender's destination is a relay's port, held for the whole test, that forwards to
    // nobody until the viewer exists: the sender starts with nobody there, as a user may.
    let relay =
        relay::Relay::start_parked(relay::Faults::default(), relay::Faults::default(), 1).unwrap();
    let dest = relay.addr().to_string();
    let s = Proc::spawn(
        SEND,
        &[
            &dest,
            "--size",
            "320x240",
            "--fps",
            "30",
            "--ack-timeout",
            "30",
        ],
    );
    // Streaming into the void: several frames' worth of datagrams (bounded: 20 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while relay.stats().0.received < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the sender sent nothing without a viewer"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut v = viewer(&["--frames", "10", "--stats-json"]);
    relay.set_upstream(v.listening_addr());
    let (vst, vout, verr) = v.finish(T);
    assert!(vst.success(), "{verr:?}");
    assert_eq!(summary(&vout)["frames"], 10);
    s.interrupt();
    let (sst, _, serr) = s.finish(T);
    assert!(sst.success(), "{serr:?}");
}

#[test]
fn ctrl_c_ends_both_cleanly_with_a_summary() {
    let mut v = viewer(&["--stats-json"]);
    let dest = v.listening_addr().to_string();
    let mut s = Proc::spawn(
        SEND,
        &[&dest, "--size", "320x240", "--fps", "30", "--stats-json"],
    );
    assert!(v
        .wait_line("connected from", Duration::from_secs(10))
        .is_some());
    // Until both have reported a second's statistics and the viewer has 10 frames.
    v.wait_reported_frames(10, T);
    assert!(
        s.wait_stdout(T, |l| l.iter().any(|l| l.contains(r#""type":"interval""#))),
        "no per-second report from the sender: {:?}",
        s.stdout_seen
    );
    s.interrupt();
    let (sst, sout, serr) = s.finish(T);
    assert!(sst.success(), "{serr:?}");
    let ss = summary(&sout);
    assert!(ss["frames"].as_u64().unwrap() >= 10, "{ss}");
    let lines = json_lines(&sout);
    assert!(
        lines.iter().any(|l| l["type"] == "interval"),
        "per-second reports: {sout}"
    );
    v.wait_line("disconnected", Duration::from_secs(5))
        .expect("BYE reaches the viewer");
    v.interrupt();
    let (vst, vout, verr) = v.finish(T);
    assert!(vst.success(), "{verr:?}");
    let vs = summary(&vout);
    assert!(vs["frames"].as_u64().unwrap() >= 10, "{vs}");
    for key in [
        "fps",
        "bytes",
        "dropped_frames",
        "retransmitted_chunks",
        "crc_failures",
        "decode_errors",
        "latency_ms_p50",
        "latency_ms_p95",
    ] {
        assert!(vs.get(key).is_some(), "summary lacks {key}: {vs}");
    }
}

#[test]
fn demo_runs_headless() {
    let (st, out, err) = run(
        VIEW,
        &["--demo", "--headless", "--frames", "20", "--stats-json"],
        T,
    );
    assert!(st.success(), "{err:?}");
    assert_eq!(summary(&out)["frames"], 20);
    assert!(
        err.iter()
            .any(|l| l.contains("demo: streaming the test pattern")),
        "{err:?}"
    );
}

#[test]
fn status_line_without_json() {
    let mut v = viewer(&["--frames", "45"]);
    let dest = v.listening_addr().to_string();
    let (st, out, _) = run(
        SEND,
        &[&dest, "--size", "160x120", "--fps", "30", "--frames", "45"],
        T,
    );
    assert!(st.success());
    assert!(out.is_empty(), "nothing on stdout without --stats-json");
    let (vst, vout, verr) = v.finish(T);
    assert!(vst.success());
    assert!(vout.is_empty());
    assert!(
        verr.iter()
            .any(|l| l.contains("summary:") && l.contains("45 frames")),
        "{verr:?}"
    );
}

#[test]
fn sender_reports_the_viewer_connected_then_disconnected() {
    let mut v = viewer(&[]);
    let dest = v.listening_addr().to_string();
    let mut s = Proc::spawn(
        SEND,
        &[
            &dest,
            "--size",
            "160x120",
            "--fps",
            "30",
            "--stats-json",
            "--ack-timeout",
            "100",
        ],
    );
    let connected = |l: &[String]| {
        json_lines(&l.join("\n"))
            .iter()
            .any(|j| j["type"] == "interval" && j["peer"] == "connected" && j["frames"] != 0)
    };
    assert!(
        s.wait_stdout(T, connected),
        "the sender never reported the viewer connected: {:?}",
        s.stdout_seen
    );
    // The viewer goes, and its Ctrl-C says BYE: the sender knows at once, with no wait for
    // its peer timeout (the line is asserted, not the timing).
    v.interrupt();
    let _ = v.finish(T);
    let line = s
        .wait_line("closed", Duration::from_secs(5))
        .expect("the sender hears the viewer's BYE");
    assert!(
        line.contains(&format!("the viewer at {dest} closed"))
            && line.contains("probing for the viewer"),
        "{line}"
    );
    let disconnected = |l: &[String]| {
        json_lines(&l.join("\n"))
            .iter()
            .any(|j| j["type"] == "interval" && j["peer"] == "disconnected")
    };
    assert!(
        s.wait_stdout(T, disconnected),
        "the sender never reported the viewer disconnected: {:?}",
        s.stdout_seen
    );
    s.interrupt();
    let (_, sout, serr) = s.finish(T);
    assert_eq!(summary(&sout)["peer"], "disconnected", "{serr:?}");
}

#[test]
fn sender_summary_says_connected_after_a_delivered_stream() {
    let mut v = viewer(&["--frames", "20"]);
    let dest = v.listening_addr().to_string();
    let (st, out, err) = run(
        SEND,
        &[
            &dest,
            "--size",
            "160x120",
            "--fps",
            "30",
            "--frames",
            "20",
            "--stats-json",
        ],
        T,
    );
    assert!(st.success(), "{err:?}");
    let s = summary(&out);
    assert_eq!(s["peer"], "connected", "{s}");
    assert!(v.finish(T).0.success());
}

#[test]
fn a_picture_over_the_viewers_limit_is_skipped_in_a_folder_and_refused_alone() {
    let src = tempfile::tempdir().unwrap();
    let sent = write_jpegs(src.path(), 3, 64, 48);
    // A real JPEG header with 17 MiB after it: the viewer would refuse it (16 MiB).
    let mut big = sent[1].clone();
    big.resize(17 << 20, 0);
    let big_path = src.path().join("frame_001.jpg");
    std::fs::write(&big_path, &big).unwrap();

    let mut v = viewer(&["--frames", "2", "--stats-json"]);
    let dest = v.listening_addr().to_string();
    let (st, _, err) = run(
        SEND,
        &[&dest, "--image", src.path().to_str().unwrap(), "--fps", "0"],
        T,
    );
    assert!(st.success(), "{err:?}");
    let warnings: Vec<_> = err.iter().filter(|l| l.contains("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{err:?}");
    assert!(
        warnings[0].contains(&format!(
            "picture 2 skipped: frame of {} bytes is larger than the viewer's limit of 16777216 bytes",
            17 << 20
        )),
        "{err:?}"
    );
    let (vst, vout, verr) = v.finish(T);
    assert!(vst.success(), "{verr:?}");
    let vs = summary(&vout);
    assert_eq!(vs["frames"], 2, "{vs}");
    assert_eq!(vs["rejected_datagrams"], 0, "nothing of it was sent: {vs}");

    // Alone, it is refused at once with the reason (not "no ACK" after the retries).
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let t0 = std::time::Instant::now();
    let (st, _, err) = run(
        SEND,
        &[
            &silent.local_addr().unwrap().to_string(),
            "--image",
            big_path.to_str().unwrap(),
        ],
        T,
    );
    assert_eq!(st.code(), Some(1), "{err:?}");
    let last = err.last().unwrap();
    assert!(
        last.contains(
            "error: frame of 17825792 bytes is larger than the viewer's limit of 16777216 bytes"
        ),
        "{err:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(20));
    // Its name went out ahead (a MESSAGE), but not one chunk of the frame.
    silent.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    while let Ok((n, _)) = silent.recv_from(&mut buf) {
        let body = camwire::protocol::link::plain_body(&buf[..n]).expect("a camwire datagram");
        let d = camwire::protocol::wire::parse(body).expect("valid");
        assert!(
            !matches!(d, camwire::protocol::wire::Datagram::Chunk { .. }),
            "a chunk of the refused frame was sent: {d:?}"
        );
    }
}
