//! The mini-batch training loop: shuffling, augmentation, forward, loss, backward, update.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::loss::{self, BatchLoss};
use super::network::{LayerSpec, Network};
use super::optim::OptimizerState;
use super::pass::{self, SAMPLE_CHUNK, Workspace};
use super::{CnnParams, EpochRecord};
use crate::error::{Error, Result};
use crate::progress;
use crate::rng::Rng;

/// Random training-time distortions of the input images (none at inference).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Augment {
    /// Mirror each image left-right with probability 1/2.
    pub flip: bool,
    /// Shift each image by a uniform whole number of pixels in `[-max_shift, max_shift]`
    /// along each axis, filling with background (pixel value 0). 0 disables shifting.
    pub max_shift: usize,
}

impl Default for Augment {
    fn default() -> Self {
        Augment {
            flip: true,
            max_shift: 0,
        }
    }
}

/// Independent random streams of one training run, derived from the seed.
const SHUFFLE_STREAM: u64 = 1 << 40;
const AUGMENT_STREAM: u64 = 2 << 40;
const DROPOUT_STREAM: u64 = 3 << 40;

/// Training images as raw pixels (`n` rows of `height * width` values in `[0, 1]`).
pub(crate) struct Pixels<'a> {
    pub data: &'a [f32],
    pub height: usize,
    pub width: usize,
}

/// What [`train`] returns.
pub(crate) struct Trained {
    /// The trained parameters.
    pub weights: Vec<f32>,
    /// The batch-norm running statistics.
    pub buffers: Vec<f32>,
    /// One record per epoch.
    pub history: Vec<EpochRecord>,
}

/// Trains `net` from scratch; returns the weights, the buffers and the per-epoch history.
/// `eval` (normalised pixels and labels) is scored after every epoch when given.
#[allow(clippy::too_many_arguments)]
pub(crate) fn train(
    p: &CnnParams,
    net: &Network,
    train: &Pixels,
    labels: &[u32],
    mean: f32,
    std: f32,
    eval: Option<(&[f32], &[u32])>,
) -> Result<Trained> {
    let init = net.init(p.seed);
    let (mut weights, mut buffers) = (init.params, init.buffers);
    let decay = decay_mask(net);
    let mut opt = OptimizerState::new(net.n_params);
    let mut ws = Workspace::new(net);
    let in_len = net.input.len();
    let k = net.output().len();
    let n = labels.len();
    let steps_per_epoch = n.div_ceil(p.batch_size);
    let total = steps_per_epoch * p.epochs;
    let warmup = (p.warmup_epochs * steps_per_epoch as f32).round() as usize;
    let aug_seed = Rng::stream(p.seed, AUGMENT_STREAM).next_u64();
    let mut order: Vec<usize> = (0..n).collect();
    let mut batch_labels = Vec::with_capacity(p.batch_size);
    let mut history = Vec::with_capacity(p.epochs);
    let mut step = 0;
    for epoch in 0..p.epochs {
        Rng::stream(p.seed, SHUFFLE_STREAM + epoch as u64).shuffle(&mut order);
        let bar = progress::start(
            &format!("epoch {}/{}", epoch + 1, p.epochs),
            steps_per_epoch as u64,
        );
        let (mut loss_sum, mut correct) = (0f64, 0usize);
        let mut lr = p.learning_rate;
        for (b, idx) in order.chunks(p.batch_size).enumerate() {
            let bs = idx.len();
            ws.acts[0].resize(bs * in_len, 0.0);
            let first = epoch * n + b * p.batch_size;
            ws.acts[0]
                .par_chunks_mut(SAMPLE_CHUNK * in_len)
                .zip(idx.par_chunks(SAMPLE_CHUNK))
                .enumerate()
                .for_each(|(c, (dst, idx))| {
                    for (j, (dst, &i)) in dst.chunks_mut(in_len).zip(idx).enumerate() {
                        let src = &train.data[i * in_len..(i + 1) * in_len];
                        let mut rng = Rng::stream(aug_seed, (first + c * SAMPLE_CHUNK + j) as u64);
                        augment(
                            &p.augment,
                            src,
                            train.height,
                            train.width,
                            mean,
                            std,
                            &mut rng,
                            dst,
                        );
                    }
                });
            batch_labels.clear();
            batch_labels.extend(idx.iter().map(|&i| labels[i]));
            let step_seed = Rng::stream(p.seed, DROPOUT_STREAM + step as u64).next_u64();
            pass::forward_train(net, &weights, &mut buffers, &mut ws, bs, step_seed);
            ws.dy.resize(bs * k, 0.0);
            let logits = &ws.acts[net.layers.len()][..bs * k];
            let BatchLoss { loss, correct: ok } = loss::softmax_cross_entropy(
                logits,
                &batch_labels,
                k,
                p.label_smoothing,
                &mut ws.dy[..bs * k],
            );
            if !loss.is_finite() {
                bar.finish();
                return Err(Error::NonFinite {
                    what: "training loss (the learning rate is probably too high)",
                });
            }
            loss_sum += loss;
            correct += ok;
            pass::backward(net, &weights, &mut ws, bs);
            lr = p.learning_rate
                * p.schedule.factor(step, total, steps_per_epoch)
                * if step < warmup {
                    (step + 1) as f32 / warmup as f32
                } else {
                    1.0
                };
            opt.step(
                &p.optimizer,
                &mut weights,
                &ws.grads,
                &decay,
                lr,
                p.weight_decay,
            );
            step += 1;
            bar.inc(1);
            if b % 50 == 0 {
                bar.message(&format!("loss {:.4}", loss / bs as f64));
            }
        }
        bar.finish();
        let eval_accuracy = eval.map(|(x, y)| {
            let logits = pass::forward_eval(net, &weights, &buffers, x, y.len());
            let hits = logits
                .chunks(k)
                .zip(y)
                .filter(|(z, y)| crate::vecops::max_entry(z).0 == **y as usize)
                .count();
            hits as f32 / y.len().max(1) as f32
        });
        history.push(EpochRecord {
            epoch: epoch + 1,
            loss: (loss_sum / n as f64) as f32,
            accuracy: correct as f32 / n as f32,
            learning_rate: lr,
            eval_accuracy,
        });
    }
    Ok(Trained {
        weights,
        buffers,
        history,
    })
}

/// 1 for the weights of conv and dense layers, 0 for biases and batch-norm parameters.
fn decay_mask(net: &Network) -> Vec<f32> {
    let mut mask = vec![0f32; net.n_params];
    for l in &net.layers {
        let is_weight = matches!(l.spec, LayerSpec::Conv2d { .. } | LayerSpec::Dense { .. });
        if is_weight {
            mask[l.param_offset..l.param_offset + l.n_weights].fill(1.0);
        }
    }
    mask
}

/// Writes the normalised, possibly flipped and shifted, image `src` into `dst`.
#[allow(clippy::too_many_arguments)]
fn augment(
    a: &Augment,
    src: &[f32],
    h: usize,
    w: usize,
    mean: f32,
    std: f32,
    rng: &mut Rng,
    dst: &mut [f32],
) {
    let flip = a.flip && rng.next_u64() & 1 == 1;
    let span = 2 * a.max_shift + 1;
    let (dy, dx) = if a.max_shift > 0 {
        (
            rng.below(span) as isize - a.max_shift as isize,
            rng.below(span) as isize - a.max_shift as isize,
        )
    } else {
        (0, 0)
    };
    let background = (0.0 - mean) / std;
    for y in 0..h {
        let sy = y as isize - dy;
        for x in 0..w {
            let fx = if flip { w - 1 - x } else { x };
            let sx = fx as isize - dx;
            dst[y * w + x] = if sy < 0 || sx < 0 || sy >= h as isize || sx >= w as isize {
                background
            } else {
                (src[sy as usize * w + sx as usize] - mean) / std
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn augment_flips_and_shifts_with_background_fill() {
        let src: Vec<f32> = (0..6).map(|v| v as f32).collect(); // 2 rows x 3 columns
        let mut dst = vec![0f32; 6];
        let none = Augment {
            flip: false,
            max_shift: 0,
        };
        augment(&none, &src, 2, 3, 1.0, 2.0, &mut Rng::new(0), &mut dst);
        assert_eq!(dst, vec![-0.5, 0.0, 0.5, 1.0, 1.5, 2.0]);
        // Over many draws, a flip-only augmentation yields exactly the two mirror images.
        let flip = Augment {
            flip: true,
            max_shift: 0,
        };
        let mut seen = std::collections::BTreeSet::new();
        let mut rng = Rng::new(1);
        for _ in 0..50 {
            augment(&flip, &src, 2, 3, 0.0, 1.0, &mut rng, &mut dst);
            seen.insert(dst.iter().map(|v| *v as i32).collect::<Vec<_>>());
        }
        let want: std::collections::BTreeSet<_> = [vec![0, 1, 2, 3, 4, 5], vec![2, 1, 0, 5, 4, 3]]
            .into_iter()
            .collect();
        assert_eq!(seen, want);
        // Shifts keep the pixel multiset up to background fill and stay within max_shift.
        let shift = Augment {
            flip: false,
            max_shift: 1,
        };
        for _ in 0..50 {
            augment(&shift, &src, 2, 3, 0.0, 1.0, &mut rng, &mut dst);
            let moved: Vec<_> = dst.iter().filter(|v| **v != 0.0).collect();
            assert!(!moved.is_empty() && moved.iter().all(|v| src.contains(v)));
        }
    }
}
