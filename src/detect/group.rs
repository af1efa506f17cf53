//! From raw windows to detections: OpenCV's scale list, its `groupRectangles`, greedy
//! IoU non-maximum suppression, and the final clipping to the image.
//!
//! # Conventions (each one changes boxes)
//! - Scales: `factor = 1.0` (f64) multiplied by `scale_factor` each step; the window
//!   `round(w0 * factor) x round(h0 * factor)` stops the loop when larger than `max_size`
//!   or the image, and skips the step when smaller than `min_size`. The level scale is
//!   `f32(factor)`. Rounding is half to even (cvRound).
//! - `groupRectangles(eps)`: two boxes are similar when every edge differs by at most
//!   `eps (min(w1, w2) + min(h1, h2)) / 2`; classes are the transitive closure, numbered
//!   by first member; a class's box is the mean `round(f32(sum) * f32(1 / n))`; classes with
//!   `n > min_neighbors` are kept unless inside a stronger class (OpenCV's `dx = round(eps
//!   w)` margin and its `n2 > max(3, n1) || n1 < 3` rule).
//! - NMS: windows by descending score (ties keep scan order); a kept window suppresses
//!   every later one whose IoU with it exceeds `iou`.
//! - Clipping: `rect & Rect(0, 0, width, height)`; empty boxes are dropped.
//!
//! # References
//! OpenCV 4's `cascadedetect.cpp` (`detectMultiScale`) and `groupRectangles`.

use crate::detect::{DetectParams, Detection, Grouping, RawHit, round_half_even};
use crate::image::Rect;

/// A group of raw windows (or one raw window): its box in image pixels (before clipping),
/// the windows merged into it, and the best score among them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupedHit {
    /// `[x, y, w, h]` in image pixels.
    pub rect: [i32; 4],
    /// Raw windows merged into it (1 for a raw window).
    pub neighbors: usize,
    /// Best last-stage sum among its windows.
    pub score: f64,
}

/// Groups raw windows as `params.grouping` says and clips the boxes to a `width x height`
/// image (the last steps of [`Detector::detect_u8`](crate::detect::Detector::detect_u8)).
pub fn group_and_clip(
    raw: &[RawHit],
    params: &DetectParams,
    width: usize,
    height: usize,
) -> Vec<Detection> {
    let groups = match params.grouping {
        Grouping::OpenCv if params.min_neighbors == 0 => raw
            .iter()
            .map(|h| GroupedHit {
                rect: h.rect,
                neighbors: 1,
                score: h.score,
            })
            .collect::<Vec<_>>(),
        Grouping::OpenCv => group_rectangles(raw, params.min_neighbors, 0.2),
        Grouping::Nms { iou } => nms(raw, iou, params.min_neighbors),
    };
    groups
        .into_iter()
        .filter_map(|g| {
            clip(g.rect, width, height).map(|rect| Detection {
                rect,
                neighbors: g.neighbors,
                score: g.score,
            })
        })
        .collect()
}

/// OpenCV's scale list (see the module docs): the scale of each pyramid level.
pub fn scale_list(
    width: usize,
    height: usize,
    win_w: usize,
    win_h: usize,
    params: &DetectParams,
) -> Vec<f32> {
    let (max_w, max_h) = params.max_size.unwrap_or((width, height));
    let mut out = Vec::new();
    let mut factor = 1.0f64;
    loop {
        let ww = round_half_even(win_w as f64 * factor);
        let wh = round_half_even(win_h as f64 * factor);
        if ww > max_w as f64 || wh > max_h as f64 || ww > width as f64 || wh > height as f64 {
            break;
        }
        if !(ww < params.min_size.0 as f64 || wh < params.min_size.1 as f64) {
            out.push(factor as f32);
        }
        factor *= params.scale_factor;
    }
    out
}

/// OpenCV's `groupRectangles(rects, min_neighbors, eps)` on raw windows: returns the
/// mean box, member count and best member score of each kept class, in class order.
pub fn group_rectangles(raw: &[RawHit], min_neighbors: usize, eps: f64) -> Vec<GroupedHit> {
    let n = raw.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut a: usize) -> usize {
        while p[a] != a {
            p[a] = p[p[a]];
            a = p[a];
        }
        a
    }
    for i in 0..n {
        for j in i + 1..n {
            if similar(&raw[i].rect, &raw[j].rect, eps) {
                let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                if ri != rj {
                    parent[rj] = ri;
                }
            }
        }
    }
    // Classes numbered by their first member.
    let mut label_of_root = vec![usize::MAX; n];
    let mut labels = vec![0; n];
    let mut nc = 0;
    for i in 0..n {
        let r = find(&mut parent, i);
        if label_of_root[r] == usize::MAX {
            label_of_root[r] = nc;
            nc += 1;
        }
        labels[i] = label_of_root[r];
    }
    let mut sums = vec![[0i64; 4]; nc];
    let mut counts = vec![0usize; nc];
    let mut best = vec![f64::NEG_INFINITY; nc];
    for (h, &l) in raw.iter().zip(&labels) {
        for k in 0..4 {
            sums[l][k] += h.rect[k] as i64;
        }
        counts[l] += 1;
        best[l] = best[l].max(h.score);
    }
    let means: Vec<[i32; 4]> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| {
            let inv = 1.0f32 / c as f32;
            s.map(|v| round_half_even((v as f32 * inv) as f64) as i32)
        })
        .collect();
    let mut out = Vec::new();
    for i in 0..nc {
        let n1 = counts[i];
        if n1 <= min_neighbors {
            continue;
        }
        let r1 = means[i];
        let inside = (0..nc).any(|j| {
            let n2 = counts[j];
            if j == i || n2 <= min_neighbors {
                return false;
            }
            let r2 = means[j];
            let dx = round_half_even(r2[2] as f64 * eps) as i32;
            let dy = round_half_even(r2[3] as f64 * eps) as i32;
            r1[0] >= r2[0] - dx
                && r1[1] >= r2[1] - dy
                && r1[0] + r1[2] <= r2[0] + r2[2] + dx
                && r1[1] + r1[3] <= r2[1] + r2[3] + dy
                && (n2 > n1.max(3) || n1 < 3)
        });
        if !inside {
            out.push(GroupedHit {
                rect: r1,
                neighbors: n1,
                score: best[i],
            });
        }
    }
    out
}

/// Greedy IoU non-maximum suppression by descending score (ties keep scan order): each
/// kept window with the number of windows it suppressed plus one as `neighbors`.
pub fn nms(raw: &[RawHit], iou: f32, min_neighbors: usize) -> Vec<GroupedHit> {
    let mut order: Vec<usize> = (0..raw.len()).collect();
    order.sort_by(|&a, &b| raw[b].score.total_cmp(&raw[a].score).then(a.cmp(&b)));
    let mut suppressed = vec![false; raw.len()];
    let mut out = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        let mut n = 1;
        for &j in &order[k + 1..] {
            if !suppressed[j] && iou_i32(&raw[i].rect, &raw[j].rect) > iou as f64 {
                suppressed[j] = true;
                n += 1;
            }
        }
        if n > min_neighbors {
            out.push(GroupedHit {
                rect: raw[i].rect,
                neighbors: n,
                score: raw[i].score,
            });
        }
    }
    out
}

fn similar(a: &[i32; 4], b: &[i32; 4], eps: f64) -> bool {
    let delta = eps * ((a[2].min(b[2]) + a[3].min(b[3])) as f64) * 0.5;
    ((a[0] - b[0]).abs() as f64) <= delta
        && ((a[1] - b[1]).abs() as f64) <= delta
        && ((a[0] + a[2] - b[0] - b[2]).abs() as f64) <= delta
        && ((a[1] + a[3] - b[1] - b[3]).abs() as f64) <= delta
}

fn iou_i32(a: &[i32; 4], b: &[i32; 4]) -> f64 {
    let (ax1, ay1) = (a[0] as i64 + a[2] as i64, a[1] as i64 + a[3] as i64);
    let (bx1, by1) = (b[0] as i64 + b[2] as i64, b[1] as i64 + b[3] as i64);
    let iw = (ax1.min(bx1) - (a[0].max(b[0]) as i64)).max(0);
    let ih = (ay1.min(by1) - (a[1].max(b[1]) as i64)).max(0);
    let inter = (iw * ih) as f64;
    let union = (a[2] as i64 * a[3] as i64 + b[2] as i64 * b[3] as i64) as f64 - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// `rect & Rect(0, 0, width, height)`, `None` when empty.
fn clip(r: [i32; 4], width: usize, height: usize) -> Option<Rect> {
    let x0 = (r[0] as i64).max(0);
    let y0 = (r[1] as i64).max(0);
    let x1 = (r[0] as i64 + r[2] as i64).min(width as i64);
    let y1 = (r[1] as i64 + r[3] as i64).min(height as i64);
    (x1 > x0 && y1 > y0).then(|| Rect {
        x: x0 as u32,
        y: y0 as u32,
        width: (x1 - x0) as u32,
        height: (y1 - y0) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_list_matches_the_conventions() {
        let p = DetectParams {
            min_size: (24, 24),
            ..Default::default()
        };
        let s = scale_list(640, 480, 24, 24, &p);
        assert_eq!(s.len(), 32);
        assert_eq!(s[0], 1.0);
        let s = scale_list(640, 480, 20, 20, &p);
        assert_eq!(s.len(), 32);
        assert_eq!(s[0], (1.1f64 * 1.1) as f32);
        assert_eq!(scale_list(640, 480, 45, 45, &p).len(), 25);
    }

    #[test]
    fn grouping_keeps_classes_above_min_neighbors() {
        let h = |x, y, w| RawHit {
            rect: [x, y, w, w],
            score: x as f64,
        };
        let raw = [h(10, 10, 24), h(11, 10, 24), h(10, 11, 24), h(100, 100, 24)];
        let g = group_rectangles(&raw, 2, 0.2);
        // (10+11+10)/3 = 10.33 -> 10; (10+10+11)/3 -> 10.
        let grouped = |rect, neighbors, score| GroupedHit {
            rect,
            neighbors,
            score,
        };
        assert_eq!(g, vec![grouped([10, 10, 24, 24], 3, 11.0)]);
        assert!(group_rectangles(&raw, 3, 0.2).is_empty());
        let n = nms(&raw, 0.5, 0);
        assert_eq!(n.len(), 2);
        assert_eq!(n[0], grouped([100, 100, 24, 24], 1, 100.0));
        assert_eq!(n[1].neighbors, 3);
    }
}
