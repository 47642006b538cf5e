//! Webcams.
//!
//! Everything that can be decided without a device is here and is built (and tested) without
//! the `camera` feature: MJPEG pass-through ([`mjpeg`]), pixel conversion ([`convert`]), the
//! choice of mode ([`mode`]), turning a camera buffer into a [`CapturedFrame`](crate::media::source::CapturedFrame)
//! ([`frame`]), and a [`fake::FakeCamera`] that replays recorded buffers through that same
//! path. Only the thin glue to nokhwa (`device`) needs the feature and a camera.

pub mod convert;
#[cfg(feature = "camera")]
pub mod device;
pub mod fake;
pub mod frame;
pub mod mjpeg;
pub mod mode;

use std::fmt;
use std::time::Duration;

use crate::media::source::{Source, SourceError};
use mode::{Mode, ModeRequest};

/// How often a camera that went away is looked for again.
pub const REOPEN_INTERVAL: Duration = Duration::from_secs(1);

/// Which camera: by its index in the system's list, or by (part of) its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CameraSelector {
    /// The n-th camera, from 0.
    Index(u32),
    /// The first camera whose name contains this text, ignoring case.
    Name(String),
}

impl CameraSelector {
    /// `"0"` is an index, anything else a name.
    pub fn parse(s: &str) -> Self {
        match s.trim().parse() {
            Ok(n) => CameraSelector::Index(n),
            Err(_) => CameraSelector::Name(s.trim().to_string()),
        }
    }
}

impl fmt::Display for CameraSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CameraSelector::Index(n) => write!(f, "{n}"),
            CameraSelector::Name(s) => write!(f, "'{s}'"),
        }
    }
}

/// Why a camera cannot be used. Every message is one line meant for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CameraError {
    /// This build has no camera support.
    #[error(
        "camwire was built without camera support; rebuild with `--features camera` \
         (on Linux first install libclang: apt-get install libclang-dev)"
    )]
    NotBuilt,
    /// No such camera.
    #[error("no camera {camera}: {available}")]
    NotFound {
        /// What was asked for.
        camera: String,
        /// What there is, for the message.
        available: String,
    },
    /// Another program has the camera.
    #[error("camera {0} is busy: close the other program using it and try again")]
    Busy(String),
    /// The OS refused access.
    #[error(
        "not allowed to use camera {0}: on Linux add yourself to the video group \
         (sudo usermod -aG video $USER, then log in again); on macOS allow your terminal \
         in System Settings > Privacy & Security > Camera"
    )]
    PermissionDenied(String),
    /// The camera offers no format this crate reads.
    #[error("camera {camera} offers no format camwire can read (it offers {offered})")]
    NoUsableMode {
        /// Which camera.
        camera: String,
        /// What it offers.
        offered: String,
    },
    /// The camera stopped delivering frames (unplugged, or its driver failed): it may come
    /// back, so the sender keeps its session and tries again.
    #[error("camera {camera} stopped: {reason}")]
    Lost {
        /// Which camera.
        camera: String,
        /// What the backend said.
        reason: String,
    },
    /// The camera keeps delivering frames that cannot be read.
    #[error("camera {camera} sent {count} unreadable frames in a row; the last: {reason}")]
    BadFrames {
        /// Which camera.
        camera: String,
        /// How many in a row.
        count: u32,
        /// Why the last one was unreadable.
        reason: String,
    },
    /// Anything else the backend reported.
    #[error("camera {camera}: {reason}")]
    Backend {
        /// Which camera.
        camera: String,
        /// What the backend said.
        reason: String,
    },
}

/// What kind of failure a backend's error message describes: backends report errors as text
/// (often an OS error), so this is where they get a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The device does not exist (or no longer does).
    Missing,
    /// The device is in use.
    Busy,
    /// Access denied.
    Denied,
    /// Anything else.
    Other,
}

/// Classifies a backend error message (V4L2's `os error N`, Media Foundation's and
/// AVFoundation's words).
pub fn classify(message: &str) -> FailureKind {
    let m = message.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| m.contains(n));
    if has(&["os error 16)", "busy", "in use"]) {
        FailureKind::Busy
    } else if has(&[
        "os error 13)",
        "os error 1)",
        "permission denied",
        "not permitted",
        "not authorized",
        "access is denied",
        "access denied",
    ]) {
        FailureKind::Denied
    } else if has(&[
        "os error 2)",
        "os error 19)",
        "os error 6)",
        "no such file",
        "no such device",
        "not found",
        "no device",
    ]) {
        FailureKind::Missing
    } else {
        FailureKind::Other
    }
}

impl CameraError {
    /// The error for a backend failure while opening `camera`.
    pub fn opening(camera: &str, message: &str) -> Self {
        let camera = camera.to_string();
        match classify(message) {
            FailureKind::Missing => CameraError::NotFound {
                camera,
                available: "the device does not exist (is it plugged in? try --list-cameras)"
                    .into(),
            },
            FailureKind::Busy => CameraError::Busy(camera),
            FailureKind::Denied => CameraError::PermissionDenied(camera),
            FailureKind::Other => CameraError::Backend {
                camera,
                reason: message.to_string(),
            },
        }
    }

    /// True when the camera may come back by itself and is worth reopening.
    pub fn is_lost(&self) -> bool {
        matches!(self, CameraError::Lost { .. })
    }
}

impl crate::media::source::DeviceError for CameraError {
    fn is_lost(&self) -> bool {
        CameraError::is_lost(self)
    }
}

impl From<CameraError> for SourceError {
    fn from(e: CameraError) -> Self {
        SourceError::Device(Box::new(e))
    }
}

/// What a camera is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraRequest {
    /// Which camera.
    pub camera: CameraSelector,
    /// The wanted size and frame rate; the closest mode the camera offers is used.
    pub mode: ModeRequest,
}

/// One camera and everything it offers, for `--list-cameras`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraListing {
    /// Its index, for `--camera INDEX`.
    pub index: String,
    /// Its name, for `--camera NAME`.
    pub name: String,
    /// The backend's description (driver, bus).
    pub description: String,
    /// Its modes, sorted; empty if they could not be read (see `error`).
    pub modes: Vec<Mode>,
    /// Why the modes could not be read (for example, busy).
    pub error: Option<String>,
}

impl CameraListing {
    /// Several lines: the camera, then per format and size its frame rates.
    pub fn to_text(&self) -> String {
        let mut s = format!("{}: {}", self.index, self.name);
        if !self.description.is_empty() {
            s.push_str(&format!(" ({})", self.description));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!("\n    modes unavailable: {e}"));
        }
        let mut modes = self.modes.clone();
        modes.sort_by_key(|m| (m.format, m.width, m.height, std::cmp::Reverse(m.fps)));
        let mut i = 0;
        while i < modes.len() {
            let first = modes[i];
            let mut rates = Vec::new();
            while i < modes.len()
                && (modes[i].format, modes[i].width, modes[i].height)
                    == (first.format, first.width, first.height)
            {
                rates.push(modes[i].fps.to_string());
                i += 1;
            }
            rates.dedup();
            s.push_str(&format!(
                "\n    {:<5} {}x{} at {} fps",
                first.format.name(),
                first.width,
                first.height,
                rates.join(", ")
            ));
        }
        s
    }
}

/// Every camera the system reports, with its modes.
pub fn list_cameras() -> Result<Vec<CameraListing>, CameraError> {
    #[cfg(feature = "camera")]
    {
        device::list()
    }
    #[cfg(not(feature = "camera"))]
    {
        Err(CameraError::NotBuilt)
    }
}

/// Opens a camera in the mode closest to the request, as a live [`Source`]. A name starting
/// with `fake:` is a made-up camera ([`fake::FakeCamera::from_selector`]), in every build.
pub fn open(req: &CameraRequest) -> Result<Box<dyn Source>, SourceError> {
    if let CameraSelector::Name(name) = &req.camera {
        if let Some(cam) = fake::FakeCamera::from_selector(name, &req.mode) {
            return Ok(Box::new(cam?));
        }
    }
    #[cfg(feature = "camera")]
    {
        Ok(Box::new(device::CameraSource::open(req.clone())?))
    }
    #[cfg(not(feature = "camera"))]
    {
        let _ = req;
        Err(CameraError::NotBuilt.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        assert_eq!(CameraSelector::parse("0"), CameraSelector::Index(0));
        assert_eq!(CameraSelector::parse(" 2 "), CameraSelector::Index(2));
        assert_eq!(
            CameraSelector::parse("HD Webcam"),
            CameraSelector::Name("HD Webcam".into())
        );
        assert_eq!(CameraSelector::parse("-1").to_string(), "'-1'");
    }

    #[test]
    fn backend_messages_become_typed_errors() {
        let open = |m: &str| CameraError::opening("0", m);
        assert!(matches!(
            open("Could not open device 0: V4L2 Error: No such file or directory (os error 2)"),
            CameraError::NotFound { .. }
        ));
        assert_eq!(
            open("Could not open device 0: Device or resource busy (os error 16)"),
            CameraError::Busy("0".into())
        );
        assert_eq!(
            open("Permission denied (os error 13)"),
            CameraError::PermissionDenied("0".into())
        );
        assert!(matches!(open("something odd"), CameraError::Backend { .. }));
        // One line each, and they say what to do.
        for e in [
            open("os error 2)"),
            open("busy"),
            open("Permission denied"),
            CameraError::NotBuilt,
        ] {
            let s = e.to_string();
            assert!(!s.contains('\n'), "{s}");
        }
        assert!(CameraError::NotBuilt
            .to_string()
            .contains("--features camera"));
    }

    #[test]
    fn listing_groups_rates_by_format_and_size() {
        use mode::PixelFormat::*;
        let l = CameraListing {
            index: "0".into(),
            name: "HD Webcam".into(),
            description: "uvcvideo".into(),
            modes: vec![
                Mode {
                    width: 640,
                    height: 480,
                    fps: 15,
                    format: Yuyv,
                },
                Mode {
                    width: 1280,
                    height: 720,
                    fps: 30,
                    format: Mjpeg,
                },
                Mode {
                    width: 640,
                    height: 480,
                    fps: 30,
                    format: Yuyv,
                },
            ],
            error: None,
        };
        assert_eq!(
            l.to_text(),
            "0: HD Webcam (uvcvideo)\n    MJPEG 1280x720 at 30 fps\n    YUYV  640x480 at 30, 15 fps"
        );
    }

    #[cfg(not(feature = "camera"))]
    #[test]
    fn without_the_feature_camera_calls_say_how_to_rebuild() {
        assert_eq!(list_cameras(), Err(CameraError::NotBuilt));
        let req = CameraRequest {
            camera: CameraSelector::Index(0),
            mode: ModeRequest {
                width: 640,
                height: 480,
                fps: 30,
            },
        };
        let e = open(&req).err().unwrap();
        assert!(e.to_string().contains("--features camera"), "{e}");
    }
}
