//! The single integration-test binary (one link step for all integration tests).

mod architecture;
mod bodyparts;
mod calibrate;
mod cascade_train;
mod chessboard;
mod classify;
mod cli;
mod cnn;
mod conformance;
mod datasets;
mod detect;
mod e2e;
mod encode;
mod fetch;
mod forest;
mod hog;
mod homography;
mod hostile;
mod loaded_models;
pub mod locate;
mod npy;
mod persist;
mod serve;
mod sift;
mod stereo;
mod warp;
