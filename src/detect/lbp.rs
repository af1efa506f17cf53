//! Multi-block local binary patterns (MB-LBP), the features of OpenCV's LBP cascades.
//!
//! # Overview
//! An MB-LBP feature is a 3x3 grid of equal cells inside the detection window. The sum of
//! each of the 8 outer cells is compared with the centre cell's sum, giving an 8-bit code
//! (0..255); cascade nodes then test the code's membership in a 256-bit set.
//!
//! # Usage
//! ```
//! use classic_cv::detect::integral::Integral;
//! use classic_cv::detect::lbp::LbpFeature;
//! // 3x3 image, 1x1 cells: the centre is 5, only the cells >= 5 set their bits.
//! let px = [1, 9, 1, 1, 5, 6, 1, 1, 1];
//! let ii = Integral::new(&px, 3, 3, false).unwrap();
//! let f = LbpFeature { x: 0, y: 0, width: 1, height: 1 };
//! assert_eq!(f.code(&ii, 0, 0), 64 | 16);
//! ```
//!
//! # Algorithm and conventions
//! `(x, y, width, height)` is the top-left cell; the grid covers `3 width x 3 height`.
//! Bits, as in OpenCV: top-left 128, top 64, top-right 32, right 16, bottom-right 8,
//! bottom 4, bottom-left 2, left 1; a bit is set when the cell sum is `>=` the centre's.
//! No variance normalisation is applied.
//!
//! # Parallelism
//! None; evaluation is 16 look-ups.
//!
//! # References
//! S. Liao, X. Zhu, Z. Lei, L. Zhang, S. Z. Li, "Learning multi-scale block local binary
//! patterns for face recognition", ICB 2007.

use serde::{Deserialize, Serialize};

use crate::detect::integral::{Integral, corner_sum};
use crate::error::{Error, Result};

/// One MB-LBP feature: the top-left cell of its 3x3 grid, in window coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LbpFeature {
    /// Left column of the grid.
    pub x: u32,
    /// Top row of the grid.
    pub y: u32,
    /// Cell width.
    pub width: u32,
    /// Cell height.
    pub height: u32,
}

/// Cell (column, row) of each code bit, from bit 7 (value 128) down to bit 0.
const BIT_CELLS: [(usize, usize); 8] = [
    (0, 0),
    (1, 0),
    (2, 0),
    (2, 1),
    (2, 2),
    (1, 2),
    (0, 2),
    (0, 1),
];

impl LbpFeature {
    /// Checks that the grid has non-empty cells and lies inside a `win_w x win_h` window.
    pub fn check(&self, win_w: usize, win_h: usize) -> Result<()> {
        let (x, y, w, h) = (
            self.x as u64,
            self.y as u64,
            self.width as u64,
            self.height as u64,
        );
        if w == 0 || h == 0 || x + 3 * w > win_w as u64 || y + 3 * h > win_h as u64 {
            return Err(Error::param(
                "rect",
                format!(
                    "LBP cell ({x}, {y}, {w}, {h}) (grid 3x) lies outside the {win_w}x{win_h} window or is empty"
                ),
            ));
        }
        Ok(())
    }

    /// The 8-bit code of the window whose top-left corner is `(x, y)` (reference
    /// evaluation with explicit rectangle sums).
    pub fn code(&self, ii: &Integral, x: usize, y: usize) -> u8 {
        let (cw, ch) = (self.width as usize, self.height as usize);
        let cell = |i: usize, j: usize| {
            ii.rect_sum(
                x + self.x as usize + i * cw,
                y + self.y as usize + j * ch,
                cw,
                ch,
            )
        };
        let c = cell(1, 1);
        let mut code = 0u8;
        for (bit, &(i, j)) in BIT_CELLS.iter().enumerate() {
            if cell(i, j) >= c {
                code |= 128 >> bit;
            }
        }
        code
    }

    /// Offsets of the 4x4 grid corners in a table with rows `stride` apart, relative to
    /// the window's top-left entry (row-major: corner `(i, j)` at index `4 j + i`).
    pub(crate) fn corner_offsets(&self, stride: usize) -> [u32; 16] {
        let mut o = [0u32; 16];
        for j in 0..4 {
            for i in 0..4 {
                let cx = self.x as usize + i * self.width as usize;
                let cy = self.y as usize + j * self.height as usize;
                o[4 * j + i] = (cy * stride + cx) as u32;
            }
        }
        o
    }
}

/// The code from the 16 grid corners of an integral table (see `corner_offsets`).
#[inline(always)]
pub(crate) fn code_from_corners(p: &[i32; 16]) -> u32 {
    let cell = |i: usize, j: usize| {
        let corners = [
            4 * j + i,
            4 * j + i + 1,
            4 * (j + 1) + i,
            4 * (j + 1) + i + 1,
        ];
        corner_sum(p, 0, corners)
    };
    let c = cell(1, 1);
    ((cell(0, 0) >= c) as u32) << 7
        | ((cell(1, 0) >= c) as u32) << 6
        | ((cell(2, 0) >= c) as u32) << 5
        | ((cell(2, 1) >= c) as u32) << 4
        | ((cell(2, 2) >= c) as u32) << 3
        | ((cell(1, 2) >= c) as u32) << 2
        | ((cell(0, 2) >= c) as u32) << 1
        | ((cell(0, 1) >= c) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn corner_code_matches_reference(fx in 0u32..4, fy in 0u32..4, cw in 1u32..4, ch in 1u32..4,
                                         wx in 0usize..4, wy in 0usize..4, seed in any::<u64>()) {
            let (w, h) = (20, 20);
            let mut rng = crate::rng::Rng::new(seed);
            let px: Vec<u8> = (0..w * h).map(|_| (rng.next_u64() % 4) as u8 * 60).collect();
            let ii = Integral::new(&px, w, h, false).unwrap();
            let f = LbpFeature { x: fx, y: fy, width: cw, height: ch };
            prop_assert!(f.check(16, 16).is_ok());
            let offs = f.corner_offsets(ii.stride());
            let base = wy * ii.stride() + wx;
            let p: [i32; 16] = std::array::from_fn(|k| ii.sum[base + offs[k] as usize]);
            // Naive code with double loops.
            let cell = |i: u32, j: u32| {
                let mut s = 0i64;
                for yy in 0..ch { for xx in 0..cw {
                    s += px[(wy + (fy + j * ch + yy) as usize) * w + wx + (fx + i * cw + xx) as usize] as i64;
                }}
                s
            };
            let c = cell(1, 1);
            let order = [(0, 0), (1, 0), (2, 0), (2, 1), (2, 2), (1, 2), (0, 2), (0, 1)];
            let mut want = 0u32;
            for (b, &(i, j)) in order.iter().enumerate() {
                if cell(i, j) >= c { want |= 128 >> b; }
            }
            prop_assert_eq!(code_from_corners(&p), want);
            prop_assert_eq!(f.code(&ii, wx, wy) as u32, want);
        }
    }

    #[test]
    fn grids_outside_the_window_are_rejected() {
        let f = LbpFeature {
            x: 10,
            y: 0,
            width: 5,
            height: 2,
        };
        assert!(matches!(
            f.check(24, 24),
            Err(Error::InvalidParam { name: "rect", .. })
        ));
        assert!(LbpFeature { x: 9, ..f }.check(24, 24).is_ok());
        assert!(LbpFeature { width: 0, ..f }.check(24, 24).is_err());
    }
}
