//! `cam-send`: streams the test pattern, image files or a webcam to `cam-view` over UDP.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use camwire::app::send::{
    open_source, run_send_with, SendConfig, SendNotice, SendUpdate, SourceSpec,
};
use camwire::app::Stop;
use camwire::camera::mode::ModeRequest;
use camwire::camera::{CameraRequest, CameraSelector};
use camwire::cli::{parse_dest, parse_size, run_main, ReportPrinter};
use clap::Parser;

/// Stream a webcam, the built-in test pattern or image files to cam-view over UDP.
#[derive(Parser, Debug)]
#[command(name = "cam-send", version, about, long_about = None)]
struct Args {
    /// Viewer address, HOST[:PORT] (the port defaults to 9999)
    #[arg(default_value = "127.0.0.1:9999", value_parser = parse_dest)]
    dest: std::net::SocketAddr,
    /// Send the built-in moving test pattern (the default source)
    #[arg(long, conflicts_with_all = ["image", "camera"])]
    pattern: bool,
    /// Send a JPEG or PNG file, or every such file in a folder in name order. JPEG files are
    /// sent byte for byte. One file: send it once, wait for the viewer's ACK, exit.
    #[arg(long, value_name = "PATH", conflicts_with = "camera")]
    image: Option<PathBuf>,
    /// Stream a webcam by index or (part of its) name, default 0, in the mode closest to
    /// --size (default 1280x720) and --fps (needs a build with `--features camera`)
    #[arg(long, value_name = "INDEX|NAME", num_args = 0..=1, default_missing_value = "0")]
    camera: Option<String>,
    /// List the webcams with their formats, sizes and frame rates, and exit
    #[arg(long)]
    list_cameras: bool,
    /// Repeat the --image file or folder for ever
    #[arg(long = "loop", requires = "image")]
    looping: bool,
    /// Picture size, WxH (default 1280x720 for the pattern; images are scaled only if given)
    #[arg(long, value_parser = parse_size, value_name = "WxH")]
    size: Option<(u32, u32)>,
    /// Frames per second; 0 sends as fast as the viewer's ACKs allow
    #[arg(long, default_value_t = 30.0, value_name = "N")]
    fps: f64,
    /// JPEG quality, 1-100
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: u8,
    /// Stop after N frames
    #[arg(long, value_name = "N")]
    frames: Option<u64>,
    /// Largest datagram in bytes of UDP payload (1200 is safe on any path)
    #[arg(long, default_value_t = 1200, value_name = "BYTES",
          value_parser = clap::value_parser!(u16).range(256..=65507))]
    mtu: u16,
    /// The longest wait for the viewer's answer before probing again, in milliseconds (the
    /// retransmission timeout adapts to the measured round trip below it)
    #[arg(long, default_value_t = 100, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    ack_timeout: u64,
    /// A frame not delivered within this many milliseconds gives way to a newer one
    #[arg(long, default_value_t = 150, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    max_latency: u64,
    /// Pacing: at most this many megabits per second (0 = unpaced)
    #[arg(long, default_value_t = 1000.0, value_name = "MBIT")]
    max_rate: f64,
    /// Print one JSON object of statistics per second, and a summary at exit, on stdout
    #[arg(long)]
    stats_json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let json = args.stats_json;
    run_main("cam-send", args, json, run)
}

fn run(args: Args, out: &mut ReportPrinter) -> Result<(), String> {
    if !cfg!(feature = "camera") && (args.camera.is_some() || args.list_cameras) {
        return Err(
            "this cam-send was built without camera support; rebuild with \
             `cargo install camwire --features camera` (on Linux first install libclang: \
             apt-get install libclang-dev), or use --pattern or --image"
                .into(),
        );
    }
    if args.list_cameras {
        return list_cameras();
    }
    if !(args.fps >= 0.0 && args.fps.is_finite()) {
        return Err("--fps must be 0 or more".into());
    }
    if !(args.max_rate >= 0.0 && args.max_rate.is_finite()) {
        return Err("--max-rate must be 0 or more".into());
    }
    let source = match (&args.image, &args.camera) {
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
    let cfg = SendConfig {
        dest: args.dest,
        source,
        fps: args.fps,
        quality: args.quality,
        frames: args.frames,
        mtu: args.mtu as usize,
        ack_timeout: Duration::from_millis(args.ack_timeout),
        max_latency: Duration::from_millis(args.max_latency),
        max_rate_mbps: args.max_rate,
        ..SendConfig::default()
    };
    let stop = Stop::new();
    stop.on_ctrl_c();
    let dest = cfg.dest;
    // Opened here rather than in run_send so that the camera's chosen mode is printed.
    let source = open_source(&cfg.source).map_err(|e| e.to_string())?;
    out.line(&format!("sending {} to {dest}", source.describe()));
    let outcome = run_send_with(cfg, source, stop, |u| match u {
        SendUpdate::Report(r) => out.report(r),
        SendUpdate::ViewerLost => out.line(&format!(
            "no answer from {dest}: still capturing, probing for the viewer"
        )),
        SendUpdate::ViewerBack => out.line(&format!("viewer at {dest} answers again")),
        SendUpdate::Source(SendNotice::SourceLost(m) | SendNotice::SourceBack(m)) => out.line(&m),
    })
    .map_err(|e| e.to_string())?;
    out.summary(&outcome.summary);
    if outcome.one_shot {
        out.line(&format!("viewer at {} acknowledged the image", args.dest));
    } else if outcome.summary.counts.frames == 0 {
        return Err(format!(
            "no frame was acknowledged: is cam-view running at {}, and is UDP port {} open?",
            args.dest,
            args.dest.port()
        ));
    }
    Ok(())
}

fn list_cameras() -> Result<(), String> {
    let cameras = camwire::camera::list_cameras().map_err(|e| e.to_string())?;
    if cameras.is_empty() {
        return Err("no cameras found".into());
    }
    for c in cameras {
        println!("{}", c.to_text());
    }
    Ok(())
}
