//! Linear support vector machines: LIBLINEAR's dual coordinate descent or Pegasos SGD,
//! one-vs-rest for several classes.
//!
//! # Overview
//! [`LinearSvmParams`] trains one linear classifier `f_c(x) = w_c . x + b_c` per class
//! against the rest (a single one for two classes), minimising the L2-regularised primal
//!
//! ```text
//! P(w) = 1/2 |w'|^2 + C sum_i loss(y_i w' . x'_i),   x' = [x, B],  w' = [w, b / B]
//! ```
//!
//! with the hinge `max(0, 1 - m)` or squared hinge `max(0, 1 - m)^2` loss. The bias is an
//! extra constant feature `B` ([`LinearSvmParams::bias`]) and **is regularised**, exactly as
//! in LIBLINEAR and scikit-learn's `LinearSVC` (`intercept_scaling = B`); `bias = 0` fits no
//! bias. VLFeat's `vl_svm` states the same problem as `lambda/2 |w'|^2 + mean loss` with
//! `lambda = 1 / (C n)`; [`objective`] returns it in that form.
//! The fitted [`LinearSvm`] predicts the class of largest [`LinearSvm::decision_function`].
//!
//! # Usage
//! ```
//! use classic_cv::pipeline::{Fit, Transform};
//! use classic_cv::learn::svm::LinearSvmParams;
//! let x = vec![vec![0.0, 0.2], vec![0.1, 0.0], vec![2.0, 2.1], vec![2.2, 1.9]];
//! let svm = LinearSvmParams::default().fit(&x, &[0, 0, 1, 1]).unwrap();
//! assert_eq!(svm.transform(&vec![1.9, 2.0]).unwrap(), 1);
//! assert!(svm.decision_function(&[1.9, 2.0]).unwrap()[1] > 0.0);
//! ```
//!
//! # Algorithm
//! - [`Solver::DualCd`] (Hsieh et al. 2008, LIBLINEAR's `solve_l2r_l1l2_svc`): coordinate
//!   ascent on the dual `max_a sum a_i - 1/2 |sum a_i y_i x'_i|^2 - sum D a_i^2 / 2` with
//!   `0 <= a_i <= U` (hinge: `U = C, D = 0`; squared hinge: `U = inf, D = 1 / (2C)`), keeping
//!   `w = sum a_i y_i x'_i` up to date. Each outer iteration visits the active coordinates in
//!   a random order (seeded). **Shrinking** as in LIBLINEAR: a coordinate at a bound whose
//!   gradient points outwards by more than the previous sweep's extreme projected gradient
//!   leaves the active set; the solver stops when the spread of projected gradients
//!   `max PG - min PG <= tol` on the active set, and then re-checks once on all
//!   coordinates. `max_iter` bounds the outer iterations. `w` is kept in `f32`, the dual
//!   variables in `f64`.
//! - [`Solver::Sgd`] (Pegasos, Shalev-Shwartz et al. 2011): the primal in VLFeat's form,
//!   one sample per step in a seeded random order per epoch, step `1 / (lambda t)`, `w`
//!   stored as `scale * v` so that the shrink step is O(1). It stops after `max_iter`
//!   epochs or when an epoch changes the primal objective by less than `tol` (relative).
//!
//! Non-convergence is not an error: [`LinearSvm::n_iter`] and [`LinearSvm::converged`]
//! report it.
//!
//! # Parallelism
//! The one-vs-rest problems are trained in parallel, each with its own random stream
//! `Rng::stream(seed, class)`, so the model does not depend on the thread count.
//!
//! # References
//! C.-J. Hsieh, K.-W. Chang, C.-J. Lin, S. S. Keerthi, S. Sundararajan, "A dual coordinate
//! descent method for large-scale linear SVM", ICML 2008. R.-E. Fan et al., "LIBLINEAR: a
//! library for large linear classification", JMLR 9, 2008. S. Shalev-Shwartz, Y. Singer,
//! N. Srebro, A. Cotter, "Pegasos: primal estimated sub-gradient solver for SVM", Math.
//! Programming 127, 2011.

use ndarray::ArrayView2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, check_finite};
use crate::pipeline::{Fit, Label, Transform, check_supervised_fit};
use crate::rng::Rng;
// dot: the sequential 8-lane order the scikit-learn parity tests were recorded with.
use crate::vecops::{self, dot};

/// The loss on the margin `m = y f(x)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// `max(0, 1 - m)` (L1-loss SVM).
    Hinge,
    /// `max(0, 1 - m)^2` (L2-loss SVM; `LinearSVC`'s default).
    SquaredHinge,
}

/// The optimiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    /// Dual coordinate descent with shrinking (LIBLINEAR).
    DualCd,
    /// Pegasos stochastic sub-gradient descent on the primal.
    Sgd,
}

/// Parameters of [`LinearSvm`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinearSvmParams {
    /// Cost of a margin violation (`C > 0`); `lambda = 1 / (C n)`. Default 1.
    pub c: f32,
    /// Loss. Default [`Loss::SquaredHinge`].
    pub loss: Loss,
    /// Optimiser. Default [`Solver::DualCd`].
    pub solver: Solver,
    /// Value `B >= 0` of the constant bias feature (0: no bias). Default 1.
    pub bias: f32,
    /// Maximum outer iterations (dual CD) or epochs (SGD). Default 1000.
    pub max_iter: usize,
    /// Stopping tolerance: projected-gradient spread (dual CD) or relative objective change
    /// per epoch (SGD). Default 0.01.
    pub tol: f32,
    /// Seed of the visiting order. Default 0.
    pub seed: u64,
}

impl Default for LinearSvmParams {
    fn default() -> Self {
        LinearSvmParams {
            c: 1.0,
            loss: Loss::SquaredHinge,
            solver: Solver::DualCd,
            bias: 1.0,
            max_iter: 1000,
            tol: 0.01,
            seed: 0,
        }
    }
}

impl LinearSvmParams {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if !(self.c > 0.0 && self.c.is_finite()) {
            return Err(Error::param("c", "must be positive and finite"));
        }
        if !(self.bias >= 0.0 && self.bias.is_finite()) {
            return Err(Error::param("bias", "must be >= 0 and finite"));
        }
        if self.max_iter == 0 {
            return Err(Error::param("max_iter", "must be at least 1"));
        }
        if !(self.tol > 0.0) {
            return Err(Error::param("tol", "must be positive"));
        }
        Ok(())
    }
}

/// One binary linear classifier `f(x) = w . x + bias`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BinarySvm {
    /// Weights, one per feature.
    pub w: Vec<f32>,
    /// Intercept (already multiplied by the bias feature value `B`).
    pub bias: f32,
    /// Outer iterations (dual CD) or epochs (SGD) run.
    pub n_iter: usize,
    /// Whether the stopping criterion was met before `max_iter`.
    pub converged: bool,
}

/// A fitted one-vs-rest linear SVM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearSvm {
    /// The params it was fitted with.
    pub params: LinearSvmParams,
    /// Number of classes.
    pub n_classes: usize,
    /// One classifier per class (class `c` against the rest); a single one (class 1
    /// positive) when there are two classes.
    pub classifiers: Vec<BinarySvm>,
}

impl Fit for LinearSvmParams {
    type Input = Vec<f32>;
    type Fitted = LinearSvm;

    fn fit(&self, inputs: &[Vec<f32>], labels: &[Label]) -> Result<LinearSvm> {
        let n_classes = check_supervised_fit(self.validate(), inputs, labels)?;
        let stacked = crate::pipeline::stack_rows(inputs)?;
        let x = stacked.view();
        let positives: Vec<Label> = if n_classes == 2 {
            vec![1]
        } else {
            (0..n_classes as Label).collect()
        };
        let classifiers = positives
            .par_iter()
            .map(|&c| {
                let y: Vec<f32> = labels
                    .iter()
                    .map(|&l| if l == c { 1.0 } else { -1.0 })
                    .collect();
                train_binary(x, &y, self, c as u64)
            })
            .collect::<Result<Vec<_>>>()?;
        for c in &classifiers {
            check_finite(
                &c.w,
                "SVM weights (training overflowed: rescale the features)",
            )?;
            check_finite(
                &[c.bias],
                "SVM bias (training overflowed: rescale the features)",
            )?;
        }
        Ok(LinearSvm {
            params: self.clone(),
            n_classes,
            classifiers,
        })
    }
}

impl Transform for LinearSvm {
    type Input = Vec<f32>;
    type Output = Label;

    fn transform(&self, input: &Vec<f32>) -> Result<Label> {
        let scores = self.decision_function(input)?;
        Ok(vecops::argmax(&scores) as Label)
    }
}

impl LinearSvm {
    /// One score per class (for two classes: `[-f(x), f(x)]`); the prediction is the
    /// largest (ties: lowest label).
    pub fn decision_function(&self, x: &[f32]) -> Result<Vec<f32>> {
        let dim = self.classifiers[0].w.len();
        if x.len() != dim {
            return Err(Error::DimensionMismatch {
                what: "feature vector length",
                expected: dim,
                found: x.len(),
            });
        }
        check_finite(x, "features")?;
        let f: Vec<f32> = self
            .classifiers
            .iter()
            .map(|c| dot(&c.w, x) + c.bias)
            .collect();
        Ok(if self.n_classes == 2 {
            vec![-f[0], f[0]]
        } else {
            f
        })
    }

    /// Largest number of iterations any binary problem ran.
    pub fn n_iter(&self) -> usize {
        self.classifiers.iter().map(|c| c.n_iter).max().unwrap_or(0)
    }

    /// Whether every binary problem met its stopping criterion.
    pub fn converged(&self) -> bool {
        self.classifiers.iter().all(|c| c.converged)
    }
}

/// Trains one binary classifier on rows `x` with targets `y` in `{-1, +1}`; `stream`
/// selects the random stream (the class index in one-vs-rest).
pub fn train_binary(
    x: ArrayView2<f32>,
    y: &[f32],
    params: &LinearSvmParams,
    stream: u64,
) -> Result<BinarySvm> {
    params.validate()?;
    crate::pipeline::check_counts(x.nrows(), y.len())?;
    let owned;
    let flat = match x.as_slice() {
        Some(s) => s,
        None => {
            owned = x.iter().copied().collect::<Vec<f32>>();
            &owned
        }
    };
    let mut rng = Rng::stream(params.seed, stream);
    Ok(match params.solver {
        Solver::DualCd => dual_cd(flat, x.ncols(), y, params, &mut rng),
        Solver::Sgd => pegasos(flat, x.ncols(), y, params, &mut rng),
    })
}

/// The primal objective in VLFeat's form, `lambda/2 (|w|^2 + (b/B)^2) + mean loss` with
/// `lambda = 1 / (C n)` (LIBLINEAR's `P(w)` divided by `C n`), computed in `f64`.
pub fn objective(
    x: ArrayView2<f32>,
    y: &[f32],
    model: &BinarySvm,
    params: &LinearSvmParams,
) -> f64 {
    let n = x.nrows() as f64;
    let lambda = 1.0 / (params.c as f64 * n);
    let wb = if params.bias > 0.0 {
        model.bias as f64 / params.bias as f64
    } else {
        0.0
    };
    let reg: f64 = model.w.iter().map(|&v| v as f64 * v as f64).sum::<f64>() + wb * wb;
    let loss: f64 = x
        .rows()
        .into_iter()
        .zip(y)
        .map(|(row, &yi)| {
            let f: f64 = row
                .iter()
                .zip(&model.w)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum::<f64>()
                + model.bias as f64;
            let h = (1.0 - yi as f64 * f).max(0.0);
            match params.loss {
                Loss::Hinge => h,
                Loss::SquaredHinge => h * h,
            }
        })
        .sum();
    lambda / 2.0 * reg + loss / n
}

fn dual_cd(x: &[f32], dim: usize, y: &[f32], p: &LinearSvmParams, rng: &mut Rng) -> BinarySvm {
    let n = y.len();
    let bias = p.bias;
    let c = p.c as f64;
    let (diag, upper) = match p.loss {
        Loss::Hinge => (0.0, c),
        Loss::SquaredHinge => (0.5 / c, f64::INFINITY),
    };
    let row = |i: usize| &x[i * dim..(i + 1) * dim];
    let qd: Vec<f64> = (0..n)
        .map(|i| dot(row(i), row(i)) as f64 + (bias * bias) as f64 + diag)
        .collect();
    let mut w = vec![0f32; dim];
    let mut wb = 0f32; // weight of the bias feature
    let mut alpha = vec![0f64; n];
    let mut index: Vec<usize> = (0..n).collect();
    let mut active = n;
    let (mut pg_max_old, mut pg_min_old) = (f64::INFINITY, f64::NEG_INFINITY);
    let eps = p.tol as f64;
    let mut iter = 0;
    let mut converged = false;
    while iter < p.max_iter {
        let (mut pg_max, mut pg_min) = (f64::NEG_INFINITY, f64::INFINITY);
        rng.shuffle(&mut index[..active]);
        let mut s = 0;
        while s < active {
            let i = index[s];
            let xi = row(i);
            let yi = y[i] as f64;
            let g = yi * (dot(&w, xi) + wb * bias) as f64 - 1.0 + alpha[i] * diag;
            let mut pg = 0.0;
            if alpha[i] == 0.0 {
                if g > pg_max_old {
                    active -= 1;
                    index.swap(s, active);
                    continue;
                } else if g < 0.0 {
                    pg = g;
                }
            } else if alpha[i] == upper {
                if g < pg_min_old {
                    active -= 1;
                    index.swap(s, active);
                    continue;
                } else if g > 0.0 {
                    pg = g;
                }
            } else {
                pg = g;
            }
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - g / qd[i]).clamp(0.0, upper);
                let step = ((alpha[i] - old) * yi) as f32;
                for (wj, &xj) in w.iter_mut().zip(xi) {
                    *wj += step * xj;
                }
                wb += step * bias;
            }
            s += 1;
        }
        iter += 1;
        if pg_max - pg_min <= eps {
            if active == n {
                converged = true;
                break;
            }
            active = n;
            pg_max_old = f64::INFINITY;
            pg_min_old = f64::NEG_INFINITY;
            continue;
        }
        pg_max_old = if pg_max <= 0.0 { f64::INFINITY } else { pg_max };
        pg_min_old = if pg_min >= 0.0 {
            f64::NEG_INFINITY
        } else {
            pg_min
        };
    }
    // The running `w` collects rounding errors of millions of f32 updates; the model is
    // w(alpha) = sum alpha_i y_i x'_i recomputed in f64 (LIBLINEAR keeps w in double).
    let mut w64 = vec![0f64; dim];
    let mut wb64 = 0f64;
    for i in 0..n {
        if alpha[i] != 0.0 {
            let a = alpha[i] * y[i] as f64;
            for (wj, &xj) in w64.iter_mut().zip(row(i)) {
                *wj += a * xj as f64;
            }
            wb64 += a * bias as f64;
        }
    }
    let _ = (w, wb);
    BinarySvm {
        w: w64.iter().map(|&v| v as f32).collect(),
        bias: (wb64 * bias as f64) as f32,
        n_iter: iter,
        converged,
    }
}

fn pegasos(x: &[f32], dim: usize, y: &[f32], p: &LinearSvmParams, rng: &mut Rng) -> BinarySvm {
    let n = y.len();
    let bias = p.bias;
    let lambda = 1.0 / (p.c as f64 * n as f64);
    let row = |i: usize| &x[i * dim..(i + 1) * dim];
    let sq_norms: Vec<f64> = (0..n)
        .map(|i| dot(row(i), row(i)) as f64 + (bias * bias) as f64)
        .collect();
    // The optimum lies in the ball |w'|^2 <= 2 P(0) / lambda (P(0) = 1 for both losses);
    // projecting onto it (Pegasos' optional step) keeps the early, long steps bounded.
    let radius_sq = match p.loss {
        Loss::Hinge => 1.0 / lambda,
        Loss::SquaredHinge => 2.0 / lambda,
    };
    // w' = scale * v, with the bias weight as the last entry of v; |v|^2 tracked.
    let mut v = vec![0f32; dim];
    let mut vb = 0f32;
    let mut scale = 1f64;
    let mut v_sq = 0f64;
    let mut order: Vec<usize> = (0..n).collect();
    let mut t = 0u64;
    let mut previous = f64::INFINITY;
    let mut converged = false;
    let mut epochs = 0;
    let as_model = |v: &[f32], vb: f32, scale: f64| BinarySvm {
        w: v.iter().map(|&a| (a as f64 * scale) as f32).collect(),
        bias: (vb as f64 * scale) as f32 * bias,
        n_iter: 0,
        converged: false,
    };
    let view = ArrayView2::from_shape((n, dim), x).expect("shape");
    while epochs < p.max_iter {
        rng.shuffle(&mut order);
        for &i in &order {
            t += 1;
            let eta = 1.0 / (lambda * t as f64);
            let xi = row(i);
            let yi = y[i] as f64;
            let vx = (dot(&v, xi) + vb * bias) as f64;
            let margin = yi * scale * vx;
            let shrink = 1.0 - eta * lambda;
            if shrink <= 0.0 {
                v.iter_mut().for_each(|a| *a = 0.0);
                vb = 0.0;
                scale = 1.0;
                v_sq = 0.0;
            } else {
                scale *= shrink;
            }
            let slope = match p.loss {
                Loss::Hinge => f64::from(margin < 1.0),
                Loss::SquaredHinge => 2.0 * (1.0 - margin).max(0.0),
            };
            if slope > 0.0 {
                let step = eta * slope * yi / scale;
                let vx_now = if shrink <= 0.0 { 0.0 } else { vx };
                v_sq += 2.0 * step * vx_now + step * step * sq_norms[i];
                let step = step as f32;
                for (a, &b) in v.iter_mut().zip(xi) {
                    *a += step * b;
                }
                vb += step * bias;
            }
            let w_sq = scale * scale * v_sq;
            if w_sq > radius_sq {
                scale *= (radius_sq / w_sq).sqrt();
            }
            if scale < 1e-6 {
                v.iter_mut().for_each(|a| *a = (*a as f64 * scale) as f32);
                vb = (vb as f64 * scale) as f32;
                v_sq *= scale * scale;
                scale = 1.0;
            }
        }
        epochs += 1;
        let obj = objective(view, y, &as_model(&v, vb, scale), p);
        if (previous - obj).abs() <= p.tol as f64 * obj.abs() {
            converged = true;
            break;
        }
        previous = obj;
    }
    BinarySvm {
        n_iter: epochs,
        converged,
        ..as_model(&v, vb, scale)
    }
}

impl crate::persist::Model for LinearSvm {
    fn kind() -> String {
        "linear-svm".into()
    }

    /// One binary classifier for two classes, one per class otherwise; all of one
    /// dimension; finite weights.
    fn validate_loaded(&self) -> Result<()> {
        self.params.validate()?;
        crate::limits::check_class_count(self.n_classes, "linear SVM")?;
        let expected = if self.n_classes == 2 {
            1
        } else {
            self.n_classes
        };
        if self.n_classes < 2 || self.classifiers.len() != expected {
            return Err(Error::DimensionMismatch {
                what: "binary classifiers of the linear SVM (one for 2 classes, else one per class)",
                expected,
                found: self.classifiers.len(),
            });
        }
        let dim = self.classifiers[0].w.len();
        for c in &self.classifiers {
            if c.w.len() != dim || dim == 0 {
                return Err(Error::DimensionMismatch {
                    what: "weight vectors of the linear SVM",
                    expected: dim.max(1),
                    found: c.w.len(),
                });
            }
            check_finite(&c.w, "linear SVM weights")?;
            check_finite(&[c.bias], "linear SVM bias")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two overlapping Gaussian classes in 5-D (not separable: the loss matters).
    fn problem(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut r = Rng::new(seed);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let yi = if i % 3 == 0 { 1.0 } else { -1.0 };
            for j in 0..5 {
                x.push(r.normal() + if j < 2 { 0.8 * yi } else { 0.0 });
            }
            y.push(yi);
        }
        (x, y)
    }

    /// The exact optimum by brute force: minimise the primal with tiny projected steps on
    /// a 1-D problem, compared with the dual CD answer.
    #[test]
    fn dual_cd_reaches_the_optimum_of_a_1d_problem() {
        let x = [-2.0f32, -1.0, -0.5, 0.3, 1.0, 2.0];
        let y = [-1.0f32, -1.0, 1.0, -1.0, 1.0, 1.0];
        for loss in [Loss::Hinge, Loss::SquaredHinge] {
            let p = LinearSvmParams {
                c: 1.0,
                loss,
                bias: 1.0,
                tol: 1e-6,
                ..Default::default()
            };
            let view = ArrayView2::from_shape((6, 1), &x[..]).unwrap();
            let m = train_binary(view, &y, &p, 0).unwrap();
            let got = objective(view, &y, &m, &p);
            // Grid search over (w, b): the objective is convex, so a fine grid bounds it.
            let mut best = f64::INFINITY;
            for a in 0..=400 {
                for b in 0..=400 {
                    let cand = BinarySvm {
                        w: vec![a as f32 * 0.01],
                        bias: -2.0 + b as f32 * 0.01,
                        n_iter: 0,
                        converged: true,
                    };
                    best = best.min(objective(view, &y, &cand, &p));
                }
            }
            assert!(got <= best + 1e-6, "{loss:?}: {got} vs grid {best}");
            assert!(m.converged);
        }
    }

    #[test]
    fn pegasos_approaches_the_dual_cd_optimum() {
        let (x, y) = problem(600, 3);
        let view = ArrayView2::from_shape((600, 5), &x[..]).unwrap();
        for loss in [Loss::Hinge, Loss::SquaredHinge] {
            let cd = LinearSvmParams {
                c: 0.1,
                loss,
                tol: 1e-5,
                ..Default::default()
            };
            let opt = objective(view, &y, &train_binary(view, &y, &cd, 0).unwrap(), &cd);
            let sgd = LinearSvmParams {
                solver: Solver::Sgd,
                max_iter: 200,
                tol: 1e-6,
                ..cd.clone()
            };
            let got = objective(view, &y, &train_binary(view, &y, &sgd, 0).unwrap(), &sgd);
            assert!(got >= opt - 1e-9, "{loss:?}: SGD below the optimum?");
            assert!(got <= opt * 1.02, "{loss:?}: SGD {got} vs optimum {opt}");
        }
    }

    #[test]
    fn one_vs_rest_separates_three_blobs() {
        let mut r = Rng::new(5);
        let centres = [[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]];
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for i in 0..90 {
            let c = i % 3;
            xs.push(vec![
                centres[c][0] + 0.5 * r.normal(),
                centres[c][1] + 0.5 * r.normal(),
            ]);
            ys.push(c as Label);
        }
        for solver in [Solver::DualCd, Solver::Sgd] {
            let m = LinearSvmParams {
                solver,
                ..Default::default()
            }
            .fit(&xs, &ys)
            .unwrap();
            assert_eq!(m.classifiers.len(), 3);
            let acc = xs
                .iter()
                .zip(&ys)
                .filter(|(x, y)| m.transform(x).unwrap() == **y)
                .count();
            assert!(acc >= 88, "{solver:?}: {acc}/90");
        }
    }

    #[test]
    fn invalid_params_are_named() {
        let cases: [crate::pipeline::Case<LinearSvmParams>; 4] = [
            ("c", |p| p.c = 0.0),
            ("bias", |p| p.bias = -1.0),
            ("max_iter", |p| p.max_iter = 0),
            ("tol", |p| p.tol = f32::NAN),
        ];
        let run = |p: &LinearSvmParams| p.fit(&[vec![0.0], vec![1.0]], &[0, 1]);
        crate::pipeline::assert_rejected(&LinearSvmParams::default(), &cases, run);
    }

    #[test]
    fn bad_data_is_an_error() {
        let p = LinearSvmParams::default();
        assert!(matches!(
            p.fit(&[vec![0.0], vec![1.0]], &[1, 1]),
            Err(Error::TooFewClasses { found: 1 })
        ));
        assert!(matches!(
            p.fit(&[vec![0.0], vec![f32::INFINITY]], &[0, 1]),
            Err(Error::NonFinite { .. })
        ));
        assert!(matches!(
            p.fit(&[vec![0.0], vec![1.0]], &[0]),
            Err(Error::LengthMismatch { .. })
        ));
    }
}
