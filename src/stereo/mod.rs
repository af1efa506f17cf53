//! Stereo depth, after the course notes' chapter on depth estimation: for a rectified pair,
//! disparity `d = uL - uR` along rows, depth `z = b f / d`, matching costs over windows, the
//! cost volume (disparity space image), winner-takes-all and semi-global matching.
//!
//! Conventions: disparities are in pixels, `f32`, NaN marks an invalid pixel; the left image
//! is the reference (a left pixel `(x, y)` matches the right pixel `(x - d, y)`).
