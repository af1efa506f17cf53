//! Descriptor matching: brute-force nearest neighbours in L2, Lowe's ratio test and an optional
//! mutual (cross-check) condition, as OpenCV's `BFMatcher(NORM_L2).knnMatch(k = 2)` followed by
//! `m.distance < ratio · n.distance` (Lowe 2004, section 7.1).
//!
//! # Algorithm
//! Query rows are processed in fixed blocks of [`QUERY_BLOCK`] rows (in parallel; every block's
//! result depends only on its rows, so matches do not depend on the thread count). In a block
//! the squared distances come from one matrix product, `|q|² + |t|² - 2 q·t` (ndarray's
//! `general_mat_mul`); the three nearest train rows of each query by that value are then
//! re-ranked by their exact squared distance ([`crate::vecops::sq_dist`]), so the returned
//! distances are exact and the candidates can differ from an exhaustive exact scan only when
//! two distances tie within the rounding of the product identity (about `1e-6` for unit
//! descriptors). Ties go to the lower train index.
//!
//! A query's nearest train row `j` is kept when `d1 < ratio · d2` (`d2` the second-nearest
//! distance; infinity when the train set has one row) and, with [`MatchParams::mutual`], when
//! the query is also the nearest query row of `j` (by the product values, lower query index
//! on ties).

use ndarray::{Array2, ArrayView2, Axis, linalg::general_mat_mul, s};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::vecops;

/// Query rows per block of the matrix product.
pub const QUERY_BLOCK: usize = 128;

/// Parameters of [`match_descriptors`]; defaults: Lowe's ratio 0.8, no cross-check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchParams {
    /// Ratio test threshold in (0, 1]: keep a match when `d1 < ratio · d2`.
    pub ratio: f32,
    /// Keep only mutual nearest neighbours (the train row's nearest query is the query).
    pub mutual: bool,
}

impl Default for MatchParams {
    fn default() -> Self {
        MatchParams {
            ratio: 0.8,
            mutual: false,
        }
    }
}

impl MatchParams {
    /// Checks the ratio's range.
    pub fn validate(&self) -> Result<()> {
        if !(self.ratio > 0.0 && self.ratio <= 1.0) {
            return Err(Error::param(
                "ratio",
                format!("must be in (0, 1], got {}", self.ratio),
            ));
        }
        Ok(())
    }
}

/// One accepted match.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DescriptorMatch {
    /// Row of the query descriptor.
    pub query: usize,
    /// Row of its nearest train descriptor.
    pub train: usize,
    /// L2 distance to the nearest train descriptor.
    pub distance: f32,
    /// L2 distance to the second-nearest one (infinity when there is none).
    pub second: f32,
}

/// Per query of a block: the two nearest train rows (exact squared distances), and per train
/// row the block's nearest query (product value, query index).
struct BlockResult {
    nearest: Vec<[(f32, usize); 2]>,
    column_min: Vec<(f32, usize)>,
}

/// Matches every query row to its nearest train row and keeps those that pass the ratio test
/// (and the cross-check with `mutual`), in query order.
///
/// Errors: invalid params, descriptors of different lengths, non-finite values.
pub fn match_descriptors(
    query: ArrayView2<f32>,
    train: ArrayView2<f32>,
    params: &MatchParams,
) -> Result<Vec<DescriptorMatch>> {
    params.validate()?;
    if query.ncols() != train.ncols() {
        return Err(Error::DimensionMismatch {
            what: "train descriptors",
            expected: query.ncols(),
            found: train.ncols(),
        });
    }
    if !query.iter().all(|v| v.is_finite()) {
        return Err(Error::NonFinite {
            what: "query descriptors",
        });
    }
    if !train.iter().all(|v| v.is_finite()) {
        return Err(Error::NonFinite {
            what: "train descriptors",
        });
    }
    if query.nrows() == 0 || train.nrows() == 0 {
        return Ok(Vec::new());
    }
    let train = train.as_standard_layout();
    let query = query.as_standard_layout();
    let train_sq: Vec<f32> = train
        .rows()
        .into_iter()
        .map(|r| vecops::sum_sq(r.as_slice().unwrap()))
        .collect();
    let starts: Vec<usize> = (0..query.nrows()).step_by(QUERY_BLOCK).collect();
    let blocks: Vec<BlockResult> = starts
        .par_iter()
        .map(|&start| match_block(query.view(), start, train.view(), &train_sq))
        .collect();
    let mut owner = vec![(f32::INFINITY, usize::MAX); train.nrows()];
    if params.mutual {
        for b in &blocks {
            for (o, &c) in owner.iter_mut().zip(&b.column_min) {
                if c.0 < o.0 {
                    *o = c;
                }
            }
        }
    }
    let mut out = Vec::new();
    for (qi, nn) in blocks.iter().flat_map(|b| &b.nearest).enumerate() {
        let (d1, d2) = (nn[0].0.sqrt(), nn[1].0.sqrt());
        let train_row = nn[0].1;
        if d1 < params.ratio * d2 && (!params.mutual || owner[train_row].1 == qi) {
            out.push(DescriptorMatch {
                query: qi,
                train: train_row,
                distance: d1,
                second: d2,
            });
        }
    }
    Ok(out)
}

/// Nearest neighbours of the query rows `start..start + QUERY_BLOCK`.
fn match_block(
    query: ArrayView2<f32>,
    start: usize,
    train: ArrayView2<f32>,
    train_sq: &[f32],
) -> BlockResult {
    let end = (start + QUERY_BLOCK).min(query.nrows());
    let q = query.slice(s![start..end, ..]);
    let nt = train.nrows();
    let mut g = Array2::<f32>::zeros((end - start, nt));
    general_mat_mul(-2.0, &q, &train.t(), 0.0, &mut g);
    let mut column_min = vec![(f32::INFINITY, usize::MAX); nt];
    let mut nearest = Vec::with_capacity(end - start);
    for (r, row) in g.axis_iter_mut(Axis(0)).enumerate() {
        let qi = start + r;
        let qrow = query.row(qi);
        let qv = qrow.as_slice().unwrap();
        let q_sq = vecops::sum_sq(qv);
        // Three smallest approximate distances, ascending (ties: lower index first).
        let mut top = [(f32::INFINITY, usize::MAX); 3];
        for (j, (&v, cm)) in row.iter().zip(column_min.iter_mut()).enumerate() {
            let d = v + train_sq[j] + q_sq;
            if d < cm.0 {
                *cm = (d, qi);
            }
            if d < top[2].0 {
                let pos = top.iter().position(|t| d < t.0).unwrap();
                top.copy_within(pos..2, pos + 1);
                top[pos] = (d, j);
            }
        }
        let mut exact: Vec<(f32, usize)> = top
            .iter()
            .filter(|t| t.1 != usize::MAX)
            .map(|&(_, j)| {
                (
                    vecops::sq_dist(qv, train.row(j).as_slice().unwrap()).max(0.0),
                    j,
                )
            })
            .collect();
        exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        exact.push((f32::INFINITY, usize::MAX));
        nearest.push([exact[0], exact[1]]);
    }
    BlockResult {
        nearest,
        column_min,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random(n: usize, d: usize, seed: u64) -> Array2<f32> {
        let mut rng = Rng::new(seed);
        Array2::from_shape_fn((n, d), |_| rng.next_f32())
    }

    /// Exhaustive exact scan in f64.
    fn naive(q: &Array2<f32>, t: &Array2<f32>, ratio: f32, mutual: bool) -> Vec<(usize, usize)> {
        let dist = |a: ndarray::ArrayView1<f32>, b: ndarray::ArrayView1<f32>| {
            a.iter()
                .zip(b)
                .map(|(x, y)| ((x - y) as f64).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let mut out = Vec::new();
        for (i, qr) in q.rows().into_iter().enumerate() {
            let mut d: Vec<(f64, usize)> = t
                .rows()
                .into_iter()
                .map(|tr| dist(qr, tr))
                .zip(0..)
                .collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0));
            let second = d.get(1).map_or(f64::INFINITY, |x| x.0);
            let j = d[0].1;
            let back = q
                .rows()
                .into_iter()
                .map(|r| dist(r, t.row(j)))
                .zip(0..)
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .unwrap()
                .1;
            if (d[0].0 as f32) < ratio * second as f32 && (!mutual || back == i) {
                out.push((i, j));
            }
        }
        out
    }

    #[test]
    fn matches_equal_the_exhaustive_reference() {
        let t = random(300, 128, 1);
        // Queries near some train rows (true matches) and unrelated ones.
        let mut rng = Rng::new(2);
        let q = Array2::from_shape_fn((333, 128), |(i, k)| {
            if i % 3 == 0 {
                t[[(i * 7) % 300, k]] + 0.05 * rng.normal()
            } else {
                rng.next_f32()
            }
        });
        for (ratio, mutual) in [(0.8, false), (0.8, true), (1.0, true), (0.95, false)] {
            let got =
                match_descriptors(q.view(), t.view(), &MatchParams { ratio, mutual }).unwrap();
            let pairs: Vec<(usize, usize)> = got.iter().map(|m| (m.query, m.train)).collect();
            assert_eq!(
                pairs,
                naive(&q, &t, ratio, mutual),
                "ratio {ratio} mutual {mutual}"
            );
            for m in &got {
                let d = vecops::sq_dist(
                    q.row(m.query).as_slice().unwrap(),
                    t.row(m.train).as_slice().unwrap(),
                );
                assert!((m.distance - d.sqrt()).abs() < 1e-6 && m.distance <= m.second);
            }
        }
        let n_true = match_descriptors(q.view(), t.view(), &MatchParams::default()).unwrap();
        assert!(
            n_true
                .iter()
                .filter(|m| m.query % 3 == 0 && m.train == (m.query * 7) % 300)
                .count()
                == 111
        );
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let (q, t) = (random(500, 32, 3), random(400, 32, 4));
        let p = MatchParams {
            ratio: 0.95,
            mutual: true,
        };
        let run = |n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
                .install(|| match_descriptors(q.view(), t.view(), &p).unwrap())
        };
        assert_eq!(run(1), run(3));
    }

    #[test]
    fn edge_cases_and_bad_inputs() {
        let t = random(1, 8, 5);
        let q = random(4, 8, 6);
        // One train row: no second neighbour, every query matches it.
        let m = match_descriptors(q.view(), t.view(), &MatchParams::default()).unwrap();
        assert_eq!(m.len(), 4);
        assert!(m.iter().all(|m| m.train == 0 && m.second.is_infinite()));
        let empty = Array2::<f32>::zeros((0, 8));
        assert!(
            match_descriptors(empty.view(), t.view(), &MatchParams::default())
                .unwrap()
                .is_empty()
        );
        let wrong = random(3, 7, 7);
        assert!(matches!(
            match_descriptors(q.view(), wrong.view(), &MatchParams::default()),
            Err(Error::DimensionMismatch { .. })
        ));
        let mut nan = q.clone();
        nan[[1, 2]] = f32::NAN;
        assert!(matches!(
            match_descriptors(nan.view(), t.view(), &MatchParams::default()),
            Err(Error::NonFinite { .. })
        ));
        for ratio in [0.0, 1.5, f32::NAN] {
            let p = MatchParams {
                ratio,
                mutual: false,
            };
            assert!(matches!(
                match_descriptors(q.view(), t.view(), &p),
                Err(Error::InvalidParam { .. })
            ));
        }
    }
}
