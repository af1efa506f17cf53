//! Image features: raw pixels, histograms of oriented gradients and dense SIFT (with
//! VLFeat's fast math).

pub mod hog;
pub mod keypoints;
pub mod pixels;
pub mod sift;
pub mod vlmath;
