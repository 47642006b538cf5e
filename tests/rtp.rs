//! `cam-send rtp://` against the real receivers: ffmpeg (with the SDP file cam-send writes)
//! and GStreamer (`udpsrc ! rtpjpegdepay`). Every frame they rebuild decodes to exactly the
//! pixels of one of the JPEGs sent: 4:2:0 pictures, a 4:2:2 one with restart markers (RFC 2435
//! types 64/65), and, for GStreamer, a 2560x1440 one (over RFC 2435's 2040-pixel limit: its
//! size travels in the SDP's `x-dimensions`).
//!
//! Without ffmpeg or GStreamer these tests say so and pass, except in CI (`CI=true`), where
//! `.ci/run` installs them and a missing one fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use camwire::media::camera::fake::samples;
use camwire::media::codec::{encode_rgb, Decoder};
use camwire::media::pattern::Pattern;
use support::{write_jpegs, Proc, SEND};

const T: Duration = Duration::from_secs(60);

/// Whether `tool` runs here; in CI its absence fails the test.
fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run the RTP interop tests: install {tool} (.ci/run does)"
        );
        eprintln!("skipping: needs {tool} (apt-get install ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-good)");
    }
    ok
}

/// A UDP port free on loopback, with the next one (RTCP) free too.
fn free_port_pair() -> u16 {
    loop {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p < u16::MAX && std::net::UdpSocket::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

fn pixels(jpeg: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut d = Decoder::new();
    let (w, h) = d.decode_rgb(jpeg).unwrap();
    (w, h, d.rgb().to_vec())
}

/// The pictures sent: three 4:2:0 frames from camwire's encoder and a 4:2:2 frame with a
/// restart marker every MCU (as UVC cameras send), plus `extra`.
fn pictures(dir: &Path, extra: &[(&str, Vec<u8>)]) -> Vec<(u32, u32, Vec<u8>)> {
    let mut sent = write_jpegs(dir, 3, 320, 240);
    let rgb = samples::scene(160, 96, 3);
    let rst = samples::jpeg_with_restarts(&rgb, 160, 96, 2).unwrap();
    std::fs::write(dir.join("frame_100_restarts.jpg"), &rst).unwrap();
    sent.push(rst);
    for (name, jpeg) in extra {
        std::fs::write(dir.join(name), jpeg).unwrap();
        sent.push(jpeg.clone());
    }
    sent.iter().map(|j| pixels(j)).collect()
}

/// Waits for `child` to exit by itself, or kills it at the deadline.
fn finish(mut child: Child, what: &str) {
    let deadline = Instant::now() + T;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {T:?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The JPEG files a receiver wrote into `dir`, in name order.
fn received(dir: &Path, prefix: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

/// Every received frame decodes to exactly one of the sent pictures; returns how many
/// different pictures were seen.
fn check_exact(got: &[(PathBuf, Vec<u8>)], sent: &[(u32, u32, Vec<u8>)]) -> usize {
    let mut seen = vec![false; sent.len()];
    for (path, jpeg) in got {
        let p = pixels(jpeg);
        let i = sent.iter().position(|s| *s == p).unwrap_or_else(|| {
            panic!(
                "{} ({}x{}) is not pixel for pixel any picture sent",
                path.display(),
                p.0,
                p.1
            )
        });
        seen[i] = true;
    }
    seen.iter().filter(|&&s| s).count()
}

fn sender(port: u16, dir: &Path, extra: &[&str]) -> Proc {
    let dest = format!("rtp://127.0.0.1:{port}");
    let mut args = vec![
        dest.as_str(),
        "--image",
        dir.to_str().unwrap(),
        "--loop",
        "--fps",
        "20",
    ];
    args.extend_from_slice(extra);
    Proc::spawn(SEND, &args)
}

#[test]
fn ffmpeg_rebuilds_every_frame_pixel_for_pixel_from_the_sdp() {
    if !have("ffmpeg") {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let sent = pictures(src.path(), &[]);
    let port = free_port_pair();
    let sdp = out.path().join("cam.sdp");
    let mut s = sender(port, src.path(), &["--sdp", sdp.to_str().unwrap()]);
    s.wait_line("session description written", T)
        .unwrap_or_else(|| panic!("no SDP: {:?}", s.stderr));
    let ff = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-protocol_whitelist",
            "file,udp,rtp",
            "-i",
        ])
        .arg(&sdp)
        .args(["-frames:v", "24", "-c", "copy", "-f", "image2"])
        .arg(out.path().join("ff%03d.jpg"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    finish(ff, "ffmpeg");
    let got = received(out.path(), "ff");
    assert!(got.len() >= 20, "ffmpeg wrote {} frames", got.len());
    assert_eq!(
        check_exact(&got, &sent),
        sent.len(),
        "not every picture came"
    );
}

#[test]
fn gstreamer_rebuilds_every_frame_pixel_for_pixel_including_2560x1440() {
    if !have("gst-launch-1.0") {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let big = {
        let (w, h) = (2560, 1440);
        let mut rgb = Vec::new();
        Pattern::new(w, h).render(5, &mut rgb);
        let mut jpeg = Vec::new();
        encode_rgb(&rgb, w, h, 80, &mut jpeg).unwrap();
        jpeg
    };
    let sent = pictures(src.path(), &[("frame_200_big.jpg", big)]);
    let port = free_port_pair();
    let location = out.path().join("gst%03d.jpg");
    // The caps an SDP with a=x-dimensions gives rtspsrc/sdpdemux, written out.
    let gst = Command::new("gst-launch-1.0")
        .args(["-q", "udpsrc"])
        .arg(format!("port={port}"))
        .arg(
            "caps=application/x-rtp,media=video,clock-rate=90000,encoding-name=JPEG,payload=26,\
             x-dimensions=(string)\"2560,1440\"",
        )
        .args(["!", "rtpjpegdepay", "!", "multifilesink"])
        .arg(format!("location={}", location.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _s = sender(port, src.path(), &[]);
    let deadline = Instant::now() + T;
    let got = loop {
        // Files that multifilesink has finished: all but the newest.
        let mut got = received(out.path(), "gst");
        got.pop();
        if got.len() >= 15 {
            break got;
        }
        assert!(
            Instant::now() < deadline,
            "GStreamer wrote {} frames",
            got.len()
        );
        thread::sleep(Duration::from_millis(100));
    };
    let mut gst = gst;
    let _ = gst.kill();
    let _ = gst.wait();
    assert_eq!(
        check_exact(&got, &sent),
        sent.len(),
        "not every picture came"
    );
}
