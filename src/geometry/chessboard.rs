//! Chessboard inner-corner detection, ordered as OpenCV's `findChessboardCorners` orders
//! them, refined by [`corner_subpix`](crate::geometry::subpix::corner_subpix).
//!
//! # Overview
//! A calibration chessboard of `cols x rows` inner corners (OpenCV's `patternSize`: `cols`
//! corners per row) is found in three steps:
//! 1. **Saddle points.** On the image smoothed by a Gaussian of `sigma`, the Hessian
//!    `H = [Ixx Ixy; Ixy Iyy]` of an X-junction (four squares meeting) has eigenvalues of
//!    opposite signs: the response `Ixy^2 - Ixx Iyy = -det H` peaks there (four times
//!    higher than at an L-shaped corner of the same contrast). Local maxima over 5x5
//!    pixels, refined by a parabola, are the candidates.
//! 2. **X test.** A candidate is a chessboard corner only if a circle around it (radius
//!    0.4 of the local square size, 32 bilinear samples) crosses exactly four
//!    dark/light sectors with a contrast of at least `min_contrast` gray levels: L- and
//!    T-junctions (the board's outer border, text, clutter) cross two or three.
//! 3. **Grid growing.** From a seed cell (a candidate, its nearest X neighbour, a second
//!    neighbour at 45-135 degrees and the fourth corner where the parallelogram puts it),
//!    whole rows and columns are added on each side while every corner of the new row is
//!    found within 0.3 square of its prediction (perspective-aware extrapolation along the
//!    columns, averaged with the parallelogram from the previous corner of the row). The
//!    grid must then have exactly the asked size, no row or column beyond it may be half
//!    present (so a 8x6 request on a 9x6 board returns `None`), the squares must alternate
//!    dark and light, and every row and column must be monotonic (OpenCV's
//!    `checkBoardMonotony`).
//!
//! The corners are refined as OpenCV does: `cornerSubPix` with a 5x5 window (15
//! iterations, `eps` 0.1) inside `findChessboardCorners`, then with the caller's window
//! (OpenCV's calibration sample passes `winSize` (11, 11), a half-size: a 23x23 window,
//! 30 iterations, `eps` 1e-3; these are the defaults).
//!
//! # Usage
//! ```no_run
//! use classic_cv::geometry::chessboard::{BoardSize, ChessboardParams, find_chessboard_corners};
//! use classic_cv::image::Image;
//! let img = Image::load("left01.jpg").unwrap();
//! let board = BoardSize::parse("9x6").unwrap();
//! if let Some(corners) = find_chessboard_corners(&img, board, &ChessboardParams::default()).unwrap() {
//!     assert_eq!(corners.len(), 54);
//! }
//! ```
//!
//! # Conventions that change numbers (OpenCV's)
//! - Corners are returned row by row, `cols` per row: index `r * cols + c`.
//! - Orientation (OpenCV's `checkQuadGroup` and `findChessboardCorners`): the first row runs
//!   along the `cols` side, and the second row lies on the clockwise side of the first in
//!   the image (`(p[cols-1] - p[0]) x (p[cols] - p[0]) >= 0` with `y` down). Of the two
//!   labellings left (half a turn apart):
//!   - one side odd and the other even (e.g. 9x6, the recommended boards): the first
//!     corner is the one next to a dark corner square of the board, which is unambiguous;
//!   - both sides even: the last row starts lower in the image than the first
//!     (`p[(rows-1) cols].y >= p[0].y`), OpenCV's final flip;
//!   - both sides odd (a board that looks the same after half a turn): OpenCV's choice
//!     depends on the order its contours were found; here the first corner is the one
//!     with the smaller `x + y`. Square boards (`cols == rows`) are ambiguous the same way
//!     and broken the same way.
//! - Corners within 8 pixels of the image border reject the board (OpenCV's `BORDER`).
//! - Pixel centres at integer coordinates; gray values scaled to `0..255` (exact for 8-bit
//!   images) so that `min_contrast` is in gray levels.
//!
//! Boards need squares of at least about 6 pixels; the search keeps the 4096 strongest
//! saddle points.

use std::cell::Cell;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::geometry::subpix::{SubpixRefiner, check_subpix_args, check_window_fits};
use crate::image::Image;

/// The number of inner corners of a chessboard: `cols` per row, `rows` rows (OpenCV's
/// `patternSize` `(cols, rows)`; "9x6" is 9 corners per row and 6 rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardSize {
    /// Inner corners per row.
    pub cols: usize,
    /// Rows of inner corners.
    pub rows: usize,
}

/// The largest side of a board, in inner corners.
pub const MAX_BOARD_SIDE: usize = 256;

impl BoardSize {
    /// Parses `COLSxROWS`, e.g. `9x6`, and validates it.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::param(
                "board",
                format!("`{text}` is not COLSxROWS inner corners (e.g. 9x6)"),
            )
        };
        let (c, r) = text.split_once(['x', 'X']).ok_or_else(bad)?;
        let board = BoardSize {
            cols: c.trim().parse().map_err(|_| bad())?,
            rows: r.trim().parse().map_err(|_| bad())?,
        };
        board.validate()?;
        Ok(board)
    }

    /// Both sides in `3..=256` (OpenCV needs more than 2 corners per side).
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("board.cols", self.cols), ("board.rows", self.rows)] {
            if !(3..=MAX_BOARD_SIDE).contains(&v) {
                return Err(Error::param(
                    name,
                    format!("{v} inner corners: must be in 3..={MAX_BOARD_SIDE}"),
                ));
            }
        }
        Ok(())
    }

    /// Number of inner corners, `cols * rows`.
    pub fn count(&self) -> usize {
        self.cols * self.rows
    }
}

impl std::fmt::Display for BoardSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.cols, self.rows)
    }
}

/// Parameters of [`find_chessboard_corners`]. The refinement defaults are those of
/// OpenCV's calibration sample (`cornerSubPix` with `winSize` (11, 11), which OpenCV reads
/// as a half-size: a 23x23 window; no zero zone, 30 iterations, 1e-3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChessboardParams {
    /// Half-size of the refinement window (OpenCV's `winSize`: 11 for a 23x23 window).
    pub half_window: usize,
    /// Half-size of the dead zone in the middle of the window (`None`: OpenCV's `(-1, -1)`).
    pub zero_zone: Option<usize>,
    /// Most refinement iterations, in `1..=100`.
    pub max_iterations: usize,
    /// Refinement stops when a step moves the corner less than this (pixels).
    pub epsilon: f64,
    /// Gaussian smoothing of the saddle-point detector, in pixels, in `0.5..=8`.
    pub sigma: f64,
    /// Least gray-level contrast (of 255) between the dark and light squares around a
    /// corner, in `1..=255`.
    pub min_contrast: f64,
}

impl Default for ChessboardParams {
    fn default() -> Self {
        ChessboardParams {
            half_window: 11,
            zero_zone: None,
            max_iterations: 30,
            epsilon: 1e-3,
            sigma: 1.5,
            min_contrast: 15.0,
        }
    }
}

impl ChessboardParams {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<()> {
        check_subpix_args(
            self.half_window,
            self.zero_zone,
            self.max_iterations,
            self.epsilon,
        )?;
        if !(self.sigma.is_finite() && (0.5..=8.0).contains(&self.sigma)) {
            return Err(Error::param("sigma", "must be in 0.5..=8"));
        }
        if !(self.min_contrast.is_finite() && (1.0..=255.0).contains(&self.min_contrast)) {
            return Err(Error::param("min_contrast", "must be in 1..=255"));
        }
        Ok(())
    }
}

/// OpenCV's margin: a corner at `x <= 8`, `x > width - 8` (same for `y`) rejects the board.
const BORDER: f64 = 8.0;
/// Most saddle points kept (the strongest).
const MAX_CANDIDATES: usize = 4096;
/// Most seeds tried before giving up.
const MAX_SEEDS: usize = 600;
/// Samples on the circle of the X test.
const RING: usize = 32;
/// Radius of the first X test, before the square size is known.
const PRE_RADIUS: f64 = 3.0;
/// Smallest distance between two corners, in pixels.
const MIN_SPACING: f64 = 4.0;

/// Finds the `board`'s inner corners in `image`: `Some` with `board.count()` corners in
/// OpenCV's order (see the module docs), refined to sub-pixel accuracy, or `None` when no
/// board of exactly that size is found.
///
/// Fails on invalid params or board size, an image smaller than the refinement window
/// needs (`2 half_window + 5` pixels a side) and non-finite pixels.
pub fn find_chessboard_corners(
    image: &Image,
    board: BoardSize,
    params: &ChessboardParams,
) -> Result<Option<Vec<[f64; 2]>>> {
    params.validate()?;
    board.validate()?;
    let (w, h) = (image.width(), image.height());
    check_window_fits(w, h, params.half_window)?;
    image.check_finite()?;
    let mut scratch = Vec::new();
    let smooth = gaussian_blur(image.as_slice(), w, h, params.sigma, &mut scratch);
    // The blur's scratch buffer holds the response.
    saddle_response(&smooth, w, h, &mut scratch);
    let cands = saddle_points(&scratch, w, h);
    let mut finder = GridFinder {
        smooth: &smooth,
        w,
        h,
        pre: vec![Cell::new(0); cands.len()],
        cands,
        min_contrast: params.min_contrast as f32,
        ring: std::array::from_fn(|k| {
            let a = k as f64 * std::f64::consts::TAU / RING as f64;
            [a.cos(), a.sin()]
        }),
    };
    let Some(grid) = finder.find(board) else {
        return Ok(None);
    };
    let Some(mut corners) = finder.order(&grid, board) else {
        return Ok(None);
    };
    let (wf, hf) = (w as f64, h as f64);
    if corners
        .iter()
        .any(|p| p[0] <= BORDER || p[0] > wf - BORDER || p[1] <= BORDER || p[1] > hf - BORDER)
    {
        return Ok(None);
    }
    let pre = SubpixRefiner::new(2, None, 15, 0.1);
    let fine = SubpixRefiner::new(
        params.half_window,
        params.zero_zone,
        params.max_iterations,
        params.epsilon,
    );
    for c in corners.iter_mut() {
        *c = fine.refine(image, pre.refine(image, *c));
    }
    Ok(Some(corners))
}

/// A saddle point, at its position in pixels.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    p: [f64; 2],
}

/// Separable Gaussian blur of gray values (scaled to `0..255`), border replicated;
/// `tmp` is scratch space (left `w * h` long).
fn gaussian_blur(px: &[f32], w: usize, h: usize, sigma: f64, tmp: &mut Vec<f32>) -> Vec<f32> {
    let r = ((3.0 * sigma).ceil() as usize).min((w.min(h) - 1) / 2);
    let mut k: Vec<f32> = (0..=2 * r)
        .map(|i| {
            let d = i as f64 - r as f64;
            (-(d * d) / (2.0 * sigma * sigma)).exp() as f32
        })
        .collect();
    let sum: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    tmp.clear();
    tmp.resize(w * h, 0.0);
    let mut padded = vec![0f32; w + 2 * r];
    for y in 0..h {
        let row = &px[y * w..(y + 1) * w];
        padded[..r].fill(row[0]);
        padded[r..r + w].copy_from_slice(row);
        padded[r + w..].fill(row[w - 1]);
        let out = &mut tmp[y * w..(y + 1) * w];
        for (t, &kv) in k.iter().enumerate() {
            let kv = kv * 255.0;
            for (o, &s) in out.iter_mut().zip(&padded[t..t + w]) {
                *o += kv * s;
            }
        }
    }
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        let o = &mut out[y * w..(y + 1) * w];
        for (t, &kv) in k.iter().enumerate() {
            let yy = (y + t).saturating_sub(r).min(h - 1);
            for (ov, &s) in o.iter_mut().zip(&tmp[yy * w..(yy + 1) * w]) {
                *ov += kv * s;
            }
        }
    }
    out
}

/// The maximum over the 5 pixels of each row centred on each pixel at least 2 pixels from
/// the left and right sides (0 elsewhere).
fn row_max_5(src: &[f32], w: usize, h: usize) -> Vec<f32> {
    let mut rows = vec![0f32; w * h];
    for y in 0..h {
        let s = &src[y * w..(y + 1) * w];
        let o = &mut rows[y * w + 2..(y + 1) * w - 2];
        o.copy_from_slice(&s[..w - 4]);
        for d in 1..5 {
            for (ov, &v) in o.iter_mut().zip(&s[d..w - 4 + d]) {
                if v > *ov {
                    *ov = v;
                }
            }
        }
    }
    rows
}

/// `Ixy^2 - Ixx Iyy` by central differences into `r` (`w * h` long; 0 on the one-pixel
/// frame).
fn saddle_response(s: &[f32], w: usize, h: usize, r: &mut [f32]) {
    r.fill(0.0);
    for y in 1..h.saturating_sub(1) {
        let (up, mid, down) = (
            &s[(y - 1) * w..y * w],
            &s[y * w..(y + 1) * w],
            &s[(y + 1) * w..(y + 2) * w],
        );
        let out = &mut r[y * w..(y + 1) * w];
        for x in 1..w - 1 {
            let ixx = mid[x + 1] - 2.0 * mid[x] + mid[x - 1];
            let iyy = down[x] - 2.0 * mid[x] + up[x];
            let ixy = 0.25 * (down[x + 1] - down[x - 1] - up[x + 1] + up[x - 1]);
            out[x] = ixy * ixy - ixx * iyy;
        }
    }
}

/// Local maxima of the response over 5x5 pixels above a small floor, strongest first,
/// at most [`MAX_CANDIDATES`], positioned by a parabola through the maximum and its two
/// neighbours in `x` and in `y`.
fn saddle_points(r: &[f32], w: usize, h: usize) -> Vec<Candidate> {
    const FLOOR: f32 = 0.25;
    if w < 5 || h < 5 {
        return Vec::new();
    }
    let m = row_max_5(r, w, h);
    let mut found: Vec<(f32, usize, usize)> = Vec::new();
    for y in 2..h - 2 {
        for x in 2..w - 2 {
            let v = r[y * w + x];
            if v > FLOOR && (y - 2..=y + 2).all(|yy| m[yy * w + x] <= v) {
                found.push((v, x, y));
            }
        }
    }
    let order = |a: &(f32, usize, usize), b: &(f32, usize, usize)| {
        b.0.total_cmp(&a.0).then((a.2, a.1).cmp(&(b.2, b.1)))
    };
    if found.len() > MAX_CANDIDATES {
        found.select_nth_unstable_by(MAX_CANDIDATES - 1, order);
        found.truncate(MAX_CANDIDATES);
    }
    found.sort_by(order);
    found
        .into_iter()
        .map(|(v, x, y)| {
            let vertex = |a: f32, c: f32| {
                let den = a - 2.0 * v + c;
                if den < 0.0 {
                    (0.5 * (a - c) / den).clamp(-0.5, 0.5) as f64
                } else {
                    0.0
                }
            };
            let dx = vertex(r[y * w + x - 1], r[y * w + x + 1]);
            let dy = vertex(r[(y - 1) * w + x], r[(y + 1) * w + x]);
            Candidate {
                p: [x as f64 + dx, y as f64 + dy],
            }
        })
        .collect()
}

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

fn sub(a: [f64; 2], b: [f64; 2]) -> [f64; 2] {
    [a[0] - b[0], a[1] - b[1]]
}

fn cross(a: [f64; 2], b: [f64; 2]) -> f64 {
    a[0] * b[1] - a[1] * b[0]
}

/// A grid of candidate indices, row-major, `rows x cols`.
#[derive(Clone, Debug)]
struct Grid {
    rows: usize,
    cols: usize,
    idx: Vec<usize>,
}

impl Grid {
    fn at(&self, r: usize, c: usize) -> usize {
        self.idx[r * self.cols + c]
    }

    /// The grid turned a quarter: row `r` of the result is column `r` read bottom-up.
    fn rotated(&self) -> Grid {
        let mut idx = Vec::with_capacity(self.idx.len());
        for c in 0..self.cols {
            for r in (0..self.rows).rev() {
                idx.push(self.at(r, c));
            }
        }
        Grid {
            rows: self.cols,
            cols: self.rows,
            idx,
        }
    }
}

/// The saddle points of one image and the search over them.
struct GridFinder<'a> {
    smooth: &'a [f32],
    w: usize,
    h: usize,
    cands: Vec<Candidate>,
    /// Whether each candidate passes the X test at [`PRE_RADIUS`]: 0 not known yet, 1 yes,
    /// 2 no (tested on demand: most candidates are never looked at).
    pre: Vec<Cell<u8>>,
    min_contrast: f32,
    /// Unit vectors at the [`RING`] angles of the X test.
    ring: [[f64; 2]; RING],
}

impl GridFinder<'_> {
    /// Bilinear sample of the smoothed image, border replicated.
    fn sample(&self, x: f64, y: f64) -> f32 {
        let xf = x.clamp(0.0, (self.w - 1) as f64);
        let yf = y.clamp(0.0, (self.h - 1) as f64);
        // Truncation is the floor here: both are clamped to be non-negative.
        let (x0, y0) = (xf as usize, yf as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        let (fx, fy) = ((xf - x0 as f64) as f32, (yf - y0 as f64) as f32);
        let s = self.smooth;
        let top = s[y0 * self.w + x0] * (1.0 - fx) + s[y0 * self.w + x1] * fx;
        let bottom = s[y1 * self.w + x0] * (1.0 - fx) + s[y1 * self.w + x1] * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// Whether a circle of `radius` around `p` crosses exactly four dark/light sectors of
    /// at least two samples each, with enough contrast.
    fn is_x_junction(&self, p: [f64; 2], radius: f64) -> bool {
        let radius = radius.clamp(2.0, 20.0);
        let mut v = [0f32; RING];
        for (s, u) in v.iter_mut().zip(&self.ring) {
            *s = self.sample(p[0] + radius * u[0], p[1] + radius * u[1]);
        }
        let (lo, hi) = v
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), &x| (l.min(x), h.max(x)));
        if hi - lo < self.min_contrast {
            return false;
        }
        let mid = 0.5 * (lo + hi);
        let bright: Vec<bool> = v.iter().map(|&x| x > mid).collect();
        let Some(start) = (0..RING).find(|&k| bright[k] != bright[(k + RING - 1) % RING]) else {
            return false;
        };
        let mut runs = Vec::with_capacity(4);
        let mut len = 0;
        for t in 0..RING {
            let k = (start + t) % RING;
            if t > 0 && bright[k] != bright[(k + RING - 1) % RING] {
                runs.push(len);
                len = 0;
            }
            len += 1;
        }
        runs.push(len);
        runs.len() == 4 && runs.iter().all(|&l| l >= 2)
    }

    /// Whether candidate `i` looks like an X-junction at the small radius (cached).
    fn passes_pre(&self, i: usize) -> bool {
        let cell = &self.pre[i];
        if cell.get() == 0 {
            let ok = self.is_x_junction(self.cands[i].p, PRE_RADIUS);
            cell.set(if ok { 1 } else { 2 });
        }
        cell.get() == 1
    }

    /// The nearest candidate to `p` within `tol`, not in `taken`.
    fn nearest(&self, p: [f64; 2], tol: f64, taken: &[bool]) -> Option<usize> {
        let mut best = None;
        let mut best_d = tol;
        for (i, c) in self.cands.iter().enumerate() {
            if taken[i] || (c.p[0] - p[0]).abs() > best_d || (c.p[1] - p[1]).abs() > best_d {
                continue;
            }
            let d = dist(c.p, p);
            if d <= best_d && self.passes_pre(i) {
                best_d = d;
                best = Some(i);
            }
        }
        best
    }

    /// Up to `k` nearest candidates of `i` at least [`MIN_SPACING`] away, nearest first.
    fn neighbours(&self, i: usize, k: usize, taken: &[bool]) -> Vec<usize> {
        let p = self.cands[i].p;
        let mut d: Vec<(f64, usize)> = self
            .cands
            .iter()
            .enumerate()
            .filter(|&(j, c)| j != i && !taken[j] && dist(c.p, p) >= MIN_SPACING)
            .map(|(j, c)| (dist(c.p, p), j))
            .collect();
        let order = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        // Sort a growing prefix until it holds k candidates that pass the X test.
        let mut m = (4 * k).min(d.len());
        loop {
            if m == 0 {
                return Vec::new();
            }
            d.select_nth_unstable_by(m - 1, order);
            d[..m].sort_by(order);
            let out: Vec<usize> = d[..m]
                .iter()
                .map(|&(_, j)| j)
                .filter(|&j| self.passes_pre(j))
                .take(k)
                .collect();
            if out.len() == k || m == d.len() {
                return out;
            }
            m = (4 * m).min(d.len());
        }
    }

    /// A 2x2 seed cell at candidate `i`, if its neighbourhood has one.
    fn seed(&self, i: usize, taken: &[bool]) -> Option<Grid> {
        let c = self.cands[i].p;
        let nbrs = self.neighbours(i, 8, taken);
        for (ai, &a) in nbrs.iter().enumerate() {
            let u = sub(self.cands[a].p, c);
            let lu = dist(self.cands[a].p, c);
            if !self.is_x_junction(c, 0.4 * lu) || !self.is_x_junction(self.cands[a].p, 0.4 * lu) {
                continue;
            }
            for &b in &nbrs[ai + 1..] {
                let v = sub(self.cands[b].p, c);
                let lv = dist(self.cands[b].p, c);
                let cos = (u[0] * v[0] + u[1] * v[1]) / (lu * lv);
                if cos.abs() > std::f64::consts::FRAC_1_SQRT_2 || lv > 2.0 * lu {
                    continue;
                }
                let s = lu.min(lv);
                if !self.is_x_junction(self.cands[b].p, 0.4 * s) {
                    continue;
                }
                let pd = [c[0] + u[0] + v[0], c[1] + u[1] + v[1]];
                let mut t = taken.to_vec();
                t[i] = true;
                t[a] = true;
                t[b] = true;
                let Some(d) = self.nearest(pd, 0.3 * s, &t) else {
                    continue;
                };
                if !self.is_x_junction(self.cands[d].p, 0.4 * s) {
                    continue;
                }
                return Some(Grid {
                    rows: 2,
                    cols: 2,
                    idx: vec![i, a, b, d],
                });
            }
        }
        None
    }

    /// The row below the grid, if every corner of it is found; `Err(found)` with the
    /// number found otherwise.
    fn next_row(&self, g: &Grid, taken: &[bool]) -> std::result::Result<Vec<usize>, usize> {
        let r = g.rows;
        let mut t = taken.to_vec();
        let mut row: Vec<usize> = Vec::with_capacity(g.cols);
        let mut found = 0;
        let mut prev: Option<[f64; 2]> = None;
        for c in 0..g.cols {
            let p1 = self.cands[g.at(r - 1, c)].p;
            let p2 = self.cands[g.at(r - 2, c)].p;
            let step = sub(p1, p2);
            let mut ratio = 1.0;
            if r >= 3 {
                let p3 = self.cands[g.at(r - 3, c)].p;
                ratio = (dist(p1, p2) / dist(p2, p3).max(1e-9)).clamp(0.6, 1.6);
            }
            let mut pred = [p1[0] + step[0] * ratio, p1[1] + step[1] * ratio];
            if let Some(q) = prev {
                let across = sub(p1, self.cands[g.at(r - 1, c - 1)].p);
                pred = [
                    0.5 * (pred[0] + q[0] + across[0]),
                    0.5 * (pred[1] + q[1] + across[1]),
                ];
            }
            let mut s = dist(p1, p2) * ratio;
            if c > 0 {
                s = s.min(dist(p1, self.cands[g.at(r - 1, c - 1)].p));
            }
            if c + 1 < g.cols {
                s = s.min(dist(p1, self.cands[g.at(r - 1, c + 1)].p));
            }
            match self.nearest(pred, 0.3 * s, &t) {
                Some(k) if self.is_x_junction(self.cands[k].p, 0.4 * s) => {
                    t[k] = true;
                    row.push(k);
                    found += 1;
                    prev = Some(self.cands[k].p);
                }
                _ => prev = None,
            }
        }
        if found == g.cols { Ok(row) } else { Err(found) }
    }

    /// Grows a seed by whole rows and columns until no side can grow or the grid exceeds
    /// `limit` in a side.
    fn grow(&self, mut g: Grid, taken: &mut [bool], limit: usize) -> Grid {
        for &k in &g.idx {
            taken[k] = true;
        }
        let mut stuck = 0;
        while stuck < 4 && g.rows <= limit && g.cols <= limit {
            if let Ok(row) = self.next_row(&g, taken) {
                for &k in &row {
                    taken[k] = true;
                }
                g.idx.extend(row);
                g.rows += 1;
                stuck = 0;
            } else {
                stuck += 1;
            }
            g = g.rotated();
        }
        g
    }

    /// Whether a row or column beyond some side of `g` is at least half present.
    fn extends(&self, g: &Grid, taken: &[bool]) -> bool {
        let mut g = g.clone();
        for _ in 0..4 {
            let n = match self.next_row(&g, taken) {
                Ok(row) => row.len(),
                Err(found) => found,
            };
            if 2 * n >= g.cols {
                return true;
            }
            g = g.rotated();
        }
        false
    }

    /// The centre value of each cell (`(rows-1) x (cols-1)`, row-major).
    fn cell_values(&self, g: &Grid) -> Vec<f32> {
        let mut v = Vec::with_capacity((g.rows - 1) * (g.cols - 1));
        for r in 0..g.rows - 1 {
            for c in 0..g.cols - 1 {
                let q = [
                    g.at(r, c),
                    g.at(r, c + 1),
                    g.at(r + 1, c),
                    g.at(r + 1, c + 1),
                ];
                let x = q.iter().map(|&k| self.cands[k].p[0]).sum::<f64>() / 4.0;
                let y = q.iter().map(|&k| self.cands[k].p[1]).sum::<f64>() / 4.0;
                v.push(self.sample(x, y));
            }
        }
        v
    }

    /// Whether neighbouring cells alternate dark and light, with enough contrast.
    fn alternates(&self, g: &Grid) -> bool {
        let v = self.cell_values(g);
        let (cr, cc) = (g.rows - 1, g.cols - 1);
        let (mut sum, mut n) = ([0f64; 2], [0usize; 2]);
        for r in 0..cr {
            for c in 0..cc {
                sum[(r + c) % 2] += v[r * cc + c] as f64;
                n[(r + c) % 2] += 1;
            }
        }
        if n[1] == 0 {
            return false;
        }
        let sign = if sum[0] / n[0] as f64 > sum[1] / n[1] as f64 {
            1.0
        } else {
            -1.0
        };
        if sign * (sum[0] / n[0] as f64 - sum[1] / n[1] as f64) < self.min_contrast as f64 {
            return false;
        }
        let even = |r: usize, c: usize| (r + c).is_multiple_of(2);
        for r in 0..cr {
            for c in 0..cc {
                let here = v[r * cc + c] as f64;
                let check = |r2: usize, c2: usize| {
                    let there = v[r2 * cc + c2] as f64;
                    let d = if even(r, c) {
                        here - there
                    } else {
                        there - here
                    };
                    sign * d > 0.0
                };
                if (c + 1 < cc && !check(r, c + 1)) || (r + 1 < cr && !check(r + 1, c)) {
                    return false;
                }
            }
        }
        true
    }

    /// The board's grid: the first grown grid of the right size that passes every check.
    fn find(&mut self, board: BoardSize) -> Option<Grid> {
        let n = self.cands.len();
        let mut used = vec![false; n];
        let limit = board.cols.max(board.rows);
        let mut seeds = 0;
        for i in 0..n {
            if seeds == MAX_SEEDS {
                break;
            }
            if used[i] || !self.passes_pre(i) {
                continue;
            }
            seeds += 1;
            let Some(seed) = self.seed(i, &used) else {
                continue;
            };
            let mut taken = used.clone();
            let g = self.grow(seed, &mut taken, limit);
            let fits = (g.rows == board.rows && g.cols == board.cols)
                || (g.rows == board.cols && g.cols == board.rows);
            if fits && !self.extends(&g, &taken) && self.alternates(&g) {
                return Some(g);
            }
            if g.rows.max(g.cols) > limit || (fits && self.extends(&g, &taken)) {
                // The board is there but bigger than asked.
                return None;
            }
            for &k in &g.idx {
                used[k] = true;
            }
        }
        None
    }

    /// The corners of `g` in OpenCV's order (module docs), or `None` if a row or column is
    /// not monotonic.
    fn order(&self, g: &Grid, board: BoardSize) -> Option<Vec<[f64; 2]>> {
        let mut bases = vec![g.clone()];
        for _ in 0..3 {
            let next = bases.last().expect("one base").rotated();
            bases.push(next);
        }
        let values = self.cell_values(g);
        let mid = {
            let (lo, hi) = values
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &x| (l.min(x), h.max(x)));
            0.5 * (lo + hi)
        };
        // The eight labellings: four turns, each as is or mirrored.
        let mut cands: Vec<Vec<[f64; 2]>> = Vec::new();
        for b in &bases {
            if b.cols != board.cols {
                continue;
            }
            for mirror in [false, true] {
                let pts: Vec<[f64; 2]> = (0..b.rows)
                    .flat_map(|r| {
                        (0..b.cols).map(move |c| (r, if mirror { b.cols - 1 - c } else { c }))
                    })
                    .map(|(r, c)| self.cands[b.at(r, c)].p)
                    .collect();
                let (p0, p1, p2) = (pts[0], pts[board.cols - 1], pts[board.cols]);
                if cross(sub(p1, p0), sub(p2, p1)) >= 0.0 {
                    cands.push(pts);
                }
            }
        }
        let odd_even = (board.cols + board.rows) % 2 == 1;
        let both_even = board.cols.is_multiple_of(2) && board.rows.is_multiple_of(2);
        let last_row = (board.rows - 1) * board.cols;
        let keep = |pts: &Vec<[f64; 2]>| {
            if odd_even {
                let q = [pts[0], pts[1], pts[board.cols], pts[board.cols + 1]];
                let x = q.iter().map(|p| p[0]).sum::<f64>() / 4.0;
                let y = q.iter().map(|p| p[1]).sum::<f64>() / 4.0;
                self.sample(x, y) < mid
            } else if both_even {
                pts[last_row][1] - pts[0][1] >= 0.0
            } else {
                true
            }
        };
        let chosen = cands
            .iter()
            .filter(|p| keep(p))
            .min_by(|a, b| (a[0][0] + a[0][1]).total_cmp(&(b[0][0] + b[0][1])))?
            .clone();
        monotonic(&chosen, board).then_some(chosen)
    }
}

/// OpenCV's `checkBoardMonotony`: along every row and column, the projections of the
/// corners onto the segment between its end corners increase and stay within it.
fn monotonic(p: &[[f64; 2]], board: BoardSize) -> bool {
    let (w, h) = (board.cols, board.rows);
    let line = |ends: ([f64; 2], [f64; 2]), inner: &mut dyn Iterator<Item = [f64; 2]>| {
        let (a, b) = ends;
        let d = sub(b, a);
        let len2 = d[0] * d[0] + d[1] * d[1];
        if d[0].abs() + d[1].abs() < f32::EPSILON as f64 {
            return false;
        }
        let mut prev = 0.0;
        for c in inner {
            let t = ((c[0] - a[0]) * d[0] + (c[1] - a[1]) * d[1]) / len2;
            if t < prev || t > 1.0 {
                return false;
            }
            prev = t;
        }
        true
    };
    (0..h).all(|r| {
        line(
            (p[r * w], p[r * w + w - 1]),
            &mut (1..w - 1).map(|c| p[r * w + c]),
        )
    }) && (0..w).all(|c| {
        line(
            (p[c], p[(h - 1) * w + c]),
            &mut (1..h - 1).map(|r| p[r * w + c]),
        )
    })
}
