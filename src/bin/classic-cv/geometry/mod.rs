//! The camera-geometry commands: `corners`, `calibrate`, `homography`.

pub mod calibrate;
pub mod corners;
pub mod homography;
