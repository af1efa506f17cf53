//! Counters of the service: WebSocket frames answered, boxes found, `/detect` requests,
//! and the latency percentiles (nearest rank) over the last [`WINDOW`] answers.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many recent latencies the percentiles are computed over.
pub const WINDOW: usize = 10_000;

/// The service's counters (shared; updated from any thread).
#[derive(Default)]
pub(crate) struct Metrics {
    frames: AtomicU64,
    detections: AtomicU64,
    requests: AtomicU64,
    dropped: AtomicU64,
    latencies: Mutex<VecDeque<f64>>,
}

impl Metrics {
    /// Records one answered WebSocket frame (`ws`) or `/detect` request, with its boxes and
    /// its server-side time.
    pub fn record(&self, ws: bool, boxes: usize, ms: f64) {
        if ws {
            self.frames.fetch_add(1, Ordering::Relaxed);
        } else {
            self.requests.fetch_add(1, Ordering::Relaxed);
        }
        self.detections.fetch_add(boxes as u64, Ordering::Relaxed);
        let mut l = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
        if l.len() == WINDOW {
            l.pop_front();
        }
        l.push_back(ms);
    }

    /// Counts frames replaced by a newer one before they were processed.
    pub fn dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// `{"frames", "detections", "requests", "dropped_frames", "latency_ms": {"p50", "p99"}}`.
    pub fn json(&self, uptime_s: f64) -> serde_json::Value {
        let mut l: Vec<f64> = self
            .latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        l.sort_by(f64::total_cmp);
        serde_json::json!({
            "frames": self.frames.load(Ordering::Relaxed),
            "detections": self.detections.load(Ordering::Relaxed),
            "requests": self.requests.load(Ordering::Relaxed),
            "dropped_frames": self.dropped.load(Ordering::Relaxed),
            "uptime_s": round3(uptime_s),
            "latency_ms": {"p50": percentile(&l, 0.50), "p99": percentile(&l, 0.99)},
        })
    }
}

/// Nearest-rank percentile of sorted values (`null` when there are none).
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(round3(sorted[rank.clamp(1, sorted.len()) - 1]))
}

pub(crate) fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
