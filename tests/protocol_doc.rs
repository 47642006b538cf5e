//! Keeps docs/PROTOCOL.md's golden datagrams true: every one is found, parses to the type the
//! document names, and encodes back to the same bytes. Needs no feature (runs with
//! `--no-default-features` too).
//!
//! The document's convention (its section 7): a line `Golden datagram: NAME (type N)`, then a
//! fenced block with the info string `hex`, holding two-digit hex bytes; `#` starts a comment.

use camwire::protocol::session_info::SessionInfo;
use camwire::protocol::wire::{parse, Content, Datagram, MessageStatus};

const DOC: &str = include_str!("../docs/PROTOCOL.md");

/// Every datagram type of the document's section 3: (type byte, name).
const TYPES: [(u8, &str); 7] = [
    (1, "FRAME_CHUNK"),
    (2, "ACK"),
    (3, "NACK"),
    (4, "BYE"),
    (5, "MESSAGE"),
    (6, "MESSAGE_ACK"),
    (7, "KEEPALIVE"),
];

struct Golden {
    /// Line number (1-based) of the block's opening fence.
    line: usize,
    name: String,
    type_byte: u8,
    bytes: Vec<u8>,
}

/// Finds every ```hex block with the line naming it; panics on a block that breaks the
/// convention, so a damaged example fails loudly instead of being skipped.
fn goldens(doc: &str) -> Vec<Golden> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "```hex" {
            i += 1;
            continue;
        }
        let line = i + 1;
        let label = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_else(|| panic!("line {line}: a hex block with nothing before it"));
        let (name, type_byte) = parse_label(label)
            .unwrap_or_else(|| panic!("line {line}: a hex block must follow a line `Golden datagram: NAME (type N)`, found {label:?}"));
        let mut bytes = Vec::new();
        i += 1;
        while i < lines.len() && lines[i].trim() != "```" {
            let data = lines[i].split('#').next().unwrap_or("");
            for tok in data.split_whitespace() {
                assert!(
                    tok.len() == 2,
                    "line {}: {tok:?} is not a two-digit hex byte",
                    i + 1
                );
                let b = u8::from_str_radix(tok, 16)
                    .unwrap_or_else(|_| panic!("line {}: {tok:?} is not hex", i + 1));
                bytes.push(b);
            }
            i += 1;
        }
        assert!(
            i < lines.len(),
            "line {line}: the hex block is never closed"
        );
        assert!(!bytes.is_empty(), "line {line}: an empty hex block");
        out.push(Golden {
            line,
            name,
            type_byte,
            bytes,
        });
        i += 1;
    }
    out
}

/// `Golden datagram: ACK (type 2)` gives ("ACK", 2).
fn parse_label(label: &str) -> Option<(String, u8)> {
    let rest = label.trim().strip_prefix("Golden datagram: ")?;
    let (name, rest) = rest.split_once(" (type ")?;
    let n = rest.strip_suffix(')')?.parse().ok()?;
    Some((name.to_string(), n))
}

/// The type byte a parsed datagram has on the wire.
fn type_of(d: &Datagram<'_>) -> u8 {
    match d {
        Datagram::Chunk { .. } => 1,
        Datagram::Ack { .. } => 2,
        Datagram::Nack { .. } => 3,
        Datagram::Bye { .. } => 4,
        Datagram::MessageChunk { .. } => 5,
        Datagram::MessageAck { .. } => 6,
        Datagram::KeepAlive { .. } => 7,
    }
}

#[test]
fn every_golden_datagram_parses_to_its_type_and_encodes_back() {
    let found = goldens(DOC);
    assert!(
        found.len() >= TYPES.len(),
        "docs/PROTOCOL.md has {} golden datagrams, fewer than its {} types",
        found.len(),
        TYPES.len()
    );
    for g in &found {
        let known = TYPES.iter().find(|(_, n)| *n == g.name);
        assert_eq!(
            known.map(|(t, _)| *t),
            Some(g.type_byte),
            "line {}: {} is not type {} in section 3",
            g.line,
            g.name,
            g.type_byte
        );
        let d = parse(&g.bytes).unwrap_or_else(|e| {
            panic!(
                "line {}: the golden {} does not parse: {e} ({})",
                g.line,
                g.name,
                e.kind()
            )
        });
        assert_eq!(
            type_of(&d),
            g.type_byte,
            "line {}: the golden {} parses as {d:?}",
            g.line,
            g.name
        );
        assert_eq!(g.bytes[3], g.type_byte, "line {}: type byte", g.line);
        let mut out = vec![0u8; g.bytes.len() + 16];
        let n = d.encode(&mut out).expect("encodes");
        assert_eq!(
            &out[..n],
            &g.bytes[..],
            "line {}: the golden {} does not encode back to the same bytes",
            g.line,
            g.name
        );
    }
    for (t, name) in TYPES {
        assert!(
            found.iter().any(|g| g.type_byte == t),
            "docs/PROTOCOL.md has no golden {name} (type {t})"
        );
    }
}

/// The examples' fields, as the document's tables and prose state them.
#[test]
fn golden_datagrams_say_what_the_text_says() {
    let found = goldens(DOC);
    let get = |name: &str| {
        let g = found
            .iter()
            .find(|g| g.name == name)
            .unwrap_or_else(|| panic!("no golden {name}"));
        parse(&g.bytes).unwrap()
    };
    match get("FRAME_CHUNK") {
        Datagram::Chunk {
            session,
            frame,
            index,
            attempt,
            payload,
        } => {
            assert_eq!(session, 0xDEAD_BEEF);
            assert_eq!((frame.seq, frame.count, frame.len), (16_909_060, 2, 5));
            assert_eq!((frame.width, frame.height), (1280, 720));
            assert_eq!(frame.crc32, 0xCAFE_BABE);
            assert_eq!(frame.timestamp_us, 4_822_678_189_205_111);
            assert_eq!((index, attempt), (0, 1));
            assert_eq!(payload, [0xaa, 0xbb, 0xcc]);
        }
        d => panic!("{d:?}"),
    }
    assert!(matches!(
        get("ACK"),
        Datagram::Ack {
            session: 7,
            seq: 258,
            index: 5,
            attempt: 3,
            window: 8,
            spread_us: 12_345
        }
    ));
    match get("NACK") {
        Datagram::Nack {
            session: 7,
            seq: 258,
            base,
            nbits,
            bitmap,
        } => {
            let missing: Vec<u16> =
                camwire::protocol::wire::nack_missing(base, nbits, bitmap).collect();
            assert_eq!(missing, [4, 6]);
        }
        d => panic!("{d:?}"),
    }
    assert!(matches!(get("BYE"), Datagram::Bye { session: 7 }));
    assert!(matches!(
        get("KEEPALIVE"),
        Datagram::KeepAlive { session: 7 }
    ));
    match get("MESSAGE") {
        Datagram::MessageChunk {
            session,
            msg,
            payload,
            ..
        } => {
            assert_eq!((session, msg.seq), (0xDEAD_BEEF, 7));
            assert_eq!(msg.content, Content::Json);
            assert_eq!(payload, b"[0,0,0,1]");
            assert_eq!(msg.crc32, crc32fast::hash(payload), "the real CRC-32");
        }
        d => panic!("{d:?}"),
    }
    assert!(matches!(
        get("MESSAGE_ACK"),
        Datagram::MessageAck {
            session: 0xDEAD_BEEF,
            seq: 7,
            attempt: 2,
            reason: "EOF",
            ..
        }
    ));
    // Section 12.6: the sender's name, a MESSAGE of content 2.
    let infos: Vec<_> = found
        .iter()
        .filter_map(|g| match parse(&g.bytes) {
            Ok(Datagram::MessageChunk {
                session,
                msg,
                index,
                payload,
                ..
            }) if msg.content == Content::SessionInfo => Some((session, msg, index, payload)),
            _ => None,
        })
        .collect();
    assert_eq!(infos.len(), 1, "one golden session-info MESSAGE");
    let (session, msg, index, payload) = infos[0];
    assert_eq!((session, msg.seq, index, msg.count), (0xDEAD_BEEF, 0, 0, 1));
    assert_eq!(payload, br#"{"name":"door"}"#);
    assert_eq!(msg.crc32, crc32fast::hash(payload), "the real CRC-32");
    assert_eq!(
        SessionInfo::parse(payload).expect("a valid name").name,
        "door"
    );
    // Its answer: delivered, no reason.
    assert!(found.iter().any(|g| matches!(
        parse(&g.bytes),
        Ok(Datagram::MessageAck {
            session: 0xDEAD_BEEF,
            seq: 0,
            status: MessageStatus::Delivered,
            attempt: 0,
            reason: "",
        })
    )));
}

/// The convention itself: a changed byte, a removed block or a wrong label is noticed.
#[test]
fn damaged_examples_are_noticed() {
    let found = goldens(DOC);
    let ack = found.iter().find(|g| g.name == "ACK").unwrap();
    let mut bad = ack.bytes.clone();
    bad.push(0);
    assert!(parse(&bad).is_err(), "an ACK one byte too long");
    let doc = DOC.replacen("Golden datagram: ACK (type 2)", "An ACK", 1);
    let r = std::panic::catch_unwind(|| goldens(&doc));
    assert!(r.is_err(), "a hex block without its label is refused");
    let doc = DOC.replacen(
        "Golden datagram: KEEPALIVE (type 7)\n\n```hex",
        "```text",
        1,
    );
    assert!(!goldens(&doc).iter().any(|g| g.name == "KEEPALIVE"));
}

/// The bytes of the one ```mkv block, after the line `Golden recording: ...` (section 16).
fn golden_recording(doc: &str) -> Vec<u8> {
    let lines: Vec<&str> = doc.lines().collect();
    let open = lines
        .iter()
        .position(|l| l.trim() == "```mkv")
        .expect("docs/PROTOCOL.md has no ```mkv block");
    let label = lines[..open]
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap();
    assert!(
        label.starts_with("Golden recording: "),
        "the ```mkv block must follow `Golden recording: ...`, found {label:?}"
    );
    let mut bytes = Vec::new();
    for (n, line) in lines[open + 1..].iter().enumerate() {
        if line.trim() == "```" {
            return bytes;
        }
        for tok in line.split('#').next().unwrap_or("").split_whitespace() {
            let at = open + n + 2;
            assert_eq!(
                tok.len(),
                2,
                "line {at}: {tok:?} is not a two-digit hex byte"
            );
            bytes
                .push(u8::from_str_radix(tok, 16).unwrap_or_else(|_| panic!("line {at}: {tok:?}")));
        }
    }
    panic!("the ```mkv block is never closed")
}

#[test]
fn the_golden_recording_is_what_the_muxer_writes() {
    use camwire::media::mkv::{Header, MkvWriter};
    let golden = golden_recording(DOC);
    assert_eq!(golden.len(), 146);
    let header = Header {
        width: 640,
        height: 480,
        title: None,
        date_unix_us: None,
        track_uid: 1,
        writing_app: "camwire".into(),
    };
    let mut out = Vec::new();
    let mut w = MkvWriter::new(&mut out, &header).unwrap();
    let written = w.write_frame(&[0xFF, 0xD8], 1_700_000_000_000_000).unwrap();
    assert_eq!(
        out, golden,
        "media::mkv and docs/PROTOCOL.md section 16 disagree"
    );
    // The offsets the document's comments give.
    assert_eq!(&golden[40..44], [0x18, 0x53, 0x80, 0x67]);
    assert_eq!(&golden[52..56], [0x15, 0x49, 0xa9, 0x66]);
    assert_eq!(&golden[84..88], [0x16, 0x54, 0xae, 0x6b]);
    assert_eq!(&golden[123..127], [0x1f, 0x43, 0xb6, 0x75]);
    assert_eq!(written.block_offset, 138);
}
