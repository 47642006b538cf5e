//! Socket setup: the few options std's `UdpSocket` cannot set, through socket2.

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};

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

/// An ephemeral port on every local address of `dest`'s family: where a sender binds.
fn any_port_for(dest: SocketAddr) -> SocketAddr {
    if dest.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    }
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
    match open_sender(dest)? {
        (s, None) => Ok(s),
        (_, Some(e)) => Err(e.into()),
    }
}

/// [`connect_sender`] that tolerates a network that is away for now (no route yet, the
/// network down: [`is_transient`]): the socket is bound but not connected, and the OS's
/// reason is returned beside it. Connect it with `UdpSocket::connect(dest)` once the network
/// is there ([`connect_outcome`] tells the two cases apart); until then it cannot send.
pub fn open_sender(dest: SocketAddr) -> Result<(UdpSocket, Option<io::Error>), NetError> {
    let s = new_socket(&dest)?;
    let _ = s.set_send_buffer_size(WANT_RCVBUF);
    let _ = s.set_recv_buffer_size(256 << 10);
    s.bind(&any_port_for(dest).into())?;
    let away = connect_outcome(s.connect(&dest.into()))?;
    Ok((s.into(), away))
}

/// What a sender makes of its socket's `connect()`: `Ok(None)` when it is connected,
/// `Ok(Some(reason))` when the network is away for now (try again later), `Err` for anything
/// else.
pub fn connect_outcome(r: io::Result<()>) -> io::Result<Option<io::Error>> {
    match r {
        Ok(()) => Ok(None),
        Err(e) if is_transient(&e) => Ok(Some(e)),
        Err(e) => Err(e),
    }
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

/// The OS error numbers of a network that is away for a while, for the errors std gives no
/// kind of its own (ENOBUFS) and for std versions that map the others to `Uncategorized`:
/// ENETDOWN, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL, ENOBUFS.
#[cfg(any(target_os = "linux", target_os = "android"))]
const NETWORK_AWAY_ERRNOS: [i32; 5] = [100, 101, 113, 99, 105];
#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
))]
const NETWORK_AWAY_ERRNOS: [i32; 5] = [50, 51, 65, 49, 55];
#[cfg(windows)]
const NETWORK_AWAY_ERRNOS: [i32; 5] = [10050, 10051, 10065, 10049, 10055];
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly",
    windows
)))]
const NETWORK_AWAY_ERRNOS: [i32; 0] = [];

/// True for the errors that are not fatal to a stream, the one rule for every socket of the
/// crate (the driver's sends and reads, the tutorial's): an ICMP "port unreachable" from a
/// previous datagram (nobody listening yet), an interrupted or timed-out call, and a network
/// that is away for a while: unreachable network or host, the network down, the local
/// address gone, no buffer space. A laptop's Wi-Fi drops and comes back; the stream waits for
/// it like for an absent viewer.
pub fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
    ) || is_network_away(e)
}

/// True for the errors of a network that is away (a subset of [`is_transient`]): no route,
/// the network down, the local address gone, no buffer space.
pub fn is_network_away(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkDown
            | io::ErrorKind::AddrNotAvailable
    ) || e
        .raw_os_error()
        .is_some_and(|n| NETWORK_AWAY_ERRNOS.contains(&n))
}

/// Whether this machine has a route to `dest` now: `Err` with the OS's reason (network
/// unreachable, ...) when it has none. Connecting a UDP socket only looks the route up; no
/// datagram is sent.
pub fn route_to(dest: SocketAddr) -> io::Result<()> {
    UdpSocket::bind(any_port_for(dest))?.connect(dest)
}

/// The port the programs and the library endpoints use when none is given.
pub const DEFAULT_PORT: u16 = 9999;

/// The forms an address may take, for help and errors.
pub const ADDRESS_FORMS: &str = "PORT, HOST, HOST:PORT or [IPv6]:PORT, for example 9999, \
     192.168.1.20, localhost:9999, 0.0.0.0:9999 or [::1]:9999";

/// An address that does not parse or resolve; the text says which part is wrong and what the
/// forms are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AddressError(pub String);

/// Where a sender sends: `HOST[:PORT]` (IPv6 as `[::1]:PORT` or a bare `::1`), or a `PORT`
/// alone for a viewer on this machine (127.0.0.1). The port defaults to `default_port`; port
/// 0 is refused. `cam-send`'s destination and `FrameSender::connect` both follow it.
pub fn resolve_host_port(text: &str, default_port: u16) -> Result<SocketAddr, AddressError> {
    let a = resolve_address(text, IpAddr::from([127, 0, 0, 1]), default_port)?;
    if a.port() == 0 {
        return Err(AddressError(format!(
            "invalid port 0 in '{text}': a viewer listens on a port from 1 to 65535"
        )));
    }
    Ok(a)
}

/// The one address rule: `PORT` (on `bare_port_ip`), `HOST` (on `default_port`),
/// `HOST:PORT`, `[IPv6]:PORT` or a bare IPv6 address, where `HOST` is an IP address or a name
/// to resolve. A bad port is reported as such, before any lookup.
pub fn resolve_address(
    s: &str,
    bare_port_ip: IpAddr,
    default_port: u16,
) -> Result<SocketAddr, AddressError> {
    let fail = |why: String| AddressError(format!("{why}; expected {ADDRESS_FORMS}"));
    let t = s.trim();
    let port = |p: &str| {
        p.parse::<u16>().map_err(|_| {
            fail(format!(
                "invalid port '{p}' in '{s}': a port is a number from 0 to 65535"
            ))
        })
    };
    if t.is_empty() {
        return Err(fail("an empty address".into()));
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(SocketAddr::new(bare_port_ip, port(t)?));
    }
    let (host, p) = if let Some(rest) = t.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| fail(format!("'{s}' opens a '[' it never closes")))?;
        let ip: Ipv6Addr = v6
            .parse()
            .map_err(|_| fail(format!("'{v6}' in '{s}' is not an IPv6 address")))?;
        let p = match after {
            "" => None,
            _ => Some(port(after.strip_prefix(':').ok_or_else(|| {
                fail(format!("'{after}' after the ']' in '{s}' is not ':PORT'"))
            })?)?),
        };
        return Ok(SocketAddr::new(IpAddr::V6(ip), p.unwrap_or(default_port)));
    } else if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    } else if let Some((h, p)) = t.rsplit_once(':') {
        if h.contains(':') {
            return Err(fail(format!(
                "'{s}' is not an address: an IPv6 address with a port goes in brackets, as in [::1]:9999"
            )));
        }
        (h, port(p)?)
    } else {
        (t, default_port)
    };
    if host.is_empty() {
        return Ok(SocketAddr::new(bare_port_ip, p));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, p));
    }
    let name_ok = host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    // Name the host alone when it is all there is.
    let what = if host == t {
        format!("'{host}'")
    } else {
        format!("the host '{host}' in '{s}'")
    };
    if !name_ok {
        return Err(fail(format!(
            "{what} is neither an IP address nor a host name"
        )));
    }
    (host, p)
        .to_socket_addrs()
        .map_err(|e| fail(format!("cannot resolve {what}: {e}")))?
        .next()
        .ok_or_else(|| fail(format!("{what} has no address")))
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

    #[test]
    fn no_route_at_connect_is_a_pending_connect_not_a_failure() {
        use io::ErrorKind as K;
        assert!(connect_outcome(Ok(())).unwrap().is_none());
        for kind in [K::NetworkUnreachable, K::HostUnreachable, K::NetworkDown] {
            let away = connect_outcome(Err(io::Error::from(kind))).unwrap();
            assert_eq!(away.map(|e| e.kind()), Some(kind));
        }
        #[cfg(target_os = "linux")]
        assert!(connect_outcome(Err(io::Error::from_raw_os_error(101)))
            .unwrap()
            .is_some());
        let e = connect_outcome(Err(io::Error::from(K::PermissionDenied))).unwrap_err();
        assert_eq!(e.kind(), K::PermissionDenied);
        // With a route, the socket comes back connected.
        let (v, _) = bind_viewer("127.0.0.1:0".parse().unwrap()).unwrap();
        let (s, away) = open_sender(v.local_addr().unwrap()).unwrap();
        assert!(away.is_none());
        s.send(b"hi").unwrap();
    }

    #[test]
    fn a_network_away_is_transient() {
        use io::ErrorKind as K;
        for kind in [
            K::NetworkUnreachable,
            K::HostUnreachable,
            K::NetworkDown,
            K::AddrNotAvailable,
        ] {
            let e = io::Error::from(kind);
            assert!(is_transient(&e) && is_network_away(&e), "{kind:?}");
        }
        for kind in [K::ConnectionRefused, K::WouldBlock, K::Interrupted] {
            let e = io::Error::from(kind);
            assert!(is_transient(&e) && !is_network_away(&e), "{kind:?}");
        }
        #[cfg(target_os = "linux")]
        for (errno, name) in [
            (100, "ENETDOWN"),
            (101, "ENETUNREACH"),
            (113, "EHOSTUNREACH"),
            (99, "EADDRNOTAVAIL"),
            (105, "ENOBUFS"),
        ] {
            let e = io::Error::from_raw_os_error(errno);
            assert!(is_transient(&e) && is_network_away(&e), "{name}: {e}");
        }
        for kind in [K::PermissionDenied, K::InvalidInput, K::NotFound] {
            assert!(!is_transient(&io::Error::from(kind)), "{kind:?}");
        }
    }

    #[test]
    fn route_lookup_sends_nothing() {
        let (v, _) = bind_viewer("127.0.0.1:0".parse().unwrap()).unwrap();
        route_to(v.local_addr().unwrap()).unwrap();
        v.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 8];
        assert!(v.recv_from(&mut buf).is_err(), "nothing arrived");
    }

    #[test]
    fn host_port_rule_defaults_the_port_and_names_a_bad_one() {
        let a = |s: &str| resolve_host_port(s, DEFAULT_PORT);
        assert_eq!(a("127.0.0.1").unwrap(), "127.0.0.1:9999".parse().unwrap());
        assert_eq!(a("127.0.0.1:7").unwrap(), "127.0.0.1:7".parse().unwrap());
        assert_eq!(a("5000").unwrap(), "127.0.0.1:5000".parse().unwrap());
        assert_eq!(a("[::1]").unwrap(), "[::1]:9999".parse().unwrap());
        let e = a("127.0.0.1:99999").unwrap_err().to_string();
        assert!(
            e.starts_with("invalid port '99999' in '127.0.0.1:99999'"),
            "{e}"
        );
        assert!(a("127.0.0.1:0").unwrap_err().0.contains("port 0"));
        let e = resolve_address("0", IpAddr::from([0, 0, 0, 0]), 1).unwrap();
        assert_eq!(e, "0.0.0.0:0".parse().unwrap(), "listening may pick a port");
    }
}
