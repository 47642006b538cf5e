//! Helpers shared by the two command-line programs.

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};

use crate::app::stats::Report;

/// The port both programs use when none is given.
pub const DEFAULT_PORT: u16 = 9999;

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

/// Resolves `HOST[:PORT]` (IPv6 as `[::1]:PORT`); the port defaults to [`DEFAULT_PORT`].
pub fn parse_dest(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let with_port = if s.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{s}]:{DEFAULT_PORT}")
    } else if s
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        s.to_string()
    } else {
        format!("{s}:{DEFAULT_PORT}")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve '{s}': {e}"))?
        .next()
        .ok_or_else(|| format!("'{s}' resolves to no address"))
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
        assert_eq!(parse_dest("::1").unwrap().port(), DEFAULT_PORT);
        assert_eq!(parse_dest("localhost:8000").unwrap().port(), 8000);
        assert!(parse_dest("no.such.host.invalid").is_err());
    }
}
