//! Small vector kernels shared by the families: dot product, squared Euclidean / L1 / chi-squared
//! distance, sum, sum of squares, and arg-max.
//!
//! The `f32` kernels keep **eight independent accumulators** so that the compiler vectorises them:
//! element `i` of the first `8 * floor(n / 8)` elements is added into accumulator `i mod 8` (in
//! increasing `i`), the eight accumulators are then combined, and the tail (the last `n mod 8`
//! elements) is summed separately, in increasing index from `0.0`, and added last. Floating-point
//! addition is not associative, so the order in which the eight accumulators are combined changes
//! the last bits of the result; two orders exist in the crate and both are kept, under their own
//! names, because parity tests pin the numbers of their callers:
//!
//! - **sequential**: `((((((a0 + a1) + a2) + a3) + a4) + a5) + a6) + a7`, then `+ tail`: [`dot`],
//!   [`sq_dist`], [`l1_dist`], [`chi2_dist`], [`sum`], [`sum_sq`] (the kNN search, the linear
//!   SVM, SIFT's descriptor normalisation).
//! - **pairwise**: `((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7))`, then `+ tail`:
//!   [`sq_dist_pairwise`] (k-means assignment; its parity with VLFeat's k-means depends on it).
//!
//! Every 8-lane kernel is `#[inline(always)]` so that it is compiled into the caller's loop (and
//! into the caller's `pulp` SIMD context where there is one).
//!
//! [`dot_f64`] is the plain sequential `f64` dot product (no lanes), used where a distance is
//! re-ranked exactly.
//!
//! The two-slice kernels expect slices of one length (their callers check dimensions first);
//! given unequal lengths they sum the pairs `zip` forms per chunk and per tail, never panic.

/// Eight lane sums of `f(a_i, b_i)` over the whole chunks, and the tail sum over the remainder.
#[inline(always)]
fn lanes2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> ([f32; 8], f32) {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += f(x[l], y[l]);
        }
    }
    let mut tail = 0f32;
    for (&x, &y) in ra.iter().zip(rb) {
        tail += f(x, y);
    }
    (acc, tail)
}

/// The eight accumulators combined in index order (the sequential order).
#[inline(always)]
fn sequential(acc: [f32; 8]) -> f32 {
    acc.iter().sum::<f32>()
}

/// `sum_i f(a_i, b_i)` in eight lanes, combined sequentially, then the tail.
#[inline(always)]
pub fn lanes(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let (acc, tail) = lanes2(a, b, f);
    sequential(acc) + tail
}

/// `sum_i a_i b_i` (sequential order).
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    lanes(a, b, |x, y| x * y)
}

/// `sum_i (a_i - b_i)^2` (sequential order).
#[inline(always)]
pub fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    lanes(a, b, |x, y| (x - y) * (x - y))
}

/// `sum_i (a_i - b_i)^2` with the accumulators combined pairwise,
/// `((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7))`, then the tail: k-means' order, which its
/// parity with VLFeat depends on.
#[inline(always)]
pub fn sq_dist_pairwise(a: &[f32], b: &[f32]) -> f32 {
    let (acc, tail) = lanes2(a, b, |x, y| (x - y) * (x - y));
    let s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    s + tail
}

/// `sum_i |a_i - b_i|` (sequential order).
#[inline(always)]
pub fn l1_dist(a: &[f32], b: &[f32]) -> f32 {
    lanes(a, b, |x, y| (x - y).abs())
}

/// `sum_i (a_i - b_i)^2 / (a_i + b_i)`, a term with `a_i + b_i <= 0` counting `0` (sequential
/// order).
#[inline(always)]
pub fn chi2_dist(a: &[f32], b: &[f32]) -> f32 {
    lanes(a, b, |x, y| {
        let s = x + y;
        if s > 0.0 { (x - y) * (x - y) / s } else { 0.0 }
    })
}

/// `sum_i v_i` (sequential order).
#[inline(always)]
pub fn sum(v: &[f32]) -> f32 {
    lanes(v, v, |x, _| x)
}

/// `sum_i v_i^2` (sequential order).
#[inline(always)]
pub fn sum_sq(v: &[f32]) -> f32 {
    lanes(v, v, |x, _| x * x)
}

/// `sum_i a_i b_i` in `f64`, one accumulator, in index order.
#[inline]
pub fn dot_f64(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// Index of the largest value; ties go to the lowest index. Element `0` wins unless a later element
/// is strictly greater (so a `NaN` at index 0 wins, and later `NaN`s never win); `0` for an empty
/// slice.
#[inline]
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &s) in v.iter().enumerate() {
        if s > v[best] {
            best = i;
        }
    }
    best
}

/// Index and value of the largest entry: the first one on ties, and NaN never wins (the
/// search starts from `(0, -inf)`, so an empty or all-NaN row gives `(0, -inf)`). The CNN's
/// prediction and loss use it; unlike [`argmax`], a NaN at index 0 does not stick.
#[inline]
pub fn max_entry(v: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (j, &x) in v.iter().enumerate() {
        if x > best.1 {
            best = (j, x);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernels against a plain loop in the documented order.
    #[test]
    fn kernels_follow_their_documented_order() {
        let a: Vec<f32> = (0..21)
            .map(|i| (i as f32 * 0.37).sin() * 3.0 + 0.1)
            .collect();
        let b: Vec<f32> = (0..21)
            .map(|i| (i as f32 * 0.71).cos() * 2.0 + 2.5)
            .collect();
        let reference = |f: &dyn Fn(f32, f32) -> f32, pairwise: bool| {
            let mut acc = [0f32; 8];
            for i in 0..16 {
                acc[i % 8] += f(a[i], b[i]);
            }
            let mut tail = 0f32;
            for i in 16..21 {
                tail += f(a[i], b[i]);
            }
            let s = if pairwise {
                ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
            } else {
                acc.iter().fold(0.0, |s, &x| s + x)
            };
            s + tail
        };
        let cases: [(f32, f32); 6] = [
            (dot(&a, &b), reference(&|x, y| x * y, false)),
            (sq_dist(&a, &b), reference(&|x, y| (x - y) * (x - y), false)),
            (
                sq_dist_pairwise(&a, &b),
                reference(&|x, y| (x - y) * (x - y), true),
            ),
            (l1_dist(&a, &b), reference(&|x, y| (x - y).abs(), false)),
            (sum(&a), reference(&|x, _| x, false)),
            (sum_sq(&a), reference(&|x, _| x * x, false)),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got.to_bits(), want.to_bits(), "kernel {i}");
        }
        let chi = chi2_dist(&a, &b);
        assert!(chi.is_finite() && chi > 0.0);
    }

    #[test]
    fn argmax_first_of_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -1.0]), 1);
        assert_eq!(argmax(&[]), 0);
        assert_eq!(argmax(&[f32::NAN, 1.0]), 0);
        assert_eq!(max_entry(&[1.0, 3.0, 3.0, -1.0]), (1, 3.0));
        assert_eq!(max_entry(&[f32::NAN, 1.0]), (1, 1.0));
        assert_eq!(max_entry(&[]), (0, f32::NEG_INFINITY));
    }
}
