//! From disparity to depth: `z = b f / d` for a rectified pair with baseline `b` and focal
//! length `f` (pixels), and 3-D points through OpenCV's reprojection matrix `Q`
//! (`reprojectImageTo3D`): `[X Y Z W]ᵀ = Q [x y d 1]ᵀ`, the point `(X/W, Y/W, Z/W)`.
//! For a rig with baseline `b`, focal `f` and principal point `(cx, cy)` (both cameras),
//! `Q = [[1, 0, 0, -cx], [0, 1, 0, -cy], [0, 0, 0, f], [0, 0, 1/b, 0]]` (OpenCV's
//! `stereoRectify` with `Tx = -b`), which gives `Z = f b / d`.
//!
//! Invalid disparities (NaN), zero disparities (points at infinity) and any non-finite
//! result give no depth (NaN) and no point. Point clouds are written as PLY 1.0
//! (`x y z` as `float`, `red green blue` as `uchar`), binary little-endian or ASCII.

use serde::{Deserialize, Serialize};

use super::disparity::DisparityMap;
use crate::error::{Error, Result};

/// OpenCV's 4x4 reprojection matrix, row-major.
pub type ReprojectionMatrix = [[f64; 4]; 4];

/// The reprojection matrix of an ideal rectified rig.
pub fn q_matrix(baseline: f64, focal: f64, cx: f64, cy: f64) -> Result<ReprojectionMatrix> {
    for (name, v) in [("baseline", baseline), ("focal", focal)] {
        if !(v > 0.0 && v.is_finite()) {
            return Err(Error::param(
                name,
                format!("must be finite and positive, got {v}"),
            ));
        }
    }
    if !(cx.is_finite() && cy.is_finite()) {
        return Err(Error::NonFinite {
            what: "principal point",
        });
    }
    Ok([
        [1.0, 0.0, 0.0, -cx],
        [0.0, 1.0, 0.0, -cy],
        [0.0, 0.0, 0.0, focal],
        [0.0, 0.0, 1.0 / baseline, 0.0],
    ])
}

/// Depth `z = b f / d` of every pixel (NaN where the disparity is invalid or zero).
pub fn depth_map(disparity: &DisparityMap, baseline: f64, focal: f64) -> Result<Vec<f32>> {
    q_matrix(baseline, focal, 0.0, 0.0)?;
    let bf = baseline * focal;
    Ok(disparity
        .data
        .iter()
        .map(|&d| {
            let z = bf / f64::from(d);
            if d > 0.0 && z.is_finite() {
                z as f32
            } else {
                f32::NAN
            }
        })
        .collect())
}

/// One coloured 3-D point.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CloudPoint {
    /// Coordinates in the left rectified camera's frame (units of the baseline).
    pub position: [f32; 3],
    /// Colour.
    pub colour: [u8; 3],
}

/// The points of all valid pixels, row by row; `colours` (one per pixel) gives their
/// colours (gray 128 without it).
pub fn point_cloud(
    disparity: &DisparityMap,
    q: &ReprojectionMatrix,
    colours: Option<&[[u8; 3]]>,
) -> Result<Vec<CloudPoint>> {
    if q.iter().flatten().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: "reprojection matrix",
        });
    }
    if let Some(c) = colours
        && c.len() != disparity.data.len()
    {
        return Err(Error::DimensionMismatch {
            what: "point colours",
            expected: disparity.data.len(),
            found: c.len(),
        });
    }
    let w = disparity.width;
    let mut out = Vec::new();
    for (i, &d) in disparity.data.iter().enumerate() {
        if !(d > 0.0) {
            continue;
        }
        let v = [(i % w) as f64, (i / w) as f64, f64::from(d), 1.0];
        let h: Vec<f64> = q
            .iter()
            .map(|row| row.iter().zip(&v).map(|(a, b)| a * b).sum())
            .collect();
        let p = [h[0] / h[3], h[1] / h[3], h[2] / h[3]];
        let p32 = p.map(|c| c as f32);
        if p32.iter().all(|c| c.is_finite()) {
            out.push(CloudPoint {
                position: p32,
                colour: colours.map_or([128; 3], |c| c[i]),
            });
        }
    }
    Ok(out)
}

/// A PLY file of the points: binary little-endian, or ASCII with `ascii`.
pub fn ply_bytes(points: &[CloudPoint], ascii: bool) -> Vec<u8> {
    let format = if ascii {
        "ascii"
    } else {
        "binary_little_endian"
    };
    let mut out = format!(
        "ply\nformat {format} 1.0\ncomment classic-cv stereo point cloud\nelement vertex {}\n\
         property float x\nproperty float y\nproperty float z\n\
         property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n",
        points.len()
    )
    .into_bytes();
    for p in points {
        if ascii {
            let [x, y, z] = p.position;
            let [r, g, b] = p.colour;
            out.extend_from_slice(format!("{x} {y} {z} {r} {g} {b}\n").as_bytes());
        } else {
            for c in p.position {
                out.extend_from_slice(&c.to_le_bytes());
            }
            out.extend_from_slice(&p.colour);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_and_points_follow_z_equals_bf_over_d() {
        let nan = f32::NAN;
        let m = DisparityMap::new(3, 1, vec![10.0, nan, 0.0]).unwrap();
        let z = depth_map(&m, 0.1, 500.0).unwrap();
        assert!((z[0] - 5.0).abs() < 1e-6 && z[1].is_nan() && z[2].is_nan());
        let q = q_matrix(0.1, 500.0, 1.0, 0.0).unwrap();
        let pts = point_cloud(&m, &q, None).unwrap();
        assert_eq!(pts.len(), 1);
        // x = (0 - cx) z / f = -0.01.
        let [x, y, zz] = pts[0].position;
        assert!((zz - 5.0).abs() < 1e-6 && (x + 0.01).abs() < 1e-7 && y == 0.0);
        assert!(depth_map(&m, f64::NAN, 500.0).is_err());
        let mut bad = q;
        bad[3][3] = f64::NAN;
        assert!(point_cloud(&m, &bad, None).is_err());
        let bytes = ply_bytes(&pts, false);
        assert!(bytes.starts_with(b"ply\nformat binary_little_endian 1.0\n"));
        assert_eq!(
            bytes.len()
                - bytes
                    .windows(11)
                    .position(|w| w == b"end_header\n")
                    .unwrap()
                - 11,
            15
        );
    }
}
