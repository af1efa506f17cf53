//! The camera-geometry commands (the library's `geometry` family).

pub mod warp;
