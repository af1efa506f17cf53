//! Joint proposals from per-pixel part distributions by weighted mean shift (Shotton et
//! al., CVPR 2011, section 4).
//!
//! Each body pixel `(x, y)` with depth `z` and probability `p >= JOINT_PROB_THRESHOLD` of part
//! `c` becomes a 3D point `((x - cx) z / f, -(y - cy) z / f, z)` (camera coordinates, metres;
//! `cx, cy` the image centre, `f` the focal length in pixels) with weight `p z^2` (the paper's
//! surface-area weighting). Mean shift with a Gaussian kernel of bandwidth [`BANDWIDTH`] runs
//! from 8 seeds spread over the points (at most 1500 points, taken at a regular stride so the
//! result is deterministic; at most 20 iterations, stopping when the mode moves less than
//! 1e-4 m in L1); the mode with the largest kernel density wins. The proposal is that mode
//! pushed back along the optical axis by the part's learned depth offset (the surface-to-centre
//! distance measured on the training frames).

use crate::bodyparts::BodyPartForest;
use crate::bodyparts::depth::{BACKGROUND, DepthImage};
use crate::error::{Error, Result};

/// Pixels whose part probability is below this do not vote for that part's joint.
pub const JOINT_PROB_THRESHOLD: f32 = 0.3;
/// Mean-shift bandwidth in metres.
pub const BANDWIDTH: f32 = 0.06;
/// Densest mean-shift mode of each part's weighted 3D points (see the module docs).
pub(crate) fn mean_shift_modes(
    depth: &DepthImage,
    probs: &[f32],
    n_parts: usize,
    focal: f32,
) -> Vec<Option<[f32; 3]>> {
    let (w, h) = (depth.width(), depth.height());
    let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
    let inv2b2 = 1.0 / (2.0 * BANDWIDTH * BANDWIDTH);
    (0..n_parts)
        .map(|c| {
            let mut pts: Vec<([f32; 3], f32)> = Vec::new();
            for y in 0..h {
                for x in 0..w {
                    let i = y * w + x;
                    let p = probs[i * n_parts + c];
                    let z = depth.as_slice()[i];
                    if p >= JOINT_PROB_THRESHOLD && z < BACKGROUND {
                        let q = [(x as f32 - cx) * z / focal, -(y as f32 - cy) * z / focal, z];
                        pts.push((q, p * z * z));
                    }
                }
            }
            if pts.is_empty() {
                return None;
            }
            // At most 1500 points (a regular stride keeps it deterministic).
            let stride = pts.len().div_ceil(1500);
            let pts: Vec<([f32; 3], f32)> = pts.into_iter().step_by(stride).collect();
            let n_seeds = 8.min(pts.len());
            let mut best: Option<([f32; 3], f32)> = None;
            for s in 0..n_seeds {
                let mut m = pts[s * pts.len() / n_seeds].0;
                let mut score = 0.0;
                for _ in 0..20 {
                    let mut acc = [0f32; 3];
                    let mut tot = 0f32;
                    for (q, wt) in &pts {
                        let d2 =
                            (q[0] - m[0]).powi(2) + (q[1] - m[1]).powi(2) + (q[2] - m[2]).powi(2);
                        let k = wt * (-d2 * inv2b2).exp();
                        acc[0] += k * q[0];
                        acc[1] += k * q[1];
                        acc[2] += k * q[2];
                        tot += k;
                    }
                    score = tot;
                    if tot <= 0.0 {
                        break;
                    }
                    let next = [acc[0] / tot, acc[1] / tot, acc[2] / tot];
                    let moved =
                        (next[0] - m[0]).abs() + (next[1] - m[1]).abs() + (next[2] - m[2]).abs();
                    m = next;
                    if moved < 1e-4 {
                        break;
                    }
                }
                if best.is_none_or(|(_, b)| score > b) {
                    best = Some((m, score));
                }
            }
            best.map(|(m, _)| m)
        })
        .collect()
}

impl BodyPartForest {
    /// One 3D proposal per part (camera coordinates, metres), `None` where no pixel is
    /// confident enough. `probs` from [`BodyPartForest::probabilities`].
    pub fn propose_joints(
        &self,
        img: &DepthImage,
        probs: &[f32],
        focal: f32,
    ) -> Result<Vec<Option<[f32; 3]>>> {
        if probs.len() != img.width() * img.height() * self.n_parts {
            return Err(Error::DimensionMismatch {
                what: "part probabilities",
                expected: img.width() * img.height() * self.n_parts,
                found: probs.len(),
            });
        }
        let modes = mean_shift_modes(img, probs, self.n_parts, focal);
        Ok(modes
            .into_iter()
            .zip(&self.depth_offsets)
            .map(|(m, &dz)| m.map(|m| [m[0], m[1], m[2] + dz]))
            .collect())
    }
}
