//! The built-in moving test pattern that `cam-send` streams when no camera is
//! asked for.
//!
//! The pattern is built to make transport problems obvious to a person
//! watching the receiver: a bouncing box and a sweeping line stop moving when
//! frames freeze and jump when frames are dropped, and a large frame counter
//! tells exactly which frame is on screen. A static noise texture keeps JPEG
//! sizes close to those of a real webcam so that bandwidth and fragmentation
//! behave realistically.
//!
//! # Layout
//!
//! For a `w` x `h` frame (after clamping to [`MIN_SIZE`]..=[`MAX_SIZE`]):
//!
//! * Rows `0 .. h*2/3`: eight vertical bars in [`BAR_COLOURS`] order, each
//!   `w/8` wide; the last bar also takes the remainder `w % 8`.
//! * Rows `h*2/3 .. h`, columns `0 .. w/2`: a horizontal grey ramp from 0 at
//!   the left edge to 255 at column `w/2 - 1`.
//! * Rows `h*2/3 .. h`, columns `w/2 .. w`: a static, deterministic noise
//!   texture (the same for every frame; it tiles every 1024 pixels, so only
//!   frames wider than 2048 or taller than 3072 show a repeat).
//!
//! Drawn on top, in this order, as a pure function of the frame number `n`:
//!
//! * a 4-pixel-wide white (255, 255, 255) vertical line spanning the full
//!   height, whose left edge is at `(n % 120) * (w - 4) / 119`, so it crosses
//!   the frame once every 120 frames;
//! * an orange (255, 128, 0) box of `w/8` x `h/6` pixels bouncing off the
//!   frame edges; at `n = 0` it sits in the top-left corner;
//! * the frame counter: `n` in decimal, zero-padded to at least six digits,
//!   as white (255, 255, 255) seven-segment digits on a black (0, 0, 0) panel
//!   in the top-left corner. Digits are about `h/8` tall. For frames at least
//!   120 pixels high the panel stays inside the top `h/5` rows.
//!
//! So at `n = 0` the centre column of every bar, between rows `h/5` and
//! `h*2/3`, shows the exact bar colour: a handy frame for external tests.

use std::fmt;

/// The colours of the eight vertical bars, left to right (exported so tests
/// can look for them on screen).
pub const BAR_COLOURS: [[u8; 3]; 8] = [
    [235, 235, 235],
    [235, 235, 16],
    [16, 235, 235],
    [16, 235, 16],
    [235, 16, 235],
    [235, 16, 16],
    [16, 16, 235],
    [16, 16, 16],
];

/// Smallest width and height [`Pattern::new`] produces; smaller requests
/// (including 0) are clamped up to this.
pub const MIN_SIZE: u32 = 16;

/// Largest width and height [`Pattern::new`] produces; larger requests are
/// clamped down to this.
pub const MAX_SIZE: u32 = 8192;

const WHITE: [u8; 3] = [255, 255, 255];
const BLACK: [u8; 3] = [0, 0, 0];
const ORANGE: [u8; 3] = [255, 128, 0];

/// Frames per sweep of the vertical line: four seconds at 30 fps is slow
/// enough to follow by eye yet fast enough to notice a stall immediately.
const SWEEP_FRAMES: u64 = 120;
const LINE_WIDTH: u32 = 4;

/// The counter always shows at least this many digits so that its panel does
/// not change size during the first ~9 hours at 30 fps.
const MIN_DIGITS: usize = 6;

/// Seed for the texture hash; fixed so every build and every machine renders
/// byte-identical frames.
const SEED: u32 = 0x2545_f491;

/// The texture repeats with this period (pixels) in both directions; it must
/// be a power of two no smaller than the largest octave period.
const TEXTURE_TILE: usize = 1024;

/// Luma noise octaves as (log2 of the lattice period in pixels, amplitude in
/// grey levels). Periods are in pixels, not fractions of the frame, so the
/// texture has the same detail per pixel at every resolution and JPEG sizes
/// scale with frame area as they do for a real camera. Amplitudes grow with
/// the period (roughly 1/f), like natural images; the fine octaves set the
/// JPEG size and were tuned against q80 4:2:0 (see NOTES.md).
const LUMA_OCTAVES: [(u32, i32); 8] = [
    (0, 20),
    (1, 22),
    (2, 20),
    (3, 18),
    (4, 20),
    (5, 24),
    (6, 28),
    (7, 32),
];

/// Chroma only varies slowly: 4:2:0 subsampling would discard fine colour
/// detail anyway, and real scenes carry little of it.
const CHROMA_OCTAVES: [(u32, i32); 4] = [(3, 6), (4, 8), (5, 12), (7, 20)];

/// Segment masks for the digits 0-9; bit 0 is segment a (top), then b (top
/// right), c (bottom right), d (bottom), e (bottom left), f (top left) and
/// g (middle).
const SEGMENTS: [u8; 10] = [0x3f, 0x06, 0x5b, 0x4f, 0x66, 0x6d, 0x7d, 0x07, 0x7f, 0x6f];

/// The built-in moving test pattern.
///
/// Construction precomputes the static background (bars, ramp and texture),
/// so [`Pattern::render`] only copies it and draws a few rectangles.
#[derive(Clone)]
pub struct Pattern {
    width: u32,
    height: u32,
    /// Static part of every frame, packed RGB24.
    background: Vec<u8>,
    box_w: u32,
    box_h: u32,
    /// Box speed in pixels per frame along each axis.
    box_vx: u32,
    box_vy: u32,
    digits: DigitGeometry,
    /// The background as planar 4:2:0, made on first use (only libjpeg-turbo builds use it).
    background_i420: std::sync::OnceLock<Vec<u8>>,
}

/// Sizes of the counter, fixed per frame size so the panel does not jitter.
#[derive(Clone, Copy, Debug)]
struct DigitGeometry {
    /// Digit height.
    height: u32,
    /// Digit width.
    width: u32,
    /// Segment thickness.
    stroke: u32,
    /// Space between digits.
    gap: u32,
    /// Black border around the digits inside the panel.
    pad: u32,
    /// Distance of the panel from the top and left frame edges.
    margin: u32,
}

impl DigitGeometry {
    fn for_height(dh: u32) -> DigitGeometry {
        let stroke = ((dh + 3) / 7).max(1);
        DigitGeometry {
            height: dh,
            width: (dh * 11 / 20).max(3),
            stroke,
            gap: stroke,
            pad: stroke,
            margin: stroke,
        }
    }

    fn panel_width(&self, count: u32) -> u32 {
        2 * self.pad + count * self.width + count.saturating_sub(1) * self.gap
    }

    fn panel_height(&self) -> u32 {
        2 * self.pad + self.height
    }
}

/// A rectangle in pixels; it may extend past the frame and is clipped when
/// drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rect {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

impl Rect {
    /// The rectangle cut to a `width` x `height` frame, as `(x0, x1, y0, y1)` half-open
    /// pixel ranges; `None` when nothing of it is inside.
    fn clip(&self, width: u32, height: u32) -> Option<(usize, usize, usize, usize)> {
        let x0 = self.x.min(width) as usize;
        let x1 = self.x.saturating_add(self.w).min(width) as usize;
        let y0 = self.y.min(height) as usize;
        let y1 = self.y.saturating_add(self.h).min(height) as usize;
        (x0 < x1 && y0 < y1).then_some((x0, x1, y0, y1))
    }
}

impl fmt::Debug for Pattern {
    // Hand-written so that printing a pattern does not dump megabytes of
    // background pixels.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pattern")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl Pattern {
    /// A pattern of `width` x `height` pixels.
    ///
    /// Each dimension is clamped to [`MIN_SIZE`]..=[`MAX_SIZE`] (so 0x0 gives
    /// 16x16); [`Pattern::width`] and [`Pattern::height`] report the size
    /// actually rendered. Never panics. Cost grows with the area (release:
    /// about 25 ms at 1920x1080, 0.3 s and 200 MB at 8192x8192), so build
    /// one pattern and reuse it.
    pub fn new(width: u32, height: u32) -> Pattern {
        let w = width.clamp(MIN_SIZE, MAX_SIZE);
        let h = height.clamp(MIN_SIZE, MAX_SIZE);

        // Shrink the digits on narrow frames so six of them still fit; below
        // 7 pixels seven-segment digits stop being readable, so the counter
        // is clipped instead on frames that cannot hold even that.
        let mut dh = (h / 8).max(7);
        loop {
            let g = DigitGeometry::for_height(dh);
            if dh <= 7 || g.margin + g.panel_width(MIN_DIGITS as u32) <= w {
                break;
            }
            dh -= 1;
        }

        Pattern {
            width: w,
            height: h,
            background: background(w, h),
            box_w: (w / 8).max(1),
            box_h: (h / 6).max(1),
            // A few pixels per frame at common sizes: smooth at 30 fps while
            // still crossing the frame in a handful of seconds.
            box_vx: (w / 256).max(1),
            box_vy: (h / 240).max(1),
            digits: DigitGeometry::for_height(dh),
            background_i420: std::sync::OnceLock::new(),
        }
    }

    /// Width in pixels of every rendered frame (after clamping).
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels of every rendered frame (after clamping).
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Renders frame number `n` as packed RGB24 (3 bytes per pixel,
    /// row-major, no padding) into `out`, resizing `out` to
    /// `width * height * 3`. Reusing the same `out` across calls avoids
    /// reallocation.
    pub fn render(&self, n: u64, out: &mut Vec<u8>) {
        self.render_over(n, out, None);
    }

    /// [`Pattern::render`] into a buffer that may already hold frame `previous` exactly as
    /// this pattern rendered it: then only the regions that move are repainted (the
    /// background under frame `previous`'s line, box and counter, then frame `n`'s), about 5% of
    /// the pixels instead of a copy of the whole frame. With `None`, or a buffer of the wrong
    /// size, it renders from scratch. The result is byte for byte that of `render`.
    pub fn render_over(&self, n: u64, out: &mut Vec<u8>, previous: Option<u64>) {
        match previous {
            Some(p) if out.len() == self.background.len() => {
                for r in self.moving_rects(p) {
                    self.restore(out, r);
                }
            }
            _ => {
                // clear + extend is a single memcpy into the existing capacity; a
                // resize first would zero-fill bytes that are overwritten at once.
                out.clear();
                out.extend_from_slice(&self.background);
            }
        }
        let (w, h) = (self.width, self.height);
        self.draw(n, &mut |r, c| fill_rect(out, w, h, r, c));
    }

    /// The moving parts of frame `n` in drawing order: the sweep line, the box, the counter.
    fn draw(&self, n: u64, fill: &mut impl FnMut(Rect, [u8; 3])) {
        fill(self.line_rect(n), WHITE);
        fill(self.box_rect(n), ORANGE);
        self.draw_counter(n, fill);
    }

    /// The regions frame `n` paints over the background.
    fn moving_rects(&self, n: u64) -> [Rect; 3] {
        [
            self.line_rect(n),
            self.box_rect(n),
            self.counter_panel(digit_count(n)),
        ]
    }

    /// True when frames can be rendered as planar 4:2:0 ([`Pattern::render_i420_over`]):
    /// both sides even.
    pub fn has_i420(&self) -> bool {
        self.width.is_multiple_of(2) && self.height.is_multiple_of(2)
    }

    fn background_i420(&self) -> &[u8] {
        self.background_i420.get_or_init(|| {
            let mut out = Vec::new();
            crate::media::codec::rgb_to_i420(&self.background, self.width, self.height, &mut out)
                .expect("the background has the pattern's size, and the caller checked has_i420");
            out
        })
    }

    /// [`Pattern::render_over`] as planar 4:2:0 (see [`crate::media::codec::i420_len`]), for encoders
    /// that take it without a colour conversion. Only when [`Pattern::has_i420`]. Chroma is
    /// painted per 2x2 block, so a region's colour reaches half a block past an odd edge.
    pub fn render_i420_over(&self, n: u64, out: &mut Vec<u8>, previous: Option<u64>) {
        let bg = self.background_i420();
        let (w, h) = (self.width, self.height);
        match previous {
            Some(p) if out.len() == bg.len() => {
                for r in self.moving_rects(p) {
                    i420_region(out, w, h, r, |dst, range| dst.copy_from_slice(&bg[range]));
                }
            }
            _ => {
                out.clear();
                out.extend_from_slice(bg);
            }
        }
        self.draw(n, &mut |r, c| {
            let [y, u, v] = crate::media::codec::rgb_to_ycbcr(c);
            i420_region(out, w, h, r, |dst, range| {
                let plane = plane_of(range.start, w, h);
                dst.fill([y, u, v][plane]);
            });
        });
    }

    /// Copies the background back under `r`, row by row.
    fn restore(&self, out: &mut [u8], r: Rect) {
        let Some((x0, x1, y0, y1)) = r.clip(self.width, self.height) else {
            return;
        };
        let stride = self.width as usize * 3;
        for y in y0..y1 {
            let row = y * stride + x0 * 3..y * stride + x1 * 3;
            out[row.clone()].copy_from_slice(&self.background[row]);
        }
    }

    fn line_rect(&self, n: u64) -> Rect {
        let lw = LINE_WIDTH.min(self.width);
        let span = u64::from(self.width - lw);
        // Dividing by SWEEP_FRAMES - 1 puts the line flush against the right
        // edge on the last frame of the sweep.
        let x = (n % SWEEP_FRAMES) * span / (SWEEP_FRAMES - 1);
        Rect {
            x: x as u32,
            y: 0,
            w: lw,
            h: self.height,
        }
    }

    fn box_rect(&self, n: u64) -> Rect {
        Rect {
            x: bounce(n, self.box_vx, self.width - self.box_w),
            y: bounce(n, self.box_vy, self.height - self.box_h),
            w: self.box_w,
            h: self.box_h,
        }
    }

    fn counter_panel(&self, count: usize) -> Rect {
        let g = &self.digits;
        Rect {
            x: g.margin,
            y: g.margin,
            w: g.panel_width(count as u32),
            h: g.panel_height(),
        }
    }

    fn draw_counter(&self, n: u64, fill: &mut impl FnMut(Rect, [u8; 3])) {
        // u64::MAX has 20 decimal digits; collect them least significant
        // first without allocating.
        let mut rev = [0u8; 20];
        let mut len = 0;
        let mut v = n;
        loop {
            rev[len] = (v % 10) as u8;
            v /= 10;
            len += 1;
            if v == 0 {
                break;
            }
        }
        let count = len.max(MIN_DIGITS);

        let panel = self.counter_panel(count);
        fill(panel, BLACK);

        let g = &self.digits;
        let (dw, dh, t) = (g.width, g.height, g.stroke);
        let mid = (dh - t) / 2;
        // Segment rectangles relative to the digit origin, in bit order a-g.
        let segs = [
            (0, 0, dw, t),
            (dw - t, 0, t, mid + t),
            (dw - t, mid, t, dh - mid),
            (0, dh - t, dw, t),
            (0, mid, t, dh - mid),
            (0, 0, t, mid + t),
            (0, mid, dw, t),
        ];
        for i in 0..count {
            let pos = count - 1 - i;
            let digit = if pos < len { rev[pos] } else { 0 };
            let ox = panel.x + g.pad + i as u32 * (dw + g.gap);
            let oy = panel.y + g.pad;
            if ox >= self.width {
                break;
            }
            let mask = SEGMENTS[usize::from(digit)];
            for (bit, &(sx, sy, sw, sh)) in segs.iter().enumerate() {
                if mask & (1 << bit) != 0 {
                    let r = Rect {
                        x: ox + sx,
                        y: oy + sy,
                        w: sw,
                        h: sh,
                    };
                    fill(r, WHITE);
                }
            }
        }
    }
}

/// Which plane (0 Y, 1 U, 2 V) byte `at` of a `w` x `h` 4:2:0 picture is in.
fn plane_of(at: usize, w: u32, h: u32) -> usize {
    let luma = w as usize * h as usize;
    let chroma = luma / 4;
    if at < luma {
        0
    } else if at < luma + chroma {
        1
    } else {
        2
    }
}

/// Calls `op` on every row segment of region `r` in a `w` x `h` 4:2:0 picture: the Y rows of
/// `r`, then the U and V rows of the 2x2 blocks it touches; `op` gets the segment and its byte
/// range in the picture.
fn i420_region(
    buf: &mut [u8],
    w: u32,
    h: u32,
    r: Rect,
    mut op: impl FnMut(&mut [u8], std::ops::Range<usize>),
) {
    let Some((x0, x1, y0, y1)) = r.clip(w, h) else {
        return;
    };
    let (w, h) = (w as usize, h as usize);
    for y in y0..y1 {
        let range = y * w + x0..y * w + x1;
        op(&mut buf[range.clone()], range);
    }
    let (cw, luma) = (w / 2, w * h);
    let (cx0, cx1, cy0, cy1) = (x0 / 2, x1.div_ceil(2), y0 / 2, y1.div_ceil(2));
    for plane in [luma, luma + luma / 4] {
        for cy in cy0..cy1 {
            let range = plane + cy * cw + cx0..plane + cy * cw + cx1;
            op(&mut buf[range.clone()], range);
        }
    }
}

/// How many digits the counter shows for frame `n` (at least [`MIN_DIGITS`]).
fn digit_count(n: u64) -> usize {
    let mut len = 1;
    let mut v = n / 10;
    while v > 0 {
        len += 1;
        v /= 10;
    }
    len.max(MIN_DIGITS)
}

/// Position along one axis of a point moving `speed` pixels per frame and
/// bouncing between 0 and `range`.
fn bounce(n: u64, speed: u32, range: u32) -> u32 {
    if range == 0 {
        return 0;
    }
    let period = 2 * u64::from(range);
    // Reducing n first keeps the product far from overflow for any u64 n;
    // (n mod p) * v mod p == n * v mod p.
    let t = (n % period) * u64::from(speed) % period;
    let pos = if t <= u64::from(range) { t } else { period - t };
    pos as u32
}

fn fill_rect(buf: &mut [u8], width: u32, height: u32, r: Rect, colour: [u8; 3]) {
    let Some((x0, x1, y0, y1)) = r.clip(width, height) else {
        return;
    };
    let stride = width as usize * 3;
    let first = y0 * stride + x0 * 3..y0 * stride + x1 * 3;
    for px in buf[first.clone()].chunks_exact_mut(3) {
        px.copy_from_slice(&colour);
    }
    // Copying the finished first row is much faster than writing 3-byte
    // pixels one by one on every row.
    for y in y0 + 1..y1 {
        buf.copy_within(first.clone(), y * stride + x0 * 3);
    }
}

/// The static part of every frame: bars, ramp and texture.
fn background(w: u32, h: u32) -> Vec<u8> {
    let (wu, hu) = (w as usize, h as usize);
    let mut bg = vec![0u8; wu * hu * 3];
    let stride = wu * 3;
    let top_h = hu * 2 / 3;
    let bar_w = wu / 8;
    let half = wu / 2;

    // Bars: build one row, then copy it down the top two thirds.
    for (x, px) in bg[..stride].chunks_exact_mut(3).enumerate() {
        let k = (x / bar_w.max(1)).min(7);
        px.copy_from_slice(&BAR_COLOURS[k]);
    }
    for y in 1..top_h {
        bg.copy_within(0..stride, y * stride);
    }

    // Bottom third: ramp on the left half, texture on the right half. The
    // texture is built a row at a time so each lattice value is hashed once
    // per row and cell rather than four times per pixel, and it repeats
    // every TEXTURE_TILE pixels so huge frames cost no more to texture than
    // a 1024x1024 tile plus copies (frames up to 2048 wide never show a
    // repeat).
    let tex_w = wu - half;
    let tile_w = tex_w.min(TEXTURE_TILE);
    let mut luma = vec![0i32; tile_w];
    let mut cb = vec![0i32; tile_w];
    let mut cr = vec![0i32; tile_w];
    for y in top_h..hu {
        let ty = y - top_h;
        let row_start = y * stride;
        for x in 0..half {
            let v = if half > 1 { x * 255 / (half - 1) } else { 0 };
            let i = row_start + x * 3;
            bg[i..i + 3].copy_from_slice(&[v as u8; 3]);
        }
        let tex = row_start + half * 3..row_start + stride;
        if ty >= TEXTURE_TILE {
            let src = tex.start - TEXTURE_TILE * stride;
            bg.copy_within(src..src + tex_w * 3, tex.start);
            continue;
        }

        for acc in [&mut luma, &mut cb, &mut cr] {
            acc.fill(0);
        }
        let ty = ty as u32;
        for (i, &(shift, amp)) in LUMA_OCTAVES.iter().enumerate() {
            add_octave(&mut luma, ty, shift, i as u32, amp);
        }
        for (i, &(shift, amp)) in CHROMA_OCTAVES.iter().enumerate() {
            add_octave(&mut cb, ty, shift, 100 + i as u32, amp);
            add_octave(&mut cr, ty, shift, 200 + i as u32, amp);
        }
        let tex = &mut bg[tex];
        for (x, px) in tex[..tile_w * 3].chunks_exact_mut(3).enumerate() {
            px.copy_from_slice(&texel(luma[x], cb[x], cr[x]));
        }
        for x in (TEXTURE_TILE..tex_w).step_by(TEXTURE_TILE) {
            let len = (tex_w - x).min(TEXTURE_TILE) * 3;
            tex.copy_within(0..len, x * 3);
        }
    }
    bg
}

/// Converts accumulated noise (amplitudes in grey levels times 2^15) to RGB:
/// mid-grey luma with slow colour drift.
fn texel(luma: i32, cb: i32, cr: i32) -> [u8; 3] {
    let yv = 128 + (luma >> 15);
    let cb = cb >> 15;
    let cr = cr >> 15;
    // BT.601 YCbCr -> RGB in 8.8 fixed point.
    let r = yv + ((359 * cr) >> 8);
    let g = yv - ((88 * cb + 183 * cr) >> 8);
    let b = yv + ((454 * cb) >> 8);
    [clamp_u8(r), clamp_u8(g), clamp_u8(b)]
}

fn clamp_u8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// Adds `amp` times one octave of value noise (period `1 << shift` pixels,
/// values within +-2^15) for texture row `ty` to `acc`. Integer-only so every
/// platform renders identical bytes.
fn add_octave(acc: &mut [i32], ty: u32, shift: u32, salt: u32, amp: i32) {
    if shift == 0 {
        for (x, a) in acc.iter_mut().enumerate() {
            *a += amp * (lattice(x as u32, ty, salt) << 8);
        }
        return;
    }
    // Lattice indices wrap at the tile size so the tile repeats seamlessly.
    let cells = (TEXTURE_TILE >> shift) as u32;
    let wrap = |i: u32| i % cells;
    let iy = ty >> shift;
    let mask = (1u32 << shift) - 1;
    let sy = smooth((((ty & mask) << 8) >> shift) as i32);
    for (cell, chunk) in acc.chunks_mut(1 << shift).enumerate() {
        let (x0, x1) = (wrap(cell as u32), wrap(cell as u32 + 1));
        let (y0, y1) = (wrap(iy), wrap(iy + 1));
        // Blend vertically once per cell; only the horizontal blend is per
        // pixel.
        let left = lattice(x0, y0, salt) * (256 - sy) + lattice(x0, y1, salt) * sy;
        let right = lattice(x1, y0, salt) * (256 - sy) + lattice(x1, y1, salt) * sy;
        for (fx, a) in chunk.iter_mut().enumerate() {
            let sx = smooth(((fx << 8) >> shift) as i32);
            *a += amp * ((left * (256 - sx) + right * sx) >> 8);
        }
    }
}

/// Smoothstep on 0..=256, so lattice cells blend without visible creases.
fn smooth(f: i32) -> i32 {
    (f * f * (768 - 2 * f)) >> 16
}

/// Pseudo-random value in -128..=127 for a lattice point: an xorshift-multiply
/// hash of the coordinates and a fixed seed, so any point can be evaluated
/// independently and in any order.
fn lattice(x: u32, y: u32, salt: u32) -> i32 {
    let mut h = SEED
        ^ x.wrapping_mul(0x9e37_79b1)
        ^ y.wrapping_mul(0x85eb_ca77)
        ^ salt.wrapping_mul(0xc2b2_ae3d);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2c1b_3c6d);
    h ^= h >> 12;
    h = h.wrapping_mul(0x297a_2d39);
    h ^= h >> 15;
    (h >> 24) as i32 - 128
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Repainting only what moved gives exactly the full render, across box bounces, line
    /// wraps, and the counter growing a digit, at sizes down to the smallest.
    #[test]
    fn incremental_render_equals_full_render() {
        for (w, h) in [(320, 240), (97, 61), (16, 16), (1280, 720)] {
            let p = Pattern::new(w, h);
            let (mut inc, mut full) = (Vec::new(), Vec::new());
            let mut prev = None;
            let starts = [0u64, 999_990, 9_999_995];
            for start in starts {
                for n in start..start + 400 {
                    p.render_over(n, &mut inc, prev);
                    p.render(n, &mut full);
                    assert!(inc == full, "{w}x{h} frame {n} differs from a full render");
                    prev = Some(n);
                    if w == 1280 && n > start + 20 {
                        break;
                    }
                }
            }
            if p.has_i420() {
                let (mut inc, mut full) = (Vec::new(), Vec::new());
                let mut prev = None;
                for n in (0..300).chain(999_990..1_000_010) {
                    p.render_i420_over(n, &mut inc, prev);
                    p.render_i420_over(n, &mut full, None);
                    assert!(
                        inc == full,
                        "{w}x{h} 4:2:0 frame {n} differs from a full render"
                    );
                    prev = Some(n);
                }
                assert_eq!(full.len(), crate::media::codec::i420_len(w, h));
            }
            // A buffer of the wrong size is rendered from scratch.
            let mut odd = vec![1u8; 10];
            p.render_over(5, &mut odd, Some(4));
            p.render(5, &mut full);
            assert!(odd == full);
        }
    }

    fn contains(r: Rect, x: u32, y: u32) -> bool {
        x >= r.x && y >= r.y && x - r.x < r.w && y - r.y < r.h
    }

    fn pixel(buf: &[u8], w: u32, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * w as usize + x as usize) * 3;
        [buf[i], buf[i + 1], buf[i + 2]]
    }

    fn frame(p: &Pattern, n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        p.render(n, &mut out);
        out
    }

    #[test]
    fn output_length_matches_size() {
        for &(w, h) in &[(640, 480), (1280, 720), (17, 9), (160, 120), (33, 1001)] {
            let p = Pattern::new(w, h);
            let out = frame(&p, 7);
            assert_eq!(
                out.len(),
                p.width() as usize * p.height() as usize * 3,
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn reuses_buffer_without_reallocating() {
        let p = Pattern::new(320, 240);
        let mut out = Vec::new();
        p.render(0, &mut out);
        let ptr = out.as_ptr();
        let cap = out.capacity();
        for n in 1..50 {
            p.render(n, &mut out);
        }
        assert_eq!(out.as_ptr(), ptr);
        assert_eq!(out.capacity(), cap);
    }

    #[test]
    fn deterministic_across_instances() {
        let a = Pattern::new(320, 240);
        let b = Pattern::new(320, 240);
        for n in [0, 1, 59, 1234, u64::MAX] {
            assert!(frame(&a, n) == frame(&b, n), "frame {n}");
        }
    }

    #[test]
    fn consecutive_frames_differ() {
        let p = Pattern::new(160, 120);
        for n in [0, 1, 99, 119, 120, 999_999, 1_000_000] {
            assert!(frame(&p, n) != frame(&p, n + 1), "frames {n} and {}", n + 1);
        }
    }

    #[test]
    fn bar_centres_show_bar_colours() {
        for &(w, h) in &[(640, 480), (1280, 720), (160, 120), (1921, 1081)] {
            let p = Pattern::new(w, h);
            let y = h / 3;
            let bar_w = w / 8;
            let centres: Vec<u32> = (0..8)
                .map(|k| {
                    let right = if k == 7 { w } else { (k + 1) * bar_w };
                    (k * bar_w + right) / 2
                })
                .collect();
            // Pick a frame in which neither moving element covers any sample.
            let n = (0..2000u64)
                .find(|&n| {
                    centres
                        .iter()
                        .all(|&x| !contains(p.box_rect(n), x, y) && !contains(p.line_rect(n), x, y))
                })
                .expect("a frame with the samples uncovered");
            let out = frame(&p, n);
            for (k, &x) in centres.iter().enumerate() {
                assert!(!contains(p.counter_panel(MIN_DIGITS), x, y));
                assert_eq!(pixel(&out, w, x, y), BAR_COLOURS[k], "{w}x{h} bar {k}");
            }
        }
    }

    #[test]
    fn frame_zero_is_clean_below_the_panel() {
        // The module docs promise this to external tests.
        let (w, h) = (1280, 720);
        let p = Pattern::new(w, h);
        let out = frame(&p, 0);
        for k in 0..8u32 {
            let x = k * (w / 8) + w / 16;
            for y in [h / 5, h / 2, h * 2 / 3 - 1] {
                assert_eq!(pixel(&out, w, x, y), BAR_COLOURS[k as usize]);
            }
        }
    }

    #[test]
    fn counter_panel_changes_between_frames() {
        let p = Pattern::new(640, 480);
        let panel = p.counter_panel(MIN_DIGITS);
        let (a, b) = (frame(&p, 1), frame(&p, 2));
        let differs = (panel.y..panel.y + panel.h).any(|y| {
            (panel.x..panel.x + panel.w).any(|x| pixel(&a, 640, x, y) != pixel(&b, 640, x, y))
        });
        assert!(differs);
    }

    #[test]
    fn counter_stays_in_top_fifth() {
        for &(w, h) in &[
            (160, 120),
            (640, 480),
            (1280, 720),
            (1920, 1080),
            (3840, 2160),
        ] {
            let p = Pattern::new(w, h);
            let panel = p.counter_panel(MIN_DIGITS);
            assert!(panel.y + panel.h <= h / 5, "{w}x{h}: {panel:?}");
            assert!(panel.x + panel.w <= w, "{w}x{h}: {panel:?}");
        }
    }

    #[test]
    fn counter_digits_are_readable_at_160x120() {
        let p = Pattern::new(160, 120);
        assert!(
            p.digits.height >= 7 && p.digits.stroke >= 2,
            "{:?}",
            p.digits
        );
    }

    #[test]
    fn box_and_line_are_drawn() {
        let (w, h) = (640, 480);
        let p = Pattern::new(w, h);
        let n = 37;
        let out = frame(&p, n);
        let b = p.box_rect(n);
        assert_eq!(pixel(&out, w, b.x + b.w / 2, b.y + b.h / 2), ORANGE);
        let l = p.line_rect(n);
        assert_eq!(pixel(&out, w, l.x + 1, h - 1), WHITE);
        // The sweep is one pass per 120 frames, flush with both edges.
        assert_eq!(p.line_rect(0).x, 0);
        assert_eq!(p.line_rect(119).x, w - LINE_WIDTH);
        assert_eq!(p.line_rect(120).x, 0);
    }

    #[test]
    fn box_moves_smoothly_and_stays_inside() {
        let p = Pattern::new(1280, 720);
        let mut prev = p.box_rect(0);
        for n in 1..3000 {
            let r = p.box_rect(n);
            assert!(r.x + r.w <= 1280 && r.y + r.h <= 720);
            assert!(r.x.abs_diff(prev.x) <= 8 && r.y.abs_diff(prev.y) <= 8);
            assert!(r != prev);
            prev = r;
        }
    }

    #[test]
    fn ramp_spans_full_range() {
        let (w, h) = (640, 480);
        // The static background, so no moving element can be in the way.
        let bg = &Pattern::new(w, h).background;
        assert_eq!(pixel(bg, w, 0, h - 1), [0; 3]);
        assert_eq!(pixel(bg, w, w / 4, h - 1), [127; 3]);
        assert_eq!(pixel(bg, w, w / 2 - 1, h - 1), [255; 3]);
    }

    #[test]
    fn odd_and_extreme_sizes_do_not_panic() {
        for &(w, h) in &[
            (0, 0),
            (1, 1),
            (17, 9),
            (15, 16),
            (16, 16),
            (8193, 16),
            (16, 8192),
            (u32::MAX, 17),
            (3, u32::MAX),
        ] {
            let p = Pattern::new(w, h);
            assert!((MIN_SIZE..=MAX_SIZE).contains(&p.width()));
            assert!((MIN_SIZE..=MAX_SIZE).contains(&p.height()));
            let mut out = Vec::new();
            for n in [0, 1, 119, 999_999, 1_000_000, u64::MAX] {
                p.render(n, &mut out);
                assert_eq!(out.len(), p.width() as usize * p.height() as usize * 3);
            }
        }
    }

    #[test]
    fn largest_size_does_not_panic() {
        let p = Pattern::new(MAX_SIZE, MAX_SIZE);
        let mut out = Vec::new();
        p.render(u64::MAX, &mut out);
        assert_eq!(out.len(), 8192 * 8192 * 3);
    }
}
