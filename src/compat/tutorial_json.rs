//! `cam-view --compat tutorial`'s second server: the tutorial's JSON datagrams on a port of
//! their own, one value a datagram, each answered as the original server does.

use std::time::Duration;

use crossbeam_channel::Sender as Tx;

use crate::app::messages::{Carrier, MessageRecord};
use crate::app::{AppError, Stop};
use crate::compat::tutorial;
use crate::protocol::wire::MAX_DATAGRAM;
use crate::runtime::net::is_transient;

/// The tutorial's second server thread: one JSON value a datagram, each answered.
pub fn json_loop(
    sock: std::net::UdpSocket,
    messages: Tx<MessageRecord>,
    stop: &Stop,
    local_stop: &Stop,
) -> Result<(), AppError> {
    sock.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut seq = 0u64;
    while !stop.is_set() && !local_stop.is_set() {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if is_transient(&e) => continue,
            Err(e) => return Err(e.into()),
        };
        let answer = match tutorial::parse_json(&buf[..n]) {
            Ok(message) => {
                let m = MessageRecord {
                    from,
                    session: None,
                    sender: None,
                    seq,
                    via: Carrier::Tutorial,
                    message,
                };
                seq += 1;
                crate::app::view::hand_over(&messages, m, stop);
                tutorial::REPLY_JSON.to_vec()
            }
            Err(reason) => reason.into_bytes(),
        };
        let _ = sock.send_to(&answer, from);
    }
    Ok(())
}
