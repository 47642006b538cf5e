//! A fake camera through the real sending pipeline into a real viewer on 127.0.0.1, and the
//! command line without the `camera` feature. Every wait is bounded.

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use camwire::app::send::{run_send_with, SendConfig, SendNotice, SendUpdate};
use camwire::app::view::{run_view, Notice, ViewConfig, ViewOutcome, ViewUpdate};
use camwire::app::{AppError, Stop};
use camwire::media::camera::fake::{samples, FakeCamera, RecordedBuffer};
use camwire::media::camera::mjpeg;
use camwire::media::camera::mode::PixelFormat;
use camwire::media::codec::Decoder;

const T: Duration = Duration::from_secs(60);

/// A headless viewer saving every frame; returns its address, its notices and its outcome.
fn viewer(
    frames: u64,
    save: &Path,
) -> (
    SocketAddr,
    mpsc::Receiver<Notice>,
    thread::JoinHandle<Result<ViewOutcome, AppError>>,
) {
    let (tx, rx) = mpsc::channel();
    let cfg = ViewConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        window: false,
        frames: Some(frames),
        save: Some(save.to_owned()),
        ..ViewConfig::default()
    };
    let h = thread::spawn(move || {
        run_view(cfg, Stop::new(), move |u| {
            if let ViewUpdate::Notice(n) = u {
                let _ = tx.send(n);
            }
        })
    });
    let addr = loop {
        match rx.recv_timeout(T).expect("viewer did not start") {
            Notice::Listening(a) => break a,
            _ => continue,
        }
    };
    (addr, rx, h)
}

fn saved(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn decode(jpeg: &[u8]) -> Vec<u8> {
    let mut d = Decoder::new();
    d.decode_rgb(jpeg).unwrap();
    d.rgb().to_vec()
}

fn mjpeg_buf(bytes: Vec<u8>, w: u32, h: u32) -> RecordedBuffer {
    RecordedBuffer {
        format: PixelFormat::Mjpeg,
        width: w,
        height: h,
        bytes,
    }
}

#[test]
fn fake_camera_frames_arrive_as_the_cameras_own_jpegs() {
    let (w, h) = (320u32, 240u32);
    let rgb = samples::scene(w, h, 9);
    let plain = samples::jpeg(&rgb, w, h).unwrap();
    let bare = samples::without_dht(&plain).unwrap();
    let rst = samples::jpeg_with_restarts(&rgb, w as u16, h as u16, 4).unwrap();
    let rst_bare = samples::without_dht(&rst).unwrap();
    let yuyv = samples::to_yuyv(&rgb, w, h);
    let cam = FakeCamera::new(vec![
        mjpeg_buf(samples::in_stale_buffer(&plain, 600_000), w, h),
        mjpeg_buf(samples::in_stale_buffer(&bare, 600_000), w, h),
        mjpeg_buf(samples::in_stale_buffer(&rst_bare, 600_000), w, h),
        RecordedBuffer {
            format: PixelFormat::Yuyv,
            width: w,
            height: h,
            bytes: yuyv,
        },
    ])
    .with_fps(25.0);

    let out = tempfile::tempdir().unwrap();
    let frames = 12;
    let (addr, _notices, view) = viewer(frames, out.path());
    let cfg = SendConfig {
        dest: addr,
        frames: Some(frames),
        ..SendConfig::default()
    };
    let sent = run_send_with(cfg, Box::new(cam), Stop::new(), |_| {}).unwrap();
    assert_eq!(sent.summary.counts.frames, frames);
    let viewed = view.join().unwrap().unwrap();
    assert_eq!(viewed.summary.counts.frames, frames);
    assert_eq!(viewed.summary.counts.decode_errors, 0);

    // What each kind of buffer must become on the wire.
    let with_tables = |j: &[u8]| mjpeg::passthrough(j).unwrap().0;
    let expected_plain = plain.clone();
    let expected_bare = with_tables(&bare);
    let expected_rst = with_tables(&rst_bare);
    let mut kinds = HashSet::new();
    let files = saved(out.path());
    assert_eq!(files.len() as u64, frames);
    for f in &files {
        assert!(
            f.len() < 200_000,
            "a stale buffer tail was sent: {} bytes",
            f.len()
        );
        let kind = if *f == expected_plain {
            "plain"
        } else if *f == expected_bare {
            "no DHT"
        } else if *f == expected_rst {
            "restart markers"
        } else {
            // Re-encoded from YUYV: the same picture within JPEG and chroma tolerance.
            let px = decode(f);
            assert_eq!(px.len(), rgb.len());
            let err: i64 = px
                .iter()
                .zip(&rgb)
                .map(|(a, b)| i64::from((i32::from(*a) - i32::from(*b)).abs()))
                .sum();
            let mean = err as f64 / rgb.len() as f64;
            assert!(mean < 12.0, "YUYV frame differs by {mean} on average");
            "YUYV"
        };
        kinds.insert(kind);
    }
    assert_eq!(kinds.len(), 4, "each kind of buffer arrived: {kinds:?}");
    // The pass-through frames are the very picture the camera took.
    assert_eq!(decode(&expected_bare), decode(&plain));
    assert_eq!(decode(&expected_rst), decode(&rst));
}

#[test]
fn an_unplugged_camera_keeps_the_session_and_comes_back() {
    let jpeg = samples::jpeg(&samples::scene(64, 48, 2), 64, 48).unwrap();
    let cam = FakeCamera::new(vec![mjpeg_buf(jpeg, 64, 48)])
        .with_fps(30.0)
        .losing_after(3, 1);
    let out = tempfile::tempdir().unwrap();
    let frames = 6;
    let (addr, view_notices, view) = viewer(frames, out.path());
    let cfg = SendConfig {
        dest: addr,
        frames: Some(frames),
        ..SendConfig::default()
    };
    let mut notices = Vec::new();
    let t = Instant::now();
    let sent = run_send_with(cfg, Box::new(cam), Stop::new(), |u| {
        if let SendUpdate::Source(n) = u {
            notices.push(n)
        }
    })
    .unwrap();
    assert_eq!(sent.summary.counts.frames, frames);
    // Lost, one failed reopen a second later, back the second after.
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(
        matches!(&notices[0], SendNotice::SourceLost(m) if m.contains("stopped") && m.contains("every 1 s")),
        "{notices:?}"
    );
    assert!(matches!(&notices[1], SendNotice::SourceBack(m) if m.contains("back")));
    let viewed = view.join().unwrap().unwrap();
    assert_eq!(viewed.summary.counts.frames, frames);
    let sessions = view_notices
        .try_iter()
        .filter(|n| matches!(n, Notice::SenderConnected { .. }))
        .count();
    assert_eq!(sessions, 1, "one session throughout");
}

#[test]
fn ctrl_c_is_prompt_while_the_camera_is_away() {
    let jpeg = samples::jpeg(&samples::scene(32, 32, 2), 32, 32).unwrap();
    let cam = FakeCamera::new(vec![mjpeg_buf(jpeg, 32, 32)]).losing_after(1, u32::MAX);
    // Nobody answers: a socket of ours, bound for the whole test and never read. The sender
    // keeps trying, as it does without a viewer.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dest = silent.local_addr().unwrap();
    let stop = Stop::new();
    let (tx, rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let stop2 = stop.clone();
    let h = thread::spawn(move || {
        let cfg = SendConfig {
            dest,
            ..SendConfig::default()
        };
        let r = run_send_with(cfg, Box::new(cam), stop2, move |u| {
            if let SendUpdate::Source(n) = u {
                let _ = tx.send(n);
            }
        });
        let _ = done_tx.send(());
        r
    });
    let n = rx.recv_timeout(T).unwrap();
    assert!(matches!(n, SendNotice::SourceLost(_)), "{n:?}");
    stop.trigger();
    // Bounded wait for the exit: a sender that ignored the stop while its camera is away
    // would run for ever (it retries the camera every second, without end).
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the sender did not stop within 10 s of the stop signal");
    h.join().unwrap().unwrap();
    drop(silent);
}

#[test]
fn camera_flags_give_clear_answers_with_and_without_the_feature() {
    // A bound socket that is never read: the destination is held for the whole test.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dest = silent.local_addr().unwrap().to_string();
    if !cfg!(feature = "camera") {
        for args in [&[&dest, "--camera", "1"][..], &["--list-cameras"][..]] {
            let (st, _, err) = support::run(support::SEND, args, T);
            assert_eq!(st.code(), Some(1), "{args:?}");
            assert_eq!(err.len(), 1, "one line: {err:?}");
            assert!(err[0].contains("--features camera"), "{err:?}");
        }
        return;
    }
    let (st, _, err) = support::run(support::SEND, &[&dest, "--camera", "99"], T);
    assert_eq!(st.code(), Some(1), "{err:?}");
    let last = err.last().expect("an error line");
    assert!(last.contains("no camera 99"), "{err:?}");
    assert!(!err.iter().any(|l| l.contains("panicked")), "{err:?}");

    let (st, out, err) = support::run(support::SEND, &["--list-cameras"], T);
    match st.code() {
        Some(0) => assert!(
            !out.trim().is_empty() && out.lines().all(|l| !l.trim().is_empty()),
            "listed cameras: {out:?}"
        ),
        Some(1) => {
            assert_eq!(err.len(), 1, "one line: {err:?}");
            assert!(err[0].contains("no cameras found"), "{err:?}");
        }
        other => panic!("--list-cameras exited with {other:?}: {err:?}"),
    }
}
