//! XGBoost's feature contributions (`pred_contribs`, `approx_contribs`, `pred_interactions`),
//! transcribed from dmlc/xgboost 3.x `src/predictor/treeshap.cc` and `cpu_predictor.cc`
//! operation for operation in float32, so that the answers are bit-identical: TreeSHAP
//! (Lundberg et al.) over each tree's node covers, Saabas' approximation, and the
//! interaction values from conditioning each feature on and off.
//!
//! Walks are bounded: a tree deeper than [`MAX_DEPTH`] is refused (the path storage is
//! quadratic in the depth and the walk recursive), as is an answer larger than
//! [`MAX_VALUES`].

use crate::forest::{Forest, Rules, Tree};

/// Deepest tree contributions are computed for.
pub const MAX_DEPTH: usize = 512;

/// Most values a contributions answer may hold (rows × groups × columns, squared columns
/// for interactions): 64 MiB of float32.
pub const MAX_VALUES: usize = 1 << 24;

/// Why contributions could not be computed.
pub type ShapError = String;

/// Per-tree data contributions need: each node's mean value (cover-weighted, float32, as
/// XGBoost's `FillNodeMeanValues`) and the tree's depth.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeStats {
    /// Mean value of each node.
    pub mean: Vec<f32>,
    /// Depth (edges on the longest root-to-leaf path).
    pub depth: usize,
}

/// Computes [`TreeStats`] without recursion (a hostile tree may be a long chain).
pub fn stats(tree: &Tree<f32>) -> TreeStats {
    let n = tree.nodes.len();
    let mut mean = vec![0f32; n];
    let mut depth_of = vec![0usize; n];
    let mut depth = 0;
    // Pre-order with depths, then children before parents (reverse pre-order).
    let mut order = Vec::with_capacity(n);
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        order.push(i);
        depth = depth.max(depth_of[i]);
        let node = &tree.nodes[i];
        if !node.is_leaf() {
            for c in [node.left as usize, node.right as usize] {
                if c < n {
                    depth_of[c] = depth_of[i] + 1;
                    stack.push(c);
                }
            }
        }
    }
    for &i in order.iter().rev() {
        let node = &tree.nodes[i];
        mean[i] = if node.is_leaf() {
            node.value
        } else {
            let (l, r) = (node.left as usize, node.right as usize);
            let mut result = mean[l] * tree.cover(l);
            result += mean[r] * tree.cover(r);
            result / tree.cover(i)
        };
    }
    TreeStats { mean, depth }
}

#[derive(Debug, Clone, Copy, Default)]
struct PathElement {
    feature_index: i32,
    zero_fraction: f32,
    one_fraction: f32,
    pweight: f32,
}

fn extend_path(
    path: &mut [PathElement],
    unique_depth: u32,
    zero_fraction: f32,
    one_fraction: f32,
    feature_index: i32,
) {
    let d = unique_depth as usize;
    path[d].feature_index = feature_index;
    path[d].zero_fraction = zero_fraction;
    path[d].one_fraction = one_fraction;
    path[d].pweight = if unique_depth == 0 { 1.0 } else { 0.0 };
    let mut i = unique_depth as i64 - 1;
    while i >= 0 {
        let iu = i as usize;
        path[iu + 1].pweight +=
            one_fraction * path[iu].pweight * (i + 1) as f32 / (unique_depth + 1) as f32;
        path[iu].pweight =
            zero_fraction * path[iu].pweight * (unique_depth as i64 - i) as u32 as f32
                / (unique_depth + 1) as f32;
        i -= 1;
    }
}

fn unwind_path(path: &mut [PathElement], unique_depth: u32, path_index: u32) {
    let one_fraction = path[path_index as usize].one_fraction;
    let zero_fraction = path[path_index as usize].zero_fraction;
    let mut next_one_portion = path[unique_depth as usize].pweight;
    let mut i = unique_depth as i64 - 1;
    while i >= 0 {
        let iu = i as usize;
        let ud = unique_depth as f32;
        if one_fraction != 0.0 {
            let tmp = path[iu].pweight;
            path[iu].pweight = next_one_portion * (ud + 1.0) / ((i + 1) as f32 * one_fraction);
            next_one_portion = tmp
                - path[iu].pweight * zero_fraction * (unique_depth as i64 - i) as f32 / (ud + 1.0);
        } else {
            path[iu].pweight = (path[iu].pweight * (ud + 1.0))
                / (zero_fraction * (unique_depth as i64 - i) as f32);
        }
        i -= 1;
    }
    for k in path_index as usize..unique_depth as usize {
        path[k].feature_index = path[k + 1].feature_index;
        path[k].zero_fraction = path[k + 1].zero_fraction;
        path[k].one_fraction = path[k + 1].one_fraction;
    }
}

fn unwound_path_sum(path: &[PathElement], unique_depth: u32, path_index: u32) -> f32 {
    let one_fraction = path[path_index as usize].one_fraction;
    let zero_fraction = path[path_index as usize].zero_fraction;
    let mut next_one_portion = path[unique_depth as usize].pweight;
    let mut total = 0f32;
    let ud1 = (unique_depth + 1) as f32;
    let mut i = unique_depth as i64 - 1;
    while i >= 0 {
        let iu = i as usize;
        if one_fraction != 0.0 {
            let tmp = next_one_portion * ud1 / ((i + 1) as f32 * one_fraction);
            total += tmp;
            next_one_portion =
                path[iu].pweight - tmp * zero_fraction * ((unique_depth as i64 - i) as f32 / ud1);
        } else if zero_fraction != 0.0 {
            total += (path[iu].pweight / zero_fraction) / ((unique_depth as i64 - i) as f32 / ud1);
        }
        i -= 1;
    }
    total
}

struct Walk<'a> {
    tree: &'a Tree<f32>,
    row: &'a [f32],
    phi: &'a mut [f32],
    condition: i32,
    condition_feature: u32,
}

impl Walk<'_> {
    #[allow(clippy::too_many_arguments)]
    fn tree_shap(
        &mut self,
        path_data: &mut [PathElement],
        at: usize,
        nidx: usize,
        mut unique_depth: u32,
        parent_zero_fraction: f32,
        parent_one_fraction: f32,
        parent_feature_index: i32,
        condition_fraction: f32,
    ) {
        if condition_fraction == 0.0 {
            return;
        }
        // The parent's path occupies path_data[at..at + unique_depth + 1]; ours follows it.
        let len = unique_depth as usize + 1;
        let (parent, rest) = path_data[at..].split_at_mut(len);
        rest[..len].copy_from_slice(parent);
        let path = rest;
        if self.condition == 0 || self.condition_feature != parent_feature_index as u32 {
            extend_path(
                path,
                unique_depth,
                parent_zero_fraction,
                parent_one_fraction,
                parent_feature_index,
            );
        }
        let node = &self.tree.nodes[nidx];
        let split_index = node.feature;
        if node.is_leaf() {
            for i in 1..=unique_depth {
                let w = unwound_path_sum(path, unique_depth, i);
                let el = path[i as usize];
                let f = el.feature_index as usize;
                if f < self.phi.len() {
                    self.phi[f] +=
                        w * (el.one_fraction - el.zero_fraction) * node.value * condition_fraction;
                }
            }
            return;
        }
        let hot = self.tree.next(nidx, self.row, Rules::XGBoost);
        let cold = if hot == node.left as usize {
            node.right as usize
        } else {
            node.left as usize
        };
        let w = self.tree.cover(nidx);
        let hot_zero_fraction = self.tree.cover(hot) / w;
        let cold_zero_fraction = self.tree.cover(cold) / w;
        let mut incoming_zero_fraction = 1f32;
        let mut incoming_one_fraction = 1f32;
        let mut path_index = 0u32;
        while path_index <= unique_depth {
            if path[path_index as usize].feature_index as u32 == split_index {
                break;
            }
            path_index += 1;
        }
        if path_index != unique_depth + 1 {
            incoming_zero_fraction = path[path_index as usize].zero_fraction;
            incoming_one_fraction = path[path_index as usize].one_fraction;
            unwind_path(path, unique_depth, path_index);
            unique_depth = unique_depth.wrapping_sub(1);
        }
        let mut hot_condition_fraction = condition_fraction;
        let mut cold_condition_fraction = condition_fraction;
        if self.condition > 0 && split_index == self.condition_feature {
            cold_condition_fraction = 0.0;
            unique_depth = unique_depth.wrapping_sub(1);
        } else if self.condition < 0 && split_index == self.condition_feature {
            hot_condition_fraction *= hot_zero_fraction;
            cold_condition_fraction *= cold_zero_fraction;
            unique_depth = unique_depth.wrapping_sub(1);
        }
        let next_at = at + len;
        self.tree_shap(
            path_data,
            next_at,
            hot,
            unique_depth.wrapping_add(1),
            hot_zero_fraction * incoming_zero_fraction,
            incoming_one_fraction,
            split_index as i32,
            hot_condition_fraction,
        );
        self.tree_shap(
            path_data,
            next_at,
            cold,
            unique_depth.wrapping_add(1),
            cold_zero_fraction * incoming_zero_fraction,
            0.0,
            split_index as i32,
            cold_condition_fraction,
        );
    }
}

/// One tree's contributions for one row, added to `out` (`features + 1` values, bias last).
fn tree_contributions(
    tree: &Tree<f32>,
    stats: &TreeStats,
    row: &[f32],
    out: &mut [f32],
    approximate: bool,
    condition: i32,
    condition_feature: u32,
) {
    let nf = row.len();
    if approximate {
        let mut node_value = stats.mean[0];
        out[nf] += node_value;
        if tree.nodes[0].is_leaf() {
            return;
        }
        let mut nidx = 0usize;
        let mut split_index = 0usize;
        while !tree.nodes[nidx].is_leaf() {
            split_index = tree.nodes[nidx].feature as usize;
            nidx = tree.next(nidx, row, Rules::XGBoost);
            let new_value = stats.mean[nidx];
            out[split_index] += new_value - node_value;
            node_value = new_value;
        }
        out[split_index] += tree.nodes[nidx].value - node_value;
        return;
    }
    if condition == 0 {
        out[nf] += stats.mean[0];
    }
    let maxd = stats.depth + 2;
    let mut path = vec![PathElement::default(); (maxd * (maxd + 1)) / 2 + maxd + 1];
    let mut walk = Walk {
        tree,
        row,
        phi: out,
        condition,
        condition_feature,
    };
    walk.tree_shap(&mut path, 0, 0, 0, 1.0, 1.0, -1, 1.0);
}

/// Contributions of `trees` (`0..end`) for `rows` rows of `x`: `rows × groups × (features + 1)`.
#[allow(clippy::too_many_arguments)]
pub fn contributions(
    forest: &Forest<f32>,
    stats: &[TreeStats],
    x: &[f32],
    rows: usize,
    end: usize,
    base: &[f32],
    approximate: bool,
    condition: i32,
    condition_feature: u32,
) -> Result<Vec<f32>, ShapError> {
    let nf = forest.n_features;
    let ng = forest.n_groups;
    let cols = nf + 1;
    check_size(rows, ng, cols, 1)?;
    if stats[..end].iter().any(|s| s.depth > MAX_DEPTH) {
        return Err(format!(
            "a tree deeper than {MAX_DEPTH} levels: contributions are not computed for it"
        ));
    }
    let mut out = vec![0f32; rows * ng * cols];
    let mut this_tree = vec![0f32; cols];
    for r in 0..rows {
        let row = &x[r * nf..(r + 1) * nf];
        for g in 0..ng {
            let p = &mut out[(r * ng + g) * cols..(r * ng + g + 1) * cols];
            for t in 0..end {
                this_tree.iter_mut().for_each(|v| *v = 0.0);
                if forest.groups[t] as usize != g {
                    continue;
                }
                tree_contributions(
                    &forest.trees[t],
                    &stats[t],
                    row,
                    &mut this_tree,
                    approximate,
                    condition,
                    condition_feature,
                );
                let w = forest.weights.as_ref().map_or(1.0, |w| w[t]);
                for (o, v) in p.iter_mut().zip(&this_tree) {
                    *o += *v * w;
                }
            }
            p[cols - 1] += base[g];
        }
    }
    Ok(out)
}

/// Interaction values: `rows × groups × (features + 1) × (features + 1)`.
pub fn interactions(
    forest: &Forest<f32>,
    stats: &[TreeStats],
    x: &[f32],
    rows: usize,
    end: usize,
    base: &[f32],
    approximate: bool,
) -> Result<Vec<f32>, ShapError> {
    let ng = forest.n_groups;
    let cols = forest.n_features + 1;
    check_size(rows, ng, cols, cols)?;
    let diag = contributions(forest, stats, x, rows, end, base, approximate, 0, 0)?;
    let mut out = vec![0f32; rows * ng * cols * cols];
    for i in 0..cols {
        let off = contributions(forest, stats, x, rows, end, base, approximate, -1, i as u32)?;
        let on = contributions(forest, stats, x, rows, end, base, approximate, 1, i as u32)?;
        for j in 0..rows {
            for l in 0..ng {
                let o = ((j * ng + l) * cols + i) * cols;
                let c = (j * ng + l) * cols;
                out[o + i] = 0.0;
                for k in 0..cols {
                    if k == i {
                        out[o + i] += diag[c + k];
                    } else {
                        out[o + k] = ((on[c + k] - off[c + k]) as f64 / 2.0) as f32;
                        out[o + i] -= out[o + k];
                    }
                }
            }
        }
    }
    Ok(out)
}

fn check_size(rows: usize, groups: usize, cols: usize, cols2: usize) -> Result<(), ShapError> {
    let n = rows
        .checked_mul(groups)
        .and_then(|n| n.checked_mul(cols))
        .and_then(|n| n.checked_mul(cols2));
    match n {
        Some(n) if n <= MAX_VALUES => Ok(()),
        _ => Err(format!(
            "the contributions would hold more than {MAX_VALUES} values"
        )),
    }
}
