//! Pictures: where frames come from and how they become JPEG and pixels.
//!
//! - [`source`]: the `Source` trait a sending pipeline pulls frames from, and the built-in
//!   sources (test pattern, image files, no pictures).
//! - `images` (feature `images`): still images and folders of them as a slideshow.
//! - [`pattern`]: the moving test pattern, rendered incrementally.
//! - [`codec`]: JPEG encode and decode (pure Rust, or libjpeg-turbo with `turbojpeg`), with
//!   the limits that keep hostile JPEGs cheap.
//! - [`camera`]: webcams: mode choice, MJPEG pass-through, YUYV/NV12 conversion, a fake
//!   camera for tests; the device itself needs the `camera` feature.
//! - [`mkv`]: a Matroska muxer for live MJPEG recordings (`--record`), sans-IO.

pub mod camera;
pub mod codec;
#[cfg(feature = "images")]
pub mod images;
pub mod mkv;
pub mod pattern;
pub mod source;
