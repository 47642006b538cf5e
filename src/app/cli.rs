//! Helpers shared by the two command-line programs.

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::app::record::RecordTarget;
use crate::app::stats::Report;
use crate::protocol::key::Key;

use crate::runtime::net::{resolve_address, resolve_host_port};
pub use crate::runtime::net::{ADDRESS_FORMS, DEFAULT_PORT};

/// Parses `WxH`, for example `1280x720`.
pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("'{s}' is not a size like 1280x720"))?;
    let side = |v: &str| -> Result<u32, String> {
        let n: u32 = v
            .trim()
            .parse()
            .map_err(|_| format!("'{s}' is not a size like 1280x720"))?;
        if (16..=8192).contains(&n) {
            Ok(n)
        } else {
            Err(format!(
                "each side of '{s}' must be between 16 and 8192 pixels"
            ))
        }
    };
    Ok((side(w)?, side(h)?))
}

/// Where `cam-send` sends: `HOST[:PORT]` (IPv6 as `[::1]:PORT` or a bare `::1`), or a `PORT`
/// alone for a viewer on this machine (127.0.0.1). The port defaults to [`DEFAULT_PORT`];
/// port 0 is refused. The rule is [`resolve_host_port`], which the library's
/// `FrameSender::connect` follows too.
pub fn parse_dest(s: &str) -> Result<SocketAddr, String> {
    resolve_host_port(s, DEFAULT_PORT).map_err(|e| e.to_string())
}

/// Where `cam-send` sends: a camwire viewer, or an RTP/JPEG receiver (`rtp://HOST:PORT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// `cam-view`, camwire's protocol.
    Camwire(SocketAddr),
    /// An RTP/JPEG receiver (ffmpeg, GStreamer, VLC, an RTSP server's RTP input).
    Rtp(SocketAddr),
}

/// The default port of `rtp://` destinations (RFC 3551's for RTP).
pub const RTP_DEFAULT_PORT: u16 = 5004;

impl Destination {
    /// The address.
    pub fn addr(self) -> SocketAddr {
        match self {
            Destination::Camwire(a) | Destination::Rtp(a) => a,
        }
    }

    /// True for `rtp://`.
    pub fn is_rtp(self) -> bool {
        matches!(self, Destination::Rtp(_))
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Camwire(a) => write!(f, "{a}"),
            Destination::Rtp(a) => write!(f, "rtp://{a}"),
        }
    }
}

/// Parses `cam-send`'s destination: [`parse_dest`]'s forms, or `rtp://` and one of them
/// (default port 5004).
pub fn parse_destination(s: &str) -> Result<Destination, String> {
    match s.strip_prefix("rtp://") {
        Some(rest) => resolve_host_port(rest.trim_end_matches('/'), RTP_DEFAULT_PORT)
            .map(Destination::Rtp)
            .map_err(|e| e.to_string()),
        None => parse_dest(s).map(Destination::Camwire),
    }
}

/// Where `cam-view` listens, and for what: camwire's protocol, or RTP/JPEG (`rtp://`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    /// The address.
    pub addr: SocketAddr,
    /// RTP/JPEG instead of camwire's protocol.
    pub rtp: bool,
}

/// Parses `cam-view --listen`: [`parse_listen`]'s forms, or `rtp://` and one of them (a port
/// alone, or no port: every IPv4 interface; default port 5004).
pub fn parse_listen_any(s: &str) -> Result<Listen, String> {
    match s.strip_prefix("rtp://") {
        Some(rest) => resolve_address(
            rest.trim_end_matches('/'),
            IpAddr::from([0, 0, 0, 0]),
            RTP_DEFAULT_PORT,
        )
        .map(|addr| Listen { addr, rtp: true })
        .map_err(|e| e.to_string()),
        None => parse_listen(s).map(|addr| Listen { addr, rtp: false }),
    }
}

/// Where `cam-view` listens: the same forms as [`parse_dest`], but a `PORT` alone means every
/// IPv4 interface (`0.0.0.0:PORT`), and port 0 picks a free one.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    resolve_address(s, IpAddr::from([0, 0, 0, 0]), DEFAULT_PORT).map_err(|e| e.to_string())
}

/// Parses `--http`'s address: like [`parse_listen`], but a bare port, or a name without one,
/// stays on this machine (127.0.0.1, port 8080): serving beyond it takes an explicit address.
pub fn parse_http(s: &str) -> Result<SocketAddr, String> {
    let d = crate::web::DEFAULT_ADDR;
    resolve_address(s, d.ip(), d.port()).map_err(|e| e.to_string())
}

/// Parses `--record PATH` (see [`RecordTarget::parse`]): a folder, or a file ending in `.mkv`
/// in a folder that exists.
pub fn parse_record(s: &str) -> Result<RecordTarget, String> {
    RecordTarget::parse(Path::new(s)).map_err(|e| e.to_string())
}

/// Runs a program's body with a printer and turns its outcome into the exit code: 0, or 1
/// after one `error: ...` line (clap already exits with 2 on bad flags).
pub fn run_main<A>(
    prefix: &'static str,
    args: A,
    json: bool,
    body: impl FnOnce(A, &mut ReportPrinter) -> Result<(), String>,
) -> std::process::ExitCode {
    let mut out = ReportPrinter::new(prefix, json);
    match body(args, &mut out) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(msg) => {
            out.line(&format!("error: {msg}"));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Protocols the programs speak besides camwire's own (`--compat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Compat {
    /// camwire only
    Camwire,
    /// the classic Python/OpenCV UDP tutorial's format (8-byte length + 1024-byte chunks,
    /// JSON datagrams on a second port)
    Tutorial,
}

/// Prints reports: JSON lines on stdout, or one refreshing status line on stderr.
pub struct ReportPrinter {
    json: bool,
    tty: bool,
    prefix: &'static str,
    dirty: bool,
}

impl ReportPrinter {
    /// A printer for `prog`, in JSON or status-line mode.
    pub fn new(prefix: &'static str, json: bool) -> Self {
        ReportPrinter {
            json,
            tty: std::io::stderr().is_terminal(),
            prefix,
            dirty: false,
        }
    }

    /// Prints one report.
    pub fn report(&mut self, r: &Report) {
        if self.json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", r.to_json());
            let _ = out.flush();
        } else if self.tty {
            eprint!("\r{}: {}\x1b[K", self.prefix, r.status_line());
            self.dirty = true;
        } else {
            eprintln!("{}: {}", self.prefix, r.status_line());
        }
    }

    /// Prints one line of data (a received message) on stdout, first ending any status line.
    pub fn data_line(&mut self, line: &str) {
        if self.dirty {
            eprintln!();
            self.dirty = false;
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// Prints a line of its own, first ending any status line in progress.
    pub fn line(&mut self, msg: &str) {
        if self.dirty {
            eprintln!();
            self.dirty = false;
        }
        eprintln!("{}: {msg}", self.prefix);
    }

    /// Prints the final summary.
    pub fn summary(&mut self, r: &Report) {
        if self.json {
            self.report(r);
        } else {
            self.line(&format!("summary: {}", r.status_line()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1280x720"), Ok((1280, 720)));
        assert_eq!(parse_size("640X480"), Ok((640, 480)));
        assert!(parse_size("1280").is_err());
        assert!(parse_size("0x10").is_err());
        assert!(parse_size("99999x10").is_err());
    }

    #[test]
    fn destinations() {
        assert_eq!(parse_dest("127.0.0.1:5000").unwrap().port(), 5000);
        assert_eq!(parse_dest("127.0.0.1").unwrap().port(), DEFAULT_PORT);
        assert_eq!(parse_dest("[::1]:7").unwrap(), "[::1]:7".parse().unwrap());
        assert_eq!(parse_dest("[::1]").unwrap(), "[::1]:9999".parse().unwrap());
        assert_eq!(parse_dest("::1").unwrap().port(), DEFAULT_PORT);
        assert_eq!(parse_dest("localhost:8000").unwrap().port(), 8000);
        assert_eq!(
            parse_dest("5000").unwrap(),
            "127.0.0.1:5000".parse().unwrap()
        );
        // Refused before any lookup: no name server is asked.
        let e = parse_dest("127.0.0.1:99999").unwrap_err();
        assert!(e.contains("invalid port '99999'"), "{e}");
        assert!(parse_dest("127.0.0.1:0").unwrap_err().contains("port 0"));
        assert!(parse_dest("no such host")
            .unwrap_err()
            .contains("HOST:PORT"));
        assert!(parse_dest("::1:x").is_err());
        assert!(parse_dest("[::1").is_err());
        assert!(parse_dest("[::1]x").is_err());
    }

    #[test]
    fn listen_addresses() {
        let ok = |s: &str| parse_listen(s).unwrap().to_string();
        assert_eq!(ok("9999"), "0.0.0.0:9999");
        assert_eq!(ok("0"), "0.0.0.0:0");
        assert_eq!(ok("127.0.0.1:0"), "127.0.0.1:0");
        assert_eq!(ok("[::]:9999"), "[::]:9999");
        assert_eq!(ok("[::1]:0"), "[::1]:0");
        assert_eq!(ok("::"), "[::]:9999");
        assert_eq!(ok(":7000"), "0.0.0.0:7000");
        assert!(parse_listen("localhost:0").unwrap().ip().is_loopback());
        for bad in ["", "70000", "1.2.3.4:port", "a b", "[zz]:1"] {
            let e = parse_listen(bad).unwrap_err();
            assert!(
                e.contains("PORT, HOST, HOST:PORT or [IPv6]:PORT"),
                "{bad}: {e}"
            );
        }
    }
}

/// The key options of both programs (docs/PROTOCOL.md section 11): the same on `cam-send` and
/// `cam-view`, read by one function.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KeyArgs {
    /// Shared key: one from --gen-key, or a passphrase of 16 or more characters; the same on
    /// both ends. Other users of this machine can see it in `ps`: prefer --key-file or the
    /// CAMWIRE_KEY environment variable
    #[arg(long, value_name = "SECRET", conflicts_with = "key_file")]
    pub key: Option<String>,
    /// Read the shared key from a file (made with `--gen-key > FILE`)
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Print a fresh random key and exit
    #[arg(long)]
    pub gen_key: bool,
}

/// The environment variable that holds the key when neither --key nor --key-file is given.
pub const KEY_ENV: &str = "CAMWIRE_KEY";

/// Key files longer than this are not key files.
const MAX_KEY_FILE: u64 = 4096;

impl KeyArgs {
    /// The key to use: --key, else --key-file, else `CAMWIRE_KEY`, else none. A passphrase is
    /// checked and stretched here (a fraction of a second). Warnings (a key file others can
    /// read) go to `warn`.
    pub fn resolve(&self, warn: &mut dyn FnMut(&str)) -> Result<Option<Key>, String> {
        let (text, origin) = if let Some(k) = &self.key {
            (k.clone(), "--key".to_string())
        } else if let Some(path) = &self.key_file {
            (
                read_key_file(path, warn)?,
                format!("the key file {}", path.display()),
            )
        } else {
            match std::env::var(KEY_ENV) {
                Ok(v) if !v.trim().is_empty() => (v, KEY_ENV.to_string()),
                _ => return Ok(None),
            }
        };
        Key::from_text(&text)
            .map(Some)
            .map_err(|e| format!("{origin}: {e}"))
    }

    /// With --gen-key: a fresh key's text, for the caller to print and exit.
    pub fn generated(&self) -> Option<Result<String, String>> {
        self.gen_key.then(|| {
            Key::generate()
                .map(|k| k.to_text())
                .map_err(|e| format!("the system's random source failed: {e}"))
        })
    }
}

fn read_key_file(path: &Path, warn: &mut dyn FnMut(&str)) -> Result<String, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "cannot read the key file {shown}: {e} (make one with `cam-view --gen-key > {shown}`)"
        )
    })?;
    if meta.len() > MAX_KEY_FILE {
        return Err(format!(
            "{shown} is {} bytes: not a key file (a key is one line, from --gen-key)",
            meta.len()
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            warn(&format!(
                "warning: other users of this machine can read the key file {shown}: `chmod 600 {shown}`"
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = warn;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the key file {shown}: {e}"))?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

/// A sender's NAME (`cam-send --name`, `cam-view --only`): 1 to 64 bytes, no control
/// characters, as the protocol requires.
pub fn parse_sender_name(s: &str) -> Result<String, String> {
    crate::protocol::session_info::check_name(s)
        .map(|()| s.to_owned())
        .map_err(|e| e.to_string())
}
