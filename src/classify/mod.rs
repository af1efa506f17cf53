//! Image classification as a whole: pipeline configs, model selection, metrics, and the
//! classical-versus-CNN comparison.

pub mod compare;
pub mod config;
pub mod metrics;
pub mod select;
