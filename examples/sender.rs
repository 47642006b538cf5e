//! Sends 100 frames (a gradient drawn here) and one JSON message per frame to a camwire
//! viewer, each acknowledged before the next: the library's `FrameSender` in a dozen lines.
//!
//! ```sh
//! cargo run --release --bin cam-view                       # in one terminal (or --headless)
//! cargo run --release --example sender -- 127.0.0.1:9999   # in another
//! ```
//!
//! With `CAMWIRE_KEY` set (the viewer's key), every datagram is encrypted and authenticated.

use camwire::endpoint::FrameSender;
use camwire::protocol::key::Key;
use camwire::protocol::sender::SenderConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dest = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9999".into());
    let mut tx = match std::env::var("CAMWIRE_KEY") {
        Ok(text) => FrameSender::with_key(
            dest.as_str(),
            SenderConfig::default(),
            &Key::from_text(&text)?,
        )?,
        Err(_) => FrameSender::connect(dest.as_str())?,
    };
    // The hub labels this sender's frames with it, and knows it by it if it restarts.
    tx.set_name("example-sender")?;
    let (w, h) = (640u32, 360u32);
    for n in 0..100u32 {
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|p| [((p % w + n * 4) % 256) as u8, ((p / w) % 256) as u8, 128])
            .collect();
        tx.send_rgb(&rgb, w, h, 80)?;
        tx.send_json(&serde_json::json!({ "frame": n, "note": "gradient" }))?;
    }
    let s = tx.stats();
    println!(
        "{} frames and {} messages acknowledged",
        s.frames_acked, s.messages_delivered
    );
    Ok(())
}
