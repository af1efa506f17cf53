//! The camera-geometry commands: `corners`.

pub mod corners;
