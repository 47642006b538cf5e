//! The pictures in assets/ are what assets/README.md says: made from the built-in test pattern,
//! readable by camwire's own decoder, and small. Needs no feature.

use camwire::media::codec::Decoder;
use camwire::media::pattern::Pattern;

fn asset(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_sample_jpeg_is_the_pattern_and_decodes() {
    let jpeg = asset("pattern-640x480.jpg");
    assert!(jpeg.len() < 100_000, "{} bytes", jpeg.len());
    let mut d = Decoder::new();
    assert_eq!(d.decode_rgb(&jpeg).unwrap(), (640, 480));
    // Lossy, but close to frame 42 of the pattern (examples/make-assets.rs).
    let mut want = Vec::new();
    Pattern::new(640, 480).render(42, &mut want);
    let got = d.rgb();
    let mean_err = got
        .iter()
        .zip(&want)
        .map(|(a, b)| u64::from(a.abs_diff(*b)))
        .sum::<u64>() as f64
        / want.len() as f64;
    assert!(mean_err < 12.0, "mean error {mean_err}");
}

#[test]
fn the_sample_png_is_the_pattern_exactly() {
    let png = asset("pattern-320x240.png");
    assert!(png.len() < 100_000, "{} bytes", png.len());
    let img = image::load_from_memory(&png).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (320, 240));
    let mut want = Vec::new();
    Pattern::new(320, 240).render(42, &mut want);
    assert!(
        img.as_raw() == &want,
        "the PNG is not frame 42 of the pattern"
    );
}

#[test]
fn the_web_view_screenshot_is_small_enough_for_the_readme() {
    let png = asset("web-view.png");
    assert!(png.len() < 300_000, "{} bytes", png.len());
    let img = image::load_from_memory(&png).unwrap();
    assert_eq!((img.width(), img.height()), (800, 600));
}

#[test]
fn the_screenshot_is_small_enough_for_the_readme() {
    let png = asset("demo-window.png");
    assert!(png.len() < 300_000, "{} bytes", png.len());
    let img = image::load_from_memory(&png).unwrap();
    assert_eq!((img.width(), img.height()), (960, 540));
}
