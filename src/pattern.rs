//! Placeholder test pattern (replaced by the real one).
/// The built-in moving test pattern.
pub struct Pattern {
    w: u32,
    h: u32,
}
/// Bar colours.
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
impl Pattern {
    /// New.
    pub fn new(width: u32, height: u32) -> Pattern {
        Pattern {
            w: width.max(16),
            h: height.max(16),
        }
    }
    /// Width.
    pub fn width(&self) -> u32 {
        self.w
    }
    /// Height.
    pub fn height(&self) -> u32 {
        self.h
    }
    /// Render.
    pub fn render(&self, n: u64, out: &mut Vec<u8>) {
        out.clear();
        for y in 0..self.h {
            for x in 0..self.w {
                let bar = ((x * 8) / self.w) as usize;
                let mut c = BAR_COLOURS[bar];
                if y > self.h * 2 / 3 {
                    c = [(x + n as u32) as u8, y as u8, 0];
                }
                out.extend_from_slice(&c);
            }
        }
    }
}
