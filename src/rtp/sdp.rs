//! The session description (SDP, RFC 8866) that ffmpeg, ffplay and VLC open to receive a
//! camwire RTP/JPEG stream (`-protocol_whitelist file,udp,rtp -i cam.sdp`).

use std::fmt::Write;
use std::net::SocketAddr;

use super::jpeg::MAX_SIDE;
use super::packet::{CLOCK_RATE, PT_JPEG};

/// What the description says of the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    /// Where the RTP packets go: the receiver listens on this port (RTCP on the next one).
    pub dest: SocketAddr,
    /// The picture size, when known; stated as `a=x-dimensions` when a side is over 2040
    /// pixels, which RFC 2435's header cannot say.
    pub size: Option<(u16, u16)>,
    /// Frames per second, when known.
    pub fps: Option<f64>,
    /// The session's name.
    pub name: String,
}

impl Description {
    /// The SDP text, lines ending in CRLF.
    pub fn to_sdp(&self) -> String {
        let ip = self.dest.ip();
        let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
        let name: String = self
            .name
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        let mut s = String::new();
        let mut line = |l: &str| {
            s.push_str(l);
            s.push_str("\r\n");
        };
        line("v=0");
        line(&format!("o=- 0 0 IN {family} {ip}"));
        line(&format!(
            "s={}",
            if name.is_empty() { "camwire" } else { &name }
        ));
        line(&format!("c=IN {family} {ip}"));
        line("t=0 0");
        line(&format!("m=video {} RTP/AVP {PT_JPEG}", self.dest.port()));
        line(&format!("a=rtpmap:{PT_JPEG} JPEG/{CLOCK_RATE}"));
        if let Some(fps) = self.fps.filter(|f| f.is_finite() && *f > 0.0) {
            let mut f = String::new();
            let _ = write!(f, "{fps}");
            line(&format!("a=framerate:{f}"));
        }
        if let Some((w, h)) = self.size.filter(|(w, h)| *w > MAX_SIDE || *h > MAX_SIDE) {
            line(&format!("a=x-dimensions:{w},{h}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_ffmpeg_opens() {
        let d = Description {
            dest: "127.0.0.1:5006".parse().unwrap(),
            size: Some((1280, 720)),
            fps: Some(30.0),
            name: "cam\r\ninjected".into(),
        };
        assert_eq!(
            d.to_sdp(),
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=caminjected\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=video 5006 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000\r\na=framerate:30\r\n"
        );
    }

    #[test]
    fn large_pictures_and_ipv6_are_stated() {
        let d = Description {
            dest: "[::1]:5006".parse().unwrap(),
            size: Some((2560, 1440)),
            fps: None,
            name: String::new(),
        };
        let sdp = d.to_sdp();
        assert!(sdp.contains("c=IN IP6 ::1\r\n"), "{sdp}");
        assert!(sdp.contains("a=x-dimensions:2560,1440\r\n"), "{sdp}");
        assert!(sdp.contains("s=camwire\r\n"), "{sdp}");
    }
}
