#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

// The folders are the architecture: a folder uses only the root modules and the folders
// listed before it (see ARCHITECTURE.md).

// Foundation (the root).
pub mod draw;
pub mod error;
pub mod image;
pub mod npy;
pub mod persist;
pub mod pipeline;
pub mod plot;
pub mod progress;
pub mod rng;
pub(crate) mod simd;
pub mod vecops;

// Families.
pub mod bodyparts;
pub mod classify;
pub mod cnn;
pub mod datasets;
pub mod detect;
pub mod encode;
pub mod features;
pub mod geometry;
pub mod learn;
pub mod stereo;

pub use error::{Error, Result};
pub use image::{Image, Rect};
pub use pipeline::{Chain, Fit, Label, Transform, transform_all};
