#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

// Layer 0: foundation.
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

// Layer 1: features.
pub mod haar;
pub mod haarpool;
pub mod integral;
pub mod lbp;
pub mod pixels;
pub mod sift;

// Layer 2: encodings and preprocessing.
pub mod bovw;
pub mod encoder;
pub mod fisher;
pub mod homkermap;
pub mod kmeans;
pub mod preprocess;
pub mod vlad;

// Layer 3: learners.
pub mod adaboost;
pub mod cascade;
pub mod cascade_train;
pub mod centroid;
pub mod cnn;
pub mod forest;
pub mod knn;
pub mod softmax;
pub mod svm;
pub mod tree;

// Layer 4: systems.
pub mod bodyparts;
pub mod bodysynth;
pub mod datasets;
pub mod detect;
// Depth frames and depth-comparison features; a feature source of the layer-3 tree learner.
pub mod depth;
pub mod fetch;
pub mod metrics;
pub mod model;
pub mod select;

pub use error::{Error, Result};
pub use image::{Image, Rect};
pub use pipeline::{Chain, Fit, Label, Transform, transform_all};
