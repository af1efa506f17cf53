//! Softmax cross-entropy with label smoothing ε over K outputs: target
//! `q = (1 - ε) onehot(y) + ε / K`, loss `-Σ q log softmax(z)`, `dz = (softmax(z) - q) / N`
//! (Szegedy et al. 2016 for the smoothing). The softmax subtracts the row's largest logit
//! first; the loss is summed in f64 in row order.

/// What [`softmax_cross_entropy`] measures on a batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct BatchLoss {
    /// Summed (not averaged) loss over the rows.
    pub loss: f64,
    /// Rows whose largest logit is the label.
    pub correct: usize,
}

/// Softmax cross-entropy with label smoothing over the `n` rows of `logits` (`k` columns):
/// writes `dLoss/dlogits` (already divided by `n`) into `dz`.
pub(crate) fn softmax_cross_entropy(
    logits: &[f32],
    labels: &[u32],
    k: usize,
    smoothing: f32,
    dz: &mut [f32],
) -> BatchLoss {
    let n = labels.len();
    let (mut loss, mut correct) = (0f64, 0);
    for ((z, d), &y) in logits.chunks(k).zip(dz.chunks_mut(k)).zip(labels) {
        let (best, mx) = crate::vecops::max_entry(z);
        correct += (best == y as usize) as usize;
        let sum: f32 = z.iter().map(|v| (v - mx).exp()).sum();
        let log_sum = sum.ln() + mx;
        for (j, (d, &v)) in d.iter_mut().zip(z).enumerate() {
            let q = smoothing / k as f32
                + if j == y as usize {
                    1.0 - smoothing
                } else {
                    0.0
                };
            loss += (q * (log_sum - v)) as f64;
            *d = (((v - mx).exp() / sum) - q) / n as f32;
        }
    }
    BatchLoss { loss, correct }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn cross_entropy_gradient_matches_finite_differences() {
        let mut rng = Rng::new(3);
        let (n, k) = (4, 5);
        let z: Vec<f32> = (0..n * k).map(|_| rng.uniform(-2.0, 2.0)).collect();
        let labels = [0, 3, 4, 1];
        for smoothing in [0.0, 0.1] {
            let mut dz = vec![0f32; n * k];
            let loss = softmax_cross_entropy(&z, &labels, k, smoothing, &mut dz).loss;
            let mut scratch = vec![0f32; n * k];
            for i in 0..n * k {
                let h = 1e-2;
                let mut zp = z.clone();
                zp[i] += h;
                let lp = softmax_cross_entropy(&zp, &labels, k, smoothing, &mut scratch).loss;
                zp[i] -= 2.0 * h;
                let lm = softmax_cross_entropy(&zp, &labels, k, smoothing, &mut scratch).loss;
                let num = (lp - lm) / (2.0 * h as f64) / n as f64;
                assert!((num - dz[i] as f64).abs() < 1e-3, "{num} vs {}", dz[i]);
            }
            assert!(loss > 0.0);
        }
    }

    #[test]
    fn cross_entropy_of_a_hand_computed_case() {
        // Two equal logits, label 0: softmax = 1/2, loss = ln 2; with smoothing 0.2 over
        // K = 2 the target is (0.9, 0.1): loss still ln 2, gradient (0.5 - 0.9, 0.5 - 0.1).
        let mut dz = [0f32; 2];
        let BatchLoss { loss, correct } = softmax_cross_entropy(&[1.0, 1.0], &[0], 2, 0.2, &mut dz);
        assert!((loss - std::f64::consts::LN_2).abs() < 1e-6);
        assert_eq!(correct, 1);
        assert!((dz[0] + 0.4).abs() < 1e-6 && (dz[1] - 0.4).abs() < 1e-6);
    }
}
