//! camwire: stream a live webcam, a test pattern or image files to a remote viewer over UDP.
//!
//! The crate is split the way quinn and str0m are: the protocol is a set of sans-IO state
//! machines that take bytes and instants and return bytes and events, and the programs are
//! thin shells of sockets, threads, a camera and a window around them. `docs/ARCHITECTURE.md`
//! draws the pipeline; `docs/PROTOCOL.md` specifies the wire format.
//!
//! - [`protocol`]: the wire format and the state machines (no I/O).
//! - [`media`]: sources, the test pattern, the JPEG codec and webcams.
//! - [`runtime`]: socket set-up and the hand-off between threads that every shell shares.
//! - [`endpoint`]: the two types to embed, [`endpoint::FrameSender`] and
//!   [`endpoint::FrameReceiver`]: frames and JSON messages, blocking, one socket each.
//! - [`compat`]: the classic tutorial's formats, both directions.
//! - [`rtp`]: RTP/JPEG (RFC 2435) for ffmpeg, GStreamer, VLC and RTSP servers (sans-IO).
//! - `web` (feature `http`, on with `app`): the live picture to browsers as MJPEG over HTTP,
//!   behind `cam-view --http`.
//! - `app` (feature `app`, on by default): the threaded pipelines, window, statistics and
//!   command line behind `cam-send` and `cam-view`.
//!
//! With `default-features = false` the crate is the protocol, the codec and the endpoints,
//! without the window, the command line or the `image` crate.
#![warn(missing_docs)]

#[cfg(feature = "app")]
pub mod app;
pub mod compat;
pub mod endpoint;
pub mod media;
pub mod protocol;
pub mod rtp;
pub mod runtime;
#[cfg(feature = "http")]
pub mod web;

#[cfg(test)]
mod testutil;

// Keeps the README's Rust examples compiling.
#[cfg(all(doctest, feature = "app"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
