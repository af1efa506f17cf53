//! Progress reporting for long work, without printing from the library.
//!
//! # Overview
//! Long loops (training trees, k-means iterations, extracting descriptors from 60,000
//! images) report progress through [`Progress`] handles. The library only counts; a front
//! end installs a [`Reporter`] with [`set_reporter`] to show the counts (the CLI draws
//! indicatif bars on stderr when it is a terminal). With no reporter installed, every call
//! is a cheap no-op.
//!
//! # Usage
//! ```
//! use classic_cv::progress;
//! let bar = progress::start("extracting", 3);
//! for _ in 0..3 {
//!     bar.inc(1);
//! }
//! bar.finish();
//! ```

use std::sync::{Arc, OnceLock};

/// Receives progress events; implemented by front ends.
pub trait Reporter: Send + Sync {
    /// A new task of `total` steps (0 if unknown) starts; returns its id.
    fn start(&self, name: &str, total: u64) -> u64;
    /// `delta` more steps of task `id` are done.
    fn inc(&self, id: u64, delta: u64);
    /// Task `id` shows `message` (e.g. the current loss).
    fn message(&self, id: u64, message: &str);
    /// Task `id` is over.
    fn finish(&self, id: u64);
}

static REPORTER: OnceLock<Arc<dyn Reporter>> = OnceLock::new();

/// Installs the process-wide reporter. Only the first call has an effect; returns whether
/// this one was installed.
pub fn set_reporter(reporter: Arc<dyn Reporter>) -> bool {
    REPORTER.set(reporter).is_ok()
}

/// A running task. Cloning is cheap; it can be shared across rayon threads by reference.
#[derive(Clone)]
pub struct Progress {
    id: u64,
    reporter: Option<Arc<dyn Reporter>>,
}

/// Starts a task of `total` steps.
pub fn start(name: &str, total: u64) -> Progress {
    let reporter = REPORTER.get().cloned();
    let id = reporter.as_ref().map_or(0, |r| r.start(name, total));
    Progress { id, reporter }
}

impl Progress {
    /// Marks `delta` more steps done.
    pub fn inc(&self, delta: u64) {
        if let Some(r) = &self.reporter {
            r.inc(self.id, delta);
        }
    }

    /// Shows a short status message.
    pub fn message(&self, message: &str) {
        if let Some(r) = &self.reporter {
            r.message(self.id, message);
        }
    }

    /// Ends the task.
    pub fn finish(&self) {
        if let Some(r) = &self.reporter {
            r.finish(self.id);
        }
    }
}
