//! k-means codebooks and fast nearest-centre quantisation.
//!
//! # Overview
//! [`KMeansParams`] learns `k` centres ("visual words") from descriptors by minimising the
//! energy `E = Σ_i min_j |x_i − c_j|²` (the sum of *squared* Euclidean distances, VLFeat's
//! `VlDistanceL2` convention). Three algorithms share one interface: Lloyd (exact, one full
//! assignment per iteration through a matrix product), Hamerly (exact, the same centres as
//! Lloyd up to float ties, skipping points whose distance bounds prove their assignment
//! unchanged) and mini-batch (Sculley 2010, approximate, for very large samples).
//! [`quantize`] is the nearest-centre search every encoder of the crate uses.
//!
//! [`LocalFeatures`] is the input of the encoders (`bovw`, `vlad`): one image's descriptors
//! with their keypoint positions. [`KMeansParams::fit_pooled`] learns a codebook from a
//! seeded subsample of descriptors pooled across images.
//!
//! # Usage
//! ```
//! use classic_cv::encode::kmeans::{KMeansParams, quantize};
//! use ndarray::array;
//! let x = array![[0.0f32, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]];
//! let model = KMeansParams { k: 2, ..Default::default() }.fit_array(x.view()).unwrap();
//! let q = quantize(x.view(), model.centres.view()).unwrap();
//! assert_eq!(q.labels[0], q.labels[1]);
//! assert_ne!(q.labels[0], q.labels[2]);
//! assert!(model.energy() < 0.02);
//! ```
//!
//! # Algorithm and conventions
//! - **Distances** for the assignment are `|c|² − 2 x·c` (the `|x|²` term does not change the
//!   argmin), with `x·c` from an `f32` matrix product (`ndarray`'s `general_mat_mul`, i.e.
//!   the `matrixmultiply` kernels with runtime AVX2/FMA dispatch) over blocks of
//!   [`CHUNK`] rows. The winner's squared distance is then recomputed directly as
//!   `Σ (x − c)²`, so energies carry no cancellation error. Ties go to the lower index.
//! - **Iterations** follow VLFeat's `vl_kmeans`: assign, record the energy, stop if
//!   `max_iter` updates were done, update the means, repeat. `max_iter = 20` therefore makes
//!   21 assignment passes and 20 updates, and [`KMeans::energies`] holds 21 values, the last
//!   being the energy of the returned centres. Iterations also stop (converged) when no point
//!   changes cluster, or when `tol > 0` and the relative decrease
//!   `(E_prev − E) / (E_0 − E)` falls below `tol`.
//! - **k-means++** (Arthur & Vassilvitskii 2007) draws the first centre uniformly and each
//!   next one with probability proportional to the squared distance to the nearest chosen
//!   centre, one candidate per step (VLFeat's variant, not scikit-learn's greedy one).
//! - **Empty clusters** are re-seeded deterministically, without randomness: the `m` empty
//!   clusters (in index order) take the `m` points farthest from their current centre.
//! - **Means** are accumulated in `f32` in row order, then divided by the count, as VLFeat
//!   (and scikit-learn for `f32` data) do. This is a convention that changes numbers: with
//!   `f64` sums, 20 iterations at K=1024 on VLFeat's 100k descriptors drift onto a path
//!   ending 1e-4 lower in energy (21458.1 instead of VLFeat's 21460.3).
//! - **Hamerly** (2010) keeps, per point, an upper bound on the distance to its centre and a
//!   lower bound on the distance to every other centre. Points whose bounds fail are gathered
//!   and re-assigned with the same matrix-product search as Lloyd. The lower bound is taken a
//!   little below the float value (relative slack 1e-5) so that rounding cannot make it
//!   optimistic.
//! - **Mini-batch**: each epoch visits the data in a fresh seeded permutation, in batches of
//!   `batch_size`; every point of a batch moves its centre by `(x − c) / count` with a
//!   per-centre count. The energy of an epoch is the sum of the batch distances measured
//!   before each update (an estimate); one exact pass over all points follows the last epoch.
//!
//! # Parallelism
//! Assignment runs in parallel over fixed blocks of [`CHUNK`] rows and the k-means++
//! distance updates over fixed blocks too; energies are summed per block in `f64`, then
//! across blocks in block order. Means and mini-batch updates are sequential. The result
//! does not depend on the number of threads.
//!
//! # References
//! - S. Lloyd, "Least squares quantization in PCM", IEEE Trans. IT, 1982.
//! - D. Arthur, S. Vassilvitskii, "k-means++: the advantages of careful seeding", SODA 2007.
//! - G. Hamerly, "Making k-means even faster", SDM 2010.
//! - D. Sculley, "Web-scale k-means clustering", WWW 2010.
//! - A. Vedaldi, B. Fulkerson, "VLFeat", 2008 (`vl_kmeans`).

use ndarray::{Array2, ArrayView2, Axis, Slice};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::encode::encoder::LocalFeatures;
use crate::error::{Error, Result, check_finite};
use crate::pipeline::{Fit, Label, Transform, check_fit};
use crate::rng::Rng;
// The pairwise 8-lane order of k-means: the VLFeat parity tests depend on it.
use crate::vecops::sq_dist_pairwise as dist2;

/// Rows per block of the parallel assignment (fixed, so results do not depend on threads).
pub const CHUNK: usize = 1024;

/// How the initial centres are chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum KMeansInit {
    /// k-means++ seeding (VLFeat's variant: one candidate per step).
    PlusPlus,
    /// `k` distinct data points drawn uniformly.
    Random,
    /// The given `k x d` centres.
    Given(Array2<f32>),
}

/// The refinement algorithm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum KMeansAlgorithm {
    /// Exact Lloyd iterations with matrix-product distances.
    Lloyd,
    /// Exact, Lloyd's result accelerated with Hamerly's distance bounds.
    Hamerly,
    /// Mini-batch k-means (approximate); `max_iter` counts epochs.
    MiniBatch {
        /// Points per batch (default 1024).
        batch_size: usize,
    },
}

/// Parameters of [`KMeans`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KMeansParams {
    /// Number of centres (default 256).
    pub k: usize,
    /// Initialisation (default k-means++).
    pub init: KMeansInit,
    /// Refinement algorithm (default Lloyd).
    pub algorithm: KMeansAlgorithm,
    /// Maximum number of centre updates (epochs for mini-batch); default 100 (VLFeat).
    pub max_iter: usize,
    /// Relative energy decrease below which iterations stop; 0 disables the test (default 0).
    pub tol: f32,
    /// Seed of every random choice (default 42).
    pub seed: u64,
    /// Fit on at most this many descriptors, drawn at random with `seed` (default: all).
    pub subsample: Option<usize>,
}

impl Default for KMeansParams {
    fn default() -> Self {
        KMeansParams {
            k: 256,
            init: KMeansInit::PlusPlus,
            algorithm: KMeansAlgorithm::Lloyd,
            max_iter: 100,
            tol: 0.0,
            seed: 42,
            subsample: None,
        }
    }
}

/// A fitted k-means codebook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KMeans {
    /// The params it was fitted with.
    pub params: KMeansParams,
    /// The `k x d` centres.
    pub centres: Array2<f32>,
    /// Energy (sum of squared distances) after each assignment pass: `n_iter + 1` values for
    /// Lloyd and Hamerly (the first is the energy of the initial centres, the last that of
    /// the returned centres); for mini-batch, one estimate per epoch then the exact final
    /// energy.
    pub energies: Vec<f64>,
    /// Number of centre updates (epochs for mini-batch) performed.
    pub n_iter: usize,
    /// Whether a stopping rule other than `max_iter` ended the iterations.
    pub converged: bool,
    /// Number of full distance evaluations (point x centre) done by the refinement.
    pub n_distances: u64,
}

/// Nearest-centre assignment of a set of points.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantized {
    /// Index of the nearest centre of each point.
    pub labels: Vec<u32>,
    /// Squared distance of each point to its centre, computed directly as `Σ (x − c)²`.
    pub distances: Vec<f32>,
}

impl Quantized {
    /// The energy `Σ distances`, summed per block in `f64` then across blocks in order.
    pub fn energy(&self) -> f64 {
        block_sum(&self.distances)
    }
}

impl KMeansParams {
    /// Checks every parameter; called first by every fit.
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 {
            return Err(Error::param("k", "must be at least 1"));
        }
        if !(self.tol >= 0.0) || !self.tol.is_finite() {
            return Err(Error::param("tol", "must be finite and >= 0"));
        }
        if self.subsample == Some(0) {
            return Err(Error::param("subsample", "must be at least 1 when given"));
        }
        if let KMeansAlgorithm::MiniBatch { batch_size } = self.algorithm
            && batch_size == 0
        {
            return Err(Error::param(
                "algorithm",
                "mini-batch batch_size must be >= 1",
            ));
        }
        if let KMeansInit::Given(c) = &self.init {
            if c.nrows() != self.k {
                return Err(Error::param(
                    "init",
                    format!("given centres have {} rows but k = {}", c.nrows(), self.k),
                ));
            }
            if c.iter().any(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    what: "initial centres",
                });
            }
        }
        Ok(())
    }

    /// Fits on the rows of `x` (`n x d`). The fast entry point; [`Fit::fit`] stacks its
    /// inputs and calls this.
    pub fn fit_array(&self, x: ArrayView2<f32>) -> Result<KMeans> {
        self.validate()?;
        if x.nrows() == 0 {
            return Err(Error::EmptyInput {
                what: "descriptors",
            });
        }
        if x.ncols() == 0 {
            return Err(Error::EmptyInput {
                what: "descriptor dimension",
            });
        }
        match self.subsample {
            Some(m) if m < x.nrows() => {
                let mut idx = Rng::stream(self.seed, 0x5ab5).sample_indices(x.nrows(), m);
                idx.sort_unstable();
                let sub = x.select(Axis(0), &idx);
                self.fit_checked(sub.view())
            }
            _ => {
                let x = x.as_standard_layout();
                self.fit_checked(x.view())
            }
        }
    }

    /// Fits a codebook on descriptors pooled across images: at most `subsample` of them
    /// (all when `None`), drawn uniformly at random with `seed` from the concatenation of
    /// every image's descriptors, kept in image order.
    pub fn fit_pooled(&self, images: &[LocalFeatures]) -> Result<KMeans> {
        self.validate()?;
        let x = pool_descriptors(images, self.subsample, self.seed)?;
        // The pool is already subsampled; fit it whole.
        let whole = KMeansParams {
            subsample: None,
            ..self.clone()
        };
        let mut model = whole.fit_checked(x.view())?;
        model.params = self.clone();
        Ok(model)
    }

    /// Fit after validation and the emptiness checks; `x` is in standard layout.
    fn fit_checked(&self, x: ArrayView2<f32>) -> Result<KMeans> {
        let (n, d) = x.dim();
        if self.k > n {
            return Err(Error::param(
                "k",
                format!("k = {} exceeds the number of descriptors ({n})", self.k),
            ));
        }
        let values = x.as_slice().expect("standard layout checked by the caller");
        check_finite(values, "descriptors")?;
        check_magnitude(values, d)?;
        let centres = match &self.init {
            KMeansInit::Given(c) => {
                if c.ncols() != d {
                    return Err(Error::DimensionMismatch {
                        what: "initial centres vs descriptors",
                        expected: d,
                        found: c.ncols(),
                    });
                }
                c.as_standard_layout().into_owned()
            }
            KMeansInit::Random => {
                let idx = Rng::stream(self.seed, 0x1417).sample_indices(n, self.k);
                x.select(Axis(0), &idx)
            }
            KMeansInit::PlusPlus => plus_plus(x, self.k, self.seed),
        };
        let mut model = match self.algorithm {
            KMeansAlgorithm::Lloyd => lloyd(x, centres, self.max_iter, self.tol),
            KMeansAlgorithm::Hamerly => hamerly(x, centres, self.max_iter, self.tol),
            KMeansAlgorithm::MiniBatch { batch_size } => {
                minibatch(x, centres, self.max_iter, self.tol, batch_size, self.seed)
            }
        };
        model.params = self.clone();
        if let Some(c) = model.centres.as_slice() {
            check_finite(c, "k-means centres (the data are too large: rescale them)")?;
        }
        Ok(model)
    }
}

impl KMeans {
    /// Energy of the returned centres (the last recorded energy).
    pub fn energy(&self) -> f64 {
        self.energies.last().copied().unwrap_or(f64::NAN)
    }

    /// Number of centres.
    pub fn k(&self) -> usize {
        self.centres.nrows()
    }

    /// Descriptor dimension.
    pub fn dim(&self) -> usize {
        self.centres.ncols()
    }

    /// Nearest centre of every row of `x` (see [`quantize`]).
    pub fn quantize(&self, x: ArrayView2<f32>) -> Result<Quantized> {
        quantize(x, self.centres.view())
    }
}

/// Fails when the values are so large that squared distances between them overflow `f32`
/// (`(2 max|x|)^2 d` must stay finite): the centres would become infinite.
pub(crate) fn check_magnitude(values: &[f32], d: usize) -> Result<()> {
    let max = values.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
    let limit = (f32::MAX as f64 / (4.0 * d.max(1) as f64)).sqrt();
    if max > limit {
        return Err(Error::param(
            "descriptors",
            format!(
                "values up to {max:.3e} are too large: squared distances in dimension {d} \
                 would overflow f32 (the largest usable magnitude is {limit:.3e}; rescale the data)"
            ),
        ));
    }
    Ok(())
}

impl Fit for KMeansParams {
    type Input = Vec<f32>;
    type Fitted = KMeans;

    /// Fits on one descriptor per input; the labels are ignored but must match in number.
    fn fit(&self, inputs: &[Vec<f32>], labels: &[Label]) -> Result<KMeans> {
        check_fit(self.validate(), inputs, labels)?;
        let x = crate::pipeline::stack_rows(inputs)?;
        self.fit_array(x.view())
    }
}

impl Transform for KMeans {
    type Input = Vec<f32>;
    type Output = Label;

    /// The index of the nearest centre.
    fn transform(&self, input: &Vec<f32>) -> Result<Label> {
        let x = ArrayView2::from_shape((1, input.len()), input).expect("one row");
        Ok(self.quantize(x)?.labels[0])
    }

    fn transform_batch(&self, inputs: &[Vec<f32>]) -> Result<Vec<Label>> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let x = crate::pipeline::stack_rows(inputs)?;
        Ok(self.quantize(x.view())?.labels)
    }
}

impl crate::persist::Model for KMeans {
    fn kind() -> String {
        "kmeans".into()
    }

    /// At least one centre of at least one dimension, finite.
    fn validate_loaded(&self) -> Result<()> {
        let (k, dim) = self.centres.dim();
        if k == 0 || dim == 0 {
            return Err(Error::EmptyInput {
                what: "k-means centres",
            });
        }
        match self.centres.as_slice() {
            Some(c) => check_finite(c, "k-means centres"),
            None => Err(Error::param("centres", "not a standard-layout matrix")),
        }
    }
}

/// Descriptors pooled across images: at most `subsample` of them (all when `None`), drawn
/// uniformly at random with `seed` from the concatenation of every image's descriptors and
/// kept in image order. Fails on no descriptors or on differing dimensions.
pub fn pool_descriptors(
    images: &[LocalFeatures],
    subsample: Option<usize>,
    seed: u64,
) -> Result<Array2<f32>> {
    let d = images
        .iter()
        .map(|f| f.descriptors.ncols())
        .max()
        .unwrap_or(0);
    for f in images {
        if f.descriptors.nrows() > 0 && f.descriptors.ncols() != d {
            return Err(Error::DimensionMismatch {
                what: "descriptor length across images",
                expected: d,
                found: f.descriptors.ncols(),
            });
        }
    }
    let total: usize = images.iter().map(|f| f.descriptors.nrows()).sum();
    if total == 0 {
        return Err(Error::EmptyInput {
            what: "descriptors",
        });
    }
    let chosen = pool_sample(total, subsample, seed);
    let mut flat = Vec::with_capacity(chosen.len() * d);
    let mut next = chosen.iter().peekable();
    let mut offset = 0;
    for f in images {
        let n = f.descriptors.nrows();
        while let Some(&&g) = next.peek() {
            if g >= offset + n {
                break;
            }
            flat.extend(f.descriptors.row(g - offset).iter());
            next.next();
        }
        offset += n;
    }
    Ok(Array2::from_shape_vec((chosen.len(), d), flat)
        .expect("gathered rows have the pooled dimension"))
}

/// The rows [`pool_descriptors`] keeps of `total` pooled descriptors, sorted: at most
/// `subsample` (all when `None`), drawn uniformly with `seed`. A distributed caller that
/// knows every image's descriptor count draws the same rows without pooling them first.
pub fn pool_sample(total: usize, subsample: Option<usize>, seed: u64) -> Vec<usize> {
    let mut chosen: Vec<usize> = match subsample {
        Some(m) if m < total => Rng::stream(seed, 0x5ab5).sample_indices(total, m),
        _ => (0..total).collect(),
    };
    chosen.sort_unstable();
    chosen
}

/// Nearest centre (squared Euclidean distance) of every row of `x` (`n x d`) among the rows
/// of `centres` (`k x d`). `n = 0` gives empty results. Fails on a dimension mismatch, on no
/// centres, on non-finite values, and on values so large that squared distances would
/// overflow `f32`.
pub fn quantize(x: ArrayView2<f32>, centres: ArrayView2<f32>) -> Result<Quantized> {
    if centres.nrows() == 0 {
        return Err(Error::EmptyInput { what: "codebook" });
    }
    if x.ncols() != centres.ncols() {
        return Err(Error::DimensionMismatch {
            what: "descriptors vs codebook",
            expected: centres.ncols(),
            found: x.ncols(),
        });
    }
    let x = x.as_standard_layout();
    let c = centres.as_standard_layout();
    check_finite(x.as_slice().expect("standard layout"), "descriptors")?;
    check_finite(c.as_slice().expect("standard layout"), "codebook")?;
    // Distances that overflow would make the assignment arbitrary.
    check_magnitude(x.as_slice().expect("standard layout"), c.ncols())?;
    check_magnitude(c.as_slice().expect("standard layout"), c.ncols())?;
    let (labels, distances, _) = assign(x.view(), c.view(), false);
    Ok(Quantized { labels, distances })
}

/// Sum in `f64` per block of [`CHUNK`], then across blocks in order.
fn block_sum(v: &[f32]) -> f64 {
    v.chunks(CHUNK)
        .map(|c| c.iter().map(|&x| x as f64).sum::<f64>())
        .sum()
}

/// Squared norms of the rows.
fn row_norms(c: ArrayView2<f32>) -> Vec<f32> {
    c.rows()
        .into_iter()
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect()
}

/// Assignment of every row of `x` to its nearest centre: labels, exact squared distances,
/// and (when `second`) the matrix-product estimate of the squared distance to the second
/// nearest centre (`f32::INFINITY` when k = 1). Both inputs are in standard layout.
fn assign(x: ArrayView2<f32>, c: ArrayView2<f32>, second: bool) -> (Vec<u32>, Vec<f32>, Vec<f32>) {
    let (n, d) = x.dim();
    let k = c.nrows();
    let cnorm = row_norms(c);
    let xs = x.as_slice().expect("standard layout");
    let cs = c.as_slice().expect("standard layout");
    let mut labels = vec![0u32; n];
    let mut dists = vec![0f32; n];
    let mut seconds = if second { vec![0f32; n] } else { Vec::new() };
    let mut second_chunks: Vec<&mut [f32]> = if second {
        seconds.chunks_mut(CHUNK).collect()
    } else {
        (0..n.div_ceil(CHUNK)).map(|_| &mut [][..]).collect()
    };
    labels
        .par_chunks_mut(CHUNK)
        .zip(dists.par_chunks_mut(CHUNK))
        .zip(second_chunks.par_iter_mut())
        .enumerate()
        .for_each_init(
            || Array2::<f32>::zeros((CHUNK, k)),
            |g, (b, ((lab, dis), sec))| {
                let start = b * CHUNK;
                let rows = lab.len();
                let xb = x.slice_axis(Axis(0), Slice::from(start..start + rows));
                let mut gb = g.slice_axis_mut(Axis(0), Slice::from(0..rows));
                ndarray::linalg::general_mat_mul(1.0, &xb, &c.t(), 0.0, &mut gb);
                for r in 0..rows {
                    let gr = gb.row(r);
                    let gr = gr.as_slice().expect("contiguous row");
                    let (best, sv) = if second {
                        best_two(gr, &cnorm)
                    } else {
                        (argmin_score(gr, &cnorm), f32::INFINITY)
                    };
                    let xr = &xs[(start + r) * d..(start + r + 1) * d];
                    lab[r] = best as u32;
                    dis[r] = dist2(xr, &cs[best * d..(best + 1) * d]);
                    if second {
                        let xn: f32 = xr.iter().map(|v| v * v).sum();
                        sec[r] = (sv + xn).max(0.0);
                    }
                }
            },
        );
    drop(second_chunks);
    (labels, dists, seconds)
}

/// Index of the smallest score `|c_j|² − 2 x·c_j` (the first one at ties). The minimum is
/// found in eight lanes without branches (it vectorises), then located by recomputing the
/// same expression, which gives bit-identical values.
#[inline]
fn argmin_score(g: &[f32], cnorm: &[f32]) -> usize {
    let mut lanes = [f32::INFINITY; 8];
    let gc = g.chunks_exact(8);
    let nc = cnorm.chunks_exact(8);
    let (gt, nt) = (gc.remainder(), nc.remainder());
    for (a, b) in gc.zip(nc) {
        for l in 0..8 {
            let v = b[l] - 2.0 * a[l];
            lanes[l] = if v < lanes[l] { v } else { lanes[l] };
        }
    }
    let mut min = lanes
        .iter()
        .fold(f32::INFINITY, |m, &v| if v < m { v } else { m });
    for (a, b) in gt.iter().zip(nt) {
        let v = b - 2.0 * a;
        if v < min {
            min = v;
        }
    }
    g.iter()
        .zip(cnorm)
        .position(|(a, b)| b - 2.0 * a == min)
        .unwrap_or(0)
}

/// Index of the smallest score and the second smallest score.
#[inline]
fn best_two(g: &[f32], cnorm: &[f32]) -> (usize, f32) {
    let (mut best, mut bv, mut sv) = (0usize, f32::INFINITY, f32::INFINITY);
    for (j, (&gj, &nj)) in g.iter().zip(cnorm).enumerate() {
        let v = nj - 2.0 * gj;
        if v < bv {
            sv = bv;
            bv = v;
            best = j;
        } else if v < sv {
            sv = v;
        }
    }
    (best, sv)
}

/// k-means++ seeding, one candidate per step.
fn plus_plus(x: ArrayView2<f32>, k: usize, seed: u64) -> Array2<f32> {
    let (n, d) = x.dim();
    let xs = x.as_slice().expect("standard layout");
    let mut rng = Rng::stream(seed, 0x99);
    let mut centres = Array2::<f32>::zeros((k, d));
    let first = rng.below(n);
    centres.row_mut(0).assign(&x.row(first));
    let mut mind: Vec<f32> = vec![f32::INFINITY; n];
    let mut last = first;
    for j in 1..=k {
        let c = &xs[last * d..(last + 1) * d];
        mind.par_chunks_mut(CHUNK).enumerate().for_each(|(b, m)| {
            for (r, mv) in m.iter_mut().enumerate() {
                let i = b * CHUNK + r;
                let v = dist2(&xs[i * d..(i + 1) * d], c);
                if v < *mv {
                    *mv = v;
                }
            }
        });
        if j == k {
            break;
        }
        let total = block_sum(&mind);
        let next = if total > 0.0 {
            let target = rng.next_f64() * total;
            let mut acc = 0f64;
            let mut pick = n - 1;
            for (i, &v) in mind.iter().enumerate() {
                acc += v as f64;
                if acc > target && v > 0.0 {
                    pick = i;
                    break;
                }
            }
            pick
        } else {
            rng.below(n)
        };
        centres.row_mut(j).assign(&x.row(next));
        last = next;
    }
    centres
}

/// Means of the assigned points; empty clusters take the points farthest from their centre.
fn update_means(
    x: ArrayView2<f32>,
    labels: &[u32],
    dists: &[f32],
    centres: &mut Array2<f32>,
) -> usize {
    let (k, d) = centres.dim();
    let xs = x.as_slice().expect("standard layout");
    // Rows grouped by cluster, in row order within each cluster (a counting sort), so that
    // clusters can be summed in parallel with exactly the sequential rounding.
    let mut counts = vec![0usize; k];
    for &l in labels {
        counts[l as usize] += 1;
    }
    let mut starts = vec![0usize; k + 1];
    for j in 0..k {
        starts[j + 1] = starts[j] + counts[j];
    }
    let mut fill = starts.clone();
    let mut members = vec![0usize; labels.len()];
    for (i, &l) in labels.iter().enumerate() {
        members[fill[l as usize]] = i;
        fill[l as usize] += 1;
    }
    centres
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(j, mut c)| {
            let rows = &members[starts[j]..starts[j + 1]];
            if rows.is_empty() {
                return;
            }
            let c = c.as_slice_mut().expect("contiguous centre row");
            c.fill(0.0);
            for &i in rows {
                for (s, &v) in c.iter_mut().zip(&xs[i * d..(i + 1) * d]) {
                    *s += v;
                }
            }
            let m = rows.len() as f32;
            for s in c.iter_mut() {
                *s /= m;
            }
        });
    let empty: Vec<usize> = (0..k).filter(|&j| counts[j] == 0).collect();
    if !empty.is_empty() {
        let mut order: Vec<usize> = (0..labels.len()).collect();
        order.sort_by(|&a, &b| dists[b].total_cmp(&dists[a]).then(a.cmp(&b)));
        for (&j, &i) in empty.iter().zip(&order) {
            centres.row_mut(j).assign(&x.row(i));
        }
    }
    empty.len()
}

/// Whether the relative energy decrease is below `tol` (never when `tol = 0`).
fn small_decrease(energies: &[f64], tol: f32) -> bool {
    if tol <= 0.0 || energies.len() < 2 {
        return false;
    }
    let (e0, prev, e) = (
        energies[0],
        energies[energies.len() - 2],
        energies[energies.len() - 1],
    );
    let span = e0 - e;
    span <= 0.0 || (prev - e) < tol as f64 * span
}

fn new_model(centres: Array2<f32>) -> KMeans {
    KMeans {
        params: KMeansParams::default(),
        centres,
        energies: Vec::new(),
        n_iter: 0,
        converged: false,
        n_distances: 0,
    }
}

fn lloyd(x: ArrayView2<f32>, centres: Array2<f32>, max_iter: usize, tol: f32) -> KMeans {
    let (n, k) = (x.nrows() as u64, centres.nrows() as u64);
    let mut m = new_model(centres);
    let (mut labels, mut dists, _) = assign(x, m.centres.view(), false);
    m.n_distances += n * k;
    m.energies.push(block_sum(&dists));
    while m.n_iter < max_iter {
        update_means(x, &labels, &dists, &mut m.centres);
        let (l2, d2, _) = assign(x, m.centres.view(), false);
        m.n_distances += n * k;
        m.n_iter += 1;
        let changed = l2.iter().zip(&labels).any(|(a, b)| a != b);
        labels = l2;
        dists = d2;
        m.energies.push(block_sum(&dists));
        if !changed || small_decrease(&m.energies, tol) {
            m.converged = true;
            break;
        }
    }
    m
}

/// Half the distance from each centre to its nearest other centre.
fn half_separation(c: ArrayView2<f32>) -> Vec<f32> {
    let k = c.nrows();
    if k == 1 {
        return vec![f32::INFINITY];
    }
    let g = c.dot(&c.t());
    let nrm = row_norms(c);
    (0..k)
        .map(|a| {
            let mut best = f32::INFINITY;
            for b in 0..k {
                if a != b {
                    best = best.min((nrm[a] + nrm[b] - 2.0 * g[[a, b]]).max(0.0));
                }
            }
            0.5 * best.sqrt()
        })
        .collect()
}

/// Slack that keeps a lower bound derived from a rounded squared distance conservative.
#[inline]
fn lower_from(d2: f32) -> f32 {
    (d2.max(0.0).sqrt() * (1.0 - 1e-5) - 1e-6).max(0.0)
}

fn hamerly(x: ArrayView2<f32>, centres: Array2<f32>, max_iter: usize, tol: f32) -> KMeans {
    let (n, d) = x.dim();
    let k = centres.nrows();
    let xs = x.as_slice().expect("standard layout");
    let mut m = new_model(centres);
    let (mut labels, mut dists, sec) = assign(x, m.centres.view(), true);
    m.n_distances += (n * k) as u64;
    let mut upper: Vec<f32> = dists.iter().map(|v| v.sqrt()).collect();
    let mut lower: Vec<f32> = sec.iter().map(|&v| lower_from(v)).collect();
    m.energies.push(block_sum(&dists));
    while m.n_iter < max_iter {
        let old = m.centres.clone();
        update_means(x, &labels, &dists, &mut m.centres);
        let shift: Vec<f32> = old
            .rows()
            .into_iter()
            .zip(m.centres.rows())
            .map(|(a, b)| {
                dist2(a.as_slice().expect("row"), b.as_slice().expect("row")).sqrt() * (1.0 + 1e-6)
            })
            .collect();
        // The largest and second largest shift: a point's other centres moved at most by the
        // largest shift among centres other than its own.
        let (mut s1, mut s2, mut j1) = (0f32, 0f32, usize::MAX);
        for (j, &v) in shift.iter().enumerate() {
            if v > s1 {
                s2 = s1;
                s1 = v;
                j1 = j;
            } else if v > s2 {
                s2 = v;
            }
        }
        let half = half_separation(m.centres.view());
        let cs = m.centres.as_slice().expect("standard layout");
        // Bound updates and the cheap test, in parallel over fixed blocks.
        let todo: Vec<u32> = upper
            .par_chunks_mut(CHUNK)
            .zip(lower.par_chunks_mut(CHUNK))
            .zip(dists.par_chunks_mut(CHUNK))
            .zip(labels.par_chunks(CHUNK))
            .enumerate()
            .flat_map_iter(|(b, (((up, lo), di), la))| {
                let mut out = Vec::new();
                for r in 0..la.len() {
                    let i = b * CHUNK + r;
                    let a = la[r] as usize;
                    up[r] += shift[a];
                    lo[r] -= if a == j1 { s2 } else { s1 };
                    let bound = half[a].max(lo[r]);
                    if up[r] <= bound {
                        continue;
                    }
                    let exact = dist2(&xs[i * d..(i + 1) * d], &cs[a * d..(a + 1) * d]);
                    di[r] = exact;
                    up[r] = exact.sqrt();
                    if up[r] > bound {
                        out.push(i as u32);
                    }
                }
                out
            })
            .collect();
        // Points whose bounds fail: full search through the matrix product.
        let idx: Vec<usize> = todo.iter().map(|&i| i as usize).collect();
        let sub = x.select(Axis(0), &idx);
        let (l2, d2, sec2) = assign(sub.view(), m.centres.view(), true);
        m.n_distances += (idx.len() * k) as u64;
        let mut changed = false;
        for (t, &i) in idx.iter().enumerate() {
            changed |= labels[i] != l2[t];
            labels[i] = l2[t];
            dists[i] = d2[t];
            upper[i] = d2[t].sqrt();
            lower[i] = lower_from(sec2[t]);
        }
        // Energy of the current assignment, exact for every point.
        let energy: f64 = dists
            .par_chunks_mut(CHUNK)
            .zip(labels.par_chunks(CHUNK))
            .enumerate()
            .map(|(b, (di, la))| {
                let mut e = 0f64;
                for r in 0..la.len() {
                    let i = b * CHUNK + r;
                    let a = la[r] as usize;
                    di[r] = dist2(&xs[i * d..(i + 1) * d], &cs[a * d..(a + 1) * d]);
                    e += di[r] as f64;
                }
                e
            })
            .collect::<Vec<f64>>()
            .iter()
            .sum();
        m.energies.push(energy);
        m.n_iter += 1;
        if !changed || small_decrease(&m.energies, tol) {
            m.converged = true;
            break;
        }
    }
    m
}

fn minibatch(
    x: ArrayView2<f32>,
    centres: Array2<f32>,
    max_iter: usize,
    tol: f32,
    batch_size: usize,
    seed: u64,
) -> KMeans {
    let (n, d) = x.dim();
    let k = centres.nrows();
    let mut m = new_model(centres);
    let mut counts = vec![0u64; k];
    let batch_size = batch_size.min(n);
    for epoch in 0..max_iter {
        let mut order: Vec<usize> = (0..n).collect();
        Rng::stream(seed, 0xba7c_0000 + epoch as u64).shuffle(&mut order);
        let mut energy = 0f64;
        for batch in order.chunks(batch_size) {
            let xb = x.select(Axis(0), batch);
            let (labels, dists, _) = assign(xb.view(), m.centres.view(), false);
            m.n_distances += (batch.len() * k) as u64;
            energy += block_sum(&dists);
            for (row, &l) in xb.rows().into_iter().zip(&labels) {
                let l = l as usize;
                counts[l] += 1;
                let eta = 1.0 / counts[l] as f32;
                for (c, &v) in m.centres.row_mut(l).iter_mut().zip(row.iter()) {
                    *c += eta * (v - *c);
                }
            }
        }
        debug_assert_eq!(m.centres.ncols(), d);
        m.energies.push(energy);
        m.n_iter += 1;
        if small_decrease(&m.energies, tol) {
            m.converged = true;
            break;
        }
    }
    let (_, dists, _) = assign(x, m.centres.view(), false);
    m.n_distances += (n * k) as u64;
    m.energies.push(block_sum(&dists));
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn blobs(n: usize, d: usize, k: usize, seed: u64) -> Array2<f32> {
        let mut rng = Rng::new(seed);
        let centres: Vec<Vec<f32>> = (0..k)
            .map(|_| (0..d).map(|_| rng.uniform(-5.0, 5.0)).collect())
            .collect();
        Array2::from_shape_fn((n, d), |(i, j)| centres[i % k][j] + 0.3 * rng.normal())
    }

    /// The textbook nearest centre, one distance at a time.
    fn reference_quantize(x: ArrayView2<f32>, c: ArrayView2<f32>) -> Vec<(u32, f32)> {
        x.rows()
            .into_iter()
            .map(|r| {
                let mut best = (0u32, f32::INFINITY);
                for (j, cr) in c.rows().into_iter().enumerate() {
                    let v: f32 = r
                        .iter()
                        .zip(cr.iter())
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum();
                    if v < best.1 {
                        best = (j as u32, v);
                    }
                }
                best
            })
            .collect()
    }

    #[test]
    fn quantize_matches_reference() {
        let x = blobs(3000, 37, 20, 1);
        let c = blobs(50, 37, 50, 2);
        let fast = quantize(x.view(), c.view()).unwrap();
        let slow = reference_quantize(x.view(), c.view());
        for (i, &(l, v)) in slow.iter().enumerate() {
            // Labels may only differ at float ties, where the distances agree.
            assert!(
                (fast.distances[i] - v).abs() <= 1e-4 * v.max(1.0),
                "row {i}"
            );
            if fast.labels[i] != l {
                let alt = dist2(
                    x.row(i).as_slice().unwrap(),
                    c.row(l as usize).as_slice().unwrap(),
                );
                assert!((alt - fast.distances[i]).abs() <= 1e-4 * alt.max(1.0));
            }
        }
    }

    #[test]
    fn lloyd_energy_decreases_and_finds_blobs() {
        let x = blobs(600, 5, 4, 3);
        let m = KMeansParams {
            k: 4,
            max_iter: 50,
            ..Default::default()
        }
        .fit_array(x.view())
        .unwrap();
        assert!(m.energies.windows(2).all(|w| w[1] <= w[0] * (1.0 + 1e-9)));
        assert!(m.converged);
        // Four separated blobs of variance 0.09 per dimension: energy per point ~ 5 * 0.09.
        assert!(m.energy() / 600.0 < 0.6, "energy {}", m.energy());
    }

    #[test]
    fn hamerly_matches_lloyd() {
        let x = blobs(2000, 16, 30, 4);
        for init in [KMeansInit::PlusPlus, KMeansInit::Random] {
            let p = KMeansParams {
                k: 25,
                init,
                max_iter: 15,
                ..Default::default()
            };
            let a = p.fit_array(x.view()).unwrap();
            let b = KMeansParams {
                algorithm: KMeansAlgorithm::Hamerly,
                ..p.clone()
            }
            .fit_array(x.view())
            .unwrap();
            assert_eq!(a.n_iter, b.n_iter);
            let diff = (&a.centres - &b.centres)
                .mapv(f32::abs)
                .fold(0f32, |m, &v| m.max(v));
            assert!(diff < 1e-5, "centres differ by {diff}");
            assert!((a.energy() - b.energy()).abs() < 1e-6 * a.energy());
            assert!(b.n_distances < a.n_distances);
        }
    }

    #[test]
    fn minibatch_approaches_lloyd() {
        let x = blobs(4000, 8, 10, 5);
        let base = KMeansParams {
            k: 10,
            max_iter: 30,
            ..Default::default()
        };
        let lloyd = base.fit_array(x.view()).unwrap();
        let mb = KMeansParams {
            algorithm: KMeansAlgorithm::MiniBatch { batch_size: 256 },
            max_iter: 10,
            ..base
        }
        .fit_array(x.view())
        .unwrap();
        assert!(
            mb.energy() < 1.1 * lloyd.energy(),
            "{} vs {}",
            mb.energy(),
            lloyd.energy()
        );
    }

    #[test]
    fn empty_cluster_is_reseeded_at_farthest_point() {
        // Two coincident initial centres: the second gets no points (ties go low).
        let x = ndarray::array![[0.0f32], [1.0], [10.0]];
        let init = ndarray::array![[0.0f32], [0.0]];
        let m = KMeansParams {
            k: 2,
            init: KMeansInit::Given(init),
            max_iter: 1,
            ..Default::default()
        }
        .fit_array(x.view())
        .unwrap();
        // After one update: centre 0 = mean of all = 11/3, centre 1 = farthest point (10).
        assert!((m.centres[[0, 0]] - 11.0 / 3.0).abs() < 1e-6);
        assert_eq!(m.centres[[1, 0]], 10.0);
    }

    #[test]
    fn thread_count_does_not_change_result() {
        let x = blobs(5000, 12, 8, 6);
        let p = KMeansParams {
            k: 8,
            max_iter: 5,
            ..Default::default()
        };
        let run = |t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
                .install(|| p.fit_array(x.view()).unwrap())
        };
        assert_eq!(run(1), run(3));
    }

    #[test]
    fn validation_rules() {
        let x = blobs(10, 3, 2, 7);
        let cases: [crate::pipeline::Case<KMeansParams>; 7] = [
            ("k", |p| p.k = 0),
            ("tol", |p| p.tol = f32::NAN),
            ("tol", |p| p.tol = -1.0),
            ("subsample", |p| p.subsample = Some(0)),
            ("algorithm", |p| {
                p.algorithm = KMeansAlgorithm::MiniBatch { batch_size: 0 }
            }),
            ("init", |p| {
                p.init = KMeansInit::Given(Array2::zeros((3, 3)))
            }),
            ("NonFinite", |p| {
                p.init = KMeansInit::Given(Array2::from_elem((2, 3), f32::NAN))
            }),
        ];
        let base = KMeansParams {
            k: 2,
            ..Default::default()
        };
        crate::pipeline::assert_rejected(&base, &cases, |p| p.fit_array(x.view()));
        assert!(KMeansParams::default().validate().is_ok());
    }

    #[test]
    fn bad_data_is_an_error() {
        let x = blobs(10, 3, 2, 8);
        let p = KMeansParams {
            k: 11,
            ..Default::default()
        };
        assert!(matches!(
            p.fit_array(x.view()),
            Err(Error::InvalidParam { name: "k", .. })
        ));
        let p = KMeansParams {
            k: 2,
            ..Default::default()
        };
        assert!(matches!(
            p.fit_array(Array2::<f32>::zeros((0, 3)).view()),
            Err(Error::EmptyInput { .. })
        ));
        let mut nan = x.clone();
        nan[[4, 1]] = f32::NAN;
        assert!(matches!(
            p.fit_array(nan.view()),
            Err(Error::NonFinite { .. })
        ));
        let given = KMeansParams {
            k: 2,
            init: KMeansInit::Given(Array2::zeros((2, 4))),
            ..Default::default()
        };
        assert!(matches!(
            given.fit_array(x.view()),
            Err(Error::DimensionMismatch { .. })
        ));
        let c = Array2::<f32>::zeros((2, 4));
        assert!(matches!(
            quantize(x.view(), c.view()),
            Err(Error::DimensionMismatch { .. })
        ));
        assert!(matches!(
            quantize(nan.view(), x.view()),
            Err(Error::NonFinite { .. })
        ));
        let empty = quantize(Array2::<f32>::zeros((0, 3)).view(), x.view()).unwrap();
        assert!(empty.labels.is_empty());
    }

    #[test]
    fn pooled_fit_samples_across_images() {
        let x = blobs(300, 4, 3, 9);
        let images: Vec<LocalFeatures> = (0..3)
            .map(|i| LocalFeatures {
                descriptors: x
                    .slice_axis(Axis(0), Slice::from(i * 100..(i + 1) * 100))
                    .to_owned(),
                positions: Vec::new(),
                width: 10,
                height: 10,
            })
            .collect();
        let p = KMeansParams {
            k: 3,
            max_iter: 10,
            ..Default::default()
        };
        // Without subsampling the pool is the whole matrix: same model as fit_array.
        let a = p.fit_pooled(&images).unwrap();
        let b = p.fit_array(x.view()).unwrap();
        assert_eq!(a.centres, b.centres);
        let sub = KMeansParams {
            subsample: Some(50),
            ..p
        };
        let c = sub.fit_pooled(&images).unwrap();
        assert_eq!(c, sub.fit_pooled(&images).unwrap());
        assert!(matches!(sub.fit_pooled(&[]), Err(Error::EmptyInput { .. })));
    }
}
