//! Image classification as a whole: pipeline configs, model selection and metrics.

pub mod config;
pub mod metrics;
pub mod select;
