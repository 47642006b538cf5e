//! The tiled multi-camera view without a window: where each sender's picture goes, which keys
//! change the view, and the drawing of every tile into one buffer of exactly the window's
//! size. [`super::window::Display`] is the thin minifb layer over it; everything here is pure
//! and tested without a display.
//!
//! The grid has `ceil(sqrt(n))` columns and as many rows as needed (2 senders side by side,
//! 3-4 in a 2x2, 5-9 in a 3x3, 10-16 in a 4x4), each picture fitted into its cell with its
//! aspect kept and a label strip (name, frame rate, time since the last frame) over its top.

mod compose;
mod keys;
mod layout;
mod text;

pub use compose::{Compositor, PictureRef, Signal, TileView};
pub use keys::{Action, Mode, ViewKey};
pub use layout::{fit, grid, layout, Rect};
pub use text::draw_text_band;
