//! The instruction-set token of the hand-vectorised kernels (integral tables, cascade
//! scan): pulp's AVX2+FMA token on x86-64, elsewhere a type without values so that the
//! portable paths are the only ones.
//!
//! Every kernel that takes an `Option<V3>` computes the same values with `None` (plain
//! Rust) and `Some` (AVX2 vectors); the tests run both.

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
