//! RGB canvases for visual outputs: boxes, labels, image grids.
//!
//! # Overview
//! Detections, misclassified examples and segmentations are easier to judge as pictures.
//! [`Canvas`] is an 8-bit RGB copy of an [`Image`] (or a blank sheet) on which rectangles,
//! filled cells and short text labels are drawn, then saved as PNG.
//!
//! # Usage
//! ```
//! use classic_cv::{draw::Canvas, image::{Image, Rect}};
//! let img = Image::from_fn(40, 30, |x, _| x as f32 / 40.0);
//! let mut canvas = Canvas::from_gray(&img);
//! canvas.draw_rect(Rect { x: 5, y: 5, width: 20, height: 10 }, [255, 0, 0], 1);
//! canvas.draw_text(6, 18, "FACE 0.9", [255, 255, 0], 1);
//! assert_eq!(canvas.pixel(5, 5), [255, 0, 0]);
//! ```
//!
//! # Technical details
//! Text uses a built-in 5x7 bitmap font (digits, upper-case letters, common punctuation;
//! lower-case letters are drawn as upper-case), scaled by an integer factor, so no font
//! file is needed. Everything drawn outside the canvas is clipped.

use std::path::Path;

use crate::error::Result;
use crate::image::{Image, Rect, to_u8};

/// An 8-bit RGB picture, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<[u8; 3]>,
}

impl Canvas {
    /// A canvas of one colour.
    pub fn new(width: usize, height: usize, colour: [u8; 3]) -> Self {
        Canvas {
            width,
            height,
            pixels: vec![colour; width * height],
        }
    }

    /// A gray image copied into all three channels.
    pub fn from_gray(img: &Image) -> Self {
        Canvas {
            width: img.width(),
            height: img.height(),
            pixels: img
                .as_slice()
                .iter()
                .map(|&v| {
                    let g = to_u8(v);
                    [g, g, g]
                })
                .collect(),
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Colour at `(x, y)`.
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        self.pixels[y * self.width + x]
    }

    /// Sets one pixel; coordinates outside the canvas are ignored.
    pub fn put(&mut self, x: i64, y: i64, colour: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            self.pixels[y as usize * self.width + x as usize] = colour;
        }
    }

    /// Fills a rectangle.
    pub fn fill_rect(&mut self, r: Rect, colour: [u8; 3]) {
        for y in r.y as i64..r.y as i64 + r.height as i64 {
            for x in r.x as i64..r.x as i64 + r.width as i64 {
                self.put(x, y, colour);
            }
        }
    }

    /// Draws the outline of a rectangle, `thickness` pixels wide, inside its bounds.
    pub fn draw_rect(&mut self, r: Rect, colour: [u8; 3], thickness: u32) {
        let t = thickness.min(r.width).min(r.height);
        for i in 0..t {
            let (x0, y0) = (r.x as i64 + i as i64, r.y as i64 + i as i64);
            let (x1, y1) = (
                r.x as i64 + r.width as i64 - 1 - i as i64,
                r.y as i64 + r.height as i64 - 1 - i as i64,
            );
            for x in x0..=x1 {
                self.put(x, y0, colour);
                self.put(x, y1, colour);
            }
            for y in y0..=y1 {
                self.put(x0, y, colour);
                self.put(x1, y, colour);
            }
        }
    }

    /// Draws `text` with its top-left corner at `(x, y)`, each font pixel `scale` wide.
    pub fn draw_text(&mut self, x: i64, y: i64, text: &str, colour: [u8; 3], scale: u32) {
        let s = scale.max(1) as i64;
        for (i, ch) in text.chars().enumerate() {
            let glyph = glyph(ch);
            let gx = x + i as i64 * 6 * s;
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0b10000 >> col) != 0 {
                        for dy in 0..s {
                            for dx in 0..s {
                                self.put(gx + col * s + dx, y + row as i64 * s + dy, colour);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Copies a gray image into the canvas with its top-left corner at `(x, y)`.
    pub fn blit_gray(&mut self, img: &Image, x: i64, y: i64) {
        for yy in 0..img.height() {
            for xx in 0..img.width() {
                let g = to_u8(img.get(xx, yy));
                self.put(x + xx as i64, y + yy as i64, [g, g, g]);
            }
        }
    }

    /// Saves as an 8-bit RGB PNG (atomically).
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<()> {
        let raw: Vec<u8> = self.pixels.iter().flatten().copied().collect();
        let buf = ::image::RgbImage::from_raw(self.width as u32, self.height as u32, raw)
            .expect("buffer length matches the canvas size");
        crate::image::write_png(path.as_ref(), |w| {
            buf.write_to(w, ::image::ImageFormat::Png)
        })
    }
}

/// Width in pixels of `text` drawn at `scale`.
pub fn text_width(text: &str, scale: u32) -> usize {
    text.chars().count() * 6 * scale.max(1) as usize
}

/// The 5x7 bitmap of a character: 7 rows, bit 4 is the leftmost column.
fn glyph(ch: char) -> [u8; 7] {
    match ch.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        '=' => [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '>' => [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
        '<' => [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
        '\'' => [0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        ' ' => [0; 7],
        _ => [0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangle_outline_is_drawn_and_clipped() {
        let rect = |x, y, width, height| Rect {
            x,
            y,
            width,
            height,
        };
        let mut c = Canvas::new(10, 10, [0, 0, 0]);
        c.draw_rect(rect(2, 3, 4, 3), [1, 2, 3], 1);
        assert_eq!(c.pixel(2, 3), [1, 2, 3]);
        assert_eq!(c.pixel(5, 5), [1, 2, 3]);
        assert_eq!(c.pixel(3, 4), [0, 0, 0], "interior stays untouched");
        // Partly outside: must not panic, and draws the visible part.
        c.draw_rect(rect(8, 8, 5, 5), [9, 9, 9], 2);
        assert_eq!(c.pixel(8, 8), [9, 9, 9]);
    }

    #[test]
    fn text_draws_the_glyph_bits() {
        let mut c = Canvas::new(12, 7, [0, 0, 0]);
        c.draw_text(0, 0, "1", [255, 255, 255], 1);
        // '1' has a single pixel at column 2 of the first row.
        let lit: Vec<usize> = (0..5).filter(|&x| c.pixel(x, 0)[0] == 255).collect();
        assert_eq!(lit, vec![2]);
        assert_eq!(text_width("ab", 2), 24);
    }
}
