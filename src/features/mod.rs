//! Image features: raw pixels and dense SIFT.

pub mod pixels;
pub mod sift;
