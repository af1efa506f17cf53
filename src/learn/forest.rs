//! Random forest classifier on feature vectors (Breiman 2001), scikit-learn's
//! `RandomForestClassifier` semantics.
//!
//! # Overview
//! [`RandomForestParams`] grows `n_trees` CART trees ([`crate::learn::tree`]), each on a bootstrap
//! replica of the training set and with `max_features` random candidate features per node;
//! the fitted [`RandomForest`] averages the leaf class distributions of its trees
//! ([`RandomForest::class_probabilities`]) and predicts the most probable class (ties: the
//! lower label).
//!
//! # Usage
//! ```
//! use classic_cv::pipeline::{Fit, Transform};
//! use classic_cv::learn::forest::RandomForestParams;
//! let x = vec![vec![0.0, 1.0], vec![0.1, 0.9], vec![1.0, 0.0], vec![0.9, 0.2]];
//! let params = RandomForestParams { n_trees: 10, ..RandomForestParams::default() };
//! let forest = params.fit(&x, &[0, 0, 1, 1]).unwrap();
//! assert_eq!(forest.transform(&vec![0.95, 0.1]).unwrap(), 1);
//! assert_eq!(forest.class_probabilities(&[0.0, 1.0]).unwrap().len(), 2);
//! ```
//!
//! # Algorithm and conventions
//! - Fitting first turns every column into dense ranks of its distinct training values
//!   (stored as `u8`, `u16` or `u32` per column: 1 byte per value for 8-bit pixels), the
//!   feature source of the tree learner. A split between the adjacent distinct values `a < b`
//!   present in a node has threshold `(a + b) / 2` (or `a` when that rounds to `b`), and
//!   `x <= threshold` goes left: scikit-learn's convention. The histogram scan over ranks is
//!   an exact best-split search (every cut of the sorted node values is scored), not an
//!   approximation by bins.
//! - Bootstrap: `n` draws with replacement, kept as integer weights (multiplicities), as
//!   scikit-learn does; `min_samples_split` counts distinct samples.
//! - `max_features` candidates per node are drawn without replacement; constant ones (on the
//!   node) do not count and drawing goes on, as in scikit-learn.
//! - The random streams differ from scikit-learn's, so trees differ; the accuracies agree
//!   (see the README's ratio table).
//!
//! # Parallelism and determinism
//! Trees are grown in parallel, tree `t` from `Rng::stream(seed, t)`, and collected in
//! order: the forest does not depend on the thread count. Ranking the columns runs in
//! parallel over column blocks. Prediction of a batch runs in parallel over inputs.
//!
//! # References
//! L. Breiman, "Random forests", Machine Learning 45(1), 2001.
//! G. Louppe, *Understanding random forests*, PhD thesis, 2014 (scikit-learn's tree code).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::learn::tree::{Criterion, Draw, FeatureSource, GrowParams, Tree, grow};
use crate::pipeline::{Fit, Label, Transform, check_supervised_fit};
use crate::rng::Rng;
use crate::vecops;

/// How many candidate features a node draws.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxFeatures {
    /// `max(1, floor(sqrt(d)))` (scikit-learn's classifier default).
    #[default]
    Sqrt,
    /// `max(1, floor(log2(d)))`.
    Log2,
    /// All `d` features (bagged trees).
    All,
    /// A fixed count (capped at `d`).
    Count(usize),
    /// A fraction of `d` in (0, 1], at least 1.
    Fraction(f32),
}

impl MaxFeatures {
    /// The count for `d` features.
    pub fn resolve(self, d: usize) -> usize {
        let k = match self {
            MaxFeatures::Sqrt => (d as f64).sqrt().floor() as usize,
            MaxFeatures::Log2 => (d as f64).log2().floor() as usize,
            MaxFeatures::All => d,
            MaxFeatures::Count(k) => k,
            MaxFeatures::Fraction(f) => (f as f64 * d as f64).floor() as usize,
        };
        k.clamp(1, d.max(1))
    }
}

/// Hyperparameters of [`RandomForest`]; defaults are scikit-learn's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomForestParams {
    /// Number of trees.
    pub n_trees: usize,
    /// Maximum depth (root = 0); `None`: grow until the leaves are pure.
    pub max_depth: Option<usize>,
    /// A node with fewer distinct samples is not split (>= 2).
    pub min_samples_split: usize,
    /// Candidate features per node.
    pub max_features: MaxFeatures,
    /// Train each tree on a bootstrap replica (else on the whole set).
    pub bootstrap: bool,
    /// Split criterion.
    pub criterion: Criterion,
    /// Seed of the bootstrap and feature draws.
    pub seed: u64,
}

impl Default for RandomForestParams {
    fn default() -> Self {
        RandomForestParams {
            n_trees: 100,
            max_depth: None,
            min_samples_split: 2,
            max_features: MaxFeatures::Sqrt,
            bootstrap: true,
            criterion: Criterion::Gini,
            seed: 0,
        }
    }
}

impl RandomForestParams {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.n_trees == 0 || self.n_trees > crate::limits::MAX_TREES {
            return Err(Error::param(
                "n_trees",
                format!("must be 1 to {}", crate::limits::MAX_TREES),
            ));
        }
        if self.max_depth == Some(0) {
            return Err(Error::param("max_depth", "must be at least 1 (or null)"));
        }
        if self.min_samples_split < 2 {
            return Err(Error::param("min_samples_split", "must be at least 2"));
        }
        match self.max_features {
            MaxFeatures::Count(0) => {
                return Err(Error::param("max_features", "count must be at least 1"));
            }
            MaxFeatures::Fraction(f) if !(f > 0.0 && f <= 1.0) => {
                return Err(Error::param("max_features", "fraction must be in (0, 1]"));
            }
            _ => {}
        }
        Ok(())
    }
}

/// A fitted random forest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RandomForest {
    /// The params it was fitted with.
    pub params: RandomForestParams,
    /// Length of the feature vectors.
    pub n_features: usize,
    /// Number of classes (`max label + 1`).
    pub n_classes: usize,
    /// The trees; a node's feature is a column index.
    pub trees: Vec<Tree<u32>>,
}

impl crate::persist::Model for RandomForest {
    fn kind() -> String {
        "random-forest".into()
    }

    /// Valid params, at least one tree, a class count within the limits that every tree
    /// shares.
    fn validate_loaded(&self) -> Result<()> {
        self.params.validate()?;
        crate::limits::check_class_count(self.n_classes, "random forest")?;
        if self.trees.is_empty() || self.n_features == 0 {
            return Err(Error::EmptyInput {
                what: "trees (or features) of the random forest",
            });
        }
        for t in &self.trees {
            if t.n_classes as usize != self.n_classes {
                return Err(Error::DimensionMismatch {
                    what: "classes of a tree of the random forest",
                    expected: self.n_classes,
                    found: t.n_classes as usize,
                });
            }
        }
        Ok(())
    }
}

/// Column codes in the narrowest integer type that holds the ranks.
enum Codes {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
}

/// The training table as ranked columns: the feature source of the tabular forest.
struct Ranked {
    codes: Vec<Codes>,
    /// Sorted distinct values of each column (rank -> value).
    values: Vec<Vec<f32>>,
}

impl Ranked {
    /// Ranks every column of `rows`; fails on ragged or non-finite rows.
    fn new(rows: &[Vec<f32>]) -> Result<Self> {
        let d = rows[0].len();
        if d == 0 {
            return Err(Error::EmptyInput {
                what: "feature vectors (length 0)",
            });
        }
        crate::pipeline::check_row_lengths(rows, d)?;
        const BLOCK: usize = 16;
        let blocks: Vec<Result<Vec<RankedColumn>>> = (0..d.div_ceil(BLOCK))
            .into_par_iter()
            .map(|b| {
                let cols = b * BLOCK..((b + 1) * BLOCK).min(d);
                let mut raw: Vec<Vec<f32>> = vec![Vec::with_capacity(rows.len()); cols.len()];
                for r in rows {
                    for (k, j) in cols.clone().enumerate() {
                        raw[k].push(r[j] + 0.0); // -0.0 -> 0.0
                    }
                }
                raw.into_iter().map(rank_column).collect()
            })
            .collect();
        let mut codes = Vec::with_capacity(d);
        let mut values = Vec::with_capacity(d);
        for b in blocks {
            for (c, v) in b? {
                codes.push(c);
                values.push(v);
            }
        }
        Ok(Ranked { codes, values })
    }
}

/// A column's codes and its sorted distinct values.
type RankedColumn = (Codes, Vec<f32>);

fn rank_column(col: Vec<f32>) -> Result<RankedColumn> {
    crate::error::check_finite(&col, "features")?;
    let mut sorted = col.clone();
    sorted.sort_unstable_by(f32::total_cmp);
    sorted.dedup();
    let rank = |v: &f32| {
        sorted
            .binary_search_by(|p| p.total_cmp(v))
            .expect("value is in its own column")
    };
    let codes = if sorted.len() <= 1 << 8 {
        Codes::U8(col.iter().map(|v| rank(v) as u8).collect())
    } else if sorted.len() <= 1 << 16 {
        Codes::U16(col.iter().map(|v| rank(v) as u16).collect())
    } else {
        Codes::U32(col.iter().map(|v| rank(v) as u32).collect())
    };
    Ok((codes, sorted))
}

impl FeatureSource for Ranked {
    type Feature = u32;

    fn draw(&self, rng: &mut Rng, draw: &mut Draw) -> Option<u32> {
        draw.without_replacement(rng, self.codes.len())
            .map(|f| f as u32)
    }

    fn codes(&self, feature: &u32, samples: &[u32], out: &mut [u32]) {
        match &self.codes[*feature as usize] {
            Codes::U8(c) => {
                for (o, &s) in out.iter_mut().zip(samples) {
                    *o = c[s as usize] as u32;
                }
            }
            Codes::U16(c) => {
                for (o, &s) in out.iter_mut().zip(samples) {
                    *o = c[s as usize] as u32;
                }
            }
            Codes::U32(c) => {
                for (o, &s) in out.iter_mut().zip(samples) {
                    *o = c[s as usize];
                }
            }
        }
    }

    fn threshold(&self, feature: &u32, left: u32, right: u32) -> f32 {
        let v = &self.values[*feature as usize];
        let (a, b) = (v[left as usize], v[right as usize]);
        let t = (a as f64 / 2.0 + b as f64 / 2.0) as f32;
        if t >= b || !t.is_finite() { a } else { t }
    }
}

impl Fit for RandomForestParams {
    type Input = Vec<f32>;
    type Fitted = RandomForest;

    fn fit(&self, inputs: &[Vec<f32>], labels: &[Label]) -> Result<RandomForest> {
        let n_classes = check_supervised_fit(self.validate(), inputs, labels)?;
        if inputs.len() > u32::MAX as usize / 2 {
            return Err(Error::param("inputs", "too many samples for one forest"));
        }
        let source = Ranked::new(inputs)?;
        let n = inputs.len();
        let d = source.codes.len();
        let grow_params = GrowParams {
            n_classes,
            max_depth: self.max_depth.unwrap_or(usize::MAX),
            min_samples_split: self.min_samples_split,
            max_features: self.max_features.resolve(d),
            criterion: self.criterion,
            parallel_work: usize::MAX,
            max_split_samples: usize::MAX,
        };
        let samples: Vec<u32> = (0..n as u32).collect();
        let progress = crate::progress::start("random forest", self.n_trees as u64);
        let trees: Vec<Tree<u32>> = (0..self.n_trees)
            .into_par_iter()
            .map(|t| {
                let mut rng = Rng::stream(self.seed, t as u64);
                let mut weights = vec![if self.bootstrap { 0u32 } else { 1 }; n];
                if self.bootstrap {
                    for _ in 0..n {
                        weights[rng.below(n)] += 1;
                    }
                }
                let tree = grow(&source, &samples, &weights, labels, &grow_params, &mut rng);
                progress.inc(1);
                tree
            })
            .collect();
        progress.finish();
        Ok(RandomForest {
            params: self.clone(),
            n_features: d,
            n_classes,
            trees,
        })
    }
}

impl RandomForest {
    fn check_input(&self, x: &[f32]) -> Result<()> {
        if x.len() != self.n_features {
            return Err(Error::DimensionMismatch {
                what: "feature vector length",
                expected: self.n_features,
                found: x.len(),
            });
        }
        crate::error::check_finite(x, "features")
    }

    /// Mean of the trees' leaf distributions: one probability per class.
    pub fn class_probabilities(&self, x: &[f32]) -> Result<Vec<f32>> {
        self.check_input(x)?;
        let mut acc = vec![0f32; self.n_classes];
        for tree in &self.trees {
            let d = tree
                .predict(|&f| x.get(f as usize).copied().unwrap_or(f32::NAN))
                .filter(|d| d.len() == self.n_classes)
                .ok_or_else(|| Error::format("", "random forest holds a malformed tree"))?;
            for (a, p) in acc.iter_mut().zip(d) {
                *a += p;
            }
        }
        let k = 1.0 / self.trees.len().max(1) as f32;
        acc.iter_mut().for_each(|a| *a *= k);
        Ok(acc)
    }
}

impl Transform for RandomForest {
    type Input = Vec<f32>;
    type Output = Label;

    fn transform(&self, input: &Vec<f32>) -> Result<Label> {
        Ok(vecops::argmax(&self.class_probabilities(input)?) as Label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_features_resolves_like_sklearn() {
        assert_eq!(MaxFeatures::Sqrt.resolve(784), 28);
        assert_eq!(MaxFeatures::Log2.resolve(784), 9);
        assert_eq!(MaxFeatures::All.resolve(5), 5);
        assert_eq!(MaxFeatures::Count(50).resolve(5), 5);
        assert_eq!(MaxFeatures::Fraction(0.5).resolve(5), 2);
        assert_eq!(MaxFeatures::Fraction(0.01).resolve(5), 1);
    }

    #[test]
    fn thresholds_are_midpoints_of_adjacent_values() {
        let rows = vec![vec![0.1], vec![0.2], vec![0.3], vec![0.5]];
        let r = Ranked::new(&rows).unwrap();
        assert_eq!(r.threshold(&0, 0, 3), 0.3);
        assert_eq!(r.threshold(&0, 1, 2), 0.25);
        // Adjacent floats: the midpoint rounds onto b, so the threshold is a.
        let a = 1.0f32;
        let b = f32::from_bits(a.to_bits() + 1);
        let r = Ranked::new(&[vec![a], vec![b]]).unwrap();
        assert_eq!(r.threshold(&0, 0, 1), a);
    }

    #[test]
    fn wide_columns_use_wider_codes() {
        let rows: Vec<Vec<f32>> = (0..300).map(|i| vec![i as f32, (i % 3) as f32]).collect();
        let r = Ranked::new(&rows).unwrap();
        assert!(matches!(r.codes[0], Codes::U16(_)));
        assert!(matches!(r.codes[1], Codes::U8(_)));
        let mut out = vec![0; 3];
        r.codes(&0, &[299, 0, 7], &mut out);
        assert_eq!(out, vec![299, 0, 7]);
    }
}
