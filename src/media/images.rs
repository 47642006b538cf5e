//! Still images as a source: one file, or a folder of them, as a slideshow (feature `images`:
//! PNG and resizing go through the `image` crate; a JPEG that is not resized is sent as it is).

use std::path::{Path, PathBuf};

use crate::media::codec::Decoder;
use crate::media::source::{now_us, CapturedFrame, Pixels, Source, SourceError};

/// Still images: one file, or every .jpg/.jpeg/.png in a folder in name order.
pub struct ImageSource {
    files: Vec<PathBuf>,
    next: usize,
    looping: bool,
    resize: Option<(u32, u32)>,
    decoder: Decoder,
    described: String,
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        .unwrap_or(false)
}

impl ImageSource {
    /// Opens a file or a folder. With `looping`, a folder (or file) repeats for ever.
    /// With `resize`, every image is scaled to that size (and JPEGs are then re-encoded).
    pub fn open(
        path: &Path,
        looping: bool,
        resize: Option<(u32, u32)>,
    ) -> Result<Self, SourceError> {
        let meta = std::fs::metadata(path).map_err(|source| SourceError::Read {
            path: path.to_owned(),
            source,
        })?;
        let files = if meta.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|source| SourceError::Read {
                    path: path.to_owned(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_image(p))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(SourceError::NoImages(path.to_owned()));
            }
            files
        } else {
            vec![path.to_owned()]
        };
        let described = if meta.is_dir() {
            format!("{} images from {}", files.len(), path.display())
        } else {
            format!("image {}", path.display())
        };
        Ok(ImageSource {
            files,
            next: 0,
            looping,
            resize,
            decoder: Decoder::new(),
            described,
        })
    }

    fn load(&mut self, path: &Path) -> Result<CapturedFrame, SourceError> {
        let bytes = std::fs::read(path).map_err(|source| SourceError::Read {
            path: path.to_owned(),
            source,
        })?;
        let bad = |reason: String| SourceError::BadImage {
            path: path.to_owned(),
            reason,
        };
        let timestamp_us = now_us();
        let is_jpeg = bytes.starts_with(&[0xFF, 0xD8]);
        if is_jpeg && self.resize.is_none() {
            // Sent as it is; reading the header checks that it really is a JPEG.
            let (width, height) = Decoder::dimensions(&bytes).map_err(|e| bad(e.to_string()))?;
            return Ok(CapturedFrame {
                width,
                height,
                pixels: Pixels::Jpeg(bytes),
                timestamp_us,
            });
        }
        let (w, h, rgb) = if is_jpeg {
            let (w, h) = self
                .decoder
                .decode_rgb(&bytes)
                .map_err(|e| bad(e.to_string()))?;
            (w, h, self.decoder.rgb().to_vec())
        } else {
            let img = image::load_from_memory(&bytes).map_err(|e| bad(e.to_string()))?;
            let rgb = img.to_rgb8();
            (rgb.width(), rgb.height(), rgb.into_raw())
        };
        let (width, height, rgb) = match self.resize {
            Some((rw, rh)) if (rw, rh) != (w, h) => {
                let img = image::RgbImage::from_raw(w, h, rgb)
                    .ok_or_else(|| bad("inconsistent pixel buffer".into()))?;
                let scaled =
                    image::imageops::resize(&img, rw, rh, image::imageops::FilterType::Triangle);
                (rw, rh, scaled.into_raw())
            }
            _ => (w, h, rgb),
        };
        Ok(CapturedFrame {
            width,
            height,
            pixels: Pixels::Rgb(rgb),
            timestamp_us,
        })
    }
}

impl Source for ImageSource {
    fn next_frame(&mut self) -> Result<Option<CapturedFrame>, SourceError> {
        if self.next >= self.files.len() {
            if !self.looping {
                return Ok(None);
            }
            self.next = 0;
        }
        let path = self.files[self.next].clone();
        self.next += 1;
        self.load(&path).map(Some)
    }

    fn describe(&self) -> String {
        self.described.clone()
    }

    fn total_frames(&self) -> Option<u64> {
        (!self.looping).then_some(self.files.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_in_name_order_and_jpeg_bytes_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let mut jpeg = Vec::new();
        crate::media::codec::encode_rgb(&vec![100; 16 * 8 * 3], 16, 8, 80, &mut jpeg).unwrap();
        std::fs::write(dir.path().join("b.jpg"), &jpeg).unwrap();
        image::RgbImage::from_pixel(4, 2, image::Rgb([1, 2, 3]))
            .save(dir.path().join("a.png"))
            .unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"not an image").unwrap();
        let mut s = ImageSource::open(dir.path(), false, None).unwrap();
        assert_eq!(s.total_frames(), Some(2));
        let a = s.next_frame().unwrap().unwrap();
        assert_eq!((a.width, a.height), (4, 2));
        assert_eq!(a.pixels, Pixels::Rgb([1, 2, 3].repeat(8)));
        let b = s.next_frame().unwrap().unwrap();
        assert_eq!(b.pixels, Pixels::Jpeg(jpeg));
        assert!(s.next_frame().unwrap().is_none());
    }

    #[test]
    fn helpful_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = ImageSource::open(dir.path(), false, None).err().unwrap();
        assert!(e.to_string().contains("no .jpg"), "{e}");
        let e = ImageSource::open(&dir.path().join("missing.jpg"), false, None)
            .err()
            .unwrap();
        assert!(e.to_string().contains("cannot read"), "{e}");
        std::fs::write(dir.path().join("x.jpg"), b"\xFF\xD8 junk").unwrap();
        let mut s = ImageSource::open(&dir.path().join("x.jpg"), false, None).unwrap();
        let e = s.next_frame().err().unwrap();
        assert!(e.to_string().contains("not a readable JPEG"), "{e}");
    }
}
