//! The web view, `cam-view --http` (feature `http`): the live picture for any number of browsers, VLC or ffmpeg, as MJPEG over
//! HTTP (`multipart/x-mixed-replace`, the JPEG bytes exactly as received).
//!
//! ```text
//!  network thread ──publish──▶ Hub (newest frame per sender) ◀──newest── one task per stream
//!  owner (1/s) ────stats────▶                                            (tokio "http" thread)
//! ```
//!
//! - `/`: a page with the live picture and its numbers, updated every second;
//! - `/stream.mjpg` (`?sender=NAME`): the MJPEG stream;
//! - `/snapshot.jpg` (`?sender=NAME`): the newest frame;
//! - `/stats`: the `--stats-json` line of the last second.
//!
//! The network thread publishes without waiting, and each stream takes the newest frame
//! whenever its client has taken the one before, so a slow or stalled browser skips frames and
//! never slows the viewer, the ACKs or another browser. A client that takes nothing for
//! [`HttpConfig::stall`] is disconnected. With a key configured every request needs the
//! token derived from it ([`WebToken`]), in the link or in the cookie the page sets.
//!
//! [`route`] reads requests (pure, tested and fuzzed without a socket); the private `serve`
//! module is the hyper shell; [`mjpeg`] frames the stream; [`hub`] holds the frames.

pub mod hub;
pub mod mjpeg;
pub mod route;
mod serve;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tokio::sync::Notify;

pub use hub::{HttpCounts, Hub};

use crate::protocol::key::Key;
use crate::protocol::link::crypto::WebToken;

/// Where `--http` listens when given without an address: this machine only.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);
/// Streams served at once by default (`--http-max-clients`).
pub const DEFAULT_MAX_CLIENTS: usize = 32;
/// How long a stream's client may take no frame before it is disconnected.
pub const DEFAULT_STALL: Duration = Duration::from_secs(10);

/// The web view's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// Streams served at once; the next client gets `503`.
    pub max_clients: usize,
    /// A stream whose client takes no frame for this long is closed.
    pub stall: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            addr: DEFAULT_ADDR,
            max_clients: DEFAULT_MAX_CLIENTS,
            stall: DEFAULT_STALL,
        }
    }
}

/// A running web view; stops when dropped.
pub struct WebView {
    local: SocketAddr,
    hub: Arc<Hub>,
    token: Option<Arc<WebToken>>,
    shutdown: Arc<Notify>,
    thread: Option<thread::JoinHandle<()>>,
}

impl WebView {
    /// Binds `cfg.addr` and starts serving on a thread of its own. With `key`, every request
    /// needs the key's [`WebToken`].
    pub fn start(cfg: &HttpConfig, key: Option<&Key>) -> Result<WebView, WebError> {
        let addr = cfg.addr;
        let listener = TcpListener::bind(addr).map_err(|e| bind_error(addr, e))?;
        let io = |e| WebError::Io(addr, e);
        listener.set_nonblocking(true).map_err(io)?;
        let local = listener.local_addr().map_err(io)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(io)?;
        let listener = {
            // tokio registers the socket with the runtime it is made in.
            let _in = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(io)?
        };
        let hub = Arc::new(Hub::new());
        let token = key.map(|k| Arc::new(WebToken::new(k)));
        let shared = Arc::new(serve::Shared {
            hub: hub.clone(),
            token: token.clone(),
            max_clients: cfg.max_clients.max(1),
            stall: cfg.stall,
        });
        let shutdown = Arc::new(Notify::new());
        let stop = shutdown.clone();
        let thread = thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                runtime.block_on(serve::accept_loop(listener, shared, stop));
                // Dropping the runtime ends every connection still open.
            })
            .expect("spawning a thread");
        Ok(WebView {
            local,
            hub,
            token,
            shutdown,
            thread: Some(thread),
        })
    }

    /// The address bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Where the viewer leaves frames and statistics for the browsers.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// The link to give a browser: the page, with the token when there is a key. An address
    /// bound to every interface is shown as this machine's loopback one.
    pub fn url(&self) -> String {
        let shown = match self.local.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => {
                SocketAddr::from(([127, 0, 0, 1], self.local.port()))
            }
            ip if ip.is_unspecified() => {
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, self.local.port()))
            }
            _ => self.local,
        };
        match &self.token {
            Some(t) => format!("http://{shown}/?token={}", t.as_str()),
            None => format!("http://{shown}/"),
        }
    }

    /// Said once when the web view listens beyond this machine.
    pub fn exposure_warning(&self) -> Option<String> {
        if self.local.ip().is_loopback() {
            return None;
        }
        Some(match self.token {
            Some(_) => format!(
                "the web view on {} is reachable from other machines; it asks for the token in \
                 the link above (derived from the key), and sends the picture unencrypted",
                self.local
            ),
            None => format!(
                "warning: the web view on {} is reachable from other machines, and anyone who \
                 can reach that port can watch. Add a key (--key-file) to require a token, or \
                 serve on 127.0.0.1",
                self.local
            ),
        })
    }

    /// Stops serving and closes every connection.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.shutdown.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WebView {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Why the web view could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The address cannot be listened on; the reason says what to do.
    #[error("cannot serve the web view on {addr}: {why}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why, in words that say what to do.
        why: String,
    },
    /// The socket or the runtime failed to set up.
    #[error("cannot serve the web view on {0}: {1}")]
    Io(SocketAddr, std::io::Error),
}

/// The error for an address that cannot be served.
fn bind_error(addr: SocketAddr, e: std::io::Error) -> WebError {
    let why = match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "the address is already in use: choose another port with --http ADDR:PORT".to_owned()
        }
        std::io::ErrorKind::PermissionDenied => {
            "permission denied: ports below 1024 need privileges, choose one above".to_owned()
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "no interface of this machine has that address".to_owned()
        }
        _ => e.to_string(),
    };
    WebError::Bind { addr, why }
}
