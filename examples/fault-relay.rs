//! A fault-injecting UDP relay for trying camwire on a bad network without one:
//!
//! ```sh
//! cargo run --release --example fault-relay -- --to 127.0.0.1:9999 --loss 10
//! cargo run --release --bin cam-send -- 127.0.0.1:<the port it prints>
//! ```
//! A home uplink, 25 ms each way behind a 5 Mbit/s bottleneck with a 200 ms queue:
//!
//! ```sh
//! cargo run --release --example fault-relay -- --to 127.0.0.1:9999 --delay 25 --rate 5
//! ```
//! Loopback only: it listens on 127.0.0.1 and forwards to `--to`. Its own address is the
//! first line on stdout; with `--stats-json` a JSON line of what each direction did follows
//! when it stops.

use std::time::Duration;

use camwire::app::Stop;
// The relay is test tooling, not part of the library: only the tests and this example see it.
#[path = "../tests/support/relay.rs"]
#[allow(dead_code)] // the tests use more of it than this example does
mod relay;

use clap::Parser;
use relay::{queue_bytes_for, Faults, Relay, DEFAULT_QUEUE};

/// Relay UDP between cam-send and cam-view, dropping, duplicating, reordering, delaying and
/// corrupting datagrams deterministically from a seed, and passing them through a bandwidth
/// bottleneck with a bounded queue.
#[derive(Parser)]
struct Args {
    /// The viewer's address
    #[arg(long)]
    to: std::net::SocketAddr,
    /// Percent of datagrams dropped, each way
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Percent duplicated (towards the viewer)
    #[arg(long, default_value_t = 0.0)]
    dup: f64,
    /// Percent held back by 3 ms so that later ones overtake them (towards the viewer)
    #[arg(long, default_value_t = 0.0)]
    reorder: f64,
    /// One-way delay in milliseconds, each way
    #[arg(long, default_value_t = 0.0)]
    delay: f64,
    /// Extra random delay up to this many milliseconds, each way
    #[arg(long, default_value_t = 0.0)]
    jitter: f64,
    /// Percent with one bit flipped (towards the viewer)
    #[arg(long, default_value_t = 0.0)]
    corrupt: f64,
    /// Bandwidth bottleneck towards the viewer, in Mbit/s (the sender's uplink). Datagrams
    /// queue behind it and are tail-dropped when the queue is full
    #[arg(long, value_name = "MBIT")]
    rate: Option<f64>,
    /// Bandwidth bottleneck back to the sender (ACKs and NACKs), in Mbit/s
    #[arg(long, value_name = "MBIT")]
    back_rate: Option<f64>,
    /// The bottleneck's queue, in milliseconds at its rate (default 200: a home router's
    /// bloated buffer; AQM routers keep far less)
    #[arg(long, value_name = "MS", conflicts_with = "queue_kb")]
    queue_ms: Option<f64>,
    /// The bottleneck's queue in kilobytes (1000 bytes), whatever the rate
    #[arg(long, value_name = "KB")]
    queue_kb: Option<f64>,
    /// Print a JSON line of what each direction did to stdout when stopping
    #[arg(long)]
    stats_json: bool,
    /// Seed of the fault pattern
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop after this many seconds (0 = until Ctrl-C)
    #[arg(long, default_value_t = 0.0)]
    seconds: f64,
}

fn main() {
    let a = Args::parse();
    let ms = |v: f64| Duration::from_secs_f64(v.max(0.0) / 1000.0);
    let queue = |mbit: Option<f64>| {
        let bps = mbit.filter(|r| *r > 0.0)? * 1e6;
        let bytes = match (a.queue_kb, a.queue_ms) {
            (Some(kb), _) => (kb.max(0.0) * 1000.0).round() as usize,
            (None, Some(q)) => queue_bytes_for(bps, ms(q)),
            (None, None) => queue_bytes_for(bps, DEFAULT_QUEUE),
        };
        Some((bps, bytes))
    };
    let (back_rate, back_queue) = queue(a.back_rate).unzip();
    let back = Faults {
        drop: a.loss / 100.0,
        delay: ms(a.delay),
        jitter: ms(a.jitter),
        rate_bps: back_rate,
        queue_bytes: back_queue.unwrap_or(0),
        ..Faults::default()
    };
    let (rate, forward_queue) = queue(a.rate).unzip();
    let forward = Faults {
        duplicate: a.dup / 100.0,
        reorder: a.reorder / 100.0,
        reorder_by: Duration::from_millis(3),
        corrupt: a.corrupt / 100.0,
        rate_bps: rate,
        queue_bytes: forward_queue.unwrap_or(0),
        ..back
    };
    let relay = match Relay::start(a.to, forward, back, a.seed) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fault-relay: error: {e}");
            std::process::exit(1);
        }
    };
    println!("{}", relay.addr());
    eprintln!(
        "fault-relay: {} -> {} with {forward:?}; back {back:?}",
        relay.addr(),
        a.to
    );
    let stop = Stop::new();
    stop.on_ctrl_c();
    let limit = (a.seconds > 0.0).then(|| Duration::from_secs_f64(a.seconds));
    let _ = stop
        .channel()
        .recv_timeout(limit.unwrap_or(Duration::from_secs(u64::MAX / 4)));
    let (f, b) = relay.stats();
    let line = |s: &relay::FaultStats| {
        let mut t = format!(
            "{} in, {} lost, {} duplicated, {} reordered, {} corrupted",
            s.received, s.dropped, s.duplicated, s.reordered, s.corrupted
        );
        if s.queue_dropped > 0 || s.queue_peak_bytes > 0 {
            t += &format!(
                ", {} queue drops ({:.2}%), queue peak {} bytes",
                s.queue_dropped,
                100.0 * s.queue_dropped as f64 / s.received.max(1) as f64,
                s.queue_peak_bytes
            );
        }
        t
    };
    eprintln!("fault-relay: to viewer: {}; back: {}", line(&f), line(&b));
    if a.stats_json {
        println!("{}", serde_json::json!({ "to_viewer": f, "back": b }));
    }
}
