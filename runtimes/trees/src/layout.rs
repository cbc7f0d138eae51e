//! The layout trees are scored in: each tree renumbered breadth-first so that a node's two
//! children sit side by side (`right = left + 1`), packed into 12-byte (float32) or 16-byte
//! (float64) nodes, with leaves pointing at themselves. A step is then branch-free
//! (`next = left + goes_right`, a leaf stays where it is), and a block of rows walks a tree
//! in lockstep for exactly the tree's depth, so that the CPU overlaps the rows' memory reads
//! instead of mispredicting each row's branches (the layout fast engines use: XGBoost's
//! `array_tree_layout.h`, treelite, lleaves).
//!
//! Categorical splits and LightGBM's zero-as-missing nodes take a slower exact path, chosen
//! per node by a flag; linear leaves (LightGBM `linear_tree`) keep the plain walk.

use crate::forest::{flag, Real, Rules, Tree};

/// Deepest tree walked in lockstep; a deeper one (legal, rare) is walked row by row.
pub const MAX_LOCKSTEP_DEPTH: u32 = 48;

/// Rows walked together through one tree.
pub const LANES: usize = 16;

/// Bits of `feat` above the feature index.
const FEATURE_BITS: u32 = 24;
const FEATURE_MASK: u32 = (1 << FEATURE_BITS) - 1;
/// The node is a leaf (it points at itself).
const LEAF: u32 = 1 << 31;
/// A missing value goes left.
const DEFAULT_LEFT: u32 = 1 << 30;
/// The exact slow path decides (categorical split, LightGBM missing type Zero).
const SLOW: u32 = 1 << 29;
/// LightGBM missing type NaN: a NaN takes the default direction (else NaN counts as 0.0).
const NAN_MISSING: u32 = 1 << 28;

/// One packed node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlatNode<T> {
    /// Threshold, or the leaf value.
    pub value: T,
    /// Feature index (low 24 bits) and flags.
    pub feat: u32,
    /// Left child (the right one is `left + 1`); a leaf's own index.
    pub left: u32,
}

/// A tree in the scoring layout.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatTree<T> {
    /// Nodes, breadth-first.
    pub nodes: Vec<FlatNode<T>>,
    /// The original node index of each flat node (for the slow path).
    pub orig: Vec<u32>,
    /// Edges on the longest root-to-leaf path.
    pub depth: u32,
}

impl<T: Real> FlatTree<T> {
    /// Lays out `tree` (whose walks from the root reach each node once, as the readers check).
    pub fn new(tree: &Tree<T>, rules: Rules) -> FlatTree<T> {
        let mut nodes = Vec::with_capacity(tree.nodes.len());
        let mut orig = Vec::with_capacity(tree.nodes.len());
        let mut level = vec![0usize];
        let mut depth = 0u32;
        // Breadth-first: a node's children are appended as a pair.
        nodes.push(FlatNode {
            value: T::ZERO,
            feat: 0,
            left: 0,
        });
        orig.push(0u32);
        let mut pending = vec![(0usize, 0usize)]; // (flat index, original index)
        let mut d = 0u32;
        while !pending.is_empty() {
            let mut next = Vec::new();
            for &(fi, oi) in &pending {
                let n = &tree.nodes[oi];
                if n.is_leaf()
                    || n.left as usize >= tree.nodes.len()
                    || n.right as usize >= tree.nodes.len()
                {
                    nodes[fi] = FlatNode {
                        value: n.value,
                        feat: LEAF,
                        left: fi as u32,
                    };
                    continue;
                }
                let left = nodes.len();
                nodes.push(FlatNode {
                    value: T::ZERO,
                    feat: 0,
                    left: 0,
                });
                nodes.push(FlatNode {
                    value: T::ZERO,
                    feat: 0,
                    left: 0,
                });
                orig.push(n.left);
                orig.push(n.right);
                let mut f = n.feature & FEATURE_MASK;
                if n.flags & flag::DEFAULT_LEFT != 0 {
                    f |= DEFAULT_LEFT;
                }
                let slow = n.flags & flag::CATEGORICAL != 0
                    || n.feature > FEATURE_MASK
                    || (rules == Rules::LightGBM && n.flags & flag::MISSING_ZERO != 0);
                if slow {
                    f |= SLOW;
                }
                if n.flags & flag::MISSING_NAN != 0 {
                    f |= NAN_MISSING;
                }
                nodes[fi] = FlatNode {
                    value: n.value,
                    feat: f,
                    left: left as u32,
                };
                next.push((left, n.left as usize));
                next.push((left + 1, n.right as usize));
            }
            if !next.is_empty() {
                d += 1;
                depth = d;
            }
            pending = next;
        }
        level.clear();
        FlatTree { nodes, orig, depth }
    }

    /// One step from flat node `i` for `row` (a leaf stays put); `XGB` selects XGBoost's
    /// rules at compile time, LightGBM's otherwise.
    #[inline(always)]
    fn step<const XGB: bool>(&self, tree: &Tree<T>, i: usize, row: &[T]) -> usize {
        let rules = if XGB { Rules::XGBoost } else { Rules::LightGBM };
        let n = self.nodes[i];
        if n.feat & (LEAF | SLOW) != 0 {
            if n.feat & LEAF != 0 {
                return i;
            }
            // The exact rules, on the original node.
            let o = self.orig[i] as usize;
            let to = tree.next(o, row, rules);
            return n.left as usize + usize::from(to as u32 != tree.nodes[o].left);
        }
        let x = row
            .get((n.feat & FEATURE_MASK) as usize)
            .copied()
            .unwrap_or(T::ZERO);
        let dl = n.feat & DEFAULT_LEFT != 0;
        let nan = x.is_nan();
        let go_left = if XGB {
            // XGBoost: NaN follows the default, else `x < threshold`.
            (nan & dl) | (!nan & (x < n.value))
        } else {
            // LightGBM (missing type None or NaN here): with type NaN a NaN follows the
            // default; otherwise NaN counts as 0.0 and `x <= threshold` decides.
            let nan_missing = n.feat & NAN_MISSING != 0;
            let v = if nan { T::ZERO } else { x };
            (nan & nan_missing & dl) | (!(nan & nan_missing) & (v <= n.value))
        };
        n.left as usize + usize::from(!go_left)
    }

    /// The flat leaf a row reaches, walked row by row.
    #[inline]
    fn leaf<const XGB: bool>(&self, tree: &Tree<T>, row: &[T]) -> usize {
        let mut i = 0;
        for _ in 0..=self.depth {
            let next = self.step::<XGB>(tree, i, row);
            if next == i {
                break;
            }
            i = next;
        }
        i
    }

    /// The flat leaf of each of `lanes` rows: in lockstep for the tree's depth, or row by row
    /// for a very deep tree.
    #[inline(always)]
    fn walk<'x, const XGB: bool>(
        &self,
        tree: &Tree<T>,
        lanes: usize,
        row: impl Fn(usize) -> &'x [T],
    ) -> [usize; LANES]
    where
        T: 'x,
    {
        let mut at = [0usize; LANES];
        if self.depth <= MAX_LOCKSTEP_DEPTH {
            let rows: [&[T]; LANES] = std::array::from_fn(|l| if l < lanes { row(l) } else { &[] });
            for _ in 0..self.depth {
                for l in 0..lanes {
                    at[l] = self.step::<XGB>(tree, at[l], rows[l]);
                }
            }
        } else {
            for (l, i) in at.iter_mut().enumerate().take(lanes) {
                *i = self.leaf::<XGB>(tree, row(l));
            }
        }
        at
    }

    /// Adds this tree's value for each row of the block (`rows` rows of `x` from `first`) to
    /// `out[r * stride + group]`, weighted by `w` when given; rows walk in lockstep.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn add_block(
        &self,
        tree: &Tree<T>,
        rules: Rules,
        x: &[T],
        nf: usize,
        first: usize,
        rows: usize,
        out: &mut [T],
        stride: usize,
        group: usize,
        w: Option<T>,
    ) {
        let lanes = rows.min(LANES);
        let row = |l: usize| &x[(first + l) * nf..(first + l + 1) * nf];
        let at = match rules {
            Rules::XGBoost => self.walk::<true>(tree, lanes, row),
            Rules::LightGBM => self.walk::<false>(tree, lanes, row),
        };
        for (l, i) in at.iter().enumerate().take(lanes) {
            let v = self.nodes[*i].value;
            let o = &mut out[(first + l) * stride + group];
            match w {
                Some(w) => *o += v * w,
                None => *o += v,
            }
        }
    }
}
