//! Batched datagram system calls for the driver: a frame's datagrams leave in as few calls as
//! the platform allows and arrive in batches, with a plain fallback.
//!
//! A 1080p frame is ~140 datagrams. One `sendto` and one `recvfrom` each is ~280 system calls
//! per frame, and on loopback or a fast LAN the per-call cost (entry, socket lookup, routing,
//! locking) is most of the kernel's work. On Linux:
//! - sending, a run of datagrams of one size to one destination (the last may be shorter)
//!   goes as one buffer with UDP generic segmentation offload (`UDP_SEGMENT`, Linux 4.18):
//!   one `sendmsg`, one route lookup, and the kernel (or the NIC) cuts it into datagrams
//!   identical to separate sends. Anything else goes through `sendmmsg`, many datagrams per
//!   call. A kernel or NIC that refuses GSO for a socket (EIO, EINVAL) is remembered and the
//!   driver stays with `sendmmsg`;
//! - receiving, one `recvmmsg` takes every datagram already queued (up to [`RECV_BATCH`]),
//!   blocking only for the first (`MSG_WAITFORONE`), so the socket read timeout still bounds
//!   how long the reader goes without looking at its stop flag;
//! - with [`Batching::Gso`], the socket also takes coalesced datagrams (`UDP_GRO`, Linux 5.0):
//!   a run of equal datagrams from one sender, such as a GSO send on loopback or a burst a
//!   NIC merged, is queued and read as one buffer with its segment size, and split here into
//!   the datagrams that were sent. On loopback the kernel then never cuts a GSO send apart at
//!   all: one buffer in, one out;
//! - each datagram received comes with the instant the kernel queued it (`SO_TIMESTAMPNS`),
//!   not the instant the reader got round to it: see [`arrival`].
//!
//! Elsewhere, and with [`Batching::Off`], each datagram is one `send_to`/`recv_from`. These
//! are raw `libc` calls rather than `nix`'s wrappers: nix 0.31's `sendmmsg` shares one control
//! message list between all messages and its results iterator reads address slots the kernel
//! never wrote, and its `recvmmsg` does not reset `msg_namelen` between calls; `quinn-udp`
//! would also switch on UDP_GRO and has no `sendmmsg` path.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use crate::runtime::net::is_transient;

/// Most segments the kernel takes in one GSO call (`UDP_MAX_SEGMENTS`).
pub const GSO_MAX_SEGMENTS: usize = 64;
/// Most payload bytes in one GSO call: what one IPv4 UDP datagram can carry.
pub const GSO_MAX_BYTES: usize = 65_507;
/// Most datagrams in one `sendmmsg` (and in one flush's batch).
pub const SEND_BATCH: usize = 64;
/// Most datagrams one `recvmmsg` takes.
pub const RECV_BATCH: usize = 32;
/// The batch buffer holds up to [`SEND_BATCH`] datagrams of the largest size, but not more
/// than this (a driver whose datagrams may be 64 KB sends a few per batch).
const SEND_BUFFER: usize = 256 << 10;

/// How the driver's socket calls are batched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// The best the platform has: on Linux, GSO for runs of equal datagrams, `sendmmsg` for
    /// the rest, `recvmmsg` with GRO; elsewhere, as [`Batching::Off`].
    Gso,
    /// On Linux, `sendmmsg` and `recvmmsg` without GSO or GRO.
    Mmsg,
    /// One system call per datagram, both ways.
    Off,
}

impl Batching {
    /// What this platform makes of `self`: only Linux batches.
    fn supported(self) -> Self {
        if cfg!(target_os = "linux") {
            self
        } else {
            Batching::Off
        }
    }

    /// From the environment variable `CAMWIRE_BATCH`: `gso` (the default), `mmsg` or `off`,
    /// for comparing the paths; anything else is the default.
    pub fn from_env() -> Self {
        match std::env::var("CAMWIRE_BATCH").as_deref() {
            Ok("off") => Batching::Off,
            Ok("mmsg") => Batching::Mmsg,
            _ => Batching::Gso,
        }
    }
}

/// One datagram waiting in the batch buffer.
#[derive(Debug, Clone, Copy)]
struct Pending {
    to: Option<SocketAddr>,
    off: usize,
    len: usize,
}

/// Outgoing datagrams collected back to back in one buffer, sent together.
pub struct Outbox {
    buf: Vec<u8>,
    max_out: usize,
    pending: Vec<Pending>,
    batching: Batching,
    /// GSO is still worth trying on this socket.
    gso: bool,
    /// System calls made to send, and datagrams handed to them.
    pub calls: u64,
    /// Datagrams handed to the kernel (including those a transient error cost).
    pub datagrams: u64,
}

impl Outbox {
    /// An outbox for datagrams of at most `max_out` bytes, sent from `sock`.
    pub fn new(sock: &UdpSocket, max_out: usize, batching: Batching) -> Self {
        let batching = batching.supported();
        let slots = match batching {
            Batching::Off => 1,
            _ => (SEND_BUFFER / max_out.max(1)).clamp(1, SEND_BATCH),
        };
        Outbox {
            buf: vec![0; slots * max_out.max(1)],
            max_out,
            pending: Vec::with_capacity(slots),
            batching,
            gso: batching == Batching::Gso && sys::gso_supported(sock),
            calls: 0,
            datagrams: 0,
        }
    }

    /// Whether GSO is in use (not refused by the kernel so far).
    pub fn gso(&self) -> bool {
        self.gso
    }

    /// Room for the next datagram: `max_out` bytes right after the last, or `None` when the
    /// batch is full and must be sent first.
    pub fn slot(&mut self) -> Option<&mut [u8]> {
        let off = self.pending.last().map_or(0, |p| p.off + p.len);
        if self.pending.len() == self.pending.capacity() || off + self.max_out > self.buf.len() {
            return None;
        }
        Some(&mut self.buf[off..off + self.max_out])
    }

    /// Takes the datagram of `len` bytes just written into [`Outbox::slot`], for `to` (`None`:
    /// the connected peer).
    pub fn push(&mut self, to: Option<SocketAddr>, len: usize) {
        let off = self.pending.last().map_or(0, |p| p.off + p.len);
        debug_assert!(len <= self.max_out);
        self.pending.push(Pending { to, off, len });
    }

    /// Sends everything collected. Transient errors cost only the datagrams of the call that
    /// met them; any other error is returned, and the rest of the batch is dropped.
    pub fn send(&mut self, sock: &UdpSocket) -> io::Result<()> {
        let r = self.send_pending(sock);
        self.pending.clear();
        r
    }

    fn send_pending(&mut self, sock: &UdpSocket) -> io::Result<()> {
        let mut i = 0;
        while i < self.pending.len() {
            if self.gso {
                let g = gso_run(&self.pending[i..]);
                if g >= 2 {
                    let first = self.pending[i];
                    let last = self.pending[i + g - 1];
                    let bytes = &self.buf[first.off..last.off + last.len];
                    match sys::send_gso(sock, first.to, bytes, first.len) {
                        Ok(()) => {}
                        Err(e) if sys::gso_refused(&e) => {
                            // The kernel or the NIC cannot segment for this socket: stay with
                            // sendmmsg, and send this run that way now.
                            self.gso = false;
                            continue;
                        }
                        Err(e) if is_transient(&e) => {}
                        Err(e) => return Err(e),
                    }
                    self.calls += 1;
                    self.datagrams += g as u64;
                    i += g;
                    continue;
                }
            }
            // Datagrams up to the next run GSO would take, one by one or by sendmmsg.
            let mut j = i + 1;
            while j < self.pending.len() && !(self.gso && gso_run(&self.pending[j..]) >= 2) {
                j += 1;
            }
            if self.batching == Batching::Off || j - i == 1 {
                for p in &self.pending[i..j] {
                    let d = &self.buf[p.off..p.off + p.len];
                    let r = match p.to {
                        Some(to) => sock.send_to(d, to),
                        None => sock.send(d),
                    };
                    self.calls += 1;
                    self.datagrams += 1;
                    match r {
                        Ok(_) => {}
                        Err(e) if is_transient(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
            } else {
                let mut k = i;
                while k < j {
                    let n = (j - k).min(SEND_BATCH);
                    let r = sys::send_mmsg(sock, &self.buf, &self.pending[k..k + n]);
                    self.calls += 1;
                    match r {
                        // A partial send continues with the rest.
                        Ok(sent) => {
                            let sent = sent.clamp(1, n);
                            self.datagrams += sent as u64;
                            k += sent;
                        }
                        // The first datagram met the error (a later one would have made it a
                        // partial send): it costs that one.
                        Err(e) if is_transient(&e) => {
                            self.datagrams += 1;
                            k += 1;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            i = j;
        }
        Ok(())
    }
}

/// How many datagrams from the start of `p` one GSO call can carry: the same destination,
/// the same length as the first, except the last which may be shorter, contiguous, and within
/// the kernel's limits.
fn gso_run(p: &[Pending]) -> usize {
    let Some(first) = p.first() else { return 0 };
    let seg = first.len;
    if seg == 0 {
        return 1;
    }
    let (mut n, mut bytes) = (1, seg);
    for d in &p[1..] {
        if n == GSO_MAX_SEGMENTS
            || d.to != first.to
            || d.len > seg
            || d.len == 0
            || bytes + d.len > GSO_MAX_BYTES
        {
            break;
        }
        debug_assert_eq!(d.off, first.off + bytes, "datagrams are back to back");
        n += 1;
        bytes += d.len;
        if d.len < seg {
            break;
        }
    }
    n
}

/// The oldest kernel arrival stamp believed: a stamp older than this (or in the future) says
/// the wall clock was stepped between the kernel's reading and ours, not that the datagram
/// waited that long, and the read instant is used instead.
const MAX_STAMP_AGE: Duration = Duration::from_secs(5);

/// The instant a datagram arrived, from the kernel's wall-clock stamp `stamp` and a pair of
/// readings `(now, wall)` of the monotonic and the wall clock taken together after the read.
///
/// Why the kernel's stamp: a frame's arrival spread is how the sender measures the path's
/// capacity (protocol::rate), and a reader that lost its core for a millisecond mid-frame (two
/// cores shared by a sender, a viewer and their codecs) would stretch the spread and make the
/// path look slower than it is: on loopback that cut the rate to 0.6x of what the machine
/// delivers. The kernel stamps a datagram as it is queued to the socket, so the spread is
/// the network's (on loopback, the sender's own).
///
/// Sockets give wall-clock stamps only, so the stamp's age on the wall clock is taken off the
/// monotonic reading; without a stamp, or with one the wall clock cannot vouch for (see
/// [`MAX_STAMP_AGE`]), the read instant stands.
pub fn arrival(now: Instant, wall: SystemTime, stamp: Option<SystemTime>) -> Instant {
    stamp
        .and_then(|s| wall.duration_since(s).ok())
        .filter(|age| *age <= MAX_STAMP_AGE)
        .and_then(|age| now.checked_sub(age))
        .unwrap_or(now)
}

/// Room for one coalesced buffer: the most a UDP datagram's length field allows.
const GRO_SLOT: usize = 65_535;

/// Receive buffers for [`Inbox::recv`], reused from call to call, and the socket options
/// they read: the only reader of a socket must be its inbox, since a coalesced buffer read
/// elsewhere would be taken for one datagram.
pub struct Inbox {
    data: Vec<u8>,
    slot: usize,
    batching: Batching,
    /// The kernel stamps arrivals (`SO_TIMESTAMPNS`).
    stamped: bool,
    /// The kernel may hand over coalesced datagrams (`UDP_GRO`).
    gro: bool,
    #[cfg(target_os = "linux")]
    names: Vec<libc::sockaddr_storage>,
    /// Room for each buffer's control messages (the arrival stamp, the coalesced datagrams'
    /// size), 8-byte aligned as `cmsghdr` wants.
    #[cfg(target_os = "linux")]
    controls: Vec<[u64; CONTROL_WORDS]>,
}

/// 96 bytes of control messages per datagram: `SCM_TIMESTAMPNS` takes 32, `UDP_GRO` 24.
#[cfg(target_os = "linux")]
const CONTROL_WORDS: usize = 12;

impl Inbox {
    /// Buffers for datagrams of up to `slot` bytes read from `sock`. Unless `batching` is
    /// [`Batching::Off`], asks the kernel to stamp arrivals, and with [`Batching::Gso`] to
    /// hand over coalesced datagrams; where it cannot, datagrams are timed as they are read
    /// and come one by one.
    pub fn new(sock: &UdpSocket, slot: usize, batching: Batching) -> Self {
        let batching = batching.supported();
        let n = match batching {
            Batching::Off => 1,
            _ => RECV_BATCH,
        };
        let stamped = batching != Batching::Off && sys::set_option(sock, sys::STAMP);
        let gro = batching == Batching::Gso && sys::set_option(sock, sys::GRO);
        let slot = if gro { slot.max(GRO_SLOT) } else { slot };
        Inbox {
            stamped,
            gro,
            // Zeroed allocations of this size are mapped lazily: only the pages datagrams
            // are written to take memory.
            data: vec![0; n * slot],
            slot,
            batching,
            // SAFETY: all zeros is a valid sockaddr_storage.
            #[cfg(target_os = "linux")]
            names: vec![unsafe { std::mem::zeroed() }; n],
            #[cfg(target_os = "linux")]
            controls: vec![[0; CONTROL_WORDS]; n],
        }
    }

    /// Whether the kernel stamps arrivals for this inbox.
    pub fn stamped(&self) -> bool {
        self.stamped
    }

    /// Whether the kernel may hand this inbox coalesced datagrams.
    pub fn gro(&self) -> bool {
        self.gro
    }

    /// Waits for datagrams (as long as the socket's read timeout) and hands each to `f` with
    /// its sender and the instant it arrived (the kernel's where [`Inbox::stamped`], else when
    /// it was read); returns how many. Returns the first datagram's error if there was none.
    pub fn recv(
        &mut self,
        sock: &UdpSocket,
        mut f: impl FnMut(SocketAddr, &[u8], Instant),
    ) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        if self.batching != Batching::Off {
            return sys::recv_mmsg(sock, self, &mut f);
        }
        let (n, from) = sock.recv_from(&mut self.data[..self.slot])?;
        f(from, &self.data[..n], Instant::now());
        Ok(1)
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use std::io;
    use std::mem;
    use std::net::{SocketAddr, UdpSocket};
    use std::os::fd::AsRawFd;
    use std::ptr;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use socket2::{SockAddr, SockAddrStorage};

    use super::{arrival, Inbox, Pending, CONTROL_WORDS, RECV_BATCH, SEND_BATCH};

    /// `SO_TIMESTAMPNS`: a `SCM_TIMESTAMPNS` control message with every datagram.
    pub const STAMP: (libc::c_int, libc::c_int) = (libc::SOL_SOCKET, libc::SO_TIMESTAMPNS);
    /// `UDP_GRO`: coalesced datagrams, with a `UDP_GRO` control message giving their size.
    pub const GRO: (libc::c_int, libc::c_int) = (libc::SOL_UDP, libc::UDP_GRO);

    /// Turns on the boolean socket option `(level, name)`; false if the kernel refuses.
    pub fn set_option(sock: &UdpSocket, (level, name): (libc::c_int, libc::c_int)) -> bool {
        let on: libc::c_int = 1;
        // SAFETY: `on` is valid for reads of its size.
        let r = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                level,
                name,
                (&on as *const libc::c_int).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        r == 0
    }

    /// What the control messages of one received buffer say.
    #[derive(Default)]
    struct Control {
        /// The kernel's arrival stamp.
        stamp: Option<SystemTime>,
        /// The size of each coalesced datagram (the last may be shorter).
        segment: Option<usize>,
    }

    /// Reads the `SCM_TIMESTAMPNS` and `UDP_GRO` control messages `h` came with.
    fn control_of(h: &libc::msghdr) -> Control {
        let mut out = Control::default();
        // SAFETY: the kernel wrote msg_controllen bytes of well-formed control messages into
        // msg_control (all it had room for: a truncated list is still well formed);
        // CMSG_FIRSTHDR/CMSG_NXTHDR stay within them, and each value is read unaligned from a
        // message whose length says it holds one.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(h);
            while !c.is_null() {
                let m = &*c;
                let holds =
                    |size: usize| m.cmsg_len as usize >= libc::CMSG_LEN(size as u32) as usize;
                if m.cmsg_level == libc::SOL_SOCKET
                    && m.cmsg_type == libc::SCM_TIMESTAMPNS
                    && holds(mem::size_of::<libc::timespec>())
                {
                    let ts: libc::timespec = ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    out.stamp = u64::try_from(ts.tv_sec).ok().and_then(|secs| {
                        let nanos = u32::try_from(ts.tv_nsec)
                            .ok()
                            .filter(|n| *n < 1_000_000_000)?;
                        UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
                    });
                } else if m.cmsg_level == libc::SOL_UDP
                    && m.cmsg_type == libc::UDP_GRO
                    && holds(mem::size_of::<libc::c_int>())
                {
                    let size: libc::c_int = ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    out.segment = usize::try_from(size).ok().filter(|s| *s > 0);
                }
                c = libc::CMSG_NXTHDR(h, c);
            }
        }
        out
    }

    /// Whether the kernel knows `UDP_SEGMENT` (Linux 4.18 and later): reading the option
    /// changes nothing.
    pub fn gso_supported(sock: &UdpSocket) -> bool {
        let mut v: libc::c_int = 0;
        let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: v and len are valid for writes of their sizes.
        let r = unsafe {
            libc::getsockopt(
                sock.as_raw_fd(),
                libc::SOL_UDP,
                libc::UDP_SEGMENT,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        r == 0
    }

    /// The errors of a kernel or NIC that will not segment for this socket.
    pub fn gso_refused(e: &io::Error) -> bool {
        matches!(e.raw_os_error(), Some(libc::EIO) | Some(libc::EINVAL))
    }

    /// The address for `msg_name`: `None` sends to the connected peer.
    fn name(to: Option<SocketAddr>) -> Option<SockAddr> {
        to.map(SockAddr::from)
    }

    /// Sends `bytes` as datagrams of `seg` bytes each (the last may be shorter) in one call.
    pub fn send_gso(
        sock: &UdpSocket,
        to: Option<SocketAddr>,
        bytes: &[u8],
        seg: usize,
    ) -> io::Result<()> {
        let seg = u16::try_from(seg).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let addr = name(to);
        let mut iov = libc::iovec {
            iov_base: bytes.as_ptr() as *mut libc::c_void,
            iov_len: bytes.len(),
        };
        // Room for one cmsghdr and a u16, aligned for cmsghdr.
        let mut control = [0u64; 4];
        // SAFETY: a zeroed msghdr is valid; every pointer set below outlives the call, and
        // the control buffer has room for CMSG_SPACE(2) bytes (24 on 64-bit, 16 on 32-bit).
        unsafe {
            let space = libc::CMSG_SPACE(mem::size_of::<u16>() as u32) as usize;
            debug_assert!(space <= mem::size_of_val(&control));
            let mut msg: libc::msghdr = mem::zeroed();
            if let Some(a) = &addr {
                msg.msg_name = a.as_ptr() as *mut libc::c_void;
                msg.msg_namelen = a.len();
            }
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space as _;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_UDP;
            (*c).cmsg_type = libc::UDP_SEGMENT;
            (*c).cmsg_len = libc::CMSG_LEN(mem::size_of::<u16>() as u32) as _;
            ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u16, seg);
            if libc::sendmsg(sock.as_raw_fd(), &msg, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Sends the datagrams `p` (at most [`SEND_BATCH`]) of `buf` in one call; returns how many
    /// the kernel took.
    pub fn send_mmsg(sock: &UdpSocket, buf: &[u8], p: &[Pending]) -> io::Result<usize> {
        debug_assert!(p.len() <= SEND_BATCH);
        let mut addrs: [Option<SockAddr>; SEND_BATCH] = [const { None }; SEND_BATCH];
        let mut iovs = [libc::iovec {
            iov_base: ptr::null_mut(),
            iov_len: 0,
        }; SEND_BATCH];
        // SAFETY: a zeroed mmsghdr is valid (no name, no iovec, no control).
        let mut hdrs: [libc::mmsghdr; SEND_BATCH] = unsafe { mem::zeroed() };
        for (i, d) in p.iter().enumerate() {
            addrs[i] = name(d.to);
            iovs[i] = libc::iovec {
                iov_base: buf[d.off..d.off + d.len].as_ptr() as *mut libc::c_void,
                iov_len: d.len,
            };
        }
        for i in 0..p.len() {
            let h = &mut hdrs[i].msg_hdr;
            if let Some(a) = &addrs[i] {
                h.msg_name = a.as_ptr() as *mut libc::c_void;
                h.msg_namelen = a.len();
            }
            h.msg_iov = &mut iovs[i];
            h.msg_iovlen = 1;
        }
        // SAFETY: the first p.len() headers point at addresses, iovecs and bytes that live
        // until the call returns.
        let r = unsafe { libc::sendmmsg(sock.as_raw_fd(), hdrs.as_mut_ptr(), p.len() as _, 0) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(r as usize)
    }

    /// One `recvmmsg`: blocks for the first datagram (up to the socket's read timeout), then
    /// takes whatever else is queued.
    pub fn recv_mmsg(
        sock: &UdpSocket,
        inbox: &mut Inbox,
        f: &mut dyn FnMut(SocketAddr, &[u8], Instant),
    ) -> io::Result<usize> {
        let n = inbox.names.len().min(RECV_BATCH);
        let slot = inbox.slot;
        let mut iovs = [libc::iovec {
            iov_base: ptr::null_mut(),
            iov_len: 0,
        }; RECV_BATCH];
        // SAFETY: a zeroed mmsghdr is valid.
        let mut hdrs: [libc::mmsghdr; RECV_BATCH] = unsafe { mem::zeroed() };
        let base = inbox.data.as_mut_ptr();
        for i in 0..n {
            // SAFETY: slot i lies within data (n * slot bytes).
            iovs[i] = libc::iovec {
                iov_base: unsafe { base.add(i * slot) }.cast(),
                iov_len: slot,
            };
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = (&mut inbox.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = inbox.controls[i].as_mut_ptr().cast();
            h.msg_controllen = (CONTROL_WORDS * mem::size_of::<u64>()) as _;
        }
        // SAFETY: n headers, each pointing at its own name storage and buffer slot, all valid
        // for writes until the call returns.
        let r = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                hdrs.as_mut_ptr(),
                n as _,
                libc::MSG_WAITFORONE as _,
                ptr::null_mut(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // Both clocks read together once per batch: the stamps' ages come from the wall clock.
        let (now, wall) = (Instant::now(), SystemTime::now());
        let mut datagrams = 0;
        for (i, h) in hdrs.iter().enumerate().take(r as usize) {
            let mut storage = SockAddrStorage::zeroed();
            // SAFETY: SockAddrStorage is sockaddr_storage, and the kernel wrote msg_namelen
            // bytes of it.
            let from = unsafe {
                *storage.view_as::<libc::sockaddr_storage>() = inbox.names[i];
                SockAddr::new(storage, h.msg_hdr.msg_namelen)
            }
            .as_socket();
            let len = (h.msg_len as usize).min(slot);
            let Some(from) = from else { continue };
            let control = control_of(&h.msg_hdr);
            let at = arrival(now, wall, control.stamp);
            let bytes = &inbox.data[i * slot..i * slot + len];
            // A coalesced buffer is the datagrams of one sender back to back, each `segment`
            // bytes but the last. A buffer cut short (MSG_TRUNC) loses only its tail.
            match control.segment.filter(|&s| inbox.gro && s < len) {
                Some(segment) => {
                    for d in bytes.chunks(segment) {
                        f(from, d, at);
                        datagrams += 1;
                    }
                }
                // One datagram (an empty one too).
                None => {
                    f(from, bytes, at);
                    datagrams += 1;
                }
            }
        }
        Ok(datagrams)
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::io;
    use std::net::{SocketAddr, UdpSocket};

    use super::Pending;

    pub const STAMP: (i32, i32) = (0, 0);
    pub const GRO: (i32, i32) = (0, 0);

    pub fn set_option(_: &UdpSocket, _: (i32, i32)) -> bool {
        false
    }

    pub fn gso_supported(_: &UdpSocket) -> bool {
        false
    }
    pub fn gso_refused(_: &io::Error) -> bool {
        false
    }
    pub fn send_gso(_: &UdpSocket, _: Option<SocketAddr>, _: &[u8], _: usize) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
    pub fn send_mmsg(_: &UdpSocket, _: &[u8], _: &[Pending]) -> io::Result<usize> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::net::bind_viewer;

    /// A receiving socket with a large buffer, and a sender connected to it.
    fn pair() -> (UdpSocket, UdpSocket, Inbox) {
        let (rx, _) = bind_viewer("127.0.0.1:0".parse().unwrap()).unwrap();
        rx.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(rx.local_addr().unwrap()).unwrap();
        // Before anything is sent: a GSO send queued before UDP_GRO was on is cut apart.
        let inbox = Inbox::new(&rx, MAX_DATAGRAM_TEST, Batching::Gso);
        (tx, rx, inbox)
    }

    /// Datagram `i` of `len` bytes: its index and a pattern, so order and content show.
    fn datagram(i: usize, len: usize) -> Vec<u8> {
        (0..len).map(|k| (i * 31 + k) as u8).collect()
    }

    /// Sends `lens.len()` datagrams the way `Driver::flush` does; returns the outbox.
    fn send_all(
        tx: &UdpSocket,
        to: Option<SocketAddr>,
        lens: &[usize],
        max_out: usize,
        batching: Batching,
    ) -> Outbox {
        let mut out = Outbox::new(tx, max_out, batching);
        for (i, &len) in lens.iter().enumerate() {
            let slot = loop {
                if out.slot().is_some() {
                    break out.slot().unwrap();
                }
                out.send(tx).unwrap();
            };
            slot[..len].copy_from_slice(&datagram(i, len));
            out.push(to, len);
        }
        out.send(tx).unwrap();
        out
    }

    /// Receives `n` datagrams (deadline 10 s) and checks each against `lens`, in order;
    /// returns the receive calls it took.
    fn expect(inbox: &mut Inbox, rx: &UdpSocket, lens: &[usize], from: SocketAddr) -> usize {
        let mut got: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
        let mut calls = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.len() < lens.len() && Instant::now() < deadline {
            match inbox.recv(rx, |f, b, _| got.push((f, b.to_vec()))) {
                Ok(_) => calls += 1,
                Err(e) if is_transient(&e) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got.len(), lens.len(), "every datagram arrived");
        for (i, (f, b)) in got.iter().enumerate() {
            assert_eq!(*f, from);
            assert_eq!(b.len(), lens[i], "datagram {i}'s length");
            assert_eq!(*b, datagram(i, lens[i]), "datagram {i}, byte for byte");
        }
        calls
    }

    const MAX_DATAGRAM_TEST: usize = 65_507;

    /// 20 datagrams of 1200 bytes and a last one of 345.
    fn frame_lens() -> Vec<usize> {
        let mut v = vec![1200; 20];
        v.push(345);
        v
    }

    #[test]
    fn equal_datagrams_and_a_short_last_one_go_in_one_gso_call() {
        let (tx, rx, mut inbox) = pair();
        let lens = frame_lens();
        let out = send_all(&tx, None, &lens, 1200, Batching::Gso);
        expect(&mut inbox, &rx, &lens, tx.local_addr().unwrap());
        assert_eq!(out.datagrams, lens.len() as u64);
        if cfg!(target_os = "linux") {
            assert!(out.gso(), "loopback takes GSO");
            assert_eq!(out.calls, 1);
        }
    }

    #[test]
    fn a_gso_send_arrives_as_one_buffer_and_is_split_into_its_datagrams() {
        let (tx, rx, mut inbox) = pair();
        assert_eq!(inbox.gro(), cfg!(target_os = "linux"));
        let lens = frame_lens();
        send_all(&tx, None, &lens, 1200, Batching::Gso);
        let calls = expect(&mut inbox, &rx, &lens, tx.local_addr().unwrap());
        if inbox.gro() {
            assert_eq!(calls, 1, "loopback keeps a GSO send whole for a GRO socket");
        }
    }

    #[test]
    fn without_gro_a_gso_send_arrives_datagram_by_datagram() {
        let (tx, rx, _) = pair();
        let (rx2, _) = bind_viewer("127.0.0.1:0".parse().unwrap()).unwrap();
        rx2.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut inbox = Inbox::new(&rx2, MAX_DATAGRAM_TEST, Batching::Mmsg);
        assert!(!inbox.gro());
        drop(rx);
        tx.connect(rx2.local_addr().unwrap()).unwrap();
        let lens = frame_lens();
        let out = send_all(&tx, None, &lens, 1200, Batching::Gso);
        expect(&mut inbox, &rx2, &lens, tx.local_addr().unwrap());
        if cfg!(target_os = "linux") {
            assert_eq!(out.calls, 1, "one GSO send, cut apart by the kernel");
        }
    }

    #[test]
    fn coalesced_buffers_of_two_senders_and_sizes_are_split_exactly() {
        // Two senders' GSO runs of different segment sizes, interleaved, with single and empty
        // datagrams between them: each buffer is split by its own segment size and keeps its
        // sender.
        let (a, rx, mut inbox) = pair();
        let to = rx.local_addr().unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut want: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
        let mut next = 0;
        for (s, lens) in [
            (&a, vec![700, 700, 700, 13]),
            (&b, vec![1200; 54]),
            (&a, vec![1]),
            (&b, vec![64, 64]),
            (&a, vec![1500, 1500, 1500, 1500, 1499]),
        ] {
            let mut out = Outbox::new(s, 1500, Batching::Gso);
            for &len in &lens {
                let d = datagram(next, len);
                next += 1;
                out.slot().unwrap()[..len].copy_from_slice(&d);
                out.push(Some(to), len);
                want.push((s.local_addr().unwrap(), d));
            }
            out.send(s).unwrap();
            // An empty datagram between the runs is one datagram too.
            b.send_to(&[], to).unwrap();
            want.push((b.local_addr().unwrap(), Vec::new()));
        }
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.len() < want.len() && Instant::now() < deadline {
            let _ = inbox.recv(&rx, |f, d, _| got.push((f, d.to_vec())));
        }
        assert_eq!(got.len(), want.len());
        assert!(got == want, "every datagram, in order, from its sender");
    }

    #[test]
    fn the_sendmmsg_fallback_sends_a_batch_in_one_call() {
        let (tx, rx, mut inbox) = pair();
        let lens = frame_lens();
        let out = send_all(&tx, None, &lens, 1200, Batching::Mmsg);
        expect(&mut inbox, &rx, &lens, tx.local_addr().unwrap());
        assert!(!out.gso());
        if cfg!(target_os = "linux") {
            assert_eq!(out.calls, 1);
        }
    }

    #[test]
    fn the_plain_fallback_sends_one_call_per_datagram() {
        let (tx, rx, mut inbox) = pair();
        let lens = frame_lens();
        let out = send_all(&tx, None, &lens, 1200, Batching::Off);
        expect(&mut inbox, &rx, &lens, tx.local_addr().unwrap());
        assert_eq!(out.calls, lens.len() as u64);
    }

    #[test]
    fn mixed_sizes_split_into_runs_and_keep_their_order() {
        let (tx, rx, mut inbox) = pair();
        // GSO runs [1000 1000 500] and [1000 1000 1000 200]; then 50, 60 and 70 in one
        // sendmmsg (a longer datagram cannot join a run, and a run of one is none); then the
        // GSO run [300 300 300].
        let lens = [
            1000, 1000, 500, 1000, 1000, 1000, 200, 50, 60, 70, 300, 300, 300,
        ];
        let to = rx.local_addr().unwrap();
        let out = send_all(&tx, None, &lens, 1200, Batching::Gso);
        expect(&mut inbox, &rx, &lens, tx.local_addr().unwrap());
        if cfg!(target_os = "linux") {
            assert_eq!(out.calls, 4, "3 GSO runs and one sendmmsg");
        }
        // The same to an explicit destination, from an unconnected socket.
        let free = UdpSocket::bind("127.0.0.1:0").unwrap();
        let out = send_all(&free, Some(to), &lens, 1200, Batching::Gso);
        expect(&mut inbox, &rx, &lens, free.local_addr().unwrap());
        if cfg!(target_os = "linux") {
            assert_eq!(out.calls, 4);
        }
    }

    #[test]
    fn runs_stop_at_64_segments_and_65507_bytes() {
        let p = |lens: &[usize]| -> Vec<Pending> {
            let mut off = 0;
            lens.iter()
                .map(|&len| {
                    off += len;
                    Pending {
                        to: None,
                        off: off - len,
                        len,
                    }
                })
                .collect()
        };
        assert_eq!(gso_run(&p(&[10; 100])), 64);
        assert_eq!(gso_run(&p(&[1200; 60])), 54, "54 * 1200 = 64,800 bytes");
        assert_eq!(gso_run(&p(&[1200, 1200, 1300])), 2);
        assert_eq!(gso_run(&p(&[1200, 100, 100])), 2, "the short one ends it");
        assert_eq!(gso_run(&p(&[1200])), 1);
        // On real sockets: 60 datagrams of 1200 bytes are two GSO calls (54 + 6), 100 of 100
        // bytes two more (64 + 36, as the batch holds 64).
        let (tx, rx, mut inbox) = pair();
        let lens = vec![1200; 60];
        let out = send_all(&tx, None, &lens, 1200, Batching::Gso);
        expect(&mut inbox, &rx, &lens, tx.local_addr().unwrap());
        if cfg!(target_os = "linux") {
            assert_eq!(out.calls, 2);
        }
        let lens = vec![100; 100];
        let out = send_all(&tx, None, &lens, 100, Batching::Gso);
        expect(&mut inbox, &rx, &lens, tx.local_addr().unwrap());
        if cfg!(target_os = "linux") {
            assert_eq!(out.calls, 2);
        }
    }

    #[test]
    fn a_batch_receive_gives_each_datagram_its_sender_and_bytes() {
        let (rx, _) = bind_viewer("127.0.0.1:0".parse().unwrap()).unwrap();
        rx.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let to = rx.local_addr().unwrap();
        let mut inbox = Inbox::new(&rx, MAX_DATAGRAM_TEST, Batching::Gso);
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        // 40 datagrams, alternating senders and sizes: more than one recvmmsg holds.
        let mut sent = Vec::new();
        for i in 0..40 {
            let s = if i % 2 == 0 { &a } else { &b };
            let d = datagram(i, 1 + i * 37);
            s.send_to(&d, to).unwrap();
            sent.push((s.local_addr().unwrap(), d));
        }
        let (mut got, mut calls) = (Vec::new(), 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.len() < sent.len() && Instant::now() < deadline {
            if inbox.recv(&rx, |f, d, _| got.push((f, d.to_vec()))).is_ok() {
                calls += 1;
            }
        }
        assert_eq!(got, sent);
        if cfg!(target_os = "linux") {
            assert!(
                calls < sent.len(),
                "{calls} calls for {} datagrams",
                sent.len()
            );
        }
    }

    #[test]
    fn a_stamp_is_taken_off_the_monotonic_clock_by_its_wall_clock_age() {
        let now = Instant::now() + Duration::from_secs(60);
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ms = Duration::from_millis;
        assert_eq!(arrival(now, wall, Some(wall - ms(3))), now - ms(3));
        assert_eq!(arrival(now, wall, Some(wall)), now);
        assert_eq!(arrival(now, wall, None), now, "no stamp: the read instant");
        // The wall clock stepped between the kernel's reading and ours.
        assert_eq!(
            arrival(now, wall, Some(wall + ms(1))),
            now,
            "a stamp from the future"
        );
        assert_eq!(
            arrival(now, wall, Some(wall - MAX_STAMP_AGE)),
            now - MAX_STAMP_AGE
        );
        assert_eq!(
            arrival(now, wall, Some(wall - MAX_STAMP_AGE - ms(1))),
            now,
            "older than any datagram waits"
        );
        assert_eq!(arrival(now, wall, Some(SystemTime::UNIX_EPOCH)), now);
    }

    #[test]
    fn a_datagram_is_timed_by_its_arrival_not_by_when_it_was_read() {
        let (tx, rx, mut inbox) = pair();
        let stamped = inbox.stamped();
        assert_eq!(stamped, cfg!(target_os = "linux"));
        let sent = Instant::now();
        tx.send(&datagram(0, 100)).unwrap();
        // The reader is late, as one that lost its core would be: the datagram waits queued.
        let late = Duration::from_millis(40);
        std::thread::sleep(late);
        let read = Instant::now();
        let mut at = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        while at.is_none() && Instant::now() < deadline {
            let _ = inbox.recv(&rx, |_, _, t| at = Some(t));
        }
        let at = at.expect("the datagram arrives");
        if stamped {
            // The two clocks are read a few microseconds apart; allow a millisecond.
            let slack = Duration::from_millis(1);
            assert!(
                at + slack >= sent && at < read - late / 2,
                "arrival {:?} after the send, read {:?} after it",
                at.saturating_duration_since(sent),
                read.saturating_duration_since(sent)
            );
        } else {
            assert!(at >= read);
        }
    }

    #[test]
    fn nobody_listening_costs_datagrams_not_the_socket() {
        // A connected socket to a closed port: ICMP "port unreachable" comes back as
        // ECONNREFUSED on a later send, in every path; sending goes on.
        let gone = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = gone.local_addr().unwrap();
        drop(gone);
        for batching in [Batching::Gso, Batching::Mmsg, Batching::Off] {
            let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
            tx.connect(to).unwrap();
            for _ in 0..5 {
                send_all(&tx, None, &frame_lens(), 1200, batching);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}
