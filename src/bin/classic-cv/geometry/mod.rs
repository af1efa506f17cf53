//! Camera geometry commands.

pub mod calibrate;
pub mod homography;
