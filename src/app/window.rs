//! The viewer's window, a thin layer over minifb: one tile per sender, drawn by the pure
//! [`super::tiles`] module into a buffer of exactly the window's size.
//!
//! It lives on the main thread (macOS requires it) and never blocks on the network: it shows
//! whatever frame is newest for each sender and otherwise just keeps the window responsive.
//! Decode threads run elsewhere; they learn the size to decode at from [`DrawSizes`], a handle
//! they can read on any thread.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minifb::{InputCallback, Key, ScaleMode, Window, WindowOptions};

use super::tiles::{Action, Compositor, Mode, PictureRef, TileView, ViewKey};
use super::AppError;

pub use super::tiles::{draw_text_band, Signal};

/// A decoded frame ready for the window: `0RGB` words, row-major.
pub struct DisplayFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height` pixels.
    pub pixels: Vec<u32>,
}

/// How long a tile whose sender went silent or said goodbye stays on screen (unless it is the
/// last one, which stays, as the single-sender viewer always did).
pub const DEFAULT_LINGER: Duration = Duration::from_secs(10);

/// The shortest time between two redraws: frames from many senders are drawn together rather
/// than one window update each (16 senders at 30 fps would be 480 updates a second).
const MIN_REDRAW_GAP: Duration = Duration::from_millis(10);

/// How often labels (frame age, rate) and lingering tiles are brought up to date without any
/// new frame.
const TICK: Duration = Duration::from_secs(1);

const INITIAL: (usize, usize) = (960, 540);

/// The boxes tiles are drawn in, shared with the decode threads: a cheap clone of one handle
/// that [`Display`] keeps up to date as tiles come and go, the window is resized, or a camera
/// is enlarged.
///
/// A decode thread passes `get(name)` to `Decoder::decode_0rgb_fit`, which decodes at the
/// smallest of 1, 1/2, 1/4 or 1/8 scale that is not smaller than the picture will be drawn.
#[derive(Clone, Debug, Default)]
pub struct DrawSizes(Arc<Mutex<Sizes>>);

#[derive(Debug, Default)]
struct Sizes {
    tiles: HashMap<String, (u32, u32)>,
    /// The box a tile not yet on screen would get: its first frame is decoded for it.
    next: (u32, u32),
}

impl DrawSizes {
    /// The box `tile` is drawn in now, as `(width, height)`. For a tile the window does not
    /// have yet, the box it would get if it came now; `(0, 0)` before the window has a size,
    /// which `decode_0rgb_fit` reads as "full size".
    pub fn get(&self, tile: &str) -> (u32, u32) {
        let s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.tiles.get(tile).copied().unwrap_or(s.next)
    }

    fn publish(&self, tiles: HashMap<String, (u32, u32)>, next: (u32, u32)) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.tiles = tiles;
        s.next = next;
    }
}

/// One sender's tile.
struct Tile {
    name: String,
    frame: Option<DisplayFrame>,
    signal: Signal,
    /// When `signal` last changed: a tile lingers this long after its sender stops.
    since: Instant,
    last_frame: Option<Instant>,
    rate: Rate,
    message: Option<String>,
    dirty: bool,
}

impl Tile {
    fn new(name: &str, now: Instant) -> Self {
        Tile {
            name: name.to_string(),
            frame: None,
            signal: Signal::Live,
            since: now,
            last_frame: None,
            rate: Rate::new(now),
            message: None,
            dirty: true,
        }
    }

    fn view(&self, now: Instant, messages: bool) -> TileView<'_> {
        TileView {
            name: &self.name,
            picture: self.frame.as_ref().map(|f| PictureRef {
                pixels: &f.pixels,
                width: f.width,
                height: f.height,
            }),
            signal: self.signal,
            fps: self.rate.fps,
            age: self.last_frame.map(|t| now.saturating_duration_since(t)),
            message: self.message.as_deref().filter(|_| messages),
        }
    }
}

/// Frames shown per second, over windows of about a second.
struct Rate {
    count: u32,
    start: Instant,
    fps: f32,
}

impl Rate {
    fn new(now: Instant) -> Self {
        Rate {
            count: 0,
            start: now,
            fps: 0.0,
        }
    }

    fn update(&mut self, now: Instant) {
        let span = now.saturating_duration_since(self.start);
        if span >= TICK {
            self.fps = self.count as f32 / span.as_secs_f32();
            self.count = 0;
            self.start = now;
        }
    }
}

/// Key presses as minifb's input callback reports them: every transition, so that a press
/// and release that arrive between two window updates (`xdotool key 1`) are not lost, which
/// polling `is_key_pressed` would (survey 3.1).
#[derive(Default)]
struct KeyTaps {
    down: Vec<Key>,
    taps: VecDeque<Key>,
}

/// The callback's handle on [`KeyTaps`]; the window and the display share one thread.
struct TapRecorder(Rc<RefCell<KeyTaps>>);

impl InputCallback for TapRecorder {
    fn add_char(&mut self, _: u32) {}

    fn set_key_state(&mut self, key: Key, down: bool) {
        let mut k = self.0.borrow_mut();
        if !down {
            k.down.retain(|&d| d != key);
        } else if !k.down.contains(&key) {
            // A key held down counts once, not once per update.
            k.down.push(key);
            if k.taps.len() < 64 {
                k.taps.push_back(key);
            }
        }
    }
}

/// The view's meaning of a key, from either row of digits.
fn view_key(k: Key) -> Option<ViewKey> {
    use Key::*;
    let digit = match k {
        Key0 | NumPad0 => 0,
        Key1 | NumPad1 => 1,
        Key2 | NumPad2 => 2,
        Key3 | NumPad3 => 3,
        Key4 | NumPad4 => 4,
        Key5 | NumPad5 => 5,
        Key6 | NumPad6 => 6,
        Key7 | NumPad7 => 7,
        Key8 | NumPad8 => 8,
        Key9 | NumPad9 => 9,
        Escape => return Some(ViewKey::Escape),
        Q => return Some(ViewKey::Quit),
        _ => return None,
    };
    Some(ViewKey::Digit(digit))
}

/// The viewer window: a tile per sender, keyed by the sender's name.
pub struct Display {
    window: Window,
    base_title: String,
    status: String,
    closed: bool,
    /// Draw each tile's latest message over its picture (`--show-messages`).
    show_messages: bool,
    /// In order of arrival: keys 1-9 pick from here.
    tiles: Vec<Tile>,
    mode: Mode,
    canvas: Compositor,
    /// Everything must be redrawn (layout, mode or window size changed).
    all_dirty: bool,
    keys: Rc<RefCell<KeyTaps>>,
    sizes: DrawSizes,
    linger: Duration,
    last_redraw: Option<Instant>,
    next_tick: Instant,
}

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
    /// Opens a resizable window, empty until the first sender's frame.
    pub fn open(title: &str) -> Result<Self, AppError> {
        let mut window = Window::new(
            title,
            INITIAL.0,
            INITIAL.1,
            WindowOptions {
                resize: true,
                // The canvas is always the window's size: minifb copies it and never
                // resamples (the tiles are scaled once, each to its own box).
                scale_mode: ScaleMode::UpperLeft,
                ..WindowOptions::default()
            },
        )
        .map_err(|e| AppError::Display(no_display_message(&e)))?;
        // minifb's own limiter would sleep inside update; frame arrival paces us instead.
        window.set_target_fps(0);
        let keys = Rc::new(RefCell::new(KeyTaps::default()));
        window.set_input_callback(Box::new(TapRecorder(keys.clone())));
        let now = Instant::now();
        let mut d = Display {
            window,
            base_title: title.to_string(),
            status: String::new(),
            closed: false,
            show_messages: false,
            tiles: Vec::new(),
            mode: Mode::Grid,
            canvas: Compositor::default(),
            all_dirty: true,
            keys,
            sizes: DrawSizes::default(),
            linger: DEFAULT_LINGER,
            last_redraw: None,
            next_tick: now + TICK,
        };
        d.redraw(now);
        d.set_status("waiting for frames");
        Ok(d)
    }

    /// Shows `frame` as the newest picture of the sender `tile` (a new tile if it has none);
    /// returns that tile's previous pixels for reuse. A frame means the sender is live again.
    pub fn show_tile(&mut self, tile: &str, frame: DisplayFrame) -> Option<Vec<u32>> {
        let now = Instant::now();
        let i = self.tile_index(tile, now);
        let t = &mut self.tiles[i];
        let old = t.frame.replace(frame);
        t.last_frame = Some(now);
        t.rate.count += 1;
        t.dirty = true;
        if t.signal != Signal::Live {
            t.signal = Signal::Live;
            t.since = now;
            self.update_title();
        }
        self.redraw_if_due(now);
        old.map(|f| f.pixels)
    }

    /// Marks the sender `tile` live, lost (dimmed under "no signal") or finished (its last
    /// picture stays as it was). A tile lost or finished for longer than the linger
    /// ([`DEFAULT_LINGER`], see [`Display::set_linger`]) is removed, unless it is the last.
    /// `Live` makes a tile for a sender that has not sent a frame yet; the other states of an
    /// unknown sender are ignored.
    pub fn set_signal(&mut self, tile: &str, state: Signal) {
        let now = Instant::now();
        let i = match self.find(tile) {
            Some(i) => i,
            None if state == Signal::Live => self.tile_index(tile, now),
            None => return,
        };
        let t = &mut self.tiles[i];
        if t.signal == state {
            return;
        }
        t.signal = state;
        t.since = now;
        t.dirty = true;
        self.update_title();
        self.redraw_if_due(now);
    }

    /// Draws each tile's latest message over its picture from now on (`--show-messages`).
    pub fn show_messages(&mut self, on: bool) {
        if self.show_messages != on {
            self.show_messages = on;
            self.all_dirty = true;
        }
    }

    /// Remembers `text` as the sender `tile`'s latest message and, when messages are shown,
    /// draws it along the bottom of its picture.
    pub fn set_tile_message(&mut self, tile: &str, text: &str) {
        if !self.show_messages {
            return;
        }
        let now = Instant::now();
        let i = self.tile_index(tile, now);
        self.tiles[i].message = Some(text.to_string());
        self.tiles[i].dirty = true;
        self.redraw_if_due(now);
    }

    /// A handle on the boxes tiles are drawn in, for decode threads: see [`DrawSizes`].
    pub fn draw_sizes(&self) -> DrawSizes {
        self.sizes.clone()
    }

    /// The senders with a tile, in the order keys 1-9 pick them.
    pub fn tile_names(&self) -> impl Iterator<Item = &str> {
        self.tiles.iter().map(|t| t.name.as_str())
    }

    /// Removes the sender `tile`'s tile now, whatever its state.
    pub fn remove_tile(&mut self, tile: &str) {
        if let Some(i) = self.find(tile) {
            self.remove(i);
            self.redraw(Instant::now());
        }
    }

    /// How long a lost or finished sender's tile stays ([`DEFAULT_LINGER`] unless set).
    pub fn set_linger(&mut self, linger: Duration) {
        self.linger = linger;
    }

    /// Keeps the window responsive when no new frame has come: handles keys and resizes,
    /// redraws what changed, and at least once a second brings labels (frame age, rate),
    /// dimmed tiles and lingering tiles up to date. Call it often (every 10 ms or so).
    pub fn idle(&mut self) {
        let now = Instant::now();
        self.handle_keys();
        if now >= self.next_tick {
            self.tick(now);
        }
        if self.is_dirty() || self.window.get_size() != self.canvas_size() {
            self.redraw(now);
        } else {
            self.window.update();
            self.handle_keys();
        }
    }

    /// False once the user closed the window or pressed q, or Esc in the grid.
    pub fn is_open(&self) -> bool {
        !self.closed && self.window.is_open()
    }

    /// Puts `status` (frame rate, bitrate) in the title bar.
    pub fn set_status(&mut self, status: &str) {
        self.status = status.to_string();
        self.update_title();
    }

    fn find(&self, tile: &str) -> Option<usize> {
        self.tiles.iter().position(|t| t.name == tile)
    }

    /// The index of `tile`, made (and the layout redone) if it is new.
    fn tile_index(&mut self, tile: &str, now: Instant) -> usize {
        if let Some(i) = self.find(tile) {
            return i;
        }
        self.tiles.push(Tile::new(tile, now));
        self.relayout();
        self.update_title();
        self.tiles.len() - 1
    }

    fn remove(&mut self, i: usize) {
        self.tiles.remove(i);
        self.mode = self.mode.on_removed(i);
        self.relayout();
        self.update_title();
    }

    fn canvas_size(&self) -> (usize, usize) {
        let (w, h) = self.canvas.size();
        (w as usize, h as usize)
    }

    fn is_dirty(&self) -> bool {
        self.all_dirty || self.tiles.iter().any(|t| t.dirty)
    }

    /// Marks everything for redrawing and tells the decoders the new boxes.
    fn relayout(&mut self) {
        self.all_dirty = true;
        self.mode = self.mode.normalised(self.tiles.len());
        let (w, h) = self.canvas.size();
        let n = self.tiles.len();
        let grid = super::tiles::layout(n, w, h);
        let shown = self.canvas.areas(self.mode, n);
        // A hidden tile (another is enlarged) keeps its grid box: going back to the grid then
        // shows it sharp at once, and a still picture is not left decoded at 1/8.
        let boxes = self
            .tiles
            .iter()
            .zip(grid.iter().zip(shown))
            .map(|(t, (g, s))| {
                let r = s.unwrap_or(*g);
                (t.name.clone(), (r.w, r.h))
            })
            .collect();
        let next = super::tiles::layout(n + 1, w, h)
            .last()
            .map_or((w, h), |r| (r.w, r.h));
        self.sizes.publish(boxes, next);
    }

    /// Applies the keys pressed since the last call.
    fn handle_keys(&mut self) {
        loop {
            let Some(key) = self.keys.borrow_mut().taps.pop_front() else {
                return;
            };
            let Some(k) = view_key(key) else { continue };
            match self.mode.on_key(k, self.tiles.len()) {
                Action::Stay => {}
                Action::Quit => self.closed = true,
                Action::Switch(m) => {
                    self.mode = m;
                    self.relayout();
                }
            }
        }
    }

    /// Once a second: rates, lingering tiles, and every label (their ages changed).
    fn tick(&mut self, now: Instant) {
        self.next_tick = now + TICK;
        for t in &mut self.tiles {
            t.rate.update(now);
        }
        while self.tiles.len() > 1 {
            let expired = self.tiles.iter().position(|t| {
                t.signal != Signal::Live && now.saturating_duration_since(t.since) >= self.linger
            });
            match expired {
                Some(i) => self.remove(i),
                None => break,
            }
        }
        self.all_dirty = true;
    }

    fn redraw_if_due(&mut self, now: Instant) {
        let due = self
            .last_redraw
            .is_none_or(|t| now.saturating_duration_since(t) >= MIN_REDRAW_GAP);
        if due {
            self.redraw(now);
        }
    }

    /// Draws what changed at the window's current size and hands it to minifb.
    fn redraw(&mut self, now: Instant) {
        self.handle_keys();
        let (w, h) = self.window.get_size();
        let (w32, h32) = (
            u32::try_from(w).unwrap_or(u32::MAX),
            u32::try_from(h).unwrap_or(u32::MAX),
        );
        if self.canvas.resize(w32, h32) {
            self.relayout();
        }
        let messages = self.show_messages;
        if self.all_dirty {
            let views: Vec<TileView> = self.tiles.iter().map(|t| t.view(now, messages)).collect();
            self.canvas.compose(self.mode, &views);
        } else {
            let areas = self.canvas.areas(self.mode, self.tiles.len());
            for (t, area) in self.tiles.iter().zip(areas) {
                if let (true, Some(area)) = (t.dirty, area) {
                    self.canvas.draw_tile(area, &t.view(now, messages));
                }
            }
        }
        self.all_dirty = false;
        self.tiles.iter_mut().for_each(|t| t.dirty = false);
        self.last_redraw = Some(now);
        if w == 0 || h == 0 {
            // Minimised: nothing to draw into, but events still need pumping.
            self.window.update();
        } else if self
            .window
            .update_with_buffer(self.canvas.pixels(), w, h)
            .is_err()
        {
            self.closed = true;
        }
        self.handle_keys();
    }

    fn update_title(&mut self) {
        // With one sender the title says what its tile says, as the single-sender viewer did.
        let t = match self.tiles.as_slice() {
            [one] if one.signal == Signal::Lost => {
                format!(
                    "{} — sender disconnected — {}",
                    self.base_title, self.status
                )
            }
            [one] if one.signal == Signal::Finished => {
                format!("{} — sender finished — {}", self.base_title, self.status)
            }
            _ => format!("{} — {}", self.base_title, self.status),
        };
        self.window.set_title(&t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_digit_rows_escape_and_q_are_view_keys() {
        assert_eq!(view_key(Key::Key1), Some(ViewKey::Digit(1)));
        assert_eq!(view_key(Key::NumPad9), Some(ViewKey::Digit(9)));
        assert_eq!(view_key(Key::Key0), Some(ViewKey::Digit(0)));
        assert_eq!(view_key(Key::NumPad0), Some(ViewKey::Digit(0)));
        assert_eq!(view_key(Key::Escape), Some(ViewKey::Escape));
        assert_eq!(view_key(Key::Q), Some(ViewKey::Quit));
        assert_eq!(view_key(Key::A), None);
    }

    #[test]
    fn a_tap_between_updates_is_kept_and_a_held_key_counts_once() {
        let taps = Rc::new(RefCell::new(KeyTaps::default()));
        let mut cb = TapRecorder(taps.clone());
        // xdotool's press and release, back to back, before any update samples them.
        cb.set_key_state(Key::Key2, true);
        cb.set_key_state(Key::Key2, false);
        // A held Esc reported down twice.
        cb.set_key_state(Key::Escape, true);
        cb.set_key_state(Key::Escape, true);
        let got: Vec<Key> = taps.borrow_mut().taps.drain(..).collect();
        assert_eq!(got, vec![Key::Key2, Key::Escape]);
    }

    #[test]
    fn draw_sizes_fall_back_to_the_next_tiles_box() {
        let s = DrawSizes::default();
        assert_eq!(s.get("a"), (0, 0));
        let mut m = HashMap::new();
        m.insert("a".to_string(), (478, 268));
        s.publish(m, (318, 178));
        assert_eq!(s.clone().get("a"), (478, 268));
        assert_eq!(s.get("b"), (318, 178));
    }
}
