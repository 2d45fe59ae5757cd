//! Aggregates over window frames in O(rows), whatever the frame.
//!
//! Within a partition, both ends of the frame move forward only (row by row for `ROWS`, by
//! value for `RANGE`), so the frame is a queue: rows enter at its end and leave at its start.
//! [`sliding`] folds such a queue with the classic two-stack method, which needs only an
//! associative `combine` (no inverse, so it serves MIN and MAX as well as sums, and a float sum
//! never subtracts): the oldest rows are kept as suffix folds, the newest as one running fold.
//! Every row is lifted into the running fold once and into a suffix fold at most once.
//!
//! The aggregates are [`Fold`]s over typed slices, monomorphized per type: no dynamic dispatch
//! and no allocation per row.

use std::ops::Range;

/// An associative fold over the rows of a partition (in sorted order).
pub(super) trait Fold {
    /// The partial result of some consecutive rows.
    type State: Copy;
    /// The state of no rows.
    fn identity(&self) -> Self::State;
    /// The state of row `row` alone (the identity for a row that does not count: a NULL, or
    /// one that FILTER rejects).
    fn lift(&self, row: usize) -> Self::State;
    /// The state of the rows of `a` followed by the rows of `b`.
    fn combine(&self, a: Self::State, b: Self::State) -> Self::State;
}

/// Calls `emit(row, state)` with the fold of the frame `start[row]..end[row]` of every row of
/// every partition. Within a partition, `start` and `end` must not decrease from row to row
/// (frames are `start..max(start, end)`; an empty frame gives the identity).
pub(super) fn sliding<F: Fold>(
    fold: &F,
    partitions: &[Range<usize>],
    start: &[usize],
    end: &[usize],
    mut emit: impl FnMut(usize, F::State),
) {
    let mut suffix: Vec<F::State> = Vec::new();
    for partition in partitions {
        // Rows base..mid are folded as suffixes (suffix[k]: rows base + k..mid); rows mid..hi
        // as one running fold, `back`.
        let mut base = partition.start;
        let mut mid = partition.start;
        let mut hi = partition.start;
        let mut back = fold.identity();
        suffix.clear();
        for row in partition.clone() {
            let lo = start[row].max(base).min(partition.end);
            let top = end[row].max(lo).min(partition.end);
            while hi < top {
                back = fold.combine(back, fold.lift(hi));
                hi += 1;
            }
            if lo >= mid {
                // The suffixes are used up: the frame's rows lo..hi become the new suffixes.
                suffix.clear();
                suffix.resize(hi - lo, fold.identity());
                let mut acc = fold.identity();
                for j in (lo..hi).rev() {
                    acc = fold.combine(fold.lift(j), acc);
                    suffix[j - lo] = acc;
                }
                base = lo;
                mid = hi;
                back = fold.identity();
            }
            let front = suffix.get(lo - base).copied().unwrap_or(fold.identity());
            emit(row, fold.combine(front, back));
        }
    }
}

/// `COUNT`: the rows that count.
pub(super) struct Count<'a> {
    /// Whether each row counts.
    pub valid: &'a [bool],
}

impl Fold for Count<'_> {
    type State = i64;
    fn identity(&self) -> i64 {
        0
    }
    #[inline]
    fn lift(&self, row: usize) -> i64 {
        i64::from(self.valid[row])
    }
    #[inline]
    fn combine(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

/// `SUM` of integers, exact (in 128 bits), with the number of values summed.
pub(super) struct SumInt<'a> {
    /// The values (BIGINT).
    pub values: &'a [i64],
    /// Whether each row counts.
    pub valid: &'a [bool],
}

impl Fold for SumInt<'_> {
    type State = (i128, i64);
    fn identity(&self) -> (i128, i64) {
        (0, 0)
    }
    #[inline]
    fn lift(&self, row: usize) -> (i128, i64) {
        if self.valid[row] {
            (i128::from(self.values[row]), 1)
        } else {
            (0, 0)
        }
    }
    #[inline]
    fn combine(&self, a: (i128, i64), b: (i128, i64)) -> (i128, i64) {
        (a.0 + b.0, a.1 + b.1)
    }
}

/// `SUM` and `AVG` of DOUBLEs, with the number of values summed.
pub(super) struct SumFloat<'a> {
    /// The values.
    pub values: &'a [f64],
    /// Whether each row counts.
    pub valid: &'a [bool],
}

impl Fold for SumFloat<'_> {
    type State = (f64, i64);
    fn identity(&self) -> (f64, i64) {
        (0.0, 0)
    }
    #[inline]
    fn lift(&self, row: usize) -> (f64, i64) {
        if self.valid[row] {
            (self.values[row], 1)
        } else {
            (0.0, 0)
        }
    }
    #[inline]
    fn combine(&self, a: (f64, i64), b: (f64, i64)) -> (f64, i64) {
        (a.0 + b.0, a.1 + b.1)
    }
}

/// `SUM` and `AVG` of DECIMALs: the exact sum of the unscaled values (`None` once past 128
/// bits) and the number of values summed.
pub(super) struct SumDecimal<'a> {
    /// The unscaled values.
    pub values: &'a [i128],
    /// Whether each row counts.
    pub valid: &'a [bool],
}

impl Fold for SumDecimal<'_> {
    type State = (Option<i128>, i64);
    fn identity(&self) -> (Option<i128>, i64) {
        (Some(0), 0)
    }
    #[inline]
    fn lift(&self, row: usize) -> (Option<i128>, i64) {
        if self.valid[row] {
            (Some(self.values[row]), 1)
        } else {
            (Some(0), 0)
        }
    }
    #[inline]
    fn combine(&self, a: (Option<i128>, i64), b: (Option<i128>, i64)) -> (Option<i128>, i64) {
        (a.0.zip(b.0).and_then(|(x, y)| x.checked_add(y)), a.1 + b.1)
    }
}

/// Variance states `(count, mean, sum of squared deviations)`, combined by Chan's formula.
pub(super) struct Moments<'a> {
    /// The values.
    pub values: &'a [f64],
    /// Whether each row counts.
    pub valid: &'a [bool],
}

impl Fold for Moments<'_> {
    type State = (f64, f64, f64);
    fn identity(&self) -> (f64, f64, f64) {
        (0.0, 0.0, 0.0)
    }
    #[inline]
    fn lift(&self, row: usize) -> (f64, f64, f64) {
        if self.valid[row] {
            (1.0, self.values[row], 0.0)
        } else {
            (0.0, 0.0, 0.0)
        }
    }
    #[inline]
    fn combine(&self, a: (f64, f64, f64), b: (f64, f64, f64)) -> (f64, f64, f64) {
        if a.0 == 0.0 {
            return b;
        }
        if b.0 == 0.0 {
            return a;
        }
        let n = a.0 + b.0;
        let delta = b.1 - a.1;
        let mean = a.1 + delta * b.0 / n;
        let m2 = a.2 + b.2 + delta * delta * a.0 * b.0 / n;
        (n, mean, m2)
    }
}

/// Values ordered the way MIN and MAX compare them.
pub(super) trait Ordered {
    /// True when the value of row `a` is below that of row `b`.
    fn less(&self, a: usize, b: usize) -> bool;
}

impl Ordered for &[i64] {
    #[inline]
    fn less(&self, a: usize, b: usize) -> bool {
        self[a] < self[b]
    }
}

impl Ordered for &[i128] {
    #[inline]
    fn less(&self, a: usize, b: usize) -> bool {
        self[a] < self[b]
    }
}

impl Ordered for &[f64] {
    /// NaN above every number, as in PostgreSQL (`-0.0` was made `0.0` before).
    #[inline]
    fn less(&self, a: usize, b: usize) -> bool {
        self[a].total_cmp(&self[b]).is_lt()
    }
}

impl Ordered for &arrow::array::StringArray {
    #[inline]
    fn less(&self, a: usize, b: usize) -> bool {
        self.value(a) < self.value(b)
    }
}

/// `MIN` (or `MAX`): the row holding the extreme value of the frame.
pub(super) struct Extreme<'a, V> {
    /// The values.
    pub values: V,
    /// Whether each row counts.
    pub valid: &'a [bool],
    /// `MAX` rather than `MIN`.
    pub max: bool,
}

impl<V: Ordered> Fold for Extreme<'_, V> {
    type State = Option<u32>;
    fn identity(&self) -> Option<u32> {
        None
    }
    #[inline]
    fn lift(&self, row: usize) -> Option<u32> {
        // Rows are below u32::MAX (checked by the operator).
        self.valid[row].then_some(row as u32)
    }
    #[inline]
    fn combine(&self, a: Option<u32>, b: Option<u32>) -> Option<u32> {
        match (a, b) {
            (Some(x), Some(y)) => {
                let (x_, y_) = (x as usize, y as usize);
                let take_y = if self.max {
                    self.values.less(x_, y_)
                } else {
                    self.values.less(y_, x_)
                };
                Some(if take_y { y } else { x })
            }
            (x, None) => x,
            (None, y) => y,
        }
    }
}

/// `ANY_VALUE`: the first row of the frame that counts.
pub(super) struct FirstValid<'a> {
    /// Whether each row counts.
    pub valid: &'a [bool],
}

impl Fold for FirstValid<'_> {
    type State = Option<u32>;
    fn identity(&self) -> Option<u32> {
        None
    }
    #[inline]
    fn lift(&self, row: usize) -> Option<u32> {
        self.valid[row].then_some(row as u32)
    }
    #[inline]
    fn combine(&self, a: Option<u32>, b: Option<u32>) -> Option<u32> {
        a.or(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frames of every row, and the brute-force sum of each, against the sliding fold.
    #[test]
    fn sliding_fold_matches_brute_force_on_every_frame_shape() {
        let values: Vec<i64> = (0..40).map(|i| (i * 7919 % 23) - 11).collect();
        let valid: Vec<bool> = (0..40).map(|i| i % 5 != 3).collect();
        let partitions = vec![0..1, 1..17, 17..17, 17..40];
        let fold = SumInt {
            values: &values,
            valid: &valid,
        };
        for (before, after) in [(0, 0), (2, 1), (0, 5), (3, 0), (40, 40), (1, 100)] {
            for shifted_start in [false, true] {
                let mut start = vec![0; 40];
                let mut end = vec![0; 40];
                for p in &partitions {
                    for row in p.clone() {
                        start[row] = if shifted_start {
                            (row + 2).min(p.end)
                        } else {
                            row.saturating_sub(before).max(p.start)
                        };
                        end[row] = (row + after + 1).min(p.end);
                    }
                }
                let mut got = vec![(0, 0); 40];
                sliding(&fold, &partitions, &start, &end, |row, s| got[row] = s);
                for row in 0..40 {
                    let range = start[row]..end[row].max(start[row]);
                    let want = range
                        .filter(|&j| valid[j])
                        .fold((0i128, 0i64), |a, j| (a.0 + i128::from(values[j]), a.1 + 1));
                    assert_eq!(got[row], want, "row {row}, before {before}, after {after}");
                }
            }
        }
    }

    #[test]
    fn extreme_finds_the_max_of_a_sliding_frame() {
        let values: Vec<i64> = vec![3, 1, 4, 1, 5, 9, 2, 6];
        let slice: &[i64] = &values;
        let valid = vec![true; 8];
        let fold = Extreme {
            values: slice,
            valid: &valid,
            max: true,
        };
        let start: Vec<usize> = (0..8).map(|r: usize| r.saturating_sub(2)).collect();
        let end: Vec<usize> = (0..8).map(|r| r + 1).collect();
        let mut got = vec![0; 8];
        let whole = std::iter::once(0..8).collect::<Vec<_>>();
        sliding(&fold, &whole, &start, &end, |row, s| {
            got[row] = s.map(|i| values[i as usize]).unwrap_or(-1)
        });
        assert_eq!(got, vec![3, 3, 4, 4, 5, 9, 9, 9]);
    }
}
