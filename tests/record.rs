//! `--record`: the Matroska files of `cam-view` and `cam-send`, read by the real readers,
//! ffprobe (`-count_frames`) and GStreamer (`matroskademux ! jpegdec`): whole recordings, a
//! file cut in the middle of a block, a viewer killed with SIGKILL, a sender's own recording,
//! an RTP stream, and a disk that is full.
//!
//! Without ffprobe or GStreamer these tests say so and pass, except in CI (`CI=true`), where
//! `.ci/run` installs them and a missing one fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{Proc, SEND, VIEW};

const T: Duration = Duration::from_secs(60);

/// Whether `tool` runs here; in CI its absence fails the test.
fn have(tool: &str) -> bool {
    support::have_tool(tool, "the recording tests")
}

fn have_readers() -> bool {
    // Both asked, so that a skip names everything missing.
    let ff = have("ffprobe");
    let gst = have("gst-launch-1.0");
    ff && gst
}

/// What ffprobe counts in the file's video stream: codec, width, height, frames decoded.
fn ffprobe(path: &Path) -> (String, u32, u32, u64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or_else(|| {
        panic!(
            "ffprobe printed nothing for {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let f: Vec<&str> = line.trim().split(',').collect();
    assert_eq!(f.len(), 4, "{line}");
    (
        f[0].to_string(),
        f[1].parse().unwrap(),
        f[2].parse().unwrap(),
        f[3].parse().unwrap_or_else(|_| panic!("{line}")),
    )
}

/// GStreamer demuxes and decodes every frame of the file without an error.
fn gstreamer_plays(path: &Path) {
    let out = Command::new("gst-launch-1.0")
        .arg("-q")
        .arg("filesrc")
        .arg(format!("location={}", path.display()))
        .args(["!", "matroskademux", "!", "jpegdec", "!", "fakesink"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "GStreamer failed on {}: {}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Where each SimpleBlock of a camwire recording starts and ends, read by a walker of this
/// test's own: the EBML header and Info/Tracks by their sizes, then unknown-size Clusters of
/// Timestamp and SimpleBlock elements. Stops at the first element cut short.
fn blocks(b: &[u8]) -> Vec<(usize, usize)> {
    fn vint(b: &[u8], i: usize, keep_marker: bool) -> Option<(u64, usize)> {
        let first = *b.get(i)?;
        let len = first.leading_zeros() as usize + 1;
        let bytes = b.get(i..i + len)?;
        let v = bytes.iter().fold(0u64, |a, &x| a << 8 | u64::from(x));
        let v = if keep_marker {
            v
        } else {
            v & ((1u64 << (7 * len)) - 1)
        };
        Some((v, i + len))
    }
    const UNKNOWN: u64 = (1 << 56) - 1;
    let mut out = Vec::new();
    let mut i = 0;
    while let (Some((id, j)), true) = (vint(b, i, true), i < b.len()) {
        let Some((size, k)) = vint(b, j, false) else {
            break;
        };
        match id {
            // Segment and Cluster: unknown size, step inside.
            0x18538067 | 0x1F43B675 => {
                assert_eq!(size, UNKNOWN, "at {i}");
                i = k;
            }
            _ => {
                let end = k + size as usize;
                if end > b.len() {
                    break;
                }
                if id == 0xA3 {
                    out.push((i, end));
                }
                i = end;
            }
        }
    }
    out
}

/// A headless viewer on a free loopback port with `args`; and its address.
fn viewer(args: &[&str]) -> (Proc, String) {
    let mut all = vec!["--listen", "127.0.0.1:0", "--headless", "--stats-json"];
    all.extend_from_slice(args);
    let mut v = Proc::spawn(VIEW, &all);
    let addr = v.listening_addr().to_string();
    (v, addr)
}

/// The test pattern at `size` and 30 fps to `dest`, until dropped.
fn pattern_sender(dest: &str, size: &str, extra: &[&str]) -> Proc {
    let mut args = vec![dest, "--size", size, "--fps", "30"];
    args.extend_from_slice(extra);
    Proc::spawn(SEND, &args)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A viewer records 60 frames of a 640x480 sender into `out` and exits; returns its summary.
fn record_60(out: &Path) -> serde_json::Value {
    let (v, addr) = viewer(&["--record", s(out), "--frames", "60"]);
    let _sender = pattern_sender(&addr, "640x480", &[]);
    let (status, stdout, err) = v.finish(T);
    assert!(status.success(), "{err:?}");
    support::summary(&stdout)
}

#[test]
fn a_viewer_recording_plays_in_ffprobe_and_gstreamer_with_every_frame() {
    if !have_readers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mkv");
    let summary = record_60(&out);
    assert_eq!(summary["frames"], 60, "{summary}");
    assert_eq!(summary["unrecorded_frames"], 0, "{summary}");
    assert_eq!(ffprobe(&out), ("mjpeg".into(), 640, 480, 60));
    gstreamer_plays(&out);
    assert_eq!(blocks(&std::fs::read(&out).unwrap()).len(), 60);
}

#[test]
fn a_file_cut_inside_a_block_plays_every_whole_frame_before_the_cut() {
    if !have_readers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("whole.mkv");
    record_60(&out);
    let bytes = std::fs::read(&out).unwrap();
    let whole = blocks(&bytes);
    assert_eq!(whole.len(), 60);
    // Cut at about 60 % of the file, then move the cut into the middle of the block there.
    let (start, end) = *whole
        .iter()
        .find(|(_, e)| *e >= bytes.len() * 6 / 10)
        .unwrap();
    let cut_at = (start + end) / 2;
    let before = whole.iter().filter(|(_, e)| *e <= cut_at).count();
    assert!((20..60).contains(&before), "{before}");
    let cut = dir.path().join("cut.mkv");
    std::fs::write(&cut, &bytes[..cut_at]).unwrap();
    assert_eq!(ffprobe(&cut), ("mjpeg".into(), 640, 480, before as u64));
    gstreamer_plays(&cut);
}

#[test]
fn a_viewer_killed_mid_recording_leaves_every_frame_up_to_its_last_sync() {
    if !have_readers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("killed.mkv");
    let (mut v, addr) = viewer(&["--record", s(&out)]);
    let _sender = pattern_sender(&addr, "320x240", &[]);
    // About three seconds of frames (the once-a-second reports lag a little behind).
    v.wait_reported_frames(90, T);
    v.child.kill().unwrap(); // SIGKILL: no buffer is flushed on the way out.
    v.child.wait().unwrap();
    let seen = support::reported_frames(&v.stdout_seen);
    let (codec, w, h, n) = ffprobe(&out);
    assert_eq!((codec.as_str(), w, h), ("mjpeg", 320, 240));
    // At least what arrived until a second (the sync period) before the last report, with
    // room for a slow frame rate under load; never more than arrived.
    assert!(n >= 45, "only {n} of the {seen}+ frames survived the kill");
    assert!(n <= seen + 60, "{n} frames, {seen} reported");
    gstreamer_plays(&out);
}

#[test]
fn a_sender_records_what_it_sends() {
    if !have_readers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sent.mkv");
    let (v, addr) = viewer(&[]);
    let sender = pattern_sender(&addr, "320x240", &["--frames", "30", "--record", s(&out)]);
    let (status, _, err) = sender.finish(T);
    assert!(status.success(), "{err:?}");
    drop(v);
    assert_eq!(ffprobe(&out), ("mjpeg".into(), 320, 240, 30));
    gstreamer_plays(&out);
}

#[test]
fn a_sender_to_rtp_records_too_and_a_folder_gets_a_named_file() {
    if !have_readers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Nobody listens: RTP needs no answer, and the recording is the sender's own.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dest = format!("rtp://127.0.0.1:{port}");
    let sender = pattern_sender(
        &dest,
        "320x240",
        &[
            "--frames",
            "20",
            "--name",
            "garage",
            "--record",
            s(dir.path()),
        ],
    );
    let (status, _, err) = sender.finish(T);
    assert!(status.success(), "{err:?}");
    let files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap();
    // <--name>-YYYYmmdd-HHMMSS.mkv
    assert!(
        name.starts_with("garage-") && name.ends_with(".mkv"),
        "{name}"
    );
    assert_eq!(name.len(), "garage-20250101-120000.mkv".len(), "{name}");
    assert_eq!(ffprobe(&files[0]), ("mjpeg".into(), 320, 240, 20));
    gstreamer_plays(&files[0]);
}

#[test]
fn an_rtp_stream_into_the_viewer_is_recorded() {
    if !have_readers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rtp.mkv");
    let port = support::free_port_pair();
    let listen = format!("rtp://127.0.0.1:{port}");
    let mut v = Proc::spawn(
        VIEW,
        &[
            "--listen",
            &listen,
            "--headless",
            "--stats-json",
            "--frames",
            "40",
            "--record",
            s(&out),
        ],
    );
    v.listening_addr();
    let _sender = pattern_sender(&listen, "320x240", &[]);
    let (status, stdout, err) = v.finish(T);
    assert!(status.success(), "{err:?}");
    assert_eq!(support::summary(&stdout)["unrecorded_frames"], 0);
    // RTP carries no capture time and no size: stamped on arrival, the size read from the
    // JPEG.
    assert_eq!(ffprobe(&out), ("mjpeg".into(), 320, 240, 40));
    gstreamer_plays(&out);
}

#[test]
fn a_full_disk_is_one_line_and_the_view_goes_on() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipping: needs /dev/full (Linux)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("full.mkv");
    // Every write to /dev/full fails with ENOSPC, as on a full disk.
    std::os::unix::fs::symlink("/dev/full", &out).unwrap();
    let (mut v, addr) = viewer(&["--record", s(&out)]);
    let _sender = pattern_sender(&addr, "320x240", &[]);
    let line = v
        .wait_line("recording to", T)
        .unwrap_or_else(|| panic!("no warning: {:?}", v.stderr));
    assert!(line.contains("full.mkv stopped"), "{line}");
    assert!(line.contains("No space left on device"), "{line}");
    // The view goes on: frames keep coming after the warning.
    let at_warning = support::reported_frames(&v.stdout_seen);
    v.wait_reported_frames(at_warning + 30, T);
    v.interrupt();
    let (status, stdout, err) = v.finish(T);
    assert!(status.success(), "{err:?}");
    let warnings = err.iter().filter(|l| l.contains("recording to")).count();
    assert_eq!(warnings, 1, "{err:?}");
    let summary = support::summary(&stdout);
    assert!(
        summary["unrecorded_frames"].as_u64().unwrap() >= 30,
        "{summary}"
    );
}

#[test]
fn a_record_path_in_a_missing_folder_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("no/such/out.mkv");
    for bin in [VIEW, SEND] {
        let (status, _, err) = support::run(bin, &["--record", s(&bad)], T);
        assert_eq!(status.code(), Some(2), "{bin}: {err:?}");
        let text = err.join("\n");
        assert!(text.contains("does not exist"), "{bin}: {text}");
        assert!(!bad.parent().unwrap().exists());
    }
}
