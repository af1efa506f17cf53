//! The single integration-test binary (one link step for all integration tests).

mod architecture;
mod bodyparts;
mod cascade_train;
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
pub mod locate;
mod npy;
mod persist;
mod sift;
mod stereo;
