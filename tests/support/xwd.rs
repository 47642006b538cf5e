//! Minimal, dependency-free reader for XWD (X Window Dump) screenshots.
//!
//! Intended for window tests that run under Xvfb: take a screenshot with
//! `xwd -root -silent -display :N` (package `x11-apps`) and inspect its pixels
//! without ImageMagick.
//!
//! Supported input: `file_version` 7, `ZPixmap`, 24 or 32 bits per pixel,
//! either image byte order, TrueColor/DirectColor visuals, with the
//! red/green/blue masks taken from the header (channels wider or narrower than
//! 8 bits are rescaled to 8 bits). The colormap entries that `xwd` writes even
//! for TrueColor visuals are skipped. Input is treated as untrusted: malformed
//! or truncated data yields `Err`, never a panic, and the only allocation is
//! the RGB output, whose size is bounded by the validated input length.

use std::io::ErrorKind;
use std::process::Command;

/// Number of big-endian CARD32 fields in `XWDFileHeader`.
const HEADER_FIELDS: usize = 25;
/// Size in bytes of the fixed part of `XWDFileHeader`.
const HEADER_LEN: usize = HEADER_FIELDS * 4;
/// The only XWD file version in use since X11.
const XWD_FILE_VERSION: u32 = 7;
/// `pixmap_format` value for `ZPixmap`.
const ZPIXMAP: u32 = 2;
/// `byte_order` value for `LSBFirst` (0); `MSBFirst` is 1.
const LSB_FIRST: u32 = 0;
/// `byte_order` value for `MSBFirst`.
const MSB_FIRST: u32 = 1;
/// `visual_class` value for TrueColor.
const TRUE_COLOR: u32 = 4;
/// `visual_class` value for DirectColor.
const DIRECT_COLOR: u32 = 5;
/// Size in bytes of one `XWDColor` colormap entry.
const COLOR_ENTRY_LEN: u64 = 12;
/// Largest accepted width or height (the X protocol limit is 32767).
const MAX_DIMENSION: u32 = 32767;

/// A screenshot as 8-bit RGB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Screenshot {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Packed RGB24, row-major, `width * height * 3` bytes, no row padding.
    pub rgb: Vec<u8>,
}

/// Indices of the `XWDFileHeader` fields used by the parser.
mod field {
    pub const HEADER_SIZE: usize = 0;
    pub const FILE_VERSION: usize = 1;
    pub const PIXMAP_FORMAT: usize = 2;
    pub const PIXMAP_DEPTH: usize = 3;
    pub const PIXMAP_WIDTH: usize = 4;
    pub const PIXMAP_HEIGHT: usize = 5;
    pub const XOFFSET: usize = 6;
    pub const BYTE_ORDER: usize = 7;
    pub const BITS_PER_PIXEL: usize = 11;
    pub const BYTES_PER_LINE: usize = 12;
    pub const VISUAL_CLASS: usize = 13;
    pub const RED_MASK: usize = 14;
    pub const GREEN_MASK: usize = 15;
    pub const BLUE_MASK: usize = 16;
    pub const NCOLORS: usize = 19;
}

/// One colour channel described by a contiguous bit mask.
#[derive(Clone, Copy, Debug)]
struct Channel {
    mask: u32,
    shift: u32,
    bits: u32,
}

impl Channel {
    /// Validates `mask` (non-zero, contiguous, within `bits_per_pixel`).
    fn new(name: &str, mask: u32, bits_per_pixel: u32) -> Result<Channel, String> {
        if mask == 0 {
            return Err(format!("xwd: {name}_mask is zero"));
        }
        if bits_per_pixel < 32 && u64::from(mask) >> bits_per_pixel != 0 {
            return Err(format!(
                "xwd: {name}_mask {mask:#x} does not fit in {bits_per_pixel} bits per pixel"
            ));
        }
        let shift = mask.trailing_zeros();
        let shifted = u64::from(mask >> shift);
        if shifted & (shifted + 1) != 0 {
            return Err(format!("xwd: {name}_mask {mask:#x} is not contiguous"));
        }
        let bits = shifted.count_ones();
        Ok(Channel { mask, shift, bits })
    }

    /// Extracts this channel from `pixel`, scaled to 0..=255.
    fn extract(self, pixel: u32) -> u8 {
        let v = u64::from((pixel & self.mask) >> self.shift);
        let scaled = match self.bits.cmp(&8) {
            std::cmp::Ordering::Equal => v,
            std::cmp::Ordering::Greater => v >> (self.bits - 8),
            std::cmp::Ordering::Less => {
                let max = (1u64 << self.bits) - 1;
                (v * 255 + max / 2) / max
            }
        };
        // `scaled` is at most 255 in every branch.
        u8::try_from(scaled).unwrap_or(u8::MAX)
    }
}

impl Screenshot {
    /// Parses XWD (X Window Dump, `file_version` 7, `ZPixmap`, 24 or 32 bits per
    /// pixel, either byte order, using the red/green/blue masks from the
    /// header) into RGB.
    ///
    /// The header is validated against the actual input length before any
    /// allocation; truncated or malformed input returns `Err`. Trailing bytes
    /// after the image are ignored.
    pub fn parse_xwd(bytes: &[u8]) -> Result<Screenshot, String> {
        if bytes.len() < HEADER_LEN {
            return Err(format!(
                "xwd: truncated header ({} bytes, need at least {HEADER_LEN})",
                bytes.len()
            ));
        }
        let mut h = [0u32; HEADER_FIELDS];
        for (i, chunk) in bytes[..HEADER_LEN].chunks_exact(4).enumerate() {
            h[i] = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }

        let version = h[field::FILE_VERSION];
        if version != XWD_FILE_VERSION {
            return Err(format!(
                "xwd: unsupported file_version {version} (expected {XWD_FILE_VERSION}; \
                 the header must be big-endian)"
            ));
        }
        let header_size = u64::from(h[field::HEADER_SIZE]);
        if header_size < HEADER_LEN as u64 {
            return Err(format!(
                "xwd: header_size {header_size} is smaller than {HEADER_LEN}"
            ));
        }
        let format = h[field::PIXMAP_FORMAT];
        if format != ZPIXMAP {
            return Err(format!(
                "xwd: unsupported pixmap_format {format} (only ZPixmap = 2)"
            ));
        }
        let bpp = h[field::BITS_PER_PIXEL];
        if bpp != 24 && bpp != 32 {
            return Err(format!(
                "xwd: unsupported bits_per_pixel {bpp} (only 24 or 32)"
            ));
        }
        let depth = h[field::PIXMAP_DEPTH];
        if depth == 0 || depth > bpp {
            return Err(format!(
                "xwd: invalid pixmap_depth {depth} for {bpp} bits per pixel"
            ));
        }
        let width = h[field::PIXMAP_WIDTH];
        let height = h[field::PIXMAP_HEIGHT];
        if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
            return Err(format!(
                "xwd: invalid image size {width}x{height} (each side must be 1..={MAX_DIMENSION})"
            ));
        }
        let xoffset = h[field::XOFFSET];
        if xoffset != 0 {
            return Err(format!("xwd: unsupported xoffset {xoffset} (expected 0)"));
        }
        let byte_order = h[field::BYTE_ORDER];
        if byte_order != LSB_FIRST && byte_order != MSB_FIRST {
            return Err(format!("xwd: invalid byte_order {byte_order}"));
        }
        let class = h[field::VISUAL_CLASS];
        if class != TRUE_COLOR && class != DIRECT_COLOR {
            return Err(format!(
                "xwd: unsupported visual_class {class} (only TrueColor = 4 or DirectColor = 5)"
            ));
        }
        let red = Channel::new("red", h[field::RED_MASK], bpp)?;
        let green = Channel::new("green", h[field::GREEN_MASK], bpp)?;
        let blue = Channel::new("blue", h[field::BLUE_MASK], bpp)?;

        let bytes_pp = (bpp / 8) as usize;
        let row_bytes = u64::from(width) * bytes_pp as u64;
        let bytes_per_line = u64::from(h[field::BYTES_PER_LINE]);
        if bytes_per_line < row_bytes {
            return Err(format!(
                "xwd: bytes_per_line {bytes_per_line} is too small for {width} pixels of {bpp} bits"
            ));
        }

        // All of these fit comfortably in u64 (each factor is < 2^36).
        let colors_len = u64::from(h[field::NCOLORS]) * COLOR_ENTRY_LEN;
        let image_start = header_size + colors_len;
        let image_len = bytes_per_line * u64::from(height);
        let needed = image_start + image_len;
        let available = bytes.len() as u64;
        if header_size > available {
            return Err(format!(
                "xwd: truncated header (header_size {header_size}, input {available} bytes)"
            ));
        }
        if needed > available {
            return Err(format!(
                "xwd: truncated data (header declares {needed} bytes, input has {available})"
            ));
        }

        // Validated: needed <= bytes.len(), so these conversions cannot fail on
        // any platform and the output (<= image_len bytes) is bounded by input.
        let to_usize = |v: u64| usize::try_from(v).map_err(|_| "xwd: size overflow".to_string());
        let image_start = to_usize(image_start)?;
        let bytes_per_line = to_usize(bytes_per_line)?;
        let row_bytes = to_usize(row_bytes)?;
        let out_len = to_usize(u64::from(width) * u64::from(height) * 3)?;

        let mut rgb = Vec::with_capacity(out_len);
        let image = &bytes[image_start..];
        for row in image.chunks(bytes_per_line).take(height as usize) {
            let row = row.get(..row_bytes).ok_or("xwd: truncated row")?;
            for px in row.chunks_exact(bytes_pp) {
                let value = match (bytes_pp, byte_order) {
                    (4, LSB_FIRST) => u32::from_le_bytes([px[0], px[1], px[2], px[3]]),
                    (4, _) => u32::from_be_bytes([px[0], px[1], px[2], px[3]]),
                    (_, LSB_FIRST) => u32::from_le_bytes([px[0], px[1], px[2], 0]),
                    (_, _) => u32::from_be_bytes([0, px[0], px[1], px[2]]),
                };
                rgb.push(red.extract(value));
                rgb.push(green.extract(value));
                rgb.push(blue.extract(value));
            }
        }
        if rgb.len() != out_len {
            return Err("xwd: truncated data".to_string());
        }
        Ok(Screenshot { width, height, rgb })
    }

    /// Runs `xwd -root -silent -display <display>` and parses its output.
    ///
    /// Returns `Err` (never panics) when `xwd` is missing or fails; the
    /// message says to install `x11-apps` and to check the X server.
    pub fn capture(display: &str) -> Result<Screenshot, String> {
        capture_with("xwd", display)
    }

    /// Returns the RGB value of the pixel at (`x`, `y`).
    ///
    /// # Panics
    ///
    /// Panics if (`x`, `y`) is outside the image or `rgb` is too short.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        assert!(
            x < self.width && y < self.height,
            "pixel ({x}, {y}) outside {}x{} screenshot",
            self.width,
            self.height
        );
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Fraction (0..=1) of pixels within `tol` (per channel, absolute) of
    /// `colour`. Returns 0.0 for an empty image.
    pub fn fraction_near(&self, colour: [u8; 3], tol: u8) -> f64 {
        let total = self.rgb.len() / 3;
        if total == 0 {
            return 0.0;
        }
        let near = self
            .rgb
            .chunks_exact(3)
            .filter(|px| px.iter().zip(colour).all(|(&a, b)| a.abs_diff(b) <= tol))
            .count();
        near as f64 / total as f64
    }

    /// Number of pixels that differ by more than `tol` on any channel from
    /// `other` (same size required, else `Err`).
    pub fn diff_count(&self, other: &Screenshot, tol: u8) -> Result<usize, String> {
        if self.width != other.width || self.height != other.height {
            return Err(format!(
                "screenshot sizes differ: {}x{} vs {}x{}",
                self.width, self.height, other.width, other.height
            ));
        }
        let expected = self.width as usize * self.height as usize * 3;
        if self.rgb.len() != expected || other.rgb.len() != expected {
            return Err(format!(
                "rgb buffer lengths {} and {} do not match {}x{}x3 = {expected}",
                self.rgb.len(),
                other.rgb.len(),
                self.width,
                self.height
            ));
        }
        Ok(self
            .rgb
            .chunks_exact(3)
            .zip(other.rgb.chunks_exact(3))
            .filter(|(a, b)| a.iter().zip(b.iter()).any(|(&p, &q)| p.abs_diff(q) > tol))
            .count())
    }
}

/// Runs `program -root -silent -display <display>` and parses its stdout.
fn capture_with(program: &str, display: &str) -> Result<Screenshot, String> {
    let output = Command::new(program)
        .args(["-root", "-silent", "-display", display])
        .output()
        .map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                format!(
                    "`{program}` not found: install x11-apps (apt-get install -y x11-apps) \
                     to take screenshots"
                )
            } else {
                format!("failed to run `{program}` ({e}); is x11-apps installed?")
            }
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "`{program} -root -silent -display {display}` failed ({}): {}; \
             is an X server (e.g. Xvfb) running on {display}? xwd comes from x11-apps",
            output.status,
            stderr.trim()
        ));
    }
    Screenshot::parse_xwd(&output.stdout)
        .map_err(|e| format!("could not parse screenshot of {display}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parameters for a synthetic XWD file.
    struct Spec {
        width: u32,
        height: u32,
        bpp: u32,
        depth: u32,
        byte_order: u32,
        extra_per_line: u32,
        ncolors: u32,
        name: &'static [u8],
        masks: [u32; 3],
    }

    impl Spec {
        fn new(width: u32, height: u32, bpp: u32, byte_order: u32) -> Spec {
            Spec {
                width,
                height,
                bpp,
                depth: 24,
                byte_order,
                extra_per_line: 0,
                ncolors: 0,
                name: b"xwdump\0",
                masks: [0xff_0000, 0x00_ff00, 0x00_00ff],
            }
        }

        fn bytes_per_line(&self) -> u32 {
            self.width * self.bpp / 8 + self.extra_per_line
        }

        /// Builds the file; `pixel_value(x, y)` gives the raw pixel value.
        fn build(&self, pixel_value: impl Fn(u32, u32) -> u32) -> Vec<u8> {
            let header_size = HEADER_LEN as u32 + self.name.len() as u32;
            let fields: [u32; HEADER_FIELDS] = [
                header_size,
                7,
                2,
                self.depth,
                self.width,
                self.height,
                0,
                self.byte_order,
                32,
                self.byte_order,
                32,
                self.bpp,
                self.bytes_per_line(),
                4,
                self.masks[0],
                self.masks[1],
                self.masks[2],
                8,
                256,
                self.ncolors,
                self.width,
                self.height,
                0,
                0,
                0,
            ];
            let mut out = Vec::new();
            for f in fields {
                out.extend_from_slice(&f.to_be_bytes());
            }
            out.extend_from_slice(self.name);
            for i in 0..self.ncolors {
                out.extend_from_slice(&i.to_be_bytes());
                out.extend_from_slice(&[0x11; 8]);
            }
            let bytes_pp = (self.bpp / 8) as usize;
            for y in 0..self.height {
                for x in 0..self.width {
                    let v = pixel_value(x, y);
                    let le = v.to_le_bytes();
                    let be = v.to_be_bytes();
                    let px: &[u8] = match (bytes_pp, self.byte_order) {
                        (4, 0) => &le,
                        (4, _) => &be,
                        (_, 0) => &le[..3],
                        (_, _) => &be[1..],
                    };
                    out.extend_from_slice(px);
                }
                out.resize(out.len() + self.extra_per_line as usize, 0x55);
            }
            out
        }
    }

    /// Overwrites big-endian header field `idx` in `bytes`.
    fn set_field(bytes: &mut [u8], idx: usize, value: u32) {
        bytes[idx * 4..idx * 4 + 4].copy_from_slice(&value.to_be_bytes());
    }

    /// Raw 0xRRGGBB value for a test pattern, with garbage in the top byte.
    fn pattern(x: u32, y: u32) -> u32 {
        0xEE00_0000 | ((x * 40) & 0xff) << 16 | ((y * 70) & 0xff) << 8 | ((x + y) * 9) & 0xff
    }

    fn expected_pattern(x: u32, y: u32) -> [u8; 3] {
        let v = pattern(x, y);
        [(v >> 16) as u8, (v >> 8) as u8, v as u8]
    }

    fn check_pattern(shot: &Screenshot, w: u32, h: u32) {
        assert_eq!((shot.width, shot.height), (w, h));
        assert_eq!(shot.rgb.len(), (w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                assert_eq!(shot.pixel(x, y), expected_pattern(x, y), "at ({x}, {y})");
            }
        }
    }

    fn valid_small() -> Vec<u8> {
        let mut spec = Spec::new(5, 3, 32, 0);
        spec.ncolors = 4;
        spec.extra_per_line = 4;
        spec.build(pattern)
    }

    #[test]
    fn parses_32bpp_lsb_first() {
        let bytes = Spec::new(7, 4, 32, 0).build(pattern);
        check_pattern(&Screenshot::parse_xwd(&bytes).unwrap(), 7, 4);
    }

    #[test]
    fn parses_32bpp_msb_first() {
        let bytes = Spec::new(7, 4, 32, 1).build(pattern);
        check_pattern(&Screenshot::parse_xwd(&bytes).unwrap(), 7, 4);
    }

    #[test]
    fn parses_24bpp_both_orders() {
        for order in [0, 1] {
            let mut spec = Spec::new(5, 3, 24, order);
            spec.extra_per_line = 1; // rows padded to 16 bytes
            let bytes = spec.build(|x, y| pattern(x, y) & 0xff_ffff);
            check_pattern(&Screenshot::parse_xwd(&bytes).unwrap(), 5, 3);
        }
    }

    #[test]
    fn skips_colormap_name_and_row_padding_and_trailing_bytes() {
        let mut bytes = valid_small();
        bytes.extend_from_slice(&[1, 2, 3]);
        check_pattern(&Screenshot::parse_xwd(&bytes).unwrap(), 5, 3);
    }

    #[test]
    fn uses_masks_from_header() {
        // BGR layout: red in the low byte.
        let mut spec = Spec::new(2, 1, 32, 0);
        spec.masks = [0x00_00ff, 0x00_ff00, 0xff_0000];
        let bytes = spec.build(|x, _| if x == 0 { 0x0010_2030 } else { 0x00ff_0001 });
        let shot = Screenshot::parse_xwd(&bytes).unwrap();
        assert_eq!(shot.pixel(0, 0), [0x30, 0x20, 0x10]);
        assert_eq!(shot.pixel(1, 0), [0x01, 0x00, 0xff]);
    }

    #[test]
    fn rescales_channels_not_8_bits_wide() {
        // 10-bit channels (depth 30) and 5/6/5 packed into the low bits.
        let mut spec = Spec::new(2, 1, 32, 1);
        spec.depth = 30;
        spec.masks = [0x3ff0_0000, 0x000f_fc00, 0x0000_03ff];
        let bytes = spec.build(|x, _| if x == 0 { 0x3ff0_0000 } else { 0x2000_0200 });
        let shot = Screenshot::parse_xwd(&bytes).unwrap();
        assert_eq!(shot.pixel(0, 0), [255, 0, 0]);
        assert_eq!(shot.pixel(1, 0), [128, 0, 128]);

        let mut spec = Spec::new(2, 1, 24, 0);
        spec.depth = 16;
        spec.masks = [0xf800, 0x07e0, 0x001f];
        let bytes = spec.build(|x, _| if x == 0 { 0xffff } else { 0x0010 });
        let shot = Screenshot::parse_xwd(&bytes).unwrap();
        assert_eq!(shot.pixel(0, 0), [255, 255, 255]);
        assert_eq!(shot.pixel(1, 0), [0, 0, 132]);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = valid_small();
        for len in 0..bytes.len() {
            assert!(
                Screenshot::parse_xwd(&bytes[..len]).is_err(),
                "prefix of {len} bytes accepted"
            );
        }
        assert!(Screenshot::parse_xwd(&bytes).is_ok());
    }

    #[test]
    fn truncated_header_is_an_error() {
        let bytes = valid_small();
        let err = Screenshot::parse_xwd(&bytes[..60]).unwrap_err();
        assert!(err.contains("truncated header"), "{err}");
        // header_size pointing past the end of the input.
        let mut short = bytes[..HEADER_LEN + 2].to_vec();
        set_field(&mut short, field::HEADER_SIZE, 5000);
        assert!(Screenshot::parse_xwd(&short).is_err());
    }

    #[test]
    fn bytes_per_line_too_small_is_an_error() {
        let mut bytes = valid_small();
        set_field(&mut bytes, field::BYTES_PER_LINE, 5 * 4 - 1);
        let err = Screenshot::parse_xwd(&bytes).unwrap_err();
        assert!(err.contains("bytes_per_line"), "{err}");
        set_field(&mut bytes, field::BYTES_PER_LINE, 0);
        assert!(Screenshot::parse_xwd(&bytes).is_err());
    }

    #[test]
    fn absurd_sizes_are_errors() {
        let base = valid_small();
        let cases: &[(usize, u32)] = &[
            (field::PIXMAP_WIDTH, u32::MAX),
            (field::PIXMAP_HEIGHT, u32::MAX),
            (field::PIXMAP_WIDTH, 0),
            (field::PIXMAP_HEIGHT, 0),
            (field::PIXMAP_HEIGHT, 30_000), // plausible but far beyond the input
            (field::BYTES_PER_LINE, u32::MAX),
            (field::NCOLORS, u32::MAX),
            (field::HEADER_SIZE, u32::MAX),
            (field::HEADER_SIZE, 99),
        ];
        for &(idx, value) in cases {
            let mut bytes = base.clone();
            set_field(&mut bytes, idx, value);
            assert!(
                Screenshot::parse_xwd(&bytes).is_err(),
                "field {idx} = {value} accepted"
            );
        }
        // Both dimensions at the maximum: must be rejected by the length check
        // (this would be a ~3 GB allocation if done before validation).
        let mut bytes = base.clone();
        set_field(&mut bytes, field::PIXMAP_WIDTH, MAX_DIMENSION);
        set_field(&mut bytes, field::PIXMAP_HEIGHT, MAX_DIMENSION);
        set_field(&mut bytes, field::BYTES_PER_LINE, MAX_DIMENSION * 4);
        let err = Screenshot::parse_xwd(&bytes).unwrap_err();
        assert!(err.contains("truncated data"), "{err}");
    }

    #[test]
    fn unsupported_or_invalid_fields_are_errors() {
        let base = valid_small();
        let cases: &[(usize, u32)] = &[
            (field::FILE_VERSION, 6),
            (field::FILE_VERSION, 0x0700_0000),
            (field::PIXMAP_FORMAT, 1), // XYPixmap
            (field::BITS_PER_PIXEL, 16),
            (field::BITS_PER_PIXEL, 0),
            (field::PIXMAP_DEPTH, 0),
            (field::PIXMAP_DEPTH, 33),
            (field::XOFFSET, 3),
            (field::BYTE_ORDER, 2),
            (field::VISUAL_CLASS, 3), // PseudoColor
            (field::RED_MASK, 0),
            (field::GREEN_MASK, 0x00f0_0f00), // not contiguous
        ];
        for &(idx, value) in cases {
            let mut bytes = base.clone();
            set_field(&mut bytes, idx, value);
            assert!(
                Screenshot::parse_xwd(&bytes).is_err(),
                "field {idx} = {value} accepted"
            );
        }
        // Mask wider than a 24-bit pixel.
        let mut spec = Spec::new(1, 1, 24, 0);
        spec.masks = [0xff00_0000, 0xff00, 0xff];
        assert!(Screenshot::parse_xwd(&spec.build(|_, _| 0)).is_err());
    }

    #[test]
    fn random_corruption_never_panics() {
        let base = valid_small();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut bytes = base.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() % HEADER_LEN as u64) as usize;
                bytes[i] = next() as u8;
            }
            let len = (next() % (bytes.len() as u64 + 1)) as usize;
            if let Ok(shot) = Screenshot::parse_xwd(&bytes[..len]) {
                assert_eq!(
                    shot.rgb.len(),
                    shot.width as usize * shot.height as usize * 3
                );
                assert!(shot.rgb.len() <= len);
            }
        }
    }

    fn solid(width: u32, height: u32, colour: [u8; 3]) -> Screenshot {
        Screenshot {
            width,
            height,
            rgb: colour.repeat((width * height) as usize),
        }
    }

    #[test]
    fn fraction_near_counts_within_tolerance() {
        let mut shot = solid(4, 2, [255, 128, 0]);
        assert_eq!(shot.fraction_near([255, 128, 0], 0), 1.0);
        // One pixel off by 2 on green, one off by 3 on blue.
        shot.rgb[4] = 130;
        shot.rgb[8] = 3;
        assert_eq!(shot.fraction_near([255, 128, 0], 0), 6.0 / 8.0);
        assert_eq!(shot.fraction_near([255, 128, 0], 2), 7.0 / 8.0);
        assert_eq!(shot.fraction_near([255, 128, 0], 3), 1.0);
        assert_eq!(shot.fraction_near([0, 0, 0], 10), 0.0);
        assert_eq!(shot.fraction_near([0, 0, 0], 255), 1.0);
        let empty = Screenshot {
            width: 0,
            height: 0,
            rgb: Vec::new(),
        };
        assert_eq!(empty.fraction_near([0, 0, 0], 255), 0.0);
    }

    #[test]
    fn diff_count_behaves() {
        let a = solid(3, 3, [10, 20, 30]);
        let mut b = a.clone();
        assert_eq!(a.diff_count(&b, 0), Ok(0));
        b.rgb[0] = 15; // pixel 0: red +5
        b.rgb[3 * 4 + 2] = 29; // pixel 4: blue -1
        assert_eq!(a.diff_count(&b, 0), Ok(2));
        assert_eq!(a.diff_count(&b, 1), Ok(1));
        assert_eq!(a.diff_count(&b, 5), Ok(0));
        assert_eq!(b.diff_count(&a, 4), Ok(1));
        assert!(a.diff_count(&solid(3, 4, [10, 20, 30]), 0).is_err());
        assert!(a.diff_count(&solid(9, 1, [10, 20, 30]), 0).is_err());
        let mut short = a.clone();
        short.rgb.pop();
        assert!(a.diff_count(&short, 0).is_err());
    }

    #[test]
    fn parsed_images_compare_equal_across_byte_orders() {
        let lsb = Screenshot::parse_xwd(&Spec::new(6, 5, 32, 0).build(pattern)).unwrap();
        let msb = Screenshot::parse_xwd(&Spec::new(6, 5, 24, 1).build(pattern)).unwrap();
        assert_eq!(lsb.diff_count(&msb, 0), Ok(0));
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn pixel_out_of_bounds_panics() {
        solid(2, 2, [0, 0, 0]).pixel(2, 0);
    }

    #[test]
    fn capture_missing_program_is_an_error() {
        let err = capture_with("xwd-definitely-not-installed-3f1c", ":98").unwrap_err();
        assert!(err.contains("x11-apps"), "{err}");
    }

    #[test]
    fn capture_without_server_is_an_error() {
        // Nothing listens on display :4711; whether or not xwd is installed
        // this must be an Err that mentions x11-apps, not a panic.
        let err = Screenshot::capture(":4711").unwrap_err();
        assert!(err.contains("x11-apps"), "{err}");
    }
}
