//! Inverted dropout: training keeps each value with probability `1 - rate` and scales it by
//! `1 / (1 - rate)`; identity at inference. The mask of layer `i` comes from
//! `Rng::stream(Rng::stream(step_seed, i).next_u64(), chunk)`, one stream per chunk of
//! samples, so it does not depend on the thread count.

use super::network::{Layer, LayerSize, Shape};
use super::pass::{Cache, SAMPLE_CHUNK, resize, zip3};
use crate::error::{Error, Result};
use crate::rng::Rng;

/// Dropout keeps its input's shape; its rate must be in `[0, 1)`.
pub(super) fn plan(rate: f32, s: Shape) -> Result<LayerSize> {
    if !(0.0..1.0).contains(&rate) {
        return Err(Error::param("layers", "dropout rate must be in [0, 1)"));
    }
    Ok(LayerSize::same(s))
}

/// Training forward of layer number `index`: draws the mask into `cache.mask`.
pub(super) fn forward_train(
    l: &Layer,
    rate: f32,
    index: usize,
    seed: u64,
    x: &[f32],
    y: &mut [f32],
    cache: &mut Cache,
) {
    resize(&mut cache.mask, y.len());
    let len = SAMPLE_CHUNK * l.input.len();
    let layer_seed = Rng::stream(seed, index as u64).next_u64();
    zip3((x, y, &mut cache.mask[..]), [len; 3], |c, x, y, m| {
        let mut rng = Rng::stream(layer_seed, c as u64);
        let keep = 1.0 / (1.0 - rate);
        for ((y, m), &x) in y.iter_mut().zip(m.iter_mut()).zip(x) {
            *m = if rng.next_f32() < rate { 0.0 } else { keep };
            *y = x * *m;
        }
    });
}

/// `dx = dy ⊙ mask`.
pub(super) fn backward(dy: &[f32], dx: &mut [f32], cache: &Cache) {
    for ((dx, &d), &m) in dx.iter_mut().zip(dy).zip(&cache.mask) {
        *dx = d * m;
    }
}

#[cfg(test)]
mod tests {
    use super::super::network::LayerSpec;
    use super::super::pass::check::{conv, dense, grad_check_all, shape};

    #[test]
    fn dropout_gradients_match_finite_differences() {
        // The mask is drawn from the step seed, so it is the same in every evaluation.
        grad_check_all(&[(
            vec![conv(3, 3, 1, 1), LayerSpec::Dropout { rate: 0.3 }, dense(3)],
            shape(4, 4, 1),
            9,
            8,
        )]);
    }
}
