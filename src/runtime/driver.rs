//! The one socket driver: a sans-IO protocol machine, a UDP socket read by a thread of its
//! own, and a precise wait for whichever comes first, a datagram or the machine's next timer.
//!
//! Every shell uses it: `cam-send`'s and `cam-view`'s network threads and the library's
//! [`crate::endpoint`] types. A socket read timeout cannot be the timer: Linux rounds
//! `SO_RCVTIMEO` to scheduler ticks, so a 100 us wait returns after up to 8 ms and the
//! protocol's 2 ms NACK timer and sub-millisecond pacing fire late. Here the reader thread
//! blocks on the socket and hands each datagram over a bounded channel; the driving thread
//! waits on that channel with a deadline (a futex with nanosecond timeouts), and can wait on
//! its own channels (frames to send, a stop signal) in the same `select!`.
//!
//! Datagrams cross the socket in batches ([`crate::runtime::batch`]): a frame is ~140
//! datagrams, and a system call each, both ways, was most of what the kernel spent on it. A
//! flush collects what the machine has to send right now (its pacer still decides what that
//! is) and hands it over in as few calls as the platform allows; the reader takes everything
//! queued in one call. Only the shell batches: the machines still see one datagram at a time,
//! each with the instant the reader took its batch off the socket.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError};

use crate::protocol::receiver::Receiver as ReceiverMachine;
use crate::protocol::sender::Sender as SenderMachine;
use crate::protocol::wire::MAX_DATAGRAM;
pub use crate::runtime::batch::Batching;
use crate::runtime::batch::{Inbox, Outbox};
use crate::runtime::net::is_transient;

/// Datagrams the reader may queue for a busy driver before it drops them, as a full kernel
/// buffer would: about 0.6 MB of 1200-byte datagrams, a few 1080p frames.
const QUEUE: usize = 512;
/// How often the reader looks at its stop flag while the socket is quiet; also the longest a
/// [`Link`] takes to drop.
const READER_POLL: Duration = Duration::from_millis(20);

/// One datagram as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Who sent it.
    pub from: SocketAddr,
    /// Its bytes.
    pub data: Vec<u8>,
    /// When it arrived: the kernel's stamp where the platform gives one, else when the reader
    /// took it off the socket (runtime::batch::arrival). The machine times arrivals by this,
    /// not by when a busy driver or reader got round to it: a frame's arrival spread is how
    /// the sender measures the path's capacity, and a stall mid-frame would stretch it.
    pub at: Instant,
}

/// A protocol state machine the driver can run: bytes and instants in, bytes out.
pub trait Machine {
    /// Takes one datagram from `from`.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]);
    /// Runs the timers due by `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram to send, written into `buf`: its destination (`None` for the
    /// connected peer) and length.
    fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<(Option<SocketAddr>, usize)>;
    /// When the next timer is due, if any.
    fn poll_timeout(&self) -> Option<Instant>;
}

impl Machine for SenderMachine {
    fn handle_datagram(&mut self, now: Instant, _from: SocketAddr, bytes: &[u8]) {
        // The socket is connected: the kernel has already dropped anyone but the viewer.
        SenderMachine::handle_datagram(self, now, bytes)
    }
    fn handle_timeout(&mut self, now: Instant) {
        SenderMachine::handle_timeout(self, now)
    }
    fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<(Option<SocketAddr>, usize)> {
        SenderMachine::poll_transmit(self, now, buf).map(|n| (None, n))
    }
    fn poll_timeout(&self) -> Option<Instant> {
        SenderMachine::poll_timeout(self)
    }
}

impl Machine for ReceiverMachine {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        ReceiverMachine::handle_datagram(self, now, from, bytes)
    }
    fn handle_timeout(&mut self, now: Instant) {
        ReceiverMachine::handle_timeout(self, now)
    }
    fn poll_transmit(
        &mut self,
        _now: Instant,
        buf: &mut [u8],
    ) -> Option<(Option<SocketAddr>, usize)> {
        ReceiverMachine::poll_transmit(self, buf).map(|(to, n)| (Some(to), n))
    }
    fn poll_timeout(&self) -> Option<Instant> {
        ReceiverMachine::poll_timeout(self)
    }
}

/// Why a driver stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The socket failed for good (not one of the transient errors of
    /// [`crate::runtime::net::is_transient`]).
    #[error("network error: {0}")]
    Io(#[from] io::Error),
}

/// What the reader thread shares with its owner.
struct Shared {
    closed: AtomicBool,
    /// Datagrams dropped because the driver was too far behind.
    overflow: AtomicU64,
    /// The error that ended the reader, if one did.
    failure: std::sync::Mutex<Option<io::Error>>,
    /// Receive system calls that returned datagrams, and the datagrams they returned.
    recv_calls: AtomicU64,
    received: AtomicU64,
}

/// System calls the driver made for its datagrams, and how many datagrams they moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyscallCounts {
    /// Send calls (`send`, `sendmsg` with GSO, `sendmmsg`).
    pub send_calls: u64,
    /// Datagrams handed to them.
    pub sent: u64,
    /// Receive calls that returned datagrams (`recv_from`, `recvmmsg`); the reader's timed-out
    /// waits are not counted.
    pub recv_calls: u64,
    /// Datagrams they returned.
    pub received: u64,
}

/// A machine, its socket, the socket's reader thread, and a buffer for outgoing datagrams.
pub struct Driver<M: Machine> {
    machine: M,
    sock: UdpSocket,
    incoming: Receiver<Datagram>,
    shared: Arc<Shared>,
    reader: Option<thread::JoinHandle<()>>,
    out: Outbox,
}

impl<M: Machine> Driver<M> {
    /// Drives `machine` over `sock`; `max_out` is the largest datagram the machine writes.
    /// Socket calls are batched as the environment variable `CAMWIRE_BATCH` says
    /// ([`Batching::from_env`]: the best the platform has, unless it says otherwise).
    pub fn new(machine: M, sock: UdpSocket, max_out: usize) -> Result<Self, DriverError> {
        Self::with_batching(machine, sock, max_out, Batching::from_env())
    }

    /// [`Driver::new`] with the given batching of socket calls.
    pub fn with_batching(
        machine: M,
        sock: UdpSocket,
        max_out: usize,
        batching: Batching,
    ) -> Result<Self, DriverError> {
        let shared = Arc::new(Shared {
            closed: AtomicBool::new(false),
            overflow: AtomicU64::new(0),
            failure: std::sync::Mutex::new(None),
            recv_calls: AtomicU64::new(0),
            received: AtomicU64::new(0),
        });
        let (tx, incoming) = bounded(QUEUE);
        let reader_sock = sock.try_clone()?;
        reader_sock.set_read_timeout(Some(READER_POLL))?;
        let reader_shared = shared.clone();
        let reader = thread::Builder::new()
            .name("udp-reader".into())
            .spawn(move || {
                let mut inbox = Inbox::new(&reader_sock, MAX_DATAGRAM, batching);
                while !reader_shared.closed.load(Ordering::Relaxed) {
                    let got = inbox.recv(&reader_sock, |from, bytes, at| {
                        let d = Datagram {
                            from,
                            data: bytes.to_vec(),
                            at,
                        };
                        if tx.try_send(d).is_err() {
                            reader_shared.overflow.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                    match got {
                        Ok(n) => {
                            reader_shared.recv_calls.fetch_add(1, Ordering::Relaxed);
                            reader_shared
                                .received
                                .fetch_add(n as u64, Ordering::Relaxed);
                        }
                        Err(e) if is_transient(&e) => {}
                        Err(e) => {
                            if let Ok(mut f) = reader_shared.failure.lock() {
                                *f = Some(e);
                            }
                            // Dropping the sender tells the driver.
                            break;
                        }
                    }
                }
            })?;
        Ok(Driver {
            machine,
            incoming,
            shared,
            reader: Some(reader),
            out: Outbox::new(&sock, max_out, batching),
            sock,
        })
    }

    /// The machine.
    pub fn machine(&self) -> &M {
        &self.machine
    }

    /// The machine, to push work into it or take its events.
    pub fn machine_mut(&mut self) -> &mut M {
        &mut self.machine
    }

    /// The socket (for its local address).
    pub fn socket(&self) -> &UdpSocket {
        &self.sock
    }

    /// Datagrams as they arrive, for a `select!` that also waits on other channels; hand
    /// each one to [`Driver::handle`].
    pub fn incoming(&self) -> &Receiver<Datagram> {
        &self.incoming
    }

    /// Datagrams dropped so far because the driver fell more than a queue behind.
    pub fn overflow(&self) -> u64 {
        self.shared.overflow.load(Ordering::Relaxed)
    }

    /// System calls made for datagrams so far, both ways.
    pub fn syscalls(&self) -> SyscallCounts {
        SyscallCounts {
            send_calls: self.out.calls,
            sent: self.out.datagrams,
            recv_calls: self.shared.recv_calls.load(Ordering::Relaxed),
            received: self.shared.received.load(Ordering::Relaxed),
        }
    }

    /// Whether sends use UDP GSO: asked for, supported, and not refused by the kernel so far.
    pub fn gso(&self) -> bool {
        self.out.gso()
    }

    /// Sends everything the machine has to send now, batched: what `poll_transmit` gives
    /// until it has nothing more is collected and sent in as few calls as the platform allows
    /// (the machine's pacing decides what is due; a batch never waits). Transient errors
    /// (nobody listening yet) cost only the datagrams of the call that met them.
    pub fn flush(&mut self) -> Result<(), DriverError> {
        let now = Instant::now();
        loop {
            let Some(slot) = self.out.slot() else {
                self.out.send(&self.sock)?;
                continue;
            };
            match self.machine.poll_transmit(now, slot) {
                Some((to, n)) => self.out.push(to, n),
                None => break,
            }
        }
        self.out.send(&self.sock)?;
        Ok(())
    }

    /// Hands `d`, and every datagram already queued behind it, to the machine, then runs its
    /// timers.
    pub fn handle(&mut self, d: Datagram) {
        self.machine.handle_datagram(d.at, d.from, &d.data);
        while let Ok(d) = self.incoming.try_recv() {
            self.machine.handle_datagram(d.at, d.from, &d.data);
        }
        self.machine.handle_timeout(Instant::now());
    }

    /// Runs the machine's timers due by now.
    pub fn handle_timeout(&mut self) {
        self.machine.handle_timeout(Instant::now());
    }

    /// The machine's next timer, or `until` if that is sooner.
    pub fn deadline(&self, until: Instant) -> Instant {
        self.machine.poll_timeout().map_or(until, |t| t.min(until))
    }

    /// One turn of the loop for a thread with nothing else to wait on: sends what is due,
    /// waits for a datagram until the machine's next timer or `until`, whichever is first,
    /// and hands the machine whatever happened.
    pub fn turn(&mut self, until: Instant) -> Result<(), DriverError> {
        self.flush()?;
        let wait = self
            .deadline(until)
            .saturating_duration_since(Instant::now());
        match self.incoming.recv_timeout(wait) {
            Ok(d) => self.handle(d),
            Err(RecvTimeoutError::Timeout) => self.handle_timeout(),
            Err(RecvTimeoutError::Disconnected) => return Err(self.reader_failure()),
        }
        self.flush()
    }

    /// The error that ended the reader thread.
    pub fn reader_failure(&self) -> DriverError {
        let e = self
            .shared
            .failure
            .lock()
            .ok()
            .and_then(|mut f| f.take())
            .unwrap_or_else(|| io::Error::other("the socket reader stopped"));
        DriverError::Io(e)
    }
}

impl<M: Machine> Drop for Driver<M> {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Relaxed);
        if let Some(r) = self.reader.take() {
            // Within one READER_POLL: the socket (a clone) is closed when this returns, so
            // the port is free again for whoever binds it next.
            let _ = r.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::link::MAX_VIEWER_DATAGRAM;
    use crate::protocol::receiver::ReceiverConfig;
    use crate::protocol::sender::{OutgoingFrame, SenderConfig, SenderEvent};
    use crate::protocol::wire::Codec;
    use crate::runtime::net::{bind_viewer, connect_sender};

    fn pair(batching: Batching) -> (Driver<SenderMachine>, Driver<ReceiverMachine>) {
        let (vs, _) = bind_viewer("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = vs.local_addr().unwrap();
        let rx = Driver::with_batching(
            ReceiverMachine::new(ReceiverConfig::default()),
            vs,
            MAX_VIEWER_DATAGRAM,
            batching,
        )
        .unwrap();
        let cfg = SenderConfig::default();
        let tx = Driver::with_batching(
            SenderMachine::new(cfg, 7),
            connect_sender(addr).unwrap(),
            cfg.mtu,
            batching,
        )
        .unwrap();
        (tx, rx)
    }

    #[test]
    fn a_frame_crosses_loopback_and_is_acknowledged() {
        for batching in [Batching::Gso, Batching::Mmsg, Batching::Off] {
            a_frame_crosses(batching);
        }
    }

    fn a_frame_crosses(batching: Batching) {
        let (mut tx, mut rx) = pair(batching);
        let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7) as u8).collect();
        let seq = tx
            .machine_mut()
            .push_frame(
                Instant::now(),
                OutgoingFrame {
                    data: data.clone(),
                    codec: Codec::Jpeg,
                    width: 0,
                    height: 0,
                    timestamp_us: 1,
                },
            )
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let (mut got, mut acked) = (None, false);
        while (got.is_none() || !acked) && Instant::now() < deadline {
            tx.turn(Instant::now() + Duration::from_millis(5)).unwrap();
            rx.turn(Instant::now() + Duration::from_millis(5)).unwrap();
            while let Some(ev) = rx.machine_mut().poll_event() {
                if let crate::protocol::receiver::ReceiverEvent::Frame { frame, .. } = ev {
                    got = Some(frame.data);
                }
            }
            while let Some(ev) = tx.machine_mut().poll_event() {
                acked |= matches!(ev, SenderEvent::Acked { seq: s, .. } if s == seq);
            }
        }
        assert_eq!(
            got.as_deref(),
            Some(&data[..]),
            "the frame, byte for byte ({batching:?})"
        );
        assert!(acked, "the sender heard the ACK ({batching:?})");
        // 50 KB is ~43 datagrams; each path makes as many calls as it should.
        let (sent, recv) = (tx.syscalls(), rx.syscalls());
        assert!(sent.sent >= 43 && recv.received >= 43, "{sent:?} {recv:?}");
        match batching {
            Batching::Off => {
                assert_eq!(sent.send_calls, sent.sent);
                assert_eq!(recv.recv_calls, recv.received);
            }
            _ if cfg!(target_os = "linux") => {
                assert!(sent.send_calls * 4 < sent.sent, "{sent:?}");
                assert!(tx.gso() == (batching == Batching::Gso));
            }
            _ => {}
        }
    }

    #[test]
    fn turns_follow_the_machine_timer() {
        // A quiet socket and a timer 1 ms away: the turn returns near the timer (a socket
        // read timeout would round it up to scheduler ticks), and never before it.
        struct Timer(Instant, u32);
        impl Machine for Timer {
            fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: &[u8]) {}
            fn handle_timeout(&mut self, now: Instant) {
                if now >= self.0 {
                    self.1 += 1;
                    self.0 = now + Duration::from_millis(1);
                }
            }
            fn poll_transmit(
                &mut self,
                _: Instant,
                _: &mut [u8],
            ) -> Option<(Option<SocketAddr>, usize)> {
                None
            }
            fn poll_timeout(&self) -> Option<Instant> {
                Some(self.0)
            }
        }
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let start = Instant::now();
        let mut d = Driver::new(Timer(start + Duration::from_millis(1), 0), sock, 16).unwrap();
        while d.machine().1 < 50 {
            d.turn(start + Duration::from_secs(30)).unwrap();
        }
        // 50 timers of 1 ms each: never early.
        assert!(start.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn dropping_a_driver_frees_its_port() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let d = Driver::new(
            ReceiverMachine::new(ReceiverConfig::default()),
            sock,
            MAX_VIEWER_DATAGRAM,
        )
        .unwrap();
        drop(d);
        UdpSocket::bind(addr).expect("the port is free once the driver is dropped");
    }
}
