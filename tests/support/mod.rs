//! Shared helpers for the integration tests: run the real binaries on loopback with bounded
//! waits, and read what they print.
#![allow(dead_code)]

pub mod relay;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

pub const SEND: &str = env!("CARGO_BIN_EXE_cam-send");
pub const VIEW: &str = env!("CARGO_BIN_EXE_cam-view");

/// A running program whose stderr lines are collected as they come.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub stderr: Vec<String>,
    stdout: Option<thread::JoinHandle<String>>,
    out_lines: mpsc::Receiver<String>,
    /// The stdout lines seen so far by [`Proc::wait_stdout`].
    pub stdout_seen: Vec<String>,
}

impl Proc {
    pub fn spawn(bin: &str, args: &[&str]) -> Proc {
        Self::spawn_env(bin, args, &[])
    }

    /// Spawns with `input` written to its stdin (then closed) from a thread of its own.
    pub fn spawn_stdin(bin: &str, args: &[&str], input: Vec<u8>) -> Proc {
        let mut p = Self::spawn_io(bin, args, &[], Stdio::piped());
        let mut stdin = p.child.stdin.take().unwrap();
        thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&input);
        });
        p
    }

    /// Spawns with extra environment (a value of "" removes the variable).
    pub fn spawn_env(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        Self::spawn_io(bin, args, env, Stdio::null())
    }

    fn spawn_io(bin: &str, args: &[&str], env: &[(&str, &str)], stdin: Stdio) -> Proc {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        let mut child = cmd.spawn().expect("spawn binary");
        let err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (otx, orx) = mpsc::channel();
        let stdout = thread::spawn(move || {
            // All of stdout for `finish`, and each line as it comes for `wait_stdout`.
            let mut all = String::new();
            let mut line = String::new();
            while matches!(out.read_line(&mut line), Ok(n) if n > 0) {
                all.push_str(&line);
                let _ = otx.send(line.trim_end_matches('\n').to_string());
                line.clear();
            }
            let mut rest = String::new();
            let _ = out.read_to_string(&mut rest);
            all.push_str(&rest);
            all
        });
        Proc {
            child,
            lines: rx,
            stderr: Vec::new(),
            stdout: Some(stdout),
            out_lines: orx,
            stdout_seen: Vec::new(),
        }
    }

    /// Waits up to `timeout` for a stderr line containing `needle`; returns it.
    pub fn wait_line(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        if let Some(l) = self.stderr.iter().find(|l| l.contains(needle)) {
            return Some(l.clone());
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.stderr.push(l.clone());
                    if l.contains(needle) {
                        return Some(l);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits up to `timeout` until `done` is true of the stdout lines so far (it is asked
    /// again after each new line); returns whether it became true.
    pub fn wait_stdout(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[String]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.stdout_seen) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.out_lines.recv_timeout(left) {
                Ok(l) => self.stdout_seen.push(l),
                Err(_) => return false,
            }
        }
    }

    /// Waits up to `timeout` until the `--stats-json` interval reports on stdout add up to at
    /// least `frames` frames; panics with what was seen if they do not.
    pub fn wait_reported_frames(&mut self, frames: u64, timeout: Duration) {
        let ok = self.wait_stdout(timeout, |lines| reported_frames(lines) >= frames);
        assert!(
            ok,
            "fewer than {frames} frames reported within {timeout:?}: {:?}; stderr: {:?}",
            self.stdout_seen, self.stderr
        );
    }

    /// The address a viewer started with `--listen 127.0.0.1:0` is listening on.
    pub fn listening_addr(&mut self) -> SocketAddr {
        let line = self
            .wait_line("listening on ", Duration::from_secs(10))
            .unwrap_or_else(|| panic!("viewer did not start listening; stderr: {:?}", self.stderr));
        line.rsplit("listening on ")
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// The page's link a viewer started with `--http` printed (`web view: open URL ...`).
    pub fn web_view_url(&mut self) -> String {
        let line = self
            .wait_line("web view: open ", Duration::from_secs(10))
            .unwrap_or_else(|| panic!("no web view line; stderr: {:?}", self.stderr));
        let after = line.split("web view: open ").nth(1).unwrap();
        after.split(' ').next().unwrap().to_owned()
    }

    /// Waits up to `timeout` for the process to exit; kills it and panics on timeout.
    /// Returns the exit status, all of stdout, and all stderr lines.
    pub fn finish(mut self, timeout: Duration) -> (ExitStatus, String, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.drain();
                panic!(
                    "process did not exit within {timeout:?}; stderr: {:?}",
                    self.stderr
                );
            }
            thread::sleep(Duration::from_millis(10));
        };
        let out = self.stdout.take().unwrap().join().unwrap_or_default();
        self.drain();
        (status, out, std::mem::take(&mut self.stderr))
    }

    fn drain(&mut self) {
        // The reader thread ends at EOF, shortly after exit.
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.stderr.push(l);
        }
    }

    /// Sends SIGINT, as Ctrl-C would.
    pub fn interrupt(&self) {
        let ok = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -INT failed");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a program to completion with a time limit.
pub fn run(bin: &str, args: &[&str], timeout: Duration) -> (ExitStatus, String, Vec<String>) {
    Proc::spawn(bin, args).finish(timeout)
}

/// Parses `--stats-json` output: every line must be a JSON object.
pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// The frames counted by the `"interval"` reports among `--stats-json` lines.
pub fn reported_frames(lines: &[String]) -> u64 {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "interval")
        .filter_map(|v| v["frames"].as_u64())
        .sum()
}

/// The last object of `--stats-json` output, which must be the summary.
pub fn summary(stdout: &str) -> serde_json::Value {
    let v = json_lines(stdout).pop().expect("no JSON output");
    assert_eq!(v["type"], "summary", "last line is not the summary: {v}");
    v
}

/// `cam-send DEST --image DIR --loop --fps FPS` and `extra`: a folder of pictures, looped.
pub fn image_loop_sender(dest: &str, dir: &Path, fps: u32, extra: &[&str]) -> Proc {
    let fps = fps.to_string();
    let mut args = vec![
        dest,
        "--image",
        dir.to_str().unwrap(),
        "--loop",
        "--fps",
        &fps,
    ];
    args.extend_from_slice(extra);
    Proc::spawn(SEND, &args)
}

/// Writes `n` distinct JPEG files (`frame_000.jpg`, ...) into `dir` and returns their bytes.
pub fn write_jpegs(dir: &Path, n: usize, w: u32, h: u32) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let rgb: Vec<u8> = (0..w * h)
                .flat_map(|p| {
                    let (x, y) = (p % w, p / w);
                    [(x * 7 + i as u32 * 40) as u8, (y * 5) as u8, (i * 60) as u8]
                })
                .collect();
            let mut jpeg = Vec::new();
            camwire::media::codec::encode_rgb(&rgb, w, h, 85, &mut jpeg).unwrap();
            std::fs::write(dir.join(format!("frame_{i:03}.jpg")), &jpeg).unwrap();
            jpeg
        })
        .collect()
}

/// The message lines (`"via"` key) of a viewer's stdout, skipping `--stats-json` reports.
pub fn message_lines(stdout: &str) -> Vec<serde_json::Value> {
    json_lines(stdout)
        .into_iter()
        .filter(|v| v.get("via").is_some())
        .collect()
}

/// Whether the peer program `tool` (ffmpeg, ffprobe, gst-launch-1.0, ...) runs here. Outside
/// CI a missing one is a skip, said on stderr; with `CI=true` it fails `purpose`, since
/// `.ci/run` installs every peer the tests use.
pub fn have_tool(tool: &str, purpose: &str) -> bool {
    // ffmpeg's tools take one dash; GStreamer's two.
    let flag = if tool.starts_with("ff") {
        "-version"
    } else {
        "--version"
    };
    let ok = Command::new(tool)
        .arg(flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run {purpose}: install {tool} (.ci/run does)"
        );
        eprintln!(
            "skipping: needs {tool} (apt-get install ffmpeg gstreamer1.0-tools \
             gstreamer1.0-plugins-good)"
        );
    }
    ok
}

/// A UDP port free on loopback, with the next one (RTP's RTCP port) free too.
pub fn free_port_pair() -> u16 {
    loop {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p < u16::MAX && std::net::UdpSocket::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}
