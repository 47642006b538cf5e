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
use support::{free_port_pair, write_jpegs, Proc, VIEW};

const T: Duration = Duration::from_secs(60);

/// Whether `tool` runs here; in CI its absence fails the test.
fn have(tool: &str) -> bool {
    support::have_tool(tool, "the RTP interop tests")
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
    // A file a receiver is still writing may not be readable yet: it is left for later.
    files
        .into_iter()
        .filter_map(|p| match std::fs::read(&p) {
            Ok(b) => Some((p, b)),
            Err(e) => {
                eprintln!("{}: {e}", p.display());
                None
            }
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
    support::image_loop_sender(&format!("rtp://127.0.0.1:{port}"), dir, 20, extra)
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

/// A headless `cam-view --listen rtp://` on a free port that saves every frame.
fn rtp_viewer(save: &Path) -> (Proc, u16) {
    let port = free_port_pair();
    let listen = format!("rtp://127.0.0.1:{port}");
    let mut v = Proc::spawn(
        VIEW,
        &[
            "--listen",
            &listen,
            "--headless",
            "--save",
            save.to_str().unwrap(),
            "--stats-json",
        ],
    );
    v.listening_addr();
    (v, port)
}

/// Stops a viewer; returns its summary.
fn stop_viewer(v: Proc) -> serde_json::Value {
    v.interrupt();
    let (_, out, err) = v.finish(T);
    let s = support::summary(&out);
    assert!(!err.iter().any(|l| l.contains("panicked")), "{err:?}");
    s
}

#[test]
fn gstreamer_rtpjpegpay_shows_in_cam_view_pixel_for_pixel() {
    if !have("gst-launch-1.0") {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let saved = tempfile::tempdir().unwrap();
    let (mut v, port) = rtp_viewer(saved.path());
    // The encoder's output goes both to the network and to files, to compare with.
    let gst = Command::new("gst-launch-1.0")
        .args(["-q", "videotestsrc", "num-buffers=60", "pattern=ball", "!"])
        .arg("video/x-raw,format=I420,width=320,height=240,framerate=30/1")
        .args([
            "!", "jpegenc", "!", "tee", "name=t", "t.", "!", "queue", "!",
        ])
        .args(["rtpjpegpay", "!", "udpsink", "host=127.0.0.1"])
        .arg(format!("port={port}"))
        .args(["t.", "!", "queue", "!", "multifilesink"])
        .arg(format!("location={}/g%03d.jpg", src.path().display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    finish(gst, "GStreamer");
    v.wait_reported_frames(55, T);
    let summary = stop_viewer(v);
    let sent: Vec<_> = received(src.path(), "g")
        .iter()
        .map(|(_, j)| pixels(j))
        .collect();
    let got = received(saved.path(), "");
    assert!(got.len() >= 55, "{} frames saved: {summary}", got.len());
    assert!(check_exact(&got, &sent) >= 55);
    assert_eq!(summary["rtp"]["lost_packets"], 0, "{summary}");
}

#[test]
fn ffmpeg_rtp_output_shows_in_cam_view_pixel_for_pixel() {
    if !have("ffmpeg") {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let saved = tempfile::tempdir().unwrap();
    // ffmpeg's RTP muxer takes only the standard Huffman tables, which its encoder leaves
    // for optimised ones unless told.
    let made = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=30",
        ])
        .args(["-frames:v", "45", "-c:v", "mjpeg", "-huffman", "default"])
        .args(["-pix_fmt", "yuvj420p"])
        .arg(src.path().join("f%03d.jpg"))
        .status()
        .unwrap();
    assert!(made.success());
    let (mut v, port) = rtp_viewer(saved.path());
    let ff = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-re", "-framerate", "30", "-i"])
        .arg(src.path().join("f%03d.jpg"))
        .args(["-c", "copy", "-f", "rtp"])
        .arg(format!("rtp://127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    finish(ff, "ffmpeg");
    v.wait_reported_frames(40, T);
    let summary = stop_viewer(v);
    let sent: Vec<_> = received(src.path(), "f")
        .iter()
        .map(|(_, j)| pixels(j))
        .collect();
    let got = received(saved.path(), "");
    assert!(got.len() >= 40, "{} frames saved: {summary}", got.len());
    assert!(check_exact(&got, &sent) >= 40);
}

#[test]
fn through_a_lossy_relay_nacks_repair_and_no_broken_frame_is_shown() {
    use support::relay::{Faults, Relay};
    let src = tempfile::tempdir().unwrap();
    let saved = tempfile::tempdir().unwrap();
    let sent = pictures(src.path(), &[]);
    let (mut v, port) = rtp_viewer(saved.path());
    // 3% loss, duplicates and reordering towards the viewer, and 3% loss of NACKs.
    let faults = Faults {
        duplicate: 0.02,
        reorder: 0.05,
        ..Faults::loss(0.03)
    };
    let relay = Relay::start(
        format!("127.0.0.1:{port}").parse().unwrap(),
        faults,
        Faults::loss(0.03),
        7,
    )
    .unwrap();
    let dest = format!("rtp://{}", relay.addr());
    let s = support::image_loop_sender(&dest, src.path(), 30, &["--stats-json"]);
    v.wait_reported_frames(90, T);
    let summary = stop_viewer(v);
    s.interrupt();
    let (_, out, _) = s.finish(T);
    let sender = support::summary(&out);
    let got = received(saved.path(), "");
    check_exact(&got, &sent);
    // Without repair, every frame that lost any of its packets would be dropped: at 3% a
    // packet, most of these multi-packet frames over a run.
    let frames = summary["frames"].as_u64().unwrap();
    let dropped = summary["dropped_frames"].as_u64().unwrap();
    eprintln!(
        "{frames} frames, {dropped} dropped, {} NACKs, {} packets sent again",
        summary["nacks"], sender["retransmitted_chunks"]
    );
    assert!(
        dropped * 10 < frames,
        "{dropped} of {frames} dropped: {summary}"
    );
    assert!(summary["nacks"].as_u64().unwrap() > 0, "{summary}");
    assert!(
        sender["retransmitted_chunks"].as_u64().unwrap() > 0,
        "{sender}"
    );
}

/// The Python that has the GStreamer bindings (the system one: a pyenv or venv `python3`
/// on PATH may not see Debian's `python3-gi`).
fn python_with_rtsp_server() -> Option<&'static str> {
    let py = ["/usr/bin/python3", "python3"].into_iter().find(|py| {
        Command::new(py)
            .args([
                "-c",
                "import gi; gi.require_version('GstRtspServer', '1.0'); \
                 from gi.repository import GstRtspServer",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if py.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run the RTSP fan-out test: install gir1.2-gst-rtsp-server-1.0 \
             gstreamer1.0-rtsp python3-gi (.ci/run does)"
        );
        eprintln!(
            "skipping: needs GStreamer's RTSP server (apt-get install gir1.2-gst-rtsp-server-1.0 \
             gstreamer1.0-rtsp python3-gi)"
        );
    }
    py
}

#[test]
fn an_rtsp_server_fans_one_sender_out_to_three_clients_pixel_for_pixel() {
    if !have("gst-launch-1.0") || !have("ffmpeg") {
        return;
    }
    let Some(py) = python_with_rtsp_server() else {
        return;
    };
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let sent = pictures(src.path(), &[]);
    let rtp_port = free_port_pair();
    let rtsp_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/rtsp-fanout.py");
    let mut server = Proc::spawn(py, &[script, &rtp_port.to_string(), &rtsp_port.to_string()]);
    assert!(
        server.wait_stdout(T, |l| l.iter().any(|l| l.starts_with("serving rtsp://"))),
        "the RTSP server did not start: {:?}",
        server.stderr
    );
    let _s = sender(rtp_port, src.path(), &[]);
    let url = format!("rtsp://127.0.0.1:{rtsp_port}/cam");
    let dirs: Vec<PathBuf> = ["gst", "ffudp", "fftcp"]
        .iter()
        .map(|d| {
            let p = out.path().join(d);
            std::fs::create_dir(&p).unwrap();
            p
        })
        .collect();
    let gst = Command::new("gst-launch-1.0")
        .args(["-q", "rtspsrc"])
        .arg(format!("location={url}"))
        .args(["!", "rtpjpegdepay", "!", "multifilesink"])
        .arg(format!("location={}/%03d.jpg", dirs[0].display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ffmpeg = |transport: &str, dir: &Path| {
        Command::new("ffmpeg")
            .args([
                "-loglevel",
                "error",
                "-rtsp_transport",
                transport,
                "-i",
                &url,
            ])
            .args(["-frames:v", "20", "-c", "copy", "-f", "image2"])
            .arg(dir.join("%03d.jpg"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let ff_udp = ffmpeg("udp", &dirs[1]);
    let ff_tcp = ffmpeg("tcp", &dirs[2]);
    finish(ff_udp, "ffmpeg over RTSP/UDP");
    finish(ff_tcp, "ffmpeg over RTSP/TCP");
    let deadline = Instant::now() + T;
    while received(&dirs[0], "").len() < 21 {
        assert!(Instant::now() < deadline, "rtspsrc got too few frames");
        thread::sleep(Duration::from_millis(100));
    }
    let mut gst = gst;
    let _ = gst.kill();
    let _ = gst.wait();
    for d in &dirs {
        let mut got = received(d, "");
        if d == &dirs[0] {
            got.pop(); // multifilesink may be writing the newest
        }
        assert!(got.len() >= 20, "{}: {} frames", d.display(), got.len());
        assert!(check_exact(&got, &sent) >= 3, "{}", d.display());
    }
}

#[test]
fn jpegs_rfc_2435_cannot_carry_are_encoded_again_and_said_never_sent_broken() {
    let src = tempfile::tempdir().unwrap();
    let saved = tempfile::tempdir().unwrap();
    // The image crate writes 4:4:4 colour, and grey: neither travels as it is.
    let rgb = samples::scene(160, 96, 5);
    let img = image::RgbImage::from_raw(160, 96, rgb.clone()).unwrap();
    let grey = image::DynamicImage::ImageRgb8(img.clone()).to_luma8();
    let mut colour = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut colour, 95)
        .encode_image(&img)
        .unwrap();
    let mut mono = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut mono, 95)
        .encode_image(&grey)
        .unwrap();
    std::fs::write(src.path().join("a_444.jpg"), &colour).unwrap();
    std::fs::write(src.path().join("b_grey.jpg"), &mono).unwrap();
    let (mut v, port) = rtp_viewer(saved.path());
    let mut s = sender(port, src.path(), &[]);
    s.wait_line("encoding the pictures again", T)
        .unwrap_or_else(|| panic!("not said: {:?}", s.stderr));
    v.wait_reported_frames(20, T);
    let summary = stop_viewer(v);
    let got = received(saved.path(), "");
    assert!(got.len() >= 20, "{summary}");
    let originals = [pixels(&colour), pixels(&mono)];
    for (path, jpeg) in &got {
        let (w, h, px) = pixels(jpeg);
        assert_eq!((w, h), (160, 96), "{}", path.display());
        // Encoded again (lossy, 4:2:0 at --quality 80, a noisy scene): close to one of the
        // originals; a broken frame would be off by tens.
        let err = originals
            .iter()
            .map(|o| {
                let sum: u64 =
                    o.2.iter()
                        .zip(&px)
                        .map(|(a, b)| u64::from(a.abs_diff(*b)))
                        .sum();
                sum as f64 / px.len() as f64
            })
            .fold(f64::MAX, f64::min);
        assert!(err < 15.0, "{}: mean error {err}", path.display());
    }
}

#[test]
fn a_gstreamer_rtpbin_receiver_with_retransmission_gets_lost_packets_again() {
    use support::relay::{Faults, Relay};
    if !have("gst-launch-1.0") {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let sent = pictures(src.path(), &[]);
    let port = free_port_pair();
    let relay = Relay::start(
        format!("127.0.0.1:{port}").parse().unwrap(),
        Faults::loss(0.03),
        Faults::default(),
        11,
    )
    .unwrap();
    let dest = format!("rtp://{}", relay.addr());
    let mut s = support::image_loop_sender(&dest, src.path(), 30, &["--stats-json"]);
    let line = s
        .wait_line("NACKs taken on port ", T)
        .unwrap_or_else(|| panic!("no RTCP line: {:?}", s.stderr));
    let feedback: u16 = line
        .split("NACKs taken on port ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // rtpbin's jitter buffer asks for what is missing; its session sends RTCP NACKs (AVPF)
    // to the sender's RTCP port.
    let gst = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "rtpbin",
            "name=b",
            "rtp-profile=avpf",
            "do-retransmission=true",
        ])
        .args(["latency=300", "udpsrc"])
        .arg(format!("port={port}"))
        .arg("caps=application/x-rtp,media=video,clock-rate=90000,encoding-name=JPEG,payload=26")
        .args([
            "!",
            "b.recv_rtp_sink_0",
            "b.",
            "!",
            "rtpjpegdepay",
            "!",
            "multifilesink",
        ])
        .arg(format!("location={}/%04d.jpg", out.path().display()))
        .args(["b.send_rtcp_src_0", "!", "udpsink", "host=127.0.0.1"])
        .arg(format!("port={feedback}"))
        .args(["sync=false", "async=false"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + T;
    while received(out.path(), "").len() < 91 {
        assert!(Instant::now() < deadline, "GStreamer got too few frames");
        thread::sleep(Duration::from_millis(100));
    }
    let mut gst = gst;
    let _ = gst.kill();
    let _ = gst.wait();
    s.interrupt();
    let (_, stdout, _) = s.finish(T);
    let sender = support::summary(&stdout);
    let mut got = received(out.path(), "");
    got.pop();
    check_exact(&got, &sent);
    eprintln!(
        "GStreamer: {} frames; sender: {} frames, {} NACKs, {} packets sent again",
        got.len(),
        sender["frames"],
        sender["nacks"],
        sender["retransmitted_chunks"]
    );
    assert!(
        sender["retransmitted_chunks"].as_u64().unwrap() > 0,
        "GStreamer's NACKs never came: {sender}"
    );
}
