//! `cam-view --http` against real HTTP clients (ureq, and raw sockets for misbehaving ones):
//! the MJPEG parts are the sender's JPEGs byte for byte, several clients are served at once, a
//! client that never reads harms nobody, the client limit answers 503, the key's token guards
//! everything, and a flood of junk connections leaves the server serving.

mod support;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use camwire::protocol::key::Key;
use camwire::protocol::link::crypto::WebToken;
use camwire::web::mjpeg::{PartReader, CONTENT_TYPE};
use camwire::web::{HttpConfig, WebView};
use support::{write_jpegs, Proc, VIEW};

const T: Duration = Duration::from_secs(30);

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(T))
        .build()
        .new_agent()
}

/// Reads `n` JPEGs from an MJPEG stream at `url`, or fails at the deadline.
fn read_parts(url: &str, n: usize) -> Vec<Vec<u8>> {
    let resp = agent().get(url).call().unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    assert_eq!(resp.headers()["content-type"], CONTENT_TYPE);
    let mut body = resp.into_body().into_reader();
    let mut reader = PartReader::new();
    let mut parts = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + T;
    while parts.len() < n {
        assert!(
            Instant::now() < deadline,
            "{url}: {} of {n} parts",
            parts.len()
        );
        let k = body.read(&mut buf).unwrap();
        assert!(k > 0, "{url}: the stream ended after {} parts", parts.len());
        parts.extend(reader.push(&buf[..k]));
    }
    parts
}

/// A headless viewer with the web view on a free port; returns it and the page's URL.
fn viewer(extra: &[&str]) -> (Proc, String) {
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--headless",
        "--http",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let mut v = Proc::spawn(VIEW, &args);
    let url = v.web_view_url();
    (v, url)
}

/// A sender of `dir`'s pictures, looped at 30 fps, to the viewer `v`.
fn sender(v: &mut Proc, dir: &std::path::Path, extra: &[&str]) -> Proc {
    support::image_loop_sender(&v.listening_addr().to_string(), dir, 30, extra)
}

#[test]
fn every_part_is_a_jpeg_the_sender_sent_and_several_clients_are_served_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let sent: HashSet<Vec<u8>> = write_jpegs(dir.path(), 6, 320, 240).into_iter().collect();
    let (mut v, url) = viewer(&[]);
    // Before any sender: the page is there, the snapshot says to try again.
    let page = agent().get(&url).call().unwrap();
    assert_eq!(page.status(), 200);
    let snap = format!("{url}snapshot.jpg");
    let early = agent().get(&snap).call().unwrap();
    assert_eq!(early.status(), 503);
    let _s = sender(&mut v, dir.path(), &["--name", "porch cam"]);
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let u = format!("{url}stream.mjpg");
            thread::spawn(move || read_parts(&u, 40))
        })
        .collect();
    for c in clients {
        let parts = c.join().unwrap();
        let distinct: HashSet<&Vec<u8>> = parts.iter().collect();
        for p in &parts {
            assert!(
                sent.contains(p),
                "a part of {} bytes is no sent JPEG",
                p.len()
            );
        }
        assert!(
            distinct.len() >= 5,
            "only {} distinct frames",
            distinct.len()
        );
    }
    // The snapshot is a sent JPEG too, and the statistics are the viewer's JSON.
    let mut snap = agent().get(&snap).call().unwrap();
    assert_eq!(snap.status(), 200);
    assert_eq!(snap.headers()["content-type"], "image/jpeg");
    assert!(sent.contains(&snap.body_mut().read_to_vec().unwrap()));
    let mut stats = agent().get(&format!("{url}stats")).call().unwrap();
    let stats: serde_json::Value =
        serde_json::from_slice(&stats.body_mut().read_to_vec().unwrap()).unwrap();
    assert_eq!(stats["role"], "view");
    assert_eq!(stats["peer"], "connected");
    assert_eq!(stats["sender"], "porch cam", "{stats}");
    assert_eq!(stats["senders"][0]["name"], "porch cam", "{stats}");
    // The stream of the sender by name is the same stream.
    let named = format!("{url}stream.mjpg?sender=porch%20cam");
    assert!(read_parts(&named, 3).iter().all(|p| sent.contains(p)));
    let unknown = agent()
        .get(&format!("{url}stream.mjpg?sender=nobody"))
        .call()
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

/// A raw client that asks for the stream and then never reads a byte.
fn stalled_client(addr: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    // A small window so that the server's writes block soon.
    s.set_recv_buffer_size(4096).unwrap();
    s.connect(&addr.into()).unwrap();
    let mut s: TcpStream = s.into();
    s.write_all(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    s
}

fn host_port(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_client_that_never_reads_slows_neither_the_viewer_nor_the_other_clients() {
    let dir = tempfile::tempdir().unwrap();
    let sent: HashSet<Vec<u8>> = write_jpegs(dir.path(), 4, 640, 480).into_iter().collect();
    let (mut v, url) = viewer(&["--stats-json"]);
    let _s = sender(&mut v, dir.path(), &[]);
    let _stuck: Vec<TcpStream> = (0..3).map(|_| stalled_client(host_port(&url))).collect();
    // 90 frames at 30 fps: about three seconds, while the stuck clients' sockets are full.
    let parts = read_parts(&format!("{url}stream.mjpg"), 90);
    assert!(parts.iter().all(|p| sent.contains(p)));
    // And the viewer kept receiving at the sender's pace throughout.
    v.wait_reported_frames(150, T);
}

/// A web view of its own with frames published by the test, for the rules that need no
/// sender: the stall limit, the client limit, the token, the flood.
fn web_view(cfg: HttpConfig, key: Option<&Key>) -> (WebView, String) {
    let w = WebView::start(
        &HttpConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..cfg
        },
        key,
    )
    .unwrap();
    let url = w.url();
    (w, url)
}

/// Publishes a frame of `size` bytes every 10 ms until dropped.
struct Publisher {
    stop: Arc<std::sync::atomic::AtomicBool>,
    t: Option<thread::JoinHandle<()>>,
}

impl Publisher {
    fn start(w: &WebView, size: usize) -> Publisher {
        let hub = w.hub().clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let t = thread::spawn(move || {
            let mut seq = 0u32;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                let mut jpeg = vec![seq as u8; size];
                jpeg[..2].copy_from_slice(&[0xff, 0xd8]);
                hub.publish("test", seq, &jpeg);
                seq += 1;
                thread::sleep(Duration::from_millis(10));
            }
        });
        Publisher { stop, t: Some(t) }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.t.take() {
            let _ = t.join();
        }
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_stalled_client_is_disconnected_and_its_place_freed() {
    let (w, url) = web_view(
        HttpConfig {
            max_clients: 1,
            stall: Duration::from_millis(300),
            ..HttpConfig::default()
        },
        None,
    );
    let _p = Publisher::start(&w, 200_000);
    let _stuck = stalled_client(host_port(&url));
    wait_until("the stuck client to hold the one place", || {
        w.hub().counts().streams == 1
    });
    wait_until("the stuck client to be dropped", || {
        w.hub().counts().stalled == 1
    });
    wait_until("its place to be free", || w.hub().counts().streams == 0);
    assert_eq!(read_parts(&format!("{url}stream.mjpg"), 5).len(), 5);
}

#[test]
fn beyond_the_client_limit_a_clear_503_and_a_freed_place_is_taken_again() {
    let (w, url) = web_view(
        HttpConfig {
            max_clients: 2,
            ..HttpConfig::default()
        },
        None,
    );
    let _p = Publisher::start(&w, 1000);
    let stream = format!("{url}stream.mjpg");
    let a = agent().get(&stream).call().unwrap();
    let b = agent().get(&stream).call().unwrap();
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let mut c = agent().get(&stream).call().unwrap();
    assert_eq!(c.status(), 503);
    let why = c.body_mut().read_to_string().unwrap();
    assert!(why.contains("--http-max-clients"), "{why}");
    // The page and the numbers are still served: the limit is on streams.
    assert_eq!(agent().get(&url).call().unwrap().status(), 200);
    drop(a);
    wait_until("a place to be free", || w.hub().counts().streams < 2);
    assert_eq!(read_parts(&stream, 3).len(), 3);
    assert!(w.hub().counts().refused >= 1);
    drop(b);
}

#[test]
fn with_a_key_nothing_is_served_without_its_token_and_the_page_sets_the_cookie() {
    let key = Key::from_bytes([42; 32]);
    let token = WebToken::new(&key);
    let (w, url) = web_view(HttpConfig::default(), Some(&key));
    assert!(
        url.ends_with(&format!("/?token={}", token.as_str())),
        "{url}"
    );
    let base = url.split('?').next().unwrap().to_owned();
    let _p = Publisher::start(&w, 1000);
    for path in ["", "stream.mjpg", "snapshot.jpg", "stats", "nope"] {
        let r = agent().get(&format!("{base}{path}")).call().unwrap();
        assert_eq!(r.status(), 403, "{path}");
        let r = agent()
            .get(&format!(
                "{base}{path}?token=0123456789abcdef0123456789abcdef"
            ))
            .call()
            .unwrap();
        assert_eq!(r.status(), 403, "{path} with a wrong token");
    }
    let page = agent().get(&url).call().unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let pair = cookie.split(';').next().unwrap();
    let snap = agent()
        .get(&format!("{base}snapshot.jpg"))
        .header("Cookie", pair)
        .call()
        .unwrap();
    assert_eq!(snap.status(), 200);
    let stream = agent()
        .get(&format!("{base}stream.mjpg?token={}", token.as_str()))
        .call()
        .unwrap();
    assert_eq!(stream.status(), 200);
}

#[test]
fn a_flood_of_junk_and_idle_connections_leaves_the_server_serving() {
    let (w, url) = web_view(
        HttpConfig {
            max_clients: 4,
            ..HttpConfig::default()
        },
        None,
    );
    let _p = Publisher::start(&w, 5000);
    let addr = host_port(&url);
    let cap = 4 * 2 + 16;
    let junk: [&[u8]; 5] = [
        b"\x00\xff\xfe garbage\r\n\r\n",
        b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n",
        b"GET /",
        b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\nX: ",
        b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\nabc",
    ];
    let mut held = Vec::new();
    for i in 0..300 {
        if let Ok(mut s) = TcpStream::connect(addr) {
            let _ = s.write_all(junk[i % junk.len()]);
            held.push(s);
        }
        assert!(
            w.hub().connections() <= cap,
            "{} connections open, cap {cap}",
            w.hub().connections()
        );
    }
    assert!(
        w.hub().counts().refused > 0,
        "the connection cap never acted"
    );
    drop(held);
    wait_until("the flood's connections to close", || {
        w.hub().connections() == 0
    });
    assert_eq!(read_parts(&format!("{url}stream.mjpg"), 5).len(), 5);
}

#[test]
fn serving_beyond_loopback_says_so_once_and_a_key_puts_the_token_in_the_link() {
    let mut v = Proc::spawn(
        VIEW,
        &[
            "--headless",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "0.0.0.0:0",
        ],
    );
    let line = v.wait_line("web view: open http://127.0.0.1:", T);
    assert!(line.is_some(), "{:?}", v.stderr);
    let warn = v.wait_line("anyone who can reach that port can watch", T);
    assert!(warn.is_some(), "{:?}", v.stderr);
    drop(v);
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate().unwrap();
    let file = dir.path().join("camwire.key");
    std::fs::write(&file, key.to_text()).unwrap();
    let (v, url) = viewer(&["--key-file", file.to_str().unwrap()]);
    assert!(
        url.ends_with(&format!("/?token={}", WebToken::new(&key).as_str())),
        "{url}"
    );
    assert_eq!(agent().get(&url).call().unwrap().status(), 200);
    let bare = url.split('?').next().unwrap();
    assert_eq!(agent().get(bare).call().unwrap().status(), 403);
    v.interrupt();
}
