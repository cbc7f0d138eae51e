//! [`KeyIndex`]: duplicate-key detection in linear time, for object keys and column names.

/// Objects with at most this many distinct keys are searched linearly (no hashing, the
/// common case); larger ones through a hash map, so that duplicate detection stays linear in
/// the body size whatever the number of keys.
const LINEAR_KEYS: usize = 16;

/// Finds a key among the distinct keys of one object (or the column names of a frame) seen
/// so far, in amortised constant time. The caller keeps the keys in its own order; this only
/// indexes them once there are more than a few.
#[derive(Debug, Default)]
pub struct KeyIndex {
    map: Option<std::collections::HashMap<String, usize>>,
}

impl KeyIndex {
    /// An empty index.
    pub fn new() -> KeyIndex {
        KeyIndex::default()
    }

    /// The position of `key` among the `n` keys seen so far (`key_at(i)` is the i-th, `None`
    /// for a label that no string key equals).
    pub fn position<'k>(
        &mut self,
        key: &str,
        n: usize,
        key_at: impl Fn(usize) -> Option<&'k str>,
    ) -> Option<usize> {
        if n <= LINEAR_KEYS && self.map.is_none() {
            return (0..n).find(|&i| key_at(i) == Some(key));
        }
        let map = self.map.get_or_insert_with(|| {
            let mut m = std::collections::HashMap::with_capacity(n * 2);
            for i in 0..n {
                if let Some(k) = key_at(i) {
                    m.entry(k.to_string()).or_insert(i);
                }
            }
            m
        });
        map.get(key).copied()
    }

    /// Records that `key` was appended at position `i` (call after a miss).
    pub fn push(&mut self, key: &str, i: usize) {
        if let Some(m) = &mut self.map {
            m.entry(key.to_string()).or_insert(i);
        }
    }
}
