//! Receives frames and JSON messages from any number of camwire senders and prints one line
//! per event (the library's `FrameReceiver`; no window, no threads).
//!
//! ```sh
//! cargo run --release --example hub -- 0.0.0.0:9999
//! cargo run --release --bin cam-send -- 127.0.0.1:9999 --message '{"hello":1}'
//! ```
//!
//! With `CAMWIRE_KEY` set (a key from `cam-view --gen-key`, or a passphrase) it takes only
//! senders with that key.

use camwire::endpoint::{Event, FrameReceiver};
use camwire::protocol::key::Key;
use camwire::protocol::receiver::ReceiverConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "0.0.0.0:9999".into());
    let mut hub = match std::env::var("CAMWIRE_KEY") {
        Ok(text) => {
            let key = Key::from_text(&text)?;
            FrameReceiver::with_key(listen.as_str(), ReceiverConfig::default(), &key)?
        }
        Err(_) => FrameReceiver::bind(listen.as_str())?,
    };
    eprintln!("listening on {}", hub.local_addr()?);
    loop {
        match hub.recv()? {
            Event::Frame(f) => println!(
                "frame {} from {} at {} ({}x{}, {} bytes)",
                f.seq,
                f.name.as_deref().unwrap_or("a sender without a name"),
                f.from,
                f.width,
                f.height,
                f.jpeg.len()
            ),
            Event::Message(m) => println!("message {} from {}: {}", m.seq, m.from, m.value),
            Event::SessionStarted {
                session,
                from,
                name,
                ..
            } => println!("sender {session:08x} ({name:?}) at {from} started"),
            Event::SessionEnded {
                session, reason, ..
            } => println!("sender {session:08x} ended: {reason:?}"),
            Event::KeyMismatch { from, kind } => eprintln!("key mismatch with {from}: {kind:?}"),
            other => println!("{other:?}"),
        }
    }
}
