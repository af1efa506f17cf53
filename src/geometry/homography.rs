//! Homographies between two views of a plane: normalised DLT, Levenberg-Marquardt refinement
//! and RANSAC, as OpenCV's `findHomography` does them.
//!
//! # Model
//! A homography `H` (3x3, defined up to scale) maps a point `x = (x, y)` of the first image to
//! `x' = (u / w, v / w)` with `(u, v, w)ᵀ = H (x, y, 1)ᵀ`. Results are scaled so that
//! `h33 = 1` (when `|h33|` is not negligible against the matrix norm; otherwise to unit
//! Frobenius norm).
//!
//! # Algorithms
//! - [`homography_dlt`]: the direct linear transform (Hartley & Zisserman, *Multiple View
//!   Geometry*, algorithm 4.2) with Hartley's conditioning: each point set is translated to
//!   its centroid and scaled so that the mean distance to it is `√2`; every correspondence
//!   gives the two rows `[X, Y, 1, 0, 0, 0, -uX, -uY, -u]` and `[0, 0, 0, X, Y, 1, -vX, -vY,
//!   -v]`; `h` is the eigenvector of the smallest eigenvalue of `AᵀA` (least squares for
//!   `n > 4`; OpenCV's `runKernel` does the same with the mean absolute deviation as scale),
//!   then `H = T'⁻¹ Ĥ T`. The solution must be unique: when the second-smallest eigenvalue is
//!   below `1e-12` of the largest (all points collinear, three of four points collinear,
//!   repeated points), the data is degenerate and an error says so.
//! - [`refine_homography`]: Levenberg-Marquardt on the 8 parameters `h11..h32` (`h33 = 1`)
//!   minimising the transfer error in the second image, `Σ |π(H x_i) - x'_i|²`, as OpenCV's
//!   `HomographyRefineCallback`; the Jacobian is analytic (`∂u/∂h11 = x / w`, `∂u/∂h31 = -u
//!   x / w`, …); the damped normal equations `(JᵀJ + λ diag(JᵀJ)) δ = -Jᵀr` are solved by
//!   Cholesky; `λ` starts at `1e-3`, is divided by 10 after an accepted step and multiplied by
//!   10 after a rejected one.
//! - [`find_homography`]: RANSAC (Fischler & Bolles 1981) as OpenCV's
//!   `RANSACPointSetRegistrator`: samples of 4 distinct correspondences drawn from
//!   [`crate::rng`] (seeded); a sample is rejected (and redrawn, up to 1000 times) when three
//!   of its points are collinear in either image within OpenCV's tolerance `|d1 × d2| <=
//!   FLT_EPSILON (|d1| + |d2|)` (L1 norms) or when its four triangles do not all keep or all
//!   flip orientation (`checkSubset`); a correspondence is an inlier when its squared
//!   transfer error is `<= threshold²`; a model with more inliers than the best so far
//!   replaces it and the number of iterations becomes OpenCV's `RANSACUpdateNumIters`:
//!   `N = ⌈log(1 - p) / log(1 - (1 - ε)⁴)⌉` rounded to nearest, at most `max_iterations`,
//!   with `ε` the outlier ratio of the best model and `p` the confidence. The winner is
//!   refitted by DLT on its inliers and, with `refine`, polished by LM (10 iterations, as
//!   OpenCV). The inlier mask is the RANSAC one (as OpenCV's), the RMS is over those inliers
//!   with the final `H`. RANSAC runs on one thread; results depend only on the seed.
//!
//! # Usage
//! ```
//! use classic_cv::geometry::homography::{find_homography, homography_dlt, RansacParams};
//! let h = [[1.1, 0.05, 3.0], [-0.02, 0.95, -4.0], [1e-4, 2e-4, 1.0]];
//! let map = |p: [f64; 2]| {
//!     let w = h[2][0] * p[0] + h[2][1] * p[1] + h[2][2];
//!     [(h[0][0] * p[0] + h[0][1] * p[1] + h[0][2]) / w, (h[1][0] * p[0] + h[1][1] * p[1] + h[1][2]) / w]
//! };
//! let src: Vec<[f64; 2]> = (0..30).map(|i| [(i * 37 % 100) as f64, (i * 53 % 80) as f64]).collect();
//! let dst: Vec<[f64; 2]> = src.iter().map(|&p| map(p)).collect();
//! let fit = find_homography(&src, &dst, &RansacParams::default())?;
//! assert!((fit.h[0][2] - 3.0).abs() < 1e-6 && fit.inliers.iter().all(|&b| b));
//! assert!((homography_dlt(&src, &dst)?[1][1] - 0.95).abs() < 1e-9);
//! # Ok::<(), classic_cv::Error>(())
//! ```

use nalgebra::{SMatrix, SVector};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::Rng;

/// A 3x3 matrix, row-major (`m[row][col]`).
type Mat3 = [[f64; 3]; 3];

/// Points in a minimal sample.
const MODEL_POINTS: usize = 4;
/// Redraws of a degenerate sample before RANSAC gives up (OpenCV's `maxAttempts`).
const MAX_SAMPLE_ATTEMPTS: usize = 1000;
/// LM iterations of the final refinement in [`find_homography`] (OpenCV's).
const REFINE_ITERATIONS: usize = 10;
/// Upper bound on [`RansacParams::max_iterations`].
const MAX_RANSAC_ITERATIONS: usize = 10_000_000;
/// Relative size of the second-smallest eigenvalue of `AᵀA` below which the DLT solution is
/// not unique.
const RANK_TOLERANCE: f64 = 1e-12;

/// Parameters of [`find_homography`]; the defaults are OpenCV's (`RANSAC`, 3 px,
/// confidence 0.995, 2000 iterations).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RansacParams {
    /// Inlier threshold on the transfer error in the second image, in pixels.
    pub threshold: f64,
    /// Probability that at least one sample is outlier-free (adaptive stopping), in (0, 1).
    pub confidence: f64,
    /// Upper bound on the number of RANSAC iterations.
    pub max_iterations: usize,
    /// Seed of the sample draws.
    pub seed: u64,
    /// Polish the refitted homography with Levenberg-Marquardt on the inliers.
    pub refine: bool,
    /// Fewest inliers accepted (4, OpenCV's, accepts any model of a non-degenerate sample).
    pub min_inliers: usize,
}

impl Default for RansacParams {
    fn default() -> Self {
        RansacParams {
            threshold: 3.0,
            confidence: 0.995,
            max_iterations: 2000,
            seed: 0,
            refine: true,
            min_inliers: MODEL_POINTS,
        }
    }
}

impl RansacParams {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<()> {
        if !(self.threshold > 0.0 && self.threshold.is_finite()) {
            return Err(Error::param(
                "threshold",
                format!(
                    "must be a positive number of pixels, got {}",
                    self.threshold
                ),
            ));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(Error::param(
                "confidence",
                format!("must be in (0, 1), got {}", self.confidence),
            ));
        }
        if self.max_iterations == 0 || self.max_iterations > MAX_RANSAC_ITERATIONS {
            return Err(Error::param(
                "max_iterations",
                format!(
                    "must be in 1..={MAX_RANSAC_ITERATIONS}, got {}",
                    self.max_iterations
                ),
            ));
        }
        if self.min_inliers < MODEL_POINTS {
            return Err(Error::param(
                "min_inliers",
                format!("must be at least {MODEL_POINTS}, got {}", self.min_inliers),
            ));
        }
        Ok(())
    }
}

/// The result of [`find_homography`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HomographyFit {
    /// The homography mapping the source points to the destination points (`h33 = 1`).
    pub h: [[f64; 3]; 3],
    /// Per correspondence: inlier of the best RANSAC model.
    pub inliers: Vec<bool>,
    /// RANSAC iterations run.
    pub iterations: usize,
    /// Root mean square transfer error of the inliers under `h`, in pixels.
    pub rms: f64,
}

impl HomographyFit {
    /// Number of inliers.
    pub fn inlier_count(&self) -> usize {
        self.inliers.iter().filter(|&&b| b).count()
    }
}

/// `H p`, dehomogenised; `None` when the point maps to infinity.
fn transfer(h: &Mat3, p: [f64; 2]) -> Option<[f64; 2]> {
    let w = h[2][0] * p[0] + h[2][1] * p[1] + h[2][2];
    let u = (h[0][0] * p[0] + h[0][1] * p[1] + h[0][2]) / w;
    let v = (h[1][0] * p[0] + h[1][1] * p[1] + h[1][2]) / w;
    (u.is_finite() && v.is_finite()).then_some([u, v])
}

/// Squared transfer error `|π(H s) - d|²` (infinite when `s` maps to infinity).
fn transfer_error2(h: &Mat3, s: [f64; 2], d: [f64; 2]) -> f64 {
    match transfer(h, s) {
        Some(p) => (p[0] - d[0]).powi(2) + (p[1] - d[1]).powi(2),
        None => f64::INFINITY,
    }
}

fn degenerate(reason: String) -> Error {
    Error::Degenerate {
        what: "correspondences",
        reason,
    }
}

/// Shared input checks: equal lengths, at least 4 pairs, finite coordinates.
fn check_pairs(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Result<()> {
    if src.len() != dst.len() {
        return Err(Error::DimensionMismatch {
            what: "destination points",
            expected: src.len(),
            found: dst.len(),
        });
    }
    if src.len() < MODEL_POINTS {
        return Err(Error::param(
            "src",
            format!(
                "a homography needs at least {MODEL_POINTS} correspondences, got {}",
                src.len()
            ),
        ));
    }
    if !src.iter().flatten().all(|v| v.is_finite()) {
        return Err(Error::NonFinite {
            what: "source points",
        });
    }
    if !dst.iter().flatten().all(|v| v.is_finite()) {
        return Err(Error::NonFinite {
            what: "destination points",
        });
    }
    Ok(())
}

/// Hartley's conditioning of a point set: centroid and the scale that makes the mean
/// distance to it `√2`; `None` when all points coincide.
fn conditioner(pts: &[[f64; 2]]) -> Option<(f64, f64, f64)> {
    let n = pts.len() as f64;
    let cx = pts.iter().map(|p| p[0]).sum::<f64>() / n;
    let cy = pts.iter().map(|p| p[1]).sum::<f64>() / n;
    let d = pts
        .iter()
        .map(|p| (p[0] - cx).hypot(p[1] - cy))
        .sum::<f64>()
        / n;
    let s = std::f64::consts::SQRT_2 / d;
    (d > 0.0 && s.is_finite()).then_some((cx, cy, s))
}

/// Why a whole point set cannot carry a homography (all repeated or all collinear), if so.
fn point_set_problem(pts: &[[f64; 2]], which: &str) -> Option<String> {
    let Some((cx, cy, s)) = conditioner(pts) else {
        return Some(format!(
            "all {} {which} points are the same point",
            pts.len()
        ));
    };
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for p in pts {
        let (x, y) = (s * (p[0] - cx), s * (p[1] - cy));
        sxx += x * x;
        sxy += x * y;
        syy += y * y;
    }
    let det = sxx * syy - sxy * sxy;
    let tr = sxx + syy;
    (det <= RANK_TOLERANCE * tr * tr)
        .then(|| format!("all {} {which} points are collinear", pts.len()))
}

/// The DLT core on conditioned points (no input checks).
fn dlt_kernel(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Result<Mat3> {
    let problem = |which: &str| degenerate(format!("all {which} points are the same point"));
    let (c1x, c1y, s1) = conditioner(src).ok_or_else(|| problem("source"))?;
    let (c2x, c2y, s2) = conditioner(dst).ok_or_else(|| problem("destination"))?;
    let mut m = SMatrix::<f64, 9, 9>::zeros();
    for (p, q) in src.iter().zip(dst) {
        let (x, y) = (s1 * (p[0] - c1x), s1 * (p[1] - c1y));
        let (u, v) = (s2 * (q[0] - c2x), s2 * (q[1] - c2y));
        let r1 = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, -u];
        let r2 = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, -v];
        for i in 0..9 {
            for j in i..9 {
                m[(i, j)] += r1[i] * r1[j] + r2[i] * r2[j];
            }
        }
    }
    for i in 0..9 {
        for j in 0..i {
            m[(i, j)] = m[(j, i)];
        }
    }
    let eig = m.symmetric_eigen();
    let mut order: Vec<usize> = (0..9).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[a].total_cmp(&eig.eigenvalues[b]));
    let largest = eig.eigenvalues[order[8]];
    if !(eig.eigenvalues[order[1]] > RANK_TOLERANCE * largest) {
        return Err(degenerate(format!(
            "the {} correspondences do not determine a unique homography (collinear or repeated points)",
            src.len()
        )));
    }
    let e = eig.eigenvectors.column(order[0]);
    let hn = [[e[0], e[1], e[2]], [e[3], e[4], e[5]], [e[6], e[7], e[8]]];
    // H = T2⁻¹ Hn T1 with T = [[s, 0, -s cx], [0, s, -s cy], [0, 0, 1]].
    let t1 = [[s1, 0.0, -s1 * c1x], [0.0, s1, -s1 * c1y], [0.0, 0.0, 1.0]];
    let t2inv = [[1.0 / s2, 0.0, c2x], [0.0, 1.0 / s2, c2y], [0.0, 0.0, 1.0]];
    let h = mul3(&t2inv, &mul3(&hn, &t1));
    normalise_scale(h)
}

fn mul3(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut c = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            c[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    c
}

/// Scales `h` so that `h33 = 1`, or to unit Frobenius norm when `h33` is negligible.
fn normalise_scale(h: Mat3) -> Result<Mat3> {
    let norm = h.iter().flatten().map(|v| v * v).sum::<f64>().sqrt();
    if !(norm > 0.0 && norm.is_finite()) {
        return Err(Error::NonFinite { what: "homography" });
    }
    let d = if h[2][2].abs() > 1e-12 * norm {
        h[2][2]
    } else {
        norm
    };
    Ok(h.map(|r| r.map(|v| v / d)))
}

/// The homography mapping `src[i]` to `dst[i]` by the normalised DLT (least squares for more
/// than 4 correspondences), scaled so that `h33 = 1` where possible.
///
/// Errors: fewer than 4 pairs, unequal lengths, non-finite coordinates, and degenerate sets
/// (all points repeated or collinear in either image, or any configuration that leaves the
/// solution non-unique).
pub fn homography_dlt(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Result<[[f64; 3]; 3]> {
    check_pairs(src, dst)?;
    if let Some(reason) =
        point_set_problem(src, "source").or_else(|| point_set_problem(dst, "destination"))
    {
        return Err(degenerate(reason));
    }
    dlt_kernel(src, dst)
}

/// Sum of squared transfer errors of the 8-parameter model `p` (`h33 = 1`); with `normal`,
/// also accumulates `JᵀJ` and `Jᵀr`. Infinite when a point maps to infinity.
fn lm_cost(
    p: &[f64; 8],
    src: &[[f64; 2]],
    dst: &[[f64; 2]],
    normal: Option<(&mut SMatrix<f64, 8, 8>, &mut SVector<f64, 8>)>,
) -> f64 {
    let mut cost = 0.0;
    let mut acc = normal;
    for (s, d) in src.iter().zip(dst) {
        let (x, y) = (s[0], s[1]);
        let w = p[6] * x + p[7] * y + 1.0;
        let iw = 1.0 / w;
        let u = (p[0] * x + p[1] * y + p[2]) * iw;
        let v = (p[3] * x + p[4] * y + p[5]) * iw;
        let (ru, rv) = (u - d[0], v - d[1]);
        if !(ru.is_finite() && rv.is_finite() && iw.is_finite()) {
            return f64::INFINITY;
        }
        cost += ru * ru + rv * rv;
        if let Some((jtj, jtr)) = acc.as_mut() {
            let ju = [x * iw, y * iw, iw, 0.0, 0.0, 0.0, -u * x * iw, -u * y * iw];
            let jv = [0.0, 0.0, 0.0, x * iw, y * iw, iw, -v * x * iw, -v * y * iw];
            for i in 0..8 {
                jtr[i] += ju[i] * ru + jv[i] * rv;
                for j in i..8 {
                    jtj[(i, j)] += ju[i] * ju[j] + jv[i] * jv[j];
                }
            }
        }
    }
    if let Some((jtj, _)) = acc {
        for i in 0..8 {
            for j in 0..i {
                jtj[(i, j)] = jtj[(j, i)];
            }
        }
    }
    cost
}

/// Levenberg-Marquardt refinement of `h` on the transfer error in the second image (8
/// parameters, `h33 = 1`), at most `iterations` accepted steps. Returns the refined
/// homography (`h33 = 1`); never a worse one than `h` (scaled).
///
/// Errors: the input checks of [`homography_dlt`], a non-finite `h`, `h33 = 0` (the
/// parametrisation needs it), and an `h` that maps a source point to infinity.
pub fn refine_homography(
    h: &[[f64; 3]; 3],
    src: &[[f64; 2]],
    dst: &[[f64; 2]],
    iterations: usize,
) -> Result<[[f64; 3]; 3]> {
    check_pairs(src, dst)?;
    if !h.iter().flatten().all(|v| v.is_finite()) {
        return Err(Error::NonFinite { what: "homography" });
    }
    let norm = h.iter().flatten().map(|v| v * v).sum::<f64>().sqrt();
    if !(h[2][2].abs() > 1e-12 * norm) {
        return Err(Error::param(
            "h",
            "h33 is zero; the 8-parameter refinement needs h33 != 0",
        ));
    }
    let h = h.map(|r| r.map(|v| v / h[2][2]));
    let mut p = [
        h[0][0], h[0][1], h[0][2], h[1][0], h[1][1], h[1][2], h[2][0], h[2][1],
    ];
    let mut jtj = SMatrix::<f64, 8, 8>::zeros();
    let mut jtr = SVector::<f64, 8>::zeros();
    let mut cost = lm_cost(&p, src, dst, Some((&mut jtj, &mut jtr)));
    if !cost.is_finite() {
        return Err(degenerate(
            "the homography maps a source point to infinity".into(),
        ));
    }
    let mut lambda = 1e-3;
    'outer: for _ in 0..iterations {
        if cost == 0.0 {
            break;
        }
        loop {
            let mut a = jtj;
            for i in 0..8 {
                a[(i, i)] += lambda * jtj[(i, i)].max(1e-300);
            }
            let step = a.cholesky().map(|c| c.solve(&(-jtr)));
            if let Some(delta) = step {
                let mut q = p;
                for i in 0..8 {
                    q[i] += delta[i];
                }
                let mut jtj2 = SMatrix::<f64, 8, 8>::zeros();
                let mut jtr2 = SVector::<f64, 8>::zeros();
                let c2 = lm_cost(&q, src, dst, Some((&mut jtj2, &mut jtr2)));
                if c2 < cost {
                    let small = delta.norm()
                        <= 1e-15 * (p.iter().map(|v| v * v).sum::<f64>().sqrt() + 1e-15);
                    (p, cost, jtj, jtr) = (q, c2, jtj2, jtr2);
                    lambda = (lambda / 10.0).max(1e-15);
                    if small {
                        break 'outer;
                    }
                    break;
                }
            }
            lambda *= 10.0;
            if lambda > 1e16 {
                break 'outer;
            }
        }
    }
    Ok([[p[0], p[1], p[2]], [p[3], p[4], p[5]], [p[6], p[7], 1.0]])
}

/// OpenCV's collinearity test of the points of a sample (`haveCollinearPoints`).
fn has_collinear_triple(pts: &[[f64; 2]]) -> bool {
    let eps = f32::EPSILON as f64;
    for i in 0..pts.len() {
        for j in 0..i {
            let (dx1, dy1) = (pts[j][0] - pts[i][0], pts[j][1] - pts[i][1]);
            for k in 0..j {
                let (dx2, dy2) = (pts[k][0] - pts[i][0], pts[k][1] - pts[i][1]);
                if (dx2 * dy1 - dy2 * dx1).abs()
                    <= eps * (dx1.abs() + dy1.abs() + dx2.abs() + dy2.abs())
                {
                    return true;
                }
            }
        }
    }
    false
}

/// OpenCV's `checkSubset` for homographies: no collinear triple in either image, and the four
/// triangles of the sample all keep or all flip their orientation.
fn sample_is_usable(src: &[[f64; 2]; 4], dst: &[[f64; 2]; 4]) -> bool {
    if has_collinear_triple(src) || has_collinear_triple(dst) {
        return false;
    }
    let det = |p: &[[f64; 2]; 4], t: [usize; 3]| {
        let (a, b, c) = (p[t[0]], p[t[1]], p[t[2]]);
        (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    };
    let negative = [[0, 1, 2], [1, 2, 3], [0, 2, 3], [0, 1, 3]]
        .into_iter()
        .filter(|&t| det(src, t) * det(dst, t) < 0.0)
        .count();
    negative == 0 || negative == 4
}

/// OpenCV's `RANSACUpdateNumIters` for `model_points` per sample.
fn update_iterations(
    confidence: f64,
    outlier_ratio: f64,
    model_points: i32,
    max_iterations: usize,
) -> usize {
    let ep = outlier_ratio.clamp(0.0, 1.0);
    let num = (1.0 - confidence).max(f64::MIN_POSITIVE);
    let denom = 1.0 - (1.0 - ep).powi(model_points);
    if denom < f64::MIN_POSITIVE {
        return 0;
    }
    let (num, denom) = (num.ln(), denom.ln());
    if denom >= 0.0 || -num >= max_iterations as f64 * -denom {
        max_iterations
    } else {
        (num / denom).round() as usize
    }
}

/// Robust homography from correspondences with outliers: RANSAC, refit on the inliers, LM
/// (see the module docs). `H` maps `src` to `dst`.
///
/// Errors: invalid params, the input checks of [`homography_dlt`], all points collinear or
/// repeated, no usable sample in 1000 draws, and fewer inliers than `min_inliers` (the
/// message gives both counts).
pub fn find_homography(
    src: &[[f64; 2]],
    dst: &[[f64; 2]],
    params: &RansacParams,
) -> Result<HomographyFit> {
    params.validate()?;
    check_pairs(src, dst)?;
    if let Some(reason) =
        point_set_problem(src, "source").or_else(|| point_set_problem(dst, "destination"))
    {
        return Err(degenerate(reason));
    }
    let n = src.len();
    let t2 = params.threshold * params.threshold;
    let mut rng = Rng::new(params.seed);
    let mut best: Option<(Mat3, Vec<bool>, usize)> = None;
    let mut niters = params.max_iterations;
    let mut iter = 0;
    let mut mask = vec![false; n];
    while iter < niters {
        let mut sample = None;
        for _ in 0..MAX_SAMPLE_ATTEMPTS {
            let mut idx = [0usize; 4];
            for k in 0..4 {
                idx[k] = loop {
                    let i = rng.below(n);
                    if !idx[..k].contains(&i) {
                        break i;
                    }
                };
            }
            let s = idx.map(|i| src[i]);
            let d = idx.map(|i| dst[i]);
            if sample_is_usable(&s, &d) {
                sample = Some((s, d));
                break;
            }
        }
        let Some((s, d)) = sample else {
            if best.is_none() {
                return Err(degenerate(format!(
                    "no 4 of the {n} correspondences are in general position after {MAX_SAMPLE_ATTEMPTS} draws"
                )));
            }
            break;
        };
        iter += 1;
        let Ok(h) = dlt_kernel(&s, &d) else { continue };
        let mut count = 0;
        for i in 0..n {
            mask[i] = transfer_error2(&h, src[i], dst[i]) <= t2;
            count += mask[i] as usize;
        }
        if count
            > best
                .as_ref()
                .map_or(MODEL_POINTS - 1, |b| b.2.max(MODEL_POINTS - 1))
        {
            niters = update_iterations(
                params.confidence,
                (n - count) as f64 / n as f64,
                MODEL_POINTS as i32,
                niters,
            );
            best = Some((h, mask.clone(), count));
        }
    }
    let found = best.as_ref().map_or(0, |b| b.2);
    let Some((h, inliers, count)) = best.filter(|b| b.2 >= params.min_inliers) else {
        return Err(degenerate(format!(
            "RANSAC found {found} inliers within {} px, needs at least {}",
            params.threshold, params.min_inliers
        )));
    };
    let (si, di): (Vec<[f64; 2]>, Vec<[f64; 2]>) = (0..n)
        .filter(|&i| inliers[i])
        .map(|i| (src[i], dst[i]))
        .unzip();
    debug_assert_eq!(si.len(), count);
    let mut h = dlt_kernel(&si, &di).unwrap_or(h);
    if params.refine {
        if let Ok(r) = refine_homography(&h, &si, &di, REFINE_ITERATIONS) {
            h = r;
        }
    }
    let sse: f64 = si
        .iter()
        .zip(&di)
        .map(|(&s, &d)| transfer_error2(&h, s, d))
        .sum();
    Ok(HomographyFit {
        h,
        inliers,
        iterations: iter,
        rms: (sse / count as f64).sqrt(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H_TRUE: Mat3 = [[0.9, -0.2, 30.0], [0.15, 1.1, -12.0], [2e-4, -1e-4, 1.0]];

    fn points(n: usize, seed: u64) -> Vec<[f64; 2]> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|_| [rng.next_f64() * 640.0, rng.next_f64() * 480.0])
            .collect()
    }

    fn mapped(h: &Mat3, pts: &[[f64; 2]]) -> Vec<[f64; 2]> {
        pts.iter().map(|&p| transfer(h, p).unwrap()).collect()
    }

    fn max_diff(a: &Mat3, b: &Mat3) -> f64 {
        a.iter()
            .flatten()
            .zip(b.iter().flatten())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn dlt_recovers_exact_homographies() {
        for (n, seed) in [(4, 1), (5, 2), (50, 3)] {
            let src = points(n, seed);
            let dst = mapped(&H_TRUE, &src);
            let h = homography_dlt(&src, &dst).unwrap();
            assert!(max_diff(&h, &H_TRUE) < 1e-9, "n = {n}: {h:?}");
        }
    }

    #[test]
    fn dlt_handles_h33_zero() {
        // A homography with h33 = 0 (the origin maps to infinity) is returned at unit norm.
        let h0 = [[1.0, 0.0, 5.0], [0.0, 1.0, 3.0], [1e-3, 1e-3, 0.0]];
        let src = points(10, 4);
        let dst = mapped(&h0, &src);
        let h = homography_dlt(&src, &dst).unwrap();
        let k = h[0][0] / h0[0][0];
        let scaled = h0.map(|r| r.map(|v| v * k));
        assert!(max_diff(&h, &scaled) < 1e-9 && h[2][2].abs() < 1e-9);
        assert!(refine_homography(&h0, &src, &dst, 5).is_err());
    }

    #[test]
    fn lm_converges_from_a_perturbed_start_and_reduces_noisy_error() {
        let src = points(40, 5);
        let dst = mapped(&H_TRUE, &src);
        let mut start = H_TRUE;
        start[0][0] += 0.01;
        start[1][2] += 2.0;
        start[2][0] += 1e-5;
        let h = refine_homography(&start, &src, &dst, 50).unwrap();
        assert!(max_diff(&h, &H_TRUE) < 1e-9, "{h:?}");
        // With noise, LM can only lower the transfer error of the DLT.
        let mut rng = Rng::new(6);
        let noisy: Vec<[f64; 2]> = dst
            .iter()
            .map(|p| [p[0] + rng.normal() as f64, p[1] + rng.normal() as f64])
            .collect();
        let dlt = homography_dlt(&src, &noisy).unwrap();
        let lm = refine_homography(&dlt, &src, &noisy, 10).unwrap();
        let sse = |h: &Mat3| {
            src.iter()
                .zip(&noisy)
                .map(|(&s, &d)| transfer_error2(h, s, d))
                .sum::<f64>()
        };
        assert!(sse(&lm) < sse(&dlt), "{} vs {}", sse(&lm), sse(&dlt));
    }

    /// 100 correspondences, the first 70 exact, 30 moved far away.
    fn with_outliers(seed: u64) -> (Vec<[f64; 2]>, Vec<[f64; 2]>) {
        let src = points(100, seed);
        let mut dst = mapped(&H_TRUE, &src);
        let mut rng = Rng::new(seed + 100);
        for d in &mut dst[70..] {
            d[0] += 20.0 + rng.next_f64() * 200.0;
            d[1] -= 20.0 + rng.next_f64() * 200.0;
        }
        (src, dst)
    }

    #[test]
    fn ransac_finds_the_inliers_among_30_percent_outliers() {
        let (src, dst) = with_outliers(7);
        let fit = find_homography(
            &src,
            &dst,
            &RansacParams {
                seed: 11,
                ..RansacParams::default()
            },
        )
        .unwrap();
        assert!(fit.inliers[..70].iter().all(|&b| b) && !fit.inliers[70..].iter().any(|&b| b));
        assert!(max_diff(&fit.h, &H_TRUE) < 1e-9, "{:?}", fit.h);
        assert!(
            fit.rms < 1e-9 && fit.iterations >= 1 && fit.iterations < 100,
            "{fit:?}"
        );
        assert_eq!(fit.inlier_count(), 70);
    }

    #[test]
    fn ransac_depends_only_on_the_seed() {
        let (src, dst) = with_outliers(8);
        let p = RansacParams {
            seed: 3,
            refine: false,
            ..RansacParams::default()
        };
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| find_homography(&src, &dst, &p).unwrap())
        };
        let a = run(1);
        assert_eq!(a, run(3));
        assert_eq!(a, find_homography(&src, &dst, &p).unwrap());
    }

    #[test]
    fn iteration_count_follows_opencv() {
        // log(0.005) / log(1 - 0.7^4) = 19.3 -> 19; all inliers -> 0; no inliers -> max.
        assert_eq!(update_iterations(0.995, 0.3, 4, 2000), 19);
        assert_eq!(update_iterations(0.995, 0.0, 4, 2000), 0);
        assert_eq!(update_iterations(0.995, 1.0, 4, 2000), 2000);
        assert_eq!(update_iterations(0.995, 0.99, 4, 2000), 2000);
    }

    #[test]
    fn degenerate_samples_are_rejected() {
        let square = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        assert!(sample_is_usable(&square, &square));
        let line = [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.0, 1.0]];
        assert!(!sample_is_usable(&line, &square) && !sample_is_usable(&square, &line));
        // A fold (one triangle flipped) is not a homography.
        let folded = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.3, 0.2]];
        assert!(!sample_is_usable(&square, &folded));
        // A mirror flips all four: allowed.
        let mirror = square.map(|p| [-p[0], p[1]]);
        assert!(sample_is_usable(&square, &mirror));
    }

    #[test]
    fn bad_inputs_give_clear_errors() {
        let src = points(10, 9);
        let dst = mapped(&H_TRUE, &src);
        let p = RansacParams::default();
        let msg = |e: Error| e.to_string();
        assert!(msg(homography_dlt(&src[..3], &dst[..3]).unwrap_err()).contains("at least 4"));
        assert!(msg(find_homography(&src[..3], &dst[..3], &p).unwrap_err()).contains("at least 4"));
        assert!(matches!(
            homography_dlt(&src, &dst[..9]),
            Err(Error::DimensionMismatch { .. })
        ));
        let mut nan = src.clone();
        nan[2][1] = f64::NAN;
        assert!(matches!(
            homography_dlt(&nan, &dst),
            Err(Error::NonFinite { .. })
        ));
        let mut inf = dst.clone();
        inf[0][0] = f64::INFINITY;
        assert!(matches!(
            find_homography(&src, &inf, &p),
            Err(Error::NonFinite { .. })
        ));
        let line: Vec<[f64; 2]> = (0..10).map(|i| [i as f64, 2.0 * i as f64 + 1.0]).collect();
        assert!(msg(homography_dlt(&line, &dst).unwrap_err()).contains("collinear"));
        assert!(msg(find_homography(&src, &line, &p).unwrap_err()).contains("collinear"));
        let same = vec![[3.0, 4.0]; 10];
        assert!(msg(find_homography(&same, &dst, &p).unwrap_err()).contains("same point"));
        // Four points, three of them collinear: no unique solution.
        let three = [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.0, 1.0]];
        assert!(
            msg(homography_dlt(&three, &mapped(&H_TRUE, &three)).unwrap_err()).contains("unique")
        );
        // Random correspondences: far fewer than 30 agree with any one homography.
        let noise = points(60, 10);
        let e = find_homography(
            &points(60, 11),
            &noise,
            &RansacParams {
                min_inliers: 30,
                ..p.clone()
            },
        )
        .unwrap_err();
        assert!(msg(e).contains("needs at least 30"));
        for bad in [
            RansacParams {
                threshold: 0.0,
                ..p.clone()
            },
            RansacParams {
                threshold: f64::NAN,
                ..p.clone()
            },
            RansacParams {
                confidence: 1.0,
                ..p.clone()
            },
            RansacParams {
                max_iterations: 0,
                ..p.clone()
            },
            RansacParams {
                min_inliers: 3,
                ..p.clone()
            },
        ] {
            assert!(matches!(
                find_homography(&src, &dst, &bad),
                Err(Error::InvalidParam { .. })
            ));
        }
    }
}
