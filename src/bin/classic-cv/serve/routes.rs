//! The HTTP routes: the page, `/detect`, `/health`, `/metrics`, `/cascades`, `/ws`.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};

use super::metrics::round3;
use super::{ApiError, MAX_BODY, MAX_PIXELS, Pixels, Service, Tuning};

const PAGE_HTML: &str = include_str!("page.html");
const PAGE_JS: &str = include_str!("page.js");
const PAGE_CSS: &str = include_str!("page.css");

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        r
    }
}

/// The service's routes with their limits.
pub(crate) fn router(svc: Arc<Service>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", PAGE_HTML) }),
        )
        .route(
            "/page.js",
            get(|| async { asset("text/javascript; charset=utf-8", PAGE_JS) }),
        )
        .route(
            "/page.css",
            get(|| async { asset("text/css; charset=utf-8", PAGE_CSS) }),
        )
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({ "status": "ok" })) }),
        )
        .route("/metrics", get(metrics))
        .route(
            "/cascades",
            get(|State(s): State<Arc<Service>>| async move { Json(s.cascade_list()) }),
        )
        .route("/detect", post(detect))
        .route("/ws", get(ws))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(svc)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn metrics(State(s): State<Arc<Service>>) -> Json<serde_json::Value> {
    let mut m = s.metrics.json(s.started.elapsed().as_secs_f64());
    m["waiting"] = serde_json::json!(s.admission.waiting());
    Json(m)
}

/// The query of `POST /detect`: the raw size and the per-request options.
#[derive(serde::Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct DetectQuery {
    size: Option<String>,
    cascade: Option<String>,
    scale_factor: Option<f64>,
    min_neighbors: Option<usize>,
    min_size: Option<usize>,
}

async fn detect(
    State(s): State<Arc<Service>>,
    query: Result<Query<DetectQuery>, QueryRejection>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let start = Instant::now();
    let Query(q) = query.map_err(|e| ApiError::bad(e.body_text()))?;
    let body = body.map_err(|e| ApiError(e.status(), e.body_text()))?;
    let pixels = match &q.size {
        Some(size) => raw_gray(size, &body)?,
        None => {
            check_header(&body)?;
            Pixels::Encoded(body)
        }
    };
    let tuning = Tuning {
        cascade: q.cascade,
        scale_factor: q.scale_factor,
        min_neighbors: q.min_neighbors,
        min_size: q.min_size,
    };
    let turn = s.admission.turn().await?;
    let found = s.run(pixels, &tuning).await?;
    drop(turn);
    let ms = start.elapsed().as_secs_f64() * 1e3;
    s.metrics.record(false, found.boxes.len(), ms);
    Ok(Json(serde_json::json!({
        "boxes": crate::detect::boxes_json(&found.boxes),
        "width": found.width,
        "height": found.height,
        "ms": round3(ms),
    })))
}

/// Checks a `WxH` size against [`MAX_PIXELS`] (before any buffer is made for it).
pub(crate) fn checked_pixels(width: usize, height: usize) -> Result<usize, ApiError> {
    match width.checked_mul(height) {
        Some(n) if n > 0 && n <= MAX_PIXELS => Ok(n),
        Some(0) => Err(ApiError::bad(format!("{width}x{height} is an empty image"))),
        _ => Err(ApiError::too_large(format!(
            "{width}x{height} is over the limit of {MAX_PIXELS} pixels"
        ))),
    }
}

fn raw_gray(size: &str, body: &Bytes) -> Result<Pixels, ApiError> {
    let (width, height) = classic_cv::image::parse_size(size).map_err(|e| match e {
        // Over the crate's pixel limit: too large, like a size over ours.
        classic_cv::Error::InvalidParam {
            name: "max_pixels", ..
        } => ApiError::too_large(e.to_string()),
        _ => ApiError::bad(e.to_string()),
    })?;
    let n = checked_pixels(width, height)?;
    if body.len() != n {
        return Err(ApiError::bad(format!(
            "a {width}x{height} 8-bit gray image has {n} bytes, the body has {}",
            body.len()
        )));
    }
    Ok(Pixels::Gray {
        px: body.to_vec(),
        width,
        height,
    })
}

/// Reads the image header only: a known format whose size is within [`MAX_PIXELS`].
fn check_header(body: &Bytes) -> Result<(), ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad(
            "empty body: send a PNG, JPEG or PNM image, or raw gray with ?size=WxH",
        ));
    }
    let reader = image::ImageReader::new(std::io::Cursor::new(&body[..]))
        .with_guessed_format()
        .map_err(|e| ApiError::bad(format!("cannot read the body: {e}")))?;
    if reader.format().is_none() {
        return Err(ApiError::bad(
            "the body is not a PNG, JPEG or PNM image (for raw gray pixels give ?size=WxH)",
        ));
    }
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| ApiError::bad(format!("cannot read the image header: {e}")))?;
    checked_pixels(w as usize, h as usize).map(|_| ())
}

async fn ws(State(s): State<Arc<Service>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .max_message_size(super::ws::MAX_MESSAGE)
        .on_upgrade(move |socket| super::ws::session(socket, s))
}

/// Any other path.
pub(crate) async fn not_found() -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": "no such route" })),
    )
}
