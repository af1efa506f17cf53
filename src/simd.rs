//! The instruction-set token of the hand-vectorised kernels (integral tables, cascade
//! scan): pulp's AVX2+FMA token on x86-64, elsewhere a type without values so that the
//! portable paths are the only ones.
//!
//! Every kernel that takes an `Option<V3>` computes the same values with `None` (plain
//! Rust) and `Some` (AVX2 vectors); the tests run both. [`dispatch`] runs a [`Kernel`]
//! inside the AVX2 context or as plain Rust.

/// The AVX2+FMA instruction-set token (x86-64 only; elsewhere a type without values).
#[cfg(target_arch = "x86_64")]
pub(crate) use pulp::x86::V3;

/// The AVX2+FMA instruction-set token (x86-64 only; elsewhere a type without values).
#[cfg(not(target_arch = "x86_64"))]
#[derive(Clone, Copy, Debug)]
pub(crate) enum V3 {}

/// The token on CPUs with AVX2+FMA, unless `portable` asks for the plain-Rust paths.
pub(crate) fn v3(portable: bool) -> Option<V3> {
    #[cfg(target_arch = "x86_64")]
    {
        if portable { None } else { V3::try_new() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = portable;
        None
    }
}

/// A hand-vectorised kernel: its arguments, and `run`, which computes the same values
/// inside or outside the AVX2 context (it branches on its own `Option<V3>` where the
/// instructions differ). `run` must be `#[inline(always)]`, as must everything it calls
/// on the AVX2 path, so that all of it is compiled with the context's features.
pub(crate) trait Kernel {
    /// What the kernel returns.
    type Output;
    /// Runs the kernel.
    fn run(self) -> Self::Output;
}

/// A [`Kernel`] as pulp's `WithSimd` operation, whose `with_simd` pulp compiles with the
/// instruction set's features enabled.
#[cfg(target_arch = "x86_64")]
struct InSimdContext<K>(K);

#[cfg(target_arch = "x86_64")]
impl<K: Kernel> pulp::WithSimd for InSimdContext<K> {
    type Output = K::Output;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> K::Output {
        self.0.run()
    }
}

/// Runs `kernel` inside pulp's AVX2+FMA context when `v3` is given (pulp's safe run-time
/// dispatch: everything the kernel inlines is compiled with those features), else as
/// plain Rust compiled for the baseline.
#[inline(always)]
pub(crate) fn dispatch<K: Kernel>(v3: Option<V3>, kernel: K) -> K::Output {
    match v3 {
        #[cfg(target_arch = "x86_64")]
        Some(v3) => pulp::Simd::vectorize(v3, InSimdContext(kernel)),
        _ => kernel.run(),
    }
}
