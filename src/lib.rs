//! camwire: stream a live webcam, a test pattern or image files to a remote viewer over UDP.
//!
//! The crate is split the way quinn and str0m are: the protocol is a set of sans-IO state
//! machines that take bytes and instants and return bytes and events, and the programs are
//! thin shells of sockets, threads, a camera and a window around them.
//!
//! - [`endpoint`]: the two types to embed, [`endpoint::FrameSender`] and
//!   [`endpoint::FrameReceiver`]: frames and JSON messages, blocking, one socket each.
//! - [`wire`]: the v1 datagram format (see `docs/PROTOCOL.md`).
//! - [`reassembly`]: chunks in any order become whole, CRC-checked frames, in bounded memory.
//! - [`sender`] / [`receiver`]: the two protocol endpoints: stop-and-wait per frame with
//!   ACKs, selective repair by NACK, adaptive timeouts ([`timing`]) and sessions; reliable
//!   JSON messages beside the frames ([`message`]).
//! - [`app`]: the threaded pipelines behind `cam-send` and `cam-view`.
//! - [`camera`]: webcams (MJPEG pass-through, YUYV/NV12 conversion, mode choice, a fake
//!   camera); the device itself needs the `camera` feature.
//! - [`codec`], [`source`], [`pattern`], [`stats`], [`net`], [`latest`]: their parts.
#![warn(missing_docs)]

pub mod app;
pub mod camera;
pub mod cli;
pub mod codec;
pub mod endpoint;
pub mod latest;
pub mod message;
pub mod net;
pub mod pattern;
pub mod reassembly;
pub mod receiver;
pub mod relay;
pub mod sender;
pub mod source;
pub mod stats;
pub mod timing;
pub mod tutorial;
pub mod wire;

// Keeps the README's Rust example compiling.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
