//! Stereo depth, after the course notes' chapter on depth estimation: for a rectified pair,
//! disparity `d = uL - uR` along rows, depth `z = b f / d`, matching costs over windows, the
//! cost volume (disparity space image), winner-takes-all and semi-global matching.
//!
//! Conventions: disparities are in pixels, `f32`, NaN marks an invalid pixel; the left image
//! is the reference (a left pixel `(x, y)` matches the right pixel `(x - d, y)`).
//!
//! The pipeline for a rectified pair ([`StereoParams::compute`]): 8-bit pixels, the window
//! costs of every disparity (`cost`, `volume`), then either winner-takes-all on the window
//! costs (block matching, the notes' method) or semi-global aggregation (`sgm`), then the
//! selection and the filters (`disparity`). Rows are processed in bands of
//! [`BAND_ROWS`] rows in parallel for block matching; SGM pipelines the costs, its
//! sequential sweep(s) and the selection over two threads. Both give the same disparities
//! for any number of threads. Depth, point clouds
//! and PLY files are in `depth`, evaluation against ground truth in `metrics`, the
//! colour-mapped picture in `render`.

pub mod cost;
pub mod depth;
pub mod disparity;
pub mod metrics;
pub mod rectify;
pub mod render;
pub mod rig;
pub mod sgm;
pub mod volume;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::image::Image;
use cost::{MAX_CENSUS_BITS, MatchCost};
use disparity::{DisparityMap, SelectSettings};
use volume::Pair;

/// Rows per band of block matching (fixed, so results do not depend on the thread count).
pub const BAND_ROWS: usize = 32;

/// The largest number of disparities.
pub const MAX_DISPARITIES: usize = 4096;

/// The largest matching window side.
pub const MAX_WINDOW: usize = 51;

/// How disparities are chosen from the costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StereoMethod {
    /// Block matching: winner-takes-all on the window costs.
    Bm,
    /// Semi-global matching.
    #[default]
    Sgm,
}

/// Parameters of dense stereo matching on a rectified pair (left image = reference).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StereoParams {
    /// Block matching or SGM.
    pub method: StereoMethod,
    /// Matching cost.
    pub cost: MatchCost,
    /// Number of disparities searched: `0..max_disparity` (OpenCV's `numDisparities`).
    pub max_disparity: usize,
    /// Side of the (odd) window over which the per-pixel costs are summed or correlated.
    pub window: usize,
    /// Census window (width, height), odd sides, at most 64 neighbours.
    pub census_window: (usize, usize),
    /// SGM penalty of a one-pixel disparity change.
    pub p1: u32,
    /// SGM penalty of a larger change.
    pub p2: u32,
    /// SGM paths: 4, 5 (OpenCV's single-sweep SGBM) or 8.
    pub paths: usize,
    /// Uniqueness ratio in percent (OpenCV's `uniquenessRatio`); 0 disables the check.
    pub uniqueness: f32,
    /// Pixels whose left window has a standard deviation below this (gray levels, 0-255)
    /// are invalid (no texture to match); 0 disables the check.
    pub texture_threshold: f32,
    /// Left-right consistency check.
    pub lr_check: bool,
    /// Largest disagreement of the left-right check, in pixels.
    pub lr_max_diff: u32,
    /// Speckle filter: regions of at most this many pixels are removed; 0 disables it.
    pub speckle_window: usize,
    /// Speckle filter: largest disparity step inside a region, in pixels.
    pub speckle_range: f32,
    /// 3x3 median of the valid disparities (as OpenCV's SGBM).
    pub median: bool,
    /// Parabola sub-pixel refinement.
    pub subpixel: bool,
    /// Fill invalid pixels from their row's background side.
    pub fill_holes: bool,
}

impl Default for StereoParams {
    /// SGM with 5 paths (OpenCV's one-sweep `MODE_SGBM` set) on a 9x7 census with a 5x5
    /// window.
    fn default() -> Self {
        StereoParams {
            method: StereoMethod::Sgm,
            cost: MatchCost::Census,
            max_disparity: 64,
            window: 5,
            census_window: (9, 7),
            p1: 200,
            p2: 800,
            paths: 5,
            uniqueness: 10.0,
            texture_threshold: 1.0,
            lr_check: true,
            lr_max_diff: 1,
            speckle_window: 100,
            speckle_range: 2.0,
            median: true,
            subpixel: true,
            fill_holes: false,
        }
    }
}

/// Checks a matching window side and the census window.
pub(crate) fn check_window(window: usize, cost: MatchCost, census: (usize, usize)) -> Result<()> {
    if window.is_multiple_of(2) || window > MAX_WINDOW {
        return Err(Error::param(
            "window",
            format!("must be odd and at most {MAX_WINDOW}, got {window}"),
        ));
    }
    let (cw, ch) = census;
    if cost == MatchCost::Census
        && (cw.is_multiple_of(2) || ch.is_multiple_of(2) || cw * ch - 1 > MAX_CENSUS_BITS)
    {
        return Err(Error::param(
            "census_window",
            format!("needs odd sides and at most {MAX_CENSUS_BITS} neighbours, got {cw}x{ch}"),
        ));
    }
    Ok(())
}

impl StereoParams {
    /// Block matching with the notes' NCC over a `window` window.
    pub fn block_matching(cost: MatchCost, window: usize, max_disparity: usize) -> Self {
        StereoParams {
            method: StereoMethod::Bm,
            cost,
            window,
            max_disparity,
            median: false,
            ..StereoParams::default()
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        check_window(self.window, self.cost, self.census_window)?;
        if self.max_disparity == 0 || self.max_disparity > MAX_DISPARITIES {
            return Err(Error::param(
                "max_disparity",
                format!(
                    "must be in 1..={MAX_DISPARITIES}, got {}",
                    self.max_disparity
                ),
            ));
        }
        if self.method == StereoMethod::Sgm {
            sgm::check_sgm(self.p1, self.p2, self.paths)?;
        }
        if !(0.0..100.0).contains(&self.uniqueness) {
            return Err(Error::param("uniqueness", "must be in [0, 100)"));
        }
        if !(self.texture_threshold >= 0.0 && self.texture_threshold.is_finite()) {
            return Err(Error::param("texture_threshold", "must be finite and >= 0"));
        }
        if !(self.speckle_range >= 0.0 && self.speckle_range.is_finite()) {
            return Err(Error::param("speckle_range", "must be finite and >= 0"));
        }
        Ok(())
    }

    /// The disparity map of a rectified pair (left image = reference).
    pub fn compute(&self, left: &Image, right: &Image) -> Result<DisparityMap> {
        self.validate()?;
        let pair = Pair::new(
            left,
            right,
            self.cost,
            self.window,
            self.census_window,
            self.max_disparity,
        )?;
        let (w, h, dn) = (pair.width, pair.height, pair.disparities);
        let select = SelectSettings {
            uniqueness: self.uniqueness,
            subpixel: self.subpixel,
            lr_check: self.lr_check,
            lr_max_diff: self.lr_max_diff,
        };
        let texture_window = if self.cost == MatchCost::Census {
            self.census_window
                .0
                .max(self.census_window.1)
                .max(self.window)
        } else {
            self.window
        };
        let textured = |y: usize| -> Vec<bool> {
            if self.texture_threshold <= 0.0 {
                return vec![true; w];
            }
            volume::left_texture_row(&pair, texture_window, y)
                .iter()
                .map(|&s| s >= self.texture_threshold)
                .collect()
        };
        let mut data = vec![f32::NAN; w * h];
        match self.method {
            StereoMethod::Bm => {
                data.par_chunks_mut(BAND_ROWS * w)
                    .enumerate()
                    .for_each(|(band, out)| {
                        let mut rc = volume::RowCosts::new(&pair);
                        let mut costs = vec![0f32; w * dn];
                        for (k, row) in out.chunks_exact_mut(w).enumerate() {
                            let y = band * BAND_ROWS + k;
                            rc.row(y, &mut costs);
                            disparity::select_row(&costs, dn, select, &textured(y), row);
                        }
                    });
            }
            StereoMethod::Sgm => {
                let settings = sgm::SgmSettings {
                    p1: self.p1 as u16,
                    p2: self.p2 as u16,
                    paths: self.paths,
                };
                let rows: Vec<std::sync::Mutex<&mut [f32]>> = data
                    .chunks_exact_mut(w)
                    .map(std::sync::Mutex::new)
                    .collect();
                sgm::aggregate(&pair, settings, |y, sums| {
                    let mut row = rows[y].lock().unwrap_or_else(|e| e.into_inner());
                    disparity::select_row(sums, dn, select, &textured(y), &mut row);
                })?;
            }
        }
        let mut map = DisparityMap::new(w, h, data)?;
        if self.median {
            disparity::median3(&mut map);
        }
        disparity::filter_speckles(&mut map, self.speckle_window, self.speckle_range);
        if self.fill_holes {
            disparity::fill_holes(&mut map);
        }
        Ok(map)
    }
}
