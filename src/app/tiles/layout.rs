//! Where tiles go: the grid of cells for `n` senders, and a picture fitted into a cell.

use crate::media::codec::fit_size;

/// A rectangle of window pixels: `x`, `y` is the top-left corner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

impl Rect {
    /// A rectangle from its corner and size.
    pub const fn new(x: u32, y: u32, w: u32, h: u32) -> Self {
        Rect { x, y, w, h }
    }

    /// True when it covers no pixel.
    pub fn is_empty(&self) -> bool {
        self.w == 0 || self.h == 0
    }

    /// One past the right edge.
    pub fn right(&self) -> u32 {
        self.x.saturating_add(self.w)
    }

    /// One past the bottom edge.
    pub fn bottom(&self) -> u32 {
        self.y.saturating_add(self.h)
    }

    /// True when `other` lies wholly inside this one.
    pub fn contains(&self, other: &Rect) -> bool {
        other.x >= self.x
            && other.y >= self.y
            && other.right() <= self.right()
            && other.bottom() <= self.bottom()
    }

    /// Shrunk by `by` pixels on every side (to nothing when too small).
    pub fn inset(&self, by: u32) -> Rect {
        let w = self.w.saturating_sub(2 * by);
        let h = self.h.saturating_sub(2 * by);
        if w == 0 || h == 0 {
            return Rect::new(self.x, self.y, 0, 0);
        }
        Rect::new(self.x + by, self.y + by, w, h)
    }
}

/// The grid for `n` tiles as `(columns, rows)`: `ceil(sqrt(n))` columns, the rows needed.
pub fn grid(n: usize) -> (u32, u32) {
    if n == 0 {
        return (0, 0);
    }
    let mut cols = n.isqrt();
    if cols * cols < n {
        cols += 1;
    }
    let rows = n.div_ceil(cols);
    (cols as u32, rows as u32)
}

/// The gutter each cell loses on every side when there are several, so that neighbouring
/// pictures of similar colour stay apart.
const GUTTER: u32 = 1;

/// The boxes of `n` tiles in a `win_w` x `win_h` window, row by row: the window split into
/// [`grid`] cells (the remainder pixels spread over them), less a one-pixel gutter per side
/// when there is more than one. Every box lies inside the window; in a window too small for
/// the grid some boxes are empty, never out of bounds. One tile gets the whole window.
pub fn layout(n: usize, win_w: u32, win_h: u32) -> Vec<Rect> {
    let (cols, rows) = grid(n);
    let mut out = Vec::with_capacity(n);
    for i in 0..n as u32 {
        let (c, r) = (i % cols, i / cols);
        // u64: no overflow for any window size.
        let x0 = (c as u64 * win_w as u64 / cols as u64) as u32;
        let x1 = ((c + 1) as u64 * win_w as u64 / cols as u64) as u32;
        let y0 = (r as u64 * win_h as u64 / rows as u64) as u32;
        let y1 = ((r + 1) as u64 * win_h as u64 / rows as u64) as u32;
        let cell = Rect::new(x0, y0, x1 - x0, y1 - y0);
        out.push(if n > 1 { cell.inset(GUTTER) } else { cell });
    }
    out
}

/// A `pic_w` x `pic_h` picture fitted into `area` with its aspect kept, centred (letterboxed
/// or pillarboxed). Empty when either is.
pub fn fit(pic_w: u32, pic_h: u32, area: Rect) -> Rect {
    let (w, h) = fit_size(pic_w, pic_h, area.w, area.h);
    if w == 0 || h == 0 {
        return Rect::new(area.x, area.y, 0, 0);
    }
    Rect::new(area.x + (area.w - w) / 2, area.y + (area.h - h) / 2, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_have_ceil_sqrt_columns() {
        let want = [
            (0, (0, 0)),
            (1, (1, 1)),
            (2, (2, 1)),
            (3, (2, 2)),
            (4, (2, 2)),
            (5, (3, 2)),
            (9, (3, 3)),
            (10, (4, 3)),
            (16, (4, 4)),
        ];
        for (n, g) in want {
            assert_eq!(grid(n), g, "n = {n}");
            assert_eq!(layout(n, 960, 540).len(), n);
        }
    }

    fn overlaps(a: &Rect, b: &Rect) -> bool {
        a.x < b.right() && b.x < a.right() && a.y < b.bottom() && b.y < a.bottom()
    }

    #[test]
    fn boxes_stay_inside_the_window_and_apart() {
        let sizes = [
            (960, 540),
            (1280, 800),
            (641, 479),
            (1, 1),
            (3, 2),
            (0, 0),
            (7, 1000),
        ];
        for (w, h) in sizes {
            let win = Rect::new(0, 0, w, h);
            for n in 0..=16 {
                let boxes = layout(n, w, h);
                for (i, b) in boxes.iter().enumerate() {
                    assert!(win.contains(b), "n={n} {w}x{h}: {b:?}");
                    for o in &boxes[i + 1..] {
                        assert!(b.is_empty() || o.is_empty() || !overlaps(b, o));
                    }
                }
            }
        }
        assert_eq!(layout(1, 960, 540), vec![Rect::new(0, 0, 960, 540)]);
    }

    #[test]
    fn a_2x2_fills_the_window() {
        let b = layout(4, 960, 540);
        assert_eq!(b[0], Rect::new(1, 1, 478, 268));
        assert_eq!(b[3], Rect::new(481, 271, 478, 268));
        let (widths, heights): (u32, u32) = (b[0].w + b[1].w, b[0].h + b[2].h);
        assert!(widths + 4 == 960 && heights + 4 == 540);
    }

    #[test]
    fn pictures_keep_their_aspect() {
        for (pw, ph) in [(1920, 1080), (640, 480), (480, 640)] {
            for n in [1, 2, 3, 4, 5, 9, 10, 16] {
                for cell in layout(n, 1280, 800) {
                    let r = fit(pw, ph, cell);
                    assert!(cell.contains(&r));
                    // One side fills the cell, the other is within a pixel of the aspect.
                    assert!(r.w == cell.w || r.h == cell.h);
                    let want = r.w as f64 * ph as f64 / pw as f64;
                    assert!(
                        (r.h as f64 - want).abs() <= 1.0,
                        "{pw}x{ph} in {cell:?}: {r:?}"
                    );
                }
            }
        }
        // 4:3 in 16:9 is pillarboxed and centred.
        assert_eq!(
            fit(640, 480, Rect::new(0, 0, 960, 540)),
            Rect::new(120, 0, 720, 540)
        );
        assert!(fit(640, 480, Rect::new(5, 5, 0, 10)).is_empty());
        assert!(fit(0, 480, Rect::new(5, 5, 10, 10)).is_empty());
    }
}
