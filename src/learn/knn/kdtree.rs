//! The k-d tree of the kNN search (Friedman, Bentley & Finkel, "An algorithm for finding best
//! matches in logarithmic expected time", ACM TOMS 3(3), 1977): median splits on the dimension
//! of widest spread, leaves of up to [`LEAF_SIZE`] points, depth-first search nearer child
//! first, a far child skipped when its splitting plane is farther than the current `k`-th
//! neighbour. Distances in `f64` ([`exact_distance`]), ties to the lower index, so it returns
//! the same neighbours as the brute-force search. Rebuilt on load, never stored.

use super::{Metric, exact_distance};

/// Points per k-d tree leaf.
const LEAF_SIZE: usize = 16;

/// A k-d tree over the training rows (rebuilt, never stored).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct KdTree {
    nodes: Vec<KdNode>,
    /// Training indices; each leaf owns a contiguous range.
    perm: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq)]
enum KdNode {
    Leaf {
        start: u32,
        end: u32,
    },
    Split {
        dim: u32,
        value: f32,
        left: u32,
        right: u32,
    },
}

impl KdTree {
    pub(super) fn build(train: &[f32], dim: usize) -> KdTree {
        let n = train.len() / dim;
        let mut tree = KdTree {
            nodes: Vec::new(),
            perm: (0..n as u32).collect(),
        };
        tree.build_node(train, dim, 0, n);
        tree
    }

    fn build_node(&mut self, train: &[f32], dim: usize, start: usize, end: usize) -> u32 {
        let id = self.nodes.len() as u32;
        let at = |i: u32, c: usize| train[i as usize * dim + c];
        let mut widest = (0, 0f32);
        if end - start > LEAF_SIZE {
            for c in 0..dim {
                let (lo, hi) = self.perm[start..end]
                    .iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &i| {
                        (lo.min(at(i, c)), hi.max(at(i, c)))
                    });
                if hi - lo > widest.1 {
                    widest = (c, hi - lo);
                }
            }
        }
        if end - start <= LEAF_SIZE || widest.1 == 0.0 {
            self.nodes.push(KdNode::Leaf {
                start: start as u32,
                end: end as u32,
            });
            return id;
        }
        let c = widest.0;
        let mid = start + (end - start) / 2;
        self.perm[start..end].select_nth_unstable_by(mid - start, |&a, &b| {
            at(a, c).total_cmp(&at(b, c)).then(a.cmp(&b))
        });
        let value = at(self.perm[mid], c);
        self.nodes.push(KdNode::Split {
            dim: c as u32,
            value,
            left: 0,
            right: 0,
        });
        let left = self.build_node(train, dim, start, mid);
        let right = self.build_node(train, dim, mid, end);
        if let KdNode::Split {
            left: l, right: r, ..
        } = &mut self.nodes[id as usize]
        {
            *l = left;
            *r = right;
        }
        id
    }

    pub(super) fn search(
        &self,
        train: &[f32],
        dim: usize,
        metric: Metric,
        q: &[f32],
        k: usize,
    ) -> Vec<(f64, u32)> {
        let mut best: Vec<(f64, u32)> = Vec::with_capacity(k + 1);
        self.visit(0, train, dim, metric, q, k, &mut best);
        best
    }

    #[allow(clippy::too_many_arguments)]
    fn visit(
        &self,
        node: u32,
        train: &[f32],
        dim: usize,
        metric: Metric,
        q: &[f32],
        k: usize,
        best: &mut Vec<(f64, u32)>,
    ) {
        match self.nodes[node as usize] {
            KdNode::Leaf { start, end } => {
                for &i in &self.perm[start as usize..end as usize] {
                    let row = &train[i as usize * dim..(i as usize + 1) * dim];
                    let cand = (exact_distance(metric, q, row), i);
                    let worse = |a: &(f64, u32), b: &(f64, u32)| {
                        a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).is_lt()
                    };
                    if best.len() == k {
                        if !worse(&cand, &best[k - 1]) {
                            continue;
                        }
                        best.pop();
                    }
                    let pos = best.partition_point(|b| worse(b, &cand));
                    best.insert(pos, cand);
                }
            }
            KdNode::Split {
                dim: c,
                value,
                left,
                right,
            } => {
                let diff = q[c as usize] as f64 - value as f64;
                let (near, far) = if diff < 0.0 {
                    (left, right)
                } else {
                    (right, left)
                };
                self.visit(near, train, dim, metric, q, k, best);
                let plane = match metric {
                    Metric::L2 => diff * diff,
                    _ => diff.abs(),
                };
                if best.len() < k || plane <= best[k - 1].0 {
                    self.visit(far, train, dim, metric, q, k, best);
                }
            }
        }
    }
}
