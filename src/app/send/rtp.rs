//! `cam-send rtp://HOST:PORT`: the network loop that sends RTP/JPEG (RFC 2435) instead of
//! camwire's protocol, for ffmpeg, GStreamer, VLC and RTSP servers. No answers come back: the
//! frames go out at the capture rate, each paced over half a frame interval so that a
//! receiver's socket buffer never takes a whole burst of them at once, and an RTCP sender
//! report goes to PORT+1 every five seconds.
//!
//! Repair: generic NACKs (RFC 4585) are taken on the RTP socket (where `cam-view --listen
//! rtp://` sends them, from the port the RTP goes to) and on the RTCP socket (where a
//! GStreamer `rtpbin` receiver with `do-retransmission` sends them), and the packets they
//! name are sent again from the last [`HISTORY_BYTES`], unchanged.
//!
//! A JPEG that RFC 2435 cannot carry as it is (4:4:4, grey, progressive, its own Huffman
//! tables: [`Unfit`]) is decoded and encoded again as baseline 4:2:0 with the standard tables,
//! and said once; one that cannot be read at all is skipped and said.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::select;

use super::network::Inputs;
use super::{SendConfig, SendOutcome, SendUpdate};
use crate::app::stats::{Role, StatsBook};
use crate::app::{AppError, Stop};
use crate::media::codec::{encode_rgb, Decoder};
use crate::rtp::jpeg::{analyse, Unfit};
use crate::rtp::packet::CLOCK_RATE;
use crate::rtp::payload::{JpegPayloader, SentHistory};
use crate::rtp::rtcp::{is_rtcp, nacks, SenderReport, REPORT_INTERVAL};
use crate::rtp::sdp::Description;

/// What `cam-send` does with RTP besides sending it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RtpOut {
    /// Write the session description here (else it is printed once on stderr).
    pub sdp: Option<PathBuf>,
}

/// What the RTP loop tells its owner besides the statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtpNotice {
    /// The session description, once the first frame's size is known: written to the file,
    /// or to be printed.
    Sdp {
        /// The text.
        text: String,
        /// Where it was written, if it was.
        written_to: Option<PathBuf>,
    },
    /// Frames of the source are encoded again to travel (said once).
    Reencoding(String),
    /// A frame could not be read and was skipped.
    Skipped(String),
    /// Where RTCP goes and comes from: sender reports to `reports_to`, NACKs taken on
    /// `feedback_on` (and on the RTP socket).
    Rtcp {
        /// PORT+1 at the destination.
        reports_to: SocketAddr,
        /// This sender's RTCP socket.
        feedback_on: SocketAddr,
    },
}

/// Bytes of packets kept to be sent again on a NACK: a second of a 30 Mbit/s stream.
pub const HISTORY_BYTES: usize = 4 << 20;

/// Packets a frame's pacing lets out back to back.
const BURST: u32 = 16;

/// Runs the RTP loop until the source ends or `stop` fires.
pub(super) fn run(
    cfg: &SendConfig,
    out: &RtpOut,
    sock: UdpSocket,
    inputs: Inputs,
    total: Option<u64>,
    stop: &Stop,
    on_update: &mut impl FnMut(SendUpdate<'_>),
) -> Result<SendOutcome, AppError> {
    let ssrc = fastrand::u32(..);
    let mut pay = JpegPayloader::new(ssrc, fastrand::u16(..), cfg.protocol.mtu);
    let ts_offset = fastrand::u32(..);
    // The capture time in microseconds since 1970 on the 90 kHz clock, from a random start;
    // only the low 32 bits travel, so the wrap is the RTP timestamp's own.
    let rtp_ts = |us: u64| {
        let ticks = u128::from(us) * u128::from(CLOCK_RATE) / 1_000_000;
        ts_offset.wrapping_add(ticks as u32)
    };
    let rtcp = rtcp_socket(cfg.dest);
    let readers_stop = Stop::new();
    let (nack_tx, nack_rx) = crossbeam_channel::bounded::<Vec<u16>>(64);
    let mut readers = Vec::new();
    if let Ok(s) = sock.try_clone() {
        readers.push(spawn_nack_reader(
            s,
            None,
            ssrc,
            nack_tx.clone(),
            readers_stop.clone(),
        ));
    }
    if let Some((s, reports_to)) = &rtcp {
        if let Ok(clone) = s.try_clone() {
            readers.push(spawn_nack_reader(
                clone,
                Some(cfg.dest.ip()),
                ssrc,
                nack_tx.clone(),
                readers_stop.clone(),
            ));
        }
        if let Ok(feedback_on) = s.local_addr() {
            on_rtp_notice(
                on_update,
                RtpNotice::Rtcp {
                    reports_to: *reports_to,
                    feedback_on,
                },
            );
        }
    }
    drop(nack_tx);
    // However the loop ends, the readers end with it.
    struct Readers(Stop, Vec<std::thread::JoinHandle<()>>);
    impl Drop for Readers {
        fn drop(&mut self) {
            self.0.trigger();
            for r in self.1.drain(..) {
                let _ = r.join();
            }
        }
    }
    let readers = Readers(readers_stop, readers);
    let mut history = SentHistory::new(HISTORY_BYTES);
    let cname = format!("camwire-{ssrc:08x}@{}", sock.local_addr()?.ip());
    let start = Instant::now();
    let mut book = StatsBook::new(Role::Send, start);
    let mut next_report = start + Duration::from_secs(1);
    let mut next_sr = start;
    let mut described = false;
    let mut told_reencode = false;
    let mut decoder = Decoder::new();
    let mut reencoded = Vec::new();
    let mut packets: Vec<Vec<u8>> = Vec::new();
    let (mut sent_packets, mut sent_octets, mut frames) = (0u32, 0u32, 0u64);
    let interval = (cfg.fps > 0.0).then(|| Duration::from_secs_f64(1.0 / cfg.fps));
    loop {
        if stop.is_set() || total.is_some_and(|t| frames >= t) {
            break;
        }
        let now = Instant::now();
        if now >= next_report {
            on_update(SendUpdate::Report(&book.interval(now)));
            next_report = (next_report + Duration::from_secs(1)).max(now);
        }
        if now >= next_sr {
            if let Some((s, reports_to)) = &rtcp {
                let wallclock = SystemTime::now();
                let us = crate::media::source::now_us();
                let sr = SenderReport {
                    ssrc,
                    wallclock,
                    rtp_timestamp: rtp_ts(us),
                    packets: sent_packets,
                    octets: sent_octets,
                };
                // Nobody may listen on PORT+1 (a plain receiver): the error is not ours.
                let _ = s.send_to(&sr.to_bytes(&cname), reports_to);
            }
            next_sr = now + REPORT_INTERVAL;
        }
        let wait = next_report.min(next_sr).saturating_duration_since(now);
        let frame = select! {
            recv(inputs.frames) -> f => match f {
                Ok(f) => f?,
                Err(_) => break,
            },
            recv(nack_rx) -> lost => {
                if let Ok(lost) = lost {
                    book.counts.nacks += 1;
                    let now = Instant::now();
                    for seq in lost {
                        if let Some(p) = history.resend(now, seq) {
                            if sock.send(p).is_ok() {
                                book.counts.retransmitted_chunks += 1;
                            }
                        }
                    }
                }
                continue;
            },
            recv(stop.channel()) -> _ => break,
            default(wait) => continue,
        };
        if let Some(r) = &inputs.record {
            // The frame as captured and encoded, even if RFC 2435 needs it encoded again.
            let (w, h) = (frame.width.into(), frame.height.into());
            r.push(cfg.record_name(), &frame.data, frame.timestamp_us, w, h);
        }
        while let Ok(n) = inputs.notices.try_recv() {
            on_update(SendUpdate::Source(n));
        }
        let parts = match analyse(&frame.data) {
            Ok(p) => Some(p),
            Err(Unfit::Malformed(why)) => {
                on_rtp_notice(on_update, RtpNotice::Skipped(why));
                None
            }
            Err(why) => {
                if !told_reencode {
                    told_reencode = true;
                    on_rtp_notice(on_update, RtpNotice::Reencoding(why.to_string()));
                }
                let again = match decoder.decode_rgb(&frame.data) {
                    Ok((w, h)) => encode_rgb(decoder.rgb(), w, h, cfg.quality, &mut reencoded)
                        .map_err(|e| e.to_string())
                        .and_then(|()| analyse(&reencoded).map_err(|e| e.to_string())),
                    Err(e) => Err(e.to_string()),
                };
                match again {
                    Ok(p) => Some(p),
                    Err(why) => {
                        on_rtp_notice(on_update, RtpNotice::Skipped(why));
                        None
                    }
                }
            }
        };
        if let Some(parts) = parts {
            if !described {
                described = true;
                let d = Description {
                    dest: cfg.dest,
                    size: Some((parts.width, parts.height)),
                    fps: (cfg.fps > 0.0).then_some(cfg.fps),
                    name: "camwire".into(),
                };
                let text = d.to_sdp();
                let written_to = match &out.sdp {
                    Some(path) => {
                        std::fs::write(path, &text).map_err(|source| AppError::Save {
                            path: path.clone(),
                            source,
                        })?;
                        Some(path.clone())
                    }
                    None => None,
                };
                on_rtp_notice(on_update, RtpNotice::Sdp { text, written_to });
            }
            packets.clear();
            match pay.payload(&parts, rtp_ts(frame.timestamp_us), &mut packets) {
                Ok(()) => {
                    send_paced(&sock, &packets, interval, cfg.protocol.pace_per_sec)?;
                    frames += 1;
                    sent_packets = sent_packets.wrapping_add(packets.len() as u32);
                    let octets: usize = packets.iter().map(|p| p.len() - 12).sum();
                    sent_octets = sent_octets.wrapping_add(octets as u32);
                    let now = Instant::now();
                    for p in packets.drain(..) {
                        history.push(now, p);
                    }
                    let now = Instant::now();
                    book.counts.frames += 1;
                    book.counts.bytes += frame.data.len() as u64;
                    book.first_frame.get_or_insert(now);
                    book.last_frame = Some(now);
                    book.peer = "connected";
                    book.size = Some((parts.width.into(), parts.height.into()));
                }
                Err(e) => on_rtp_notice(on_update, RtpNotice::Skipped(e.to_string())),
            }
        }
        let _ = inputs.recycle.try_send(frame.data);
    }
    drop(readers);
    let summary = book.summary(Instant::now());
    Ok(SendOutcome {
        summary,
        one_shot: false,
        last_acked: false,
        messages_delivered: 0,
        messages_failed: 0,
    })
}

fn on_rtp_notice(on_update: &mut impl FnMut(SendUpdate<'_>), n: RtpNotice) {
    on_update(SendUpdate::Rtp(n));
}

/// The RTCP socket (an ephemeral port, unconnected: a receiver's feedback may come from any
/// of its ports) and where reports go (PORT+1), or none when the destination's port is the
/// last one.
fn rtcp_socket(dest: SocketAddr) -> Option<(UdpSocket, SocketAddr)> {
    let port = dest.port().checked_add(1)?;
    let any: SocketAddr = if dest.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(any).ok()?;
    Some((s, SocketAddr::new(dest.ip(), port)))
}

/// Reads `sock` for RTCP NACKs of `ssrc` (from `only` when given) and passes the sequence
/// numbers on; everything else is passed over. Ends when `stop` fires.
fn spawn_nack_reader(
    sock: UdpSocket,
    only: Option<std::net::IpAddr>,
    ssrc: u32,
    tx: crossbeam_channel::Sender<Vec<u16>>,
    stop: Stop,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("rtcp-in".into())
        .spawn(move || {
            let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
            let mut buf = [0u8; 1500];
            while !stop.is_set() {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if only.is_some_and(|ip| ip != from.ip()) || !is_rtcp(&buf[..n]) {
                    continue;
                }
                for nack in nacks(&buf[..n]) {
                    if nack.media_ssrc == ssrc {
                        // A full queue means the loop is behind: the NACK is repeated.
                        let _ = tx.try_send(nack.lost);
                    }
                }
            }
        })
        .expect("spawning a thread")
}

/// Sends a frame's packets spread over half a frame interval (in bursts of [`BURST`]), and
/// never faster than `cap_per_sec` packets a second (0: no cap).
fn send_paced(
    sock: &UdpSocket,
    packets: &[Vec<u8>],
    interval: Option<Duration>,
    cap_per_sec: f64,
) -> Result<(), AppError> {
    let spread = interval.map_or(0.0, |i| i.as_secs_f64() / 2.0);
    let by_spread = if spread > 0.0 {
        packets.len() as f64 / spread
    } else {
        0.0
    };
    let rate = match (by_spread > 0.0, cap_per_sec > 0.0) {
        (true, true) => by_spread.min(cap_per_sec),
        (true, false) => by_spread,
        (false, _) => cap_per_sec,
    };
    let mut pacer = crate::protocol::timing::Pacer::new(rate, BURST);
    for p in packets {
        if let Some(at) = pacer.delay(Instant::now()) {
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
        }
        pacer.on_send(Instant::now());
        match sock.send(p) {
            Ok(_) => {}
            // A receiver not (yet) listening answers with ICMP port unreachable, which the
            // connected socket reports on a later send: RTP has no one to wait for, so go on.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(AppError::Io(e)),
        }
    }
    Ok(())
}
