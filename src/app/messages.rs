//! JSON messages as the viewer reports them: one record per delivered message, printed by
//! `cam-view` as one JSON line on stdout.

use std::net::SocketAddr;

use serde::Serialize;

/// Which protocol carried a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Carrier {
    /// camwire's own reliable MESSAGE datagrams.
    Camwire,
    /// A bare JSON datagram on the tutorial-compatible JSON port.
    Tutorial,
}

/// One JSON message the viewer accepted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageRecord {
    /// Where it came from.
    pub from: SocketAddr,
    /// The sender's session id (camwire messages only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<u32>,
    /// The sender's name (camwire senders that say one, `cam-send --name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<std::sync::Arc<str>>,
    /// Its sequence number: per session for camwire messages (from 0, in order), per viewer
    /// run for tutorial-port datagrams.
    pub seq: u64,
    /// Which protocol carried it.
    pub via: Carrier,
    /// The message itself.
    pub message: serde_json::Value,
}

impl MessageRecord {
    /// The record as one line of JSON (no trailing newline), the way `cam-view` prints it.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a record of plain values always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_even_for_multiline_input() {
        let v: serde_json::Value =
            serde_json::from_str("[0,\n 0,\n 1, {\"a\": \"x\\ny\"}]").unwrap();
        let r = MessageRecord {
            from: "127.0.0.1:5000".parse().unwrap(),
            session: Some(0xABCD),
            sender: None,
            seq: 7,
            via: Carrier::Camwire,
            message: v,
        };
        let line = r.to_json_line();
        assert!(!line.contains('\n'));
        assert_eq!(
            line,
            r#"{"from":"127.0.0.1:5000","session":43981,"seq":7,"via":"camwire","message":[0,0,1,{"a":"x\ny"}]}"#
        );
    }
}
