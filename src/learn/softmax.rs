//! Softmax (multinomial logistic) regression trained by mini-batch gradient descent.
//!
//! # Overview
//! [`SoftmaxParams`] learns one weight vector and bias per class by minimising the mean
//! cross-entropy of `p = softmax(W x + b)` plus `l2/2 |W|^2` (the bias is not
//! regularised), with one of four update rules ([`UpdateRule`]): plain SGD, momentum,
//! Nesterov momentum and Adam, in the forms of the CS231n course notes. The fitted
//! [`Softmax`] predicts the most probable class and gives [`Softmax::probabilities`].
//!
//! # Usage
//! ```
//! use classic_cv::pipeline::{Fit, Transform};
//! use classic_cv::learn::softmax::{UpdateRule, SoftmaxParams};
//! let x = vec![vec![0.0, 0.1], vec![0.1, 0.0], vec![1.0, 0.9], vec![0.9, 1.0]];
//! let p = SoftmaxParams { optimizer: UpdateRule::Adam, epochs: 200, batch_size: 2, ..Default::default() };
//! let model = p.fit(&x, &[0, 0, 1, 1]).unwrap();
//! assert_eq!(model.transform(&vec![0.95, 0.95]).unwrap(), 1);
//! ```
//!
//! # Algorithm
//! Weights start at zero. Each epoch visits the training set in a seeded random order in
//! mini-batches of `batch_size` (the last one smaller); the gradient of a batch is its mean
//! `(p - onehot(y)) x^T`, computed with matrix products. Updates, with `g` the gradient,
//! `lr` the learning rate and `mu` the momentum:
//! - SGD: `w -= lr g`;
//! - momentum: `v = mu v - lr g; w += v`;
//! - Nesterov: `v' = mu v - lr g; w += -mu v + (1 + mu) v'; v = v'`;
//! - Adam: `m = b1 m + (1-b1) g; s = b2 s + (1-b2) g^2;
//!   w -= lr m/(1-b1^t) / (sqrt(s/(1-b2^t)) + eps)`.
//!
//! The log-sum-exp is computed after subtracting the largest logit. The mean loss of each
//! epoch is kept in [`Softmax::loss_history`].
//!
//! # Parallelism
//! Training is sequential (each step depends on the previous one), hence deterministic;
//! batched prediction runs in parallel over inputs.
//!
//! # References
//! CS231n course notes, "Linear classification" and "Neural networks part 3"
//! (parameter updates). D. P. Kingma, J. Ba, "Adam: a method for stochastic
//! optimization", ICLR 2015.

use ndarray::{Array2, ArrayView2, Axis, Slice};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, check_finite};
use crate::pipeline::{Fit, Label, Transform, check_supervised_fit, stack_rows};
use crate::rng::Rng;

/// The update rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateRule {
    /// Plain stochastic gradient descent.
    Sgd,
    /// Classical (heavy-ball) momentum.
    Momentum,
    /// Nesterov momentum.
    Nesterov,
    /// Adam.
    Adam,
}

/// Parameters of [`Softmax`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SoftmaxParams {
    /// Step size (`> 0`). Default 0.1.
    pub learning_rate: f32,
    /// Update rule. Default [`UpdateRule::Momentum`].
    pub optimizer: UpdateRule,
    /// Momentum `mu` in `[0, 1)` (momentum and Nesterov). Default 0.9.
    pub momentum: f32,
    /// Adam's first-moment decay in `[0, 1)`. Default 0.9.
    pub beta1: f32,
    /// Adam's second-moment decay in `[0, 1)`. Default 0.999.
    pub beta2: f32,
    /// Adam's denominator offset (`> 0`). Default 1e-8.
    pub epsilon: f32,
    /// Samples per mini-batch (`>= 1`). Default 128.
    pub batch_size: usize,
    /// Passes over the training set (`>= 1`). Default 20.
    pub epochs: usize,
    /// L2 penalty on the weights (`>= 0`). Default 1e-4.
    pub l2: f32,
    /// Seed of the visiting order. Default 0.
    pub seed: u64,
}

impl Default for SoftmaxParams {
    fn default() -> Self {
        SoftmaxParams {
            learning_rate: 0.1,
            optimizer: UpdateRule::Momentum,
            momentum: 0.9,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            batch_size: 128,
            epochs: 20,
            l2: 1e-4,
            seed: 0,
        }
    }
}

impl SoftmaxParams {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if self.epochs > crate::limits::MAX_EPOCHS {
            return Err(Error::param(
                "epochs",
                format!("must be at most {}", crate::limits::MAX_EPOCHS),
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(Error::param("learning_rate", "must be positive and finite"));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(Error::param("momentum", "must be in [0, 1)"));
        }
        if !(0.0..1.0).contains(&self.beta1) {
            return Err(Error::param("beta1", "must be in [0, 1)"));
        }
        if !(0.0..1.0).contains(&self.beta2) {
            return Err(Error::param("beta2", "must be in [0, 1)"));
        }
        if !(self.epsilon > 0.0) {
            return Err(Error::param("epsilon", "must be positive"));
        }
        if self.batch_size == 0 {
            return Err(Error::param("batch_size", "must be at least 1"));
        }
        if self.epochs == 0 {
            return Err(Error::param("epochs", "must be at least 1"));
        }
        if !(self.l2 >= 0.0 && self.l2.is_finite()) {
            return Err(Error::param("l2", "must be >= 0 and finite"));
        }
        Ok(())
    }
}

/// A fitted softmax classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Softmax {
    /// The params it was fitted with.
    pub params: SoftmaxParams,
    /// Weights, `n_classes x dim` (one row per class).
    pub weights: Array2<f32>,
    /// One bias per class.
    pub biases: Vec<f32>,
    /// Mean training cross-entropy of each epoch (over its batches, before their update).
    pub loss_history: Vec<f32>,
}

impl Fit for SoftmaxParams {
    type Input = Vec<f32>;
    type Fitted = Softmax;

    fn fit(&self, inputs: &[Vec<f32>], labels: &[Label]) -> Result<Softmax> {
        let n_classes = check_supervised_fit(self.validate(), inputs, labels)?;
        let x = stack_rows(inputs)?;
        let (n, dim) = x.dim();
        let mut w = Array2::<f32>::zeros((n_classes, dim));
        let mut b = vec![0f32; n_classes];
        let mut state = OptState::new(n_classes, dim);
        let mut rng = Rng::new(self.seed);
        let mut order: Vec<usize> = (0..n).collect();
        let mut history = Vec::with_capacity(self.epochs);
        let mut xb = Array2::<f32>::zeros((self.batch_size.min(n), dim));
        for _ in 0..self.epochs {
            rng.shuffle(&mut order);
            let mut total = 0f64;
            for batch in order.chunks(self.batch_size) {
                let mut xv = xb.slice_axis_mut(Axis(0), Slice::from(0..batch.len()));
                for (r, &i) in batch.iter().enumerate() {
                    xv.row_mut(r).assign(&x.row(i));
                }
                let yb: Vec<Label> = batch.iter().map(|&i| labels[i]).collect();
                let (loss, gw, gb) = loss_and_gradient(xv.view(), &yb, w.view(), &b, self.l2);
                total += loss * batch.len() as f64;
                state.step(self, &mut w, &mut b, &gw, &gb);
            }
            history.push((total / n as f64) as f32);
        }
        if !w.iter().all(|v| v.is_finite()) {
            return Err(Error::param(
                "learning_rate",
                "training diverged (non-finite weights): lower the learning rate",
            ));
        }
        Ok(Softmax {
            params: self.clone(),
            weights: w,
            biases: b,
            loss_history: history,
        })
    }
}

impl Transform for Softmax {
    type Input = Vec<f32>;
    type Output = Label;

    fn transform(&self, input: &Vec<f32>) -> Result<Label> {
        Ok(crate::vecops::argmax(&self.probabilities(input)?) as Label)
    }
}

impl Softmax {
    /// Class probabilities of `x`.
    pub fn probabilities(&self, x: &[f32]) -> Result<Vec<f32>> {
        if x.len() != self.weights.ncols() {
            return Err(Error::DimensionMismatch {
                what: "feature vector length",
                expected: self.weights.ncols(),
                found: x.len(),
            });
        }
        check_finite(x, "features")?;
        let logits: Vec<f64> = self
            .weights
            .rows()
            .into_iter()
            .zip(&self.biases)
            .map(|(w, &b)| {
                w.iter()
                    .zip(x)
                    .map(|(&a, &v)| a as f64 * v as f64)
                    .sum::<f64>()
                    + b as f64
            })
            .collect();
        Ok(softmax(&logits).into_iter().map(|p| p as f32).collect())
    }
}

/// Mean cross-entropy of a batch (plus `l2/2 |W|^2`) and its gradients with respect to the
/// weights (`n_classes x dim`) and the biases.
pub fn loss_and_gradient(
    x: ArrayView2<f32>,
    y: &[Label],
    w: ArrayView2<f32>,
    b: &[f32],
    l2: f32,
) -> (f64, Array2<f32>, Vec<f32>) {
    let m = x.nrows() as f32;
    let mut logits = x.dot(&w.t());
    let mut loss = 0f64;
    for (mut row, &yi) in logits.axis_iter_mut(Axis(0)).zip(y) {
        let z: Vec<f64> = row.iter().zip(b).map(|(&v, &bi)| (v + bi) as f64).collect();
        let p = softmax(&z);
        loss -= p[yi as usize].max(f64::MIN_POSITIVE).ln();
        for (c, r) in row.iter_mut().enumerate() {
            // d loss / d logit = p - onehot, averaged over the batch.
            *r = ((p[c] - f64::from(c == yi as usize)) / m as f64) as f32;
        }
    }
    let mut gw = logits.t().dot(&x);
    gw.scaled_add(l2, &w);
    let gb = logits.sum_axis(Axis(0)).to_vec();
    let reg = 0.5 * l2 as f64 * w.iter().map(|&v| v as f64 * v as f64).sum::<f64>();
    (loss / m as f64 + reg, gw, gb)
}

fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

/// Per-parameter state of the update rules (velocity or first moment, second moment).
struct OptState {
    vw: Array2<f32>,
    vb: Vec<f32>,
    sw: Array2<f32>,
    sb: Vec<f32>,
    t: i32,
}

impl OptState {
    fn new(k: usize, d: usize) -> Self {
        OptState {
            vw: Array2::zeros((k, d)),
            vb: vec![0.0; k],
            sw: Array2::zeros((k, d)),
            sb: vec![0.0; k],
            t: 0,
        }
    }

    fn step(
        &mut self,
        p: &SoftmaxParams,
        w: &mut Array2<f32>,
        b: &mut [f32],
        gw: &Array2<f32>,
        gb: &[f32],
    ) {
        self.t += 1;
        let t = self.t;
        let w_iter = w
            .iter_mut()
            .zip(gw.iter())
            .zip(self.vw.iter_mut().zip(self.sw.iter_mut()));
        let b_iter = b
            .iter_mut()
            .zip(gb)
            .zip(self.vb.iter_mut().zip(self.sb.iter_mut()));
        for ((x, &g), (v, s)) in w_iter.chain(b_iter) {
            update(p, t, x, g, v, s);
        }
    }
}

#[inline]
fn update(p: &SoftmaxParams, t: i32, x: &mut f32, g: f32, v: &mut f32, s: &mut f32) {
    let lr = p.learning_rate;
    match p.optimizer {
        UpdateRule::Sgd => *x -= lr * g,
        UpdateRule::Momentum => {
            *v = p.momentum * *v - lr * g;
            *x += *v;
        }
        UpdateRule::Nesterov => {
            let prev = *v;
            *v = p.momentum * *v - lr * g;
            *x += -p.momentum * prev + (1.0 + p.momentum) * *v;
        }
        UpdateRule::Adam => {
            *v = p.beta1 * *v + (1.0 - p.beta1) * g;
            *s = p.beta2 * *s + (1.0 - p.beta2) * g * g;
            let mhat = *v / (1.0 - p.beta1.powi(t));
            let shat = *s / (1.0 - p.beta2.powi(t));
            *x -= lr * mhat / (shat.sqrt() + p.epsilon);
        }
    }
}

impl crate::persist::Model for Softmax {
    fn kind() -> String {
        "softmax".into()
    }

    /// One weight row and one bias per class (at least 2 classes), at least one feature,
    /// finite numbers.
    fn validate_loaded(&self) -> Result<()> {
        self.params.validate()?;
        let (k, dim) = self.weights.dim();
        crate::limits::check_class_count(k, "softmax")?;
        if k < 2 || dim == 0 || self.biases.len() != k {
            return Err(Error::DimensionMismatch {
                what: "softmax biases (one per class, at least 2 classes and 1 feature)",
                expected: k.max(2),
                found: if dim == 0 { 0 } else { self.biases.len() },
            });
        }
        check_finite(self.weights.as_slice().unwrap_or(&[]), "softmax weights")?;
        if self.weights.as_slice().is_none() {
            return Err(Error::param("weights", "not a standard-layout matrix"));
        }
        check_finite(&self.biases, "softmax biases")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(n: usize) -> (Vec<Vec<f32>>, Vec<Label>) {
        let mut r = Rng::new(2);
        let centres = [[0.0, 0.0, 1.0], [2.0, 0.0, 0.0], [0.0, 2.0, 0.0]];
        (0..n)
            .map(|i| {
                let c = i % 3;
                (
                    centres[c].iter().map(|m| m + 0.4 * r.normal()).collect(),
                    c as Label,
                )
            })
            .unzip()
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (x, y) = blobs(12);
        let x = stack_rows(&x).unwrap();
        let mut r = Rng::new(9);
        let w = Array2::from_shape_fn((3, 3), |_| r.normal() * 0.5);
        let b = vec![0.1, -0.2, 0.05];
        let (_, gw, gb) = loss_and_gradient(x.view(), &y, w.view(), &b, 0.01);
        let h = 1e-2f32;
        for i in 0..3 {
            for j in 0..3 {
                let (mut wp, mut wm) = (w.clone(), w.clone());
                wp[[i, j]] += h;
                wm[[i, j]] -= h;
                let lp = loss_and_gradient(x.view(), &y, wp.view(), &b, 0.01).0;
                let lm = loss_and_gradient(x.view(), &y, wm.view(), &b, 0.01).0;
                let num = (lp - lm) / (2.0 * h as f64);
                assert!((num - gw[[i, j]] as f64).abs() < 2e-3, "w[{i},{j}]");
            }
            let (mut bp, mut bm) = (b.clone(), b.clone());
            bp[i] += h;
            bm[i] -= h;
            let lp = loss_and_gradient(x.view(), &y, w.view(), &bp, 0.01).0;
            let lm = loss_and_gradient(x.view(), &y, w.view(), &bm, 0.01).0;
            let num = (lp - lm) / (2.0 * h as f64);
            assert!((num - gb[i] as f64).abs() < 2e-3, "b[{i}]");
        }
    }

    #[test]
    fn every_optimizer_lowers_the_loss_and_fits_blobs() {
        let (x, y) = blobs(150);
        for optimizer in [
            UpdateRule::Sgd,
            UpdateRule::Momentum,
            UpdateRule::Nesterov,
            UpdateRule::Adam,
        ] {
            let lr = if optimizer == UpdateRule::Adam {
                0.01
            } else {
                0.1
            };
            let m = SoftmaxParams {
                optimizer,
                learning_rate: lr,
                batch_size: 16,
                epochs: 30,
                ..Default::default()
            }
            .fit(&x, &y)
            .unwrap();
            let h = &m.loss_history;
            assert!(h[h.len() - 1] < 0.5 * h[0], "{optimizer:?}: {h:?}");
            let correct = x
                .iter()
                .zip(&y)
                .filter(|(v, l)| m.transform(v).unwrap() == **l)
                .count();
            assert!(correct >= 145, "{optimizer:?}: {correct}/150");
            let p = m.probabilities(&x[0]).unwrap();
            assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn invalid_params_are_named() {
        let cases: [crate::pipeline::Case<SoftmaxParams>; 8] = [
            ("learning_rate", |p| p.learning_rate = -1.0),
            ("momentum", |p| p.momentum = 1.0),
            ("beta1", |p| p.beta1 = 1.5),
            ("beta2", |p| p.beta2 = -0.1),
            ("epsilon", |p| p.epsilon = 0.0),
            ("batch_size", |p| p.batch_size = 0),
            ("epochs", |p| p.epochs = 0),
            ("l2", |p| p.l2 = -1.0),
        ];
        let run = |p: &SoftmaxParams| p.fit(&[vec![0.0], vec![1.0]], &[0, 1]);
        crate::pipeline::assert_rejected(&SoftmaxParams::default(), &cases, run);
    }

    #[test]
    fn divergence_is_an_error() {
        let x: Vec<Vec<f32>> = (0..20).map(|i| vec![1e30 * i as f32]).collect();
        let y: Vec<Label> = (0..20).map(|i| (i % 2) as Label).collect();
        let p = SoftmaxParams {
            learning_rate: 1e30,
            optimizer: UpdateRule::Sgd,
            epochs: 3,
            ..Default::default()
        };
        assert!(matches!(
            p.fit(&x, &y),
            Err(Error::InvalidParam {
                name: "learning_rate",
                ..
            })
        ));
    }
}
