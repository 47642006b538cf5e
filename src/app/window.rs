//! The viewer's window, a thin layer over minifb.
//!
//! It lives on the main thread (macOS requires it) and never blocks on the network: it shows
//! whatever frame is newest and otherwise just keeps the window responsive.

use minifb::{Key, KeyRepeat, ScaleMode, Window, WindowOptions};

use super::AppError;

/// A decoded frame ready for the window: `0RGB` words, row-major.
pub struct DisplayFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height` pixels.
    pub pixels: Vec<u32>,
}

/// The viewer window.
pub struct Display {
    window: Window,
    base_title: String,
    current: Option<DisplayFrame>,
    closed: bool,
}

const INITIAL: (usize, usize) = (960, 540);

/// The one-line explanation for a window that cannot be opened.
fn no_display_message(err: &minifb::Error) -> String {
    let have_display = std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty());
    if cfg!(target_os = "linux") && !have_display {
        "cannot open a window: no display (DISPLAY and WAYLAND_DISPLAY are not set); \
         run with --headless to receive without a window"
            .to_string()
    } else {
        // minifb's Display text drops the reason; its Debug form keeps it.
        format!("cannot open a window ({err:?}); run with --headless to receive without a window")
    }
}

impl Display {
    /// Opens a resizable window that scales frames with their aspect ratio kept.
    pub fn open(title: &str) -> Result<Self, AppError> {
        let mut window = Window::new(
            title,
            INITIAL.0,
            INITIAL.1,
            WindowOptions {
                resize: true,
                scale_mode: ScaleMode::AspectRatioStretch,
                ..WindowOptions::default()
            },
        )
        .map_err(|e| AppError::Display(no_display_message(&e)))?;
        // minifb's own limiter would sleep inside update; frame arrival paces us instead.
        window.set_target_fps(0);
        let mut d = Display {
            window,
            base_title: title.to_string(),
            current: None,
            closed: false,
        };
        let black = vec![0u32; INITIAL.0 * INITIAL.1];
        d.closed = d
            .window
            .update_with_buffer(&black, INITIAL.0, INITIAL.1)
            .is_err();
        d.set_status("waiting for frames");
        Ok(d)
    }

    /// Shows `frame`; returns the previous frame's pixels for reuse.
    pub fn show(&mut self, frame: DisplayFrame) -> Option<Vec<u32>> {
        if self
            .window
            .update_with_buffer(&frame.pixels, frame.width as usize, frame.height as usize)
            .is_err()
        {
            self.closed = true;
        }
        self.current.replace(frame).map(|f| f.pixels)
    }

    /// Keeps the window responsive when no new frame has come.
    pub fn idle(&mut self) {
        self.window.update();
    }

    /// False once the user closed the window or pressed Esc or q.
    pub fn is_open(&self) -> bool {
        !self.closed
            && self.window.is_open()
            && !self.window.is_key_down(Key::Escape)
            && !self.window.is_key_pressed(Key::Q, KeyRepeat::No)
    }

    /// Puts `status` (frame rate, bitrate) in the title bar.
    pub fn set_status(&mut self, status: &str) {
        let t = format!("{} — {}", self.base_title, status);
        self.window.set_title(&t);
    }
}
