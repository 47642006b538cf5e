//! Socket setup: the few options std's `UdpSocket` cannot set, through socket2.

use std::io;
use std::net::{SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// The receive buffer the viewer asks for. A burst of one 1080p frame is ~150 datagrams of
/// ~2.3 KB kernel truesize each: far more than the 212,992-byte Linux default holds.
pub const WANT_RCVBUF: usize = 4 << 20;
/// Below this granted size, a warning tells the user how to raise the system limit.
pub const SMALL_RCVBUF: usize = 1 << 20;

/// Why a socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Another program has the port.
    #[error("cannot listen on {addr}: the address is already in use (is another cam-view running? choose another port with --listen)")]
    InUse {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The address is not one of this machine's.
    #[error("cannot listen on {addr}: {source} (use 0.0.0.0:PORT to listen on every interface)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: io::Error,
    },
    /// Any other socket failure.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
}

fn new_socket(addr: &SocketAddr) -> io::Result<Socket> {
    Socket::new(Domain::for_address(*addr), Type::DGRAM, Some(Protocol::UDP))
}

/// Binds the viewer's socket with a large receive buffer. Returns the socket and the receive
/// buffer size the OS actually granted (Linux reports double the request, and caps it at
/// `net.core.rmem_max` without failing).
pub fn bind_viewer(addr: SocketAddr) -> Result<(UdpSocket, usize), NetError> {
    let s = new_socket(&addr)?;
    if addr.is_ipv6() {
        // Listening on [::] should take IPv4 peers too where the OS allows it.
        let _ = s.set_only_v6(false);
    }
    let _ = s.set_recv_buffer_size(WANT_RCVBUF);
    let _ = s.set_send_buffer_size(256 << 10);
    s.bind(&addr.into()).map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => NetError::InUse { addr },
        _ => NetError::Bind { addr, source: e },
    })?;
    let granted = s.recv_buffer_size().unwrap_or(0);
    Ok((s.into(), granted))
}

/// A socket for sending to `dest`: bound to an ephemeral port of the matching family and
/// connected, so that the kernel drops datagrams from anyone but the viewer before we see them.
pub fn connect_sender(dest: SocketAddr) -> Result<UdpSocket, NetError> {
    let any: SocketAddr = if dest.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let s = new_socket(&dest)?;
    let _ = s.set_send_buffer_size(WANT_RCVBUF);
    let _ = s.set_recv_buffer_size(256 << 10);
    s.bind(&any.into())?;
    s.connect(&dest.into())?;
    Ok(s.into())
}

/// The advice printed once when the OS granted a small receive buffer.
pub fn small_rcvbuf_advice(granted: usize) -> Option<String> {
    (granted < SMALL_RCVBUF).then(|| {
        format!(
            "warning: the OS granted only {granted} bytes of UDP receive buffer (asked for {WANT_RCVBUF}); \
             large frames may be lost in bursts. Raise the limit with: sudo sysctl -w net.core.rmem_max={}",
            WANT_RCVBUF
        )
    })
}

/// True for the errors a UDP socket reports when a previous datagram drew an ICMP "port
/// unreachable" (nobody listening yet) or similar transient conditions: not fatal to a stream.
pub fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_port_gives_a_clear_error() {
        let (a, _) = bind_viewer("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = a.local_addr().unwrap();
        let err = bind_viewer(addr).unwrap_err();
        assert!(matches!(err, NetError::InUse { .. }), "{err}");
        assert!(err.to_string().contains("already in use"));
    }

    #[test]
    fn viewer_gets_a_large_buffer_where_allowed() {
        let (_, granted) = bind_viewer("127.0.0.1:0".parse().unwrap()).unwrap();
        // Linux: SO_RCVBUF is capped at net.core.rmem_max and the kernel books double the
        // capped request (for its own overhead), so the granted size is exactly
        // 2 * min(WANT_RCVBUF, rmem_max). (The kernel's floor, SOCK_MIN_RCVBUF, is a few KB,
        // below any rmem_max a system runs with.)
        let rmem_max = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok());
        match rmem_max {
            Some(max) if cfg!(target_os = "linux") => {
                assert_eq!(
                    granted,
                    2 * WANT_RCVBUF.min(max),
                    "rmem_max {max}, asked for {WANT_RCVBUF}"
                );
            }
            _ => assert!(granted > 0, "{granted}"),
        }
        // The warning is given exactly when the grant is below SMALL_RCVBUF.
        assert_eq!(
            small_rcvbuf_advice(granted).is_some(),
            granted < SMALL_RCVBUF,
            "{granted}"
        );
        assert!(small_rcvbuf_advice(SMALL_RCVBUF - 1).is_some());
        assert!(small_rcvbuf_advice(SMALL_RCVBUF).is_none());
    }

    #[test]
    fn connected_sender_reaches_viewer() {
        let (v, _) = bind_viewer("127.0.0.1:0".parse().unwrap()).unwrap();
        let s = connect_sender(v.local_addr().unwrap()).unwrap();
        s.send(b"hi").unwrap();
        v.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut buf = [0u8; 8];
        let (n, from) = v.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi");
        assert_eq!(from, s.local_addr().unwrap());
    }
}
