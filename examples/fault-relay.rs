//! A fault-injecting UDP relay for trying camwire on a bad network without one:
//!
//! ```sh
//! cargo run --release --example fault-relay -- --to 127.0.0.1:9999 --loss 10
//! cargo run --release --bin cam-send -- 127.0.0.1:<the port it prints>
//! ```
//! Loopback only: it listens on 127.0.0.1 and forwards to `--to`.

use std::time::Duration;

use camwire::app::Stop;
// The relay is test tooling, not part of the library: only the tests and this example see it.
#[path = "../tests/support/relay.rs"]
#[allow(dead_code)] // the tests use more of it than this example does
mod relay;

use clap::Parser;
use relay::{Faults, Relay};

/// Relay UDP between cam-send and cam-view, dropping, duplicating, reordering, delaying and
/// corrupting datagrams deterministically from a seed.
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
    let back = Faults {
        drop: a.loss / 100.0,
        delay: ms(a.delay),
        jitter: ms(a.jitter),
        ..Faults::default()
    };
    let forward = Faults {
        duplicate: a.dup / 100.0,
        reorder: a.reorder / 100.0,
        reorder_by: Duration::from_millis(3),
        corrupt: a.corrupt / 100.0,
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
    eprintln!("fault-relay: {} -> {} with {forward:?}", relay.addr(), a.to);
    let stop = Stop::new();
    stop.on_ctrl_c();
    let limit = (a.seconds > 0.0).then(|| Duration::from_secs_f64(a.seconds));
    let _ = stop
        .channel()
        .recv_timeout(limit.unwrap_or(Duration::from_secs(u64::MAX / 4)));
    let (f, b) = relay.stats();
    eprintln!("fault-relay: to viewer {f:?}; back {b:?}");
}
