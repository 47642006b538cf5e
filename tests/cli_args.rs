//! The command line itself: each program's help, the address forms `--listen` takes, and
//! plain-word errors for bad values and for options that need another one. The real
//! binaries, loopback only.

mod support;

use std::time::Duration;

use support::*;

const T: Duration = Duration::from_secs(30);

/// Runs a program that must fail at once; returns its exit code and its stderr as one string.
fn fails(bin: &str, args: &[&str]) -> (Option<i32>, String) {
    let (status, _, err) = run(bin, args, T);
    assert!(!status.success(), "{bin} {args:?} succeeded: {err:?}");
    (status.code(), err.join("\n"))
}

#[test]
fn each_help_has_its_own_summary_and_examples() {
    let (st, out, err) = run(VIEW, &["--help"], T);
    assert!(st.success(), "{err:?}");
    let first = out.lines().next().unwrap_or("");
    assert!(
        first.starts_with("Receive a live picture from cam-send"),
        "{out}"
    );
    assert!(!out.contains("Stream a webcam"), "{out}");
    assert!(out.contains("Examples:\n  cam-view"), "{out}");
    assert!(out.contains("cam-view --demo"), "{out}");

    let (st, out, err) = run(SEND, &["--help"], T);
    assert!(st.success(), "{err:?}");
    let first = out.lines().next().unwrap_or("");
    assert!(first.starts_with("Stream a webcam"), "{out}");
    assert!(!out.contains("Receive a live picture"), "{out}");
    assert!(out.contains("Examples:\n  cam-send"), "{out}");
    assert!(out.contains("--image photo.jpg"), "{out}");
    // Options that need another one say so in their help.
    assert!(out.contains("Only with --compat tutorial"), "{out}");
}

/// Every form of `--listen` starts a viewer, which says where it listens; it then gets one
/// frame from a sender aimed there, so the address is a real one.
#[test]
fn listen_takes_a_port_an_address_ipv6_or_a_name() {
    for (listen, want) in [
        ("0", "0.0.0.0:"),
        ("127.0.0.1:0", "127.0.0.1:"),
        ("[::1]:0", "[::1]:"),
        ("localhost:0", ""),
    ] {
        let mut v = Proc::spawn(VIEW, &["--listen", listen, "--headless", "--frames", "1"]);
        let addr = v.listening_addr();
        assert!(addr.to_string().starts_with(want), "{listen}: {addr}");
        assert_ne!(addr.port(), 0, "{listen}");
        if listen == "localhost:0" {
            assert!(addr.ip().is_loopback(), "{listen}: {addr}");
        }
        // Aim at loopback even when the viewer listens on every interface.
        let dest = if addr.ip().is_unspecified() {
            format!("127.0.0.1:{}", addr.port())
        } else {
            addr.to_string()
        };
        let (st, _, err) = run(
            SEND,
            &[&dest, "--pattern", "--size", "64x48", "--frames", "1"],
            T,
        );
        assert!(st.success(), "{listen}: sender: {err:?}");
        let (vst, _, verr) = v.finish(T);
        assert!(vst.success(), "{listen}: viewer: {verr:?}");
    }
}

#[test]
fn a_bad_listen_address_names_the_accepted_forms() {
    // None of these reaches a name server: each is refused by its form.
    for bad in ["nonsense:port", "no such host", "127.0.0.1:99999", "[::1"] {
        let (code, err) = fails(VIEW, &["--listen", bad, "--headless"]);
        assert_eq!(code, Some(2), "{bad}: {err}");
        assert!(
            err.contains("PORT, HOST, HOST:PORT or [IPv6]:PORT"),
            "{bad}: {err}"
        );
    }
    let (_, err) = fails(VIEW, &["--listen", "127.0.0.1:99999", "--headless"]);
    assert!(err.contains("invalid port '99999'"), "{err}");
}

#[test]
fn a_bad_destination_port_is_named() {
    let (code, err) = fails(SEND, &["127.0.0.1:99999"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("invalid port '99999'"), "{err}");
    assert!(!err.contains("Name or service not known"), "{err}");
}

#[test]
fn json_port_without_compat_says_what_it_needs() {
    for bin in [VIEW, SEND] {
        let (code, err) = fails(bin, &["--json-port", "7000"]);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("--json-port only means something with --compat tutorial"),
            "{err}"
        );
        assert!(!err.contains("required argument"), "{err}");
    }
}

#[test]
fn options_that_need_another_say_which() {
    let (_, err) = fails(SEND, &["--loop"]);
    assert!(err.contains("--loop repeats an --image"), "{err}");
    let (_, err) = fails(SEND, &["--repeat", "3"]);
    assert!(err.contains("--repeat repeats the --message list"), "{err}");
    let (_, err) = fails(SEND, &["--pattern", "--interval", "100"]);
    assert!(err.contains("--interval is the time between"), "{err}");
    let (_, err) = fails(VIEW, &["--headless", "--show-messages"]);
    assert!(err.contains("--show-messages draws on the window"), "{err}");
    let (_, err) = fails(SEND, &["--sdp", "cam.sdp"]);
    assert!(err.contains("--sdp describes an RTP stream"), "{err}");
    let (_, err) = fails(SEND, &["rtp://127.0.0.1:5004", "--message", "{}"]);
    assert!(err.contains("rtp:// carries pictures only"), "{err}");
    let (_, err) = fails(SEND, &["rtp://127.0.0.1:notaport"]);
    assert!(err.contains("invalid port"), "{err}");
    let (code, err) = fails(VIEW, &["--headless", "--http-max-clients", "3"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--http-max-clients limits the web view"),
        "{err}"
    );
}

#[test]
fn a_web_view_port_in_use_is_one_line_that_says_what_to_do() {
    // The port is held by this test's own listener on loopback.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    let (code, err) = fails(
        VIEW,
        &["--headless", "--listen", "127.0.0.1:0", "--http", &port],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "error: cannot serve the web view on 127.0.0.1:{port}: the address is already in use"
        )) && err.contains("--http ADDR:PORT"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
