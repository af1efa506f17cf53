//! The one matrix product the CNN runs on: a checked, safe wrapper over the `gemm` crate.
//!
//! # Why a dependency, and why `unsafe` here
//! Every conv and dense layer is a matrix product (convolutions through im2col), so this
//! function is the whole speed of training. On the shapes of the default network (one chunk
//! of 8-16 images, single-threaded) `gemm` (AVX2/FMA/AVX-512 picked at run time, packed,
//! blocked) measured ahead of `ndarray`'s `general_mat_mul` (matrixmultiply) and far ahead of
//! a register-blocked kernel in safe Rust (baseline x86-64, SSE2 only); the figures are in
//! ARCHITECTURE.md, under Dependencies.
//!
//! Safe Rust cannot reach the vector units beyond the compile-time target without a run-time
//! dispatch, and dispatch needs `unsafe` somewhere. `gemm::gemm` takes raw pointers, so this
//! module is the crate's only `unsafe` code: [`matmul`] checks every index the product can
//! touch against the slices' lengths before the call, which makes the call sound.
//!
//! # Determinism
//! Always called with `Parallelism::None`: one product runs on the calling thread, and its
//! summation order depends only on the shapes, never on the number of threads.
#![allow(unsafe_code)]

/// A read-only strided matrix: element `(i, j)` is `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> Mat<'a> {
    /// A dense row-major matrix with `cols` columns.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a dense row-major matrix with `cols` columns.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            row_stride: 1,
            col_stride: cols,
        }
    }

    /// Largest index touched by an `r x c` view, plus one (0 for an empty view).
    fn extent(&self, r: usize, c: usize) -> usize {
        if r == 0 || c == 0 {
            0
        } else {
            (r - 1) * self.row_stride + (c - 1) * self.col_stride + 1
        }
    }
}

/// `C = A B` (or `C += A B` when `accumulate`), with `A` `m x k`, `B` `k x n` and `C` a dense
/// row-major `m x n` matrix at the start of `c`.
///
/// Panics (a bug, never user input) if a view does not fit its slice.
pub(crate) fn matmul(
    c: &mut [f32],
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    accumulate: bool,
) {
    assert!(c.len() >= m * n, "matmul: C is too short");
    assert!(a.data.len() >= a.extent(m, k), "matmul: A is too short");
    assert!(b.data.len() >= b.extent(k, n), "matmul: B is too short");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    // SAFETY: the asserts above guarantee that every element the product reads
    // (`A[i*rs + p*cs]` for i < m, p < k; likewise B) and writes (`C[i*n + j]`) lies inside
    // its slice; `c` is borrowed mutably, so it aliases neither `a` nor `b`; strides fit in
    // `isize` because they index existing slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: Mat, b: Mat) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for p in 0..k {
                    s += a.data[i * a.row_stride + p * a.col_stride] as f64
                        * b.data[p * b.row_stride + j * b.col_stride] as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn matches_naive_product_with_transposes() {
        let mut rng = crate::rng::Rng::new(1);
        for &(m, n, k) in &[
            (1, 1, 1),
            (5, 7, 3),
            (33, 17, 65),
            (64, 10, 128),
            (3, 40, 1),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let am = if ta {
                    Mat::transposed(&a, m)
                } else {
                    Mat::rows(&a, k)
                };
                let bm = if tb {
                    Mat::transposed(&b, k)
                } else {
                    Mat::rows(&b, n)
                };
                let want = naive(m, n, k, am, bm);
                let mut c = vec![1f32; m * n];
                matmul(&mut c, m, n, k, am, bm, true);
                for (x, w) in c.iter().zip(&want) {
                    assert!((x - 1.0 - w).abs() < 1e-4 * (1.0 + w.abs()), "{x} {w}");
                }
                matmul(&mut c, m, n, k, am, bm, false);
                for (x, w) in c.iter().zip(&want) {
                    assert!((x - w).abs() < 1e-4 * (1.0 + w.abs()), "{x} {w}");
                }
            }
        }
    }

    #[test]
    fn zero_inner_dimension_clears_or_keeps() {
        let mut c = vec![3f32; 4];
        matmul(&mut c, 2, 2, 0, Mat::rows(&[], 0), Mat::rows(&[], 2), true);
        assert_eq!(c, vec![3.0; 4]);
        matmul(&mut c, 2, 2, 0, Mat::rows(&[], 0), Mat::rows(&[], 2), false);
        assert_eq!(c, vec![0.0; 4]);
    }
}
