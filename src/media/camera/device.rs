//! The thin glue to nokhwa (feature `camera`): find and open a device, read its buffers. All
//! decisions (which mode, what to do with a buffer) are made by the feature-free modules.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, CameraInfo, FrameFormat, RequestedFormat,
    RequestedFormatType,
};
use nokhwa::{Camera, NokhwaError};

use super::frame::{to_captured, BadFrameGuard};
use super::mode::{closest_mode, Mode, PixelFormat};
use super::{CameraError, CameraListing, CameraRequest, CameraSelector};
use crate::media::source::{now_us, CapturedFrame, Source, SourceError};
use crate::runtime::latest::newest_wins;

/// Every format nokhwa reports that [`super::frame::to_captured`] handles.
const READABLE: &[FrameFormat] = &[
    FrameFormat::MJPEG,
    FrameFormat::YUYV,
    FrameFormat::NV12,
    FrameFormat::RAWRGB,
    FrameFormat::RAWBGR,
    FrameFormat::GRAY,
];

/// How long to wait for the user to answer the macOS camera permission prompt.
const PERMISSION_WAIT: Duration = Duration::from_secs(60);

fn pixel_format(f: FrameFormat) -> PixelFormat {
    match f {
        FrameFormat::MJPEG => PixelFormat::Mjpeg,
        FrameFormat::YUYV => PixelFormat::Yuyv,
        FrameFormat::NV12 => PixelFormat::Nv12,
        FrameFormat::RAWRGB => PixelFormat::Rgb,
        FrameFormat::RAWBGR => PixelFormat::Bgr,
        FrameFormat::GRAY => PixelFormat::Gray,
    }
}

fn frame_format(f: PixelFormat) -> FrameFormat {
    match f {
        PixelFormat::Mjpeg => FrameFormat::MJPEG,
        PixelFormat::Yuyv => FrameFormat::YUYV,
        PixelFormat::Nv12 => FrameFormat::NV12,
        PixelFormat::Rgb => FrameFormat::RAWRGB,
        PixelFormat::Bgr => FrameFormat::RAWBGR,
        PixelFormat::Gray => FrameFormat::GRAY,
    }
}

fn mode_of(f: &CameraFormat) -> Mode {
    Mode {
        width: f.width(),
        height: f.height(),
        fps: f.frame_rate(),
        format: pixel_format(f.format()),
    }
}

/// On macOS, asks for camera permission (the system prompt, once) and waits for the answer;
/// elsewhere nokhwa answers at once. Must come before any other camera call.
fn ensure_permission() -> Result<(), CameraError> {
    if nokhwa::nokhwa_check() {
        return Ok(());
    }
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    nokhwa::nokhwa_initialize(move |granted| {
        if let Ok(tx) = tx.lock() {
            let _ = tx.send(granted);
        }
    });
    match rx.recv_timeout(PERMISSION_WAIT) {
        Ok(true) => Ok(()),
        _ => Err(CameraError::PermissionDenied("access".into())),
    }
}

fn devices() -> Result<Vec<CameraInfo>, CameraError> {
    ensure_permission()?;
    let backend = nokhwa::native_api_backend().unwrap_or(ApiBackend::Auto);
    nokhwa::query(backend).map_err(|e| CameraError::Backend {
        camera: "list".into(),
        reason: e.to_string(),
    })
}

fn names(devices: &[CameraInfo]) -> String {
    if devices.is_empty() {
        return "no cameras found".into();
    }
    let list: Vec<String> = devices
        .iter()
        .map(|d| format!("{} '{}'", d.index(), d.human_name()))
        .collect();
    format!("cameras: {}", list.join(", "))
}

/// Turns `--camera` into a device index and a name for messages.
fn resolve(sel: &CameraSelector) -> Result<(CameraIndex, String), CameraError> {
    match sel {
        // Opening by index needs no listing; a missing device is reported by the open.
        CameraSelector::Index(n) => Ok((CameraIndex::Index(*n), n.to_string())),
        CameraSelector::Name(name) => {
            let all = devices()?;
            let want = name.to_lowercase();
            all.iter()
                .find(|d| d.human_name().to_lowercase().contains(&want))
                .map(|d| {
                    (
                        d.index().clone(),
                        format!("{} '{}'", d.index(), d.human_name()),
                    )
                })
                .ok_or_else(|| CameraError::NotFound {
                    camera: sel.to_string(),
                    available: names(&all),
                })
        }
    }
}

fn open_camera(index: &CameraIndex, label: &str) -> Result<Camera, CameraError> {
    ensure_permission()?;
    let any = RequestedFormat::with_formats(RequestedFormatType::None, READABLE);
    Camera::new(index.clone(), any).map_err(|e| match e {
        // No mode of a readable format at all.
        NokhwaError::GetPropertyError { ref property, .. } if property == "CameraFormat" => {
            CameraError::NoUsableMode {
                camera: label.to_string(),
                offered: "only formats it does not know".into(),
            }
        }
        e => CameraError::opening(label, &e.to_string()),
    })
}

/// Every camera with its modes. A camera that cannot be opened (busy) is listed with the
/// reason instead of its modes.
pub fn list() -> Result<Vec<CameraListing>, CameraError> {
    let mut out = Vec::new();
    for d in devices()? {
        let index = d.index().clone();
        let label = index.to_string();
        let (modes, error) = match open_camera(&index, &label).and_then(|mut cam| {
            cam.compatible_camera_formats()
                .map_err(|e| CameraError::opening(&label, &e.to_string()))
        }) {
            Ok(formats) => (formats.iter().map(mode_of).collect(), None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        out.push(CameraListing {
            index: label,
            name: d.human_name(),
            description: d.description().to_string(),
            modes,
            error,
        });
    }
    Ok(out)
}

/// How long a camera may stay silent before it counts as lost. It also bounds how long
/// [`Source::next_frame`] blocks, hence how long Ctrl-C can wait for a hung camera.
const NO_FRAME_TIMEOUT: Duration = Duration::from_secs(2);

/// How long opening a camera may take (the macOS permission prompt has its own wait).
const OPEN_TIMEOUT: Duration = Duration::from_secs(90);

/// A webcam as a live [`Source`].
///
/// nokhwa's `Camera` is not `Send`, so each opening of the camera gets a thread of its own
/// that owns it, reads at the camera's pace and converts every buffer; the newest frame waits
/// in a newest-wins slot for [`Source::next_frame`]. That thread is never joined: a driver
/// that hangs (nokhwa#165) must not hang the program's exit.
pub struct CameraSource {
    req: CameraRequest,
    label: String,
    mode: Mode,
    frames: Receiver<Result<CapturedFrame, CameraError>>,
    stop: Arc<AtomicBool>,
}

struct Device {
    label: String,
    mode: Mode,
    frames: Receiver<Result<CapturedFrame, CameraError>>,
    stop: Arc<AtomicBool>,
}

impl CameraSource {
    /// Opens the camera in the mode closest to the request and starts it.
    pub fn open(req: CameraRequest) -> Result<Self, CameraError> {
        let d = spawn_device(&req)?;
        Ok(CameraSource {
            req,
            label: d.label,
            mode: d.mode,
            frames: d.frames,
            stop: d.stop,
        })
    }

    /// The mode in use.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    fn lost(&self, reason: String) -> SourceError {
        self.stop.store(true, Ordering::Relaxed);
        CameraError::Lost {
            camera: self.label.clone(),
            reason,
        }
        .into()
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn spawn_device(req: &CameraRequest) -> Result<Device, CameraError> {
    let (ready_tx, ready_rx) = mpsc::sync_channel(1);
    let (tx, frames) = newest_wins::<Result<CapturedFrame, CameraError>>();
    let stop = Arc::new(AtomicBool::new(false));
    let name = req.camera.to_string();
    let req = req.clone();
    let stop_d = stop.clone();
    let spawned = thread::Builder::new().name("camera".into()).spawn(move || {
        let started = resolve(&req.camera).and_then(|(index, label)| {
            start(&index, &label, &req).map(|(cam, mode)| (cam, mode, label))
        });
        let (mut camera, mode, label) = match started {
            Ok(v) => v,
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        let _ = ready_tx.send(Ok((label.clone(), mode)));
        let mut guard = BadFrameGuard::new();
        while !stop_d.load(Ordering::Relaxed) {
            let buf = match camera.frame() {
                Ok(b) => b,
                Err(e) => {
                    tx.send(Err(CameraError::Lost {
                        camera: label.clone(),
                        reason: e.to_string(),
                    }));
                    break;
                }
            };
            // The driver's capture time is better than ours, if it is plausible
            // wall-clock time (some backends give a monotonic clock instead).
            let now = now_us();
            let timestamp_us = buf
                .capture_timestamp()
                .map(|d| d.as_micros() as u64)
                .filter(|&t| t <= now && now - t < 5_000_000)
                .unwrap_or(now);
            // The mode's size, not the buffer's length: the buffer may be the whole
            // driver buffer.
            let frame = to_captured(
                mode.format,
                mode.width,
                mode.height,
                buf.buffer(),
                timestamp_us,
            );
            match guard.check(&label, frame) {
                Ok(Some(f)) => {
                    tx.send(Ok(f));
                }
                Ok(None) => {}
                Err(e) => {
                    tx.send(Err(e));
                    break;
                }
            }
        }
        let _ = camera.stop_stream();
    });
    if let Err(e) = spawned {
        return Err(CameraError::Backend {
            camera: name,
            reason: format!("cannot start the camera thread: {e}"),
        });
    }
    match ready_rx.recv_timeout(OPEN_TIMEOUT) {
        Ok(Ok((label, mode))) => Ok(Device {
            label,
            mode,
            frames,
            stop,
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => {
            stop.store(true, Ordering::Relaxed);
            Err(CameraError::Backend {
                camera: name,
                reason: "the camera did not open in time".into(),
            })
        }
    }
}

fn start(
    index: &CameraIndex,
    label: &str,
    req: &CameraRequest,
) -> Result<(Camera, Mode), CameraError> {
    let mut camera = open_camera(index, label)?;
    let backend = |e: NokhwaError| CameraError::opening(label, &e.to_string());
    let offered = camera.compatible_camera_formats().map_err(backend)?;
    let modes: Vec<Mode> = offered
        .iter()
        .filter(|f| READABLE.contains(&f.format()))
        .map(mode_of)
        .collect();
    let mode = closest_mode(&modes, &req.mode).ok_or_else(|| CameraError::NoUsableMode {
        camera: label.to_string(),
        offered: "no modes".into(),
    })?;
    let want = CameraFormat::new_from(mode.width, mode.height, frame_format(mode.format), mode.fps);
    let exact = RequestedFormat::with_formats(RequestedFormatType::Exact(want), READABLE);
    camera.set_camera_requset(exact).map_err(backend)?;
    camera.open_stream().map_err(backend)?;
    Ok((camera, mode))
}

impl Source for CameraSource {
    fn next_frame(&mut self) -> Result<Option<CapturedFrame>, SourceError> {
        match self.frames.recv_timeout(NO_FRAME_TIMEOUT) {
            Ok(Ok(f)) => Ok(Some(f)),
            Ok(Err(e)) => {
                self.stop.store(true, Ordering::Relaxed);
                Err(e.into())
            }
            Err(RecvTimeoutError::Timeout) => {
                Err(self.lost(format!("no frame for {} s", NO_FRAME_TIMEOUT.as_secs())))
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.lost("the camera thread ended".into())),
        }
    }

    fn describe(&self) -> String {
        let r = &self.req.mode;
        format!(
            "camera {}: {} (asked for {}x{} at {} fps)",
            self.label, self.mode, r.width, r.height, r.fps
        )
    }

    fn is_live(&self) -> bool {
        true
    }

    fn reopen(&mut self) -> Result<(), SourceError> {
        // The old thread releases the device once it sees this, if it has not already.
        self.stop.store(true, Ordering::Relaxed);
        let d = spawn_device(&self.req)?;
        self.label = d.label;
        self.mode = d.mode;
        self.frames = d.frames;
        self.stop = d.stop;
        Ok(())
    }
}
