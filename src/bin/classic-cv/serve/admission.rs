//! Admission of `/detect` requests: a fair concurrency limit with a bounded line.
//!
//! At most `running` detections run at once (by default one: a detection already spreads
//! over every thread of the pool); a request beyond waits for its turn in a
//! first-come-first-served line (tokio's semaphore is fair), so that no request is
//! overtaken again and again by later ones, which is what made the latency tail long when
//! every request went straight to the work-stealing pool and their tasks interleaved. When `waiting` requests already stand in line, a new one is answered at once with
//! 503 Service Unavailable and `Retry-After: 1` instead of queueing without bound.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::ApiError;

/// The line in front of the detection pool.
pub(crate) struct Admission {
    running: Semaphore,
    max_waiting: usize,
    waiting: AtomicUsize,
}

/// Counts a request in line; leaving the line (served or gone) counts it out.
struct InLine<'a>(&'a AtomicUsize);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Admission {
    /// `running` detections at once, at most `max_waiting` requests waiting.
    pub fn new(running: usize, max_waiting: usize) -> Self {
        Admission {
            running: Semaphore::new(running),
            max_waiting,
            waiting: AtomicUsize::new(0),
        }
    }

    /// Waits for a turn (first come, first served); 503 when the line is full. The turn
    /// lasts as long as the permit.
    pub async fn turn(&self) -> Result<SemaphorePermit<'_>, ApiError> {
        if let Ok(permit) = self.running.try_acquire() {
            // A free slot and nobody waiting for it (a fair semaphore gives no permit past
            // its waiters).
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "busy: {} requests are already waiting; retry in a second",
                    self.max_waiting
                ),
            ));
        }
        let _in_line = InLine(&self.waiting);
        self.running.acquire().await.map_err(|_| {
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "the service is stopping".into(),
            )
        })
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn serves_in_arrival_order_and_refuses_beyond_the_line() {
        let a = std::sync::Arc::new(Admission::new(1, 2));
        let first = a.turn().await.unwrap();
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for k in 0..2 {
            let (a, order) = (a.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _p = a.turn().await.unwrap();
                order.lock().unwrap().push(k);
            }));
            // Let task k join the line before the next one.
            tokio::task::yield_now().await;
        }
        assert_eq!(a.waiting(), 2);
        let refused = a.turn().await.expect_err("the line is full");
        assert_eq!(refused.0, StatusCode::SERVICE_UNAVAILABLE);
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [0, 1]);
        assert_eq!(a.waiting(), 0);
        assert!(a.turn().await.is_ok());
    }
}
