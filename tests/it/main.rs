//! The single integration-test binary (one link step for all integration tests).

mod cnn;
mod conformance;
mod datasets;
mod persist;
