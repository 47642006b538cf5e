//! Times the library's `FrameSender` on JPEG files: N frames, each acknowledged before the
//! next, to a `FrameReceiver` in this process on 127.0.0.1, and prints frames per second.
//! Compare with `cam-send --fps 0` on the same files (README, Benchmarks):
//!
//! ```sh
//! cargo run --release --example endpoint-bench -- assets/pattern-640x480.jpg 500
//! cargo run --release --example endpoint-bench -- holiday/ 500     # every *.jpg, in turn
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use camwire::endpoint::{Event, FrameReceiver, FrameSender};

fn jpegs(path: &Path) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error>> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| {
                    x.eq_ignore_ascii_case("jpg") || x.eq_ignore_ascii_case("jpeg")
                })
            })
            .collect();
        v.sort();
        v
    } else {
        vec![path.to_owned()]
    };
    if files.is_empty() {
        return Err(format!("no .jpg files in {}", path.display()).into());
    }
    Ok(files
        .iter()
        .map(std::fs::read)
        .collect::<Result<Vec<_>, _>>()?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "assets/pattern-640x480.jpg".into());
    let n: usize = match args.next() {
        Some(s) => s
            .parse()
            .map_err(|_| format!("'{s}' is not a frame count"))?,
        None => 300,
    };
    let frames = jpegs(Path::new(&path))?;

    let mut hub = FrameReceiver::bind("127.0.0.1:0")?;
    let addr = hub.local_addr()?;
    let receiving = std::thread::spawn(move || -> Result<usize, String> {
        let mut got = 0;
        while got < n {
            match hub.recv_timeout(Duration::from_secs(10)) {
                Ok(Some(Event::Frame(_))) => got += 1,
                Ok(Some(_)) => {}
                Ok(None) => return Err(format!("nothing for 10 s after {got} frames")),
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(got)
    });

    let mut tx = FrameSender::connect(addr)?;
    let mut bytes = 0usize;
    let t0 = Instant::now();
    for i in 0..n {
        let jpeg = &frames[i % frames.len()];
        tx.send_jpeg(jpeg, 0, 0)?;
        bytes += jpeg.len();
    }
    let secs = t0.elapsed().as_secs_f64();
    let got = receiving.join().map_err(|_| "the receiver panicked")??;
    println!(
        "FrameSender: {n} frames ({:.1} MB, {} file(s)) in {secs:.3} s: {:.1} fps, {:.1} Mbit/s ({got} received)",
        bytes as f64 / 1e6,
        frames.len(),
        n as f64 / secs,
        bytes as f64 * 8.0 / secs / 1e6
    );
    Ok(())
}
