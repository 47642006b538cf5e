//! The protocol core: sans-IO state machines that take bytes and instants and return bytes
//! and events. Nothing here touches a socket, a thread or the clock, so every rule is tested
//! on a virtual clock (the model is quinn-proto).
//!
//! - [`wire`]: every datagram, parsed and built byte by byte (`docs/PROTOCOL.md`).
//! - [`chunks`]: the bytes of one frame or message while its chunks arrive (shared).
//! - [`reassembly`]: chunks in any order become whole, CRC-checked frames, in bounded memory.
//! - [`sender`] / [`receiver`]: the two endpoints: per-frame ACKs, selective repair by NACK,
//!   adaptive timeouts ([`timing`]), sessions and keepalives.
//! - [`window`]: how many frames may be in flight, from the round trip and the frame rate.
//! - [`rate`]: the path's capacity and queue from the ACKs, and the rate to send at.
//! - [`serial`]: the one wrapping comparison of sequence numbers.
//! - [`message`]: reliable JSON messages beside the frames, exactly once and in order.
//! - [`link`]: how a datagram travels under all of that: a CRC-32 per datagram, or with a
//!   [`key`], a handshake and authenticated encryption of every datagram.

pub mod chunks;
pub mod key;
pub mod link;
pub mod message;
pub mod rate;
pub mod reassembly;
pub mod receiver;
pub mod sender;
pub mod serial;
pub mod session_info;
#[cfg(test)]
pub(crate) mod sim;
pub mod timing;
pub mod window;
pub mod wire;
