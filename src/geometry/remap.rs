//! Backward warping: a per-pixel map of source coordinates, built once and applied to many
//! frames, with nearest or bilinear interpolation and three border modes.
//!
//! # Overview
//! Forward mapping (pushing every source pixel to where it lands) leaves holes and folds;
//! backward mapping asks, for every output pixel, where to read in the source, so every
//! output pixel gets exactly one value. A [`WarpMap`] stores that answer for each output
//! pixel, as OpenCV's `CV_32FC2` maps do: the source position `(x, y)` in `f32`. Building a
//! map (undistortion, a homography, a rectification) is the expensive part; applying it to a
//! frame is a gather with interpolation, so a video stream builds one map and applies it to
//! every frame ([`WarpMap::apply_u8_into`] writes into a caller's buffer and allocates
//! nothing).
//!
//! # Interpolation
//! With `du = x - floor(x)`, `dv = y - floor(y)` and the four neighbours `I1 = I(x0, y0)`,
//! `I2 = I(x0 + 1, y0)`, `I3 = I(x0, y0 + 1)`, `I4 = I(x0 + 1, y0 + 1)`, bilinear
//! interpolation is `(1-du)(1-dv) I1 + du(1-dv) I2 + (1-du) dv I3 + du dv I4`.
//! - [`Interpolation::Bilinear`]: that formula with the exact `du`, `dv` (in `f32`).
//! - [`Interpolation::BilinearOpenCv`]: OpenCV's `INTER_LINEAR` for `remap`,
//!   `warpPerspective` and `undistort`: the coordinates are rounded to 1/32 of a pixel
//!   (`INTER_TAB_SIZE` = 32, round half to even, as `cvRound`), so `du = i/32`,
//!   `dv = j/32`. The 8-bit weights are OpenCV's fixed-point table entries (scale
//!   `INTER_REMAP_COEF_SCALE` = 32768); with weights on a 1/32 grid they are exactly
//!   `32 (32-i)(32-j)`, `32 i (32-j)`, `32 (32-i) j`, `32 i j` and sum to 32768, and the
//!   result is `(sum + 16384) >> 15`, i.e. `(Σ w'·I + 512) >> 10` with `w' = w / 32`.
//!   `f32` images use the same weights as floats (`w / 1024`), summed in OpenCV's order.
//!   Results equal OpenCV 4.14's bit for bit on 8-bit images.
//! - [`Interpolation::Nearest`]: the pixel at `(round(x), round(y))`, round half to even.
//!
//! The quantised and the exact bilinear results differ by at most the quantisation bound:
//! rounding a coordinate to 1/32 moves it by at most 1/64 inside the same cell, and the
//! bilinear surface has slopes `Gx <= max(|I2 - I1|, |I4 - I3|)` and
//! `Gy <= max(|I3 - I1|, |I4 - I2|)` there, so the unrounded values differ by at most
//! `(Gx + Gy) / 64`; after rounding each to an integer, 8-bit outputs differ by at most
//! `floor(1 + (Gx + Gy) / 64)` gray levels (and by 0 or 1 in flat regions).
//!
//! # Borders
//! Source pixels outside the image are taken from the border mode, per neighbour, as
//! OpenCV's `remap` does: [`Border::Constant`] (`BORDER_CONSTANT`; a pixel whose four
//! neighbours are all outside gets the constant directly), [`Border::Replicate`]
//! (`BORDER_REPLICATE`, `aaaa|abcd|dddd`) and [`Border::Reflect101`]
//! (`BORDER_REFLECT_101`, `dcb|abcd|cba`). The constant is a gray level in `[0, 1]`; 8-bit
//! images use `round(255 v)`.
//!
//! Coordinates that are NaN or beyond `±2^25` pixels are treated as outside the source
//! (left/top of it for NaN). OpenCV clamps such coordinates to 16-bit integers instead;
//! both give the border value for [`Border::Constant`] and [`Border::Replicate`].
//!
//! # Speed
//! The quantised mode on 8-bit images is the fast path. Building a map stores, once, what
//! every frame needs (OpenCV's `convertMaps` fixed-point form): per output pixel the index
//! of the top-left source pixel of its 2x2 cell (for cells inside the source) and the two
//! fractions `i`, `j`, and per row the few pixels whose cell is not inside. Applying the
//! map then runs, per block of 16 output pixels, a gather without branches (the index
//! clamped into the source, so a pixel off the fast path reads some cell and is overwritten
//! afterwards through the border-aware path) into fixed-size arrays, and a blend over the
//! block that the compiler vectorises (`u16` for the first interpolation, `u32` for the
//! second). Colour pixels are gathered as 4-byte words, so `CN x 16` values are blended at
//! once; with AVX2, 3- and 4-channel rows go through `remap_avx2` instead (8-byte loads of
//! each cell row, `pmaddubsw` then `pmaddwd` on the same integers). The kernels are
//! compiled twice, for the baseline and inside pulp's AVX2 context (chosen at run time);
//! all give the same bytes. Bands of about 16384 output
//! pixels run in parallel (rayon) for outputs of at least [`PARALLEL_MIN_PIXELS`] pixels;
//! every pixel is computed on its own, so results do not depend on the thread count.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::image::Image;
use crate::simd::{Kernel, V3};

/// The largest output a map may have, in pixels (2^28: a 16384 x 16384 image).
pub const MAX_WARP_PIXELS: usize = 1 << 28;

/// Outputs with at least this many pixels are warped with bands of rows in parallel.
pub const PARALLEL_MIN_PIXELS: usize = 1 << 16;

/// Output pixels per band of rows (a band is at least one row).
const BAND_PIXELS: usize = 1 << 14;

/// Fractional bits of the quantised coordinates (OpenCV's `INTER_BITS`).
const FRAC_BITS: i32 = 5;
/// `2^FRAC_BITS` (OpenCV's `INTER_TAB_SIZE`).
const FRAC_ONE: i32 = 1 << FRAC_BITS;
/// Quantised coordinates are clamped to this magnitude (2^25 pixels); NaN becomes its
/// negative.
const FAR: i32 = 1 << 30;

/// How a source position between pixels becomes a value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Interpolation {
    /// The nearest pixel (coordinates rounded half to even), OpenCV's `INTER_NEAREST`.
    Nearest,
    /// Bilinear interpolation with the exact fractional offsets.
    Bilinear,
    /// Bilinear interpolation with offsets rounded to 1/32 pixel and OpenCV's fixed-point
    /// weights: OpenCV's `INTER_LINEAR`, bit-exact on 8-bit images.
    #[default]
    BilinearOpenCv,
}

/// What the source image holds outside its borders.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Border {
    /// A constant gray level in `[0, 1]` (`BORDER_CONSTANT`; 8-bit images use `round(255 v)`).
    Constant(f32),
    /// The nearest edge pixel (`BORDER_REPLICATE`).
    Replicate,
    /// Mirrored about the edge pixel, which is not repeated (`BORDER_REFLECT_101`).
    Reflect101,
}

impl Default for Border {
    /// Black, OpenCV's default for `remap` and `warpPerspective`.
    fn default() -> Self {
        Border::Constant(0.0)
    }
}

/// Interpolation and border mode of one warp.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sampling {
    /// How values between pixels are formed.
    pub interpolation: Interpolation,
    /// What lies outside the source image.
    pub border: Border,
}

impl Sampling {
    /// Fails on a constant border value that is not finite.
    pub fn validate(&self) -> Result<()> {
        if let Border::Constant(v) = self.border
            && !v.is_finite()
        {
            return Err(Error::param(
                "border",
                "the constant border value must be finite",
            ));
        }
        Ok(())
    }
}

/// For each output pixel, the source position it reads (OpenCV's `CV_32FC2` map), for a
/// source of a fixed size. Built once, applied to any number of frames of that size.
#[derive(Clone, Debug, PartialEq)]
pub struct WarpMap {
    width: usize,
    height: usize,
    src_width: usize,
    src_height: usize,
    /// Source `(x, y)` per output pixel, row-major.
    coords: Vec<[f32; 2]>,
    /// The same positions rounded to 1/32 pixel (`round(32 x)`), from the `f64` values when
    /// the map was built from `f64` geometry (as OpenCV's own fixed-point maps are).
    fixed: Vec<[i32; 2]>,
    /// The fast path of 1-channel quantised warps: per output pixel the index of the
    /// top-left source pixel of its 2x2 cell, [`NOT_INTERIOR`] when the cell is not inside.
    fast: Vec<u32>,
    /// Per output pixel the fractions `i | j << 8` of its quantised position.
    frac: Vec<u16>,
    /// Per output row, the pixels (column indices) that are not on the fast path.
    edges: Vec<Vec<u32>>,
}

/// [`WarpMap`]'s marker of a pixel whose cell is not inside the source.
const NOT_INTERIOR: u32 = u32::MAX;

/// Fails unless `width x height` is a non-empty size within [`MAX_WARP_PIXELS`].
pub fn check_warp_size(width: usize, height: usize) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::param(
            "size",
            format!("output size {width}x{height} is empty"),
        ));
    }
    match width.checked_mul(height) {
        Some(n) if n <= MAX_WARP_PIXELS => Ok(()),
        _ => Err(Error::param(
            "size",
            format!("output size {width}x{height} is over the limit of {MAX_WARP_PIXELS} pixels"),
        )),
    }
}

/// `round(32 v)` (half to even), clamped to `±2^30`; NaN to `-2^30`.
fn quantise(v: f64) -> i32 {
    round_fixed(v * FRAC_ONE as f64)
}

/// A position already in 1/32 pixel, rounded half to even (OpenCV's `cvRound`), clamped
/// to `±2^30`; NaN to `-2^30`.
pub(crate) fn round_fixed(scaled: f64) -> i32 {
    if scaled.is_nan() {
        -FAR
    } else {
        scaled.round_ties_even().clamp(-FAR as f64, FAR as f64) as i32
    }
}

/// `round(v)` (half to even) as a pixel index, clamped like [`quantise`].
fn nearest_index(v: f32) -> i32 {
    let far = (FAR >> FRAC_BITS) as f32;
    if v.is_nan() {
        -(FAR >> FRAC_BITS)
    } else {
        v.round_ties_even().clamp(-far, far) as i32
    }
}

/// Where index `p` of an axis of `len` pixels reads under `border` (`None`: the constant).
fn border_index(p: i32, len: usize, border: Border) -> Option<usize> {
    if p >= 0 && (p as usize) < len {
        return Some(p as usize);
    }
    match border {
        Border::Constant(_) => None,
        Border::Replicate => Some(if p < 0 { 0 } else { len - 1 }),
        Border::Reflect101 => {
            if len == 1 {
                return Some(0);
            }
            // Reflection without repeating the edge is periodic with period 2 (len - 1).
            let period = 2 * (len as i64 - 1);
            let q = (p as i64).rem_euclid(period);
            Some(if q >= len as i64 {
                (period - q) as usize
            } else {
                q as usize
            })
        }
    }
}

impl WarpMap {
    /// A map from `f32` source positions (row-major, `width * height` of them) for a
    /// `src_width x src_height` source: OpenCV's `remap` with a `CV_32FC2` map.
    ///
    /// Fails on an empty or oversized output, a wrong number of positions, an empty source,
    /// or a map whose every pixel reads outside the source.
    pub fn from_coords(
        width: usize,
        height: usize,
        src_width: usize,
        src_height: usize,
        coords: Vec<[f32; 2]>,
    ) -> Result<Self> {
        check_warp_size(width, height)?;
        if coords.len() != width * height {
            return Err(Error::DimensionMismatch {
                what: "warp map positions",
                expected: width * height,
                found: coords.len(),
            });
        }
        let fixed = coords
            .iter()
            .map(|&[x, y]| [quantise(x as f64), quantise(y as f64)])
            .collect();
        Self::from_parts(width, height, src_width, src_height, coords, fixed)
    }

    /// A map whose output pixel `(u, v)` reads the source at `f(u, v)`, computed in `f64`:
    /// the quantised positions are rounded from the `f64` values (as OpenCV's fixed-point
    /// maps of `initUndistortRectifyMap` and `warpPerspective` are), the stored `f32`
    /// positions are those values rounded to `f32`. Rows are computed in parallel.
    pub fn from_fn(
        width: usize,
        height: usize,
        src_width: usize,
        src_height: usize,
        f: impl Fn(usize, usize) -> [f64; 2] + Sync,
    ) -> Result<Self> {
        check_warp_size(width, height)?;
        type Row = (Vec<[f32; 2]>, Vec<[i32; 2]>);
        let rows: Vec<Row> = (0..height)
            .into_par_iter()
            .map(|v| {
                (0..width)
                    .map(|u| {
                        let [x, y] = f(u, v);
                        ([x as f32, y as f32], [quantise(x), quantise(y)])
                    })
                    .unzip()
            })
            .collect();
        let mut coords = Vec::with_capacity(width * height);
        let mut fixed = Vec::with_capacity(width * height);
        for (c, q) in rows {
            coords.extend(c);
            fixed.extend(q);
        }
        Self::from_parts(width, height, src_width, src_height, coords, fixed)
    }

    /// Builds from the positions and their quantised form, already computed (every
    /// constructor's last step), with the fast-path tables; fails on an empty source or a
    /// map that reads outside the source everywhere.
    pub(crate) fn from_parts(
        width: usize,
        height: usize,
        src_width: usize,
        src_height: usize,
        coords: Vec<[f32; 2]>,
        fixed: Vec<[i32; 2]>,
    ) -> Result<Self> {
        check_warp_size(width, height)?;
        assert_eq!(coords.len(), width * height, "positions per output pixel");
        assert_eq!(
            fixed.len(),
            width * height,
            "quantised positions per output pixel"
        );
        WarpMap {
            width,
            height,
            src_width,
            src_height,
            coords,
            fixed,
            fast: Vec::new(),
            frac: Vec::new(),
            edges: Vec::new(),
        }
        .checked()
    }

    /// Fails on an empty source or a map that reads outside the source everywhere.
    fn checked(self) -> Result<Self> {
        crate::image::check_nonempty(self.src_width, self.src_height)?;
        let (sw, sh) = (self.src_width as i64, self.src_height as i64);
        let touches = self.fixed.iter().any(|&[qx, qy]| {
            let (sx, sy) = ((qx >> FRAC_BITS) as i64, (qy >> FRAC_BITS) as i64);
            sx >= -1 && sx < sw && sy >= -1 && sy < sh
        });
        if !touches {
            return Err(Error::param(
                "map",
                format!(
                    "every output pixel reads outside the {}x{} source image (nothing to warp)",
                    self.src_width, self.src_height
                ),
            ));
        }
        let mut map = self;
        let (w1, h1) = (map.src_width as u32 - 1, map.src_height as u32 - 1);
        let sw = map.src_width as u64;
        map.frac = map
            .fixed
            .iter()
            .map(|&[qx, qy]| ((qx & (FRAC_ONE - 1)) | (qy & (FRAC_ONE - 1)) << 8) as u16)
            .collect();
        map.fast = map
            .fixed
            .iter()
            .map(|&[qx, qy]| {
                let (sx, sy) = (qx >> FRAC_BITS, qy >> FRAC_BITS);
                let index = sy as u64 * sw + sx as u64;
                if (sx as u32) < w1 && (sy as u32) < h1 && index < NOT_INTERIOR as u64 {
                    index as u32
                } else {
                    NOT_INTERIOR
                }
            })
            .collect();
        map.edges = map
            .fast
            .chunks(map.width)
            .map(|row| {
                (0..row.len() as u32)
                    .filter(|&k| row[k as usize] == NOT_INTERIOR)
                    .collect()
            })
            .collect();
        Ok(map)
    }

    /// Output width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Output height.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The `(width, height)` of the source images this map reads.
    pub fn src_size(&self) -> (usize, usize) {
        (self.src_width, self.src_height)
    }

    /// Source `(x, y)` per output pixel, row-major (OpenCV's `CV_32FC2` map).
    pub fn coords(&self) -> &[[f32; 2]] {
        &self.coords
    }

    /// The share of output pixels whose interpolation footprint touches the source.
    pub fn coverage(&self) -> f64 {
        let (sw, sh) = (self.src_width as i64, self.src_height as i64);
        let n = self
            .fixed
            .iter()
            .filter(|&&[qx, qy]| {
                let (sx, sy) = ((qx >> FRAC_BITS) as i64, (qy >> FRAC_BITS) as i64);
                sx >= -1 && sx < sw && sy >= -1 && sy < sh
            })
            .count();
        n as f64 / self.fixed.len() as f64
    }

    /// Warps a gray `f32` image of the map's source size.
    pub fn apply(&self, img: &Image, sampling: Sampling) -> Result<Image> {
        sampling.validate()?;
        self.check_source(img.width(), img.height(), img.as_slice().len(), 1)?;
        let mut out = vec![0.0f32; self.width * self.height];
        let cval = match sampling.border {
            Border::Constant(v) => v,
            _ => 0.0,
        };
        let src = Plane {
            data: img.as_slice(),
            width: self.src_width,
            height: self.src_height,
            cn: 1,
        };
        self.for_rows(&mut out, 1, |y, row| {
            let coords = &self.coords[y * self.width..(y + 1) * self.width];
            let fixed = &self.fixed[y * self.width..(y + 1) * self.width];
            for (k, o) in row.iter_mut().enumerate() {
                *o = match sampling.interpolation {
                    Interpolation::Nearest => {
                        let [x, y] = coords[k];
                        src.nearest(nearest_index(x), nearest_index(y), 0, sampling.border)
                            .unwrap_or(cval)
                    }
                    Interpolation::Bilinear => {
                        let [x, y] = coords[k];
                        src.bilinear_exact(x, y, 0, sampling.border, cval)
                    }
                    Interpolation::BilinearOpenCv => {
                        src.bilinear_table_f32(fixed[k], 0, sampling.border, cval)
                    }
                };
            }
        });
        Image::new(self.width, self.height, out)
    }

    /// Warps an 8-bit image of the map's source size with `channels` interleaved channels
    /// (1 gray, 3 RGB, 4 RGBA; 2 also works) into a new buffer.
    pub fn apply_u8(&self, src: &[u8], channels: usize, sampling: Sampling) -> Result<Vec<u8>> {
        let mut out = vec![0u8; self.width * self.height * channels.max(1)];
        self.apply_u8_into(src, channels, sampling, &mut out)?;
        Ok(out)
    }

    /// [`WarpMap::apply_u8`] into a caller's buffer of `width * height * channels` bytes
    /// (for streams: no allocation per frame).
    pub fn apply_u8_into(
        &self,
        src: &[u8],
        channels: usize,
        sampling: Sampling,
        out: &mut [u8],
    ) -> Result<()> {
        sampling.validate()?;
        if !(1..=4).contains(&channels) {
            return Err(Error::param(
                "channels",
                format!("{channels} channels: 8-bit warps take 1 to 4"),
            ));
        }
        self.check_source(self.src_width, self.src_height, src.len(), channels)?;
        let n_out = self.width * self.height * channels;
        if out.len() != n_out {
            return Err(Error::DimensionMismatch {
                what: "warp output buffer",
                expected: n_out,
                found: out.len(),
            });
        }
        let cval = match sampling.border {
            Border::Constant(v) => crate::image::to_u8(v),
            _ => 0,
        };
        let plane = Plane {
            data: src,
            width: self.src_width,
            height: self.src_height,
            cn: channels,
        };
        let border = sampling.border;
        match (sampling.interpolation, channels) {
            (Interpolation::BilinearOpenCv, _) => {
                self.apply_fixed_u8(&plane, border, cval, out, crate::simd::v3(false))
            }
            (Interpolation::Bilinear, _) => self.for_rows(out, channels, |y, row| {
                let coords = &self.coords[y * self.width..(y + 1) * self.width];
                for (k, px) in row.chunks_exact_mut(channels).enumerate() {
                    let [x, yy] = coords[k];
                    for (c, o) in px.iter_mut().enumerate() {
                        let v = plane.bilinear_exact(x, yy, c, border, cval);
                        *o = v.round_ties_even().clamp(0.0, 255.0) as u8;
                    }
                }
            }),
            (Interpolation::Nearest, _) => self.for_rows(out, channels, |y, row| {
                let coords = &self.coords[y * self.width..(y + 1) * self.width];
                for (k, px) in row.chunks_exact_mut(channels).enumerate() {
                    let [x, yy] = coords[k];
                    let (ix, iy) = (nearest_index(x), nearest_index(yy));
                    for (c, o) in px.iter_mut().enumerate() {
                        *o = plane.nearest(ix, iy, c, border).unwrap_or(cval);
                    }
                }
            }),
        }
        Ok(())
    }

    /// The quantised positions of output row `y`.
    fn fixed_row(&self, y: usize) -> &[[i32; 2]] {
        &self.fixed[y * self.width..(y + 1) * self.width]
    }

    /// Fails unless a source of `len` values is `src_width x src_height x channels`.
    fn check_source(&self, w: usize, h: usize, len: usize, channels: usize) -> Result<()> {
        if (w, h) != (self.src_width, self.src_height) {
            return Err(Error::param(
                "image",
                format!(
                    "the map was built for {}x{} images, not {w}x{h}",
                    self.src_width, self.src_height
                ),
            ));
        }
        let n = self.src_width * self.src_height * channels;
        if len != n {
            return Err(Error::DimensionMismatch {
                what: "source image values",
                expected: n,
                found: len,
            });
        }
        Ok(())
    }

    /// OpenCV's `INTER_LINEAR` on 8-bit images, `v3` choosing the AVX2 or the portable
    /// build of the fast kernels (the same values): per band of rows, the fast kernel for
    /// every pixel (a pixel whose cell is not inside gets a placeholder), then the pixels
    /// that are not on the fast path through [`Plane::corners`].
    fn apply_fixed_u8(
        &self,
        plane: &Plane<'_, u8>,
        border: Border,
        cval: u8,
        out: &mut [u8],
        v3: Option<V3>,
    ) {
        let cn = plane.cn;
        self.for_bands(out, cn, |y0, band| {
            crate::simd::dispatch(
                v3,
                FixedBand {
                    map: self,
                    src: plane.data,
                    cn,
                    y0,
                    out: &mut *band,
                    v3,
                },
            );
            for (y, row) in (y0..).zip(band.chunks_exact_mut(self.width * cn)) {
                let fixed = self.fixed_row(y);
                for &k in &self.edges[y] {
                    let k = k as usize;
                    for (c, o) in row[k * cn..(k + 1) * cn].iter_mut().enumerate() {
                        *o = plane.bilinear_fixed_u8(fixed[k], c, border, cval);
                    }
                }
            }
        });
    }

    /// Runs `f(y, row)` over the output rows (`width * cn` values each), bands of rows in
    /// parallel for large outputs.
    fn for_rows<T: Send>(&self, out: &mut [T], cn: usize, f: impl Fn(usize, &mut [T]) + Sync) {
        let row_len = self.width * cn;
        self.for_bands(out, cn, |y0, band| {
            for (y, row) in (y0..).zip(band.chunks_mut(row_len)) {
                f(y, row);
            }
        });
    }

    /// Runs `f(y0, band)` over bands of whole output rows (`y0` the first row of the band),
    /// about [`BAND_PIXELS`] pixels each, in parallel when the output has at least
    /// [`PARALLEL_MIN_PIXELS`] pixels. Every pixel is computed on its own, so the result does
    /// not depend on the banding or the number of threads.
    fn for_bands<T: Send>(&self, out: &mut [T], cn: usize, f: impl Fn(usize, &mut [T]) + Sync) {
        let rows = (BAND_PIXELS / self.width).max(1);
        let band_len = rows * self.width * cn;
        if self.width * self.height >= PARALLEL_MIN_PIXELS {
            out.par_chunks_mut(band_len)
                .enumerate()
                .for_each(|(b, band)| f(b * rows, band));
        } else {
            for (b, band) in out.chunks_mut(band_len).enumerate() {
                f(b * rows, band);
            }
        }
    }
}

/// The fast kernels over one band of output rows (a [`Kernel`]: compiled inside the AVX2
/// context when there is one).
struct FixedBand<'a> {
    map: &'a WarpMap,
    src: &'a [u8],
    cn: usize,
    /// The band's first output row.
    y0: usize,
    out: &'a mut [u8],
    /// The AVX2 token, for the colour kernel written with AVX2 instructions.
    v3: Option<V3>,
}

impl Kernel for FixedBand<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let m = self.map;
        // Without a 2x2 cell inside the source every pixel is an edge pixel.
        if m.src_width < 2 || m.src_height < 2 {
            return;
        }
        let (w, cn) = (m.width, self.cn);
        let stride = m.src_width * cn;
        for (y, row) in (self.y0..).zip(self.out.chunks_exact_mut(w * cn)) {
            let span = y * w..(y + 1) * w;
            let (fast, frac) = (&m.fast[span.clone()], &m.frac[span]);
            match cn {
                1 => gray_row(self.src, stride, fast, frac, row),
                2 => colour_row::<2>(self.src, stride, fast, frac, row, 0),
                3 => {
                    let done = colour_v3::<3>(self.v3, self.src, stride, fast, frac, row);
                    colour_row::<3>(self.src, stride, fast, frac, row, done)
                }
                _ => {
                    let done = colour_v3::<4>(self.v3, self.src, stride, fast, frac, row);
                    colour_row::<4>(self.src, stride, fast, frac, row, done)
                }
            }
        }
    }
}

/// The pixels of a row with 3 or 4 channels that the AVX2 kernel computes (a prefix of
/// the row; none without AVX2), the arguments those of [`colour_row`].
#[inline(always)]
fn colour_v3<const CN: usize>(
    v3: Option<V3>,
    data: &[u8],
    stride: usize,
    fast: &[u32],
    frac: &[u16],
    out: &mut [u8],
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = v3 {
        let (top, bottom) = cell_rows(data, stride);
        return super::remap_avx2::colour_row_v3::<CN>(simd, top, bottom, fast, frac, out);
    }
    let _ = (v3, data, stride, fast, frac, out);
    0
}

/// A source image: interleaved channels, row-major.
struct Plane<'a, T> {
    data: &'a [T],
    width: usize,
    height: usize,
    cn: usize,
}

impl<T: Copy + Into<f32>> Plane<'_, T> {
    /// Channel `c` of pixel `(x, y)` under `border` (`None`: the constant).
    fn nearest(&self, x: i32, y: i32, c: usize, border: Border) -> Option<T> {
        let ix = border_index(x, self.width, border)?;
        let iy = border_index(y, self.height, border)?;
        Some(self.data[(iy * self.width + ix) * self.cn + c])
    }

    /// The four neighbours `[I1, I2, I3, I4]` of the cell at `(sx, sy)` (its top-left pixel),
    /// `cval` for those outside under a constant border; `None` when all four are outside
    /// under a constant border (OpenCV then writes the constant directly).
    fn corners(&self, sx: i32, sy: i32, c: usize, border: Border, cval: T) -> Option<[T; 4]> {
        if matches!(border, Border::Constant(_))
            && (sx as i64 >= self.width as i64
                || (sx as i64) < -1
                || sy as i64 >= self.height as i64
                || (sy as i64) < -1)
        {
            return None;
        }
        let get = |x: i32, y: i32| self.nearest(x, y, c, border).unwrap_or(cval);
        Some([
            get(sx, sy),
            get(sx + 1, sy),
            get(sx, sy + 1),
            get(sx + 1, sy + 1),
        ])
    }

    /// Exact bilinear interpolation at `(x, y)` in `f32`.
    fn bilinear_exact(&self, x: f32, y: f32, c: usize, border: Border, cval: T) -> f32 {
        let far = (FAR >> FRAC_BITS) as f32;
        if !(x.abs() < far && y.abs() < far) {
            return self
                .nearest(nearest_index(x), nearest_index(y), c, border)
                .unwrap_or(cval)
                .into();
        }
        let (x0, y0) = (x.floor(), y.floor());
        let (du, dv) = (x - x0, y - y0);
        match self.corners(x0 as i32, y0 as i32, c, border, cval) {
            None => cval.into(),
            Some([i1, i2, i3, i4]) => {
                (1.0 - du) * (1.0 - dv) * i1.into()
                    + du * (1.0 - dv) * i2.into()
                    + (1.0 - du) * dv * i3.into()
                    + du * dv * i4.into()
            }
        }
    }

    /// OpenCV's float bilinear on the 1/32 grid: weights `w / 1024` summed in OpenCV's order.
    fn bilinear_table_f32(&self, q: [i32; 2], c: usize, border: Border, cval: T) -> f32 {
        let [w00, w01, w10, w11] = weights(q);
        match self.corners(q[0] >> FRAC_BITS, q[1] >> FRAC_BITS, c, border, cval) {
            None => cval.into(),
            Some([i1, i2, i3, i4]) => {
                let s = 1.0 / 1024.0;
                i1.into() * (w00 as f32 * s)
                    + i2.into() * (w01 as f32 * s)
                    + i3.into() * (w10 as f32 * s)
                    + i4.into() * (w11 as f32 * s)
            }
        }
    }
}

impl Plane<'_, u8> {
    /// OpenCV's fixed-point bilinear at a quantised position (any pixel, any border).
    fn bilinear_fixed_u8(&self, q: [i32; 2], c: usize, border: Border, cval: u8) -> u8 {
        let w = weights(q);
        match self.corners(q[0] >> FRAC_BITS, q[1] >> FRAC_BITS, c, border, cval) {
            None => cval,
            Some(p) => blend(p, w),
        }
    }
}

/// The bilinear weights of a quantised position on the 1/32 grid, in 1/1024:
/// `[(32-i)(32-j), i(32-j), (32-i)j, ij]` for fractions `i/32` (x) and `j/32` (y).
#[inline(always)]
fn weights(q: [i32; 2]) -> [i32; 4] {
    let (fx, fy) = (q[0] & (FRAC_ONE - 1), q[1] & (FRAC_ONE - 1));
    let w11 = fx * fy;
    let w01 = fx * FRAC_ONE - w11;
    let w10 = fy * FRAC_ONE - w11;
    [FRAC_ONE * FRAC_ONE - w01 - w10 - w11, w01, w10, w11]
}

/// `(Σ w·I + 512) >> 10`: OpenCV's `(Σ 32 w·I + 2^14) >> 15` with the same result.
#[inline(always)]
fn blend(p: [u8; 4], w: [i32; 4]) -> u8 {
    ((p[0] as i32 * w[0] + p[1] as i32 * w[1] + p[2] as i32 * w[2] + p[3] as i32 * w[3] + 512)
        >> 10) as u8
}

/// Pixels per block of the fast kernels: their gathers fill fixed-size arrays that the
/// blend then reads as whole vectors.
const BLOCK: usize = 16;

/// OpenCV's fixed-point bilinear from the cell's pixels and the fractions `fx`, `fy` (in
/// 1/32): `a = tl (32-fx) + tr fx` per row of the cell (at most 8160, so `u16`), then
/// `(a (32-fy) + b fy + 512) >> 10`, the same integer as the four-weight sum of [`blend`].
#[inline(always)]
fn lerp_cell(tl: u16, tr: u16, bl: u16, br: u16, fx: u16, fy: u16) -> u8 {
    let a = tl * (32 - fx) + tr * fx;
    let b = bl * (32 - fx) + br * fx;
    ((a as u32 * (32 - fy) as u32 + b as u32 * fy as u32 + 512) >> 10) as u8
}

/// The source as two windows of equal length `len - stride`: the rows of the cells' top
/// pixels and of their bottom pixels, so that a cell at index `i` reads `top[i..]` and
/// `bottom[i..]` (one bounds check each, hoisted by the caller's clamp).
#[inline(always)]
fn cell_rows(data: &[u8], stride: usize) -> (&[u8], &[u8]) {
    (&data[..data.len() - stride], &data[stride..])
}

/// The fast path of one gray output row: every pixel's cell is read at its index in `fast`
/// (clamped into the source, so a pixel whose cell is not inside reads some cell and gets a
/// placeholder that the caller overwrites), in blocks of [`BLOCK`] whose byte pairs are
/// fetched first (without branches) and then blended in a loop the compiler vectorises.
/// The source has at least 2x2 pixels.
#[inline(always)]
fn gray_row(data: &[u8], stride: usize, fast: &[u32], frac: &[u16], out: &mut [u8]) {
    let (top, bottom) = cell_rows(data, stride);
    let last = top.len() - 2;
    let n = out.len() / BLOCK * BLOCK;
    let blocks = out[..n]
        .chunks_exact_mut(BLOCK)
        .zip(fast.chunks_exact(BLOCK))
        .zip(frac.chunks_exact(BLOCK));
    for ((o, idx), fr) in blocks {
        let mut t = [0u16; BLOCK];
        let mut b = [0u16; BLOCK];
        for k in 0..BLOCK {
            let i = (idx[k] as usize).min(last);
            t[k] = u16::from_le_bytes([top[i], top[i + 1]]);
            b[k] = u16::from_le_bytes([bottom[i], bottom[i + 1]]);
        }
        for k in 0..BLOCK {
            let f = fr[k] as u32;
            let (fx, fy) = (f & 0xff, f >> 8);
            let (t, u) = (t[k] as u32, b[k] as u32);
            let a = (t & 0xff) * (32 - fx) + (t >> 8) * fx;
            let b = (u & 0xff) * (32 - fx) + (u >> 8) * fx;
            o[k] = ((a * (32 - fy) + b * fy + 512) >> 10) as u8;
        }
    }
    for k in n..out.len() {
        let i = (fast[k] as usize).min(last);
        let (fx, fy) = (frac[k] & 0xff, frac[k] >> 8);
        let p = [top[i], top[i + 1], bottom[i], bottom[i + 1]].map(u16::from);
        out[k] = lerp_cell(p[0], p[1], p[2], p[3], fx, fy);
    }
}

/// The 4-byte words starting at the cell's left pixel (`s[i..]`) and at its right pixel
/// (`CN` bytes later), read without going past `s[i + 2 CN]`. Plain functions rather than
/// closures: closures are not always inlined into the AVX2 context.
#[inline(always)]
fn cell_words<const CN: usize>(s: &[u8], i: usize) -> [u32; 2] {
    let left = word(s, i);
    let right = match CN {
        2 => left >> 16,
        3 => word(s, i + 2) >> 8,
        _ => word(s, i + 4),
    };
    [left, right]
}

/// The little-endian word `s[j..j + 4]`.
#[inline(always)]
fn word(s: &[u8], j: usize) -> u32 {
    let bytes: [u8; 4] = s[j..j + 4].try_into().expect("a 4-byte slice");
    u32::from_le_bytes(bytes)
}

/// The fast path of one output row with `CN` (2 to 4) interleaved channels, as
/// [`gray_row`]: per pixel the cell's left and right pixels of both rows are fetched as
/// 4-byte words into four byte arrays (`CN` bytes per pixel, the word's extra bytes
/// overwritten by the next pixel), the fractions spread over the pixel's channels the same
/// way, and the blend runs over all `CN x BLOCK` values at once. Pixels before `start`
/// are already done.
#[inline(always)]
fn colour_row<const CN: usize>(
    data: &[u8],
    stride: usize,
    fast: &[u32],
    frac: &[u16],
    out: &mut [u8],
    start: usize,
) {
    let (top, bottom) = cell_rows(data, stride);
    let last = top.len() - 2 * CN;
    let n = start + (fast.len() - start) / BLOCK * BLOCK;
    let blocks = out[start * CN..n * CN]
        .chunks_exact_mut(BLOCK * CN)
        .zip(fast[start..].chunks_exact(BLOCK))
        .zip(frac[start..].chunks_exact(BLOCK));
    for ((o, idx), fr) in blocks {
        // One array per corner of the cell, then the two fractions; 4 spare bytes each.
        let mut v = [[0u8; 4 * BLOCK + 4]; 6];
        for k in 0..BLOCK {
            let i = (idx[k] as usize * CN).min(last);
            let [tl, tr] = cell_words::<CN>(top, i);
            let [bl, br] = cell_words::<CN>(bottom, i);
            let (fx, fy) = ((fr[k] & 0xff) as u32, (fr[k] >> 8) as u32);
            let spread = [tl, tr, bl, br, fx * 0x0101_0101, fy * 0x0101_0101];
            for (a, word) in v.iter_mut().zip(spread) {
                a[CN * k..CN * k + 4].copy_from_slice(&word.to_le_bytes());
            }
        }
        let [tl, tr, bl, br, fx, fy] = &v;
        for j in 0..BLOCK * CN {
            let p = [tl[j], tr[j], bl[j], br[j], fx[j], fy[j]].map(u16::from);
            o[j] = lerp_cell(p[0], p[1], p[2], p[3], p[4], p[5]);
        }
    }
    for k in n..fast.len() {
        let i = (fast[k] as usize * CN).min(last);
        let (fx, fy) = (frac[k] & 0xff, frac[k] >> 8);
        for c in 0..CN {
            let p = [
                top[i + c],
                top[i + CN + c],
                bottom[i + c],
                bottom[i + CN + c],
            ];
            let p = p.map(u16::from);
            out[k * CN + c] = lerp_cell(p[0], p[1], p[2], p[3], fx, fy);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenCV's `borderInterpolate` for `BORDER_REFLECT_101`, written as its loop.
    fn reflect101_loop(mut p: i32, len: i32) -> i32 {
        if len == 1 {
            return 0;
        }
        while p < 0 || p >= len {
            p = if p < 0 { -p } else { 2 * (len - 1) - p };
        }
        p
    }

    #[test]
    fn reflect101_equals_the_reflection_loop() {
        for len in 1..7usize {
            for p in -40..40 {
                assert_eq!(
                    border_index(p, len, Border::Reflect101),
                    Some(reflect101_loop(p, len as i32) as usize),
                    "p {p} len {len}"
                );
            }
        }
        assert_eq!(border_index(-3, 5, Border::Replicate), Some(0));
        assert_eq!(border_index(9, 5, Border::Replicate), Some(4));
        assert_eq!(border_index(5, 5, Border::Constant(0.0)), None);
    }

    #[test]
    fn weights_sum_to_1024_and_match_the_products() {
        for i in 0..32 {
            for j in 0..32 {
                let w = weights([i, j]);
                assert_eq!(w.iter().sum::<i32>(), 1024);
                assert_eq!(w, [(32 - i) * (32 - j), i * (32 - j), (32 - i) * j, i * j]);
            }
        }
    }

    #[test]
    fn quantise_rounds_half_to_even_and_clamps() {
        assert_eq!(quantise(19.015625), 608); // 608.5 -> 608
        assert_eq!(quantise(19.046875), 610); // 609.5 -> 610
        assert_eq!(quantise(-0.015625), 0); // -0.5 -> -0
        assert_eq!(quantise(f64::NAN), -FAR);
        assert_eq!(quantise(1e300), FAR);
    }

    /// A naive reference: each output pixel interpolated from the textbook formula with
    /// explicit border lookups, in f64.
    fn naive(src: &[u8], w: usize, h: usize, x: f64, y: f64, border: Border, q: bool) -> f64 {
        let (x, y) = if q {
            (
                (x * 32.0).round_ties_even() / 32.0,
                (y * 32.0).round_ties_even() / 32.0,
            )
        } else {
            (x, y)
        };
        let (x0, y0) = (x.floor() as i32, y.floor() as i32);
        let (du, dv) = (x - x0 as f64, y - y0 as f64);
        let cv = match border {
            Border::Constant(v) => (v * 255.0).round() as f64,
            _ => 0.0,
        };
        let get =
            |xx: i32, yy: i32| match (border_index(xx, w, border), border_index(yy, h, border)) {
                (Some(a), Some(b)) => src[b * w + a] as f64,
                _ => cv,
            };
        (1.0 - du) * (1.0 - dv) * get(x0, y0)
            + du * (1.0 - dv) * get(x0 + 1, y0)
            + (1.0 - du) * dv * get(x0, y0 + 1)
            + du * dv * get(x0 + 1, y0 + 1)
    }

    #[test]
    fn kernels_match_the_naive_formula_on_every_border() {
        let (w, h) = (7usize, 5usize);
        let src: Vec<u8> = (0..w * h).map(|i| ((i * 73 + 11) % 256) as u8).collect();
        let mut coords = Vec::new();
        let mut s = 12345u64;
        for _ in 0..13 * 11 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let a = (s >> 11) as f64 / (1u64 << 53) as f64;
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let b = (s >> 11) as f64 / (1u64 << 53) as f64;
            coords.push([(a * 11.0 - 2.0) as f32, (b * 9.0 - 2.0) as f32]);
        }
        let map = WarpMap::from_coords(13, 11, w, h, coords.clone()).unwrap();
        let img = Image::from_u8(w, h, &src).unwrap();
        for border in [Border::Constant(0.5), Border::Replicate, Border::Reflect101] {
            for interpolation in [Interpolation::BilinearOpenCv, Interpolation::Bilinear] {
                let sampling = Sampling {
                    interpolation,
                    border,
                };
                let q = interpolation == Interpolation::BilinearOpenCv;
                let out = map.apply_u8(&src, 1, sampling).unwrap();
                let outf = map.apply(&img, sampling).unwrap();
                for (k, &[x, y]) in coords.iter().enumerate() {
                    let r = naive(&src, w, h, x as f64, y as f64, border, q);
                    let tol = if q { 0.5 + 1e-9 } else { 0.5 + 1e-3 };
                    assert!(
                        (out[k] as f64 - r).abs() <= tol,
                        "{border:?} {interpolation:?} at ({x}, {y}): {} vs {r}",
                        out[k]
                    );
                    let rf = if matches!(border, Border::Constant(_)) {
                        // The f32 path's constant is 0.5 itself, not round(127.5).
                        naive(&src, w, h, x as f64, y as f64, Border::Replicate, q)
                    } else {
                        r
                    };
                    if !matches!(border, Border::Constant(_)) {
                        assert!((outf.as_slice()[k] as f64 * 255.0 - rf).abs() < 1e-3);
                    }
                }
            }
        }
    }

    #[test]
    fn all_outside_is_an_error_and_sizes_are_checked() {
        let far = vec![[-5.0f32, 3.0]; 4];
        assert!(matches!(
            WarpMap::from_coords(2, 2, 3, 3, far),
            Err(Error::InvalidParam { name: "map", .. })
        ));
        assert!(WarpMap::from_coords(0, 2, 3, 3, vec![]).is_err());
        assert!(check_warp_size(1 << 14, 1 << 14).is_ok());
        assert!(check_warp_size(1 << 14, (1 << 14) + 1).is_err());
        assert!(check_warp_size(usize::MAX, 2).is_err());
        let nan = vec![[f32::NAN, 0.0], [1.0, 1.0]];
        let map = WarpMap::from_coords(2, 1, 3, 3, nan).unwrap();
        let out = map
            .apply_u8(
                &[9; 9],
                1,
                Sampling {
                    border: Border::Constant(0.0),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(out, vec![0, 9]);
    }

    /// Every output value through the reference path ([`Plane::bilinear_fixed_u8`], the
    /// border-aware interpolation of one channel of one pixel).
    fn reference_u8(map: &WarpMap, src: &[u8], cn: usize, border: Border, cval: u8) -> Vec<u8> {
        let plane = Plane {
            data: src,
            width: map.src_width,
            height: map.src_height,
            cn,
        };
        map.fixed
            .iter()
            .flat_map(|&q| (0..cn).map(move |c| (q, c)))
            .map(|(q, c)| plane.bilinear_fixed_u8(q, c, border, cval))
            .collect()
    }

    /// A random map for a `sw x sh` source: positions in `[-3, size + 2]`, a quarter of
    /// them on whole or half pixels.
    fn random_map(w: usize, h: usize, sw: usize, sh: usize, seed: u64) -> Option<WarpMap> {
        let mut rng = crate::rng::Rng::new(seed);
        let mut coord = |len: usize| {
            let v = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * (len as f64 + 5.0) - 3.0;
            if rng.next_u64().is_multiple_of(4) {
                (2.0 * v).round() / 2.0
            } else {
                v
            }
        };
        let coords = (0..w * h)
            .map(|_| [coord(sw) as f32, coord(sh) as f32])
            .collect();
        WarpMap::from_coords(w, h, sw, sh, coords).ok()
    }

    /// The fast kernels (AVX2 and portable builds) against the reference path.
    fn check_fast_path(map: &WarpMap, cn: usize, seed: u64, border: Border) {
        let mut rng = crate::rng::Rng::new(seed ^ 0x5eed);
        let src: Vec<u8> = (0..map.src_width * map.src_height * cn)
            .map(|_| (rng.next_u64() % 256) as u8)
            .collect();
        let cval = 77;
        let plane = Plane {
            data: &src,
            width: map.src_width,
            height: map.src_height,
            cn,
        };
        let want = reference_u8(map, &src, cn, border, cval);
        for v3 in [None, crate::simd::v3(false)] {
            let mut out = vec![0u8; want.len()];
            map.apply_fixed_u8(&plane, border, cval, &mut out, v3);
            assert_eq!(
                out,
                want,
                "{cn} channels, {border:?}, AVX2 {}",
                v3.is_some()
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_kernels_equal_the_reference_path(
            sw in 1usize..9, sh in 1usize..7, w in 1usize..40, h in 1usize..4,
            cn in 1usize..5, b in 0usize..3, seed in proptest::prelude::any::<u64>(),
        ) {
            let border = [Border::Constant(0.3), Border::Replicate, Border::Reflect101][b];
            if let Some(map) = random_map(w, h, sw, sh, seed) {
                check_fast_path(&map, cn, seed, border);
            }
        }
    }

    #[test]
    fn parallel_bands_equal_the_reference_path() {
        // Over PARALLEL_MIN_PIXELS, with a last band shorter than the others.
        let (w, h) = (301, 230);
        assert!(w * h >= PARALLEL_MIN_PIXELS && h % (BAND_PIXELS / w) != 0);
        let map = random_map(w, h, 97, 61, 7).unwrap();
        for cn in [1, 3, 4] {
            check_fast_path(&map, cn, 11, Border::Replicate);
        }
    }

    #[test]
    fn colour_channels_warp_like_separate_planes() {
        let (w, h) = (6usize, 4usize);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| ((i * 37 + 5) % 256) as u8).collect();
        let coords: Vec<[f32; 2]> = (0..8 * 5)
            .map(|k| [(k % 8) as f32 * 0.77 - 0.6, (k / 8) as f32 * 0.9 - 0.4])
            .collect();
        let map = WarpMap::from_coords(8, 5, w, h, coords).unwrap();
        for interpolation in [
            Interpolation::BilinearOpenCv,
            Interpolation::Bilinear,
            Interpolation::Nearest,
        ] {
            for border in [Border::Constant(0.2), Border::Replicate, Border::Reflect101] {
                let s = Sampling {
                    interpolation,
                    border,
                };
                let out = map.apply_u8(&rgb, 3, s).unwrap();
                for c in 0..3 {
                    let plane: Vec<u8> = rgb.iter().skip(c).step_by(3).copied().collect();
                    let one = map.apply_u8(&plane, 1, s).unwrap();
                    let got: Vec<u8> = out.iter().skip(c).step_by(3).copied().collect();
                    assert_eq!(got, one, "{s:?} channel {c}");
                }
            }
        }
    }
}
