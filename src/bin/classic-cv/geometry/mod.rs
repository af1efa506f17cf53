//! Camera geometry commands.

pub mod homography;
