//! Drawing the tiles into one buffer of exactly the window's size, so that minifb only copies
//! it (`ScaleMode::UpperLeft`) and never resamples.

use std::time::Duration;

use super::keys::Mode;
use super::layout::{fit, layout, Rect};
use super::text::{band, dim, draw_text, for_each_row, scale_for, WHITE};

/// Whether a sender is still sending.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Signal {
    /// Frames are coming.
    #[default]
    Live,
    /// It went silent without a goodbye: its last picture is dimmed under "no signal", since a
    /// frozen picture must not pass for a live one.
    Lost,
    /// It said goodbye: its last picture stays as it was (a still image or a slideshow ends
    /// this way) and the label says "finished".
    Finished,
}

/// A decoded picture to draw: `0RGB` words, row-major, `width * height` of them.
#[derive(Clone, Copy, Debug)]
pub struct PictureRef<'a> {
    /// The pixels.
    pub pixels: &'a [u32],
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl PictureRef<'_> {
    /// Usable only when the pixels cover the stated size.
    fn is_valid(&self) -> bool {
        self.width > 0
            && self.height > 0
            && self.pixels.len() as u64 >= self.width as u64 * self.height as u64
    }
}

/// Everything drawn for one tile.
#[derive(Clone, Copy, Debug, Default)]
pub struct TileView<'a> {
    /// The sender's name, first on the label (may be empty).
    pub name: &'a str,
    /// Its newest picture, if one came.
    pub picture: Option<PictureRef<'a>>,
    /// Whether it is still sending.
    pub signal: Signal,
    /// Frames shown per second lately.
    pub fps: f32,
    /// Time since its newest picture came (`None` before the first).
    pub age: Option<Duration>,
    /// Its latest message, drawn along the bottom of the picture (`--show-messages`).
    pub message: Option<&'a str>,
}

impl TileView<'_> {
    /// The label text: name, then frame rate and age, or what is wrong.
    pub fn label(&self) -> String {
        let state = match (self.signal, self.age) {
            (Signal::Finished, _) => "finished".to_string(),
            (Signal::Lost, Some(age)) => format!("no signal  {}", seconds(age)),
            (Signal::Lost, None) => "no signal".to_string(),
            (Signal::Live, None) => "waiting".to_string(),
            (Signal::Live, Some(age)) => {
                let fps = if self.fps >= 9.95 {
                    format!("{:.0}", self.fps)
                } else {
                    format!("{:.1}", self.fps.max(0.0))
                };
                format!("{fps} fps  {}", seconds(age))
            }
        };
        if self.name.is_empty() {
            state
        } else {
            format!("{}  {state}", self.name)
        }
    }
}

/// `1.2 s` below ten seconds, `42 s` above.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 9.95 {
        format!("{s:.1} s")
    } else {
        format!("{s:.0} s")
    }
}

/// The empty window's colour, and the letterbox around pictures.
pub const BACKGROUND: u32 = 0x0000_0000;
/// Label text: light grey, so that white stays the message overlay's.
pub const LABEL: u32 = 0x00D0_D0D0;
/// The "no signal" card's text: amber, readable over any dimmed picture.
pub const NO_SIGNAL: u32 = 0x00FF_C040;

/// The window's pixels, kept between frames so that one new picture redraws only its tile.
#[derive(Debug, Default)]
pub struct Compositor {
    canvas: Vec<u32>,
    w: u32,
    h: u32,
    /// Source column per output column of the last scaled picture (reused scratch).
    cols: Vec<u32>,
}

impl Compositor {
    /// A `w` x `h` canvas of background.
    pub fn new(w: u32, h: u32) -> Self {
        let mut c = Compositor::default();
        c.resize(w, h);
        c
    }

    /// Makes the canvas `w` x `h` (cleared) if it is not; true if it changed.
    pub fn resize(&mut self, w: u32, h: u32) -> bool {
        if (w, h) == (self.w, self.h) && self.canvas.len() == w as usize * h as usize {
            return false;
        }
        (self.w, self.h) = (w, h);
        self.canvas.clear();
        self.canvas.resize(w as usize * h as usize, BACKGROUND);
        true
    }

    /// The canvas size.
    pub fn size(&self) -> (u32, u32) {
        (self.w, self.h)
    }

    /// The canvas: `0RGB` words, row-major, exactly `size()`.
    pub fn pixels(&self) -> &[u32] {
        &self.canvas
    }

    /// Where each of `n` tiles is drawn in `mode` on this canvas: its box in the grid, or,
    /// enlarged, the whole canvas for that tile and `None` (not drawn) for the others.
    pub fn areas(&self, mode: Mode, n: usize) -> Vec<Option<Rect>> {
        match mode.normalised(n) {
            Mode::Grid => layout(n, self.w, self.h).into_iter().map(Some).collect(),
            Mode::Enlarged(i) => (0..n)
                .map(|j| (j == i).then(|| Rect::new(0, 0, self.w, self.h)))
                .collect(),
        }
    }

    /// Redraws everything: background, then every tile shown in `mode`. With no tile, says
    /// it is waiting.
    pub fn compose(&mut self, mode: Mode, tiles: &[TileView]) {
        self.canvas.fill(BACKGROUND);
        if tiles.is_empty() {
            self.draw_centred(Rect::new(0, 0, self.w, self.h), LABEL, "waiting for frames");
            return;
        }
        for (area, tile) in self.areas(mode, tiles.len()).into_iter().zip(tiles) {
            if let Some(area) = area {
                self.draw_tile(area, tile);
            }
        }
    }

    /// Redraws one tile in `area` (clipped to the canvas): background, the picture fitted with
    /// its aspect kept, dimmed under "no signal" when lost, the label strip over its top and
    /// the message band along its bottom.
    pub fn draw_tile(&mut self, area: Rect, tile: &TileView) {
        let area = self.clip(area);
        if area.is_empty() {
            return;
        }
        for_each_row(&mut self.canvas, self.w, area, |row| row.fill(BACKGROUND));
        let pic = tile.picture.filter(PictureRef::is_valid);
        let r = match pic {
            Some(p) => {
                let r = fit(p.width, p.height, area);
                self.blit_scaled(r, &p);
                r
            }
            None => area,
        };
        if r.is_empty() {
            return;
        }
        if tile.signal == Signal::Lost {
            for_each_row(&mut self.canvas, self.w, r, |row| {
                row.iter_mut().for_each(|p| *p = dim(*p))
            });
            self.draw_centred(r, NO_SIGNAL, "no signal");
        } else if pic.is_none() && tile.signal == Signal::Live {
            self.draw_centred(r, LABEL, "waiting for frames");
        }
        band(&mut self.canvas, self.w, r, true, LABEL, &tile.label());
        if let Some(m) = tile.message {
            band(&mut self.canvas, self.w, r, false, WHITE, m);
        }
    }

    fn clip(&self, r: Rect) -> Rect {
        let x = r.x.min(self.w);
        let y = r.y.min(self.h);
        Rect::new(x, y, r.right().min(self.w) - x, r.bottom().min(self.h) - y)
    }

    /// `text` centred in `r`, twice the label size when there is room.
    fn draw_centred(&mut self, r: Rect, colour: u32, text: &str) {
        let n = text.chars().count() as u32;
        let scale = (2 * scale_for(r.w)).min(r.w / (8 * n + 16).max(1)).max(1);
        let (tw, th) = (8 * scale * n, 8 * scale);
        let x = r.x + r.w.saturating_sub(tw) / 2;
        let y = r.y + r.h.saturating_sub(th) / 2;
        draw_text(&mut self.canvas, self.w, r, (x, y), scale, colour, text);
    }

    /// Nearest-neighbour scaling of `p` into `r` (inside the canvas), sampling each output
    /// pixel's centre. The decoder has already brought the picture within 2x of `r` (see
    /// `codec::fit_scale`), so this is the cheap last step.
    fn blit_scaled(&mut self, r: Rect, p: &PictureRef) {
        if r.is_empty() {
            return;
        }
        let (pw, ph) = (p.width as u64, p.height as u64);
        let (rw, rh) = (r.w as u64, r.h as u64);
        self.cols.clear();
        self.cols
            .extend((0..rw).map(|x| ((2 * x + 1) * pw / (2 * rw)).min(pw - 1) as u32));
        let stride = self.w as usize;
        for y in 0..rh {
            let sy = ((2 * y + 1) * ph / (2 * rh)).min(ph - 1) as usize;
            let src = &p.pixels[sy * pw as usize..(sy + 1) * pw as usize];
            let start = (r.y as usize + y as usize) * stride + r.x as usize;
            let dst = &mut self.canvas[start..start + r.w as usize];
            if rw == pw {
                dst.copy_from_slice(src);
            } else {
                for (d, &sx) in dst.iter_mut().zip(&self.cols) {
                    *d = src[sx as usize];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::tiles::text::band_height;

    const COLOURS: [u32; 5] = [
        0x00C0_2020,
        0x0020_C020,
        0x0020_20C0,
        0x00C0_C020,
        0x0080_8080,
    ];

    fn flat(c: u32, w: u32, h: u32) -> Vec<u32> {
        vec![c; (w * h) as usize]
    }

    fn at(c: &Compositor, x: u32, y: u32) -> u32 {
        c.pixels()[(y * c.size().0 + x) as usize]
    }

    #[test]
    fn each_tile_lands_in_its_own_box() {
        let pics: Vec<Vec<u32>> = (0..4).map(|i| flat(COLOURS[i], 640, 480)).collect();
        let names = ["a", "b", "c", "d"];
        let tiles: Vec<TileView> = (0..4)
            .map(|i| TileView {
                name: names[i],
                picture: Some(PictureRef {
                    pixels: &pics[i],
                    width: 640,
                    height: 480,
                }),
                fps: 30.0,
                age: Some(Duration::from_millis(40)),
                ..TileView::default()
            })
            .collect();
        let mut c = Compositor::new(960, 540);
        c.compose(Mode::Grid, &tiles);
        assert_eq!(c.pixels().len(), 960 * 540);
        let boxes = layout(4, 960, 540);
        let label = band_height(scale_for(358));
        for (i, b) in boxes.iter().enumerate() {
            let r = fit(640, 480, *b);
            for y in r.y..r.bottom() {
                for x in r.x..r.right() {
                    let p = at(&c, x, y);
                    if y >= r.y + label {
                        assert_eq!(p, COLOURS[i], "tile {i} at {x},{y}");
                    } else {
                        // The label strip: the picture dimmed, or grey text.
                        assert!(
                            p == dim(COLOURS[i]) || p == LABEL,
                            "label {i} {x},{y}: {p:06x}"
                        );
                    }
                }
            }
            // Pillarbox either side is background.
            assert_eq!(at(&c, b.x, b.y + b.h / 2), BACKGROUND);
            assert_eq!(at(&c, b.right() - 1, b.y + b.h / 2), BACKGROUND);
        }
        // Enlarged: only the third picture, filling the height.
        c.compose(Mode::Enlarged(2), &tiles);
        assert_eq!(at(&c, 480, 400), COLOURS[2]);
        assert_eq!(at(&c, 121, 539), COLOURS[2]);
        assert_eq!(at(&c, 119, 300), BACKGROUND);
        assert!(!c.pixels().contains(&COLOURS[0]));
    }

    #[test]
    fn one_tile_fills_the_window_under_its_label() {
        let pic = flat(COLOURS[0], 1920, 1080);
        let tile = TileView {
            name: "cam",
            picture: Some(PictureRef {
                pixels: &pic,
                width: 1920,
                height: 1080,
            }),
            ..TileView::default()
        };
        let mut c = Compositor::new(960, 540);
        c.compose(Mode::Grid, &[tile]);
        let label = band_height(scale_for(960));
        assert!(c.pixels()[(label * 960) as usize..]
            .iter()
            .all(|&p| p == COLOURS[0]));
        assert!(c.pixels()[..(label * 960) as usize].contains(&LABEL));
    }

    #[test]
    fn lost_tiles_dim_and_say_so_and_finished_ones_do_not_dim() {
        let pic = flat(COLOURS[1], 64, 48);
        let mut tile = TileView {
            name: "gone",
            picture: Some(PictureRef {
                pixels: &pic,
                width: 64,
                height: 48,
            }),
            signal: Signal::Lost,
            age: Some(Duration::from_secs(12)),
            ..TileView::default()
        };
        assert_eq!(tile.label(), "gone  no signal  12 s");
        let mut c = Compositor::new(320, 240);
        c.compose(Mode::Grid, &[tile]);
        assert!(!c.pixels().contains(&COLOURS[1]));
        assert!(c.pixels().contains(&dim(COLOURS[1])));
        assert!(c.pixels().contains(&NO_SIGNAL));
        tile.signal = Signal::Finished;
        assert_eq!(tile.label(), "gone  finished");
        c.compose(Mode::Grid, &[tile]);
        assert!(c.pixels().contains(&COLOURS[1]));
        assert!(!c.pixels().contains(&NO_SIGNAL));
    }

    #[test]
    fn labels_say_rate_and_age() {
        let mut t = TileView {
            name: "pi",
            fps: 29.7,
            age: Some(Duration::from_millis(40)),
            ..TileView::default()
        };
        assert_eq!(t.label(), "pi  30 fps  0.0 s");
        t.fps = 2.5;
        t.age = Some(Duration::from_millis(1500));
        assert_eq!(t.label(), "pi  2.5 fps  1.5 s");
        t.name = "";
        assert_eq!(t.label(), "2.5 fps  1.5 s");
        t.age = None;
        assert_eq!(t.label(), "waiting");
    }

    #[test]
    fn messages_are_white_along_the_bottom() {
        let pic = flat(COLOURS[2], 320, 240);
        let tile = TileView {
            picture: Some(PictureRef {
                pixels: &pic,
                width: 320,
                height: 240,
            }),
            message: Some("{\"hello\":1}"),
            ..TileView::default()
        };
        let mut c = Compositor::new(320, 240);
        c.compose(Mode::Grid, &[tile]);
        let bottom = &c.pixels()[(200 * 320) as usize..];
        assert!(bottom.contains(&WHITE));
        assert!(!c.pixels()[..(200 * 320) as usize].contains(&WHITE));
    }

    #[test]
    fn odd_inputs_never_panic() {
        let pic = flat(COLOURS[3], 7, 5);
        let short = vec![0u32; 10];
        let pics = [
            Some(PictureRef {
                pixels: &pic,
                width: 7,
                height: 5,
            }),
            Some(PictureRef {
                pixels: &short,
                width: 640,
                height: 480,
            }),
            Some(PictureRef {
                pixels: &pic,
                width: 0,
                height: 5,
            }),
            Some(PictureRef {
                pixels: &pic,
                width: 1,
                height: 35,
            }),
            None,
        ];
        for (w, h) in [(0, 0), (1, 1), (2, 3), (5, 1000), (33, 17), (960, 540)] {
            let mut c = Compositor::new(w, h);
            for n in 0..=16 {
                let tiles: Vec<TileView> = (0..n)
                    .map(|i| TileView {
                        name: "a rather long name that will not fit",
                        picture: pics[i % pics.len()],
                        signal: [Signal::Live, Signal::Lost, Signal::Finished][i % 3],
                        message: Some("message"),
                        age: Some(Duration::from_secs(3)),
                        ..TileView::default()
                    })
                    .collect();
                c.compose(Mode::Grid, &tiles);
                c.compose(Mode::Enlarged(n / 2), &tiles);
                assert_eq!(c.pixels().len(), (w * h) as usize);
            }
            // A box outside the canvas is clipped away.
            c.draw_tile(Rect::new(w + 5, 0, 100, 100), &TileView::default());
            c.draw_tile(Rect::new(0, 0, u32::MAX, u32::MAX), &TileView::default());
        }
        // A short picture is not drawn (it would read past its pixels).
        let mut c = Compositor::new(64, 48);
        c.compose(
            Mode::Grid,
            &[TileView {
                picture: pics[1],
                ..TileView::default()
            }],
        );
    }

    #[test]
    fn resize_clears_and_reports_change() {
        let mut c = Compositor::new(10, 10);
        assert!(!c.resize(10, 10));
        assert!(c.resize(20, 5));
        assert_eq!(c.size(), (20, 5));
        assert_eq!(c.pixels().len(), 100);
        assert_eq!(
            c.areas(Mode::Enlarged(1), 3)[1],
            Some(Rect::new(0, 0, 20, 5))
        );
        assert_eq!(c.areas(Mode::Enlarged(1), 3)[0], None);
        assert_eq!(c.areas(Mode::Enlarged(7), 3)[0], Some(layout(3, 20, 5)[0]));
    }
}
