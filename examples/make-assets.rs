//! Writes the sample pictures in `assets/` with the project's own test pattern: a JPEG made by
//! camwire's encoder (what `cam-send --pattern` sends) and a PNG of the same frame, smaller.
//!
//! ```sh
//! cargo run --example make-assets              # assets/pattern-640x480.jpg and pattern-320x240.png
//! cargo run --example make-assets -- some/dir  # somewhere else
//! ```
//!
//! The output depends only on the pattern and the encoders, so running it again gives the same
//! files unless one of them changed.

use std::path::PathBuf;

use camwire::media::codec::encode_rgb;
use camwire::media::pattern::Pattern;

/// The frame number drawn (the pattern's counter and moving box depend on it).
const FRAME: u64 = 42;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "assets".into()));
    std::fs::create_dir_all(&dir)?;

    let (w, h) = (640, 480);
    let mut rgb = Vec::new();
    Pattern::new(w, h).render(FRAME, &mut rgb);
    let mut jpeg = Vec::new();
    encode_rgb(&rgb, w, h, 80, &mut jpeg)?;
    let path = dir.join(format!("pattern-{w}x{h}.jpg"));
    std::fs::write(&path, &jpeg)?;
    println!("{} ({} bytes)", path.display(), jpeg.len());

    let (w, h) = (320, 240);
    Pattern::new(w, h).render(FRAME, &mut rgb);
    let path = dir.join(format!("pattern-{w}x{h}.png"));
    image::save_buffer(&path, &rgb, w, h, image::ExtendedColorType::Rgb8)?;
    println!(
        "{} ({} bytes)",
        path.display(),
        std::fs::metadata(&path)?.len()
    );
    Ok(())
}
