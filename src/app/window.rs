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
    disconnected: bool,
    status: String,
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
            disconnected: false,
            status: String::new(),
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
        self.status = status.to_string();
        let t = if self.disconnected {
            format!("{} — sender disconnected — {}", self.base_title, status)
        } else {
            format!("{} — {}", self.base_title, status)
        };
        self.window.set_title(&t);
    }

    /// Marks the sender as gone (the last picture is dimmed, the title says so) or back.
    pub fn set_disconnected(&mut self, gone: bool) {
        if gone == self.disconnected {
            return;
        }
        self.disconnected = gone;
        let status = std::mem::take(&mut self.status);
        self.set_status(&status);
        if gone {
            if let Some(f) = &self.current {
                // A frozen picture must not pass for a live one.
                let dim: Vec<u32> = f.pixels.iter().map(|p| (p >> 2) & 0x003F_3F3F).collect();
                if self
                    .window
                    .update_with_buffer(&dim, f.width as usize, f.height as usize)
                    .is_err()
                {
                    self.closed = true;
                }
            }
        }
    }
}
