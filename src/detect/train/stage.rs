//! One stage of the attentional cascade: boosted Haar stumps until the stage keeps the
//! required share of the positives and passes few enough negatives (OpenCV
//! `traincascade`'s `CvCascadeBoost`).
//!
//! # Overview
//! `train_stage` (used by [`train`](super::train)) boosts decision stumps
//! ([`adaboost`](super::adaboost)) over the Haar feature pool on the stage's positives and
//! hard negatives, and after every stump sets the stage threshold; the results are
//! [`TrainedStage`]s of [`TrainedStump`]s, which [`to_cascade`] turns into an OpenCV
//! [`Cascade`]. The cascade trained so far is also run here on training windows, with
//! exactly the detector's arithmetic, to pick the windows the next stage sees.
//!
//! # Algorithm and conventions
//! - Sample weights start at `1/N` (`N` positives plus negatives); labels are `+1` and
//!   `−1`. Feature values are computed in blocks of
//!   [`block_len`]`(memory_budget, N)` features: when the whole pool fits in one block
//!   it is evaluated and sorted once per stage, otherwise every round re-evaluates the
//!   blocks.
//! - A stage's sum is accumulated in `f64` over the `f32` leaves in stump order, as the
//!   detector does, and passes with OpenCV's rule [`stage_passes`] (`sum >= f32(t) − 1e-5f`).
//! - After each stump the stage threshold is the `f32` score of the positive at rank
//!   `⌊(1 − min_hit_rate)·P⌋` (ascending), lowered one `f32` step at a time until that
//!   score passes; the stage ends when the negatives' pass rate is at most
//!   `max_false_alarm`, after `max_weak_count` stumps, or when Discrete AdaBoost refuses
//!   a stump (error `>= 1/2`) after the first.
//! - [`to_cascade`] shares identical features between stumps, in first-use order; each
//!   stump is a one-node tree (left leaf index 0, right leaf index 1).
//!
//! # Parallelism
//! Features are evaluated and scanned in parallel and reduced in index order (see
//! [`adaboost`](super::adaboost)), so a stage never depends on the thread count.
//!
//! # References
//! R. Lienhart, A. Kuranov, V. Pisarevsky, "Empirical analysis of detection cascades of
//! boosted classifiers for rapid object detection", DAGM 2003; OpenCV 3.4
//! `apps/traincascade/boost.cpp`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::detect::cascade::{
    Cascade, FeatureType, Node, NodeSplit, Stage, WeakTree, effective_threshold, stage_passes,
};
use crate::detect::haar::HaarFeature;
use crate::detect::train::CascadeTrainingParams;
use crate::detect::train::adaboost::{Leaves, StumpFit, better, fit_stump, reweight};
use crate::detect::train::pool::{CompiledFeature, FeatureBlock, Sample, block_len};
use crate::error::{Error, Result};

/// One trained stump.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedStump {
    /// The feature.
    pub feature: HaarFeature,
    /// Values `< threshold` take `left`.
    pub threshold: f32,
    /// Left leaf.
    pub left: f32,
    /// Right leaf.
    pub right: f32,
}

/// One trained stage with its training figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedStage {
    /// Stage threshold as stored (the stage passes when [`stage_passes`]).
    pub threshold: f32,
    /// The stumps.
    pub stumps: Vec<TrainedStump>,
    /// Positives used.
    pub positives: usize,
    /// Negatives used.
    pub negatives: usize,
    /// Fraction of the positives the stage keeps.
    pub hit_rate: f64,
    /// Fraction of the negatives the stage passes.
    pub false_alarm: f64,
    /// Fraction of background draws the cascade before this stage accepted.
    pub acceptance: f64,
}

/// A stump compiled for evaluation on training windows.
struct CompiledStump {
    feature: CompiledFeature,
    threshold: f32,
    left: f32,
    right: f32,
}

/// A stage compiled for evaluation on training windows.
struct CompiledStage {
    /// The threshold as stored.
    threshold: f32,
    stumps: Vec<CompiledStump>,
}

/// The cascade trained so far, compiled for evaluation on training windows.
pub(super) struct CascadeSoFar {
    stages: Vec<CompiledStage>,
}

impl CascadeSoFar {
    /// Compiles `stages` for windows `w` pixels wide.
    pub(super) fn new(stages: &[TrainedStage], w: usize) -> CascadeSoFar {
        CascadeSoFar {
            stages: stages
                .iter()
                .map(|s| CompiledStage {
                    threshold: s.threshold,
                    stumps: s
                        .stumps
                        .iter()
                        .map(|t| CompiledStump {
                            feature: CompiledFeature::new(&t.feature, w),
                            threshold: t.threshold,
                            left: t.left,
                            right: t.right,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// Whether every stage accepts the window (as the detector decides).
    pub(super) fn accepts(&self, s: &Sample) -> bool {
        self.stages.iter().all(|st| {
            let mut acc = 0.0f64;
            for t in &st.stumps {
                acc += if t.feature.value(s) < t.threshold {
                    t.left
                } else {
                    t.right
                } as f64;
            }
            stage_passes(acc, st.threshold)
        })
    }
}

/// Converts trained stages to a [`Cascade`] (identical features shared, in first-use order).
pub fn to_cascade(w: usize, h: usize, stages: &[TrainedStage]) -> Result<Cascade> {
    let mut features: Vec<HaarFeature> = Vec::new();
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut out = Vec::new();
    for st in stages {
        let mut trees = Vec::new();
        for s in &st.stumps {
            let key = format!("{:?}", s.feature);
            let fi = *index.entry(key).or_insert_with(|| {
                features.push(s.feature.clone());
                (features.len() - 1) as u32
            });
            trees.push(WeakTree {
                nodes: vec![Node {
                    feature: fi,
                    split: NodeSplit::Threshold(s.threshold),
                    left: 0,
                    right: -1,
                }],
                leaves: vec![s.left, s.right],
            });
        }
        out.push(Stage {
            threshold: st.threshold,
            trees,
        });
    }
    let c = Cascade {
        feature_type: FeatureType::Haar,
        window_width: w,
        window_height: h,
        stages: out,
        haar_features: features,
        lbp_features: Vec::new(),
    };
    c.validate()?;
    Ok(c)
}

/// Largest `f32` threshold `t` with `f64(effective_threshold(t)) <= score`, i.e. the
/// largest with which `score` passes ([`stage_passes`]).
fn threshold_at(score: f64) -> f32 {
    let mut t = score as f32;
    while effective_threshold(t) as f64 > score {
        t = f32::from_bits(if t > 0.0 {
            t.to_bits() - 1
        } else if t == 0.0 {
            0x8000_0001
        } else {
            t.to_bits() + 1
        });
    }
    t
}

/// Trains one stage on `pos` + `neg` (see the module docs).
pub(super) fn train_stage(
    p: &CascadeTrainingParams,
    feats: &[HaarFeature],
    pos: &[Sample],
    neg: &[Sample],
) -> Result<TrainedStage> {
    let (w, _) = (p.window_width, p.window_height);
    let samples: Vec<Sample> = pos.iter().chain(neg).cloned().collect();
    let n = samples.len();
    let y: Vec<f32> = (0..n)
        .map(|i| if i < pos.len() { 1.0 } else { -1.0 })
        .collect();
    let mut wts = vec![1.0 / n as f64; n];
    let compiled: Vec<CompiledFeature> = feats.iter().map(|f| CompiledFeature::new(f, w)).collect();
    let blen = block_len(p.memory_budget, n);
    let cached = if compiled.len() <= blen {
        Some(FeatureBlock::evaluate(0, &compiled, &samples))
    } else {
        None
    };
    let mut scores = vec![0.0f64; n];
    let mut stumps = Vec::new();
    let mut stage = TrainedStage {
        threshold: 0.0,
        stumps: Vec::new(),
        positives: pos.len(),
        negatives: neg.len(),
        hit_rate: 1.0,
        false_alarm: 1.0,
        acceptance: 1.0,
    };
    for _round in 0..p.max_weak_count {
        let best: Option<StumpFit> = match &cached {
            Some(b) => fit_stump(b, &y, &wts, p.boost),
            None => {
                let mut best = None;
                for (bi, chunk) in compiled.chunks(blen).enumerate() {
                    let block = FeatureBlock::evaluate(bi * blen, chunk, &samples);
                    if let Some(f) = fit_stump(&block, &y, &wts, p.boost) {
                        best = better(best, f);
                    }
                }
                best
            }
        };
        let Some(fit) = best else { break };
        let f = &compiled[fit.feature];
        let left: Vec<bool> = samples.iter().map(|s| f.value(s) < fit.threshold).collect();
        let Leaves { left: l, right: r } = match reweight(p.boost, &fit, &left, &y, &mut wts) {
            Ok(v) => v,
            Err(_) if !stumps.is_empty() => break,
            Err(e) => return Err(e),
        };
        for i in 0..n {
            scores[i] += if left[i] { l } else { r } as f64;
        }
        stumps.push(TrainedStump {
            feature: feats[fit.feature].clone(),
            threshold: fit.threshold,
            left: l,
            right: r,
        });
        let mut ps: Vec<f64> = scores[..pos.len()].to_vec();
        ps.sort_by(f64::total_cmp);
        let rank =
            (((1.0 - p.min_hit_rate as f64) * ps.len() as f64).floor() as usize).min(ps.len() - 1);
        let thr = threshold_at(ps[rank]);
        // Share of `v` that passes the stage (positives are never empty).
        let pass_rate = |v: &[f64]| {
            v.iter().filter(|&&s| stage_passes(s, thr)).count() as f64 / v.len().max(1) as f64
        };
        stage.threshold = thr;
        stage.hit_rate = pass_rate(&scores[..pos.len()]);
        stage.false_alarm = pass_rate(&scores[pos.len()..]);
        if stage.false_alarm <= p.max_false_alarm as f64 {
            break;
        }
    }
    if stumps.is_empty() {
        return Err(Error::param(
            "positives",
            "no Haar feature separates any two training windows",
        ));
    }
    stage.stumps = stumps;
    Ok(stage)
}
