//! Terminal plumbing shared by the subcommands: thread pool, progress bars, error lines.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use classic_cv::progress::{self, Reporter};
use indicatif::{ProgressBar, ProgressStyle};

/// Runs `f` inside a rayon pool of `threads` workers (the global default when `None`).
pub fn with_threads<T: Send>(
    threads: Option<usize>,
    f: impl FnOnce() -> Result<T> + Send,
) -> Result<T> {
    let max = classic_cv::limits::MAX_THREADS;
    match threads {
        None => f(),
        Some(n) if n == 0 || n > max => Err(crate::output::usage(format!(
            "--threads {n}: must be 1 to {max}"
        ))),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map_err(|e| anyhow::anyhow!("could not create {n} threads: {e}"))?
            .install(f),
    }
}

/// Prints an error and its causes as one line.
pub fn print_error(e: &anyhow::Error) {
    let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    let mut line = String::new();
    for part in chain {
        if !line.contains(&part) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&part);
        }
    }
    // One line, whatever the messages of the libraries below us contain.
    let line: Vec<&str> = line.split_whitespace().collect();
    eprintln!("error: {}", line.join(" "));
}

/// Replaces Rust's panic message and backtrace by one line (a panic is a bug in classic-cv).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        // `println!` panics when the reader of stdout has gone (`classic-cv ... | head`):
        // end as a Unix tool killed by SIGPIPE does, quietly.
        if msg.starts_with("failed printing to stdout") && msg.contains("os error 32") {
            crate::output::exit_broken_pipe();
        }
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error (a bug in classic-cv, please report it): {msg}{at}");
    }));
}

/// Draws library progress as indicatif bars on stderr, when stderr is a terminal.
struct Bars {
    next: AtomicU64,
    bars: Mutex<HashMap<u64, ProgressBar>>,
}

impl Reporter for Bars {
    fn start(&self, name: &str, total: u64) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let bar = if total > 0 {
            ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "{prefix:>14} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            )
        } else {
            ProgressBar::new_spinner()
        };
        bar.set_prefix(name.to_string());
        self.bars.lock().expect("no poisoned lock").insert(id, bar);
        id
    }

    fn inc(&self, id: u64, delta: u64) {
        if let Some(b) = self.bars.lock().expect("no poisoned lock").get(&id) {
            b.inc(delta);
        }
    }

    fn message(&self, id: u64, message: &str) {
        if let Some(b) = self.bars.lock().expect("no poisoned lock").get(&id) {
            b.set_message(message.to_string());
        }
    }

    fn finish(&self, id: u64) {
        if let Some(b) = self.bars.lock().expect("no poisoned lock").remove(&id) {
            b.finish_and_clear();
        }
    }
}

/// Installs progress bars if stderr is a terminal; silent otherwise.
pub fn install_progress() {
    if std::io::stderr().is_terminal() {
        progress::set_reporter(Arc::new(Bars {
            next: AtomicU64::new(1),
            bars: Mutex::new(HashMap::new()),
        }));
    }
}

/// The image files of a folder (by `classic_cv::image::IMAGE_EXTENSIONS`), sorted by name.
pub fn images_in(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let mut v: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| classic_cv::image::has_image_extension(p))
        .collect();
    v.sort();
    Ok(v)
}
