//! The rows of a window in sorted order: partition and peer boundaries, found once per window,
//! and the frame of every row (`start..end`, end exclusive) for `ROWS`, `RANGE` and `GROUPS`
//! (offsets count peer groups).
//!
//! `RANGE` with an offset compares the (single) ORDER BY key: integers in 128 bits, floats as
//! DOUBLE, DATE and TIMESTAMP keys in milliseconds after adding or subtracting the INTERVAL
//! (so `INTERVAL '1 month'` is a calendar month). A descending key is negated, so every search
//! runs over ascending values with two pointers that only move forward. As in PostgreSQL, a
//! NULL key's offset bounds are its peers (the other NULLs), and a non-NULL key's never reach
//! the NULLs.

use std::ops::Range;

use arrow::array::{Array, ArrayRef, AsArray, Scalar};
use arrow::compute::kernels::numeric;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};

use crate::error::{Error, Result};
use crate::expr::{Expr, FrameBound, FrameUnits, SortKey, WindowFrame};
use crate::kernel::cast;

/// Partition and peer boundaries of sorted rows.
#[derive(Debug)]
pub(super) struct Layout {
    /// The partitions, in order, covering every row.
    pub partitions: Vec<Range<usize>>,
    /// For each row, the first row of its peer group (rows equal on every ORDER BY key; the
    /// whole partition without ORDER BY).
    pub peer_start: Vec<usize>,
    /// For each row, the row after its peer group.
    pub peer_end: Vec<usize>,
}

impl Layout {
    /// The layout of `rows` rows with these partitions and peer groups.
    pub fn new(rows: usize, partitions: Vec<Range<usize>>, peers: &[Range<usize>]) -> Layout {
        let mut peer_start = vec![0; rows];
        let mut peer_end = vec![0; rows];
        for group in peers {
            for row in group.clone() {
                peer_start[row] = group.start;
                peer_end[row] = group.end;
            }
        }
        Layout {
            partitions,
            peer_start,
            peer_end,
        }
    }

    /// Bytes held, for the memory limit.
    pub fn size(&self) -> usize {
        (self.peer_start.len() + self.peer_end.len()) * std::mem::size_of::<usize>()
            + self.partitions.len() * std::mem::size_of::<Range<usize>>()
    }
}

/// The frame of every row: `(start, end)`, `end` exclusive and never below `start`; both never
/// decrease within a partition. `order_key` is the sorted first ORDER BY key (needed by `RANGE`
/// with an offset).
pub(super) fn frame_bounds(
    frame: &WindowFrame,
    layout: &Layout,
    order_key: Option<(&ArrayRef, &SortKey)>,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let rows = layout.peer_start.len();
    let mut start = vec![0; rows];
    let mut end = vec![0; rows];
    let range = frame.units == FrameUnits::Range;
    let groups = frame.units == FrameUnits::Groups;
    let start_offset = offset_rows(&frame.start)?;
    let end_offset = offset_rows(&frame.end)?;
    // GROUPS: the first row of each peer group of the partition, and the current row's group.
    let mut group_starts: Vec<usize> = vec![];
    for p in &layout.partitions {
        if groups {
            group_starts.clear();
            group_starts.extend(p.clone().filter(|&row| layout.peer_start[row] == row));
        }
        let mut group = 0usize;
        for row in p.clone() {
            if groups && row > p.start && layout.peer_start[row] == row {
                group += 1;
            }
            // The first row of group `g` (the partition's end past its last group).
            let group_start = |g: usize| group_starts.get(g).copied().unwrap_or(p.end);
            start[row] = match (&frame.start, start_offset) {
                (FrameBound::UnboundedPreceding, _) => p.start,
                (FrameBound::CurrentRow, _) if range || groups => layout.peer_start[row],
                (FrameBound::Preceding(_), o) if groups => group_start(group.saturating_sub(o)),
                (FrameBound::Following(_), o) if groups => group_start(group.saturating_add(o)),
                (FrameBound::CurrentRow, _) => row,
                (FrameBound::Preceding(_), _) | (FrameBound::Following(_), _) if range => 0,
                (FrameBound::Preceding(_), o) => row.saturating_sub(o).max(p.start),
                (FrameBound::Following(_), o) => row.saturating_add(o).min(p.end),
                (FrameBound::UnboundedFollowing, _) => p.end,
            };
            end[row] = match (&frame.end, end_offset) {
                (FrameBound::UnboundedFollowing, _) => p.end,
                (FrameBound::CurrentRow, _) if range || groups => layout.peer_end[row],
                (FrameBound::Preceding(_), o) if groups => match group.checked_sub(o) {
                    Some(g) => group_start(g + 1),
                    None => p.start,
                },
                (FrameBound::Following(_), o) if groups => {
                    group_start(group.saturating_add(o).saturating_add(1))
                }
                (FrameBound::CurrentRow, _) => row + 1,
                (FrameBound::Preceding(_), _) | (FrameBound::Following(_), _) if range => 0,
                (FrameBound::Preceding(_), o) => (row + 1).saturating_sub(o).max(p.start),
                (FrameBound::Following(_), o) => row.saturating_add(o).saturating_add(1).min(p.end),
                (FrameBound::UnboundedPreceding, _) => p.start,
            };
        }
    }
    if range {
        let start_value = match &frame.start {
            FrameBound::Preceding(o) => Some((o, true)),
            FrameBound::Following(o) => Some((o, false)),
            _ => None,
        };
        let end_value = match &frame.end {
            FrameBound::Preceding(o) => Some((o, true)),
            FrameBound::Following(o) => Some((o, false)),
            _ => None,
        };
        if start_value.is_some() || end_value.is_some() {
            let Some((key, sort)) = order_key else {
                return Err(Error::internal("RANGE offset without an ORDER BY key"));
            };
            range_offsets(
                key,
                sort,
                start_value,
                end_value,
                layout,
                &mut start,
                &mut end,
            )?;
        }
    }
    for (s, e) in start.iter().zip(end.iter_mut()) {
        if *e < *s {
            *e = *s;
        }
    }
    Ok((start, end))
}

/// The row count of a `ROWS` offset bound (0 for the others).
fn offset_rows(bound: &FrameBound) -> Result<usize> {
    match bound {
        FrameBound::Preceding(o) | FrameBound::Following(o) => {
            match literal(o)?.as_primitive_opt::<Int64Type>() {
                Some(v) if !v.is_null(0) => Ok(usize::try_from(v.value(0)).unwrap_or(usize::MAX)),
                _ => Ok(0),
            }
        }
        _ => Ok(0),
    }
}

fn literal(e: &Expr) -> Result<&ArrayRef> {
    match e {
        Expr::Literal(v) if v.len() == 1 && !v.is_null(0) => Ok(v),
        other => Err(Error::internal(format!(
            "window frame offset {other} is not a literal"
        ))),
    }
}

/// An offset bound: the offset and whether it is `PRECEDING`.
type OffsetBound<'a> = Option<(&'a Expr, bool)>;

/// Fills the `RANGE` offset bounds of `start` and `end`.
fn range_offsets(
    key: &ArrayRef,
    sort: &SortKey,
    start_value: OffsetBound,
    end_value: OffsetBound,
    layout: &Layout,
    start: &mut [usize],
    end: &mut [usize],
) -> Result<()> {
    let descending = sort.descending;
    // A threshold per row: the key moved by the offset, in the key's sorted direction.
    let is_float = |dt: &DataType| matches!(dt, DataType::Float32 | DataType::Float64);
    let any_offset = start_value.or(end_value).map(|(o, _)| o);
    let offset_type = match any_offset {
        Some(o) => literal(o)?.data_type().clone(),
        None => return Ok(()),
    };
    match key.data_type() {
        DataType::Date32 | DataType::Timestamp(_, _) => {
            let millis = DataType::Timestamp(TimeUnit::Millisecond, None);
            let key = cast(key, &millis)?;
            let shift = |bound: OffsetBound| -> Result<Option<Vec<i128>>> {
                let Some((offset, preceding)) = bound else {
                    return Ok(None);
                };
                let interval = Scalar::new(literal(offset)?.clone());
                // PRECEDING goes towards the first rows: smaller keys, larger when descending.
                let moved = if preceding != descending {
                    numeric::sub(&key, &interval)?
                } else {
                    numeric::add(&key, &interval)?
                };
                Ok(Some(ordered_ints(&moved, descending)?))
            };
            let start_t = shift(start_value)?;
            let end_t = shift(end_value)?;
            let keys = ordered_ints(&key, descending)?;
            fill(
                &keys,
                key.as_ref(),
                start_t.as_deref(),
                end_t.as_deref(),
                sort,
                layout,
                start,
                end,
            );
        }
        dt if is_float(dt) || is_float(&offset_type) => {
            let values = cast(key, &DataType::Float64)?;
            let sign = if descending { -1.0 } else { 1.0 };
            let keys: Vec<f64> = values
                .as_primitive::<Float64Type>()
                .values()
                .iter()
                .map(|v| sign * v)
                .collect();
            let shift = |bound: OffsetBound| -> Result<Option<Vec<f64>>> {
                let Some((offset, preceding)) = bound else {
                    return Ok(None);
                };
                let o = cast(literal(offset)?, &DataType::Float64)?
                    .as_primitive::<Float64Type>()
                    .value(0);
                let o = if preceding { -o } else { o };
                Ok(Some(keys.iter().map(|k| k + o).collect()))
            };
            let start_t = shift(start_value)?;
            let end_t = shift(end_value)?;
            fill(
                &keys,
                key.as_ref(),
                start_t.as_deref(),
                end_t.as_deref(),
                sort,
                layout,
                start,
                end,
            );
        }
        DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            let keys = ordered_ints(&cast(key, &DataType::Int64)?, descending)?;
            let shift = |bound: OffsetBound| -> Result<Option<Vec<i128>>> {
                let Some((offset, preceding)) = bound else {
                    return Ok(None);
                };
                let o = i128::from(
                    cast(literal(offset)?, &DataType::Int64)?
                        .as_primitive::<Int64Type>()
                        .value(0),
                );
                let o = if preceding { -o } else { o };
                Ok(Some(keys.iter().map(|k| k + o).collect()))
            };
            let start_t = shift(start_value)?;
            let end_t = shift(end_value)?;
            fill(
                &keys,
                key.as_ref(),
                start_t.as_deref(),
                end_t.as_deref(),
                sort,
                layout,
                start,
                end,
            );
        }
        other => {
            return Err(Error::unsupported(format!(
                "RANGE with offset PRECEDING/FOLLOWING over a {} ORDER BY key",
                strata_storage::sql_type_name(other)
            )))
        }
    }
    Ok(())
}

/// An integer or timestamp array as 128-bit integers, negated when `descending`.
fn ordered_ints(values: &ArrayRef, descending: bool) -> Result<Vec<i128>> {
    // A TIMESTAMP casts to its count of units since the epoch.
    let values = cast(values, &DataType::Int64)?;
    let sign = if descending { -1 } else { 1 };
    Ok(values
        .as_primitive::<Int64Type>()
        .values()
        .iter()
        .map(|&v| sign * i128::from(v))
        .collect())
}

/// The two-pointer search: for each non-NULL row, the first row whose key reaches the start
/// threshold, and the first row whose key passes the end threshold, within the partition's
/// non-NULL rows. NULL rows take their peer group.
#[allow(clippy::too_many_arguments)]
fn fill<K: Copy + PartialOrd>(
    keys: &[K],
    key: &dyn Array,
    start_t: Option<&[K]>,
    end_t: Option<&[K]>,
    sort: &SortKey,
    layout: &Layout,
    start: &mut [usize],
    end: &mut [usize],
) {
    let nulls = key.logical_nulls();
    let is_null = |row: usize| nulls.as_ref().is_some_and(|n| n.is_null(row));
    for p in &layout.partitions {
        let null_count = p.clone().filter(|&r| is_null(r)).count();
        let (lo, hi) = if sort.nulls_first {
            (p.start + null_count, p.end)
        } else {
            (p.start, p.end - null_count)
        };
        let mut s = lo;
        let mut e = lo;
        for row in p.clone() {
            if is_null(row) {
                if start_t.is_some() {
                    start[row] = layout.peer_start[row];
                }
                if end_t.is_some() {
                    end[row] = layout.peer_end[row];
                }
                continue;
            }
            if let Some(t) = start_t {
                while s < hi && keys[s] < t[row] {
                    s += 1;
                }
                start[row] = s;
            }
            if let Some(t) = end_t {
                while e < hi && keys[e] <= t[row] {
                    e += 1;
                }
                end[row] = e;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use std::sync::Arc;

    /// A seeded xorshift, so a failure replays.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn literal(v: i64) -> Expr {
        Expr::Literal(Arc::new(Int64Array::from(vec![v])))
    }

    /// Every frame of every row against a definition by predicates: row `j` is in row `i`'s
    /// frame when it passes the start and the end bound, by position (`ROWS`), peer group
    /// (`GROUPS`, `CURRENT ROW`) or value (`RANGE` offsets; NULLs lie after every value when
    /// they sort last, before when first).
    #[test]
    fn frames_match_their_definition_on_random_sorted_keys() {
        for seed in 1..=60u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let descending = rng.below(2) == 1;
            let nulls_first = rng.below(2) == 1;
            // Partitions of 0..12 rows with few distinct values (ties) and some NULLs.
            let mut keys: Vec<Option<i64>> = vec![];
            let mut partitions = vec![];
            for _ in 0..1 + rng.below(4) {
                let start = keys.len();
                let nulls = rng.below(3) as usize;
                let mut values: Vec<i64> = (0..rng.below(12))
                    .map(|_| rng.below(6) as i64 * 2)
                    .collect();
                values.sort_unstable();
                if descending {
                    values.reverse();
                }
                let values = values.into_iter().map(Some);
                let null_rows = std::iter::repeat_n(None, nulls);
                if nulls_first {
                    keys.extend(null_rows.chain(values));
                } else {
                    keys.extend(values.chain(null_rows));
                }
                if keys.len() > start {
                    partitions.push(start..keys.len());
                }
            }
            let mut peers = vec![];
            let mut group = vec![0usize; keys.len()];
            for p in &partitions {
                let mut first = p.start;
                for row in p.clone() {
                    if row > p.start && keys[row] != keys[row - 1] {
                        peers.push(first..row);
                        first = row;
                    }
                    group[row] = peers.len() - peers.iter().filter(|g| g.start < p.start).count();
                }
                peers.push(first..p.end);
            }
            let layout = Layout::new(keys.len(), partitions.clone(), &peers);
            let key: ArrayRef = Arc::new(Int64Array::from(keys.clone()));
            let sort = SortKey {
                expr: Expr::column(0, "k", DataType::Int64),
                descending,
                nulls_first,
            };
            let bound = |rng: &mut Rng| match rng.below(5) {
                0 => FrameBound::UnboundedPreceding,
                1 => FrameBound::Preceding(literal(rng.below(5) as i64)),
                2 => FrameBound::CurrentRow,
                3 => FrameBound::Following(literal(rng.below(5) as i64)),
                _ => FrameBound::UnboundedFollowing,
            };
            for _ in 0..40 {
                let units = match rng.below(3) {
                    0 => FrameUnits::Rows,
                    1 => FrameUnits::Range,
                    _ => FrameUnits::Groups,
                };
                let frame = WindowFrame {
                    units,
                    start: bound(&mut rng),
                    end: bound(&mut rng),
                };
                let (start, end) = frame_bounds(&frame, &layout, Some((&key, &sort))).unwrap();
                for p in &partitions {
                    for i in p.clone() {
                        let want: Vec<usize> = p
                            .clone()
                            .filter(|&j| {
                                passes(
                                    &frame.start,
                                    true,
                                    i,
                                    j,
                                    &keys,
                                    &group,
                                    descending,
                                    nulls_first,
                                    units,
                                ) && passes(
                                    &frame.end,
                                    false,
                                    i,
                                    j,
                                    &keys,
                                    &group,
                                    descending,
                                    nulls_first,
                                    units,
                                )
                            })
                            .collect();
                        let got: Vec<usize> = (start[i]..end[i]).collect();
                        assert_eq!(got, want, "seed {seed}, {frame}, row {i}, keys {keys:?}");
                    }
                }
            }
        }
    }

    /// Whether row `j` passes the frame bound `bound` of row `i` (`lower`: a start bound).
    #[allow(clippy::too_many_arguments)]
    fn passes(
        bound: &FrameBound,
        lower: bool,
        i: usize,
        j: usize,
        keys: &[Option<i64>],
        group: &[usize],
        descending: bool,
        nulls_first: bool,
        units: FrameUnits,
    ) -> bool {
        let offset = |e: &Expr| match e {
            Expr::Literal(v) => v.as_primitive::<Int64Type>().value(0),
            _ => unreachable!(),
        };
        // The limit as a signed distance from the current row, in the units' space.
        let limit = match bound {
            FrameBound::UnboundedPreceding => return lower,
            FrameBound::UnboundedFollowing => return !lower,
            FrameBound::Preceding(o) => -offset(o),
            FrameBound::CurrentRow => 0,
            FrameBound::Following(o) => offset(o),
        };
        let compare = |here: i64, there: i64| {
            if lower {
                there >= here + limit
            } else {
                there <= here + limit
            }
        };
        match units {
            FrameUnits::Rows => compare(i as i64, j as i64),
            FrameUnits::Groups => compare(group[i] as i64, group[j] as i64),
            FrameUnits::Range if matches!(bound, FrameBound::CurrentRow) => {
                compare(group[i] as i64, group[j] as i64)
            }
            FrameUnits::Range => match (keys[i], keys[j]) {
                // A NULL row's offset bound is its peer group.
                (None, _) => {
                    if lower {
                        group[j] >= group[i]
                    } else {
                        group[j] <= group[i]
                    }
                }
                // NULLs sort after every value when last: past any lower bound, before none.
                (Some(_), None) => lower != nulls_first,
                (Some(a), Some(b)) => {
                    let (a, b) = if descending { (-a, -b) } else { (a, b) };
                    compare(a, b)
                }
            },
        }
    }
}
