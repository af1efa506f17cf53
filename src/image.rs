//! Grayscale `f32` images: loading, saving, colour conversion and bilinear resizing.
//!
//! # Overview
//! [`Image`] is the one pixel container of the crate: a row-major grid of `f32` gray values
//! in `[0, 1]`. Every feature extractor reads it; nothing else converts pixel formats.
//! Callers holding an `ndarray` matrix hand it over with [`Image::from_array`] (which
//! keeps the array's buffer when it is row-major) and get one back with
//! [`Image::into_array`] or [`Image::as_array_view`]; `image` crate users convert a
//! `GrayImage` with [`Image::from_gray_image`].
//!
//! # Usage
//! ```
//! use classic_cv::image::Image;
//! let img = Image::from_fn(4, 2, |x, y| (x + y) as f32 / 8.0);
//! let big = img.resize_bilinear(8, 4).unwrap();
//! assert_eq!((big.width(), big.height()), (8, 4));
//! let pixels = big.into_array(); // (height, width), the same buffer
//! assert_eq!(pixels.dim(), (4, 8));
//! let back = Image::from_array(pixels).unwrap(); // row-major: no copy either
//! assert_eq!(back.width(), 8);
//! ```
//!
//! # Conventions that change numbers
//! - Colour to gray: `0.299 R + 0.587 G + 0.114 B` on the channel values scaled to `[0, 1]`
//!   (OpenCV's `cvtColor` weights, also used by VLFeat's demos). 16-bit files are scaled by
//!   1/65535, 8-bit ones by 1/255.
//! - Coordinates: `x` is the column, `y` the row, origin top-left, pixel centres at integer
//!   coordinates.
//! - Resizing maps every destination pixel backwards into the source with the half-pixel
//!   convention `xs = (xd + 0.5) * ws / wd - 0.5` (OpenCV's `INTER_LINEAR`), clamps to the
//!   border and interpolates bilinearly:
//!   `I = (1-du)(1-dv) I1 + du(1-dv) I2 + (1-du)dv I3 + du dv I4`.
//! - Saving to 8 bits rounds `v * 255` to nearest after clamping to `[0, 1]`.
//! - Raw `.f32` files are little-endian float32, row-major, with no header; their size
//!   must be given.

use std::path::Path;

use crate::error::{Error, Result};

/// A grayscale image: `width x height` `f32` values, row-major, nominally in `[0, 1]`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Image {
    width: usize,
    height: usize,
    data: Vec<f32>,
}

/// An axis-aligned rectangle in pixel coordinates (`x` column, `y` row of its top-left corner).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Rect {
    /// Column of the left edge.
    pub x: u32,
    /// Row of the top edge.
    pub y: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Rect {
    /// Area in pixels.
    pub fn area(&self) -> u64 {
        self.width as u64 * self.height as u64
    }

    /// Intersection over union: `|A ∩ B| / (|A| + |B| - |A ∩ B|)`; 0 for two empty boxes.
    pub fn iou(&self, other: &Rect) -> f32 {
        let x0 = self.x.max(other.x) as u64;
        let y0 = self.y.max(other.y) as u64;
        let x1 = (self.x as u64 + self.width as u64).min(other.x as u64 + other.width as u64);
        let y1 = (self.y as u64 + self.height as u64).min(other.y as u64 + other.height as u64);
        let inter = x1.saturating_sub(x0) * y1.saturating_sub(y0);
        let union = self.area() + other.area() - inter;
        if union == 0 {
            0.0
        } else {
            (inter as f64 / union as f64) as f32
        }
    }
}

/// Fails with [`Error::ImageTooSmall`] unless `width` and `height` are at least 1.
pub(crate) fn check_nonempty(width: usize, height: usize) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::ImageTooSmall {
            width,
            height,
            min_width: 1,
            min_height: 1,
        });
    }
    Ok(())
}

/// Fails unless `len` pixels make a non-empty `width x height` row-major image (the check
/// of [`Image::new`] and of the 8-bit detector inputs).
pub(crate) fn check_pixel_count(width: usize, height: usize, len: usize) -> Result<()> {
    check_nonempty(width, height)?;
    let n = width
        .checked_mul(height)
        .ok_or_else(|| Error::param("size", format!("{width}x{height} pixels overflow")))?;
    if len != n {
        return Err(Error::DimensionMismatch {
            what: "image pixel count",
            expected: n,
            found: len,
        });
    }
    Ok(())
}

impl Image {
    /// Wraps row-major pixel data. Fails on a zero-sized image or a length that is not
    /// `width * height`.
    pub fn new(width: usize, height: usize, data: Vec<f32>) -> Result<Self> {
        check_pixel_count(width, height, data.len())?;
        Ok(Image {
            width,
            height,
            data,
        })
    }

    /// An image whose pixel `(x, y)` is `f(x, y)`.
    ///
    /// # Panics
    /// If `width` or `height` is zero (a programming error, not user input).
    pub fn from_fn(width: usize, height: usize, mut f: impl FnMut(usize, usize) -> f32) -> Self {
        assert!(
            width > 0 && height > 0,
            "Image::from_fn needs a non-empty size"
        );
        let mut data = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                data.push(f(x, y));
            }
        }
        Image {
            width,
            height,
            data,
        }
    }

    /// Builds an image from 8-bit gray values (`v / 255`).
    pub fn from_u8(width: usize, height: usize, pixels: &[u8]) -> Result<Self> {
        Image::new(
            width,
            height,
            pixels.iter().map(|&v| v as f32 / 255.0).collect(),
        )
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// All pixels, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// All pixels, row-major, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Consumes the image, returning its pixels.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// Row `y`.
    pub fn row(&self, y: usize) -> &[f32] {
        &self.data[y * self.width..(y + 1) * self.width]
    }

    /// Pixel at column `x`, row `y`.
    pub fn get(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// Fails with [`Error::NonFinite`] if a pixel is NaN or infinite.
    pub fn check_finite(&self) -> Result<()> {
        crate::error::check_finite(&self.data, "image pixels")
    }

    /// Pixels as 8-bit values: `round(clamp(v, 0, 1) * 255)`; NaN maps to 0.
    pub fn to_u8(&self) -> Vec<u8> {
        self.data.iter().map(|&v| to_u8(v)).collect()
    }

    /// Loads a PNG, JPEG or PGM/PPM file and converts it to gray.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = crate::limits::read_input(path)?;
        Image::decode(&bytes).map_err(|reason| Error::Image {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Decodes a PNG, JPEG or PNM image held in memory exactly as [`Image::load`] decodes a
    /// file (the same pixel limit and truncation checks); `name` only labels the error (e.g.
    /// "request body").
    pub fn load_from_memory(bytes: &[u8], name: impl AsRef<Path>) -> Result<Self> {
        Image::decode(bytes).map_err(|reason| Error::Image {
            path: name.as_ref().to_path_buf(),
            reason,
        })
    }

    /// Decodes an encoded image (PNG, JPEG, PNM) held in memory.
    fn decode(bytes: &[u8]) -> std::result::Result<Self, String> {
        let dynamic = decode_checked(bytes)?;
        let (w, h) = (dynamic.width() as usize, dynamic.height() as usize);
        if w == 0 || h == 0 {
            return Err(format!("image has zero size ({w}x{h})"));
        }
        let data: Vec<f32> = match dynamic {
            ::image::DynamicImage::ImageLuma8(g) => {
                g.into_raw().iter().map(|&v| v as f32 / 255.0).collect()
            }
            ::image::DynamicImage::ImageLuma16(g) => {
                g.into_raw().iter().map(|&v| v as f32 / 65535.0).collect()
            }
            other => {
                let rgb = other.into_rgb32f();
                rgb.pixels()
                    .map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])
                    .collect()
            }
        };
        Ok(Image {
            width: w,
            height: h,
            data,
        })
    }

    /// Loads a raw little-endian float32 file of `width x height` values (row-major, no
    /// header), e.g. the gray inputs of the VLFeat anchors.
    pub fn load_raw_f32(path: impl AsRef<Path>, width: usize, height: usize) -> Result<Self> {
        let path = path.as_ref();
        let n = crate::limits::check_image_size(width, height)?;
        let bytes = crate::limits::read_input(path)?;
        if Some(bytes.len()) != n.checked_mul(4) {
            return Err(Error::format(
                path,
                format!(
                    "raw .f32 image of {width}x{height} needs {} bytes, file has {}",
                    n as u128 * 4,
                    bytes.len()
                ),
            ));
        }
        let data = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Image::new(width, height, data)
    }

    /// Loads `path`: raw `.f32` when `size` is given (or required by the extension),
    /// otherwise any format [`Image::load`] reads.
    pub fn load_any(path: impl AsRef<Path>, size: Option<(usize, usize)>) -> Result<Self> {
        let path = path.as_ref();
        let is_raw = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("f32"));
        match (is_raw, size) {
            (_, Some((w, h))) => Image::load_raw_f32(path, w, h),
            (true, None) => Err(Error::format(
                path,
                "raw .f32 images carry no size: give it as WxH (e.g. --size 512x512)",
            )),
            (false, None) => Image::load(path),
        }
    }

    /// Saves as an 8-bit gray PNG (atomically: temp file, then rename).
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<()> {
        let buf = ::image::GrayImage::from_raw(self.width as u32, self.height as u32, self.to_u8())
            .expect("buffer length matches the image size");
        write_png(path.as_ref(), |w| {
            buf.write_to(w, ::image::ImageFormat::Png)
        })
    }

    /// Resizes to `new_width x new_height` by backward mapping with bilinear interpolation.
    pub fn resize_bilinear(&self, new_width: usize, new_height: usize) -> Result<Image> {
        if new_width == 0 || new_height == 0 {
            return Err(Error::param("size", "target size must be at least 1x1"));
        }
        let xs = resample_axis(self.width, new_width);
        let ys = resample_axis(self.height, new_height);
        let mut out = Vec::with_capacity(new_width * new_height);
        for &(y0, y1, dv) in &ys {
            let (r0, r1) = (self.row(y0), self.row(y1));
            for &(x0, x1, du) in &xs {
                let top = (1.0 - du) * r0[x0] + du * r0[x1];
                let bottom = (1.0 - du) * r1[x0] + du * r1[x1];
                out.push((1.0 - dv) * top + dv * bottom);
            }
        }
        Image::new(new_width, new_height, out)
    }
}

/// Conversions from and to `ndarray` matrices and the `image` crate's 8-bit gray buffers.
/// An array's rows are the image's rows: `pixels[[y, x]]` is pixel `(x, y)`, shape
/// `(height, width)`. Arrays coming in are checked as decoded files are: not empty, at most
/// [`crate::limits::max_pixels`] pixels, and (unlike [`Image::new`], which wraps pixels the
/// crate computed) every value finite.
impl Image {
    /// Takes an owned `(height, width)` matrix as an image. **No copy** when the array is in
    /// standard (row-major, contiguous) layout and its buffer holds exactly its elements,
    /// as every array built by ndarray's constructors, `from_shape_vec` or
    /// [`Image::into_array`] does: the buffer becomes the image's. Otherwise (a transposed or
    /// Fortran-order array, one sliced with a step, a slice of a larger buffer) the pixels
    /// are copied once, in row-major order. Fails on an empty array, on more pixels than
    /// the limit, and on a NaN or infinite value.
    pub fn from_array(pixels: ndarray::Array2<f32>) -> Result<Self> {
        let (height, width) = pixels.dim();
        let n = check_array_size(width, height)?;
        if !pixels.is_standard_layout() {
            return Image::from_array_view(pixels.view());
        }
        match pixels.into_raw_vec_and_offset() {
            (data, Some(0)) if data.len() == n => Image::finite(width, height, data),
            (data, offset) => {
                // Standard layout but a window of a larger buffer: its pixels are the `n`
                // values from the offset on.
                let start = offset.unwrap_or(0);
                let window = data
                    .get(start..start + n)
                    .ok_or_else(|| Error::param("pixels", "array buffer shorter than its shape"))?;
                Image::finite(width, height, window.to_vec())
            }
        }
    }

    /// Copies a `(height, width)` view (any layout: transposed, strided, negative steps)
    /// into a new image, row by row. Fails as [`Image::from_array`] does.
    pub fn from_array_view(pixels: ndarray::ArrayView2<'_, f32>) -> Result<Self> {
        let (height, width) = pixels.dim();
        check_array_size(width, height)?;
        let data = match pixels.as_slice() {
            Some(contiguous) => contiguous.to_vec(),
            None => pixels.iter().copied().collect(),
        };
        Image::finite(width, height, data)
    }

    /// Converts an 8-bit gray image of the `image` crate: `v / 255`, the convention of
    /// [`Image::from_u8`] and of decoded files (one pass that writes new `f32` pixels).
    /// Fails on an empty image or more pixels than the limit.
    pub fn from_gray_image(gray: &::image::GrayImage) -> Result<Self> {
        let (width, height) = (gray.width() as usize, gray.height() as usize);
        let n = check_array_size(width, height)?;
        let raw = gray.as_raw();
        // `from_u8` rejects a buffer shorter than the image (the `image` crate forbids it).
        Image::from_u8(width, height, &raw[..n.min(raw.len())])
    }

    /// The pixels as a `(height, width)` view, without a copy.
    pub fn as_array_view(&self) -> ndarray::ArrayView2<'_, f32> {
        ndarray::ArrayView2::from_shape((self.height, self.width), &self.data)
            .expect("an image holds width x height pixels")
    }

    /// Consumes the image into a `(height, width)` array that takes over its buffer, without
    /// a copy.
    pub fn into_array(self) -> ndarray::Array2<f32> {
        ndarray::Array2::from_shape_vec((self.height, self.width), self.data)
            .expect("an image holds width x height pixels")
    }

    /// [`Image::new`] after the finite check of the conversions.
    fn finite(width: usize, height: usize, data: Vec<f32>) -> Result<Self> {
        crate::error::check_finite(&data, "image pixels")?;
        Image::new(width, height, data)
    }
}

/// The size checks of an incoming array: at least 1x1 and within the pixel limit; returns
/// the number of pixels.
fn check_array_size(width: usize, height: usize) -> Result<usize> {
    check_nonempty(width, height)?;
    crate::limits::check_image_size(width, height)
}

/// File extensions of the image files the crate reads (case-insensitive): PNG, JPEG and the
/// PNM family. Every command and reader that picks images out of a folder uses this list.
pub const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "pgm", "ppm", "pnm"];

/// Whether `path` has one of [`IMAGE_EXTENSIONS`] (case-insensitive).
pub fn has_image_extension(path: &std::path::Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Parses a `WxH` size such as `640x480`.
pub fn parse_size(text: &str) -> Result<(usize, usize)> {
    let bad = || {
        Error::param(
            "size",
            format!("`{text}` is not WIDTHxHEIGHT (e.g. 640x480)"),
        )
    };
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let w: usize = w.trim().parse().map_err(|_| bad())?;
    let h: usize = h.trim().parse().map_err(|_| bad())?;
    if w == 0 || h == 0 {
        return Err(bad());
    }
    crate::limits::check_image_size(w, h)?;
    Ok((w, h))
}

/// Decodes an encoded PNG, JPEG or PNM image with the crate's limits: the size in the
/// header is checked against [`crate::limits::max_pixels`] before anything is decoded, and a
/// JPEG whose data ends before its end-of-image marker is an error, not an image with
/// filled-in pixels. Every image file the crate reads goes through it.
pub(crate) fn decode_checked(bytes: &[u8]) -> std::result::Result<::image::DynamicImage, String> {
    let format = ::image::guess_format(bytes)
        .map_err(|_| "not a PNG, JPEG or PNM image (unrecognised content)".to_string())?;
    let reader = || {
        let mut r = ::image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
        let mut limits = ::image::Limits::default();
        // The decoded buffer: up to 4 channels of 16 bits per pixel, plus the f32 copy.
        limits.max_alloc = Some(crate::limits::max_pixels().saturating_mul(12));
        r.limits(limits);
        r
    };
    let (hw, hh) = reader()
        .into_dimensions()
        .map_err(|e| format!("cannot read the {format:?} header: {e}"))?;
    crate::limits::check_image_size(hw as usize, hh as usize).map_err(|e| e.to_string())?;
    if format == ::image::ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err("truncated JPEG: the data ends before the end-of-image marker".into());
    }
    reader()
        .decode()
        .map_err(|e| format!("cannot decode {format:?} image: {e}"))
}

/// Reads and decodes an image file with [`decode_checked`]; errors name the file.
pub(crate) fn open_checked(path: &Path) -> Result<::image::DynamicImage> {
    let bytes = crate::limits::read_input(path)?;
    decode_checked(&bytes).map_err(|reason| Error::Image {
        path: path.to_path_buf(),
        reason,
    })
}

/// Whether a JPEG's scan data is followed by its end-of-image marker (`FF D9`). Inside the
/// entropy-coded data a `FF` byte is always stuffed (`FF 00`) or a restart marker, so an
/// `FF D9` after the first start-of-scan is the real end; a file cut short lacks it (the
/// decoder would fill the missing blocks silently).
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let Some(sos) = bytes.windows(2).position(|w| w == [0xFF, 0xDA]) else {
        return false;
    };
    bytes[sos..].windows(2).any(|w| w == [0xFF, 0xD9])
}

/// `round(clamp(v, 0, 1) * 255)`, NaN to 0.
pub(crate) fn to_u8(v: f32) -> u8 {
    if v.is_nan() {
        0
    } else {
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    }
}

/// For each destination index: the two source indices and the weight of the second.
fn resample_axis(src: usize, dst: usize) -> Vec<(usize, usize, f32)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let s = ((d as f64 + 0.5) * scale - 0.5).clamp(0.0, (src - 1) as f64);
            let i0 = s.floor() as usize;
            let i1 = (i0 + 1).min(src - 1);
            (i0, i1, (s - i0 as f64) as f32)
        })
        .collect()
}

/// Encodes with `encode` into a temp file beside `path`, then renames it into place.
pub(crate) fn write_png(
    path: &Path,
    encode: impl FnOnce(&mut std::io::Cursor<Vec<u8>>) -> ::image::ImageResult<()>,
) -> Result<()> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    encode(&mut cursor).map_err(|e| Error::Image {
        path: path.to_path_buf(),
        reason: format!("cannot encode PNG: {e}"),
    })?;
    crate::persist::write_atomic(path, &cursor.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct bilinear sample at a real-valued source position (the textbook formula).
    fn reference_sample(img: &Image, xs: f64, ys: f64) -> f32 {
        let xs = xs.clamp(0.0, (img.width() - 1) as f64);
        let ys = ys.clamp(0.0, (img.height() - 1) as f64);
        let (x0, y0) = (xs.floor() as usize, ys.floor() as usize);
        let (x1, y1) = (
            (x0 + 1).min(img.width() - 1),
            (y0 + 1).min(img.height() - 1),
        );
        let (du, dv) = ((xs - x0 as f64) as f32, (ys - y0 as f64) as f32);
        (1.0 - du) * (1.0 - dv) * img.get(x0, y0)
            + du * (1.0 - dv) * img.get(x1, y0)
            + (1.0 - du) * dv * img.get(x0, y1)
            + du * dv * img.get(x1, y1)
    }

    #[test]
    fn resize_matches_reference_formula() {
        let img = Image::from_fn(7, 5, |x, y| ((x * 13 + y * 7) % 11) as f32 / 10.0);
        for (w, h) in [(3, 2), (14, 10), (9, 5), (1, 1)] {
            let out = img.resize_bilinear(w, h).unwrap();
            for y in 0..h {
                for x in 0..w {
                    let xs = (x as f64 + 0.5) * 7.0 / w as f64 - 0.5;
                    let ys = (y as f64 + 0.5) * 5.0 / h as f64 - 0.5;
                    let expected = reference_sample(&img, xs, ys);
                    assert!(
                        (out.get(x, y) - expected).abs() < 1e-5,
                        "({x},{y}) at {w}x{h}"
                    );
                }
            }
        }
    }

    #[test]
    fn resize_to_same_size_is_identity() {
        let img = Image::from_fn(6, 4, |x, y| (x * y) as f32 / 24.0);
        assert_eq!(img.resize_bilinear(6, 4).unwrap(), img);
    }

    #[test]
    fn zero_size_is_an_error() {
        assert!(matches!(
            Image::new(0, 3, vec![]),
            Err(Error::ImageTooSmall { .. })
        ));
        assert!(matches!(
            Image::new(2, 2, vec![0.0; 3]),
            Err(Error::DimensionMismatch { .. })
        ));
    }

    #[test]
    fn iou_of_hand_computed_boxes() {
        let a = Rect {
            x: 0,
            y: 0,
            width: 10,
            height: 10,
        };
        let b = Rect {
            x: 5,
            y: 0,
            width: 10,
            height: 10,
        };
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(a.iou(&a), 1.0);
        let far = Rect {
            x: 20,
            y: 20,
            width: 2,
            height: 2,
        };
        assert_eq!(a.iou(&far), 0.0);
    }

    #[test]
    fn parse_size_accepts_and_rejects() {
        assert_eq!(parse_size("640x480").unwrap(), (640, 480));
        assert!(parse_size("640").is_err());
        assert!(parse_size("0x5").is_err());
        assert!(parse_size("ax5").is_err());
    }

    /// A size whose pixel count overflows is an error naming the size, not a wrapped product.
    /// A 3x5 (height x width) array whose pixel `(x, y)` is `(10 y + x) / 64`.
    fn ramp() -> ndarray::Array2<f32> {
        ndarray::Array2::from_shape_fn((3, 5), |(y, x)| (10 * y + x) as f32 / 64.0)
    }

    #[test]
    fn array_round_trips_without_copies() {
        let a = ramp();
        let owned = a.clone();
        let ptr = owned.as_ptr();
        let img = Image::from_array(owned).unwrap();
        assert_eq!((img.width(), img.height()), (5, 3));
        assert_eq!(img.as_slice().as_ptr(), ptr, "from_array moved the buffer");
        assert_eq!(img.get(4, 2), 24.0 / 64.0);
        let view = img.as_array_view();
        assert_eq!(view.as_ptr(), ptr, "as_array_view borrows the buffer");
        assert_eq!(view, a);
        let back = img.into_array();
        assert_eq!(back.as_ptr(), ptr, "into_array gives the buffer back");
        assert_eq!(back, a);
        let copied = Image::from_array_view(a.view()).unwrap();
        assert_ne!(copied.as_slice().as_ptr(), ptr, "a view is copied");
        assert_eq!(copied.into_array(), a);
    }

    #[test]
    fn non_standard_layouts_give_the_right_pixels() {
        use ndarray::s;
        let a = ramp();
        let check = |img: Image, expect: ndarray::ArrayView2<f32>| {
            assert_eq!((img.height(), img.width()), expect.dim());
            for ((y, x), &v) in expect.indexed_iter() {
                assert_eq!(img.get(x, y), v, "pixel ({x}, {y})");
            }
        };
        // Transposed (Fortran order): pixel (x, y) is a[[x, y]].
        let t = a.clone().reversed_axes();
        assert!(!t.is_standard_layout());
        check(Image::from_array(t.clone()).unwrap(), t.view());
        assert_eq!(Image::from_array(t).unwrap().get(2, 4), a[[2, 4]]);
        // Steps, negative steps and a window of a larger buffer, owned and as views.
        for owned in [
            a.clone().slice_move(s![..;2, 1..;3]),
            a.clone().slice_move(s![.., ..;-1]),
            a.clone().slice_move(s![1.., ..]),
            a.clone().slice_move(s![..2, ..]),
        ] {
            let expect = owned.to_owned();
            check(Image::from_array_view(owned.view()).unwrap(), expect.view());
            check(Image::from_array(owned).unwrap(), expect.view());
        }
        let strided = a.slice(s![1..;2, ..;-2]);
        assert_eq!(strided.dim(), (1, 3));
        let img = Image::from_array_view(strided).unwrap();
        assert_eq!(img.as_slice(), &[a[[1, 4]], a[[1, 2]], a[[1, 0]]]);
    }

    #[test]
    fn gray_images_convert_as_from_u8() {
        let gray = ::image::GrayImage::from_fn(4, 3, |x, y| ::image::Luma([(x * 60 + y) as u8]));
        let img = Image::from_gray_image(&gray).unwrap();
        assert_eq!((img.width(), img.height()), (4, 3));
        assert_eq!(img, Image::from_u8(4, 3, gray.as_raw()).unwrap());
        assert_eq!(img.get(0, 0), 0.0);
        assert_eq!(img.get(3, 2), 182.0 / 255.0);
        assert_eq!(img.to_u8(), gray.into_raw());
    }

    #[test]
    fn bad_arrays_are_errors() {
        let empty = ndarray::Array2::<f32>::zeros((0, 5));
        assert!(matches!(
            Image::from_array(empty),
            Err(Error::ImageTooSmall {
                width: 5,
                height: 0,
                ..
            })
        ));
        let empty_gray = ::image::GrayImage::new(0, 7);
        assert!(matches!(
            Image::from_gray_image(&empty_gray),
            Err(Error::ImageTooSmall { .. })
        ));
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut a = ramp();
            a[[2, 1]] = bad;
            assert!(matches!(
                Image::from_array_view(a.t()),
                Err(Error::NonFinite { .. })
            ));
            assert!(matches!(Image::from_array(a), Err(Error::NonFinite { .. })));
        }
        // 2^30 pixels of one broadcast value: rejected by the pixel limit before any copy.
        let one = [0.5f32];
        let one = ndarray::ArrayView1::from(&one[..]);
        let huge = one.broadcast((1 << 15, 1 << 15)).unwrap();
        let err = Image::from_array_view(huge).unwrap_err();
        assert!(err.to_string().contains("more than the limit"), "{err}");
    }

    #[test]
    fn overflowing_sizes_are_errors() {
        for (w, h) in [(usize::MAX, 2), (1 << 33, 1 << 33), (2, usize::MAX)] {
            assert!(matches!(
                check_pixel_count(w, h, 0),
                Err(Error::InvalidParam { name: "size", .. })
            ));
            assert!(matches!(
                Image::new(w, h, Vec::new()),
                Err(Error::InvalidParam { name: "size", .. })
            ));
        }
    }
}
