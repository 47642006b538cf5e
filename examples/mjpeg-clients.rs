//! N MJPEG clients of a `cam-view --http` stream for a while; prints one JSON line with the
//! frames each received (for `scripts/bench-http.sh`).
//!
//! ```sh
//! cargo run --release --example mjpeg-clients -- http://127.0.0.1:8080/stream.mjpg 32 10
//! ```
//!
//! Each client is a thread with its own connection (ureq), reading the parts with
//! `camwire::web::mjpeg::PartReader` and checking that each is a whole JPEG (SOI ... EOI).

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use camwire::web::mjpeg::PartReader;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(n), Some(secs)) = (
        args.first(),
        args.get(1).and_then(|s| s.parse::<usize>().ok()),
        args.get(2).and_then(|s| s.parse::<f64>().ok()),
    ) else {
        eprintln!("usage: mjpeg-clients URL CLIENTS SECONDS");
        std::process::exit(2);
    };
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let clients: Vec<_> = (0..n)
        .map(|_| {
            let (url, stop) = (url.clone(), stop.clone());
            thread::spawn(move || client(&url, &stop))
        })
        .collect();
    thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let results: Vec<Result<(u64, u64), String>> = clients
        .into_iter()
        .map(|c| c.join().unwrap_or_else(|_| Err("panicked".into())))
        .collect();
    let frames: Vec<u64> = results
        .iter()
        .map(|r| r.as_ref().map_or(0, |x| x.0))
        .collect();
    let broken: u64 = results.iter().map(|r| r.as_ref().map_or(0, |x| x.1)).sum();
    let errors: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    println!(
        "{}",
        serde_json::json!({
            "clients": n,
            "seconds": start.elapsed().as_secs_f64(),
            "frames": frames,
            "min_frames": frames.iter().min(),
            "not_jpeg": broken,
            "errors": errors,
        })
    );
}

/// Reads the stream until `stop`; returns the whole JPEGs and the parts that were not.
fn client(url: &str, stop: &AtomicBool) -> Result<(u64, u64), String> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .new_agent();
    let resp = agent.get(url).call().map_err(|e| e.to_string())?;
    let mut body = resp.into_body().into_reader();
    let mut reader = PartReader::new();
    let mut buf = vec![0u8; 256 * 1024];
    let (mut good, mut bad) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        let k = body.read(&mut buf).map_err(|e| e.to_string())?;
        if k == 0 {
            return Err("the stream ended".into());
        }
        for p in reader.push(&buf[..k]) {
            if p.starts_with(&[0xff, 0xd8]) && p.ends_with(&[0xff, 0xd9]) {
                good += 1;
            } else {
                bad += 1;
            }
        }
    }
    Ok((good, bad))
}
