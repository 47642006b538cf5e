//! RTP/JPEG (RFC 2435), the format ffmpeg, GStreamer, VLC and RTSP servers speak, as sans-IO
//! pieces: [`packet`] reads and writes the RTP header, [`jpeg`] takes a JPEG apart for RFC 2435
//! and puts one back together, [`payload`] cuts frames into packets and rebuilds them, and
//! [`sdp`] writes the session description a receiver opens, [`rtcp`] the sender reports, and
//! [`receive`] follows the streams arriving at a viewer.
//!
//! What the two reference stacks do, and where they differ, is in docs/PROTOCOL.md section 15.

pub mod jpeg;
pub mod packet;
pub mod payload;
pub mod receive;
pub mod rtcp;
pub mod sdp;
