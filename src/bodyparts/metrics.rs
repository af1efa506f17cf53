//! Segmentation and joint metrics of body-part forests.
//!
//! Pixels count when their true label or their prediction is a part (a background pixel
//! predicted as background is not counted; a part pixel lost to background is a miss).
//! Over the whole set of frames, per part `c`: recall `TP_c / #gt_c` (the per-class
//! accuracy) and `IoU_c = TP_c / (#pred_c + #gt_c - TP_c)`, both from one summed confusion
//! matrix; mIoU and the mean class accuracy are the means over the parts where they are
//! defined (a part absent from the truth has no recall; absent from both, no IoU);
//! frequency-weighted IoU weights `IoU_c` by the part's share of true pixels; pixel accuracy
//! is the fraction of counted pixels with the right part. Joints: the mean 3D distance (m)
//! between proposed and true part centres over the proposals made, and the detection rate,
//! the fraction of (frame, visible part) pairs with a proposal within [`DETECTION_RADIUS`].

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bodyparts::depth::BACKGROUND;
use crate::bodyparts::synth::{N_PARTS, PART_NAMES};
use crate::bodyparts::{BodyPartForest, LabelledFrame};
use crate::error::{Error, Result};

/// A joint proposal within this distance of the truth (metres) is a detection.
pub const DETECTION_RADIUS: f32 = 0.1;

/// Segmentation and joint metrics over a set of frames (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BodyPartMetrics {
    /// Frames evaluated.
    pub n_frames: usize,
    /// Body pixels evaluated (true label a part, or predicted a part).
    pub n_pixels: u64,
    /// The segmentation scores over the whole set (written as fields of this record).
    #[serde(flatten)]
    pub scores: SegmentationScores,
    /// Mean distance between proposed and true part centres (metres), over proposals made.
    pub joint_mean_error: f64,
    /// Fraction of (frame, visible part) pairs with a proposal within 0.1 m.
    pub joint_detection_rate: f64,
    /// Part names, in the order of the per-class vectors.
    pub part_names: Vec<String>,
}

/// The segmentation scores of one confusion matrix over parts `1..=N_PARTS` (see
/// [`metrics_from_confusion`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentationScores {
    /// Fraction of evaluated pixels with the right part.
    pub pixel_accuracy: f64,
    /// Mean over parts present in the truth of the per-part recall.
    pub mean_class_accuracy: f64,
    /// Recall of each part (NaN if absent from the truth).
    pub per_class_accuracy: Vec<f64>,
    /// IoU of each part over the whole set (NaN if absent from truth and prediction).
    pub per_class_iou: Vec<f64>,
    /// Mean of the defined per-part IoUs.
    pub miou: f64,
    /// Per-part IoU weighted by the part's share of true pixels.
    pub fw_iou: f64,
}

/// Confusion counts `(N_PARTS + 1)^2`, index `truth * (N_PARTS + 1) + predicted`.
fn confusion(truth: &[u8], pred: &[u8]) -> Vec<u64> {
    let k = N_PARTS + 1;
    let mut m = vec![0u64; k * k];
    for (&t, &p) in truth.iter().zip(pred) {
        if t > 0 || p > 0 {
            m[t as usize * k + p as usize] += 1;
        }
    }
    m
}

/// Metrics from a confusion matrix over labels `0..=N_PARTS` (0 = background, counted only
/// as a wrong prediction or a missed pixel).
pub fn metrics_from_confusion(m: &[u64]) -> SegmentationScores {
    let k = N_PARTS + 1;
    let total: u64 = m.iter().sum();
    let correct: u64 = (1..k).map(|c| m[c * k + c]).sum();
    let mut acc = Vec::new();
    let mut iou = Vec::new();
    let truth_total: u64 = (1..k)
        .map(|c| (0..k).map(|p| m[c * k + p]).sum::<u64>())
        .sum();
    let mut fw = 0.0;
    for c in 1..k {
        let tp = m[c * k + c] as f64;
        let gt: u64 = (0..k).map(|p| m[c * k + p]).sum();
        let pr: u64 = (0..k).map(|t| m[t * k + c]).sum();
        acc.push(if gt > 0 { tp / gt as f64 } else { f64::NAN });
        let union = gt as f64 + pr as f64 - tp;
        let i = if union > 0.0 { tp / union } else { f64::NAN };
        iou.push(i);
        if gt > 0 && truth_total > 0 {
            fw += gt as f64 / truth_total as f64 * i;
        }
    }
    let mean = |v: &[f64]| {
        let d: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
        if d.is_empty() {
            f64::NAN
        } else {
            d.iter().sum::<f64>() / d.len() as f64
        }
    };
    let pixel = if total > 0 {
        correct as f64 / total as f64
    } else {
        f64::NAN
    };
    SegmentationScores {
        pixel_accuracy: pixel,
        mean_class_accuracy: mean(&acc),
        miou: mean(&iou),
        per_class_accuracy: acc,
        per_class_iou: iou,
        fw_iou: fw,
    }
}

/// Segments and proposes joints on every frame and computes the metrics.
pub fn evaluate(forest: &BodyPartForest, frames: &[LabelledFrame]) -> Result<BodyPartMetrics> {
    if frames.is_empty() {
        return Err(Error::EmptyInput {
            what: "evaluation frames",
        });
    }
    struct One {
        conf: Vec<u64>,
        errors: Vec<f32>,
        detected: usize,
        visible: usize,
    }
    let per: Vec<Result<One>> = frames
        .par_iter()
        .map(|f| {
            let probs = forest.probabilities(&f.depth)?;
            let np = forest.n_parts;
            let pred: Vec<u8> = (0..f.labels.len())
                .map(|i| {
                    if !f.depth.as_slice()[i].lt(&BACKGROUND) {
                        return 0;
                    }
                    crate::vecops::argmax(&probs[i * np..(i + 1) * np]) as u8 + 1
                })
                .collect();
            let mut one = One {
                conf: confusion(&f.labels, &pred),
                errors: Vec::new(),
                detected: 0,
                visible: 0,
            };
            if f.part_centres.len() == N_PARTS {
                let joints = forest.propose_joints(&f.depth, &probs, f.focal)?;
                let mut visible = [false; N_PARTS];
                for (i, &l) in f.labels.iter().enumerate() {
                    if l > 0 && f.depth.as_slice()[i] < BACKGROUND {
                        visible[l as usize - 1] = true;
                    }
                }
                for c in 0..N_PARTS {
                    if !visible[c] {
                        continue;
                    }
                    one.visible += 1;
                    if let Some(j) = joints[c] {
                        let t = f.part_centres[c];
                        let e =
                            ((j[0] - t[0]).powi(2) + (j[1] - t[1]).powi(2) + (j[2] - t[2]).powi(2))
                                .sqrt();
                        one.errors.push(e);
                        if e < DETECTION_RADIUS {
                            one.detected += 1;
                        }
                    }
                }
            }
            Ok(one)
        })
        .collect();
    let k = N_PARTS + 1;
    let mut conf = vec![0u64; k * k];
    let (mut err_sum, mut n_err, mut detected, mut visible) = (0f64, 0usize, 0usize, 0usize);
    for one in per {
        let one = one?;
        conf.iter_mut().zip(&one.conf).for_each(|(a, b)| *a += b);
        err_sum += one.errors.iter().map(|&e| e as f64).sum::<f64>();
        n_err += one.errors.len();
        detected += one.detected;
        visible += one.visible;
    }
    Ok(BodyPartMetrics {
        n_frames: frames.len(),
        n_pixels: conf.iter().sum(),
        scores: metrics_from_confusion(&conf),
        joint_mean_error: if n_err > 0 {
            err_sum / n_err as f64
        } else {
            f64::NAN
        },
        joint_detection_rate: if visible > 0 {
            detected as f64 / visible as f64
        } else {
            f64::NAN
        },
        part_names: PART_NAMES.iter().map(|s| s.to_string()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_by_hand() {
        // Truth: parts 1,1,2,2; prediction: 1,2,2,0 (last pixel lost to background).
        let m = confusion(&[1, 1, 2, 2, 0], &[1, 2, 2, 0, 0]);
        let SegmentationScores {
            pixel_accuracy: pixel,
            mean_class_accuracy: mca,
            per_class_accuracy: acc,
            per_class_iou: iou,
            miou,
            fw_iou: fw,
        } = metrics_from_confusion(&m);
        assert!((pixel - 0.5).abs() < 1e-12);
        assert!((acc[0] - 0.5).abs() < 1e-12 && (acc[1] - 0.5).abs() < 1e-12);
        assert!((mca - 0.5).abs() < 1e-12);
        // IoU part 1: tp 1 / (2 + 1 - 1) = 0.5; part 2: 1 / (2 + 2 - 1) = 1/3.
        assert!((iou[0] - 0.5).abs() < 1e-12 && (iou[1] - 1.0 / 3.0).abs() < 1e-12);
        assert!(iou[2].is_nan());
        assert!((miou - (0.5 + 1.0 / 3.0) / 2.0).abs() < 1e-12);
        assert!((fw - (0.5 * 0.5 + 0.5 / 3.0)).abs() < 1e-12);
    }
}
