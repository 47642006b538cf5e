//! A test frame that compresses like a clean, well-lit webcam scene, shared by the benches.
//!
//! The built-in pattern (`camwire::media::pattern`) is flat colour bars and gradients, which JPEG
//! compresses far better than camera footage, so it would flatter every codec. This frame has
//! gradients, shaded discs, flat boxes, a fine "fabric" texture and ±8 levels of per-pixel
//! noise; at quality 80 and 4:2:0 it gives about 28 KB at 640x480, 75 KB at 1280x720 and
//! 160 KB at 1920x1080, the sizes measured in `shared/research/rust-stack.md`.

#![allow(dead_code)]

/// The three sizes every bench runs at.
pub const SIZES: [(u32, u32); 3] = [(640, 480), (1280, 720), (1920, 1080)];

/// Packed RGB24 pixels of the test frame, the same for the same arguments.
pub fn textured_frame(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (wf, hf) = (w as f32, h as f32);
    let discs = [
        (0.25 * wf, 0.35 * hf, 0.12 * hf, [220.0, 90.0, 60.0]),
        (0.62 * wf, 0.55 * hf, 0.20 * hf, [70.0, 160.0, 210.0]),
        (0.80 * wf, 0.25 * hf, 0.08 * hf, [240.0, 220.0, 80.0]),
    ];
    let boxes = [
        (0.05, 0.70, 0.20, 0.92, [40u8, 40, 48]),
        (0.40, 0.08, 0.55, 0.22, [200, 200, 190]),
        (0.70, 0.75, 0.95, 0.95, [90, 130, 60]),
    ];
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        let (yf, v) = (y as f32, y as f32 / hf);
        for x in 0..w {
            let (xf, u) = (x as f32, x as f32 / wf);
            let mut c = [
                60.0 + 120.0 * u + 30.0 * v,
                80.0 + 90.0 * v,
                150.0 - 80.0 * u + 40.0 * (u - v),
            ];
            for (cx, cy, r, col) in discs {
                let d2 = ((xf - cx).powi(2) + (yf - cy).powi(2)) / (r * r);
                if d2 < 1.0 {
                    let shade = 1.0 - 0.45 * d2;
                    c = [col[0] * shade, col[1] * shade, col[2] * shade];
                }
            }
            for (x0, y0, x1, y1, col) in boxes {
                if u >= x0 && u < x1 && v >= y0 && v < y1 {
                    c = col.map(f32::from);
                }
            }
            // Woven texture in the lower middle: detail the encoder has to keep.
            if u > 0.3 && u < 0.6 && v > 0.6 {
                let t = 25.0 * ((xf * 0.9).sin() * (yf * 0.7).cos());
                c = [c[0] + t, c[1] + t, c[2] + t];
            }
            for ch in c {
                let noise = rng.i32(0..=8) - rng.i32(0..=8);
                out.push((ch as i32 + noise).clamp(0, 255) as u8);
            }
        }
    }
    out
}
