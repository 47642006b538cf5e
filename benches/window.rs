//! The viewer's window path at 1920x1080 on one thread: decode to 0RGB, then draw in a real
//! minifb window (needs a display: `Xvfb :99 & DISPLAY=:99 cargo bench --bench window`).
//! Prints the median and p90 of each stage and how many frames a second one core could show.
//! Not criterion: the window must live on the main thread and the draw is an X11 round trip.
//!
//! Then the tiled viewer: 8 senders of 640x480 in the default 960x540 window (a 3x3 grid),
//! each frame decoded full size and then at the size its tile is drawn
//! (`decode_0rgb_fit` with the box from `Display::draw_sizes`). `CAMWIRE_BENCH_HOLD_MS=N`
//! keeps the last grid on screen for N ms (one tile lost, one finished) for a screenshot.

use std::time::{Duration, Instant};

use camwire::app::window::{Display, DisplayFrame, Signal};
use camwire::media::codec::{encode_rgb, Decoder};
use camwire::media::pattern::Pattern;

const FRAMES: usize = 300;

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` / `cargo test --benches` probing: nothing to list.
    }
    if std::env::var_os("DISPLAY").is_none() {
        println!("window bench skipped: no DISPLAY (run it under Xvfb)");
        return;
    }
    let (w, h) = (1920, 1080);
    let pattern = Pattern::new(w, h);
    // A few distinct frames so that nothing is cached between iterations.
    let jpegs: Vec<Vec<u8>> = (0..8)
        .map(|n| {
            let mut rgb = Vec::new();
            pattern.render(n * 7, &mut rgb);
            let mut j = Vec::new();
            encode_rgb(&rgb, w, h, 80, &mut j).unwrap();
            j
        })
        .collect();
    let mut display = Display::open("camwire window bench").expect("a window");
    let mut dec = Decoder::new();
    let (mut decode, mut draw) = (Vec::new(), Vec::new());
    let mut spare = Vec::new();
    for i in 0..FRAMES + 20 {
        let t0 = Instant::now();
        let mut px = std::mem::take(&mut spare);
        let (fw, fh) = dec.decode_0rgb(&jpegs[i % jpegs.len()], &mut px).unwrap();
        let t1 = Instant::now();
        if let Some(old) = display.show_tile(
            "bench",
            DisplayFrame {
                width: fw,
                height: fh,
                pixels: px,
            },
        ) {
            spare = old;
        }
        let t2 = Instant::now();
        if i >= 20 {
            // The first frames warm caches and the X server.
            decode.push(t1 - t0);
            draw.push(t2 - t1);
        }
    }
    let mut total: Vec<Duration> = decode.iter().zip(&draw).map(|(a, b)| *a + *b).collect();
    let (d50, d90) = (pct(&mut decode, 0.5), pct(&mut decode, 0.9));
    let (s50, s90) = (pct(&mut draw, 0.5), pct(&mut draw, 0.9));
    let (t50, t90) = (pct(&mut total, 0.5), pct(&mut total, 0.9));
    println!(
        "window path, 1920x1080, {} ({FRAMES} frames, one thread)",
        camwire::media::codec::ACTIVE
    );
    println!("| stage | median ms | p90 ms |");
    println!("|---|---|---|");
    println!("| decode to 0RGB | {d50:.2} | {d90:.2} |");
    println!("| draw (minifb update_with_buffer) | {s50:.2} | {s90:.2} |");
    println!("| total | {t50:.2} | {t90:.2} |");
    println!(
        "one core keeps up with {:.0} fps at the median, {:.0} fps at p90 (60 fps needs 16.7 ms)",
        1e3 / t50,
        1e3 / t90
    );
    tiled(&mut display);
}

/// Eight 640x480 senders in a grid: decode (full, then fitted to the tile) and draw.
fn tiled(display: &mut Display) {
    const SENDERS: usize = 8;
    let (w, h) = (640, 480);
    let pattern = Pattern::new(w, h);
    let jpegs: Vec<Vec<u8>> = (0..SENDERS as u64)
        .map(|n| {
            let mut rgb = Vec::new();
            pattern.render(n * 11, &mut rgb);
            let mut j = Vec::new();
            encode_rgb(&rgb, w, h, 80, &mut j).unwrap();
            j
        })
        .collect();
    let names: Vec<String> = (1..=SENDERS).map(|i| format!("cam{i}")).collect();
    display.remove_tile("");
    let sizes = display.draw_sizes();
    let mut dec = Decoder::new();
    println!();
    println!(
        "tiled view, {SENDERS} senders of {w}x{h} in the 960x540 window, {} ({FRAMES} frames)",
        camwire::media::codec::ACTIVE
    );
    println!("| decode | decoded size | decode median ms | draw median ms | total median ms |");
    println!("|---|---|---|---|---|");
    for fitted in [false, true] {
        let (mut decode, mut draw, mut total) = (Vec::new(), Vec::new(), Vec::new());
        let mut spare = Vec::new();
        let mut size = (0, 0);
        for i in 0..FRAMES + 20 {
            let s = i % SENDERS;
            let t0 = Instant::now();
            let mut px = std::mem::take(&mut spare);
            let (bw, bh) = if fitted { sizes.get(&names[s]) } else { (0, 0) };
            let (fw, fh) = dec.decode_0rgb_fit(&jpegs[s], bw, bh, &mut px).unwrap();
            let t1 = Instant::now();
            if let Some(old) = display.show_tile(
                &names[s],
                DisplayFrame {
                    width: fw,
                    height: fh,
                    pixels: px,
                },
            ) {
                spare = old;
            }
            // show_tile redraws at most every 10 ms; idle draws what is still pending, so
            // this times every frame's redraw (its tile and the window update).
            display.idle();
            let t2 = Instant::now();
            if i >= 20 {
                size = (fw, fh);
                decode.push(t1 - t0);
                draw.push(t2 - t1);
                total.push(t2 - t0);
            }
        }
        println!(
            "| {} | {}x{} | {:.2} | {:.3} | {:.2} |",
            if fitted {
                "fitted to the tile"
            } else {
                "full size"
            },
            size.0,
            size.1,
            pct(&mut decode, 0.5),
            pct(&mut draw, 0.5),
            pct(&mut total, 0.5)
        );
    }
    let hold = std::env::var("CAMWIRE_BENCH_HOLD_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if hold > 0 {
        display.set_signal(&names[1], Signal::Lost);
        display.set_signal(&names[2], Signal::Finished);
        let end = Instant::now() + Duration::from_millis(hold);
        while Instant::now() < end && display.is_open() {
            display.idle();
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
