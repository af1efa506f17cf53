//! Model selection: stratified splits, stratified k-fold, cross-validation and grid search.
//!
//! # Overview
//! - [`stratified_k_fold`] splits sample indices into `k` folds with the class proportions
//!   of the whole set, assigning exactly the folds of scikit-learn's
//!   `StratifiedKFold(n_splits=k, shuffle=False)`, so a grid search here and a
//!   `GridSearchCV` there score the same train/test pairs.
//! - [`stratified_split`] draws a seeded train/validation split per class.
//! - [`grid_search`] fits every candidate params on every fold's training part and scores
//!   accuracy on its test part; it works for any [`Fit`] whose fitted form predicts labels
//!   (a single learner, a [`crate::pipeline::Chain`], a runtime-chosen pipeline config).
//!   [`GridResult::table`] formats the results.
//! - [`grid_search_pipelines`] is the same search over pipeline configs with an explicit
//!   [`EncodingCache`]: the encoder stages of each fold are fitted and applied once and reused
//!   by every candidate that differs only after them.
//!
//! # Usage
//! ```
//! use classic_cv::learn::knn::KnnParams;
//! use classic_cv::classify::select::{grid_search, stratified_k_fold};
//! let x: Vec<Vec<f32>> = (0..30).map(|i| vec![(i % 2) as f32 * 5.0 + (i as f32) * 0.01]).collect();
//! let y: Vec<u32> = (0..30).map(|i| (i % 2) as u32).collect();
//! let folds = stratified_k_fold(&y, 3).unwrap();
//! let grid: Vec<KnnParams> = [1, 3, 5].iter().map(|&k| KnnParams { k, ..Default::default() }).collect();
//! let result = grid_search(&grid, &x, &y, &folds).unwrap();
//! assert_eq!(result.best, 0);
//! assert_eq!(result.scores[0].mean, 1.0);
//! ```
//!
//! # Conventions
//! A candidate's score is the unweighted mean of its fold accuracies, `((a_0 + a_1) + ...)
//! / k` in `f64`; the best candidate is the first with the highest mean (scikit-learn's
//! `rank_test_score` order). The standard deviation is the population one (`ddof = 0`).
//!
//! # Parallelism
//! All (candidate, fold) pairs run in parallel; each fit is itself deterministic, and the
//! scores are collected in (candidate, fold) order, so the result does not depend on the
//! thread count.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::classify::config::PipelineConfig;
use crate::encode::encoder::EncodingCache;
use crate::error::{Error, Result};
use crate::image::Image;
use crate::pipeline::{Fit, Label, Transform};
use crate::rng::Rng;

/// One train/test split of sample indices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fold {
    /// Indices to fit on, ascending.
    pub train: Vec<usize>,
    /// Indices to score on, ascending.
    pub test: Vec<usize>,
}

/// The scores of one candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    /// Accuracy on each fold's test part.
    pub fold_scores: Vec<f64>,
    /// Mean of the fold scores.
    pub mean: f64,
    /// Population standard deviation of the fold scores.
    pub std: f64,
    /// 1 for the best mean; equal means share the lowest rank.
    pub rank: usize,
}

/// The outcome of [`grid_search`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridResult {
    /// One entry per candidate, in the order given.
    pub scores: Vec<CandidateScore>,
    /// Index of the best candidate (the first with the highest mean).
    pub best: usize,
}

/// scikit-learn's `StratifiedKFold(n_folds, shuffle=False)`: classes are taken in order of
/// first appearance; the class-sorted labels are dealt round-robin to the folds to decide
/// how many of each class every fold gets; then each class's samples, in index order, fill
/// fold 0 first, then fold 1, and so on.
pub fn stratified_k_fold(labels: &[Label], n_folds: usize) -> Result<Vec<Fold>> {
    if n_folds < 2 {
        return Err(Error::param("n_folds", "must be at least 2"));
    }
    if n_folds > labels.len() {
        return Err(Error::param(
            "n_folds",
            format!(
                "{n_folds} folds need at least {n_folds} samples, got {}",
                labels.len()
            ),
        ));
    }
    // Encode classes by order of first appearance.
    let mut code_of = std::collections::HashMap::new();
    let mut first_seen = Vec::new();
    for &l in labels {
        code_of.entry(l).or_insert_with(|| {
            first_seen.push(l);
            first_seen.len() - 1
        });
    }
    let encoded: Vec<usize> = labels.iter().map(|l| code_of[l]).collect();
    let n_classes = first_seen.len();
    let mut counts = vec![0usize; n_classes];
    for &c in &encoded {
        counts[c] += 1;
    }
    if counts.iter().all(|&c| c < n_folds) {
        return Err(Error::param(
            "n_folds",
            format!("{n_folds} folds exceed the size of every class"),
        ));
    }
    let mut sorted = encoded.clone();
    sorted.sort_unstable();
    let mut allocation = vec![vec![0usize; n_classes]; n_folds];
    for (i, &c) in sorted.iter().enumerate() {
        allocation[i % n_folds][c] += 1;
    }
    let mut test_fold = vec![0usize; labels.len()];
    let mut next_slot = vec![(0usize, 0usize); n_classes]; // (fold, used in fold)
    for (i, &c) in encoded.iter().enumerate() {
        let (f, used) = &mut next_slot[c];
        while allocation[*f][c] == *used {
            *f += 1;
            *used = 0;
        }
        test_fold[i] = *f;
        *used += 1;
    }
    Ok((0..n_folds)
        .map(|f| Fold {
            train: (0..labels.len()).filter(|&i| test_fold[i] != f).collect(),
            test: (0..labels.len()).filter(|&i| test_fold[i] == f).collect(),
        })
        .collect())
}

/// A seeded stratified train/validation split: in each class, `round(validation_fraction *
/// count)` samples (at least one when the class has two or more) go to validation.
/// Returns `(train, validation)` indices, ascending.
pub fn stratified_split(
    labels: &[Label],
    validation_fraction: f32,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(validation_fraction > 0.0 && validation_fraction < 1.0) {
        return Err(Error::param("validation_fraction", "must be in (0, 1)"));
    }
    if labels.is_empty() {
        return Err(Error::EmptyInput { what: "labels" });
    }
    let n_classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let mut by_class = vec![Vec::new(); n_classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    let mut is_val = vec![false; labels.len()];
    for (c, members) in by_class.iter_mut().enumerate() {
        let take = ((validation_fraction * members.len() as f32).round() as usize)
            .max(usize::from(members.len() >= 2))
            .min(members.len().saturating_sub(1));
        Rng::stream(seed, c as u64).shuffle(members);
        for &i in &members[..take] {
            is_val[i] = true;
        }
    }
    let train: Vec<usize> = (0..labels.len()).filter(|&i| !is_val[i]).collect();
    let val: Vec<usize> = (0..labels.len()).filter(|&i| is_val[i]).collect();
    if val.is_empty() {
        return Err(Error::param(
            "validation_fraction",
            "leaves no validation sample",
        ));
    }
    Ok((train, val))
}

/// Fits `params` on each fold's training part and returns the accuracy on its test part.
pub fn cross_validate<P>(
    params: &P,
    inputs: &[P::Input],
    labels: &[Label],
    folds: &[Fold],
) -> Result<Vec<f64>>
where
    P: Fit,
    P::Input: Clone + Send,
    P::Fitted: Transform<Output = Label>,
{
    Ok(
        grid_search(std::slice::from_ref(params), inputs, labels, folds)?.scores[0]
            .fold_scores
            .clone(),
    )
}

/// Scores every candidate on every fold (all pairs in parallel) and picks the best.
pub fn grid_search<P>(
    candidates: &[P],
    inputs: &[P::Input],
    labels: &[Label],
    folds: &[Fold],
) -> Result<GridResult>
where
    P: Fit,
    P::Input: Clone + Send,
    P::Fitted: Transform<Output = Label>,
{
    check_grid(candidates.len(), inputs, labels, folds)?;
    score_all(
        candidates,
        inputs,
        labels,
        folds,
        |p, x, y| p.fit(x, y),
        |m, x| m.transform_batch(x),
    )
}

/// [`grid_search`] over pipeline configs, their encoder stages (dense SIFT + codebook +
/// encoding) fitted and applied through `cache`: once per fold, then reused by every
/// candidate that differs only after them. The scores are those of [`grid_search`].
pub fn grid_search_pipelines(
    candidates: &[PipelineConfig],
    images: &[Image],
    labels: &[Label],
    folds: &[Fold],
    cache: &EncodingCache,
) -> Result<GridResult> {
    check_grid(candidates.len(), images, labels, folds)?;
    score_all(
        candidates,
        images,
        labels,
        folds,
        |p, x, y| p.fit_with(x, y, Some(cache)),
        |m, x| m.transform_batch_with(x, Some(cache)),
    )
}

/// The checks of a grid search, in this order: some candidates, some folds, inputs and
/// labels that match, fold indices in range, no empty test part.
fn check_grid<T>(
    n_candidates: usize,
    inputs: &[T],
    labels: &[Label],
    folds: &[Fold],
) -> Result<()> {
    if n_candidates == 0 {
        return Err(Error::EmptyInput {
            what: "grid of candidates",
        });
    }
    if folds.is_empty() {
        return Err(Error::EmptyInput { what: "folds" });
    }
    crate::pipeline::check_fit_inputs(inputs, labels)?;
    for fold in folds {
        if let Some(&i) = fold
            .train
            .iter()
            .chain(&fold.test)
            .find(|&&i| i >= labels.len())
        {
            return Err(Error::param(
                "folds",
                format!("index {i} is outside the {} samples", labels.len()),
            ));
        }
        if fold.test.is_empty() {
            return Err(Error::EmptyInput {
                what: "test part of a fold",
            });
        }
    }
    Ok(())
}

/// The scores of every (candidate, fold) pair, in parallel, and the ranking: `fit` fits a
/// candidate on a fold's training part, `predict` labels its test part.
fn score_all<P>(
    candidates: &[P],
    inputs: &[P::Input],
    labels: &[Label],
    folds: &[Fold],
    fit: impl Fn(&P, &[P::Input], &[Label]) -> Result<P::Fitted> + Sync,
    predict: impl Fn(&P::Fitted, &[P::Input]) -> Result<Vec<Label>> + Sync,
) -> Result<GridResult>
where
    P: Fit,
    P::Input: Clone + Send,
    P::Fitted: Transform<Output = Label>,
{
    let jobs: Vec<(usize, usize)> = (0..candidates.len())
        .flat_map(|c| (0..folds.len()).map(move |f| (c, f)))
        .collect();
    let scores: Vec<f64> = jobs
        .par_iter()
        .map(|&(c, f)| {
            let fold = &folds[f];
            let pick = |idx: &[usize]| -> (Vec<P::Input>, Vec<Label>) {
                idx.iter().map(|&i| (inputs[i].clone(), labels[i])).unzip()
            };
            let (x_train, y_train) = pick(&fold.train);
            let (x_test, y_test) = pick(&fold.test);
            let model = fit(&candidates[c], &x_train, &y_train)?;
            let predicted = predict(&model, &x_test)?;
            crate::classify::metrics::accuracy(&y_test, &predicted)
        })
        .collect::<Result<_>>()?;
    let mut result: Vec<CandidateScore> = scores
        .chunks(folds.len())
        .map(|s| {
            let mean = s.iter().fold(0.0, |a, b| a + b) / s.len() as f64;
            let var = s.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / s.len() as f64;
            CandidateScore {
                fold_scores: s.to_vec(),
                mean,
                std: var.sqrt(),
                rank: 0,
            }
        })
        .collect();
    let means: Vec<f64> = result.iter().map(|r| r.mean).collect();
    for r in &mut result {
        r.rank = 1 + means.iter().filter(|&&m| m > r.mean).count();
    }
    let best = result.iter().position(|r| r.rank == 1).unwrap_or(0);
    Ok(GridResult {
        scores: result,
        best,
    })
}

impl GridResult {
    /// A text table, one line per candidate (`names[i]` describes candidate `i`), with fold
    /// scores, mean, standard deviation and rank; the best is marked with `*`.
    pub fn table(&self, names: &[String]) -> String {
        let width = names.iter().map(String::len).max().unwrap_or(9).max(9);
        let n_folds = self.scores.first().map_or(0, |s| s.fold_scores.len());
        let mut out = format!("{:>4}  {:<width$}", "rank", "candidate");
        for f in 0..n_folds {
            out += &format!("  {:>7}", format!("fold{f}"));
        }
        out += "     mean      std\n";
        for (i, s) in self.scores.iter().enumerate() {
            let mark = if i == self.best { "*" } else { " " };
            let name = names.get(i).map_or("?", String::as_str);
            out += &format!("{:>3}{mark}  {name:<width$}", s.rank);
            for v in &s.fold_scores {
                out += &format!("  {v:>7.4}");
            }
            out += &format!("  {:>7.4}  {:>7.4}\n", s.mean, s.std);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_fold_matches_scikit_learn() {
        // StratifiedKFold(3).split(np.zeros(10), y) for y below gives these test folds
        // (computed with scikit-learn 1.9).
        let y = [1, 1, 0, 0, 0, 1, 0, 2, 2, 1];
        let folds = stratified_k_fold(&y, 3).unwrap();
        let tests: Vec<Vec<usize>> = folds.iter().map(|f| f.test.clone()).collect();
        assert_eq!(tests, vec![vec![0, 1, 2, 7], vec![3, 4, 5], vec![6, 8, 9]]);
        for f in &folds {
            let mut all: Vec<usize> = f.train.iter().chain(&f.test).copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn stratified_split_keeps_proportions() {
        let y: Vec<Label> = (0..100).map(|i| if i < 80 { 0 } else { 1 }).collect();
        let (train, val) = stratified_split(&y, 0.25, 3).unwrap();
        assert_eq!(val.len(), 25);
        assert_eq!(val.iter().filter(|&&i| y[i] == 1).count(), 5);
        assert_eq!(train.len() + val.len(), 100);
        assert_eq!(stratified_split(&y, 0.25, 3).unwrap().1, val);
    }

    #[test]
    fn bad_fold_counts_are_errors() {
        assert!(matches!(
            stratified_k_fold(&[0, 1, 0, 1], 1),
            Err(Error::InvalidParam {
                name: "n_folds",
                ..
            })
        ));
        assert!(matches!(
            stratified_k_fold(&[0, 1], 3),
            Err(Error::InvalidParam {
                name: "n_folds",
                ..
            })
        ));
        assert!(matches!(
            stratified_split(&[0, 1], 1.5, 0),
            Err(Error::InvalidParam { .. })
        ));
    }

    /// Pipeline grid search through an encoding cache scores exactly as the plain grid
    /// search, and the cache is used.
    #[test]
    fn cached_pipeline_search_equals_the_plain_one() {
        let images: Vec<Image> = (0..24)
            .map(|i| {
                Image::from_fn(24, 24, |x, y| {
                    let bar = if i % 2 == 0 { x } else { y };
                    (((bar + i) % 6) as f32 / 5.0 + 0.01 * ((x * y + i) % 7) as f32).min(1.0)
                })
            })
            .collect();
        let labels: Vec<Label> = (0..24).map(|i| (i % 2) as Label).collect();
        let config = |c: f32| {
            PipelineConfig::from_json(
                &format!(
                    r#"{{"features": {{"encoder": {{"sift": {{"step": 4, "bin_size": 4}},
                    "encoding": "vlad", "k": 4}}}}, "classifier": {{"linear_svm": {{"c": {c}}}}}}}"#
                ),
                "test",
            )
            .unwrap()
        };
        let grid = [config(0.1), config(1.0), config(10.0)];
        let folds = stratified_k_fold(&labels, 3).unwrap();
        let plain = grid_search(&grid, &images, &labels, &folds).unwrap();
        let cache = EncodingCache::new(64 << 20);
        let cached = grid_search_pipelines(&grid, &images, &labels, &folds, &cache).unwrap();
        assert_eq!(plain, cached);
        // A second search finds every fitted encoder and every encoding in the cache: one
        // fit, one training and one test encoding per (candidate, fold).
        let (hits, misses) = cache.stats();
        let again = grid_search_pipelines(&grid, &images, &labels, &folds, &cache).unwrap();
        assert_eq!(again, plain);
        assert_eq!(cache.stats(), (hits + 3 * 3 * 3, misses));
    }
}
