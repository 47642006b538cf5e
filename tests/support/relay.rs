//! A fault-injecting UDP relay for tests and benchmarks: it sits between `cam-send` and
//! `cam-view` and drops, duplicates, reorders, delays, corrupts and truncates datagrams,
//! deterministically from a seed, and can squeeze them through a bandwidth bottleneck with a
//! bounded queue, as a home router's uplink does.
//!
//! The kernel here has no netem, so faults are made in user space. [`FaultModel`] is the
//! sans-IO part (datagrams and instants in, datagrams out at their release time); [`Relay`]
//! is a thread with two loopback sockets around two models, one per direction.
//!
//! One direction's path, in order: random loss, duplication, corruption and truncation at the
//! door; then the bottleneck (a FIFO drained at `rate_bps`, tail drop when full); then the
//! one-way delay, jitter and reordering. So the delay is the propagation delay after the
//! bottleneck, and a datagram's latency is its wait in the queue + its own serialization
//! time + the delay.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What one direction of the relay does to datagrams. Probabilities are in `0.0..=1.0`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Chance a datagram is dropped.
    pub drop: f64,
    /// Chance a datagram is delivered twice.
    pub duplicate: f64,
    /// Chance a datagram is held back by an extra `reorder_by`, so later ones overtake it.
    pub reorder: f64,
    /// How long a reordered datagram is held back.
    pub reorder_by: Duration,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra random delay, uniform in `0..jitter` (it reorders too).
    pub jitter: Duration,
    /// Chance one random bit of the datagram is flipped.
    pub corrupt: f64,
    /// Chance the datagram is cut to a random shorter length.
    pub truncate: f64,
    /// Bandwidth bottleneck in bits per second (`None`: none). Each datagram takes
    /// `len * 8 / rate` seconds to pass, one after another in arrival order.
    pub rate_bps: Option<f64>,
    /// Most bytes that may wait in the bottleneck's queue (the datagram being serialized is
    /// no longer waiting). A datagram that would have to wait and does not fit is
    /// tail-dropped, as Linux's `bfifo` does; one that finds the link idle goes straight on
    /// the wire. Only used with `rate_bps`; see [`DEFAULT_QUEUE`].
    pub queue_bytes: usize,
}

/// The bottleneck queue [`Faults::bottleneck`] gives: 200 ms at the bottleneck's rate
/// (125 KB at 5 Mbit/s).
///
/// Home uplinks buffer a lot (bufferbloat): cable and DSL modems have been measured holding
/// hundreds of milliseconds to seconds of uplink traffic (Netalyzr, Kreibich et al. 2010;
/// Gettys and Nichols, "Bufferbloat: Dark Buffers in the Internet", 2011), and Linux's
/// default 1000-packet transmit queue is 2.4 s at 5 Mbit/s. 200 ms is a modest bloated
/// buffer: it holds a whole burst of today's 77 KB 720p frame (123 ms at 5 Mbit/s), so a
/// stop-and-wait sender measures the rate rather than burst loss, and a sender that sends
/// faster than the path sees its delay grow for a long time before it sees loss, the case a
/// delay-based rate controller has to handle. Routers with AQM (fq_codel, PIE, DOCSIS 3.1)
/// keep it far shorter; pass a smaller `queue_bytes` (the relay's `--queue-ms`/`--queue-kb`)
/// for those.
pub const DEFAULT_QUEUE: Duration = Duration::from_millis(200);

/// Bytes that `rate_bps` serializes in `d`: a queue limit given as time.
pub fn queue_bytes_for(rate_bps: f64, d: Duration) -> usize {
    (rate_bps.max(0.0) / 8.0 * d.as_secs_f64()).round() as usize
}

impl Faults {
    /// Only random loss.
    pub fn loss(p: f64) -> Self {
        Faults {
            drop: p,
            ..Faults::default()
        }
    }

    /// Only a bottleneck of `rate_bps` bits per second with the [`DEFAULT_QUEUE`].
    pub fn bottleneck(rate_bps: f64) -> Self {
        Faults {
            rate_bps: Some(rate_bps),
            queue_bytes: queue_bytes_for(rate_bps, DEFAULT_QUEUE),
            ..Faults::default()
        }
    }
}

/// Counts of what the model did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FaultStats {
    /// Datagrams in.
    pub received: u64,
    /// Dropped.
    pub dropped: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Held back to be overtaken.
    pub reordered: u64,
    /// Bit-flipped.
    pub corrupted: u64,
    /// Cut short.
    pub truncated: u64,
    /// Tail-dropped because the bottleneck's queue was full.
    pub queue_dropped: u64,
    /// The most bytes that waited in the bottleneck's queue at once.
    pub queue_peak_bytes: u64,
}

/// A datagram accepted by the bottleneck: when it starts and finishes serializing, and its
/// length.
#[derive(Debug, Clone, Copy)]
struct OnLink {
    start: Instant,
    done: Instant,
    len: u64,
}

/// The fault model of one direction: sans-IO and deterministic for a given seed and input.
pub struct FaultModel {
    faults: Faults,
    rng: fastrand::Rng,
    queue: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    order: u64,
    stats: FaultStats,
    /// The bottleneck's FIFO: datagrams not yet fully serialized, oldest first.
    link: VecDeque<OnLink>,
    /// Bytes in `link`.
    link_bytes: u64,
}

impl FaultModel {
    /// A model with the given faults and seed.
    pub fn new(faults: Faults, seed: u64) -> Self {
        FaultModel {
            faults,
            rng: fastrand::Rng::with_seed(seed),
            queue: BinaryHeap::new(),
            order: 0,
            stats: FaultStats::default(),
            link: VecDeque::new(),
            link_bytes: 0,
        }
    }

    /// What the model has done so far.
    pub fn stats(&self) -> FaultStats {
        self.stats
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.f64() < p
    }

    fn schedule(&mut self, now: Instant, mut bytes: Vec<u8>) {
        let f = self.faults;
        if self.chance(f.corrupt) && !bytes.is_empty() {
            let i = self.rng.usize(..bytes.len());
            bytes[i] ^= 1 << self.rng.u8(..8);
            self.stats.corrupted += 1;
        }
        if self.chance(f.truncate) && bytes.len() > 1 {
            let n = self.rng.usize(..bytes.len());
            bytes.truncate(n);
            self.stats.truncated += 1;
        }
        let mut at = match f.rate_bps {
            Some(rate) if rate > 0.0 => match self.bottleneck(now, rate, bytes.len()) {
                Some(done) => done,
                None => return,
            },
            _ => now,
        };
        at += f.delay;
        if !f.jitter.is_zero() {
            at += f.jitter.mul_f64(self.rng.f64());
        }
        if self.chance(f.reorder) {
            at += f.reorder_by;
            self.stats.reordered += 1;
        }
        self.order += 1;
        self.queue.push(Reverse((at, self.order, bytes)));
    }

    /// Queues a datagram of `len` bytes arriving at the bottleneck at `now`: when it has
    /// been serialized, or `None` when the queue is full and it is tail-dropped.
    fn bottleneck(&mut self, now: Instant, rate_bps: f64, len: usize) -> Option<Instant> {
        while self.link.front().is_some_and(|d| d.done <= now) {
            let d = self.link.pop_front().expect("front exists");
            self.link_bytes -= d.len;
        }
        // The datagram on the wire, if any, has left the queue.
        let on_wire = self
            .link
            .front()
            .filter(|d| d.start <= now)
            .map_or(0, |d| d.len);
        let waiting = self.link_bytes - on_wire;
        let len = len as u64;
        let start = self.link.back().map_or(now, |d| d.done.max(now));
        // One that arrives at an idle link goes straight on the wire and needs no room.
        if start > now && waiting + len > self.faults.queue_bytes as u64 {
            self.stats.queue_dropped += 1;
            return None;
        }
        let done = start + Duration::from_secs_f64(len as f64 * 8.0 / rate_bps);
        self.link.push_back(OnLink { start, done, len });
        self.link_bytes += len;
        if start > now {
            self.stats.queue_peak_bytes = self.stats.queue_peak_bytes.max(waiting + len);
        }
        Some(done)
    }

    /// Takes in one datagram at `now`.
    pub fn push(&mut self, now: Instant, bytes: &[u8]) {
        self.stats.received += 1;
        if self.chance(self.faults.drop) {
            self.stats.dropped += 1;
            return;
        }
        if self.chance(self.faults.duplicate) {
            self.stats.duplicated += 1;
            self.schedule(now, bytes.to_vec());
        }
        self.schedule(now, bytes.to_vec());
    }

    /// The next datagram due by `now`, if any.
    pub fn poll(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self
            .queue
            .peek()
            .is_some_and(|Reverse((at, _, _))| *at <= now)
        {
            self.queue.pop().map(|Reverse((_, _, b))| b)
        } else {
            None
        }
    }

    /// When the next datagram is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((at, _, _))| *at)
    }
}

/// A running relay on 127.0.0.1. Send to [`Relay::addr`] instead of the viewer; the relay
/// forwards to the viewer through one fault model and the viewer's replies back through
/// another. Stops when dropped.
pub struct Relay {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
    models: Arc<Mutex<(FaultModel, FaultModel)>>,
    retarget: Arc<Mutex<Option<SocketAddr>>>,
}

impl Relay {
    /// Starts a relay towards `upstream` with `forward` faults on the way there and `back`
    /// faults on the way back, seeded by `seed`.
    pub fn start(
        upstream: SocketAddr,
        forward: Faults,
        back: Faults,
        seed: u64,
    ) -> io::Result<Relay> {
        Self::start_inner(Some(upstream), forward, back, seed)
    }

    /// Starts a relay with nowhere to forward to yet: what the sender sends is dropped, as if
    /// nobody listened, until [`Relay::set_upstream`]. The relay's own port stays bound, so a
    /// test can point a sender at it before the viewer exists, and restart the viewer.
    pub fn start_parked(forward: Faults, back: Faults, seed: u64) -> io::Result<Relay> {
        Self::start_inner(None, forward, back, seed)
    }

    /// Forwards to `upstream` from now on (replies come back from there).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *self.retarget.lock().unwrap_or_else(|p| p.into_inner()) = Some(upstream);
    }

    fn start_inner(
        upstream: Option<SocketAddr>,
        forward: Faults,
        back: Faults,
        seed: u64,
    ) -> io::Result<Relay> {
        let client_side = UdpSocket::bind(("127.0.0.1", 0))?;
        let upstream_side = UdpSocket::bind(("127.0.0.1", 0))?;
        if let Some(upstream) = upstream {
            upstream_side.connect(upstream)?;
        }
        client_side.set_nonblocking(true)?;
        upstream_side.set_nonblocking(true)?;
        for s in [&client_side, &upstream_side] {
            let s = socket2::SockRef::from(s);
            let _ = s.set_recv_buffer_size(4 << 20);
            let _ = s.set_send_buffer_size(4 << 20);
        }
        let addr = client_side.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let models = Arc::new(Mutex::new((
            FaultModel::new(forward, seed),
            FaultModel::new(back, seed ^ 0x9E37_79B9_7F4A_7C15),
        )));
        let retarget = Arc::new(Mutex::new(None));
        let thread = {
            let stop = stop.clone();
            let models = models.clone();
            let retarget = retarget.clone();
            thread::Builder::new()
                .name("fault-relay".into())
                .spawn(move || run(client_side, upstream_side, &models, &retarget, &stop))?
        };
        Ok(Relay {
            addr,
            stop,
            thread: Some(thread),
            models,
            retarget,
        })
    }

    /// Where the sender should send.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What each direction has done so far: (towards the viewer, back to the sender).
    pub fn stats(&self) -> (FaultStats, FaultStats) {
        let m = self.models.lock().unwrap_or_else(|p| p.into_inner());
        (m.0.stats(), m.1.stats())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    client_side: UdpSocket,
    upstream_side: UdpSocket,
    models: &Mutex<(FaultModel, FaultModel)>,
    retarget: &Mutex<Option<SocketAddr>>,
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; 65_536];
    let mut client: Option<SocketAddr> = None;
    while !stop.load(Ordering::SeqCst) {
        if let Some(to) = retarget.lock().unwrap_or_else(|p| p.into_inner()).take() {
            // Until connected, sends fail and the datagrams are lost, as with nobody there.
            let _ = upstream_side.connect(to);
        }
        let mut busy = false;
        let now = Instant::now();
        let mut m = models.lock().unwrap_or_else(|p| p.into_inner());
        while let Ok((n, from)) = client_side.recv_from(&mut buf) {
            // The sender's address: where the viewer's replies go back to.
            client = Some(from);
            m.0.push(now, &buf[..n]);
            busy = true;
        }
        while let Ok(n) = upstream_side.recv(&mut buf) {
            m.1.push(now, &buf[..n]);
            busy = true;
        }
        let now = Instant::now();
        while let Some(d) = m.0.poll(now) {
            let _ = upstream_side.send(&d);
            busy = true;
        }
        if let Some(c) = client {
            while let Some(d) = m.1.poll(now) {
                let _ = client_side.send_to(&d, c);
                busy = true;
            }
        }
        let next = [m.0.poll_timeout(), m.1.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        drop(m);
        if !busy {
            // Nonblocking sockets: a short nap, shorter when a release is near.
            let nap = next
                .map_or(Duration::from_micros(200), |t| {
                    t.saturating_duration_since(Instant::now())
                })
                .min(Duration::from_micros(200));
            thread::sleep(nap);
        }
    }
}
