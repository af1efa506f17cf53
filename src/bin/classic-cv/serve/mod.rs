//! `serve`: face detection as a web service and a live camera page.
//!
//! One [`Service`] holds the detector options given on the command line, the cascades the
//! page may choose from (each loaded once, on first use) and a rayon pool that runs every
//! decode and detection, so the async executor threads only move bytes. The routes:
//!
//! - `GET /`, `/page.js`, `/page.css`: the camera page, embedded in the binary.
//! - `POST /detect`: a PNG/JPEG/PNM body, or raw 8-bit gray with `?size=WxH`; answers
//!   `{"boxes": [[x, y, w, h], ...], "width": W, "height": H, "ms": T}`, the boxes being
//!   exactly those of `classic-cv detect` with the same options (same decoding, same code).
//! - `GET /health`, `GET /metrics`, `GET /cascades`.
//! - `GET /ws`: the page's frame stream (see `ws.rs`).
//!
//! Limits (every one answers a 4xx with a JSON `{"error": ...}` message):
//! - request bodies: at most [`MAX_BODY`] bytes (413);
//! - images and frames: at most [`MAX_PIXELS`] pixels, checked from the header or the
//!   declared size before any pixel buffer is allocated (413);
//! - `/detect` requests: `--concurrency` detected at once, `--queue` waiting in line
//!   (first come, first served); beyond, 503 with `Retry-After: 1` (see `admission.rs`);
//! - detector options sent by a client: `scale_factor` in `[1.01, 4]`, `min_size` in
//!   `[1, 4096]`, `min_neighbors` at most 100 (400).

mod admission;
mod metrics;
mod routes;
mod ws;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use axum::http::StatusCode;
use clap::Args;
use classic_cv::detect::{Detection, Detector};
use classic_cv::image::Image;

use crate::Globals;
use crate::detect::DetectOpts;

/// Largest request body, in bytes (32 MiB).
pub const MAX_BODY: usize = 32 << 20;
/// Largest image or frame, in pixels (`4096 x 4096`).
pub const MAX_PIXELS: usize = 1 << 24;

/// Arguments of `serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (loopback unless told otherwise; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub opts: DetectOpts,
    /// Folders whose cascade XML files the page offers besides --cascade (default: the
    /// OpenCV cascades `fetch-data` brought, `data/models`, and classic-cv-face built in).
    #[arg(long = "cascade-dir", value_name = "DIR")]
    pub cascade_dirs: Vec<PathBuf>,
    /// `/detect` requests detected at once; later ones wait in line, first come first
    /// served (one detection already spreads over every worker thread).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub concurrency: usize,
    /// `/detect` requests that may wait in line; beyond, the answer is 503 with
    /// `Retry-After: 1`.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub queue: usize,
}

/// Per-request changes to the server's detector options (query string or WebSocket text).
#[derive(serde::Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tuning {
    pub cascade: Option<String>,
    pub scale_factor: Option<f64>,
    pub min_neighbors: Option<usize>,
    pub min_size: Option<usize>,
}

/// An error answered to the client: a 4xx (or 500) status and a one-line message.
#[derive(Debug)]
pub(crate) struct ApiError(pub StatusCode, pub String);

impl ApiError {
    pub fn bad(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, msg.into())
    }
    pub fn too_large(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::PAYLOAD_TOO_LARGE, msg.into())
    }
}

/// Pixels to detect in: an encoded image (decoded on the pool) or raw 8-bit gray.
pub(crate) enum Pixels {
    Encoded(axum::body::Bytes),
    Gray {
        px: Vec<u8>,
        width: usize,
        height: usize,
    },
}

/// What one detection gives back.
pub(crate) struct Found {
    pub boxes: Vec<Detection>,
    pub width: usize,
    pub height: usize,
}

/// The state every route shares.
pub(crate) struct Service {
    opts: DetectOpts,
    default_cascade: String,
    cascades: BTreeMap<String, PathBuf>,
    loaded: Mutex<HashMap<String, Arc<Detector>>>,
    pool: rayon::ThreadPool,
    pub admission: admission::Admission,
    pub metrics: metrics::Metrics,
    pub started: Instant,
}

impl Service {
    fn new(args: &ServeArgs) -> Result<Service> {
        let det = args.opts.detector()?;
        use crate::detect::cascades::{BUILTIN, Source, resolve};
        let default_spec = match resolve(&args.opts.cascade)? {
            Source::File(path) => path,
            Source::Builtin => PathBuf::from(BUILTIN),
        };
        let default_cascade = file_name(&default_spec);
        let mut cascades = BTreeMap::new();
        let dirs = if args.cascade_dirs.is_empty() {
            let cache = classic_cv::datasets::fetch::default_cache_dir();
            vec![
                cache.join("opencv/haarcascades"),
                PathBuf::from("data/models"),
            ]
        } else {
            args.cascade_dirs.clone()
        };
        for dir in &dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                if !args.cascade_dirs.is_empty() {
                    anyhow::bail!("cannot read the cascade folder {}", dir.display());
                }
                continue;
            };
            for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
                if path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
                {
                    cascades.entry(file_name(&path)).or_insert(path);
                }
            }
        }
        cascades.insert(default_cascade.clone(), default_spec);
        if !cascades.contains_key("face-cascade.xml") {
            // Outside a checkout: our face cascade, from the binary.
            cascades
                .entry(BUILTIN.to_string())
                .or_insert_with(|| PathBuf::from(BUILTIN));
        }
        let loaded = HashMap::from([(default_cascade.clone(), Arc::new(det))]);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .thread_name(|k| format!("detect-{k}"))
            .build()?;
        let running = args.concurrency;
        if !(1..=1024).contains(&running) {
            return Err(crate::output::usage("--concurrency must be 1 to 1024"));
        }
        if args.queue > 1 << 20 {
            return Err(crate::output::usage("--queue must be at most 1048576"));
        }
        Ok(Service {
            admission: admission::Admission::new(running, args.queue),
            opts: args.opts.clone(),
            default_cascade,
            cascades,
            loaded: Mutex::new(loaded),
            pool,
            metrics: metrics::Metrics::default(),
            started: Instant::now(),
        })
    }

    /// The cascade names the page may choose, and the default one.
    pub fn cascade_list(&self) -> serde_json::Value {
        serde_json::json!({
            "default": self.default_cascade,
            "cascades": self.cascades.keys().collect::<Vec<_>>(),
            "options": {
                "scale_factor": self.opts.scale_factor,
                "min_neighbors": self.opts.min_neighbors,
                "min_size": self.opts.min_size,
            },
        })
    }

    /// The server's options with `t` applied, checked against the service's bounds.
    pub fn options(&self, t: &Tuning) -> Result<(String, DetectOpts), ApiError> {
        let mut o = self.opts.clone();
        if let Some(s) = t.scale_factor {
            if !(1.01..=4.0).contains(&s) {
                return Err(ApiError::bad(format!(
                    "scale_factor {s} is outside [1.01, 4]"
                )));
            }
            o.scale_factor = s;
        }
        if let Some(n) = t.min_neighbors {
            if n > 100 {
                return Err(ApiError::bad(format!("min_neighbors {n} is over 100")));
            }
            o.min_neighbors = n;
        }
        if let Some(m) = t.min_size {
            if !(1..=4096).contains(&m) {
                return Err(ApiError::bad(format!("min_size {m} is outside [1, 4096]")));
            }
            o.min_size = m;
        }
        o.params()
            .validate()
            .map_err(|e| ApiError::bad(e.to_string()))?;
        let name = t
            .cascade
            .clone()
            .unwrap_or_else(|| self.default_cascade.clone());
        match self.cascades.get(&name) {
            Some(path) => o.cascade = path.clone(),
            None => {
                return Err(ApiError::bad(format!(
                    "unknown cascade `{name}` (see GET /cascades)"
                )));
            }
        }
        Ok((name, o))
    }

    /// The detector of a listed cascade, loading it the first time.
    fn detector(&self, name: &str, opts: &DetectOpts) -> Result<Arc<Detector>, ApiError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = loaded.get(name) {
            return Ok(Arc::clone(d));
        }
        let det = opts
            .detector()
            .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
        let det = Arc::new(det);
        loaded.insert(name.to_string(), Arc::clone(&det));
        Ok(det)
    }

    /// Decodes (if needed) and detects on the pool, off the async executor.
    pub async fn run(self: &Arc<Self>, pixels: Pixels, t: &Tuning) -> Result<Found, ApiError> {
        let (name, opts) = self.options(t)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let svc = Arc::clone(self);
        self.pool.spawn(move || {
            let _ = tx.send(svc.detect_now(&name, &opts, pixels));
        });
        rx.await
            .map_err(|_| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "detection failed".into()))?
    }

    fn detect_now(&self, name: &str, opts: &DetectOpts, pixels: Pixels) -> Result<Found, ApiError> {
        let det = self.detector(name, opts)?;
        let (px, width, height) = match pixels {
            Pixels::Gray { px, width, height } => (px, width, height),
            Pixels::Encoded(bytes) => {
                let img = Image::load_from_memory(&bytes, "request body")
                    .map_err(|e| ApiError::bad(e.to_string()))?;
                (img.to_u8(), img.width(), img.height())
            }
        };
        let boxes = crate::detect::detect_gray(&det, px, width, height, opts)
            .map_err(|e| ApiError::bad(format!("{e:#}")))?;
        Ok(Found {
            boxes,
            width,
            height,
        })
    }
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// `classic-cv serve`.
pub fn serve(args: &ServeArgs, _g: &Globals) -> Result<()> {
    let svc = Arc::new(Service::new(args)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let addr = listener.local_addr()?;
        eprintln!("classic-cv serve: listening on http://{addr}/ (Ctrl-C stops)");
        axum::serve(listener, routes::router(svc))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("server failed")
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    eprintln!("classic-cv serve: stopped");
    result
}

/// Resolves on Ctrl-C (or SIGTERM on Unix).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
