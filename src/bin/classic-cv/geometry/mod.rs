//! The camera-geometry commands: `corners`, `homography`.

pub mod corners;
pub mod homography;
