//! `cam-send`: streams the test pattern, image files or a webcam to `cam-view` over UDP.
// The argument docs are clap's --help text, where [IPv6]:PORT is an address form, not a link.
#![allow(rustdoc::broken_intra_doc_links)]

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use camwire::app::cli::{
    parse_destination, parse_record, parse_sender_name, parse_size, run_main, Compat, Destination,
    KeyArgs, ReportPrinter,
};
use camwire::app::record::RecordTarget;
use camwire::app::send::{
    open_source, run_send_with, RtpNotice, RtpOut, SendConfig, SendNotice, SendOutcome, SendUpdate,
    SourceSpec,
};
use camwire::app::{AppError, Stop};
use camwire::compat::tutorial::JSON_PORT;
use camwire::compat::tutorial_send::run_send_tutorial;
use camwire::media::camera::fake::SELECTOR_PREFIX;
use camwire::media::camera::mode::ModeRequest;
use camwire::media::camera::{CameraRequest, CameraSelector};
use camwire::protocol::message::MessageOutcome;
use camwire::protocol::sender::{SenderConfig, DEFAULT_MAX_RATE_MBPS};
use camwire::protocol::wire::{MAX_DATAGRAM, MIN_MTU};
use clap::{CommandFactory, Parser};

const EXAMPLES: &str = "\
Examples:
  cam-send 192.168.1.20                     the test pattern, 1280x720 at 30 fps, to port 9999
  cam-send 192.168.1.20 --image photo.jpg   one picture; exits 0 once the viewer has it
  cam-send 192.168.1.20 --image holiday/ --loop --interval 3000
                                            a slideshow of a folder, 3 s a picture, for ever
  cam-send 192.168.1.20 --camera 0 --size 1280x720 --fps 30
                                            a webcam (a build with --features camera)
  cam-send 192.168.1.20 --message '{\"door\":\"open\"}'
                                            one JSON message, no picture
  cam-send --gen-key > camwire.key          a random key; copy the file to the viewer's machine
  cam-send 192.168.1.20 --key-file camwire.key
                                            encrypted and authenticated (cam-view needs the key)
  cam-send 192.168.1.20 --record sent.mkv   also keep what is sent, playable with ffplay or VLC
  cam-send 192.168.1.20 --compat tutorial --image photo.jpg
                                            to the classic tutorial's server (JSON on 6666)";

/// Stream a webcam, the built-in moving test pattern or image files to cam-view over UDP,
/// and send it JSON messages.
#[derive(Parser, Debug)]
#[command(name = "cam-send", version, long_about = None, after_help = EXAMPLES)]
struct Args {
    /// Viewer address: HOST[:PORT] (the port defaults to 9999), [IPv6]:PORT, or a PORT alone
    /// for a viewer on this machine; or rtp://HOST[:PORT] (default port 5004) to send
    /// RTP/JPEG (RFC 2435) to ffmpeg, GStreamer, VLC or an RTSP server instead
    #[arg(default_value = "127.0.0.1:9999", value_parser = parse_destination)]
    dest: Destination,
    /// Only with rtp://: write the session description (SDP) that ffmpeg, ffplay and VLC open
    /// to FILE (without it, it is printed once on stderr)
    #[arg(long, value_name = "FILE")]
    sdp: Option<PathBuf>,
    /// Send the built-in moving test pattern (the default source)
    #[arg(long, conflicts_with_all = ["image", "camera"])]
    pattern: bool,
    /// Send a JPEG or PNG file, or every such file in a folder in name order. JPEG files are
    /// sent byte for byte. One file: send it once, wait for the viewer's ACK, exit.
    #[arg(long, value_name = "PATH", conflicts_with = "camera")]
    image: Option<PathBuf>,
    /// Stream a webcam by index or (part of its) name, default 0, in the mode closest to
    /// --size (default 1280x720) and --fps (needs a build with `--features camera`).
    /// `fake:mjpeg`, `fake:yuyv` or `fake:nv12` is a made-up camera of that format, in any build
    #[arg(long, value_name = "INDEX|NAME", num_args = 0..=1, default_missing_value = "0")]
    camera: Option<String>,
    /// List the webcams with their formats, sizes and frame rates, and exit
    #[arg(long)]
    list_cameras: bool,
    /// Only with --image: repeat the file or folder for ever
    #[arg(long = "loop")]
    looping: bool,
    /// Picture size, WxH (default 1280x720 for the pattern; images are scaled only if given)
    #[arg(long, value_parser = parse_size, value_name = "WxH")]
    size: Option<(u32, u32)>,
    /// Frames per second; 0 sends as fast as the viewer's ACKs allow
    #[arg(long, default_value_t = SendConfig::default().fps, value_name = "N")]
    fps: f64,
    /// JPEG quality, 1-100: used while the path carries it; on a slower path the quality
    /// goes down first (to --min-quality), then the frame rate
    #[arg(long, default_value_t = SendConfig::default().quality,
          value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: u8,
    /// Lowest quality the sender goes down to on a slow path before it sends fewer frames
    #[arg(long, default_value_t = SendConfig::default().min_quality, value_name = "Q",
          value_parser = clap::value_parser!(u8).range(1..=100))]
    min_quality: u8,
    /// Keep --quality whatever the path: sharpness before motion (a slow path gets fewer
    /// frames instead)
    #[arg(long, conflicts_with = "min_quality")]
    fixed_quality: bool,
    /// Stop after N frames
    #[arg(long, value_name = "N")]
    frames: Option<u64>,
    /// This sender's name, shown on its tile and in the viewer's statistics and file names,
    /// and by which a viewer knows it when it restarts (default: this machine's host name;
    /// give each camera on one machine its own)
    #[arg(long, value_name = "NAME", value_parser = parse_sender_name)]
    name: Option<String>,
    /// Largest datagram in bytes of UDP payload (1200 is safe on any path)
    #[arg(long, default_value_t = SenderConfig::default().mtu as u16, value_name = "BYTES",
          value_parser = clap::value_parser!(u16).range(MIN_MTU as i64..=MAX_DATAGRAM as i64))]
    mtu: u16,
    /// The longest wait for the viewer's answer before probing again, in milliseconds (the
    /// retransmission timeout adapts to the measured round trip below it)
    #[arg(long, default_value_t = SenderConfig::default().ack_timeout.as_millis() as u64,
          value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=60_000))]
    ack_timeout: u64,
    /// A frame not delivered within this many milliseconds gives way to a newer one
    #[arg(long, default_value_t = SenderConfig::default().max_latency.as_millis() as u64,
          value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=60_000))]
    max_latency: u64,
    /// Pacing: at most this many megabits per second (0 = unpaced)
    #[arg(long, default_value_t = DEFAULT_MAX_RATE_MBPS, value_name = "MBIT")]
    max_rate: f64,
    /// Print one JSON object of statistics per second, and a summary at exit, on stdout
    #[arg(long)]
    stats_json: bool,
    /// Send this JSON value to the viewer as a message (repeatable; `-` reads one JSON value
    /// per line from stdin). Without --pattern, --image or --camera, no pictures are sent
    #[arg(long, value_name = "JSON")]
    message: Vec<String>,
    /// Only with --message: send the --message list this many times [default: 1]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    repeat: Option<u64>,
    /// Only with --message or --image: milliseconds between messages, and between the
    /// pictures of an --image folder (instead of --fps)
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    interval: Option<u64>,
    /// Speak another protocol: `tutorial` sends like the classic Python/OpenCV UDP tutorial's
    /// client (8-byte length + 1024-byte chunks, answered "get message!!!"; messages as JSON
    /// datagrams to --json-port), for its original server
    #[arg(long, value_enum, default_value_t = Compat::Camwire)]
    compat: Compat,
    /// Only with --compat tutorial: the server's JSON port, on the destination's host
    /// (default 6666, the tutorial's own)
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    json_port: Option<u16>,
    /// Also record every frame as sent (no re-encoding) into a Matroska file: PATH ending in
    /// .mkv is the file; a folder PATH gets cam-send-<YYYYmmdd-HHMMSS>.mkv (UTC). Synced to
    /// disk every second: a file cut by a crash plays up to its last second
    #[arg(long, value_name = "PATH", value_parser = parse_record)]
    record: Option<RecordTarget>,
    #[command(flatten)]
    keys: KeyArgs,
}

impl Args {
    /// Options that only mean something with another one, in plain words.
    fn check(&self) -> Result<(), String> {
        if self.sdp.is_some() && !self.dest.is_rtp() {
            return Err(
                "--sdp describes an RTP stream: send to rtp://HOST:PORT, or leave \
                        --sdp out"
                    .into(),
            );
        }
        if self.dest.is_rtp() && (!self.message.is_empty() || self.compat != Compat::Camwire) {
            return Err(
                "rtp:// carries pictures only: --message and --compat need a \
                        camwire viewer (cam-view)"
                    .into(),
            );
        }
        if self.json_port.is_some() && self.compat != Compat::Tutorial {
            return Err(
                "--json-port only means something with --compat tutorial (it is the \
                        tutorial server's JSON port): add --compat tutorial, or leave \
                        --json-port out"
                    .into(),
            );
        }
        if self.record.is_some() && self.compat != Compat::Camwire {
            return Err(
                "--record records camwire and rtp:// streams: leave out --compat tutorial or \
                        --record"
                    .into(),
            );
        }
        if self.looping && self.image.is_none() {
            return Err("--loop repeats an --image file or folder: add --image PATH".into());
        }
        if self.repeat.is_some() && self.message.is_empty() {
            return Err("--repeat repeats the --message list: add --message JSON".into());
        }
        if self.interval.is_some() && self.message.is_empty() && self.image.is_none() {
            return Err(
                "--interval is the time between --message values or between \
                        --image pictures: add one of them, or use --fps for the test \
                        pattern or a camera"
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
    run_main("cam-send", args, json, run)
}

fn run(args: Args, out: &mut ReportPrinter) -> Result<(), String> {
    if let Some(key) = args.keys.generated() {
        println!("{}", key?);
        return Ok(());
    }
    let real_camera = args
        .camera
        .as_deref()
        .is_some_and(|c| !c.trim().starts_with(SELECTOR_PREFIX));
    if !cfg!(feature = "camera") && (real_camera || args.list_cameras) {
        return Err(
            "this cam-send was built without camera support; build it from the camwire \
             checkout with `cargo build --release --features camera` (or `cargo install \
             --path . --features camera`; on Linux first `apt-get install libclang-dev`), \
             or use --pattern or --image"
                .into(),
        );
    }
    if args.list_cameras {
        return list_cameras();
    }
    let key = args.keys.resolve(&mut |w| out.line(w))?;
    if key.is_some() && args.compat == Compat::Tutorial {
        return Err(AppError::TutorialKey.to_string());
    }
    let stop = Stop::new();
    stop.on_ctrl_c();
    let mut cfg = config(&args, &stop)?;
    cfg.key = key;
    let keyed = cfg.key.is_some();
    let dest = cfg.dest;
    let messages_only = matches!(cfg.source, SourceSpec::Nothing);
    // Opened here rather than in run_send so that the camera's chosen mode is printed.
    let source = open_source(&cfg.source).map_err(|e| e.to_string())?;
    if messages_only {
        out.line(&format!("sending messages to {dest}"));
    } else {
        out.line(&format!("sending {} to {}", source.describe(), args.dest));
    }
    let interrupted = stop.clone();
    let on_update = |u: SendUpdate<'_>| print_update(out, dest, u);
    let outcome = match args.compat {
        Compat::Camwire => run_send_with(cfg, source, stop, on_update),
        Compat::Tutorial => {
            let json_port = args.json_port.unwrap_or(JSON_PORT);
            let json_dest = std::net::SocketAddr::new(dest.ip(), json_port);
            run_send_tutorial(cfg, source, json_dest, stop, on_update)
        }
    }
    .map_err(|e| {
        // A run that went unanswered still has its statistics to show.
        if let AppError::NoAck {
            summary: Some(s), ..
        } = &e
        {
            out.summary(s);
        }
        e.to_string()
    })?;
    out.summary(&outcome.summary);
    if args.dest.is_rtp() {
        // Nothing answers RTP: sending is all there is to judge.
        if outcome.summary.counts.frames == 0 {
            return Err(format!("no frame was sent to {}", args.dest));
        }
        return Ok(());
    }
    judge(
        &args,
        out,
        &outcome,
        interrupted.is_set(),
        messages_only,
        keyed,
    )
}

/// The pipeline's configuration from the command line, after the checks clap cannot make.
fn config(args: &Args, stop: &Stop) -> Result<SendConfig, String> {
    if !(args.fps >= 0.0 && args.fps.is_finite()) {
        return Err("--fps must be 0 or more".into());
    }
    if !(args.max_rate >= 0.0 && args.max_rate.is_finite()) {
        return Err("--max-rate must be 0 or more".into());
    }
    let messages_only =
        !args.message.is_empty() && !args.pattern && args.image.is_none() && args.camera.is_none();
    if messages_only && (args.frames.is_some() || args.size.is_some()) {
        return Err(
            "--frames and --size need pictures: with --message, add --pattern, \
                    --image or --camera to send them too"
                .into(),
        );
    }
    let fps = match (args.interval, &args.image) {
        (Some(ms), Some(_)) => 1000.0 / ms as f64,
        _ => args.fps,
    };
    let source = match (&args.image, &args.camera) {
        _ if messages_only => SourceSpec::Nothing,
        (Some(path), _) => SourceSpec::Images {
            path: path.clone(),
            looping: args.looping,
            resize: args.size,
        },
        (None, Some(camera)) => {
            let (width, height) = args.size.unwrap_or((1280, 720));
            SourceSpec::Camera(CameraRequest {
                camera: CameraSelector::parse(camera),
                mode: ModeRequest {
                    width,
                    height,
                    fps: args.fps.round().min(f64::from(u32::MAX)) as u32,
                },
            })
        }
        (None, None) => {
            let (width, height) = args.size.unwrap_or((1280, 720));
            SourceSpec::Pattern { width, height }
        }
    };
    let messages = (!args.message.is_empty()).then(|| {
        let every = Duration::from_millis(args.interval.unwrap_or(0));
        spawn_messages(
            args.message.clone(),
            args.repeat.unwrap_or(1),
            every,
            stop.clone(),
        )
    });
    Ok(SendConfig {
        dest: args.dest.addr(),
        rtp: args.dest.is_rtp().then(|| RtpOut {
            sdp: args.sdp.clone(),
        }),
        source,
        messages,
        fps,
        quality: args.quality,
        min_quality: if args.fixed_quality {
            args.quality
        } else {
            args.min_quality.min(args.quality)
        },
        frames: args.frames,
        name: args.name.clone().or_else(camwire::app::send::host_name),
        protocol: SenderConfig {
            mtu: args.mtu as usize,
            ack_timeout: Duration::from_millis(args.ack_timeout),
            max_latency: Duration::from_millis(args.max_latency),
            ..SenderConfig::default()
        }
        .with_max_rate_mbps(args.max_rate),
        record: args.record.clone(),
        ..SendConfig::default()
    })
}

/// Where the session description went, or the description itself, ready to copy.
fn print_sdp(out: &mut ReportPrinter, text: String, written_to: Option<PathBuf>) {
    match written_to {
        Some(path) => out.line(&format!(
            "session description written to {0}: watch with `ffplay -protocol_whitelist \
                 file,udp,rtp -i {0}` (or open it in VLC)",
            path.display()
        )),
        None => {
            out.line(
                "session description (save it as cam.sdp and watch with `ffplay \
                     -protocol_whitelist file,udp,rtp -i cam.sdp`, or use --sdp FILE):",
            );
            eprint!("{text}");
        }
    }
}

/// One line for each thing worth telling the user while the run goes on.
fn print_update(out: &mut ReportPrinter, dest: std::net::SocketAddr, u: SendUpdate<'_>) {
    match u {
        SendUpdate::Report(r) => out.report(r),
        SendUpdate::ViewerLost => out.line(&format!(
            "no answer from {dest}: still capturing, probing for the viewer"
        )),
        SendUpdate::NoHandshake => out.line(&format!(
            "no answer to the keyed handshake from {dest}: is cam-view running there with the \
             same key? Still capturing, probing for the viewer"
        )),
        SendUpdate::ViewerClosed => out.line(&format!(
            "the viewer at {dest} closed: still capturing, probing for the viewer"
        )),
        SendUpdate::ViewerBack => out.line(&format!("viewer at {dest} answers again")),
        SendUpdate::NetworkDown(why) => out.line(&format!(
            "no route to {dest} ({why}): still capturing, waiting for the network"
        )),
        SendUpdate::NetworkBack => out.line(&format!(
            "the network is back: probing for the viewer at {dest}"
        )),
        SendUpdate::Source(
            SendNotice::SourceLost(m) | SendNotice::SourceBack(m) | SendNotice::Warning(m),
        ) => out.line(&m),
        SendUpdate::Message { seq, outcome } => match outcome {
            MessageOutcome::Delivered => {}
            MessageOutcome::Refused { reason, .. } => {
                out.line(&format!("message {seq} refused by the viewer: {reason}"))
            }
            MessageOutcome::TimedOut => {
                out.line(&format!("message {seq}: no answer from the viewer"))
            }
        },
        SendUpdate::MessageNotSent(e) => out.line(&format!("message not sent: {e}")),
        SendUpdate::Rtp(RtpNotice::Sdp { text, written_to }) => {
            if text.contains("a=x-dimensions:") {
                out.line(
                    "the picture is over 2040 pixels on a side, more than RFC 2435's header \
                     can state: GStreamer shows it (from the SDP's x-dimensions), ffmpeg and \
                     VLC cannot; for them send --size 1920x1080 or smaller",
                );
            }
            print_sdp(out, text, written_to)
        }
        SendUpdate::Rtp(RtpNotice::Reencoding(why)) => out.line(&format!(
            "encoding the pictures again to send them as RTP/JPEG: {why}"
        )),
        SendUpdate::Rtp(RtpNotice::Rtcp {
            reports_to,
            feedback_on,
        }) => out.line(&format!(
            "RTCP: sender reports to {reports_to}; NACKs taken on port {} (and on the RTP \
             port), so lost packets are sent again",
            feedback_on.port()
        )),
        SendUpdate::Rtp(RtpNotice::Skipped(why)) => {
            out.line(&format!("a frame was skipped: {why}"))
        }
        SendUpdate::FrameSkipped { index, reason } => {
            out.line(&format!("warning: picture {} skipped: {reason}", index + 1))
        }
    }
}

/// Whether the run did its job: the exit status and its last line.
fn judge(
    args: &Args,
    out: &mut ReportPrinter,
    outcome: &SendOutcome,
    interrupted: bool,
    messages_only: bool,
    keyed: bool,
) -> Result<(), String> {
    let dest = args.dest.addr();
    let with_key = if keyed { " with the same key" } else { "" };
    if interrupted && outcome.summary.counts.frames == 0 && outcome.messages_delivered == 0 {
        return Err(format!(
            "stopped before anything was delivered: is cam-view running at {dest}{with_key}, and is UDP port {} open?",
            dest.port()
        ));
    }
    if !args.message.is_empty() {
        out.line(&format!(
            "viewer at {dest} accepted {} message(s)",
            outcome.messages_delivered
        ));
        if outcome.messages_failed > 0 {
            return Err(format!(
                "{} message(s) not delivered",
                outcome.messages_failed
            ));
        }
        if messages_only {
            return Ok(());
        }
    }
    if outcome.one_shot {
        out.line(&format!("viewer at {dest} acknowledged the image"));
    } else if outcome.summary.counts.frames == 0 {
        return Err(format!(
            "no frame was acknowledged: is cam-view running at {dest}{with_key}, and is UDP port {} open?",
            dest.port()
        ));
    }
    Ok(())
}

/// Feeds the messages to the sender from a thread of their own: the `--message` list
/// `repeat` times, `every` apart, with `-` standing for the JSON lines of stdin. The channel
/// is small, so this thread waits whenever the viewer is slower.
fn spawn_messages(
    list: Vec<String>,
    repeat: u64,
    every: Duration,
    stop: Stop,
) -> crossbeam_channel::Receiver<Vec<u8>> {
    let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(64);
    std::thread::spawn(move || {
        let mut first = true;
        for _ in 0..repeat {
            for m in &list {
                if m == "-" {
                    for line in std::io::stdin().lock().lines() {
                        let Ok(line) = line else { return };
                        if !line.trim().is_empty() && tx.send(line.into_bytes()).is_err() {
                            return;
                        }
                    }
                    continue;
                }
                if !first && !every.is_zero() {
                    // Sleeping on the stop channel keeps Ctrl-C prompt.
                    let _ = stop.channel().recv_timeout(every);
                }
                first = false;
                if stop.is_set() || tx.send(m.clone().into_bytes()).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

fn list_cameras() -> Result<(), String> {
    let cameras = camwire::media::camera::list_cameras().map_err(|e| e.to_string())?;
    if cameras.is_empty() {
        return Err("no cameras found".into());
    }
    for c in cameras {
        println!("{}", c.to_text());
    }
    Ok(())
}
