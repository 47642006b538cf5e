//! The MJPEG stream as browsers, VLC and ffmpeg read it: one `multipart/x-mixed-replace`
//! response whose parts are the JPEGs exactly as received.
//!
//! Each part's headers go out right after the previous part's bytes, before the next frame
//! exists (ustreamer's `advance_headers`): Chromium draws a part only once the next part's
//! headers arrive (Chromium bug 527446), so a part whose headers came with it would be shown
//! one frame late. The price is that parts carry no `Content-Length`; readers find a part's
//! end at the boundary, which is long enough not to turn up inside a JPEG.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// The multipart boundary.
pub const BOUNDARY: &str = "camwire-frame-boundary-7c1e";
/// The response's `Content-Type`.
pub const CONTENT_TYPE: &str = "multipart/x-mixed-replace;boundary=camwire-frame-boundary-7c1e";
/// What opens the body: the first part's delimiter and headers.
pub const FIRST_PART: &[u8] = b"--camwire-frame-boundary-7c1e\r\nContent-Type: image/jpeg\r\n\r\n";
/// What follows every JPEG: the end of its part, and the next part's delimiter and headers.
pub const NEXT_PART: &[u8] =
    b"\r\n--camwire-frame-boundary-7c1e\r\nContent-Type: image/jpeg\r\n\r\n";

/// The body of a response, whole or streamed.
pub enum WebBody {
    /// A body known in full (a page, a picture, JSON, an error); `None` once sent.
    Whole(Option<Bytes>),
    /// An MJPEG stream fed a JPEG at a time.
    Mjpeg(MjpegBody),
}

impl WebBody {
    /// A whole body.
    pub fn whole(b: impl Into<Bytes>) -> WebBody {
        WebBody::Whole(Some(b.into()))
    }
}

/// The MJPEG stream's body: [`FIRST_PART`], then each JPEG from the channel followed by
/// [`NEXT_PART`].
pub struct MjpegBody {
    rx: mpsc::Receiver<Bytes>,
    started: bool,
    trailer_due: bool,
}

impl MjpegBody {
    /// A stream of the JPEGs that arrive on `rx`; it ends when `rx` closes.
    pub fn new(rx: mpsc::Receiver<Bytes>) -> MjpegBody {
        MjpegBody {
            rx,
            started: false,
            trailer_due: false,
        }
    }
}

impl Body for WebBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let data = |b: Bytes| Poll::Ready(Some(Ok(Frame::data(b))));
        match self.get_mut() {
            WebBody::Whole(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            WebBody::Mjpeg(m) => {
                if !m.started {
                    m.started = true;
                    return data(Bytes::from_static(FIRST_PART));
                }
                if m.trailer_due {
                    m.trailer_due = false;
                    return data(Bytes::from_static(NEXT_PART));
                }
                match m.rx.poll_recv(cx) {
                    Poll::Ready(Some(jpeg)) => {
                        m.trailer_due = true;
                        data(jpeg)
                    }
                    Poll::Ready(None) => Poll::Ready(None),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, WebBody::Whole(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            WebBody::Whole(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            WebBody::Mjpeg(_) => SizeHint::default(),
        }
    }
}

/// Reads an MJPEG body back into its JPEGs, as bytes arrive (for tests and the benchmark
/// client; a browser does this itself).
#[derive(Debug, Default)]
pub struct PartReader {
    buf: Vec<u8>,
    opened: bool,
    /// Bytes of `buf` already searched for a delimiter without finding one.
    searched: usize,
}

impl PartReader {
    /// A reader at the start of a body.
    pub fn new() -> PartReader {
        PartReader::default()
    }

    /// Takes the next bytes of the body; returns the JPEGs they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        if !self.opened {
            match find(&self.buf, FIRST_PART) {
                Some(i) => {
                    self.buf.drain(..i + FIRST_PART.len());
                    self.opened = true;
                }
                None => return out,
            }
        }
        loop {
            let from = self.searched.saturating_sub(NEXT_PART.len());
            match find(&self.buf[from..], NEXT_PART) {
                Some(i) => {
                    let end = from + i;
                    out.push(self.buf[..end].to_vec());
                    self.buf.drain(..end + NEXT_PART.len());
                    self.searched = 0;
                }
                None => {
                    self.searched = self.buf.len();
                    return out;
                }
            }
        }
    }

    /// Bytes held that are not yet a whole part.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Where `needle` (not empty) first occurs in `hay`. Looks for its first byte, `\r`, which
/// is rare in JPEG data, so a frame is scanned about as fast as memory is read.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = hay[from..].iter().position(|&b| b == needle[0]) {
        let at = from + i;
        if hay[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_framing_constants_agree() {
        assert!(CONTENT_TYPE.ends_with(BOUNDARY));
        assert_eq!(NEXT_PART, [b"\r\n".as_slice(), FIRST_PART].concat());
    }

    /// docs/PROTOCOL.md section 14's golden body is what this module sends and reads back.
    #[test]
    fn the_documented_golden_body_is_ours() {
        let golden = crate::testutil::golden_block("mjpeg-hex");
        let jpegs = [&b"\xff\xd8\xff\xd9"[..], b"\xff\xd8\x01\xff\xd9"];
        let built = [FIRST_PART, jpegs[0], NEXT_PART, jpegs[1], NEXT_PART].concat();
        assert_eq!(golden, built);
        assert_eq!(PartReader::new().push(&golden), jpegs);
    }

    #[test]
    fn parts_read_back_into_the_jpegs_however_the_bytes_are_cut() {
        let jpegs: Vec<Vec<u8>> = (0..5u8)
            .map(|i| {
                [
                    &b"\xff\xd8"[..],
                    &vec![i; 100 + i as usize * 37],
                    b"\xff\xd9",
                ]
                .concat()
            })
            .collect();
        let mut body = FIRST_PART.to_vec();
        for j in &jpegs {
            body.extend_from_slice(j);
            body.extend_from_slice(NEXT_PART);
        }
        for cut in [1, 2, 7, 61, 1000] {
            let mut r = PartReader::new();
            let got: Vec<Vec<u8>> = body.chunks(cut).flat_map(|c| r.push(c)).collect();
            assert_eq!(got, jpegs, "cut {cut}");
            assert_eq!(r.pending(), 0);
        }
    }
}
