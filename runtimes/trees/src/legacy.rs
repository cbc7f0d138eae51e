//! XGBoost's legacy binary model format (`model.xgb` / `model.bst`, what MLflow wrote by
//! default before 3.x and XGBoost < 3.1 could save; dmlc/xgboost v2.1 `src/learner.cc`
//! `LoadModel(dmlc::Stream*)`, `src/gbm/gbtree_model.cc`, `src/tree/tree_model.cc`).
//!
//! The bytes are read into the same [`Value`] document the JSON and UBJSON readers produce,
//! so one builder turns every format into a model. Layout (little-endian): an optional
//! `binf`, the 136-byte learner parameters, the objective and booster names, the booster
//! (gbtree: 160-byte parameters, per tree 148-byte parameters then 20-byte nodes and 16-byte
//! statistics, then `tree_info`; dart adds `weight_drop`; gblinear: 136-byte parameters and
//! the weights), then the attributes. Every count is checked against the bytes left before
//! anything is allocated.

use crate::doc::Value;
use crate::TreeError;

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TreeError> {
        let end = self
            .i
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| {
                TreeError::Format(format!("at byte {}: {n} bytes needed, fewer left", self.i))
            })?;
        let s = &self.b[self.i..end];
        self.i = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, TreeError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn i32(&mut self) -> Result<i32, TreeError> {
        Ok(self.u32()? as i32)
    }

    fn f32(&mut self) -> Result<f32, TreeError> {
        Ok(f32::from_bits(self.u32()?))
    }

    fn u64(&mut self) -> Result<u64, TreeError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    /// A count of `width`-byte items that must fit in the bytes left.
    fn count(&mut self, width: usize) -> Result<usize, TreeError> {
        let n = self.u64()?;
        let left = (self.b.len() - self.i) as u64;
        if n.saturating_mul(width.max(1) as u64) > left {
            return Err(TreeError::Format(format!(
                "at byte {}: {n} items declared, fewer bytes left",
                self.i
            )));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<String, TreeError> {
        let n = self.count(1)?;
        String::from_utf8(self.take(n)?.to_vec())
            .map_err(|_| TreeError::Format("a string is not UTF-8".into()))
    }

    fn floats(&mut self) -> Result<Vec<f32>, TreeError> {
        let n = self.count(4)?;
        (0..n).map(|_| self.f32()).collect()
    }
}

fn obj(members: Vec<(&str, Value)>) -> Value {
    Value::Object(
        members
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn ints(v: Vec<i64>) -> Value {
    Value::Ints(v)
}

/// True when the bytes look like the legacy binary format rather than JSON or UBJSON.
pub fn is_legacy(bytes: &[u8]) -> bool {
    bytes.starts_with(b"binf") || bytes.first().is_some_and(|b| *b != b'{')
}

/// Reads a legacy binary model into the JSON document shape.
pub fn to_doc(bytes: &[u8]) -> Result<Value, TreeError> {
    let mut r = Reader { b: bytes, i: 0 };
    if bytes.starts_with(b"binf") {
        r.i = 4;
    }
    // LearnerModelParamLegacy (136 bytes).
    let base_score = r.f32()?;
    let num_feature = r.u32()?;
    let num_class = r.i32()?;
    let contain_extra_attrs = r.i32()?;
    let _contain_eval_metrics = r.i32()?;
    let major = r.u32()?;
    let _minor = r.u32()?;
    let num_target = r.u32()?;
    let _boost_from_average = r.i32()?;
    r.take(25 * 4)?;
    let objective = r.string()?;
    let booster = r.string()?;
    let gb = match booster.as_str() {
        "gbtree" => obj(vec![
            ("name", Value::Str("gbtree".into())),
            ("model", gbtree(&mut r)?),
        ]),
        "dart" => {
            let model = gbtree(&mut r)?;
            let n = match model.get("trees") {
                Some(Value::Array(t)) => t.len(),
                _ => 0,
            };
            let weights = if n != 0 { r.floats()? } else { Vec::new() };
            obj(vec![
                ("name", Value::Str("dart".into())),
                (
                    "gbtree",
                    obj(vec![
                        ("name", Value::Str("gbtree".into())),
                        ("model", model),
                    ]),
                ),
                ("weight_drop", Value::F32s(weights)),
            ])
        }
        "gblinear" => {
            r.take(136)?;
            let weights = r.floats()?;
            obj(vec![
                ("name", Value::Str("gblinear".into())),
                ("model", obj(vec![("weights", Value::F32s(weights))])),
            ])
        }
        other => {
            return Err(TreeError::Unsupported(format!(
                "the XGBoost booster `{other}`"
            )))
        }
    };
    let mut attributes = Vec::new();
    if contain_extra_attrs != 0 {
        let n = r.count(16)?;
        for _ in 0..n {
            let k = r.string()?;
            let v = r.string()?;
            attributes.push((k, Value::Str(v)));
        }
    }
    // Before XGBoost 1.0 the base score was saved on the margin scale: XGBoost turns it back
    // with the objective's transform, and then to the margin again, both in float32.
    let base = if major < 1 && !objective.starts_with("multi:") {
        match objective.as_str() {
            "reg:logistic" | "binary:logistic" => crate::sigmoid32(base_score),
            "count:poisson" | "reg:gamma" | "reg:tweedie" | "survival:cox" | "survival:aft" => {
                base_score.exp()
            }
            _ => base_score,
        }
    } else {
        base_score
    };
    Ok(obj(vec![(
        "learner",
        obj(vec![
            ("attributes", Value::Object(attributes)),
            (
                "learner_model_param",
                obj(vec![
                    ("base_score", Value::Float(base as f64, base)),
                    ("num_class", Value::Int(num_class as i64)),
                    ("num_feature", Value::Int(num_feature as i64)),
                    ("num_target", Value::Int(num_target.max(1) as i64)),
                ]),
            ),
            ("objective", obj(vec![("name", Value::Str(objective))])),
            ("gradient_booster", gb),
        ]),
    )]))
}

fn gbtree(r: &mut Reader) -> Result<Value, TreeError> {
    // GBTreeModelParam (160 bytes).
    let num_trees = r.i32()?;
    let num_parallel_tree = r.i32()?;
    r.take(38 * 4)?;
    if num_trees < 0 || (num_trees as usize).saturating_mul(148) > r.b.len() - r.i {
        return Err(TreeError::Format(format!(
            "{num_trees} trees declared, fewer bytes left"
        )));
    }
    let mut trees = Vec::with_capacity(num_trees as usize);
    for _ in 0..num_trees {
        trees.push(tree(r)?);
    }
    let mut info = Vec::with_capacity(num_trees as usize);
    for _ in 0..num_trees {
        info.push(r.i32()? as i64);
    }
    Ok(obj(vec![
        (
            "gbtree_model_param",
            obj(vec![
                (
                    "num_parallel_tree",
                    Value::Int(num_parallel_tree.max(1) as i64),
                ),
                ("num_trees", Value::Int(num_trees as i64)),
            ]),
        ),
        ("trees", Value::Array(trees)),
        ("tree_info", ints(info)),
    ]))
}

fn tree(r: &mut Reader) -> Result<Value, TreeError> {
    // TreeParam (148 bytes).
    let _roots = r.i32()?;
    let num_nodes = r.i32()?;
    r.take(4 * 4 + 31 * 4)?;
    if num_nodes <= 0 || (num_nodes as usize).saturating_mul(36) > r.b.len() - r.i {
        return Err(TreeError::Format(format!(
            "a tree of {num_nodes} nodes declared, fewer bytes left"
        )));
    }
    let n = num_nodes as usize;
    let (mut left, mut right, mut feature, mut default_left, mut cond) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for _ in 0..n {
        let _parent = r.i32()?;
        let cleft = r.i32()?;
        let cright = r.i32()?;
        let sindex = r.u32()?;
        let info = r.f32()?;
        let deleted = sindex == u32::MAX;
        left.push(if deleted { -1 } else { cleft as i64 });
        right.push(if deleted { -1 } else { cright as i64 });
        feature.push(if deleted {
            0
        } else {
            (sindex & 0x7fff_ffff) as i64
        });
        default_left.push((!deleted && sindex >> 31 != 0) as i64);
        cond.push(if deleted { 0.0 } else { info });
    }
    // RTreeNodeStat: loss_chg, sum_hess, base_weight, leaf_child_cnt; the covers weigh
    // feature contributions.
    let mut cover = Vec::with_capacity(n);
    for _ in 0..n {
        let _loss = r.f32()?;
        cover.push(r.f32()?);
        r.take(8)?;
    }
    Ok(obj(vec![
        ("left_children", ints(left)),
        ("right_children", ints(right)),
        ("split_indices", ints(feature)),
        ("default_left", ints(default_left)),
        ("split_conditions", Value::F32s(cond)),
        ("sum_hessian", Value::F32s(cover)),
    ]))
}
