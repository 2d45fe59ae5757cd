//! The window aggregates no associative fold serves: `string_agg` and `array_agg`, `mode`,
//! `median`/`quantile_cont` (`percentile_cont`), `quantile_disc` (`percentile_disc`),
//! `count`/`sum`/`avg(DISTINCT ...)`, and the approximate
//! aggregates over frames smaller than the partition (computed exactly here: their sketches
//! cannot drop a row that leaves the frame).
//!
//! Rows with equal frames (every row of a whole-partition frame, the peers of a `RANGE ...
//! CURRENT ROW` frame) share one computation. The frames are visited in order with two
//! pointers ([`slide`]): within a partition a frame only moves forward, so every row enters the
//! frame's state once and leaves it once, and the state costs O(rows log rows) in all, whatever
//! the frame (no recomputation per frame):
//!
//! - the aggregate's order (its own `ORDER BY`, or the values for `DISTINCT`, `mode` and the
//!   percentiles) is a rank per row, found by one sort per call of the keys' row encoding
//!   (Arrow's row format), ties by position;
//! - percentiles: a Fenwick tree of counts over the ranks (with `DISTINCT`, over the value ids,
//!   each once), the k-th value in O(log rows);
//! - `mode` and `DISTINCT`: a count per distinct value, with (for `mode`) an ordered set of
//!   (count, value);
//! - `string_agg` / `array_agg` in their own order or `DISTINCT`: an ordered set of the ranks
//!   in the frame, read in order for each frame; in the frame's order, the frame's rows as they
//!   are.
//!
//! The results of `string_agg` / `array_agg` are as large as all frames together (every row
//! gets its own list: a running `string_agg` over n rows is O(n²) bytes, as in any engine); that
//! size is computed from prefix sums before anything is built and counted against the query's
//! memory limit, as is the state.

mod state;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int64Array, ListArray, StringBuilder,
    UInt32Array,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::{take, SortOptions};
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type};

use crate::error::{Error, Result};
use crate::exec::aggregate::{decimal_overflow, divide_decimal, DECIMAL_LIMIT};
use crate::exec::ExecStats;
use crate::expr::AggregateFunction;
use crate::kernel::cast;
use state::{slide, Counts, InOrder, Kth, Ranks, Sum};

/// Bytes of state per row: rank, row and value id (three `u32`), a Fenwick or count slot, and
/// an ordered-set entry (an estimate of a B-tree's share per element).
const STATE_BYTES_PER_ROW: usize = 3 * 4 + 4 + 32;

/// One aggregate call over a window, its inputs in sorted order.
pub(super) struct Call<'a> {
    /// Which aggregate.
    pub func: AggregateFunction,
    /// The argument.
    pub value: &'a ArrayRef,
    /// `string_agg`'s separator.
    pub separator: Option<&'a ArrayRef>,
    /// A percentile's fraction.
    pub fraction: Option<f64>,
    /// `DISTINCT` was given.
    pub distinct: bool,
    /// The aggregate's own order keys with their options; empty: the frame's order.
    pub within: Vec<(ArrayRef, SortOptions)>,
    /// Whether each row counts (its FILTER passes and, but for `array_agg`, it is not NULL).
    pub valid: &'a [bool],
    /// The result type.
    pub data_type: &'a DataType,
}

/// True when [`evaluate`] computes `func` (with `distinct`) rather than a sliding fold.
pub(super) fn handles(func: AggregateFunction, distinct: bool) -> bool {
    distinct
        || matches!(
            func,
            AggregateFunction::StringAgg
                | AggregateFunction::ArrayAgg
                | AggregateFunction::Mode
                | AggregateFunction::PercentileCont
                | AggregateFunction::PercentileDisc
                | AggregateFunction::ApproxCountDistinct
                | AggregateFunction::ApproxPercentile
        )
}

/// The call over the frame `start[row]..end[row]` of every row (in sorted order).
pub(super) fn evaluate(
    call: &Call,
    start: &[usize],
    end: &[usize],
    stats: &ExecStats,
) -> Result<ArrayRef> {
    let rows = call.valid.len();
    // The distinct frames, in order, and each row's.
    let mut frames: Vec<(usize, usize)> = Vec::new();
    let mut frame_of: Vec<u32> = Vec::with_capacity(rows);
    for (&s, &e) in start.iter().zip(end) {
        if frames.last() != Some(&(s, e)) {
            frames.push((s, e));
        }
        // Rows fit in u32 (checked by the operator), and frames are no more than rows.
        frame_of.push((frames.len() - 1) as u32);
    }
    let mut held = frames.len() * 16 + rows * 4;
    stats.track_memory(0, held)?;
    let result = compute(call, &frames, &frame_of, stats, &mut held);
    stats.track_memory(held, 0)?;
    result
}

fn compute(
    call: &Call,
    frames: &[(usize, usize)],
    frame_of: &[u32],
    stats: &ExecStats,
    held: &mut usize,
) -> Result<ArrayRef> {
    let ordered = !call.within.is_empty();
    let ranks = if matches!(
        call.func,
        AggregateFunction::StringAgg | AggregateFunction::ArrayAgg
    ) && !ordered
        && !call.distinct
    {
        None
    } else {
        let keys = if ordered {
            call.within.clone()
        } else {
            vec![(call.value.clone(), SortOptions::default())]
        };
        let ranks = Ranks::new(&keys)?;
        let size = ranks.encoded + call.valid.len() * STATE_BYTES_PER_ROW;
        stats.track_memory(*held, *held + size)?;
        *held += size;
        Some(ranks)
    };
    let need_ranks = || {
        ranks
            .as_ref()
            .ok_or_else(|| Error::internal("ranks not computed"))
    };
    let valid = call.valid;
    match call.func {
        AggregateFunction::StringAgg | AggregateFunction::ArrayAgg => {
            let is_array = call.func == AggregateFunction::ArrayAgg;
            lists(
                call,
                ranks.as_ref(),
                frames,
                frame_of,
                is_array,
                stats,
                held,
            )
        }
        AggregateFunction::Mode => {
            let ranks = need_ranks()?;
            let mut state = Counts::new(ranks, true, Sum::None);
            let mut picks = Vec::with_capacity(frames.len());
            slide(&mut state, frames, valid, |s, _| {
                picks.push(s.mode());
                Ok(())
            })?;
            let indices = UInt32Array::from_iter(frame_of.iter().map(|&f| picks[f as usize]));
            Ok(take(call.value.as_ref(), &indices, None)?)
        }
        AggregateFunction::PercentileCont | AggregateFunction::ApproxPercentile => {
            let ranks = need_ranks()?;
            let fraction = call
                .fraction
                .ok_or_else(|| Error::internal("a percentile without a fraction"))?;
            let values = cast(call.value, &DataType::Float64)?;
            let values = values.as_primitive::<Float64Type>().values();
            let mut state = Kth::new(ranks, call.distinct);
            let mut out = Vec::with_capacity(frames.len());
            slide(&mut state, frames, valid, |s, _| {
                out.push(s.percentile(fraction, values));
                Ok(())
            })?;
            Ok(Arc::new(Float64Array::from_iter(
                frame_of.iter().map(|&f| out[f as usize]),
            )))
        }
        AggregateFunction::PercentileDisc => {
            let ranks = need_ranks()?;
            let fraction = call
                .fraction
                .ok_or_else(|| Error::internal("percentile_disc() without a fraction"))?;
            let mut state = Kth::new(ranks, call.distinct);
            let mut picks = Vec::with_capacity(frames.len());
            slide(&mut state, frames, valid, |s, _| {
                // PostgreSQL: the first value whose position k (1-based) has k / n >= p.
                let n = s.count;
                picks.push((n > 0).then(|| {
                    let k = ((fraction * n as f64).ceil() as usize).clamp(1, n);
                    s.kth(k - 1) as u32
                }));
                Ok(())
            })?;
            let indices = UInt32Array::from_iter(frame_of.iter().map(|&f| picks[f as usize]));
            Ok(take(call.value.as_ref(), &indices, None)?)
        }
        AggregateFunction::Count | AggregateFunction::ApproxCountDistinct => {
            let ranks = need_ranks()?;
            let mut state = Counts::new(ranks, false, Sum::None);
            let mut out = Vec::with_capacity(frames.len());
            slide(&mut state, frames, valid, |s, _| {
                out.push(s.distinct);
                Ok(())
            })?;
            Ok(Arc::new(Int64Array::from_iter_values(
                frame_of.iter().map(|&f| out[f as usize]),
            )))
        }
        AggregateFunction::Sum | AggregateFunction::Avg => {
            let ranks = need_ranks()?;
            distinct_sum(call, ranks, frames, frame_of)
        }
        other => Err(Error::internal(format!(
            "{}() OVER is not computed by the holistic evaluator",
            other.name()
        ))),
    }
}

/// `sum(DISTINCT x)` and `avg(DISTINCT x)`: the distinct values' sum, kept as values enter and
/// leave the frame (exact for integers and DECIMALs; a DOUBLE sum subtracts, so it may differ
/// in its last bits from a sum of the frame's values).
fn distinct_sum(
    call: &Call,
    ranks: &Ranks,
    frames: &[(usize, usize)],
    frame_of: &[u32],
) -> Result<ArrayRef> {
    let avg = call.func == AggregateFunction::Avg;
    let name = call.func.name();
    match call.value.data_type() {
        DataType::Decimal128(_, scale) => {
            let values = call.value.as_primitive::<Decimal128Type>().values();
            let mut state = Counts::new(ranks, false, Sum::Decimal(values, Some(0)));
            let mut out: Vec<Option<i128>> = Vec::with_capacity(frames.len());
            let shift = match call.data_type {
                DataType::Decimal128(_, s) => u32::try_from(s - scale).unwrap_or(0),
                _ => 0,
            };
            slide(&mut state, frames, call.valid, |s, _| {
                let Sum::Decimal(_, sum) = s.sum else {
                    return Err(Error::internal("a decimal distinct sum"));
                };
                let n = s.distinct;
                out.push(match sum {
                    _ if n == 0 => None,
                    Some(sum) if avg => Some(
                        divide_decimal(sum, n as u64, shift)
                            .ok_or_else(|| decimal_overflow(name))?,
                    ),
                    Some(sum) if -DECIMAL_LIMIT < sum && sum < DECIMAL_LIMIT => Some(sum),
                    _ => return Err(decimal_overflow(name)),
                });
                Ok(())
            })?;
            let values: Decimal128Array = frame_of.iter().map(|&f| out[f as usize]).collect();
            Ok(Arc::new(values.with_data_type(call.data_type.clone())))
        }
        DataType::Float32 | DataType::Float64 => {
            let values = cast(call.value, &DataType::Float64)?;
            let values = values.as_primitive::<Float64Type>().values();
            let mut state = Counts::new(ranks, false, Sum::Float(values, 0.0));
            let mut out = Vec::with_capacity(frames.len());
            slide(&mut state, frames, call.valid, |s, _| {
                let Sum::Float(_, sum) = s.sum else {
                    return Err(Error::internal("a float distinct sum"));
                };
                let n = s.distinct;
                out.push((n > 0).then(|| if avg { sum / n as f64 } else { sum }));
                Ok(())
            })?;
            Ok(Arc::new(Float64Array::from_iter(
                frame_of.iter().map(|&f| out[f as usize]),
            )))
        }
        _ => {
            let values = cast(call.value, &DataType::Int64)?;
            let values = values.as_primitive::<Int64Type>().values();
            let mut state = Counts::new(ranks, false, Sum::Int(values, 0));
            let mut sums: Vec<Option<i128>> = Vec::with_capacity(frames.len());
            let mut counts = Vec::with_capacity(frames.len());
            slide(&mut state, frames, call.valid, |s, _| {
                let Sum::Int(_, sum) = s.sum else {
                    return Err(Error::internal("an integer distinct sum"));
                };
                sums.push((s.distinct > 0).then_some(sum));
                counts.push(s.distinct);
                Ok(())
            })?;
            if avg {
                let out = frame_of.iter().map(|&f| {
                    let f = f as usize;
                    sums[f].map(|s| s as f64 / counts[f] as f64)
                });
                return Ok(Arc::new(Float64Array::from_iter(out)));
            }
            let mut out = Vec::with_capacity(frame_of.len());
            for &f in frame_of {
                out.push(match sums[f as usize] {
                    None => None,
                    Some(s) => Some(i64::try_from(s).map_err(|_| Error::NumericOverflow {
                        message: "sum() OVER (...) out of range for BIGINT".into(),
                    })?),
                });
            }
            Ok(Arc::new(Int64Array::from(out)))
        }
    }
}

/// `string_agg` (`is_array` false) or `array_agg` (`is_array` true) of every frame.
fn lists(
    call: &Call,
    ranks: Option<&Ranks>,
    frames: &[(usize, usize)],
    frame_of: &[u32],
    is_array: bool,
    stats: &ExecStats,
    held: &mut usize,
) -> Result<ArrayRef> {
    let valid = call.valid;
    let rows = valid.len();
    let name = call.func.name();
    // Bytes per row of the result: a string's value and separator; a list's element (its share
    // of the argument's memory) and its index.
    let strings = if is_array {
        None
    } else {
        Some(
            call.value
                .as_string_opt::<i32>()
                .ok_or_else(|| Error::internal("string_agg() of a non-string"))?,
        )
    };
    let separators = match (is_array, call.separator) {
        (true, _) => None,
        (false, Some(s)) => Some(
            s.as_string_opt::<i32>()
                .ok_or_else(|| Error::internal("string_agg() separator is not text"))?,
        ),
        (false, None) => return Err(Error::internal("string_agg() without a separator")),
    };
    let element = call
        .value
        .get_array_memory_size()
        .checked_div(rows)
        .unwrap_or(0)
        + 4;
    let mut prefix = Vec::with_capacity(rows + 1);
    prefix.push(0usize);
    let mut counted = Vec::with_capacity(rows + 1);
    counted.push(0usize);
    for row in 0..rows {
        let bytes = match (strings, separators) {
            (Some(v), Some(s)) if valid[row] => v.value(row).len() + s.value(row).len(),
            _ if valid[row] => element,
            _ => 0,
        };
        prefix.push(prefix[row] + bytes);
        counted.push(counted[row] + usize::from(valid[row]));
    }
    let frame_bytes: usize = frames.iter().map(|&(s, e)| prefix[e] - prefix[s]).sum();
    let frame_count: usize = frames.iter().map(|&(s, e)| counted[e] - counted[s]).sum();
    let shared = frames.len() < rows;
    let row_bytes: usize = if shared {
        frame_of
            .iter()
            .map(|&f| {
                let (s, e) = frames[f as usize];
                prefix[e] - prefix[s]
            })
            .sum()
    } else {
        0
    };
    let row_count: usize = if shared {
        frame_of
            .iter()
            .map(|&f| {
                let (s, e) = frames[f as usize];
                counted[e] - counted[s]
            })
            .sum()
    } else {
        0
    };
    let limit = i32::MAX as usize;
    if frame_bytes.max(row_bytes) > limit || frame_count.max(row_count) > limit {
        return Err(Error::unsupported(format!(
            "{name}() OVER (...) results of more than 2 GB or 2147483647 values in all (every row gets its frame's whole result); use a smaller frame"
        )));
    }
    let size = frame_bytes + row_bytes + 8 * (frames.len() + rows);
    stats.track_memory(*held, *held + size)?;
    *held += size;
    drop((prefix, counted));

    // The rows of each frame, in the aggregate's order.
    let mut order: Vec<u32> = Vec::with_capacity(frame_count);
    let mut offsets: Vec<i32> = Vec::with_capacity(frames.len() + 1);
    offsets.push(0);
    match ranks {
        None => {
            for &(s, e) in frames {
                order.extend((s..e).filter(|&r| valid[r]).map(|r| r as u32));
                offsets.push(order.len() as i32);
            }
        }
        Some(ranks) => {
            let mut state = InOrder {
                ranks,
                set: BTreeSet::new(),
            };
            let distinct = call.distinct;
            slide(&mut state, frames, valid, |s, _| {
                let mut last_group: Option<u32> = None;
                for &rank in &s.set {
                    let group = ranks.group[rank as usize];
                    if distinct && last_group == Some(group) {
                        continue;
                    }
                    last_group = Some(group);
                    order.push(ranks.order[rank as usize]);
                }
                offsets.push(order.len() as i32);
                Ok(())
            })?;
        }
    }
    let per_frame: ArrayRef = match (strings, separators) {
        (Some(strings), Some(separators)) => {
            let mut builder = StringBuilder::with_capacity(frames.len(), frame_bytes);
            let mut joined = String::new();
            for w in offsets.windows(2) {
                joined.clear();
                let run = &order[w[0] as usize..w[1] as usize];
                for (k, &i) in run.iter().enumerate() {
                    let i = i as usize;
                    if k > 0 && separators.is_valid(i) {
                        joined.push_str(separators.value(i));
                    }
                    joined.push_str(strings.value(i));
                }
                if run.is_empty() {
                    builder.append_null();
                } else {
                    builder.append_value(&joined);
                }
            }
            Arc::new(builder.finish())
        }
        _ => {
            let DataType::List(field) = call.data_type else {
                return Err(Error::internal(format!(
                    "array_agg() typed {}",
                    call.data_type
                )));
            };
            let present: Vec<bool> = offsets.windows(2).map(|w| w[1] > w[0]).collect();
            let nulls = present
                .iter()
                .any(|p| !p)
                .then(|| NullBuffer::from(present));
            let values = take(call.value.as_ref(), &UInt32Array::from(order), None)?;
            Arc::new(ListArray::try_new(
                field.clone(),
                OffsetBuffer::new(offsets.into()),
                values,
                nulls,
            )?)
        }
    };
    if !shared {
        return Ok(per_frame);
    }
    Ok(take(
        per_frame.as_ref(),
        &UInt32Array::from(frame_of.to_vec()),
        None,
    )?)
}
