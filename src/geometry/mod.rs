//! Camera geometry, after the course notes on image formation: the pinhole camera and its
//! lens distortion, chessboard corners, Zhang's calibration, homographies between two views
//! of a plane, and backward warping (undistortion, perspective warps, bird's-eye views).
//!
//! Conventions shared by the whole family, identical to OpenCV's so that numbers and files
//! move between the two:
//! - pixel coordinates: `x` to the right, `y` down, the centre of pixel `(0, 0)` at `(0, 0)`;
//! - matrices are row-major `[[f64; 3]; 3]` (`m[row][col]`), points are column vectors;
//! - geometry is computed in `f64` (images stay `f32`).

pub mod calibrate;
pub mod calibrate_init;
pub mod camera;
pub mod chessboard;
pub mod homography;
pub mod lm;
pub mod matching;
pub mod remap;
#[cfg(target_arch = "x86_64")]
mod remap_avx2;
pub mod storage;
pub mod subpix;
pub mod warp;
