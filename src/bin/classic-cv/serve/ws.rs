//! The page's frame stream over a WebSocket.
//!
//! The client sends binary frames: a 12-byte header of three little-endian `u32` (frame id,
//! width, height) and then `width * height` 8-bit gray pixels, row-major. Each processed
//! frame is answered with the text message
//! `{"frame": id, "boxes": [[x, y, w, h], ...], "width": W, "height": H, "ms": T, "dropped": D}`
//! (`ms`: server-side time; `dropped`: frames of this connection replaced by a newer one
//! before they were processed). A text message `{"cascade": .., "scale_factor": ..,
//! "min_neighbors": .., "min_size": ..}` (any subset) changes the options of the frames
//! that follow and is answered `{"config": {...}}`.
//!
//! One frame is processed at a time per connection and at most one more waits: a frame
//! arriving while another waits replaces it, so a slow server drops stale frames instead of
//! lagging behind the camera. A malformed frame or message is answered
//! `{"error": message, "status": 400 or 413}` and the connection stays open.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket};
use tokio::sync::oneshot;

use super::metrics::round3;
use super::routes::checked_pixels;
use super::{ApiError, Found, MAX_PIXELS, Pixels, Service, Tuning};

/// Bytes of the frame header: id, width, height as little-endian `u32`.
pub const HEADER: usize = 12;
/// Largest WebSocket message accepted: one frame of [`MAX_PIXELS`] pixels.
pub const MAX_MESSAGE: usize = HEADER + MAX_PIXELS;

/// A checked frame waiting for the detector.
struct Frame {
    id: u32,
    width: usize,
    height: usize,
    px: Vec<u8>,
    received: Instant,
}

/// Parses and checks one binary message.
fn parse_frame(msg: &[u8]) -> Result<Frame, ApiError> {
    if msg.len() < HEADER {
        return Err(ApiError::bad(format!(
            "a frame starts with a {HEADER}-byte header (id, width, height as u32 LE); got {} bytes",
            msg.len()
        )));
    }
    let word = |k: usize| u32::from_le_bytes([msg[k], msg[k + 1], msg[k + 2], msg[k + 3]]);
    let (id, width, height) = (word(0), word(4) as usize, word(8) as usize);
    let n = checked_pixels(width, height)?;
    let got = msg.len() - HEADER;
    if got != n {
        return Err(ApiError::bad(format!(
            "frame {id}: a {width}x{height} gray frame has {n} bytes after the header, got {got}"
        )));
    }
    Ok(Frame {
        id,
        width,
        height,
        px: msg[HEADER..].to_vec(),
        received: Instant::now(),
    })
}

fn error_message(e: &ApiError) -> Message {
    Message::Text(
        serde_json::json!({ "error": e.1, "status": e.0.as_u16() })
            .to_string()
            .into(),
    )
}

type Running = oneshot::Receiver<(Frame, Result<Found, ApiError>)>;

/// Serves one connection until the client closes it or the server stops.
pub(crate) async fn session(mut socket: WebSocket, svc: Arc<Service>) {
    let mut tuning = Tuning::default();
    let mut pending: Option<Frame> = None;
    let mut running: Option<Running> = None;
    let mut dropped = 0u64;
    loop {
        if running.is_none()
            && let Some(frame) = pending.take()
        {
            running = Some(start(&svc, frame, &tuning));
        }
        tokio::select! {
            msg = socket.recv() => {
                let reply = match msg {
                    Some(Ok(Message::Binary(bytes))) => match parse_frame(&bytes) {
                        Ok(frame) => {
                            if pending.replace(frame).is_some() {
                                dropped += 1;
                                svc.metrics.dropped(1);
                            }
                            None
                        }
                        Err(e) => Some(error_message(&e)),
                    },
                    Some(Ok(Message::Text(text))) => Some(configure(&svc, &mut tuning, &text)),
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => None,
                };
                if let Some(reply) = reply
                    && socket.send(reply).await.is_err()
                {
                    break;
                }
            }
            done = async { running.as_mut().expect("guarded by the condition").await },
                if running.is_some() => {
                running = None;
                let reply: Message = match done {
                    Ok((frame, Ok(found))) => {
                        let ms = frame.received.elapsed().as_secs_f64() * 1e3;
                        svc.metrics.record(true, found.boxes.len(), ms);
                        let answer = serde_json::json!({
                            "frame": frame.id,
                            "boxes": crate::detect::boxes_json(&found.boxes),
                            "width": found.width,
                            "height": found.height,
                            "ms": round3(ms),
                            "dropped": dropped,
                        });
                        Message::Text(answer.to_string().into())
                    }
                    Ok((_, Err(e))) => error_message(&e),
                    Err(_) => break,
                };
                if socket.send(reply).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// Starts detecting `frame` on the pool with the connection's current options.
fn start(
    svc: &Arc<Service>,
    mut frame: Frame,
    tuning: &Tuning,
) -> oneshot::Receiver<(Frame, Result<Found, ApiError>)> {
    let (tx, rx) = oneshot::channel();
    let svc = Arc::clone(svc);
    let tuning = tuning.clone();
    tokio::spawn(async move {
        let pixels = Pixels::Gray {
            px: std::mem::take(&mut frame.px),
            width: frame.width,
            height: frame.height,
        };
        let found = svc.run(pixels, &tuning).await;
        let _ = tx.send((frame, found));
    });
    rx
}

/// Applies a text message of options; answers the options now in force, or the error.
fn configure(svc: &Service, tuning: &mut Tuning, text: &str) -> Message {
    let next: Tuning = match serde_json::from_str::<Tuning>(text) {
        Ok(t) => Tuning {
            cascade: t.cascade.or(tuning.cascade.clone()),
            scale_factor: t.scale_factor.or(tuning.scale_factor),
            min_neighbors: t.min_neighbors.or(tuning.min_neighbors),
            min_size: t.min_size.or(tuning.min_size),
        },
        Err(e) => return error_message(&ApiError::bad(format!("options message: {e}"))),
    };
    match svc.options(&next) {
        Ok((name, o)) => {
            *tuning = next;
            Message::Text(
                serde_json::json!({ "config": {
                    "cascade": name, "scale_factor": o.scale_factor,
                    "min_neighbors": o.min_neighbors, "min_size": o.min_size,
                }})
                .to_string()
                .into(),
            )
        }
        Err(e) => error_message(&e),
    }
}
