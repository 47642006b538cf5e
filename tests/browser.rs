//! A real browser watches the web view: headless Chromium (Debian's `chromium`, which
//! `.ci/run` installs) opens the page of `cam-view --demo --headless --http` (the README's demo
//! with `--http`), and its screenshots show the test pattern's colour bars, moving between two
//! shots, with the page's live numbers filled in.
//!
//! Without Chromium the test says so and passes, except in CI (`CI=true`), where it fails.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use camwire::media::pattern::BAR_COLOURS;
use support::{Proc, VIEW};

const T: Duration = Duration::from_secs(30);
/// The browser window; the page draws the picture to fit it, aspect kept.
const WIN: (u32, u32) = (800, 600);

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// One screenshot of `url` into `png`; returns the DOM the page had then.
fn screenshot(browser: &str, url: &str, png: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--log-level=3",
            "--no-first-run",
            "--disable-background-networking",
            "--hide-scrollbars",
            // Lets the page's first stats fetch and timers finish before the shot is taken;
            // --timeout bounds the wait if no frame ever arrives.
            "--virtual-time-budget=2000",
            "--timeout=10000",
            "--dump-dom",
        ])
        .arg(format!("--window-size={},{}", WIN.0, WIN.1))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let deadline = Instant::now() + T;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {T:?}");
        }
        thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "chromium: {status}");
    reader.join().unwrap()
}

/// The colours down the middle of each bar, in the picture as the page drew it (fitted to
/// the window, aspect kept, so 1280x720 becomes 800x450 at y = 75). The median of a strip of
/// points, so the bouncing box or the sweeping line over a few of them changes nothing.
fn bar_colours(img: &image::RgbImage) -> Vec<[u8; 3]> {
    let (w, h) = (WIN.0 as f64, WIN.0 as f64 * 9.0 / 16.0);
    let top = (WIN.1 as f64 - h) / 2.0;
    (0..8)
        .map(|i| {
            let x = (i as f64 + 0.5) * w / 8.0;
            let mut px: Vec<[u8; 3]> = Vec::new();
            for dx in [-20.0, 0.0, 20.0] {
                for k in 0..15 {
                    let y = top + h * (0.25 + 0.4 * k as f64 / 14.0);
                    px.push(img.get_pixel((x + dx) as u32, y as u32).0);
                }
            }
            let mut m = [0u8; 3];
            for (c, slot) in m.iter_mut().enumerate() {
                let mut v: Vec<u8> = px.iter().map(|p| p[c]).collect();
                v.sort_unstable();
                *slot = v[v.len() / 2];
            }
            m
        })
        .collect()
}

#[test]
fn chromium_shows_the_moving_test_pattern_and_its_numbers() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run the browser test: install chromium (.ci/run does)"
        );
        eprintln!("skipping: needs Chromium (apt-get install chromium) to open the web view");
        return;
    };
    let mut v = Proc::spawn(VIEW, &["--demo", "--headless", "--http", "127.0.0.1:0"]);
    let url = v.web_view_url();
    // The demo sender has connected and the viewer has reported it: the page dims the
    // picture until /stats says so.
    let deadline = Instant::now() + T;
    loop {
        let stats = ureq::get(&format!("{url}stats"))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .unwrap_or_default();
        if stats.contains(r#""peer":"connected""#) {
            break;
        }
        assert!(Instant::now() < deadline, "never connected: {stats}");
        thread::sleep(Duration::from_millis(100));
    }
    let dir = tempfile::tempdir().unwrap();
    let shots: Vec<(image::RgbImage, String)> = (0..2)
        .map(|i| {
            let png = dir.path().join(format!("shot{i}.png"));
            let dom = screenshot(browser, &url, &png);
            (image::open(&png).unwrap().to_rgb8(), dom)
        })
        .collect();
    for (img, dom) in &shots {
        assert_eq!(img.dimensions(), WIN);
        for (i, (got, want)) in bar_colours(img).iter().zip(BAR_COLOURS).enumerate() {
            let off = got
                .iter()
                .zip(want)
                .map(|(a, b)| a.abs_diff(b))
                .max()
                .unwrap();
            assert!(off <= 30, "bar {i}: {got:?} on screen, {want:?} sent");
        }
        // The page read its numbers from /stats.
        assert!(dom.contains(" fps"), "no frame rate on the page: {dom}");
        assert!(dom.contains("sender "), "no sender name on the page: {dom}");
    }
    // The picture moves: the counter, the box and the line differ between the shots.
    let changed = shots[0]
        .0
        .pixels()
        .zip(shots[1].0.pixels())
        .filter(|(a, b)| a.0.iter().zip(b.0).any(|(x, y)| x.abs_diff(y) > 40))
        .count();
    assert!(
        changed > 500,
        "the two screenshots differ in {changed} pixels"
    );
    if let Ok(keep) = std::env::var("CAMWIRE_KEEP_SCREENSHOT") {
        std::fs::copy(dir.path().join("shot1.png"), keep).unwrap();
    }
}
