//! The flattened forest every reader produces, and its traversal.
//!
//! One [`Forest`] holds the trees of one model as flat node arrays; the element type is the
//! library's own precision (`f32` for XGBoost, `f64` for LightGBM: see the crate docs), and
//! the split rules are the library's ([`Rules`]). Rows are scored a block at a time: each
//! tree walks every row of the block before the next tree starts, so a tree's nodes stay in
//! cache while the block's partial sums are updated in tree order (the order the libraries
//! sum in, which exactness needs).

use crate::layout::{FlatTree, LANES};

/// The float type a forest computes in.
pub trait Real:
    Copy + PartialOrd + std::ops::AddAssign + std::ops::Mul<Output = Self> + Send + Sync + 'static
{
    /// Zero.
    const ZERO: Self;
    /// From a float64 feature value (XGBoost rounds to float32 here, as its DMatrix does).
    fn from_f64(v: f64) -> Self;
    /// Widening to float64.
    fn to_f64(self) -> f64;
    /// NaN test.
    fn is_nan(self) -> bool;
}

impl Real for f32 {
    const ZERO: f32 = 0.0;
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
}

impl Real for f64 {
    const ZERO: f64 = 0.0;
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
}

/// Whose split rules a forest follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// XGBoost: `x < threshold` goes left; a missing value follows `default_left`; a category
    /// in the node's set goes right, any other (negative, unseen, huge) left.
    XGBoost,
    /// LightGBM: `x <= threshold` goes left; the node's missing type decides what is missing
    /// (NaN becomes 0.0 unless the type is NaN; zero means |x| <= 1e-35); a category in the
    /// node's bitset goes left, NaN and negatives right.
    LightGBM,
}

/// Node flags.
pub mod flag {
    /// The node is a leaf; its value is the leaf value.
    pub const LEAF: u8 = 1;
    /// Missing values go left.
    pub const DEFAULT_LEFT: u8 = 2;
    /// A categorical split (`cat` indexes the forest's category sets).
    pub const CATEGORICAL: u8 = 4;
    /// LightGBM missing type Zero.
    pub const MISSING_ZERO: u8 = 8;
    /// LightGBM missing type NaN.
    pub const MISSING_NAN: u8 = 16;
}

/// One node. For a leaf, `value` is the leaf value; otherwise the threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node<T> {
    /// Threshold or leaf value.
    pub value: T,
    /// Split feature.
    pub feature: u32,
    /// Left child (index in the tree's nodes).
    pub left: u32,
    /// Right child.
    pub right: u32,
    /// [`flag`] bits.
    pub flags: u8,
    /// For a categorical split, the index of its set in the tree's `cat_sets`.
    pub cat: u32,
}

impl<T> Node<T> {
    /// True for a leaf.
    #[inline]
    pub fn is_leaf(&self) -> bool {
        self.flags & flag::LEAF != 0
    }
}

/// A LightGBM linear leaf: `constant + Σ coeff·x`, or the plain leaf value when one of its
/// features is NaN.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinearLeaf {
    /// `leaf_const`.
    pub constant: f64,
    /// `leaf_features`.
    pub features: Vec<u32>,
    /// `leaf_coeff`.
    pub coeffs: Vec<f64>,
}

/// One tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree<T> {
    /// Nodes; node 0 is the root.
    pub nodes: Vec<Node<T>>,
    /// Category sets: `(start, len)` into `cat_words`.
    pub cat_sets: Vec<(u32, u32)>,
    /// LightGBM: bitset words (bit `c % 32` of word `c / 32` is category `c`), as the file
    /// stores them. XGBoost: each set's categories, sorted (memory in proportion to the
    /// file, whatever category values it names).
    pub cat_words: Vec<u32>,
    /// The leaf number each node reports for `pred_leaf` (XGBoost: the node id; LightGBM:
    /// the leaf index).
    pub leaf_ids: Vec<u32>,
    /// Linear leaves by node index (LightGBM `linear_tree`), when the tree has them.
    pub linear: Option<Vec<LinearLeaf>>,
    /// XGBoost: each node's cover (`sum_hessian`), which feature contributions weigh paths
    /// by; empty when the file has none.
    pub cover: Vec<f32>,
}

impl<T: Real> Tree<T> {
    fn in_set(&self, set: u32, cat: u32, rules: Rules) -> bool {
        let Some(&(start, len)) = self.cat_sets.get(set as usize) else {
            return false;
        };
        let Some(words) = self
            .cat_words
            .get(start as usize..(start as usize).saturating_add(len as usize))
        else {
            return false;
        };
        match rules {
            Rules::XGBoost => words.binary_search(&cat).is_ok(),
            Rules::LightGBM => {
                let w = (cat / 32) as usize;
                w < words.len() && (words[w] >> (cat % 32)) & 1 == 1
            }
        }
    }

    /// A node's cover (0 when the file gave none).
    #[inline]
    pub fn cover(&self, i: usize) -> f32 {
        self.cover.get(i).copied().unwrap_or(0.0)
    }

    /// The child of internal node `i` that a row goes to.
    #[inline]
    pub fn next(&self, i: usize, row: &[T], rules: Rules) -> usize {
        let n = &self.nodes[i];
        let x = row.get(n.feature as usize).copied().unwrap_or(T::ZERO);
        let left = match rules {
            Rules::XGBoost => {
                if x.is_nan() {
                    n.flags & flag::DEFAULT_LEFT != 0
                } else if n.flags & flag::CATEGORICAL != 0 {
                    let v = x.to_f64();
                    // XGBoost's `Decision`: an invalid category (negative, or too large to be
                    // an index) goes left; a valid one goes right when it is in the set.
                    !((0.0..16_777_216.0).contains(&v) && self.in_set(n.cat, v as u32, rules))
                } else {
                    x < n.value
                }
            }
            Rules::LightGBM => {
                let mut v = x.to_f64();
                if n.flags & flag::CATEGORICAL != 0 {
                    if v.is_nan() {
                        false
                    } else {
                        // `static_cast<int>`: out-of-range values never match a set.
                        let c = v as i64;
                        c >= 0 && c <= i32::MAX as i64 && self.in_set(n.cat, c as u32, rules)
                    }
                } else {
                    let nan_type = n.flags & flag::MISSING_NAN != 0;
                    if v.is_nan() && !nan_type {
                        v = 0.0;
                    }
                    let zero = n.flags & flag::MISSING_ZERO != 0
                        && (-1e-35f32 as f64..=1e-35f32 as f64).contains(&v);
                    if zero || (nan_type && v.is_nan()) {
                        n.flags & flag::DEFAULT_LEFT != 0
                    } else {
                        v <= n.value.to_f64()
                    }
                }
            }
        };
        if left {
            n.left as usize
        } else {
            n.right as usize
        }
    }

    /// The leaf node a row reaches.
    #[inline]
    pub fn leaf(&self, row: &[T], rules: Rules) -> usize {
        let mut i = 0usize;
        while !self.nodes[i].is_leaf() {
            let next = self.next(i, row, rules);
            // Readers only build trees in which a walk from the root reaches each node once
            // (so every walk ends); an index outside the tree ends it too.
            if next >= self.nodes.len() {
                return i;
            }
            i = next;
        }
        i
    }

    /// The value a row gets from this tree (a linear leaf computed in float64).
    #[inline]
    pub fn value(&self, row: &[T], rules: Rules) -> T {
        let i = self.leaf(row, rules);
        let v = self.nodes[i].value;
        match &self.linear {
            Some(leaves) => match leaves.get(i) {
                Some(l) => {
                    let mut out = l.constant;
                    for (f, c) in l.features.iter().zip(&l.coeffs) {
                        let x = row.get(*f as usize).copied().unwrap_or(T::ZERO).to_f64();
                        if x.is_nan() {
                            return v;
                        }
                        out += c * x;
                    }
                    T::from_f64(out)
                }
                None => v,
            },
            None => v,
        }
    }
}

/// A whole model's trees.
#[derive(Debug, Clone, PartialEq)]
pub struct Forest<T> {
    /// The trees in the order the library sums them.
    pub trees: Vec<Tree<T>>,
    /// The output group of each tree.
    pub groups: Vec<u32>,
    /// DART weights by tree (XGBoost `weight_drop`).
    pub weights: Option<Vec<T>>,
    /// Output groups (classes of a multiclass model; 1 otherwise).
    pub n_groups: usize,
    /// Features a row has.
    pub n_features: usize,
    /// Split rules.
    pub rules: Rules,
    /// The trees in the scoring layout (see [`crate::layout`]), built by [`Forest::laid_out`].
    pub flat: Vec<FlatTree<T>>,
}

/// Rows scored per block (each tree walks a block before the next tree).
const BLOCK: usize = 64;

impl<T: Real> Forest<T> {
    /// The forest with its trees laid out for scoring.
    pub fn laid_out(mut self) -> Forest<T> {
        self.flat = self
            .trees
            .iter()
            .map(|t| FlatTree::new(t, self.rules))
            .collect();
        self
    }

    /// Adds the trees `range` to `out` (`rows × n_groups`, already holding each row's start
    /// value), in tree order. `x` is `rows × n_features`, row-major.
    pub fn add_margins(&self, x: &[T], rows: usize, range: std::ops::Range<usize>, out: &mut [T]) {
        let nf = self.n_features;
        let ng = self.n_groups;
        for start in (0..rows).step_by(BLOCK) {
            let end = (start + BLOCK).min(rows);
            for t in range.clone() {
                let tree = &self.trees[t];
                let g = self.groups[t] as usize;
                let w = self.weights.as_ref().map(|w| w[t]);
                match self.flat.get(t) {
                    // A block of a few rows walks the original tree with branches: with nothing
                    // to overlap, the CPU's speculation down the predicted path wins.
                    Some(flat) if tree.linear.is_none() && end - start >= 4 => {
                        for first in (start..end).step_by(LANES) {
                            let n = (end - first).min(LANES);
                            flat.add_block(tree, self.rules, x, nf, first, n, out, ng, g, w);
                        }
                    }
                    _ => {
                        for r in start..end {
                            let row = &x[r * nf..(r + 1) * nf];
                            let v = tree.value(row, self.rules);
                            match w {
                                Some(w) => out[r * ng + g] += v * w,
                                None => out[r * ng + g] += v,
                            }
                        }
                    }
                }
            }
        }
    }

    /// The leaf each row reaches in each tree of `range` (`rows × range.len()`).
    pub fn leaves(&self, x: &[T], rows: usize, range: std::ops::Range<usize>) -> Vec<u32> {
        let nf = self.n_features;
        let mut out = Vec::with_capacity(rows * range.len());
        for r in 0..rows {
            let row = &x[r * nf..(r + 1) * nf];
            for t in range.clone() {
                let tree = &self.trees[t];
                let i = tree.leaf(row, self.rules);
                out.push(tree.leaf_ids.get(i).copied().unwrap_or(i as u32));
            }
        }
        out
    }
}
