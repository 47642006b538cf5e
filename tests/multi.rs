//! Several cameras into one viewer, over real sockets on loopback: every sender shown, every
//! frame under its own sender's name, a restart that disturbs nobody else, and the sender
//! beyond `--max-senders` refused rather than shown in another's place.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use camwire::endpoint::{EndpointError, Event, FrameReceiver, FrameSender};
use support::{json_lines, summary, Proc, SEND, VIEW};

const T: Duration = Duration::from_secs(60);

/// A folder holding one 160x120 JPEG of a single colour.
fn solid_picture(dir: &Path, rgb: [u8; 3]) -> Vec<u8> {
    let px: Vec<u8> = (0..160 * 120).flat_map(|_| rgb).collect();
    let mut jpeg = Vec::new();
    camwire::media::codec::encode_rgb(&px, 160, 120, 90, &mut jpeg).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("pic.jpg"), &jpeg).unwrap();
    jpeg
}

/// The senders' part of a `--stats-json` report, by name.
fn senders(report: &serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    report["senders"]
        .as_array()
        .unwrap_or_else(|| panic!("no senders in {report}"))
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s.clone()))
        .collect()
}

#[test]
fn four_named_senders_share_one_viewer_and_no_frame_changes_hands() {
    let tmp = tempfile::tempdir().unwrap();
    let saved = tmp.path().join("saved");
    let mut v = Proc::spawn(
        VIEW,
        &[
            "--headless",
            "--listen",
            "127.0.0.1:0",
            "--stats-json",
            "--save",
            saved.to_str().unwrap(),
        ],
    );
    let dest = v.listening_addr().to_string();
    let colours = [[250, 20, 20], [20, 250, 20], [20, 20, 250], [240, 240, 30]];
    let mut pictures = BTreeMap::new();
    let senders_running: Vec<(String, Proc)> = colours
        .iter()
        .enumerate()
        .map(|(i, rgb)| {
            let name = format!("cam{i}");
            let dir = tmp.path().join(&name);
            pictures.insert(name.clone(), solid_picture(&dir, *rgb));
            let p = Proc::spawn(
                SEND,
                &[
                    &dest,
                    "--name",
                    &name,
                    "--image",
                    dir.to_str().unwrap(),
                    "--loop",
                    "--fps",
                    "20",
                    "--frames",
                    "40",
                    "--stats-json",
                ],
            );
            (name, p)
        })
        .collect();
    let mut acked = BTreeMap::new();
    for (name, p) in senders_running {
        let (st, out, err) = p.finish(T);
        assert!(st.success(), "{name}: {err:?}");
        acked.insert(name, summary(&out)["frames"].as_u64().unwrap());
    }
    for name in acked.keys() {
        v.wait_line(&format!("\"{name}\" ("), T)
            .unwrap_or_else(|| panic!("{name} never connected: {:?}", v.stderr));
    }
    v.interrupt();
    let (vst, vout, verr) = v.finish(T);
    assert!(vst.success(), "{verr:?}");
    let sum = summary(&vout);
    let per = senders(&sum);
    assert_eq!(
        per.keys().collect::<Vec<_>>(),
        acked.keys().collect::<Vec<_>>(),
        "{sum}"
    );
    // Each sender's frames, exactly as many as it had acknowledged, under its own name.
    for (name, n) in &acked {
        assert!(*n >= 30, "{name} got {n} of 40 through: {sum}");
        assert_eq!(per[name]["frames"], *n, "{name}: {sum}");
    }
    assert_eq!(sum["frames"], acked.values().sum::<u64>(), "{sum}");
    assert_eq!(sum["refused_senders"], 0);
    // No frame went to the wrong sender: every file saved under a name holds that sender's
    // picture, and the short names (the first sender's) hold one sender's only.
    let mut short = Vec::new();
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    for entry in std::fs::read_dir(&saved).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_owned();
        let bytes = std::fs::read(&path).unwrap();
        match file.split_once('-') {
            Some((name, _)) => {
                assert_eq!(bytes, pictures[name], "{file} is not {name}'s picture");
                *by_name.entry(name.to_owned()).or_default() += 1;
            }
            None => short.push(bytes),
        }
    }
    let first: Vec<&String> = pictures
        .iter()
        .filter(|(_, p)| short.first() == Some(p))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(first.len(), 1, "short names are one sender's");
    assert!(short.iter().all(|b| *b == pictures[first[0]]));
    by_name.insert(first[0].clone(), short.len());
    for (name, n) in &acked {
        assert_eq!(
            by_name.get(name).copied(),
            Some(*n as usize),
            "{name}'s files"
        );
    }
}

#[test]
fn a_restarted_sender_comes_back_under_its_name_and_the_others_never_notice() {
    let mut v = Proc::spawn(
        VIEW,
        &["--headless", "--listen", "127.0.0.1:0", "--stats-json"],
    );
    let dest = v.listening_addr().to_string();
    let common = ["--size", "160x120", "--fps", "30"];
    let steady = Proc::spawn(
        SEND,
        &[&[&dest[..], "--name", "steady"][..], &common].concat(),
    );
    let mut flaky = Proc::spawn(
        SEND,
        &[&[&dest[..], "--name", "flaky"][..], &common].concat(),
    );
    v.wait_line("\"steady\" (", T).expect("steady shown");
    v.wait_line("\"flaky\" (", T).expect("flaky shown");
    v.wait_reported_frames(60, T);
    // Killed without a goodbye, and started again at once: a new session, a new port.
    flaky.child.kill().unwrap();
    let _ = flaky.child.wait();
    let again = Proc::spawn(
        SEND,
        &[
            &[&dest[..], "--name", "flaky", "--frames", "90"][..],
            &common,
        ]
        .concat(),
    );
    let (st, _, err) = again.finish(T);
    assert!(st.success(), "{err:?}");
    v.wait_line("said goodbye", Duration::from_secs(5))
        .expect("the restarted one's BYE");
    v.interrupt();
    drop(steady);
    let (_, vout, verr) = v.finish(T);
    let steady_lines: Vec<&String> = verr.iter().filter(|l| l.contains("\"steady\"")).collect();
    assert_eq!(
        steady_lines.len(),
        1,
        "steady connected once and never went away: {verr:?}"
    );
    assert!(
        verr.iter().any(|l| l.contains("\"flaky\"")
            && l.contains("replaced by a newer sender of the same name")),
        "the restart took over at once: {verr:?}"
    );
    let reports = json_lines(&vout);
    let sum = reports.last().unwrap();
    let per = senders(sum);
    assert_eq!(per.len(), 2, "one entry per name, not per session: {sum}");
    assert!(per["flaky"]["frames"].as_u64().unwrap() > 90, "{sum}");
    // The steady sender kept its pace through the restart: no interval without its frames.
    let intervals: Vec<u64> = reports
        .iter()
        .filter(|r| r["type"] == "interval")
        .filter_map(|r| {
            r["senders"]
                .as_array()?
                .iter()
                .find(|s| s["name"] == "steady")
                .and_then(|s| s["frames"].as_u64())
        })
        .collect();
    assert!(intervals.len() >= 2, "{intervals:?}");
    assert!(
        intervals[1..intervals.len() - 1].iter().all(|&n| n > 0),
        "steady's frames per second: {intervals:?}"
    );
}

#[test]
fn the_sender_beyond_max_senders_is_refused_and_counted_never_shown() {
    let mut v = Proc::spawn(
        VIEW,
        &["--headless", "--listen", "127.0.0.1:0", "--stats-json"],
    );
    let dest = v.listening_addr();
    let mut jpeg = Vec::new();
    camwire::media::codec::encode_rgb(&[128u8; 16 * 16 * 3], 16, 16, 80, &mut jpeg).unwrap();
    // Sixteen senders, each shown (every one's frame acknowledged).
    let mut shown: Vec<FrameSender> = (0..16)
        .map(|i| {
            let mut s = FrameSender::connect(dest).unwrap();
            s.set_name(&format!("cam{i:02}")).unwrap();
            s.send_jpeg(&jpeg, 16, 16).unwrap();
            s
        })
        .collect();
    // The seventeenth gets no answer while they are all there.
    let mut extra = FrameSender::connect(dest).unwrap();
    extra.set_name("extra").unwrap();
    extra.set_timeout(Duration::from_millis(800));
    let err = extra.send_jpeg(&jpeg, 16, 16).unwrap_err();
    assert!(matches!(err, EndpointError::NoAnswer { .. }), "{err}");
    assert!(err.to_string().contains("--max-senders"), "{err}");
    v.wait_line("refusing sender \"extra\"", T)
        .expect("the refusal said once");
    // One of the sixteen leaves (its BYE): the seventeenth is shown at its next frame.
    drop(shown.pop());
    extra.set_timeout(Duration::from_secs(5));
    extra.send_jpeg(&jpeg, 16, 16).unwrap();
    v.wait_line("\"extra\" (", T)
        .expect("extra shown once a place is free");
    drop(shown);
    drop(extra);
    v.interrupt();
    let (_, vout, verr) = v.finish(T);
    let sum = summary(&vout);
    assert_eq!(sum["refused_senders"], 1, "{sum}");
    assert_eq!(
        verr.iter()
            .filter(|l| l.contains("refusing sender"))
            .count(),
        1,
        "{verr:?}"
    );
    assert_eq!(senders(&sum).len(), 17, "{sum}");
}

#[test]
fn one_frame_receiver_takes_two_frame_senders_at_once() {
    // Before many senders, the second one superseded the first, whose calls then failed.
    let mut hub = FrameReceiver::bind("127.0.0.1:0").unwrap();
    let addr = hub.local_addr().unwrap();
    let send = |name: &'static str, shade: u8| {
        std::thread::spawn(move || {
            let mut jpeg = Vec::new();
            camwire::media::codec::encode_rgb(&[shade; 32 * 16 * 3], 32, 16, 80, &mut jpeg)
                .unwrap();
            let mut s = FrameSender::connect(addr).unwrap();
            s.set_name(name).unwrap();
            for _ in 0..10 {
                s.send_jpeg(&jpeg, 32, 16)?;
            }
            Ok::<_, EndpointError>((s.session(), jpeg))
        })
    };
    let (a, b) = (send("a", 40), send("b", 200));
    let mut frames: BTreeMap<u32, Vec<camwire::endpoint::Frame>> = BTreeMap::new();
    let deadline = Instant::now() + T;
    while frames.values().map(Vec::len).sum::<usize>() < 20 && Instant::now() < deadline {
        if let Some(Event::Frame(f)) = hub.recv_timeout(Duration::from_millis(100)).unwrap() {
            frames.entry(f.session).or_default().push(f);
        }
    }
    let (sa, ja) = a.join().unwrap().expect("sender a's calls all succeed");
    let (sb, jb) = b.join().unwrap().expect("sender b's calls all succeed");
    assert_eq!(frames[&sa].len(), 10);
    assert_eq!(frames[&sb].len(), 10);
    assert!(frames[&sa].iter().all(|f| f.jpeg == ja));
    assert!(frames[&sb].iter().all(|f| f.jpeg == jb));
    // Names ride along once they are known (they go out ahead of the first frame).
    assert!(frames[&sa].iter().any(|f| f.name.as_deref() == Some("a")));
    assert!(frames[&sb].iter().any(|f| f.name.as_deref() == Some("b")));
}

#[test]
fn a_sender_of_huge_pictures_slows_only_its_own_decoding() {
    let tmp = tempfile::tempdir().unwrap();
    // 2400x1800 of noise: tens of milliseconds to decode, every frame.
    let (w, h) = (2400u32, 1800u32);
    let mut rng = fastrand::Rng::with_seed(7);
    let px: Vec<u8> = (0..w * h * 3).map(|_| rng.u8(..)).collect();
    let mut jpeg = Vec::new();
    camwire::media::codec::encode_rgb(&px, w, h, 90, &mut jpeg).unwrap();
    let huge_dir = tmp.path().join("huge");
    std::fs::create_dir(&huge_dir).unwrap();
    std::fs::write(huge_dir.join("big.jpg"), &jpeg).unwrap();
    let mut v = Proc::spawn(
        VIEW,
        &["--headless", "--listen", "127.0.0.1:0", "--stats-json"],
    );
    let dest = v.listening_addr().to_string();
    let huge = support::image_loop_sender(&dest, &huge_dir, 10, &["--name", "huge"]);
    v.wait_line("\"huge\" (", T).expect("huge shown");
    let small: Vec<(String, Proc)> = ["a", "b"]
        .iter()
        .map(|n| {
            let p = Proc::spawn(
                SEND,
                &[
                    &dest, "--name", n, "--size", "160x120", "--fps", "30", "--frames", "90",
                ],
            );
            (n.to_string(), p)
        })
        .collect();
    for (n, p) in small {
        let (st, _, err) = p.finish(T);
        assert!(st.success(), "{n}: {err:?}");
    }
    v.interrupt();
    drop(huge);
    let (_, vout, _) = v.finish(T);
    let sum = summary(&vout);
    let per = senders(&sum);
    assert!(per["huge"]["frames"].as_u64().unwrap() > 0, "{sum}");
    for n in ["a", "b"] {
        let frames = per[n]["frames"].as_u64().unwrap();
        let dropped = per[n]["dropped"].as_u64().unwrap();
        assert!(frames >= 85, "{n}: {sum}");
        // Its own decoder keeps up whatever the other's pictures cost.
        assert!(
            dropped * 20 <= frames,
            "{n} lost {dropped} of {frames}: {sum}"
        );
    }
}
