//! The single integration-test binary (one link step for all integration tests).

mod classify;
mod conformance;
mod datasets;
mod persist;
