//! `--compat tutorial`: a client written here speaks the classic Python/OpenCV tutorial's
//! format byte for byte (`struct.pack('l', len)`, 1024-byte chunks, a blocking wait for the
//! reply) against the real `cam-view`; and `cam-send --compat tutorial` talks to it. Loopback
//! only; every wait is bounded.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use support::*;

const T: Duration = Duration::from_secs(60);

/// The tutorial's client: its socket, and what it does for one picture.
struct TutorialClient {
    sock: UdpSocket,
    server: SocketAddr,
}

impl TutorialClient {
    fn new(server: SocketAddr) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        // The original blocks for ever; a test must not.
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        TutorialClient { sock, server }
    }

    /// `s.sendto(struct.pack('l', len(data)))`, then `data[i:i+1024]` for each i, skipping
    /// the chunks in `lose`.
    fn send_picture(&self, header: &[u8], data: &[u8], lose: &[usize]) {
        self.sock.send_to(header, self.server).unwrap();
        for (i, chunk) in data.chunks(1024).enumerate() {
            if !lose.contains(&i) {
                self.sock.send_to(chunk, self.server).unwrap();
            }
        }
    }

    /// `s.recvfrom(...)`: the server's reply, or None after 5 s.
    fn reply(&self) -> Option<String> {
        let mut buf = [0u8; 1024];
        match self.sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                assert_eq!(from, self.server, "the reply comes from the server's port");
                Some(String::from_utf8_lossy(&buf[..n]).into_owned())
            }
            Err(_) => None,
        }
    }
}

fn long_header(len: usize) -> [u8; 8] {
    (len as u64).to_le_bytes()
}

fn compat_viewer(save: &Path) -> (Proc, SocketAddr, SocketAddr) {
    let mut v = Proc::spawn(
        VIEW,
        &[
            "--headless",
            "--listen",
            "127.0.0.1:0",
            "--compat",
            "tutorial",
            "--json-port",
            "0",
            "--save",
            save.to_str().unwrap(),
            "--stats-json",
        ],
    );
    let pictures = v.listening_addr();
    let line = v
        .wait_line("JSON datagrams on ", Duration::from_secs(10))
        .expect("the JSON port is announced");
    let json = line
        .rsplit("JSON datagrams on ")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (v, pictures, json)
}

/// The saved picture `seq`. The viewer answers before it writes the file, so a picture just
/// answered may take a moment to appear (bounded: 5 s).
fn saved(dir: &Path, seq: u32) -> Vec<u8> {
    let path = dir.join(format!("{seq:08}.jpg"));
    for _ in 0..100 {
        if let Ok(b) = std::fs::read(&path) {
            return b;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("picture {seq} not saved in {}", path.display())
}

#[test]
fn tutorial_pictures_arrive_byte_exact_and_a_lost_chunk_costs_one_picture() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let jpegs = write_jpegs(src.path(), 5, 320, 240);
    assert!(
        jpegs.iter().all(|j| j.len() > 3 * 1024),
        "several chunks each"
    );
    let (v, server, _) = compat_viewer(out.path());
    let c = TutorialClient::new(server);

    // Two pictures the tutorial's way.
    for j in &jpegs[..2] {
        c.send_picture(&long_header(j.len()), j, &[]);
        assert_eq!(c.reply().as_deref(), Some("get message!!!"));
    }
    // A chunk lost: the original would hang here for ever. camwire gives the picture up after
    // 500 ms of silence and says so, so a client blocked on its reply moves on.
    c.send_picture(&long_header(jpegs[2].len()), &jpegs[2], &[1]);
    assert_eq!(c.reply().as_deref(), Some("lost picture"));
    // The next picture arrives as if nothing happened.
    c.send_picture(&long_header(jpegs[3].len()), &jpegs[3], &[]);
    assert_eq!(c.reply().as_deref(), Some("get message!!!"));
    // A client that does not wait: a lost chunk, then at once the next header resynchronises.
    c.send_picture(&long_header(jpegs[2].len()), &jpegs[2], &[0]);
    // Windows packs 'l' in 4 bytes.
    c.send_picture(&(jpegs[4].len() as u32).to_le_bytes(), &jpegs[4], &[]);
    assert_eq!(c.reply().as_deref(), Some("get message!!!"));

    v.interrupt();
    let (st, stdout, err) = v.finish(T);
    assert!(st.success(), "{err:?}");
    // Numbered in arrival order: the two lost pictures are not among them.
    for (seq, j) in [&jpegs[0], &jpegs[1], &jpegs[3], &jpegs[4]]
        .iter()
        .enumerate()
    {
        assert!(
            saved(out.path(), seq as u32) == **j,
            "picture {seq} differs"
        );
    }
    let s = summary(&stdout);
    assert_eq!(s["frames"], 4);
    assert_eq!(s["dropped_frames"], 2);
    assert_eq!(s["decode_errors"], 0);
}

#[test]
fn tutorial_json_port_answers_and_prints_each_value() {
    let out = tempfile::tempdir().unwrap();
    let (v, _, json) = compat_viewer(out.path());
    let c = TutorialClient::new(json);
    // The tutorial's second client: a list every 10 ms (here, 20 of them).
    for i in 0..20 {
        let msg = format!("[0,0,0,{}]", i % 2);
        c.sock.send_to(msg.as_bytes(), json).unwrap();
        assert_eq!(c.reply().as_deref(), Some("get the msg"), "message {i}");
        std::thread::sleep(Duration::from_millis(10));
    }
    c.sock.send_to(b"[0,0,", json).unwrap();
    let refusal = c.reply().unwrap();
    assert!(
        refusal.starts_with("invalid JSON: EOF while parsing"),
        "{refusal}"
    );
    v.interrupt();
    let (st, stdout, err) = v.finish(T);
    assert!(st.success(), "{err:?}");
    let msgs = message_lines(&stdout);
    assert_eq!(msgs.len(), 20);
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m["via"], "tutorial");
        assert_eq!(m["seq"], i as u64);
        assert_eq!(m["message"], serde_json::json!([0, 0, 0, i % 2]));
        assert!(m.get("session").is_none());
    }
}

#[test]
fn cam_send_compat_tutorial_and_camwire_share_the_compat_viewer() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let jpegs = write_jpegs(src.path(), 4, 320, 240);
    let (v, server, json) = compat_viewer(out.path());
    let dest = server.to_string();
    let json_port = json.port().to_string();
    // The tutorial's format from cam-send: pictures and a message.
    let (st, _, err) = run(
        SEND,
        &[
            &dest,
            "--compat",
            "tutorial",
            "--json-port",
            &json_port,
            "--image",
            src.path().to_str().unwrap(),
            "--fps",
            "0",
            "--message",
            r#"{"from":"cam-send"}"#,
        ],
        T,
    );
    assert!(st.success(), "{err:?}");
    assert!(err.iter().any(|l| l.contains("4 frames")), "{err:?}");
    for (seq, j) in jpegs.iter().enumerate() {
        assert!(saved(out.path(), seq as u32) == *j, "picture {seq} differs");
    }
    // camwire's own protocol on the same port still works in compatibility mode.
    let (st, _, err) = run(
        SEND,
        &[
            &dest,
            "--pattern",
            "--size",
            "320x240",
            "--frames",
            "10",
            "--fps",
            "0",
        ],
        T,
    );
    assert!(st.success(), "{err:?}");
    v.interrupt();
    let (st, stdout, err) = v.finish(T);
    assert!(st.success(), "{err:?}");
    let s = summary(&stdout);
    assert_eq!(s["frames"], 14, "{s}");
    let msgs = message_lines(&stdout);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["message"]["from"], "cam-send");
}

#[test]
fn compat_sender_without_a_server_says_so() {
    let src = tempfile::tempdir().unwrap();
    write_jpegs(src.path(), 1, 64, 48);
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (st, _, err) = run(
        SEND,
        &[
            &silent.local_addr().unwrap().to_string(),
            "--compat",
            "tutorial",
            "--image",
            src.path().join("frame_000.jpg").to_str().unwrap(),
        ],
        T,
    );
    assert_eq!(st.code(), Some(1));
    let last = err.last().unwrap();
    assert!(last.contains("no \"get message!!!\" from"), "{err:?}");
}

#[test]
fn a_busy_json_port_names_the_option_to_change() {
    let busy = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let (st, _, err) = run(
        VIEW,
        &[
            "--headless",
            "--listen",
            "127.0.0.1:0",
            "--compat",
            "tutorial",
            "--json-port",
            &port,
        ],
        Duration::from_secs(60),
    );
    assert_eq!(st.code(), Some(1), "{err:?}");
    let last = err.last().unwrap();
    assert!(
        last.contains("already in use") && last.contains("--json-port"),
        "{err:?}"
    );
}
