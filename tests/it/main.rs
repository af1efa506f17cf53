//! The single integration-test binary (one link step for all integration tests).

mod bodyparts;
mod conformance;
mod datasets;
mod forest;
mod persist;
