//! The viewer window really shows the stream: the real binaries, a real window under an X
//! server (Xvfb in CI), and a screenshot whose pixels are checked.
//!
//! Not a `#[test]`: windows belong on a main thread (macOS aborts otherwise), so this is a
//! plain program (`harness = false`). Without `DISPLAY` it says so and passes; `.ci/run`
//! always provides a display.

mod support;
#[allow(dead_code)]
#[path = "support/xwd.rs"]
mod xwd;

use std::time::{Duration, Instant};

use camwire::pattern::BAR_COLOURS;
use support::*;
use xwd::Screenshot;

/// JPEG at quality 80 keeps flat colour bars within this of their true value.
const TOL: u8 = 24;

fn bars_visible(shot: &Screenshot) -> Vec<f64> {
    BAR_COLOURS
        .iter()
        .map(|&c| shot.fraction_near(c, TOL))
        .collect()
}

fn main() {
    let display = match std::env::var("DISPLAY") {
        Ok(d) if !d.is_empty() && cfg!(target_os = "linux") => d,
        _ => {
            println!("window test skipped: DISPLAY is not set (CI runs it under Xvfb)");
            println!("0 passed, 0 failed, 1 skipped");
            return;
        }
    };
    let before = Screenshot::capture(&display).expect("screenshot before the window");

    let mut v = Proc::spawn(VIEW, &["--listen", "127.0.0.1:0"]);
    let dest = v.listening_addr().to_string();
    let s = Proc::spawn(SEND, &[&dest, "--size", "640x480", "--fps", "30"]);
    v.wait_line("connected from", Duration::from_secs(10))
        .expect("the sender reaches the viewer");

    // Poll until every bar colour covers a visible share of the screen (bounded: 15 s).
    let deadline = Instant::now() + Duration::from_secs(15);
    let (shot, fractions) = loop {
        let shot = Screenshot::capture(&display).expect("screenshot");
        let f = bars_visible(&shot);
        if f.iter().all(|&x| x > 0.005) {
            break (shot, f);
        }
        assert!(
            Instant::now() < deadline,
            "the window never showed the pattern's bars; coverage per bar: {f:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // The pattern moves: a later screenshot differs (the box, the sweep line, the counter).
    std::thread::sleep(Duration::from_millis(500));
    let later = Screenshot::capture(&display).expect("second screenshot");
    let moved = shot.diff_count(&later, TOL).unwrap();
    let changed_from_empty = before.diff_count(&shot, TOL).unwrap();

    s.interrupt();
    let (sst, _, serr) = s.finish(Duration::from_secs(20));
    v.interrupt();
    let (vst, _, verr) = v.finish(Duration::from_secs(20));

    let mut failures = Vec::new();
    if moved < 500 {
        failures.push(format!(
            "the picture did not move: {moved} pixels changed in 0.5 s"
        ));
    }
    if changed_from_empty < 50_000 {
        failures.push(format!(
            "the window covers only {changed_from_empty} pixels"
        ));
    }
    if !sst.success() {
        failures.push(format!("cam-send failed: {serr:?}"));
    }
    if !vst.success() {
        failures.push(format!("cam-view failed: {verr:?}"));
    }
    println!(
        "window test: bar coverage {:?}, {moved} pixels moved in 0.5 s",
        fractions
            .iter()
            .map(|f| format!("{:.1}%", f * 100.0))
            .collect::<Vec<_>>()
    );
    if failures.is_empty() {
        println!("1 passed, 0 failed");
    } else {
        for f in &failures {
            eprintln!("window test failed: {f}");
        }
        println!("0 passed, 1 failed");
        std::process::exit(1);
    }
}
