//! Image features: raw pixels and dense SIFT (with VLFeat's fast math).

pub mod keypoints;
pub mod pixels;
pub mod sift;
pub mod vlmath;
