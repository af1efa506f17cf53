//! The camera-geometry commands: `corners`, `calibrate`, `homography`, `undistort`, `warp`,
//! `birdseye`.

pub mod calibrate;
pub mod corners;
pub mod homography;
pub mod warp;
