//! `cam-view`: receives frames from `cam-send` and shows them in a window (or headless).
// The argument docs are clap's --help text, where [IPv6]:PORT is an address form, not a link.
#![allow(rustdoc::broken_intra_doc_links)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use camwire::app::cli::{
    parse_http, parse_listen_any, parse_record, parse_sender_name, run_main, Compat, KeyArgs,
    Listen, ReportPrinter,
};
use camwire::app::record::RecordTarget;
use camwire::app::send::{run_send, RtpOut, SendConfig, SourceSpec};
use camwire::app::view::{run_view, Notice, TutorialMode, ViewConfig, ViewUpdate};
use camwire::app::Stop;
use camwire::compat::tutorial::JSON_PORT;
use camwire::protocol::receiver::EndReason;
use camwire::web::HttpConfig;
use clap::{CommandFactory, Parser};

const EXAMPLES: &str = "\
Examples:
  cam-view                                  listen on UDP port 9999 on every interface, in a window
  cam-view --demo                           the moving test pattern over loopback UDP, in a window
  cam-view --listen 5000 --headless --stats-json
                                            no window, port 5000, statistics as JSON lines
  cam-view --listen [::]:9999 --save received/
                                            IPv6, and keep every picture received
  cam-view --record recordings/             also record each sender to recordings/*.mkv
  cam-view --key-file camwire.key           only senders with this key (made by --gen-key)
  cam-view --demo --http                    the demo, also in a browser at http://127.0.0.1:8080/
  cam-view --http 0.0.0.0:8080 --key-file camwire.key
                                            browsers on other machines too, with the key's token
  cam-view --show-messages                  draw the latest JSON message over the picture
  cam-view --listen rtp://5004              RTP/JPEG from ffmpeg, GStreamer or cam-send rtp://
  cam-view --compat tutorial                also accept the classic tutorial's clients
                                            (pictures on 9999, JSON on 6666)";

/// Receive a live picture from cam-send over UDP and show it in a window (or headless: count,
/// save, report). JSON messages from the sender are printed on stdout.
#[derive(Parser, Debug)]
#[command(name = "cam-view", version, long_about = None, after_help = EXAMPLES)]
struct Args {
    /// Address to listen on: PORT (every IPv4 interface), HOST:PORT, [IPv6]:PORT or a name
    /// such as localhost:9999; 0 as the port picks a free one. Default 0.0.0.0:9999, or with
    /// --demo 127.0.0.1:0. rtp://ADDR (default port 5004) takes RTP/JPEG (RFC 2435) from
    /// ffmpeg, GStreamer or cam-send rtp:// instead
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_any)]
    listen: Option<Listen>,
    /// No window: receive, decode, count, save and print statistics
    #[arg(long)]
    headless: bool,
    /// Exit after N frames
    #[arg(long, value_name = "N")]
    frames: Option<u64>,
    /// Write each received frame's exact bytes to DIR/<sequence, 8 digits>.jpg
    #[arg(long, value_name = "DIR")]
    save: Option<PathBuf>,
    /// Record every frame as it arrived (no re-encoding) into Matroska files, one per sender:
    /// in a folder PATH as <sender>-<YYYYmmdd-HHMMSS>.mkv (UTC), or into PATH itself when it
    /// ends in .mkv (another sender then gets <name>-<sender>.mkv beside it). Synced to disk
    /// every second: a file cut by a crash plays up to its last second
    #[arg(long, value_name = "PATH", value_parser = parse_record)]
    record: Option<RecordTarget>,
    /// Print one JSON object of statistics per second, and a summary at exit, on stdout
    #[arg(long)]
    stats_json: bool,
    /// Demo: also run a sender of the moving test pattern in this process, over loopback UDP
    #[arg(long)]
    demo: bool,
    /// Draw the latest JSON message over the picture in the window, so not with --headless
    /// (messages always print on stdout)
    #[arg(long)]
    show_messages: bool,
    /// Also speak another protocol: `tutorial` accepts the classic Python/OpenCV UDP
    /// tutorial's clients (pictures on the listening port, JSON on --json-port)
    #[arg(long, value_enum, default_value_t = Compat::Camwire)]
    compat: Compat,
    /// Only with --compat tutorial: the port for the tutorial's JSON datagrams, on the
    /// listening address (default 6666, the tutorial's own; 0 picks a free one)
    #[arg(long, value_name = "PORT")]
    json_port: Option<u16>,
    /// Also serve the live picture to browsers over HTTP at ADDR (default 127.0.0.1:8080,
    /// this machine only): the page at /, MJPEG at /stream.mjpg, the newest frame at
    /// /snapshot.jpg, statistics at /stats. With a key, browsers need the token in the link
    /// printed at start
    #[arg(long, value_name = "ADDR", num_args = 0..=1, require_equals = false,
          default_missing_value = "127.0.0.1:8080", value_parser = parse_http)]
    http: Option<SocketAddr>,
    /// With --http: browsers served at once (default 32); the next one is told to try later
    /// (HTTP 503)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    http_max_clients: Option<u32>,
    /// Senders shown at once, each in a tile of its own (1 to 64, default 16); the next one is
    /// refused and counted until one of them ends, never shown by pushing another out
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=camwire::protocol::receiver::MAX_SENDERS as i64))]
    max_senders: u32,
    /// Show only the sender named NAME (cam-send --name); every other is refused
    #[arg(long, value_name = "NAME", value_parser = parse_sender_name)]
    only: Option<String>,
    #[command(flatten)]
    keys: KeyArgs,
}

impl Args {
    /// Options that only mean something with another one, in plain words.
    fn check(&self) -> Result<(), String> {
        if self.http_max_clients.is_some() && self.http.is_none() {
            return Err(
                "--http-max-clients limits the web view: add --http, or leave \
                        --http-max-clients out"
                    .into(),
            );
        }
        if self.json_port.is_some() && self.compat != Compat::Tutorial {
            return Err(
                "--json-port only means something with --compat tutorial (it is the \
                        port for the tutorial's JSON datagrams): add --compat tutorial, or \
                        leave --json-port out"
                    .into(),
            );
        }
        if self.show_messages && self.headless {
            return Err(
                "--show-messages draws on the window, and --headless has none: \
                        leave one of them out (messages are printed on stdout either way)"
                    .into(),
            );
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(msg) = args.check() {
        Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, msg)
            .exit();
    }
    let json = args.stats_json;
    run_main("cam-view", args, json, run)
}

fn run(args: Args, out: &mut ReportPrinter) -> Result<(), String> {
    if let Some(key) = args.keys.generated() {
        println!("{}", key?);
        return Ok(());
    }
    let key = args.keys.resolve(&mut |w| out.line(w))?;
    let rtp = args.listen.is_some_and(|l| l.rtp);
    let listen = args.listen.map(|l| l.addr).unwrap_or(if args.demo {
        SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        SocketAddr::from(([0, 0, 0, 0], 9999))
    });
    let cfg = ViewConfig {
        listen,
        window: !args.headless,
        frames: args.frames,
        save: args.save,
        record: args.record,
        show_messages: args.show_messages,
        tutorial: (args.compat == Compat::Tutorial).then(|| TutorialMode {
            json_port: args.json_port.unwrap_or(JSON_PORT),
        }),
        key: key.clone(),
        rtp,
        max_senders: args.max_senders as usize,
        only: args.only,
        http: args.http.map(|addr| HttpConfig {
            addr,
            max_clients: args
                .http_max_clients
                .map_or(camwire::web::DEFAULT_MAX_CLIENTS, |n| n as usize),
            ..HttpConfig::default()
        }),
        ..ViewConfig::default()
    };
    let (only, max_senders) = (cfg.only.clone(), cfg.max_senders);
    let stop = Stop::new();
    stop.on_ctrl_c();
    let demo_stop = Stop::new();
    let mut demo = None;
    let outcome = run_view(cfg, stop, |u| match u {
        ViewUpdate::Report(r) => out.report(r),
        ViewUpdate::Message(m) => out.data_line(&m.to_json_line()),
        ViewUpdate::Notice(Notice::Listening(addr)) => {
            out.line(&format!("listening on {addr}"));
            if args.demo {
                let dest = demo_target(addr);
                let stop = demo_stop.clone();
                let key = key.clone();
                demo = Some(std::thread::spawn(move || {
                    let cfg = SendConfig {
                        dest,
                        source: SourceSpec::Pattern {
                            width: 1280,
                            height: 720,
                        },
                        fps: 30.0,
                        key,
                        rtp: rtp.then(RtpOut::default),
                        ..SendConfig::default()
                    };
                    run_send(cfg, stop, |_| {})
                }));
                let scheme = if rtp { "rtp://" } else { "" };
                out.line(&format!(
                    "demo: streaming the test pattern to {scheme}{dest}"
                ));
            }
        }
        ViewUpdate::Notice(Notice::WebView(url)) => {
            out.line(&format!("web view: open {url} in a browser"))
        }
        ViewUpdate::Notice(Notice::TutorialJson(addr)) => out.line(&format!(
            "tutorial mode: pictures on the same port, JSON datagrams on {addr}"
        )),
        ViewUpdate::Notice(Notice::Warning(w)) => out.line(&w),
        ViewUpdate::Notice(Notice::SenderConnected {
            session,
            from,
            name,
        }) => out.line(&format!(
            "sender {} connected from {from}",
            who(&name, session)
        )),
        ViewUpdate::Notice(Notice::SenderDisconnected {
            session,
            from,
            reason,
            name,
        }) => {
            let why = match reason {
                EndReason::Bye => "said goodbye",
                EndReason::Silence => "went silent",
                EndReason::Superseded => "was replaced by a newer sender of the same name",
            };
            out.line(&format!(
                "sender {} at {from} disconnected: {why}",
                who(&name, session)
            ))
        }
        ViewUpdate::Notice(Notice::SenderNamed {
            session,
            from,
            name,
            ..
        }) => out.line(&format!("sender {session:08x} at {from} is named {name:?}")),
        ViewUpdate::Notice(Notice::SenderIgnored {
            session,
            from,
            name,
        }) => out.line(&format!(
            "ignoring sender {} at {from}: a newer sender of the same name is shown (a \
             restart; if both are running, give each its own cam-send --name)",
            who(&name, session)
        )),
        ViewUpdate::Notice(Notice::SenderRefused {
            session,
            from,
            name,
        }) => out.line(&format!(
            "refusing sender {} at {from}: {}",
            who(&name, session),
            if only.is_some() {
                "it is not the --only one".to_string()
            } else {
                format!(
                    "{max_senders} senders are shown already (raise --max-senders to show more)"
                )
            }
        )),
    });
    demo_stop.trigger();
    if let Some(d) = demo {
        if let Ok(Err(e)) = d.join() {
            out.line(&format!("demo sender: {e}"));
        }
    }
    let outcome = outcome.map_err(|e| e.to_string())?;
    out.summary(&outcome.summary);
    Ok(())
}

/// A sender as the log names it: `door (1a2b3c4d)`, or its session id alone before it has a
/// name.
fn who(name: &str, session: u32) -> String {
    let id = format!("{session:08x}");
    if name == id {
        id
    } else {
        format!("{name:?} ({id})")
    }
}

/// Where the demo sender should aim: the bound address, or loopback if bound to "any".
fn demo_target(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        IpAddr::V4(v) if v.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v) if v.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}
