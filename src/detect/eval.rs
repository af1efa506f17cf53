//! Evaluation of detections against truth boxes: metrics, not detection.
//!
//! # Protocol
//! - Matching per image ([`match_greedy`]): all (detection, truth) pairs with
//!   `IoU >= iou` are taken in decreasing IoU order (ties: detection then truth index),
//!   each box at most once; a matched detection is a true positive.
//! - Over all images ([`evaluate`]): detections sorted by decreasing confidence (ties
//!   keep input order); after each one, `recall = tp / truths` (1 without truth boxes)
//!   and `precision = tp / (tp + fp)`.
//! - Average precision: the area under the all-points interpolated curve, precision made
//!   non-increasing from the right (as in PASCAL VOC from 2010).

use serde::{Deserialize, Serialize};

use crate::image::Rect;

/// Detection-versus-truth counts and the precision-recall curve of an evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Matched detections.
    pub tp: usize,
    /// Unmatched detections.
    pub fp: usize,
    /// Unmatched truth boxes.
    pub fn_: usize,
    /// `tp / (tp + fp)` (1 when there is no detection).
    pub precision: f64,
    /// `tp / (tp + fn)` (1 when there is no truth box).
    pub recall: f64,
    /// Area under the monotone (all-points interpolated) precision-recall curve.
    pub average_precision: f64,
    /// `(recall, precision)` after each detection in decreasing confidence.
    pub curve: Vec<(f64, f64)>,
}

/// Greedy matching (the anchors' protocol): all (detection, truth) pairs with
/// `IoU >= iou` are taken in decreasing IoU order (ties: detection then truth index),
/// each box at most once. Returns, per detection, whether it was matched.
pub fn match_greedy(dets: &[Rect], truth: &[Rect], iou: f32) -> Vec<bool> {
    let mut pairs = Vec::new();
    for (i, d) in dets.iter().enumerate() {
        for (j, t) in truth.iter().enumerate() {
            let v = d.iou(t);
            if v >= iou {
                pairs.push((v, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut used_d = vec![false; dets.len()];
    let mut used_t = vec![false; truth.len()];
    for (_, i, j) in pairs {
        if !used_d[i] && !used_t[j] {
            used_d[i] = true;
            used_t[j] = true;
        }
    }
    used_d
}

/// One image for [`evaluate`]: detections with a confidence each, and the true boxes.
pub type ScoredImage = (Vec<(Rect, f64)>, Vec<Rect>);

/// Evaluates detections (with a confidence each) against truth boxes over several
/// images: greedy matching per image at `iou`, then one precision-recall curve over all
/// detections sorted by decreasing confidence (ties keep input order).
pub fn evaluate(images: &[ScoredImage], iou: f32) -> EvalReport {
    let mut ranked = Vec::new();
    let mut n_truth = 0;
    for (dets, truth) in images {
        let rects: Vec<Rect> = dets.iter().map(|d| d.0).collect();
        let hit = match_greedy(&rects, truth, iou);
        n_truth += truth.len();
        ranked.extend(dets.iter().zip(hit).map(|(d, h)| (d.1, h)));
    }
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut curve = Vec::with_capacity(ranked.len());
    for &(_, h) in &ranked {
        if h {
            tp += 1;
        } else {
            fp += 1;
        }
        let recall = if n_truth == 0 {
            1.0
        } else {
            tp as f64 / n_truth as f64
        };
        curve.push((recall, tp as f64 / (tp + fp) as f64));
    }
    // All-points interpolation: precision made non-increasing from the right.
    let mut ap = 0.0;
    let mut best = 0.0f64;
    for k in (0..curve.len()).rev() {
        best = best.max(curve[k].1);
        let r_before = if k == 0 { 0.0 } else { curve[k - 1].0 };
        if curve[k].0 > r_before {
            ap += (curve[k].0 - r_before) * best;
        }
    }
    EvalReport {
        tp,
        fp,
        fn_: n_truth - tp,
        precision: if tp + fp == 0 {
            1.0
        } else {
            tp as f64 / (tp + fp) as f64
        },
        recall: if n_truth == 0 {
            1.0
        } else {
            tp as f64 / n_truth as f64
        },
        average_precision: ap,
        curve,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluation_matches_hand_computation() {
        let r = |x, y| Rect {
            x,
            y,
            width: 10,
            height: 10,
        };
        // Image 1: a perfect hit (conf 0.9) and a false alarm (0.8); image 2: one miss
        // and a hit at IoU 81/119 (conf 0.5).
        let images = vec![
            (vec![(r(0, 0), 0.9), (r(50, 50), 0.8)], vec![r(0, 0)]),
            (vec![(r(1, 1), 0.5)], vec![r(0, 0), r(30, 30)]),
        ];
        let e = evaluate(&images, 0.5);
        assert_eq!((e.tp, e.fp, e.fn_), (2, 1, 1));
        assert_eq!(
            e.curve,
            vec![(1.0 / 3.0, 1.0), (1.0 / 3.0, 0.5), (2.0 / 3.0, 2.0 / 3.0)]
        );
        // AP = 1/3 * 1 + 1/3 * 2/3.
        assert!((e.average_precision - (1.0 / 3.0 + 2.0 / 9.0)).abs() < 1e-12);
        assert_eq!(evaluate(&images, 0.7).tp, 1);
        // Greedy: the higher-IoU pair wins even when listed second.
        let m = match_greedy(&[r(2, 0), r(0, 0)], &[r(0, 0)], 0.5);
        assert_eq!(m, vec![false, true]);
    }
}
