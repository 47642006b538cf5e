//! The two classes to embed: [`FrameSender`] and [`FrameReceiver`], blocking and
//! single-threaded, in the spirit of ImageZMQ's `ImageSender` and `ImageHub`.
//!
//! Each runs the sans-IO [`Sender`] or [`Receiver`] in the same [`Driver`] as `cam-send` and
//! `cam-view`: the calling thread drives the protocol while it waits (a small thread of the
//! driver's own only reads the socket), so the library is exactly as fast as the programs.
//! `FrameSender::send_jpeg` returns once the viewer has the frame (stop-and-wait, like
//! ImageZMQ's REQ/REP), `send_json` once the viewer has accepted the message; a
//! `FrameReceiver` yields [`Event`]s and acknowledges as it goes.
//!
//! ```
//! use camwire::endpoint::{Event, FrameReceiver, FrameSender};
//! use std::time::Duration;
//!
//! let mut hub = FrameReceiver::bind("127.0.0.1:0")?;
//! let addr = hub.local_addr()?;
//! let sending = std::thread::spawn(move || -> Result<(), camwire::endpoint::EndpointError> {
//!     let mut tx = FrameSender::connect(addr)?;
//!     let grey = vec![128u8; 64 * 48 * 3];
//!     tx.send_rgb(&grey, 64, 48, 80)?;                      // returns once acknowledged
//!     tx.send_json(&serde_json::json!({"lights": [0, 0, 0, 1]}))?;
//!     Ok(())
//! });
//! let (mut frames, mut messages) = (0, 0);
//! while frames < 1 || messages < 1 {
//!     match hub.recv_timeout(Duration::from_secs(10))? {
//!         Some(Event::Frame(f)) => {
//!             let (rgb, w, h) = f.decode_rgb()?;
//!             assert_eq!((w, h, rgb.len()), (64, 48, 64 * 48 * 3));
//!             frames += 1;
//!         }
//!         Some(Event::Message(m)) => {
//!             assert_eq!(m.value["lights"][3], 1);
//!             messages += 1;
//!         }
//!         Some(_) => {}                                       // sessions starting and ending
//!         None => panic!("nothing arrived"),
//!     }
//! }
//! sending.join().unwrap()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::media::codec::{encode_rgb, CodecError, Decoder};
use crate::media::source::now_us;
use crate::protocol::key::Key;
use crate::protocol::link::MAX_VIEWER_DATAGRAM;
use crate::protocol::message::{MessageError, MessageOutcome};
use crate::protocol::receiver::{
    EndReason, KeyMismatch, Receiver, ReceiverConfig, ReceiverEvent, ReceiverStats,
};
use crate::protocol::sender::{
    OutgoingFrame, PushError, Sender, SenderConfig, SenderEvent, SenderStats,
};
use crate::protocol::session_info::NameError;
use crate::protocol::wire::{Codec, MAX_DATAGRAM, MIN_MTU};
use crate::runtime::driver::{Driver, DriverError};
use crate::runtime::net::{
    bind_viewer, connect_outcome, open_sender, resolve_address, resolve_host_port, NetError,
    DEFAULT_PORT,
};

/// What can go wrong at an endpoint.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The address is malformed (a bad port, say), did not resolve, or resolved to nothing;
    /// the text says which.
    #[error("{0}")]
    Resolve(String),
    /// A picture side does not fit the wire's 16-bit width and height.
    #[error("a picture of {width}x{height} pixels is too large: each side must be at most 65535")]
    PictureSize {
        /// The width given.
        width: u32,
        /// The height given.
        height: u32,
    },
    /// A JPEG quality outside 1 to 100.
    #[error("JPEG quality {0} is out of range: it must be from 1 to 100")]
    Quality(u8),
    /// Socket set-up failed (port in use, no permission...).
    #[error(transparent)]
    Net(#[from] NetError),
    /// The socket failed.
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
    /// The socket failed while the protocol ran.
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// Encoding or decoding a picture failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The frame cannot be sent (empty, or too large for the MTU).
    #[error(transparent)]
    Frame(#[from] PushError),
    /// The message cannot be sent (empty, too large).
    #[error(transparent)]
    Message(#[from] MessageError),
    /// The sender's name cannot be used.
    #[error("bad sender name: {0}")]
    Name(#[from] NameError),
    /// The value could not be turned into JSON.
    #[error("cannot serialize the message: {0}")]
    Json(#[from] serde_json::Error),
    /// The viewer refused the message, and said why.
    #[error("the viewer refused the message: {0}")]
    Refused(String),
    /// This machine had no route to the viewer (the network is down or unreachable: the OS's
    /// reason) for the whole timeout; nothing was sent. The sender keeps trying at every call.
    #[error("no route to {addr} ({source}): the network is down or unreachable")]
    NoRoute {
        /// The viewer's address.
        addr: SocketAddr,
        /// What the OS said, the last time the route was looked up.
        source: std::io::Error,
    },
    /// No answer from the viewer within the timeout.
    #[error(
        "no answer from {addr} within {timeout:?}: is a camwire viewer running there (and \
         not showing its most senders already: cam-view --max-senders)?"
    )]
    NoAnswer {
        /// The viewer's address.
        addr: SocketAddr,
        /// How long we waited.
        timeout: Duration,
    },
    /// With a key: no viewer answered the keyed handshake within the timeout (none is
    /// there, or it has no key or another one).
    #[error(
        "no answer to the keyed handshake from {addr} within {timeout:?}: is a camwire viewer \
         running there with the same key?"
    )]
    NoHandshake {
        /// The viewer's address.
        addr: SocketAddr,
        /// How long we waited.
        timeout: Duration,
    },
}

/// What [`FrameSender::connect`] and [`FrameReceiver::bind`] take: a socket address, an IP
/// address and port, or text in the programs' forms (`HOST`, `HOST:PORT`, `[IPv6]:PORT` or a
/// `PORT` alone, see [`crate::runtime::net::resolve_address`]), where a missing port is
/// [`DEFAULT_PORT`] (9999), as for `cam-send` and `cam-view`.
pub trait EndpointAddr {
    /// The address; a `PORT` alone is on `bare_port_ip`.
    fn endpoint_addr(
        &self,
        bare_port_ip: IpAddr,
        sender: bool,
    ) -> Result<SocketAddr, EndpointError>;
}

impl EndpointAddr for str {
    fn endpoint_addr(
        &self,
        bare_port_ip: IpAddr,
        sender: bool,
    ) -> Result<SocketAddr, EndpointError> {
        let r = if sender {
            resolve_host_port(self, DEFAULT_PORT)
        } else {
            resolve_address(self, bare_port_ip, DEFAULT_PORT)
        };
        r.map_err(|e| EndpointError::Resolve(e.0))
    }
}

impl EndpointAddr for String {
    fn endpoint_addr(&self, ip: IpAddr, sender: bool) -> Result<SocketAddr, EndpointError> {
        self.as_str().endpoint_addr(ip, sender)
    }
}

impl<T: EndpointAddr + ?Sized> EndpointAddr for &T {
    fn endpoint_addr(&self, ip: IpAddr, sender: bool) -> Result<SocketAddr, EndpointError> {
        (**self).endpoint_addr(ip, sender)
    }
}

macro_rules! socket_addrs {
    ($($t:ty),*) => {$(
        impl EndpointAddr for $t {
            fn endpoint_addr(&self, _: IpAddr, _: bool) -> Result<SocketAddr, EndpointError> {
                let fail = |why: String| EndpointError::Resolve(format!("cannot resolve {self:?}: {why}"));
                self.to_socket_addrs()
                    .map_err(|e| fail(e.to_string()))?
                    .next()
                    .ok_or_else(|| fail("no address".into()))
            }
        }
    )*};
}
socket_addrs!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16),
    (&str, u16),
    (String, u16)
);

/// Sends frames and JSON messages to one viewer, waiting for each to be acknowledged.
pub struct FrameSender {
    driver: Driver<Sender>,
    dest: SocketAddr,
    encoded: Vec<u8>,
    timeout: Duration,
    /// The socket is not connected yet: there was no route to the viewer (the OS's reason).
    no_route: Option<std::io::Error>,
}

impl FrameSender {
    /// A sender to the viewer at `addr` with the default settings (1200-byte datagrams, a
    /// 2 s wait per frame or message). Text without a port means port 9999, and a `PORT`
    /// alone a viewer on 127.0.0.1, as for `cam-send` ([`EndpointAddr`]).
    ///
    /// Like `cam-send`, it does not fail when the network is away at start (no route yet, the
    /// network down): each `send_*` call then looks for a route until its timeout, and gives
    /// [`EndpointError::NoRoute`] if there is still none.
    pub fn connect(addr: impl EndpointAddr) -> Result<Self, EndpointError> {
        Self::with_config(addr, SenderConfig::default())
    }

    /// A sender with the given protocol settings. Frames are never abandoned for a newer one
    /// here (each call waits for its own ACK), so `max_latency` only matters to the
    /// streaming pipeline.
    pub fn with_config(addr: impl EndpointAddr, cfg: SenderConfig) -> Result<Self, EndpointError> {
        Self::open(addr, cfg, None)
    }

    /// A sender whose every datagram is authenticated and encrypted with `key`: it proves
    /// the key to the viewer before anything else goes (docs/PROTOCOL.md section 11), and a
    /// viewer without the same key gets nothing it can read or show.
    pub fn with_key(
        addr: impl EndpointAddr,
        cfg: SenderConfig,
        key: &Key,
    ) -> Result<Self, EndpointError> {
        Self::open(addr, cfg, Some(key))
    }

    fn open(
        addr: impl EndpointAddr,
        mut cfg: SenderConfig,
        key: Option<&Key>,
    ) -> Result<Self, EndpointError> {
        let dest = addr.endpoint_addr(IpAddr::from([127, 0, 0, 1]), true)?;
        let (sock, no_route) = open_sender(dest)?;
        cfg.max_attempts = None;
        cfg.mtu = cfg.mtu.clamp(MIN_MTU, MAX_DATAGRAM);
        let session = fastrand::u32(..);
        let proto = match key {
            Some(k) => Sender::keyed(cfg, session, k),
            None => Sender::new(cfg, session),
        };
        Ok(FrameSender {
            driver: Driver::new(proto, sock, cfg.mtu)?,
            dest,
            encoded: Vec::new(),
            timeout: Duration::from_secs(2),
            no_route,
        })
    }

    /// Connects the socket, if the network was away so far, retrying until the timeout.
    fn ensure_route(&mut self) -> Result<(), EndpointError> {
        let deadline = Instant::now() + self.timeout;
        while self.no_route.is_some() {
            self.no_route = connect_outcome(self.driver.socket().connect(self.dest))?;
            let left = deadline.saturating_duration_since(Instant::now());
            match self.no_route.take() {
                None => {}
                Some(source) if left.is_zero() => {
                    return Err(EndpointError::NoRoute {
                        addr: self.dest,
                        source,
                    })
                }
                Some(e) => {
                    self.no_route = Some(e);
                    std::thread::sleep(left.min(Duration::from_millis(50)));
                }
            }
        }
        Ok(())
    }

    /// How long each `send_*` call waits for its answer (default 2 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Names this sender: a viewer labels its frames with the name and, when this process is
    /// restarted with the same name, shows the new one in its place at once (docs/PROTOCOL.md
    /// 12.6). Without a name, a viewer knows the sender by its session id only.
    pub fn set_name(&mut self, name: &str) -> Result<(), EndpointError> {
        Ok(self.driver.machine_mut().set_name(name)?)
    }

    /// This sender's session id (the viewer reports it with every frame and message).
    pub fn session(&self) -> u32 {
        self.driver.machine().session()
    }

    /// Counters so far.
    pub fn stats(&self) -> &SenderStats {
        self.driver.machine().stats()
    }

    /// Sends one JPEG and waits until the viewer has it, whole and CRC-checked. `width` and
    /// `height` are only reported to the viewer (0 when unknown; at most 65535, the wire's
    /// limit, else [`EndpointError::PictureSize`]).
    pub fn send_jpeg(&mut self, jpeg: &[u8], width: u32, height: u32) -> Result<(), EndpointError> {
        let (width, height) = wire_sides(width, height)?;
        let mut data = self
            .driver
            .machine_mut()
            .take_spare_buffer()
            .unwrap_or_default();
        data.clear();
        data.extend_from_slice(jpeg);
        self.send_frame(data, width, height)
    }

    /// JPEG-encodes `rgb` (3 bytes a pixel, row-major) at `quality` (1 to 100, 4:2:0) and sends
    /// it like [`FrameSender::send_jpeg`].
    pub fn send_rgb(
        &mut self,
        rgb: &[u8],
        width: u32,
        height: u32,
        quality: u8,
    ) -> Result<(), EndpointError> {
        if !(1..=100).contains(&quality) {
            return Err(EndpointError::Quality(quality));
        }
        let (w16, h16) = wire_sides(width, height)?;
        let mut out = std::mem::take(&mut self.encoded);
        encode_rgb(rgb, width, height, quality, &mut out)?;
        let r = self.send_frame(out, w16, h16);
        if let Some(spare) = self.driver.machine_mut().take_spare_buffer() {
            self.encoded = spare;
        }
        r
    }

    fn send_frame(&mut self, data: Vec<u8>, width: u16, height: u16) -> Result<(), EndpointError> {
        self.ensure_route()?;
        let seq = self.driver.machine_mut().push_frame(
            Instant::now(),
            OutgoingFrame {
                data,
                codec: Codec::Jpeg,
                width,
                height,
                timestamp_us: now_us(),
            },
        )?;
        self.drive(|ev| match ev {
            SenderEvent::Acked { seq: s, .. } if *s == seq => Some(Ok(())),
            _ => None,
        })
    }

    /// Sends `value` as a JSON message and waits for the viewer's verdict: `Ok` once it has
    /// accepted it, [`EndpointError::Refused`] with its reason otherwise.
    pub fn send_json<T: serde::Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), EndpointError> {
        let text = serde_json::to_vec(value)?;
        self.send_json_text(text)
    }

    /// Sends JSON text as it is (the viewer validates it); see [`FrameSender::send_json`].
    pub fn send_json_text(&mut self, json: impl Into<Vec<u8>>) -> Result<(), EndpointError> {
        self.ensure_route()?;
        let seq = self.driver.machine_mut().push_message(json.into())?;
        let (addr, timeout) = (self.dest, self.timeout);
        self.drive(|ev| match ev {
            SenderEvent::Message {
                seq: s, outcome, ..
            } if *s == seq => Some(match outcome {
                MessageOutcome::Delivered => Ok(()),
                MessageOutcome::Refused { reason, .. } => {
                    Err(EndpointError::Refused(reason.clone()))
                }
                MessageOutcome::TimedOut => Err(EndpointError::NoAnswer { addr, timeout }),
            }),
            _ => None,
        })
    }

    /// The error for a viewer that did not answer: with a key and no handshake done yet, the
    /// key is the likely cause, and the message says so.
    fn no_answer(&self) -> EndpointError {
        let (addr, timeout) = (self.dest, self.timeout);
        let m = self.driver.machine();
        if m.is_keyed() && m.stats().handshakes == 0 {
            EndpointError::NoHandshake { addr, timeout }
        } else {
            EndpointError::NoAnswer { addr, timeout }
        }
    }

    /// Runs the protocol until `done` picks an event, or the timeout passes.
    fn drive(
        &mut self,
        mut done: impl FnMut(&SenderEvent) -> Option<Result<(), EndpointError>>,
    ) -> Result<(), EndpointError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            self.driver.flush()?;
            while let Some(ev) = self.driver.machine_mut().poll_event() {
                if let Some(r) = done(&ev) {
                    return r.map_err(|e| match e {
                        EndpointError::NoAnswer { .. } => self.no_answer(),
                        e => e,
                    });
                }
            }
            if Instant::now() >= deadline {
                return Err(self.no_answer());
            }
            self.driver.turn(deadline)?;
        }
    }
}

/// Width and height as the wire carries them (16 bits each).
fn wire_sides(width: u32, height: u32) -> Result<(u16, u16), EndpointError> {
    match (u16::try_from(width), u16::try_from(height)) {
        (Ok(w), Ok(h)) => Ok((w, h)),
        _ => Err(EndpointError::PictureSize { width, height }),
    }
}

impl Drop for FrameSender {
    /// Says BYE, so the viewer knows at once that this sender is done.
    fn drop(&mut self) {
        self.driver.machine_mut().close();
        let _ = self.driver.flush();
    }
}

impl Drop for FrameReceiver {
    /// Says BYE to every sender it knows, so that they stop sending frames to nobody.
    fn drop(&mut self) {
        self.driver.machine_mut().close();
        let _ = self.driver.flush();
    }
}

/// A frame as received: whole, CRC-checked, and already acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Where it came from.
    pub from: SocketAddr,
    /// The sender's session.
    pub session: u32,
    /// The sender's name ([`FrameSender::set_name`], `cam-send --name`), once it is known.
    pub name: Option<Arc<str>>,
    /// Its sequence number in that session.
    pub seq: u32,
    /// The JPEG bytes exactly as sent.
    pub jpeg: Vec<u8>,
    /// Picture size as the sender reported it (0 when unknown).
    pub width: u16,
    /// Picture height as the sender reported it (0 when unknown).
    pub height: u16,
    /// Capture time on the sender's clock, microseconds since the Unix epoch.
    pub timestamp_us: u64,
}

impl Frame {
    /// Decodes the JPEG to RGB (3 bytes a pixel); returns the pixels, width and height.
    pub fn decode_rgb(&self) -> Result<(Vec<u8>, u32, u32), CodecError> {
        let mut d = Decoder::new();
        let (w, h) = d.decode_rgb(&self.jpeg)?;
        Ok((d.rgb().to_vec(), w, h))
    }
}

/// A JSON message as received: valid, delivered once, in its sender's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Where it came from.
    pub from: SocketAddr,
    /// The sender's session.
    pub session: u32,
    /// The sender's name, once it is known.
    pub name: Option<Arc<str>>,
    /// Its sequence number in that session (0, 1, 2, ...).
    pub seq: u32,
    /// The value.
    pub value: serde_json::Value,
}

/// What a [`FrameReceiver`] yields. More kinds may come (non-exhaustive).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A frame of a shown sender (every sender is shown, up to
    /// [`ReceiverConfig::max_senders`]); `session` and `name` say whose.
    Frame(Frame),
    /// A JSON message, from any sender.
    Message(Message),
    /// A sender is shown from now on.
    SessionStarted {
        /// Its session id.
        session: u32,
        /// Its address.
        from: SocketAddr,
        /// Its name, when known already.
        name: Option<Arc<str>>,
    },
    /// A sender told its name.
    SenderNamed {
        /// Its session id.
        session: u32,
        /// Its address.
        from: SocketAddr,
        /// The name.
        name: Arc<str>,
    },
    /// A sender is not shown: [`ReceiverConfig::max_senders`] others are (it gets no
    /// answers until one of them ends).
    SenderRefused {
        /// Its session id.
        session: u32,
        /// Its address.
        from: SocketAddr,
        /// Its name, if known.
        name: Option<Arc<str>>,
    },
    /// A shown sender said BYE, went silent, or gave way to its own restart.
    SessionEnded {
        /// Its session id.
        session: u32,
        /// Its address.
        from: SocketAddr,
        /// Why.
        reason: EndReason,
    },
    /// camwire datagrams of another protocol version arrive (once per run): an older or newer
    /// sender that this receiver cannot talk to.
    OtherVersion {
        /// Where the first one came from.
        from: SocketAddr,
        /// The version it speaks.
        version: u8,
    },
    /// Datagrams arrive that a different key setting would take (once per run and kind):
    /// the sender has a key and this receiver none, or the other way round, or the keys
    /// differ.
    KeyMismatch {
        /// Where the first one came from.
        from: SocketAddr,
        /// Which mismatch.
        kind: KeyMismatch,
    },
}

/// Receives frames and messages on one UDP socket, acknowledging each.
pub struct FrameReceiver {
    driver: Driver<Receiver>,
}

impl FrameReceiver {
    /// Listens on `addr` (port 0 picks a free port; see [`FrameReceiver::local_addr`]). Text
    /// takes `cam-view --listen`'s forms: a `PORT` alone is on every IPv4 interface, and a
    /// `HOST` without a port is on port 9999 ([`EndpointAddr`]).
    pub fn bind(addr: impl EndpointAddr) -> Result<Self, EndpointError> {
        Self::with_config(addr, ReceiverConfig::default())
    }

    /// Listens with the given limits.
    pub fn with_config(
        addr: impl EndpointAddr,
        cfg: ReceiverConfig,
    ) -> Result<Self, EndpointError> {
        Self::open(addr, Receiver::new(cfg))
    }

    /// Listens for senders with `key` only: nothing from anyone else is kept, delivered or
    /// answered (docs/PROTOCOL.md section 11).
    pub fn with_key(
        addr: impl EndpointAddr,
        cfg: ReceiverConfig,
        key: &Key,
    ) -> Result<Self, EndpointError> {
        Self::open(addr, Receiver::keyed(cfg, key))
    }

    fn open(addr: impl EndpointAddr, machine: Receiver) -> Result<Self, EndpointError> {
        let (sock, _) = bind_viewer(addr.endpoint_addr(IpAddr::from([0, 0, 0, 0]), false)?)?;
        Ok(FrameReceiver {
            driver: Driver::new(machine, sock, MAX_VIEWER_DATAGRAM)?,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr, EndpointError> {
        Ok(self.driver.socket().local_addr()?)
    }

    /// Counters so far.
    pub fn stats(&self) -> &ReceiverStats {
        self.driver.machine().stats()
    }

    /// Waits for the next event, however long it takes.
    pub fn recv(&mut self) -> Result<Event, EndpointError> {
        loop {
            if let Some(ev) = self.recv_timeout(Duration::from_secs(3600))? {
                return Ok(ev);
            }
        }
    }

    /// Waits up to `timeout` for the next event.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Event>, EndpointError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(ev) = self.next_event() {
                return Ok(Some(ev));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            self.driver.turn(deadline)?;
        }
    }

    fn next_event(&mut self) -> Option<Event> {
        loop {
            let r = self.driver.machine_mut();
            let ev = r.poll_event()?;
            return Some(match ev {
                ReceiverEvent::Frame { from, frame } => Event::Frame(Frame {
                    from,
                    session: frame.session,
                    name: r.session_name(frame.session).cloned(),
                    seq: frame.info.seq,
                    jpeg: frame.data,
                    width: frame.info.width,
                    height: frame.info.height,
                    timestamp_us: frame.info.timestamp_us,
                }),
                ReceiverEvent::Message {
                    from,
                    session,
                    seq,
                    json,
                } => match serde_json::from_slice(&json) {
                    Ok(value) => Event::Message(Message {
                        from,
                        session,
                        name: r.session_name(session).cloned(),
                        seq,
                        value,
                    }),
                    // Validated by the receiver already; nothing to report if not.
                    Err(_) => continue,
                },
                ReceiverEvent::SessionStarted {
                    session,
                    from,
                    name,
                } => Event::SessionStarted {
                    session,
                    from,
                    name,
                },
                ReceiverEvent::SessionNamed {
                    session,
                    from,
                    name,
                } => Event::SenderNamed {
                    session,
                    from,
                    name,
                },
                ReceiverEvent::SessionRefused {
                    session,
                    from,
                    name,
                } => Event::SenderRefused {
                    session,
                    from,
                    name,
                },
                ReceiverEvent::SessionEnded {
                    session,
                    from,
                    reason,
                } => Event::SessionEnded {
                    session,
                    from,
                    reason,
                },
                ReceiverEvent::SessionIgnored { .. } => continue,
                ReceiverEvent::OtherVersion { from, version } => {
                    Event::OtherVersion { from, version }
                }
                ReceiverEvent::KeyMismatch { from, kind } => Event::KeyMismatch { from, kind },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn jpeg_bytes_and_messages_round_trip_and_refusals_come_back() {
        let mut hub = FrameReceiver::bind("127.0.0.1:0").unwrap();
        let addr = hub.local_addr().unwrap();
        let mut jpeg = Vec::new();
        encode_rgb(&vec![200u8; 32 * 16 * 3], 32, 16, 90, &mut jpeg).unwrap();
        let sent = jpeg.clone();
        let t = std::thread::spawn(move || {
            let mut tx = FrameSender::connect(addr).unwrap();
            for _ in 0..3 {
                tx.send_jpeg(&jpeg, 32, 16).unwrap();
            }
            let refused = tx.send_json_text("{oops");
            tx.send_json(&[1, 2, 3]).unwrap();
            (tx.session(), refused)
        });
        let mut frames = Vec::new();
        let mut messages = Vec::new();
        let mut ended = false;
        for _ in 0..100 {
            match hub.recv_timeout(Duration::from_secs(10)).unwrap() {
                Some(Event::Frame(f)) => frames.push(f),
                Some(Event::Message(m)) => messages.push(m),
                Some(Event::SessionEnded { reason, .. }) => {
                    assert_eq!(reason, EndReason::Bye);
                    ended = true;
                    break;
                }
                Some(Event::SessionStarted { .. }) => {}
                Some(e) => panic!("unexpected: {e:?}"),
                None => panic!("timed out"),
            }
        }
        let (session, refused) = t.join().unwrap();
        assert!(ended, "the dropped sender said BYE");
        assert_eq!(frames.len(), 3);
        assert!(frames
            .iter()
            .all(|f| f.jpeg == sent && f.session == session));
        // Consecutive, from wherever the session's random first `seq` is.
        let first = frames[0].seq;
        assert_eq!(
            frames.iter().map(|f| f.seq).collect::<Vec<_>>(),
            (0..3).map(|i| first.wrapping_add(i)).collect::<Vec<_>>()
        );
        assert!(
            matches!(&refused, Err(EndpointError::Refused(r)) if r.starts_with("invalid JSON")),
            "{refused:?}"
        );
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].value, serde_json::json!([1, 2, 3]));
        assert_eq!(messages[0].seq, 1, "the refused message used seq 0");
    }

    #[test]
    fn keyed_endpoints_talk_and_a_wrong_key_is_named_in_the_error() {
        let key = Key::generate().unwrap();
        let mut hub =
            FrameReceiver::with_key("127.0.0.1:0", ReceiverConfig::default(), &key).unwrap();
        let addr = hub.local_addr().unwrap();
        let k = key.clone();
        let t = std::thread::spawn(move || {
            let mut tx = FrameSender::with_key(addr, SenderConfig::default(), &k).unwrap();
            tx.send_jpeg(b"\xff\xd8 not really a JPEG", 0, 0).unwrap();
            tx.send_json(&serde_json::json!({"secret": true})).unwrap();
            // Another key: no answer to the handshake, and the error says so.
            let other = Key::generate().unwrap();
            let mut bad = FrameSender::with_key(addr, SenderConfig::default(), &other).unwrap();
            bad.set_timeout(Duration::from_millis(600));
            bad.send_json(&1).unwrap_err()
        });
        let mut got = Vec::new();
        let mut mismatch = None;
        while let Some(e) = hub.recv_timeout(Duration::from_secs(5)).unwrap() {
            match e {
                Event::Frame(f) => got.push(f.jpeg),
                Event::Message(m) => assert_eq!(m.value, serde_json::json!({"secret": true})),
                Event::KeyMismatch { kind, .. } => mismatch = Some(kind),
                _ => {}
            }
            if mismatch.is_some() {
                break;
            }
        }
        let e = t.join().unwrap();
        assert_eq!(got, vec![b"\xff\xd8 not really a JPEG".to_vec()]);
        assert_eq!(mismatch, Some(KeyMismatch::DifferentKey));
        assert!(matches!(e, EndpointError::NoHandshake { .. }), "{e}");
        assert!(e.to_string().contains("with the same key"), "{e}");
    }

    #[test]
    fn a_frame_over_the_viewers_limit_is_refused_at_once() {
        let hub = FrameReceiver::bind("127.0.0.1:0").unwrap();
        let mut tx = FrameSender::connect(hub.local_addr().unwrap()).unwrap();
        let t0 = Instant::now();
        let e = tx.send_jpeg(&vec![0u8; 20 << 20], 0, 0).unwrap_err();
        assert!(
            matches!(
                e,
                EndpointError::Frame(PushError::OverLimit {
                    len: 20_971_520,
                    limit: 16_777_216
                })
            ),
            "{e}"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "not a wait for an ACK"
        );
        assert_eq!(tx.stats().frames_sent, 0);
    }

    #[test]
    fn a_sender_that_had_no_route_at_start_connects_at_its_next_send() {
        let mut hub = FrameReceiver::bind("127.0.0.1:0").unwrap();
        let dest = hub.local_addr().unwrap();
        // As `open_sender` leaves it when the network was away: bound, not connected.
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let cfg = SenderConfig::default();
        let mut tx = FrameSender {
            driver: Driver::new(Sender::new(cfg, 77), sock, cfg.mtu).unwrap(),
            dest,
            encoded: Vec::new(),
            timeout: Duration::from_secs(2),
            no_route: Some(std::io::Error::from(std::io::ErrorKind::NetworkUnreachable)),
        };
        let t = std::thread::spawn(move || {
            tx.send_json(&serde_json::json!({"back": true})).map(|_| tx)
        });
        let got = loop {
            match hub.recv_timeout(Duration::from_secs(5)).unwrap() {
                Some(Event::Message(m)) => break m,
                Some(_) => {}
                None => panic!("nothing arrived"),
            }
        };
        assert_eq!(got.value, serde_json::json!({"back": true}));
        let tx = t.join().unwrap().unwrap();
        assert!(tx.no_route.is_none());
        assert_eq!(tx.driver.socket().peer_addr().unwrap(), dest);
    }

    #[test]
    fn no_route_names_the_address_and_the_reason() {
        let e = EndpointError::NoRoute {
            addr: "192.0.2.1:9999".parse().unwrap(),
            source: std::io::Error::from(std::io::ErrorKind::NetworkUnreachable),
        };
        let text = e.to_string();
        assert!(text.starts_with("no route to 192.0.2.1:9999 ("), "{text}");
    }

    #[test]
    fn no_viewer_is_a_clear_error_within_the_timeout() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut tx = FrameSender::connect(silent.local_addr().unwrap()).unwrap();
        tx.set_timeout(Duration::from_millis(300));
        let t0 = Instant::now();
        let e = tx.send_json(&1).unwrap_err();
        assert!(matches!(e, EndpointError::NoAnswer { .. }), "{e}");
        assert!(e.to_string().contains("is a camwire viewer running there"));
        // Bounded: the wait ends at the timeout, give or take a poll.
        assert!(t0.elapsed() < Duration::from_secs(5));
        assert!(matches!(
            FrameSender::connect("no.such.host.invalid:9"),
            Err(EndpointError::Resolve(_))
        ));
    }

    #[test]
    fn addresses_follow_the_programs_rule() {
        // The port defaults to 9999, as for cam-send; a bad port is named.
        let tx = FrameSender::connect("127.0.0.1").unwrap();
        assert_eq!(tx.dest, "127.0.0.1:9999".parse().unwrap());
        let tx = FrameSender::connect(String::from("[::1]")).unwrap();
        assert_eq!(tx.dest, "[::1]:9999".parse().unwrap());
        let e = FrameSender::connect("127.0.0.1:99999").err().unwrap();
        assert!(e.to_string().starts_with("invalid port '99999'"), "{e}");
        let e = FrameSender::connect("127.0.0.1:0").err().unwrap();
        assert!(e.to_string().contains("port 0"), "{e}");
        let hub = FrameReceiver::bind("127.0.0.1:0").unwrap();
        let a = hub.local_addr().unwrap();
        let tx = FrameSender::connect((a.ip(), a.port())).unwrap();
        assert_eq!(tx.dest, a);
    }

    #[test]
    fn bad_sides_and_qualities_are_typed_errors_before_anything_is_sent() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut tx = FrameSender::connect(silent.local_addr().unwrap()).unwrap();
        let rgb = vec![0u8; 16 * 16 * 3];
        for q in [0, 101, 200] {
            assert!(
                matches!(tx.send_rgb(&rgb, 16, 16, q), Err(EndpointError::Quality(x)) if x == q),
                "quality {q}"
            );
        }
        let e = tx.send_jpeg(b"\xFF\xD8", 70_000, 10).unwrap_err();
        assert!(
            matches!(
                e,
                EndpointError::PictureSize {
                    width: 70_000,
                    height: 10
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("at most 65535"), "{e}");
        assert_eq!(tx.stats().frames_sent, 0);
    }

    #[test]
    fn receiver_stats_need_only_a_shared_reference() {
        let hub = FrameReceiver::bind("127.0.0.1:0").unwrap();
        let r = &hub;
        assert_eq!(r.stats().datagrams, 0);
    }
}
