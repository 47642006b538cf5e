//! The network goes away for 2 s mid-stream and comes back: `cam-send` keeps running, says
//! so, and resumes. Two network namespaces made here, joined by a veth pair with addresses
//! in 10.213.0.0/16 that exist only inside them; the sender's end of the link is taken down
//! and up again. A second test starts the library's `examples/sender` with that link down: its
//! `FrameSender` must connect once the link comes up.
//!
//! It needs root and `ip` (iproute2). Without them it is skipped with a line saying why, except
//! under `CI=true`, where not being able to run is a failure (`.ci/run` installs iproute2 and
//! runs as root).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

const T: Duration = Duration::from_secs(30);

/// Runs `ip` with `args`; `Err` with what it said.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Two namespaces and the veth pair between them, removed on drop.
struct Lab {
    sender_ns: String,
    viewer_ns: String,
    sender_if: String,
    viewer_ip: String,
}

impl Lab {
    /// `tag` (one letter per test) keeps the names of tests running at once apart.
    fn new(tag: char) -> Result<Lab, String> {
        let id = std::process::id();
        let net = id % 250 + 1;
        let lab = Lab {
            sender_ns: format!("cw-s-{id}{tag}"),
            viewer_ns: format!("cw-v-{id}{tag}"),
            sender_if: format!("cws{}{tag}", id % 100_000),
            viewer_ip: format!("10.213.{net}.2"),
        };
        let viewer_if = format!("cwv{}{tag}", id % 100_000);
        let sender_cidr = format!("10.213.{net}.1/24");
        let viewer_cidr = format!("{}/24", lab.viewer_ip);
        let (s, v) = (lab.sender_ns.as_str(), lab.viewer_ns.as_str());
        ip(&["netns", "add", s])?;
        ip(&["netns", "add", v])?;
        // Whatever was made is removed when `lab` is dropped, on an early return too.
        ip(&[
            "-n",
            s,
            "link",
            "add",
            &lab.sender_if,
            "type",
            "veth",
            "peer",
            "name",
            &viewer_if,
            "netns",
            v,
        ])?;
        ip(&["-n", s, "addr", "add", &sender_cidr, "dev", &lab.sender_if])?;
        ip(&["-n", v, "addr", "add", &viewer_cidr, "dev", &viewer_if])?;
        for (ns, dev) in [
            (s, lab.sender_if.as_str()),
            (v, viewer_if.as_str()),
            (s, "lo"),
            (v, "lo"),
        ] {
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(lab)
    }

    fn set_sender_link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.sender_ns, "link", "set", &self.sender_if, state]).unwrap();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end in it, and with it the pair.
        let _ = ip(&["netns", "del", &self.sender_ns]);
        let _ = ip(&["netns", "del", &self.viewer_ns]);
    }
}

/// Skips with a reason, or fails under CI=true.
fn cannot_run(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the network namespace test cannot run under CI=true: {why}");
    }
    eprintln!("netns test: SKIPPED, {why} (it needs root and iproute2's ip)");
}

fn in_ns(ns: &str, bin: &str, args: &[&str]) -> Proc {
    let mut all = vec!["netns", "exec", ns, bin];
    all.extend_from_slice(args);
    Proc::spawn("ip", &all)
}

#[test]
fn the_sender_rides_out_two_seconds_without_a_network() {
    const TAG: char = 'a';
    if !cfg!(target_os = "linux") {
        return cannot_run("network namespaces are Linux-only");
    }
    let lab = match Lab::new(TAG) {
        Ok(l) => l,
        Err(e) => return cannot_run(&e),
    };
    let listen = format!("{}:9999", lab.viewer_ip);
    let mut v = in_ns(
        &lab.viewer_ns,
        VIEW,
        &["--headless", "--listen", &listen, "--stats-json"],
    );
    let mut s = in_ns(
        &lab.sender_ns,
        SEND,
        &[
            &listen,
            "--size",
            "160x120",
            "--fps",
            "30",
            "--ack-timeout",
            "50",
        ],
    );
    v.wait_reported_frames(10, T);

    lab.set_sender_link(false);
    let down_at = Instant::now();
    let said = s.wait_line("no route to", T);
    assert!(
        said.is_some(),
        "the sender did not say the network was away: {:?}",
        s.stderr
    );
    // The outage itself: 2 s, as a Wi-Fi drop would be.
    std::thread::sleep(Duration::from_secs(2).saturating_sub(down_at.elapsed()));
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "the sender exited while the network was away: {:?}",
        s.stderr
    );
    lab.set_sender_link(true);
    assert!(
        s.wait_line("the network is back", T).is_some(),
        "{:?}",
        s.stderr
    );
    assert!(
        s.wait_line("answers again", T).is_some(),
        "the stream did not resume: {:?}",
        s.stderr
    );
    let before = reported_frames(&v.stdout_seen);
    v.wait_reported_frames(before + 10, T);

    s.interrupt();
    let (st, _, err) = s.finish(T);
    assert!(st.success(), "{err:?}");
    assert!(
        !err.iter().any(|l| l.contains("error:")),
        "no error line: {err:?}"
    );
    assert_eq!(
        err.iter().filter(|l| l.contains("no route to")).count(),
        1,
        "said once: {err:?}"
    );
    v.interrupt();
    let _ = v.finish(T);
}

/// `examples/sender.rs`, built by a plain `cargo test` (as `.ci/run` does) beside the test
/// binaries; `None` when only this test target was built.
fn example_sender() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("examples").join("sender");
    p.exists().then_some(p)
}

#[test]
fn a_library_sender_with_no_network_at_start_connects_once_there_is_one() {
    const TAG: char = 'b';
    if !cfg!(target_os = "linux") {
        return cannot_run("network namespaces are Linux-only");
    }
    let Some(example) = example_sender() else {
        return cannot_run("examples/sender is not built (run a plain `cargo test`)");
    };
    let lab = match Lab::new(TAG) {
        Ok(l) => l,
        Err(e) => return cannot_run(&e),
    };
    let listen = format!("{}:9999", lab.viewer_ip);
    let mut v = in_ns(&lab.viewer_ns, VIEW, &["--headless", "--listen", &listen]);
    assert!(v.wait_line("listening", T).is_some(), "{:?}", v.stderr);
    // No route from the sender's namespace: FrameSender::connect used to fail at once.
    lab.set_sender_link(false);
    let s = in_ns(
        &lab.sender_ns,
        example.to_str().unwrap(),
        &[listen.as_str()],
    );
    // Within the first send's 2 s timeout, the network comes.
    std::thread::sleep(Duration::from_millis(700));
    lab.set_sender_link(true);
    let (st, out, err) = s.finish(T);
    assert!(st.success(), "{err:?}");
    assert!(
        out.contains("100 frames and 100 messages acknowledged"),
        "{out} {err:?}"
    );
    v.interrupt();
    let _ = v.finish(T);
}
