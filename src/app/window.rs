//! The viewer's window, a thin layer over minifb.
//!
//! It lives on the main thread (macOS requires it) and never blocks on the network: it shows
//! whatever frame is newest and otherwise just keeps the window responsive.

use font8x8::UnicodeFonts;
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
    finished: bool,
    status: String,
    /// Draw the latest message over the picture (`--show-messages`).
    show_messages: bool,
    message: Option<String>,
    /// The current frame with the overlay drawn on it, reused between frames.
    overlay: Vec<u32>,
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
            finished: false,
            status: String::new(),
            show_messages: false,
            message: None,
            overlay: Vec::new(),
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
        let old = self.current.replace(frame);
        self.redraw();
        old.map(|f| f.pixels)
    }

    /// Draws the latest JSON message over the picture from now on.
    pub fn show_messages(&mut self, on: bool) {
        self.show_messages = on;
    }

    /// Remembers the latest message and, when messages are shown, redraws with it.
    pub fn set_message(&mut self, text: &str) {
        if !self.show_messages {
            return;
        }
        self.message = Some(text.to_string());
        self.redraw();
    }

    fn redraw(&mut self) {
        let Some(f) = &self.current else { return };
        let (w, h) = (f.width as usize, f.height as usize);
        let text = self.message.as_ref().filter(|_| self.show_messages);
        let pixels = if text.is_some() || self.disconnected {
            // Drawn on a copy: the decoded frame stays clean for the next redraw.
            self.overlay.clear();
            self.overlay.extend_from_slice(&f.pixels);
            if self.disconnected {
                // A frozen picture must not pass for a live one.
                for p in &mut self.overlay {
                    *p = (*p >> 2) & 0x003F_3F3F;
                }
            }
            if let Some(t) = text {
                draw_text_band(&mut self.overlay, w, h, t);
            }
            &self.overlay
        } else {
            &f.pixels
        };
        if self.window.update_with_buffer(pixels, w, h).is_err() {
            self.closed = true;
        }
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
        } else if self.finished {
            format!("{} — sender finished — {}", self.base_title, status)
        } else {
            format!("{} — {}", self.base_title, status)
        };
        self.window.set_title(&t);
    }

    /// Marks the sender as gone without a goodbye (the last picture is dimmed, the title says
    /// so) or back.
    pub fn set_disconnected(&mut self, gone: bool) {
        self.finished = false;
        if gone == self.disconnected {
            return;
        }
        self.disconnected = gone;
        let status = std::mem::take(&mut self.status);
        self.set_status(&status);
        self.redraw();
    }

    /// Marks the sender as finished (it said BYE): its last picture stays on screen as it
    /// was, since a still image or a slideshow ends this way.
    pub fn set_finished(&mut self) {
        self.disconnected = false;
        self.finished = true;
        let status = std::mem::take(&mut self.status);
        self.set_status(&status);
        self.redraw();
    }
}

/// Writes `text` in white on a dark band along the bottom of a `w` x `h` 0RGB picture, in the
/// 8x8 font scaled so that about 80 characters fit across; what does not fit is cut with "…".
/// Characters the font lacks show as "?".
pub fn draw_text_band(px: &mut [u32], w: usize, h: usize, text: &str) {
    if w == 0 || h == 0 || px.len() < w * h {
        return;
    }
    // About 40 characters across a 640-pixel picture, 60 across 1280: readable when scaled.
    let scale = ((w + 320) / 480).clamp(1, 4);
    let glyph = 8 * scale;
    let pad = 2 * scale;
    let band = (glyph + 2 * pad).min(h);
    let top = h - band;
    for p in &mut px[top * w..h * w] {
        // Darken rather than blank: the picture stays faintly visible under the text.
        *p = (*p >> 2) & 0x003F_3F3F;
    }
    let fit = (w.saturating_sub(2 * pad)) / glyph;
    let chars: Vec<char> = text.chars().collect();
    let shown: Vec<char> = if chars.len() > fit {
        chars[..fit.saturating_sub(1)]
            .iter()
            .copied()
            .chain(std::iter::once('…'))
            .collect()
    } else {
        chars
    };
    for (i, c) in shown.iter().enumerate() {
        let rows = font8x8::BASIC_FONTS
            .get(*c)
            .or_else(|| font8x8::BLOCK_FONTS.get(*c))
            .or_else(|| (*c == '…').then(|| font8x8::BASIC_FONTS.get('.')).flatten())
            .or_else(|| font8x8::BASIC_FONTS.get('?'))
            .unwrap_or([0; 8]);
        let x0 = pad + i * glyph;
        for (ry, row) in rows.iter().enumerate() {
            for rx in 0..8 {
                if row & (1 << rx) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    let y = top + pad + ry * scale + dy;
                    let start = y * w + x0 + rx * scale;
                    if y < h && x0 + rx * scale + scale <= w {
                        px[start..start + scale].fill(0x00FF_FFFF);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_band_draws_white_glyphs_on_a_dimmed_band_only() {
        let (w, h) = (320, 60);
        let mut px = vec![0x0080_8080u32; w * h];
        draw_text_band(&mut px, w, h, "{\"a\":1}");
        let band_top = h - 12; // scale 1 at 320 wide: 8 + 2 * 2
        assert!(
            px[..band_top * w].iter().all(|&p| p == 0x0080_8080),
            "above the band untouched"
        );
        let white = px[band_top * w..]
            .iter()
            .filter(|&&p| p == 0x00FF_FFFF)
            .count();
        assert!(white > 20, "glyphs drawn: {white}");
        assert!(px[band_top * w..]
            .iter()
            .all(|&p| p == 0x00FF_FFFF || p == 0x0020_2020));
        // Too long for the width: cut, never out of bounds; tiny pictures are fine too.
        draw_text_band(&mut px, w, h, &"x".repeat(1000));
        let mut tiny = vec![0u32; 4 * 3];
        draw_text_band(&mut tiny, 4, 3, "hello");
    }
}

// TEMP STUB (replaced by the tiles branch)
/// Stub.
pub enum Signal {
    /// Stub.
    Live,
    /// Stub.
    Lost,
    /// Stub.
    Finished,
}
impl Display {
    /// Stub.
    pub fn show_tile(&mut self, _t: &str, f: DisplayFrame) -> Option<Vec<u32>> {
        self.show(f)
    }
    /// Stub.
    pub fn drawn_size(&self, _t: &str) -> Option<(u32, u32)> {
        None
    }
    /// Stub.
    pub fn set_signal(&mut self, _t: &str, s: Signal) {
        match s {
            Signal::Live => self.set_disconnected(false),
            Signal::Lost => self.set_disconnected(true),
            Signal::Finished => self.set_finished(),
        }
    }
    /// Stub.
    pub fn remove_tile(&mut self, _t: &str) {}
    /// Stub.
    pub fn set_tile_message(&mut self, _t: &str, m: &str) {
        self.set_message(m)
    }
}
