//! The frame states of the holistic window aggregates (see [`super`]): the rows' ranks in an
//! aggregate's order, and the states that rows enter and leave as [`slide`] moves through the
//! frames.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use arrow::array::ArrayRef;
use arrow::compute::SortOptions;
use arrow::row::{RowConverter, SortField};

use crate::error::Result;
use crate::kernel::normalize_zero;

/// The rows in the order of some keys (ties by position).
pub(super) struct Ranks {
    /// Rank -> row.
    pub order: Vec<u32>,
    /// Row -> rank.
    pub rank: Vec<u32>,
    /// Rank -> the id of its keys' value (equal keys, equal ids; ids rise with the rank).
    pub group: Vec<u32>,
    /// The number of distinct key values.
    pub groups: usize,
    /// Bytes the keys' row encoding took.
    pub encoded: usize,
}

impl Ranks {
    pub fn new(keys: &[(ArrayRef, SortOptions)]) -> Result<Ranks> {
        let columns = keys
            .iter()
            .map(|(k, _)| normalize_zero(k))
            .collect::<Result<Vec<_>>>()?;
        let fields = columns
            .iter()
            .zip(keys)
            .map(|(c, (_, o))| SortField::new_with_options(c.data_type().clone(), *o))
            .collect();
        let encoded = RowConverter::new(fields)?.convert_columns(&columns)?;
        let rows = encoded.num_rows();
        let mut order: Vec<u32> = (0..rows as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            encoded
                .row(a as usize)
                .cmp(&encoded.row(b as usize))
                .then(a.cmp(&b))
        });
        let mut rank = vec![0u32; rows];
        let mut group = Vec::with_capacity(rows);
        let mut id = 0u32;
        for (r, &row) in order.iter().enumerate() {
            rank[row as usize] = r as u32;
            if r > 0 && encoded.row(order[r - 1] as usize) != encoded.row(row as usize) {
                id += 1;
            }
            group.push(id);
        }
        Ok(Ranks {
            order,
            rank,
            group,
            groups: if rows == 0 { 0 } else { id as usize + 1 },
            encoded: encoded.size(),
        })
    }

    /// The value id of `row`.
    fn group_of(&self, row: usize) -> u32 {
        self.group[self.rank[row] as usize]
    }
}

/// A frame's state: rows enter and leave it.
pub(super) trait FrameState {
    /// Row `row` (one that counts) enters the frame.
    fn add(&mut self, row: usize);
    /// Row `row` (one that counts) leaves the frame.
    fn remove(&mut self, row: usize);
}

/// Moves the state through the frames in order, calling `emit(state, frame index)` with each.
/// Frames are `s..e` with `e >= s`; a row enters and leaves as the ends pass it, so frames that
/// only move forward cost O(rows) calls in all.
pub(super) fn slide<S: FrameState>(
    state: &mut S,
    frames: &[(usize, usize)],
    valid: &[bool],
    mut emit: impl FnMut(&S, usize) -> Result<()>,
) -> Result<()> {
    let (mut cs, mut ce) = (0usize, 0usize);
    for (k, &(s, e)) in frames.iter().enumerate() {
        if s >= ce {
            // Past the whole current frame (a new partition): empty it.
            for (row, _) in valid
                .iter()
                .enumerate()
                .take(ce)
                .skip(cs)
                .filter(|(_, v)| **v)
            {
                state.remove(row);
            }
            cs = s;
            ce = s;
        }
        while ce < e {
            if valid[ce] {
                state.add(ce);
            }
            ce += 1;
        }
        while cs > s {
            cs -= 1;
            if valid[cs] {
                state.add(cs);
            }
        }
        while cs < s {
            if valid[cs] {
                state.remove(cs);
            }
            cs += 1;
        }
        while ce > e {
            ce -= 1;
            if valid[ce] {
                state.remove(ce);
            }
        }
        emit(state, k)?;
    }
    Ok(())
}

/// The ranks in the frame, ordered.
pub(super) struct InOrder<'a> {
    /// The rows' ranks.
    pub ranks: &'a Ranks,
    /// The ranks of the rows in the frame.
    pub set: BTreeSet<u32>,
}

impl FrameState for InOrder<'_> {
    fn add(&mut self, row: usize) {
        self.set.insert(self.ranks.rank[row]);
    }
    fn remove(&mut self, row: usize) {
        self.set.remove(&self.ranks.rank[row]);
    }
}

/// A running sum of the frame's distinct values.
pub(super) enum Sum<'a> {
    /// None kept.
    None,
    /// BIGINT values, summed in 128 bits.
    Int(&'a [i64], i128),
    /// DOUBLE values.
    Float(&'a [f64], f64),
    /// DECIMAL unscaled values (`None` once past 128 bits).
    Decimal(&'a [i128], Option<i128>),
}

/// How often each distinct value is in the frame, the number of distinct values, and for
/// `mode` the values ordered by (count descending, value).
pub(super) struct Counts<'a> {
    ranks: &'a Ranks,
    counts: Vec<u32>,
    /// The number of distinct values in the frame.
    pub distinct: i64,
    by_count: Option<BTreeSet<(Reverse<u32>, u32)>>,
    /// The running sum of the distinct values, if kept.
    pub sum: Sum<'a>,
}

impl<'a> Counts<'a> {
    /// The empty frame's counts of the values of `ranks`; `mode` keeps the counts ordered.
    pub fn new(ranks: &'a Ranks, mode: bool, sum: Sum<'a>) -> Self {
        Counts {
            ranks,
            counts: vec![0; ranks.groups],
            distinct: 0,
            by_count: mode.then(BTreeSet::new),
            sum,
        }
    }

    /// A row of the most frequent value (the first in the order among equally frequent ones).
    pub fn mode(&self) -> Option<u32> {
        let (_, group) = self.by_count.as_ref()?.first()?;
        // The first rank of the value: group ids rise with the ranks.
        let rank = self.ranks.group.partition_point(|g| g < group);
        self.ranks.order.get(rank).copied()
    }

    fn change(&mut self, row: usize, enter: bool) {
        let group = self.ranks.group_of(row);
        let count = &mut self.counts[group as usize];
        let before = *count;
        *count = if enter {
            before + 1
        } else {
            before.saturating_sub(1)
        };
        let after = *count;
        if let Some(set) = &mut self.by_count {
            if before > 0 {
                set.remove(&(Reverse(before), group));
            }
            if after > 0 {
                set.insert((Reverse(after), group));
            }
        }
        let sign = match (before, after) {
            (0, 1) => 1,
            (1, 0) => -1,
            _ => return,
        };
        self.distinct += sign;
        match &mut self.sum {
            Sum::None => {}
            Sum::Int(values, sum) => *sum += i128::from(sign) * i128::from(values[row]),
            Sum::Float(values, sum) => *sum += f64::from(sign as i32) * values[row],
            Sum::Decimal(values, sum) => {
                *sum = sum.and_then(|s| s.checked_add(i128::from(sign) * values[row]))
            }
        }
    }
}

impl FrameState for Counts<'_> {
    fn add(&mut self, row: usize) {
        self.change(row, true);
    }
    fn remove(&mut self, row: usize) {
        self.change(row, false);
    }
}

/// A Fenwick tree of the ranks in the frame (with `DISTINCT`, of the value ids, each once): the
/// k-th smallest in O(log rows).
pub(super) struct Kth<'a> {
    ranks: &'a Ranks,
    tree: Vec<u32>,
    /// With `DISTINCT`: how often each value id is in the frame.
    counts: Option<Vec<u32>>,
    /// The number of rows (with `DISTINCT`, of distinct values) in the frame.
    pub count: usize,
}

impl<'a> Kth<'a> {
    /// An empty frame over the ranks of `ranks`; `distinct` counts each value once.
    pub fn new(ranks: &'a Ranks, distinct: bool) -> Self {
        Kth {
            ranks,
            tree: vec![0; ranks.order.len() + 1],
            counts: distinct.then(|| vec![0; ranks.groups]),
            count: 0,
        }
    }

    /// Row `row` enters (`enter`) or leaves the frame.
    fn change(&mut self, row: usize, enter: bool) {
        let rank = self.ranks.rank[row] as usize;
        let slot = match &mut self.counts {
            None => rank,
            Some(counts) => {
                let group = self.ranks.group[rank] as usize;
                let before = counts[group];
                counts[group] = if enter {
                    before + 1
                } else {
                    before.saturating_sub(1)
                };
                match (before, counts[group]) {
                    (0, 1) | (1, 0) => group,
                    // The value stays in (or out of) the frame.
                    _ => return,
                }
            }
        };
        self.update(slot, enter);
        if enter {
            self.count += 1;
        } else {
            self.count = self.count.saturating_sub(1);
        }
    }

    fn update(&mut self, rank: usize, enter: bool) {
        let mut i = rank + 1;
        while i < self.tree.len() {
            if enter {
                self.tree[i] += 1;
            } else {
                self.tree[i] = self.tree[i].saturating_sub(1);
            }
            i += i & i.wrapping_neg();
        }
    }

    /// The row of the `k`-th (0-based) smallest rank (or value) in the frame; `k` < the frame's
    /// count.
    pub fn kth(&self, k: usize) -> usize {
        let n = self.tree.len() - 1;
        let mut pos = 0usize;
        let mut remaining = k as u32 + 1;
        let mut step = if n == 0 { 0 } else { 1usize << n.ilog2() };
        while step > 0 {
            let next = pos + step;
            if next <= n && self.tree[next] < remaining {
                pos = next;
                remaining -= self.tree[next];
            }
            step >>= 1;
        }
        // `pos` is the 0-based rank, or the value id (whose first rank has the value).
        let rank = match self.counts {
            None => pos,
            Some(_) => self.ranks.group.partition_point(|&g| (g as usize) < pos),
        };
        self.ranks.order.get(rank).map_or(0, |&r| r as usize)
    }

    /// The `fraction` quantile of the frame's values, interpolated as `percentile_cont` does.
    pub fn percentile(&self, fraction: f64, values: &[f64]) -> Option<f64> {
        let n = self.count;
        if n == 0 {
            return None;
        }
        let position = fraction * (n - 1) as f64;
        let lo = (position.floor() as usize).min(n - 1);
        let low = values[self.kth(lo)];
        if position == lo as f64 || lo + 1 >= n {
            return Some(low);
        }
        let high = values[self.kth(lo + 1)];
        Some(low + (high - low) * (position - lo as f64))
    }
}

impl FrameState for Kth<'_> {
    fn add(&mut self, row: usize) {
        self.change(row, true);
    }
    fn remove(&mut self, row: usize) {
        self.change(row, false);
    }
}
