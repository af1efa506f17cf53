//! Classification metrics: accuracy, confusion matrix, per-class precision, recall and F1,
//! and a confusion-matrix picture.
//!
//! # Overview
//! [`evaluate`] compares true and predicted labels and returns a serialisable [`Metrics`]
//! (the `accuracy` field is what the CLI's `eval --json` prints first); [`confusion_canvas`]
//! draws the confusion matrix as a [`Canvas`] to save as PNG.
//!
//! # Usage
//! ```
//! use classic_cv::classify::metrics::evaluate;
//! let m = evaluate(&[0, 0, 1, 1], &[0, 1, 1, 1], 2).unwrap();
//! assert_eq!(m.accuracy, 0.75);
//! assert_eq!(m.confusion, vec![vec![1, 1], vec![0, 2]]);
//! assert_eq!(m.per_class[1].precision, 2.0 / 3.0);
//! ```
//!
//! # Conventions
//! As scikit-learn: `confusion[t][p]` counts samples of true class `t` predicted as `p`
//! (rows are the truth); precision `tp / (tp + fp)`, recall `tp / (tp + fn)` and
//! `F1 = 2 P R / (P + R)`, each 0 when its denominator is 0 (scikit-learn's
//! `zero_division=0`); macro averages are unweighted means over the classes.

use serde::{Deserialize, Serialize};

use crate::draw::{Canvas, text_width};
use crate::error::{Error, Result};
use crate::image::Rect;
use crate::pipeline::Label;

/// Precision, recall and F1 of one class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// `tp / (tp + fp)`.
    pub precision: f64,
    /// `tp / (tp + fn)`.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Number of samples of this class.
    pub support: u64,
}

/// Everything [`evaluate`] measures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// Number of samples.
    pub n_samples: usize,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<u64>>,
    /// One entry per class.
    pub per_class: Vec<ClassMetrics>,
    /// Unweighted mean of the per-class precisions.
    pub macro_precision: f64,
    /// Unweighted mean of the per-class recalls.
    pub macro_recall: f64,
    /// Unweighted mean of the per-class F1 scores.
    pub macro_f1: f64,
}

/// Fraction of positions where `truth` and `predicted` agree.
pub fn accuracy(truth: &[Label], predicted: &[Label]) -> Result<f64> {
    check(truth, predicted)?;
    let hits = truth.iter().zip(predicted).filter(|(a, b)| a == b).count();
    Ok(hits as f64 / truth.len() as f64)
}

/// The `n_classes x n_classes` confusion matrix (rows: truth, columns: prediction).
pub fn confusion_matrix(
    truth: &[Label],
    predicted: &[Label],
    n_classes: usize,
) -> Result<Vec<Vec<u64>>> {
    check(truth, predicted)?;
    let mut cm = vec![vec![0u64; n_classes]; n_classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        if t as usize >= n_classes || p as usize >= n_classes {
            return Err(Error::param(
                "n_classes",
                format!("label {} is outside 0..{n_classes}", t.max(p)),
            ));
        }
        cm[t as usize][p as usize] += 1;
    }
    Ok(cm)
}

/// Accuracy, confusion matrix and per-class metrics of `predicted` against `truth`.
pub fn evaluate(truth: &[Label], predicted: &[Label], n_classes: usize) -> Result<Metrics> {
    let accuracy = accuracy(truth, predicted)?;
    let confusion = confusion_matrix(truth, predicted, n_classes)?;
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let per_class: Vec<ClassMetrics> = (0..n_classes)
        .map(|c| {
            let tp = confusion[c][c];
            let support: u64 = confusion[c].iter().sum();
            let predicted: u64 = confusion.iter().map(|row| row[c]).sum();
            let precision = ratio(tp, predicted);
            let recall = ratio(tp, support);
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassMetrics {
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    let mean = |f: fn(&ClassMetrics) -> f64| {
        per_class.iter().map(f).sum::<f64>() / n_classes.max(1) as f64
    };
    Ok(Metrics {
        accuracy,
        n_samples: truth.len(),
        macro_precision: mean(|m| m.precision),
        macro_recall: mean(|m| m.recall),
        macro_f1: mean(|m| m.f1),
        confusion,
        per_class,
    })
}

/// Draws the confusion matrix: one cell per (true, predicted) pair, shaded by the fraction
/// of the true class it holds, with the count written in it; class names on the left
/// (truth), class indices on top (prediction).
pub fn confusion_canvas(confusion: &[Vec<u64>], class_names: &[String]) -> Canvas {
    const CELL: usize = 44;
    let n = confusion.len();
    let name = |i: usize| {
        class_names
            .get(i)
            .map_or_else(|| i.to_string(), |s| format!("{i} {s}"))
    };
    let left = (0..n).map(|i| text_width(&name(i), 1)).max().unwrap_or(0) + 12;
    let top = 34;
    let mut canvas = Canvas::new(left + n * CELL + 6, top + n * CELL + 6, [255, 255, 255]);
    canvas.draw_text(4, 4, "TRUE (ROWS) / PREDICTED (COLUMNS)", [0, 0, 0], 1);
    for (t, row) in confusion.iter().enumerate() {
        let total: u64 = row.iter().sum::<u64>().max(1);
        let y = top + t * CELL;
        canvas.draw_text(4, (y + CELL / 2 - 3) as i64, &name(t), [0, 0, 0], 1);
        for (p, &count) in row.iter().enumerate() {
            let x = left + p * CELL;
            let frac = count as f64 / total as f64;
            let shade = (255.0 * (1.0 - frac)) as u8;
            let colour = if t == p {
                [shade, 255 - (255 - shade) / 3, shade]
            } else {
                [255, shade, shade]
            };
            let cell = Rect {
                x: x as u32,
                y: y as u32,
                width: CELL as u32,
                height: CELL as u32,
            };
            canvas.fill_rect(cell, colour);
            canvas.draw_rect(cell, [200, 200, 200], 1);
            let text = count.to_string();
            let ink = if frac > 0.5 {
                [255, 255, 255]
            } else {
                [0, 0, 0]
            };
            let tx = x + (CELL - text_width(&text, 1)) / 2;
            canvas.draw_text(tx as i64, (y + CELL / 2 - 3) as i64, &text, ink, 1);
        }
    }
    for p in 0..n {
        let text = p.to_string();
        let x = left + p * CELL + (CELL - text_width(&text, 1)) / 2;
        canvas.draw_text(x as i64, (top - 12) as i64, &text, [0, 0, 0], 1);
    }
    canvas
}

fn check(truth: &[Label], predicted: &[Label]) -> Result<()> {
    if truth.is_empty() {
        return Err(Error::EmptyInput { what: "labels" });
    }
    if truth.len() != predicted.len() {
        return Err(Error::LengthMismatch {
            inputs: predicted.len(),
            labels: truth.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_three_class_case() {
        // truth:     0 0 0 1 1 2
        // predicted: 0 0 1 1 2 2
        let m = evaluate(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], 3).unwrap();
        assert_eq!(
            m.confusion,
            vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]
        );
        assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-12);
        let c1 = &m.per_class[1];
        assert_eq!((c1.precision, c1.recall, c1.support), (0.5, 0.5, 2));
        let c2 = &m.per_class[2];
        assert_eq!((c2.precision, c2.recall), (0.5, 1.0));
        assert!((c2.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.macro_recall - (2.0 / 3.0 + 0.5 + 1.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn absent_classes_score_zero_not_nan() {
        let m = evaluate(&[0, 0], &[0, 0], 3).unwrap();
        assert_eq!(m.per_class[2].precision, 0.0);
        assert_eq!(m.per_class[2].f1, 0.0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(matches!(accuracy(&[], &[]), Err(Error::EmptyInput { .. })));
        assert!(matches!(
            accuracy(&[0, 1], &[0]),
            Err(Error::LengthMismatch { .. })
        ));
        assert!(matches!(
            confusion_matrix(&[0, 5], &[0, 1], 2),
            Err(Error::InvalidParam { .. })
        ));
    }

    #[test]
    fn canvas_shades_the_diagonal() {
        let cm = vec![vec![9, 1], vec![0, 10]];
        let c = confusion_canvas(&cm, &["a".into(), "b".into()]);
        assert!(c.width() > 88 && c.height() > 88);
        // A corner pixel of the (1, 1) cell interior is a saturated green, of (1, 0) white.
        let left = c.width() - 6 - 2 * 44;
        let (x11, y1) = (left + 44 + 3, 34 + 44 + 3);
        assert_eq!(c.pixel(x11, y1)[0], 0);
        assert_eq!(c.pixel(left + 3, y1), [255, 255, 255]);
    }
}
