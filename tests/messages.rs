//! JSON messages beside the video: the real binaries on loopback, with and without faults.
//! Every wait is bounded.

mod support;

use std::time::Duration;

use support::relay::{Faults, Relay};
use support::*;

const T: Duration = Duration::from_secs(90);

fn viewer(extra: &[&str]) -> Proc {
    let mut args = vec!["--listen", "127.0.0.1:0", "--headless", "--stats-json"];
    args.extend_from_slice(extra);
    Proc::spawn(VIEW, &args)
}

/// Stops the viewer and returns its message lines and its summary.
fn stop_viewer(v: Proc) -> (Vec<serde_json::Value>, serde_json::Value) {
    v.interrupt();
    let (st, out, err) = v.finish(T);
    assert!(st.success(), "viewer: {err:?}");
    (message_lines(&out), summary(&out))
}

/// Checks that `msgs` are exactly `expect` in order, all from one session, seq 1, 2, 3, ...
/// (`cam-send`'s name, which it always has, took 0).
fn assert_exactly_once_in_order(msgs: &[serde_json::Value], expect: &[serde_json::Value]) {
    assert_eq!(msgs.len(), expect.len(), "message count");
    let session = &msgs[0]["session"];
    for (i, (m, e)) in msgs.iter().zip(expect).enumerate() {
        assert_eq!(&m["message"], e, "message {i}");
        assert_eq!(m["seq"], i as u64 + 1, "sequence of message {i}");
        assert!(m["sender"].is_string(), "named: {m}");
        assert_eq!(&m["session"], session);
        assert_eq!(m["via"], "camwire");
        assert!(m["from"].as_str().unwrap().starts_with("127.0.0.1:"));
    }
}

#[test]
fn a_thousand_periodic_messages_arrive_once_in_order_while_720p_streams() {
    let mut v = viewer(&[]);
    let addr = v.listening_addr().to_string();
    let (st, _, err) = run(
        SEND,
        &[
            &addr,
            "--pattern",
            "--size",
            "1280x720",
            "--fps",
            "30",
            "--frames",
            "60",
            "--message",
            r#"{"light":[0,0,0,1]}"#,
            "--repeat",
            "1000",
            "--interval",
            "2",
        ],
        T,
    );
    assert!(st.success(), "sender: {err:?}");
    assert!(
        err.iter().any(|l| l.contains("accepted 1000 message(s)")),
        "{err:?}"
    );
    let (msgs, summary) = stop_viewer(v);
    let expect = vec![serde_json::json!({"light": [0, 0, 0, 1]}); 1000];
    assert_exactly_once_in_order(&msgs, &expect);
    // The stream ran alongside, and the run ended only when both were done.
    assert_eq!(summary["frames"], 60, "{summary}");
    assert_eq!(summary["messages"], 1000);
}

#[test]
fn stdin_messages_survive_loss_duplication_and_reordering() {
    let mut v = viewer(&[]);
    let forward = Faults {
        drop: 0.1,
        duplicate: 0.05,
        reorder: 0.1,
        reorder_by: Duration::from_millis(3),
        jitter: Duration::from_micros(500),
        ..Faults::default()
    };
    let relay = Relay::start(v.listening_addr(), forward, Faults::loss(0.1), 7).unwrap();
    // Distinct values, one of them large enough to need many chunks, so order and
    // reassembly both show.
    let expect: Vec<serde_json::Value> = (0..200)
        .map(|i| {
            if i == 100 {
                serde_json::json!({ "i": i, "blob": "x".repeat(30_000) })
            } else {
                serde_json::json!({ "i": i })
            }
        })
        .collect();
    let input: String = expect.iter().map(|m| format!("{m}\n")).collect();
    let s = Proc::spawn_stdin(
        SEND,
        &[&relay.addr().to_string(), "--message", "-"],
        input.into_bytes(),
    );
    let (st, _, err) = s.finish(T);
    assert!(st.success(), "sender: {err:?}");
    let (msgs, _) = stop_viewer(v);
    assert_exactly_once_in_order(&msgs, &expect);
    let stats = relay.stats();
    eprintln!("relay: {stats:?}");
}

#[test]
fn invalid_json_is_refused_with_the_viewer_reason_and_never_printed() {
    let mut v = viewer(&[]);
    let addr = v.listening_addr().to_string();
    let (st, _, err) = run(
        SEND,
        &[
            &addr,
            "--message",
            "[1,2]",
            "--message",
            "{\"a\": tru}",
            "--message",
            "3",
        ],
        T,
    );
    assert!(!st.success());
    assert!(
        err.iter().any(|l| l.contains(
            "message 2 refused by the viewer: invalid JSON: expected ident at line 1 column"
        )),
        "{err:?}"
    );
    assert!(
        err.iter().any(|l| l.contains("1 message(s) not delivered")),
        "{err:?}"
    );
    let (msgs, summary) = stop_viewer(v);
    let got: Vec<_> = msgs.iter().map(|m| m["message"].clone()).collect();
    assert_eq!(got, vec![serde_json::json!([1, 2]), serde_json::json!(3)]);
    // The refused message used its sequence number: the next one is 3 (the name was 0).
    assert_eq!(msgs[1]["seq"], 3);
    assert_eq!(summary["messages_refused"], 1);
}

#[test]
fn an_oversize_message_is_refused_before_sending() {
    let mut v = viewer(&[]);
    let addr = v.listening_addr().to_string();
    let big = format!("\"{}\"", "y".repeat(70_000));
    let (st, _, err) = run(SEND, &[&addr, "--message", &big], T);
    assert!(!st.success());
    assert!(
        err.iter()
            .any(|l| l.contains("message of 70002 bytes is larger than the limit of 65536 bytes")),
        "{err:?}"
    );
    let (msgs, _) = stop_viewer(v);
    assert!(msgs.is_empty());
}

#[test]
fn a_message_with_no_viewer_fails_with_a_clear_reason() {
    // A bound socket that never answers: nothing else can be listening on its port.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let (st, _, err) = run(SEND, &[&addr, "--message", "1"], T);
    assert!(!st.success());
    let last = err.last().unwrap();
    assert!(
        last.contains("no answer from") && last.contains("is cam-view running there"),
        "{err:?}"
    );
}

#[test]
fn a_message_run_prints_no_frame_rates_and_the_senders_json_no_viewer_counters() {
    let mut v = viewer(&[]);
    let addr = v.listening_addr().to_string();
    let (st, _, err) = run(SEND, &[&addr, "--message", "1", "--message", "2"], T);
    assert!(st.success(), "{err:?}");
    let line = err
        .iter()
        .find(|l| l.contains("summary:"))
        .unwrap_or_else(|| panic!("no summary line: {err:?}"));
    assert!(line.ends_with("summary: 2 messages"), "{err:?}");
    for noise in ["fps", "Mbit/s", "frames"] {
        assert!(!err.iter().any(|l| l.contains(noise)), "{noise}: {err:?}");
    }
    let (st, out, err) = run(SEND, &[&addr, "--message", "3", "--stats-json"], T);
    assert!(st.success(), "{err:?}");
    let s = summary(&out);
    assert_eq!(s["messages"], 1, "{s}");
    for k in [
        "crc_failures",
        "decode_errors",
        "skipped_frames",
        "deferred_datagrams",
        "unsaved_frames",
    ] {
        assert!(s.get(k).is_none(), "the sender's summary has {k}: {s}");
    }
    let _ = stop_viewer(v);
}

#[test]
fn ctrl_c_before_anything_was_delivered_exits_1() {
    // A bound socket that never answers: the message is still waiting when Ctrl-C comes.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let mut s = Proc::spawn(SEND, &[&addr, "--message", "1"]);
    s.wait_line("sending messages to", Duration::from_secs(20))
        .expect("the sender starts");
    s.interrupt();
    let (st, _, err) = s.finish(T);
    assert_eq!(st.code(), Some(1), "{err:?}");
    assert!(
        err.last()
            .unwrap()
            .contains("error: stopped before anything was delivered"),
        "{err:?}"
    );
}
