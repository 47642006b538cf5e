//! JPEG encode and decode at 640x480, 1280x720 and 1920x1080: the project's codec against
//! candidates. Run with `cargo bench --bench codec` (add `--features turbojpeg` for
//! libjpeg-turbo); `scripts/criterion-table.sh` prints the medians as a table.

use std::hint::black_box;
use std::time::Duration;

use camwire::media::codec::{self, pure};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

mod common;
use common::{textured_frame, SIZES};

const QUALITY: u8 = 80;

fn label(w: u32, h: u32) -> String {
    format!("{w}x{h}")
}

fn encode(c: &mut Criterion) {
    eprintln!("active codec: {}", codec::ACTIVE);
    let mut g = c.benchmark_group("encode");
    for (w, h) in SIZES {
        let rgb = textured_frame(w, h, 1);
        let mut out = Vec::new();
        jpeg_encoder_rgb(&rgb, w, h, &mut out);
        eprintln!("jpeg-encoder {}: {} bytes", label(w, h), out.len());
        g.bench_with_input(
            BenchmarkId::new("jpeg-encoder", label(w, h)),
            &rgb,
            |b, rgb| b.iter(|| jpeg_encoder_rgb(black_box(rgb), w, h, &mut out)),
        );
        pure::encode_rgb(&rgb, w, h, QUALITY, &mut out).unwrap();
        eprintln!("pure {}: {} bytes", label(w, h), out.len());
        g.bench_with_input(BenchmarkId::new("pure", label(w, h)), &rgb, |b, rgb| {
            b.iter(|| pure::encode_rgb(black_box(rgb), w, h, QUALITY, &mut out).unwrap())
        });
        let mut yuv = Vec::new();
        codec::rgb_to_i420(&rgb, w, h, &mut yuv).unwrap();
        g.bench_with_input(
            BenchmarkId::new("pure-i420", label(w, h)),
            &yuv,
            |b, yuv| b.iter(|| pure::encode_i420(black_box(yuv), w, h, QUALITY, &mut out).unwrap()),
        );
        #[cfg(feature = "turbojpeg")]
        {
            codec::turbo::encode_rgb(&rgb, w, h, QUALITY, &mut out).unwrap();
            eprintln!("turbojpeg {}: {} bytes", label(w, h), out.len());
            g.bench_with_input(
                BenchmarkId::new("turbojpeg", label(w, h)),
                &rgb,
                |b, rgb| {
                    b.iter(|| {
                        codec::turbo::encode_rgb(black_box(rgb), w, h, QUALITY, &mut out).unwrap()
                    })
                },
            );
            g.bench_with_input(
                BenchmarkId::new("turbojpeg-i420", label(w, h)),
                &yuv,
                |b, yuv| {
                    b.iter(|| {
                        codec::turbo::encode_i420(black_box(yuv), w, h, QUALITY, &mut out).unwrap()
                    })
                },
            );
        }
    }
    g.finish();
}

/// jpeg-encoder 0.7, the default encoder before libjpeg-turbo-rs: the baseline the pure
/// build's encode is compared with.
fn jpeg_encoder_rgb(rgb: &[u8], w: u32, h: u32, out: &mut Vec<u8>) {
    out.clear();
    let mut enc = jpeg_encoder::Encoder::new(&mut *out, QUALITY);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    enc.encode(rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
        .unwrap();
}

/// zune-jpeg to RGB, then packed into `0RGB` words: the pure Rust path before this bench.
fn zune_rgb_then_pack(jpeg: &[u8], rgb: &mut Vec<u8>, out: &mut Vec<u32>) {
    let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut d = JpegDecoder::new_with_options(ZCursor::new(jpeg), opts);
    d.decode_headers().unwrap();
    rgb.resize(d.output_buffer_size().unwrap(), 0);
    d.decode_into(rgb).unwrap();
    out.resize(rgb.len() / 3, 0);
    for (px, c) in out.iter_mut().zip(rgb.chunks_exact(3)) {
        *px = (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32;
    }
}

/// zune-jpeg to RGBA written straight into the `u32` buffer, then one byte swap per word.
fn zune_rgba_in_place(jpeg: &[u8], out: &mut Vec<u32>) {
    let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGBA);
    let mut d = JpegDecoder::new_with_options(ZCursor::new(jpeg), opts);
    d.decode_headers().unwrap();
    out.resize(d.output_buffer_size().unwrap() / 4, 0);
    d.decode_into(bytemuck::cast_slice_mut(out)).unwrap();
    for px in out.iter_mut() {
        *px = u32::from_be_bytes(px.to_ne_bytes()) >> 8;
    }
}

/// zune-jpeg to RGB only: the decoder's share of the work.
fn zune_rgb_only(jpeg: &[u8], rgb: &mut Vec<u8>) {
    let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut d = JpegDecoder::new_with_options(ZCursor::new(jpeg), opts);
    d.decode_headers().unwrap();
    rgb.resize(d.output_buffer_size().unwrap(), 0);
    d.decode_into(rgb).unwrap();
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for (w, h) in SIZES {
        // The JPEG the default sender sends.
        let mut jpeg = Vec::new();
        pure::encode_rgb(&textured_frame(w, h, 1), w, h, QUALITY, &mut jpeg).unwrap();
        let mut px = Vec::new();
        let mut rgb = Vec::new();
        let mut dec = pure::Decoder::new();
        // The variants must agree before their speed means anything.
        let (mut a, mut b) = (Vec::new(), Vec::new());
        dec.decode_0rgb(&jpeg, &mut a).unwrap();
        zune_rgba_in_place(&jpeg, &mut b);
        let worst = a
            .iter()
            .zip(&b)
            .flat_map(|(x, y)| [16, 8, 0].map(|s| ((x >> s) & 0xFF).abs_diff((y >> s) & 0xFF)))
            .max()
            .unwrap();
        eprintln!(
            "zune RGB vs RGBA path at {}: worst difference {worst}",
            label(w, h)
        );
        let id = |name: &str| BenchmarkId::new(name, label(w, h));
        g.bench_with_input(id("zune-jpeg (pure::Decoder)"), &jpeg, |b, j| {
            b.iter(|| dec.decode_0rgb(black_box(j), &mut px).unwrap())
        });
        g.bench_with_input(id("zune RGB + pack"), &jpeg, |b, j| {
            b.iter(|| zune_rgb_then_pack(black_box(j), &mut rgb, &mut px))
        });
        g.bench_with_input(id("zune RGBA in place + swap"), &jpeg, |b, j| {
            b.iter(|| zune_rgba_in_place(black_box(j), &mut px))
        });
        g.bench_with_input(id("zune RGB only"), &jpeg, |b, j| {
            b.iter(|| zune_rgb_only(black_box(j), &mut rgb))
        });
        // A tile drawn at half or a quarter of the picture's size (`decode_0rgb_fit`): the
        // pure path decodes in full and box-averages while packing.
        for k in [2, 4] {
            g.bench_with_input(id(&format!("zune-jpeg fit 1/{k}")), &jpeg, |b, j| {
                b.iter(|| {
                    dec.decode_0rgb_fit(black_box(j), w / k, h / k, &mut px)
                        .unwrap()
                })
            });
        }
        // What a headless viewer does: decode, but stop at YCbCr.
        g.bench_with_input(id("zune-jpeg check (headless)"), &jpeg, |b, j| {
            b.iter(|| dec.decode_check(black_box(j)).unwrap())
        });
        #[cfg(feature = "turbojpeg")]
        {
            let mut tdec = codec::turbo::Decoder::new();
            g.bench_with_input(id("turbojpeg"), &jpeg, |b, j| {
                b.iter(|| tdec.decode_0rgb(black_box(j), &mut px).unwrap())
            });
            // libjpeg-turbo scales inside the IDCT.
            for k in [2, 4] {
                g.bench_with_input(id(&format!("turbojpeg fit 1/{k}")), &jpeg, |b, j| {
                    b.iter(|| {
                        tdec.decode_0rgb_fit(black_box(j), w / k, h / k, &mut px)
                            .unwrap()
                    })
                });
            }
            g.bench_with_input(id("turbojpeg check (headless)"), &jpeg, |b, j| {
                b.iter(|| tdec.decode_check(black_box(j)).unwrap())
            });
        }
    }
    g.finish();
}

/// RGB24 to `0RGB` words one pixel at a time: the loop in `pure::Decoder::decode_0rgb`.
fn pack_per_pixel(rgb: &[u8], out: &mut [u32]) {
    for (px, c) in out.iter_mut().zip(rgb.chunks_exact(3)) {
        *px = (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32;
    }
}

/// RGB24 to `0RGB` words with one unaligned 4-byte load per pixel (its fourth byte is the
/// next pixel's red, shifted out), which the compiler turns into loads and byte shuffles.
fn pack_load4(rgb: &[u8], out: &mut [u32]) {
    let n = out.len().min(rgb.len() / 3);
    if n == 0 {
        return;
    }
    // All but the last pixel can read one byte past their own three.
    for (i, px) in out[..n - 1].iter_mut().enumerate() {
        let b: [u8; 4] = rgb[3 * i..3 * i + 4].try_into().unwrap();
        *px = u32::from_be_bytes(b) >> 8;
    }
    let c = &rgb[3 * (n - 1)..3 * n];
    out[n - 1] = (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32;
}

fn convert(c: &mut Criterion) {
    let mut g = c.benchmark_group("rgb-to-0rgb");
    for (w, h) in SIZES {
        let rgb = textured_frame(w, h, 1);
        let mut a = vec![0u32; (w * h) as usize];
        let mut b = a.clone();
        pack_per_pixel(&rgb, &mut a);
        pack_load4(&rgb, &mut b);
        assert_eq!(a, b);
        g.bench_function(BenchmarkId::new("per pixel", label(w, h)), |bch| {
            bch.iter(|| pack_per_pixel(black_box(&rgb), &mut a))
        });
        g.bench_function(BenchmarkId::new("4-byte loads", label(w, h)), |bch| {
            bch.iter(|| pack_load4(black_box(&rgb), &mut b))
        });
    }
    g.finish();
}

fn config() -> Criterion {
    // Short runs: the machine is shared, so medians of many short samples, read as ratios
    // within one run, are steadier than long runs.
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = config(); targets = encode, decode, convert }
criterion_main!(benches);
