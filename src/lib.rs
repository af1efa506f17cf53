#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

// Layer 0: foundation.
pub mod draw;
pub mod error;
pub mod image;
pub mod npy;
pub mod persist;
pub mod pipeline;
pub mod progress;
pub mod rng;

// Layer 2: encodings and preprocessing.
pub mod preprocess;

// Layer 3: learners.
pub mod centroid;
pub mod forest;
pub mod tree;

// Layer 4: systems.
pub mod bodyparts;
pub mod bodysynth;
pub mod datasets;
// Depth frames and depth-comparison features; a feature source of the layer-3 tree learner.
pub mod depth;
pub mod fetch;

pub use error::{Error, Result};
pub use image::{Image, Rect};
pub use pipeline::{Chain, Fit, Label, Transform, transform_all};
