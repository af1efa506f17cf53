//! Optimisers (SGD with momentum / Nesterov, Adam, AdamW) and learning-rate schedules.
//!
//! Update rules, for parameter `p`, gradient `g`, learning rate `lr`, weight decay `wd`
//! (applied to weights only, never to biases or batch-norm parameters):
//! - SGD (PyTorch's form): `g ← g + wd p`, `v ← μ v + g`, then `p ← p - lr v`, or with
//!   Nesterov `p ← p - lr (g + μ v)`.
//! - Adam (Kingma & Ba 2015): `g ← g + wd p` (L2 in the gradient), `m ← β1 m + (1 - β1) g`,
//!   `v ← β2 v + (1 - β2) g²`, `p ← p - lr m̂ / (sqrt(v̂) + eps)` with `m̂ = m / (1 - β1^t)`,
//!   `v̂ = v / (1 - β2^t)`.
//! - AdamW (Loshchilov & Hutter 2019): decoupled decay `p ← p - lr wd p`, then Adam without
//!   the L2 term.
//!
//! Schedules give a factor of the base learning rate as a function of the training progress
//! `t = step / total_steps` in `[0, 1)`; an optional linear warm-up multiplies it by
//! `min(1, (step + 1) / warmup_steps)`.
//! - constant: 1.
//! - step: `gamma^floor(epoch / every_epochs)`.
//! - cosine: `f + (1 - f) (1 + cos(π t)) / 2`, with `f = final_fraction`.
//! - linear: `1 - (1 - f) t`.
//! - one-cycle (Smith & Topin 2019, PyTorch's `OneCycleLR` without momentum cycling): cosine
//!   from `1 / start_div` up to 1 over the first `peak_fraction` of training, then cosine
//!   down to `1 / (start_div · final_div)`.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Parameters per parallel task of an optimiser step.
const PARAM_CHUNK: usize = 1 << 14;

/// How the weights move given their gradient.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    /// Stochastic gradient descent with (optionally Nesterov) momentum.
    Sgd {
        /// Momentum μ in `[0, 1)`; 0 is plain SGD.
        momentum: f32,
        /// Nesterov's look-ahead form.
        nesterov: bool,
    },
    /// Adam, with weight decay as an L2 term in the gradient.
    Adam {
        /// Decay of the first moment, in `[0, 1)`. Usually 0.9.
        beta1: f32,
        /// Decay of the second moment, in `[0, 1)`. Usually 0.999.
        beta2: f32,
        /// Added to the denominator, > 0. Usually 1e-8.
        eps: f32,
    },
    /// Adam with decoupled weight decay.
    #[serde(rename = "adamw")]
    AdamW {
        /// Decay of the first moment, in `[0, 1)`. Usually 0.9.
        beta1: f32,
        /// Decay of the second moment, in `[0, 1)`. Usually 0.999.
        beta2: f32,
        /// Added to the denominator, > 0. Usually 1e-8.
        eps: f32,
    },
}

impl Optimizer {
    /// Adam with the usual constants (0.9, 0.999, 1e-8).
    pub fn adam() -> Self {
        Optimizer::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    /// AdamW with the usual constants (0.9, 0.999, 1e-8).
    pub fn adamw() -> Self {
        Optimizer::AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    /// Checks the constants.
    pub fn validate(&self) -> Result<()> {
        let unit = |v: f32| (0.0..1.0).contains(&v);
        match *self {
            Optimizer::Sgd { momentum, .. } if !unit(momentum) => {
                Err(Error::param("optimizer", "sgd momentum must be in [0, 1)"))
            }
            Optimizer::Adam { beta1, beta2, eps } | Optimizer::AdamW { beta1, beta2, eps }
                if !(unit(beta1) && unit(beta2) && eps > 0.0 && eps.is_finite()) =>
            {
                Err(Error::param(
                    "optimizer",
                    "adam betas must be in [0, 1) and eps > 0",
                ))
            }
            _ => Ok(()),
        }
    }
}

/// The update rules by name, as the command line offers them: each stands for an
/// [`Optimizer`] with the usual constants (momentum 0.9 for the SGD forms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum OptimizerKind {
    /// SGD with momentum 0.9.
    #[cfg_attr(feature = "cli", value(help = None::<&'static str>))]
    Sgd,
    /// SGD with Nesterov momentum 0.9.
    #[cfg_attr(feature = "cli", value(help = None::<&'static str>))]
    Nesterov,
    /// [`Optimizer::adam`].
    #[cfg_attr(feature = "cli", value(help = None::<&'static str>))]
    Adam,
    /// [`Optimizer::adamw`].
    #[cfg_attr(feature = "cli", value(name = "adamw", help = None::<&'static str>))]
    AdamW,
}

impl OptimizerKind {
    /// The optimizer this name stands for.
    pub fn optimizer(self) -> Optimizer {
        match self {
            OptimizerKind::Sgd => Optimizer::Sgd {
                momentum: 0.9,
                nesterov: false,
            },
            OptimizerKind::Nesterov => Optimizer::Sgd {
                momentum: 0.9,
                nesterov: true,
            },
            OptimizerKind::Adam => Optimizer::adam(),
            OptimizerKind::AdamW => Optimizer::adamw(),
        }
    }
}

/// How the learning rate changes over training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Multiply by `gamma` every `every_epochs` epochs.
    Step {
        /// Epochs between drops, >= 1.
        every_epochs: usize,
        /// Factor per drop, in `(0, 1]`.
        gamma: f32,
    },
    /// Cosine decay to `final_fraction` of the base rate.
    Cosine {
        /// Fraction of the base rate reached at the end, in `[0, 1]`.
        final_fraction: f32,
    },
    /// Linear decay to `final_fraction` of the base rate.
    Linear {
        /// Fraction of the base rate reached at the end, in `[0, 1]`.
        final_fraction: f32,
    },
    /// Cosine warm-up to the base rate, then cosine annealing.
    OneCycle {
        /// Fraction of training spent rising, in `(0, 1)`. PyTorch's default 0.3.
        peak_fraction: f32,
        /// Start at `lr / start_div`, >= 1. PyTorch's default 25.
        start_div: f32,
        /// End at `lr / (start_div · final_div)`, >= 1. PyTorch's default 1e4.
        final_div: f32,
    },
}

impl Schedule {
    /// One-cycle peaking at 25 % of training, starting at lr/10 and ending at lr/1000.
    pub fn one_cycle() -> Self {
        Schedule::OneCycle {
            peak_fraction: 0.25,
            start_div: 10.0,
            final_div: 100.0,
        }
    }

    /// Checks the constants.
    pub fn validate(&self) -> Result<()> {
        let ok = match *self {
            Schedule::Constant => true,
            Schedule::Step {
                every_epochs,
                gamma,
            } => every_epochs >= 1 && gamma > 0.0 && gamma <= 1.0,
            Schedule::Cosine { final_fraction } | Schedule::Linear { final_fraction } => {
                (0.0..=1.0).contains(&final_fraction)
            }
            Schedule::OneCycle {
                peak_fraction,
                start_div,
                final_div,
            } => {
                peak_fraction > 0.0
                    && peak_fraction < 1.0
                    && start_div >= 1.0
                    && final_div >= 1.0
                    && start_div.is_finite()
                    && final_div.is_finite()
            }
        };
        if ok {
            Ok(())
        } else {
            Err(Error::param(
                "schedule",
                format!("constants out of range in {self:?}"),
            ))
        }
    }

    /// Factor of the base rate at `step` of `total_steps` (`steps_per_epoch` per epoch).
    pub fn factor(&self, step: usize, total_steps: usize, steps_per_epoch: usize) -> f32 {
        let t = step as f32 / total_steps.max(1) as f32;
        let anneal = |from: f32, to: f32, frac: f32| {
            to + (from - to) * (1.0 + (std::f32::consts::PI * frac).cos()) / 2.0
        };
        match *self {
            Schedule::Constant => 1.0,
            Schedule::Step {
                every_epochs,
                gamma,
            } => gamma.powi((step / steps_per_epoch.max(1) / every_epochs) as i32),
            Schedule::Cosine { final_fraction } => anneal(1.0, final_fraction, t),
            Schedule::Linear { final_fraction } => 1.0 - (1.0 - final_fraction) * t,
            Schedule::OneCycle {
                peak_fraction,
                start_div,
                final_div,
            } => {
                if t < peak_fraction {
                    anneal(1.0 / start_div, 1.0, t / peak_fraction)
                } else {
                    let end = 1.0 / (start_div * final_div);
                    anneal(1.0, end, (t - peak_fraction) / (1.0 - peak_fraction))
                }
            }
        }
    }
}

/// The schedules by name, as the command line offers them: each stands for a [`Schedule`]
/// with fixed constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum ScheduleKind {
    /// [`Schedule::Constant`].
    #[cfg_attr(feature = "cli", value(help = None::<&'static str>))]
    Constant,
    /// x0.1 every third of training.
    #[cfg_attr(feature = "cli", value(help = None::<&'static str>))]
    Step,
    /// Cosine decay to 0.
    #[cfg_attr(feature = "cli", value(help = None::<&'static str>))]
    Cosine,
    /// Linear decay to 0.
    #[cfg_attr(feature = "cli", value(help = None::<&'static str>))]
    Linear,
    /// [`Schedule::one_cycle`].
    #[cfg_attr(feature = "cli", value(help = None::<&'static str>))]
    OneCycle,
}

impl ScheduleKind {
    /// The schedule this name stands for, for a training of `epochs` epochs.
    pub fn schedule(self, epochs: usize) -> Schedule {
        match self {
            ScheduleKind::Constant => Schedule::Constant,
            ScheduleKind::Step => Schedule::Step {
                every_epochs: epochs.div_ceil(3).max(1),
                gamma: 0.1,
            },
            ScheduleKind::Cosine => Schedule::Cosine {
                final_fraction: 0.0,
            },
            ScheduleKind::Linear => Schedule::Linear {
                final_fraction: 0.0,
            },
            ScheduleKind::OneCycle => Schedule::one_cycle(),
        }
    }
}
/// The optimiser's running state (moments; SGD uses the first as its velocity) and its step
/// counter.
#[derive(Clone, Debug)]
pub(crate) struct OptimizerState {
    first: Vec<f32>,
    second: Vec<f32>,
    t: i32,
}

impl OptimizerState {
    pub fn new(n: usize) -> Self {
        OptimizerState {
            first: vec![0.0; n],
            second: vec![0.0; n],
            t: 0,
        }
    }

    /// One update of `params` from `grads`; `decay[i]` is 1 for weights, 0 for the others.
    pub fn step(
        &mut self,
        optimizer: &Optimizer,
        params: &mut [f32],
        grads: &[f32],
        decay: &[f32],
        lr: f32,
        weight_decay: f32,
    ) {
        self.t += 1;
        let t = self.t;
        (
            params.par_chunks_mut(PARAM_CHUNK),
            grads.par_chunks(PARAM_CHUNK),
            decay.par_chunks(PARAM_CHUNK),
            self.first.par_chunks_mut(PARAM_CHUNK),
            self.second.par_chunks_mut(PARAM_CHUNK),
        )
            .into_par_iter()
            .for_each(|(p, g, d, m, v)| match *optimizer {
                Optimizer::Sgd { momentum, nesterov } => {
                    for i in 0..p.len() {
                        let g = g[i] + weight_decay * d[i] * p[i];
                        m[i] = momentum * m[i] + g;
                        p[i] -= lr * if nesterov { g + momentum * m[i] } else { m[i] };
                    }
                }
                Optimizer::Adam { beta1, beta2, eps } | Optimizer::AdamW { beta1, beta2, eps } => {
                    let decoupled = matches!(optimizer, Optimizer::AdamW { .. });
                    let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
                    for i in 0..p.len() {
                        let mut g = g[i];
                        if decoupled {
                            p[i] -= lr * weight_decay * d[i] * p[i];
                        } else {
                            g += weight_decay * d[i] * p[i];
                        }
                        m[i] = beta1 * m[i] + (1.0 - beta1) * g;
                        v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
                        p[i] -= lr * (m[i] / c1) / ((v[i] / c2).sqrt() + eps);
                    }
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_hit_their_end_points() {
        let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
        let cos = Schedule::Cosine {
            final_fraction: 0.1,
        };
        assert!(close(cos.factor(0, 100, 10), 1.0));
        assert!(close(cos.factor(50, 100, 10), 0.55));
        let lin = Schedule::Linear {
            final_fraction: 0.0,
        };
        assert!(close(lin.factor(25, 100, 10), 0.75));
        let step = Schedule::Step {
            every_epochs: 2,
            gamma: 0.5,
        };
        assert!(close(step.factor(19, 100, 10), 1.0));
        assert!(close(step.factor(20, 100, 10), 0.5));
        assert!(close(step.factor(45, 100, 10), 0.25));
        let one = Schedule::OneCycle {
            peak_fraction: 0.25,
            start_div: 10.0,
            final_div: 100.0,
        };
        assert!(close(one.factor(0, 100, 10), 0.1));
        assert!(close(one.factor(25, 100, 10), 1.0));
        assert!(one.factor(99, 100, 10) < 0.002);
        assert!(one.factor(10, 100, 10) < one.factor(20, 100, 10));
    }

    #[test]
    fn sgd_and_adam_match_hand_computed_steps() {
        // SGD momentum 0.5: v = g = 2 then v = 0.5 * 2 + 2 = 3.
        let mut p = vec![1.0f32];
        let sgd = Optimizer::Sgd {
            momentum: 0.5,
            nesterov: false,
        };
        let mut s = OptimizerState::new(1);
        s.step(&sgd, &mut p, &[2.0], &[1.0], 0.1, 0.0);
        assert!((p[0] - 0.8).abs() < 1e-6);
        s.step(&sgd, &mut p, &[2.0], &[1.0], 0.1, 0.0);
        assert!((p[0] - 0.5).abs() < 1e-6);
        // Nesterov: first step moves by lr (g + μ g) = 0.1 * 3.
        let nest = Optimizer::Sgd {
            momentum: 0.5,
            nesterov: true,
        };
        let mut p = vec![1.0f32];
        OptimizerState::new(1).step(&nest, &mut p, &[2.0], &[1.0], 0.1, 0.0);
        assert!((p[0] - 0.7).abs() < 1e-6);
        // Adam's first step is lr * sign(g) (bias-corrected moments cancel).
        let mut p = vec![1.0f32, 1.0];
        let adam = Optimizer::adam();
        OptimizerState::new(2).step(&adam, &mut p, &[3.0, -0.5], &[1.0, 1.0], 0.01, 0.0);
        assert!((p[0] - 0.99).abs() < 1e-6 && (p[1] - 1.01).abs() < 1e-6);
        // AdamW decays weights (not biases) by lr * wd * p before the Adam step.
        let mut p = vec![1.0f32, 1.0];
        let adamw = Optimizer::adamw();
        OptimizerState::new(2).step(&adamw, &mut p, &[0.0, 0.0], &[1.0, 0.0], 0.1, 0.5);
        assert!((p[0] - 0.95).abs() < 1e-6 && p[1] == 1.0);
    }

    #[test]
    fn validation_rejects_out_of_range_constants() {
        let bad_opt = Optimizer::Sgd {
            momentum: 1.0,
            nesterov: false,
        };
        assert!(matches!(
            bad_opt.validate(),
            Err(Error::InvalidParam {
                name: "optimizer",
                ..
            })
        ));
        let bad_adam = Optimizer::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 0.0,
        };
        assert!(bad_adam.validate().is_err());
        for s in [
            Schedule::Step {
                every_epochs: 0,
                gamma: 0.5,
            },
            Schedule::Cosine {
                final_fraction: 1.5,
            },
            Schedule::OneCycle {
                peak_fraction: 1.0,
                start_div: 25.0,
                final_div: 1e4,
            },
        ] {
            assert!(matches!(
                s.validate(),
                Err(Error::InvalidParam {
                    name: "schedule",
                    ..
                })
            ));
        }
    }
}
