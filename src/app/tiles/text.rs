//! Text over pictures in the 8x8 public-domain font: the message band, tile labels and the
//! "no signal" card.

use font8x8::UnicodeFonts;

use super::layout::Rect;

/// Message text: white, so that it stands out from the grey labels.
pub(super) const WHITE: u32 = 0x00FF_FFFF;

/// The glyph scale for text across a `w`-pixel-wide picture: about 40 characters across 640
/// pixels, 60 across 1280, readable when the window is scaled.
pub(super) fn scale_for(w: u32) -> u32 {
    ((w + 320) / 480).clamp(1, 4)
}

/// The height of a band of text at `scale`: the glyph and a padding above and below.
pub(super) fn band_height(scale: u32) -> u32 {
    8 * scale + 4 * scale
}

/// Darkens a picture rather than blanking it: what is under text or a lost signal stays
/// faintly visible.
pub(super) fn dim(p: u32) -> u32 {
    (p >> 2) & 0x003F_3F3F
}

/// The font's rows for `c`; characters the font lacks show as "?".
fn glyph(c: char) -> [u8; 8] {
    font8x8::BASIC_FONTS
        .get(c)
        .or_else(|| font8x8::LATIN_FONTS.get(c))
        .or_else(|| font8x8::BLOCK_FONTS.get(c))
        .or_else(|| (c == '…').then(|| font8x8::BASIC_FONTS.get('.')).flatten())
        .or_else(|| font8x8::BASIC_FONTS.get('?'))
        .unwrap_or([0; 8])
}

/// `text` cut to `fit` characters, with "…" in place of what does not fit.
fn cut(text: &str, fit: usize) -> Vec<char> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= fit {
        return chars;
    }
    chars[..fit.saturating_sub(1)]
        .iter()
        .copied()
        .chain(std::iter::once('…'))
        .take(fit)
        .collect()
}

/// Writes `text` with its top-left corner at `x`, `y` in glyphs of `scale`, in `colour`, into
/// a buffer `stride` pixels wide; nothing lands outside `clip` or the buffer.
pub(super) fn draw_text(
    px: &mut [u32],
    stride: u32,
    clip: Rect,
    (x, y): (u32, u32),
    scale: u32,
    colour: u32,
    text: &str,
) {
    let glyph_w = 8 * scale;
    let room = clip.right().saturating_sub(x) / glyph_w.max(1);
    let (stride, scale) = (stride as usize, scale as usize);
    for (i, c) in cut(text, room as usize).into_iter().enumerate() {
        let x0 = x as usize + i * glyph_w as usize;
        for (ry, row) in glyph(c).iter().enumerate() {
            for dy in 0..scale {
                let yy = y as usize + ry * scale + dy;
                if yy < clip.y as usize || yy >= clip.bottom() as usize {
                    continue;
                }
                for rx in (0..8).filter(|rx| row & (1 << rx) != 0) {
                    let xx = x0 + rx * scale;
                    let end = (xx + scale).min(clip.right() as usize);
                    if xx < clip.x as usize || xx >= end {
                        continue;
                    }
                    if let Some(span) = px.get_mut(yy * stride + xx..yy * stride + end) {
                        span.fill(colour);
                    }
                }
            }
        }
    }
}

/// Darkens a band of text height along the top (or bottom) of `area` and writes `text` in it,
/// cut with "…" when too long; returns the band. The band is clipped to `area`.
pub(super) fn band(
    px: &mut [u32],
    stride: u32,
    area: Rect,
    top: bool,
    colour: u32,
    text: &str,
) -> Rect {
    let scale = scale_for(area.w);
    let h = band_height(scale).min(area.h);
    let y = if top { area.y } else { area.bottom() - h };
    let r = Rect::new(area.x, y, area.w, h);
    for_each_row(px, stride, r, |row| {
        row.iter_mut().for_each(|p| *p = dim(*p))
    });
    let pad = 2 * scale;
    draw_text(px, stride, r, (r.x + pad, r.y + pad), scale, colour, text);
    r
}

/// Runs `f` over each row of `r` that lies in a buffer `stride` pixels wide.
pub(super) fn for_each_row(px: &mut [u32], stride: u32, r: Rect, mut f: impl FnMut(&mut [u32])) {
    let (stride, x0, x1) = (
        stride as usize,
        r.x as usize,
        r.right().min(stride) as usize,
    );
    if x0 >= x1 {
        return;
    }
    for y in r.y as usize..r.bottom() as usize {
        match px.get_mut(y * stride + x0..y * stride + x1) {
            Some(row) => f(row),
            None => return,
        }
    }
}

/// Writes `text` in white on a dark band along the bottom of a `w` x `h` 0RGB picture, in the
/// 8x8 font scaled so that about 80 characters fit across; what does not fit is cut with "…".
/// Characters the font lacks show as "?".
pub fn draw_text_band(px: &mut [u32], w: usize, h: usize, text: &str) {
    let (Ok(w32), Ok(h32)) = (u32::try_from(w), u32::try_from(h)) else {
        return;
    };
    if w == 0 || h == 0 || px.len() < w * h {
        return;
    }
    band(px, w32, Rect::new(0, 0, w32, h32), false, WHITE, text);
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
        draw_text_band(&mut tiny, 4, 4, "short buffer");
    }

    #[test]
    fn text_stays_inside_its_clip() {
        let (w, h) = (64u32, 32u32);
        let mut px = vec![0u32; (w * h) as usize];
        let clip = Rect::new(10, 10, 20, 10);
        draw_text(&mut px, w, clip, (12, 8), 2, WHITE, "WWWWWWW");
        for y in 0..h {
            for x in 0..w {
                let inside = (10..30).contains(&x) && (10..20).contains(&y);
                if !inside {
                    assert_eq!(px[(y * w + x) as usize], 0, "{x},{y}");
                }
            }
        }
        assert!(px.contains(&WHITE));
        // Off the buffer entirely: nothing happens.
        draw_text(
            &mut px,
            w,
            Rect::new(0, 0, 1000, 1000),
            (60, 30),
            4,
            WHITE,
            "abc",
        );
    }
}
