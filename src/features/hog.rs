//! Histograms of oriented gradients (HOG), Dalal and Triggs 2005, computed exactly as
//! scikit-image's `skimage.feature.hog`.
//!
//! # Overview
//! [`Hog`] maps a gray [`Image`] to one vector: gradients by centred differences, a
//! histogram of unsigned gradient orientations per cell of `cell x cell` pixels (each pixel
//! votes its gradient magnitude into one bin), and each block of `block x block` cells
//! normalised (L2-Hys by default) and concatenated. It is stateless (its params are its own
//! fitted form), so it slots into a pipeline config as `{"hog": {...}}`.
//!
//! # Formulas (scikit-image 0.26, default options)
//! - Gradients: `g_row(y, x) = I(y + 1, x) - I(y - 1, x)`, `g_col(y, x) = I(y, x + 1) -
//!   I(y, x - 1)`, zero on the border rows / columns; in `f64`.
//! - Magnitude `hypot(g_col, g_row)`; orientation `atan2(g_row, g_col)` in degrees, taken
//!   modulo 180 with NumPy's `%` (a result in `[0, 180)`; a value that rounds to exactly 180
//!   falls in no bin, as in scikit-image).
//! - Bin `i` of `n` holds orientations in `[180 / n * i, 180 / n * (i + 1))`.
//! - Cell `(r, c)` covers rows `r * cell ..< (r + 1) * cell` and the same columns; its bin
//!   is the sum of the magnitudes voting for it, accumulated in raster order in `f32` (the
//!   Cython kernel's `float` accumulator), then divided by `cell * cell` in `f32`;
//!   `rows / cell` by `cols / cell` cells, the remainder of the image ignored.
//! - Blocks slide one cell at a time; `L2-Hys`: `v / sqrt(|v|^2 + eps^2)`, clipped at 0.2,
//!   normalised again; `L2`, `L1` and `L1-sqrt` as scikit-image; `eps = 1e-5`.
//! - Output order (scikit-image's `feature_vector=True`): block row, block column, cell row
//!   within the block, cell column, orientation.
//!
//! # Conventions that change numbers
//! An 8-bit image (every pixel a multiple of 1/255, as decoded from an 8-bit file) is
//! processed in `0..255`, exactly as scikit-image processes a `uint8` array: there the
//! gradient components are exact integers, so orientations that fall exactly on a bin bound
//! (45 degrees with 12 bins, say) are decided as scikit-image decides them. Other images are
//! used as they are (like scikit-image on a float array); HOG is invariant to the scale of
//! the pixels except through `eps`.
//! `transform_sqrt` (power-law compression) takes the square root of each pixel first.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::image::Image;
use crate::pipeline::{Fit, Label, Transform, check_fit};

/// The largest number of orientation bins accepted.
pub const MAX_ORIENTATIONS: usize = 360;

/// Block normalisation (scikit-image's `block_norm`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockNorm {
    /// `v / (|v|_1 + eps)`.
    #[serde(rename = "L1")]
    L1,
    /// `sqrt(v / (|v|_1 + eps))`.
    #[serde(rename = "L1-sqrt")]
    L1Sqrt,
    /// `v / sqrt(|v|_2^2 + eps^2)`.
    #[serde(rename = "L2")]
    L2,
    /// L2, clipped at 0.2, L2 again (Lowe's SIFT normalisation).
    #[default]
    #[serde(rename = "L2-Hys")]
    L2Hys,
}

/// The HOG stage and its parameters (scikit-image's defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hog {
    /// Orientation bins over `[0, 180)` degrees (9).
    pub orientations: usize,
    /// Cell side in pixels (8; scikit-image's `pixels_per_cell=(8, 8)`).
    pub cell: usize,
    /// Block side in cells (3; `cells_per_block=(3, 3)`).
    pub block: usize,
    /// Block normalisation (L2-Hys).
    pub block_norm: BlockNorm,
    /// Square root of each pixel before the gradients (false).
    pub transform_sqrt: bool,
}

impl Default for Hog {
    fn default() -> Self {
        Hog {
            orientations: 9,
            cell: 8,
            block: 3,
            block_norm: BlockNorm::L2Hys,
            transform_sqrt: false,
        }
    }
}

const EPS: f64 = 1e-5;

impl Hog {
    /// Checks the parameters: 1 to [`MAX_ORIENTATIONS`] bins, cells and blocks of at least
    /// 1 (cells up to 4096 pixels, blocks up to 64 cells).
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_ORIENTATIONS).contains(&self.orientations) {
            return Err(Error::param(
                "orientations",
                format!(
                    "must be 1 to {MAX_ORIENTATIONS}, found {}",
                    self.orientations
                ),
            ));
        }
        if !(1..=4096).contains(&self.cell) {
            return Err(Error::param(
                "cell",
                format!("must be 1 to 4096 pixels, found {}", self.cell),
            ));
        }
        if !(1..=64).contains(&self.block) {
            return Err(Error::param(
                "block",
                format!("must be 1 to 64 cells, found {}", self.block),
            ));
        }
        Ok(())
    }

    /// The length of the vector for a `width x height` image, or an error when the image
    /// holds less than one block.
    pub fn output_len(&self, width: usize, height: usize) -> Result<usize> {
        self.validate()?;
        let (cells_x, cells_y) = (width / self.cell, height / self.cell);
        if cells_x < self.block || cells_y < self.block {
            let min = self.block * self.cell;
            return Err(Error::ImageTooSmall {
                width,
                height,
                min_width: min,
                min_height: min,
            });
        }
        let blocks = (cells_x - self.block + 1) * (cells_y - self.block + 1);
        Ok(blocks * self.block * self.block * self.orientations)
    }

    /// The cell histograms, `cells_y x cells_x x orientations` in row-major order.
    fn cell_histograms(&self, image: &Image) -> Vec<f64> {
        let (w, h) = (image.width(), image.height());
        let px = image.as_slice();
        let scale = if is_8bit(px) { 255.0 } else { 1.0 };
        let value = |i: usize| {
            let v = if scale == 1.0 {
                f64::from(px[i])
            } else {
                (f64::from(px[i]) * scale).round()
            };
            if self.transform_sqrt { v.sqrt() } else { v }
        };
        let (c, n) = (self.cell, self.orientations);
        let (cells_x, cells_y) = (w / c, h / c);
        let bounds: Vec<f64> = (0..=n).map(|i| 180.0 / n as f64 * i as f64).collect();
        let to_degrees = 180.0 / std::f64::consts::PI;
        let bin_of = |o: f64| -> Option<usize> {
            let guess = ((o / 180.0 * n as f64) as usize).min(n - 1);
            (guess.saturating_sub(1)..(guess + 2).min(n))
                .find(|&i| o >= bounds[i] && o < bounds[i + 1])
        };
        let mut hist = vec![0.0f64; cells_x * cells_y * n];
        let mut sums = vec![0.0f32; n];
        for cy in 0..cells_y {
            for cx in 0..cells_x {
                sums.fill(0.0);
                let (y0, x0) = (cy * c, cx * c);
                for y in y0..y0 + c {
                    for x in x0..x0 + c {
                        let gr = if y == 0 || y + 1 >= h {
                            0.0
                        } else {
                            value((y + 1) * w + x) - value((y - 1) * w + x)
                        };
                        let gc = if x == 0 || x + 1 >= w {
                            0.0
                        } else {
                            value(y * w + x + 1) - value(y * w + x - 1)
                        };
                        let o = numpy_remainder(gr.atan2(gc) * to_degrees, 180.0);
                        if let Some(b) = bin_of(o) {
                            // The kernel's accumulator is a C float: f32(f64(sum) + m).
                            sums[b] = (f64::from(sums[b]) + gc.hypot(gr)) as f32;
                        }
                    }
                }
                let at = (cy * cells_x + cx) * n;
                let area = (c * c) as f32;
                for (dst, &s) in hist[at..at + n].iter_mut().zip(&sums) {
                    *dst = f64::from(s / area);
                }
            }
        }
        hist
    }
}

/// Whether every pixel is a multiple of 1/255 (an image decoded from 8 bits).
fn is_8bit(px: &[f32]) -> bool {
    px.iter().all(|&v| {
        let k = (f64::from(v) * 255.0).round();
        (0.0..=255.0).contains(&k) && (k / 255.0) as f32 == v
    })
}

/// NumPy's float `%`: the remainder with the sign of the divisor (`+0` for a zero result).
fn numpy_remainder(a: f64, b: f64) -> f64 {
    let m = a % b;
    if m == 0.0 {
        0.0f64.copysign(b)
    } else if (m < 0.0) != (b < 0.0) {
        m + b
    } else {
        m
    }
}

/// Normalises one block in place (scikit-image's `_hog_normalize_block`).
fn normalize_block(v: &mut [f64], norm: BlockNorm) {
    let l1 = || v.iter().map(|x| x.abs()).sum::<f64>() + EPS;
    let l2 = |v: &[f64]| (v.iter().map(|x| x * x).sum::<f64>() + EPS * EPS).sqrt();
    match norm {
        BlockNorm::L1 => {
            let s = l1();
            v.iter_mut().for_each(|x| *x /= s);
        }
        BlockNorm::L1Sqrt => {
            let s = l1();
            v.iter_mut().for_each(|x| *x = (*x / s).sqrt());
        }
        BlockNorm::L2 => {
            let s = l2(v);
            v.iter_mut().for_each(|x| *x /= s);
        }
        BlockNorm::L2Hys => {
            let s = l2(v);
            v.iter_mut().for_each(|x| *x = (*x / s).min(0.2));
            let s = l2(v);
            v.iter_mut().for_each(|x| *x /= s);
        }
    }
}

impl Fit for Hog {
    type Input = Image;
    type Fitted = Hog;

    fn fit(&self, inputs: &[Image], labels: &[Label]) -> Result<Hog> {
        check_fit(self.validate(), inputs, labels).map(|()| self.clone())
    }
}

impl Transform for Hog {
    type Input = Image;
    type Output = Vec<f32>;

    fn transform(&self, image: &Image) -> Result<Vec<f32>> {
        let len = self.output_len(image.width(), image.height())?;
        image.check_finite()?;
        if self.transform_sqrt && image.as_slice().iter().any(|&v| v < 0.0) {
            return Err(Error::param(
                "transform_sqrt",
                "the image has negative pixels, which have no square root",
            ));
        }
        let hist = self.cell_histograms(image);
        let (n, b) = (self.orientations, self.block);
        let cells_x = image.width() / self.cell;
        let cells_y = image.height() / self.cell;
        let mut out = Vec::with_capacity(len);
        let mut block = vec![0.0f64; b * b * n];
        for by in 0..=cells_y - b {
            for bx in 0..=cells_x - b {
                for r in 0..b {
                    let from = ((by + r) * cells_x + bx) * n;
                    block[r * b * n..(r + 1) * b * n].copy_from_slice(&hist[from..from + b * n]);
                }
                normalize_block(&mut block, self.block_norm);
                out.extend(block.iter().map(|&v| v as f32));
            }
        }
        debug_assert_eq!(out.len(), len);
        Ok(out)
    }
}

impl crate::persist::Model for Hog {
    fn kind() -> String {
        "hog".into()
    }

    fn validate_loaded(&self) -> Result<()> {
        self.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scikit-image's algorithm written as its Python reads, pixel by pixel in f64 except
    /// where it uses f32: the reference the fast path is checked against.
    fn naive(p: &Hog, img: &Image) -> Vec<f64> {
        let (w, h) = (img.width() as isize, img.height() as isize);
        let scale = if is_8bit(img.as_slice()) { 255.0 } else { 1.0 };
        let v = |x: isize, y: isize| {
            let raw = f64::from(img.as_slice()[(y * w + x) as usize]);
            let v = if scale == 1.0 {
                raw
            } else {
                (raw * scale).round()
            };
            if p.transform_sqrt { v.sqrt() } else { v }
        };
        let mut mag = vec![0.0; (w * h) as usize];
        let mut ori = vec![0.0; (w * h) as usize];
        for y in 0..h {
            for x in 0..w {
                let gr = if y == 0 || y == h - 1 {
                    0.0
                } else {
                    v(x, y + 1) - v(x, y - 1)
                };
                let gc = if x == 0 || x == w - 1 {
                    0.0
                } else {
                    v(x + 1, y) - v(x - 1, y)
                };
                mag[(y * w + x) as usize] = gc.hypot(gr);
                ori[(y * w + x) as usize] =
                    numpy_remainder(gr.atan2(gc) * (180.0 / std::f64::consts::PI), 180.0);
            }
        }
        let (c, n) = (p.cell as isize, p.orientations);
        let (ncx, ncy) = (w / c, h / c);
        let mut hist = vec![vec![vec![0.0f64; n]; ncx as usize]; ncy as usize];
        for i in 0..n {
            let start = 180.0 / n as f64 * (i + 1) as f64;
            let end = 180.0 / n as f64 * i as f64;
            for yi in 0..ncy {
                for xi in 0..ncx {
                    let (cy, cx) = (c / 2 + yi * c, c / 2 + xi * c);
                    let mut total = 0.0f32;
                    for dy in -(c / 2)..(c + 1) / 2 {
                        for dx in -(c / 2)..(c + 1) / 2 {
                            let at = ((cy + dy) * w + cx + dx) as usize;
                            if ori[at] >= start || ori[at] < end {
                                continue;
                            }
                            total = (f64::from(total) + mag[at]) as f32;
                        }
                    }
                    hist[yi as usize][xi as usize][i] = f64::from(total / (c * c) as f32);
                }
            }
        }
        let b = p.block;
        let mut out = Vec::new();
        for by in 0..=(ncy as usize - b) {
            for bx in 0..=(ncx as usize - b) {
                let mut block = Vec::new();
                for r in 0..b {
                    for cc in 0..b {
                        block.extend(&hist[by + r][bx + cc]);
                    }
                }
                normalize_block(&mut block, p.block_norm);
                out.extend(block);
            }
        }
        out
    }

    fn texture(w: usize, h: usize, seed: u64) -> Image {
        let mut rng = crate::rng::Rng::new(seed);
        let noise: Vec<f32> = (0..w * h).map(|_| rng.next_f32()).collect();
        Image::from_fn(w, h, |x, y| {
            let wave = ((x as f32 * 0.3).sin() + (y as f32 * 0.17).cos()) * 0.25 + 0.5;
            (0.7 * wave + 0.3 * noise[y * w + x]).clamp(0.0, 1.0)
        })
    }

    #[test]
    fn fast_path_equals_the_naive_reference_for_every_norm_and_odd_cells() {
        for (i, (cell, block, orientations, norm)) in [
            (8, 3, 9, BlockNorm::L2Hys),
            (7, 2, 9, BlockNorm::L2),
            (4, 1, 12, BlockNorm::L1),
            (6, 2, 12, BlockNorm::L2Hys),
            (5, 2, 8, BlockNorm::L1Sqrt),
            (3, 3, 7, BlockNorm::L2Hys),
        ]
        .into_iter()
        .enumerate()
        {
            let p = Hog {
                cell,
                block,
                orientations,
                block_norm: norm,
                transform_sqrt: i == 4,
            };
            let img = texture(37 + i, 45 - i, i as u64);
            // Odd cases on 8-bit pixels, where exact orientation ties happen.
            let img = if i % 2 == 1 {
                Image::from_fn(img.width(), img.height(), |x, y| {
                    (img.get(x, y) * 255.0).round() / 255.0
                })
            } else {
                img
            };
            let reference = naive(&p, &img);
            let got = p.transform(&img).unwrap();
            assert_eq!(got.len(), reference.len(), "case {i}");
            assert_eq!(got.len(), p.output_len(img.width(), img.height()).unwrap());
            let worst = got
                .iter()
                .zip(&reference)
                .map(|(a, b)| (f64::from(*a) - b).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-6, "case {i}: max difference {worst}");
        }
    }

    #[test]
    fn hand_computed_vertical_edge() {
        // A step from 0 to 1 between columns 3 and 4 of an 8x8 image, one 8x8 cell, one
        // block, L2: the gradient is horizontal (orientation 0, bin 0) at columns 3 and 4
        // (magnitude 1 each) on the 8 rows: bin 0 holds 16, the others 0, and L2
        // normalisation gives 0.25 / sqrt(0.0625 + 1e-10) (the bin is 16 / 64).
        let img = Image::from_fn(8, 8, |x, _| if x >= 4 { 1.0 } else { 0.0 });
        let p = Hog {
            cell: 8,
            block: 1,
            block_norm: BlockNorm::L2,
            ..Hog::default()
        };
        let v = p.transform(&img).unwrap();
        assert_eq!(v.len(), 9);
        assert!((v[0] - 1.0).abs() < 1e-7);
        assert!(v[1..].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn bad_params_and_small_images_are_errors() {
        let img = texture(16, 16, 1);
        assert!(matches!(
            Hog::default().transform(&img),
            Err(Error::ImageTooSmall { min_width: 24, .. })
        ));
        for bad in [
            Hog {
                orientations: 0,
                ..Hog::default()
            },
            Hog {
                cell: 0,
                ..Hog::default()
            },
            Hog {
                block: 0,
                ..Hog::default()
            },
        ] {
            assert!(matches!(
                bad.transform(&img),
                Err(Error::InvalidParam { .. })
            ));
        }
        let nan = Image::from_fn(24, 24, |x, _| if x == 3 { f32::NAN } else { 0.5 });
        assert!(matches!(
            Hog::default().transform(&nan),
            Err(Error::NonFinite { .. })
        ));
    }

    #[test]
    fn numpy_remainder_follows_the_divisor_sign() {
        assert_eq!(numpy_remainder(-20.0, 180.0), 160.0);
        assert_eq!(numpy_remainder(200.0, 180.0), 20.0);
        assert!(numpy_remainder(-0.0, 180.0).is_sign_positive());
        assert_eq!(numpy_remainder(-1e-17, 180.0), 180.0);
    }
}
