//! The window functions over rows in sorted order: the ranking functions from the partition
//! and peer boundaries, `lag`/`lead` and the value functions as one `take` each, the aggregates
//! by a sliding [`fold`](super::fold) over the frames. Each returns one value per sorted row.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Float64Array, Int32Array, Int64Array,
    PrimitiveArray, UInt32Array,
};
use arrow::compute::kernels::zip::zip;
use arrow::compute::take;
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type};

use super::fold::{self, sliding};
use super::frame::Layout;
use crate::error::{Error, Result};
use crate::exec::aggregate::{create_accumulator, decimal_overflow, divide_decimal, DECIMAL_LIMIT};
use crate::exec::ExecStats;
use crate::expr::{AggregateExpr, AggregateFunction, WindowFunction};
use crate::kernel::{cast, normalize_zero};

/// `row_number`, `rank`, `dense_rank`, `percent_rank`, `cume_dist`.
pub(super) fn ranking(func: WindowFunction, layout: &Layout) -> Result<ArrayRef> {
    let rows = layout.peer_start.len();
    Ok(match func {
        WindowFunction::RowNumber | WindowFunction::Rank | WindowFunction::DenseRank => {
            let mut out = Vec::with_capacity(rows);
            for p in &layout.partitions {
                let mut dense = 0i64;
                for row in p.clone() {
                    let peer_start = layout.peer_start[row];
                    if peer_start == row {
                        dense += 1;
                    }
                    out.push(match func {
                        WindowFunction::RowNumber => (row - p.start + 1) as i64,
                        WindowFunction::Rank => (peer_start - p.start + 1) as i64,
                        _ => dense,
                    });
                }
            }
            Arc::new(Int64Array::from(out))
        }
        WindowFunction::PercentRank | WindowFunction::CumeDist => {
            let mut out = Vec::with_capacity(rows);
            for p in &layout.partitions {
                let n = p.len() as f64;
                for row in p.clone() {
                    out.push(if func == WindowFunction::CumeDist {
                        (layout.peer_end[row] - p.start) as f64 / n
                    } else if p.len() <= 1 {
                        0.0
                    } else {
                        (layout.peer_start[row] - p.start) as f64 / (n - 1.0)
                    });
                }
            }
            Arc::new(Float64Array::from(out))
        }
        other => {
            return Err(Error::internal(format!(
                "{} is not a ranking",
                other.name()
            )))
        }
    })
}

/// `ntile(buckets)`: as in PostgreSQL, the first `rows % buckets` buckets have one row more.
pub(super) fn ntile(buckets: &ArrayRef, layout: &Layout) -> Result<ArrayRef> {
    let buckets = cast(buckets, &DataType::Int64)?;
    let buckets = buckets.as_primitive::<Int64Type>();
    let mut out = Vec::with_capacity(buckets.len());
    for p in &layout.partitions {
        let n = p.len() as i64;
        for row in p.clone() {
            if buckets.is_null(row) {
                out.push(None);
                continue;
            }
            let b = buckets.value(row);
            if b <= 0 {
                return Err(Error::InvalidArgument {
                    message: format!("argument of ntile must be greater than zero, not {b}"),
                });
            }
            let b = b.min(n);
            let (per, extra) = (n / b, n % b);
            let r = (row - p.start) as i64;
            let big = extra * (per + 1);
            let bucket = if r < big {
                r / (per + 1) + 1
            } else {
                (r - big) / per + extra + 1
            };
            out.push(Some(i32::try_from(bucket).map_err(|_| {
                Error::NumericOverflow {
                    message: "ntile() bucket out of range for INTEGER".into(),
                }
            })?));
        }
    }
    Ok(Arc::new(Int32Array::from(out)))
}

/// `lag(value, offset, default)` (`lead` when `!lag`): the value `offset` rows before (after)
/// in the partition, the default where that row does not exist, NULL for a NULL offset.
pub(super) fn lag_lead(
    lag: bool,
    value: &ArrayRef,
    offset: &ArrayRef,
    default: &ArrayRef,
    layout: &Layout,
) -> Result<ArrayRef> {
    let offset = cast(offset, &DataType::Int64)?;
    let offset = offset.as_primitive::<Int64Type>();
    let rows = value.len();
    let mut indices = Vec::with_capacity(rows);
    let mut use_default = Vec::with_capacity(rows);
    for p in &layout.partitions {
        for row in p.clone() {
            if offset.is_null(row) {
                indices.push(None);
                use_default.push(false);
                continue;
            }
            let o = i128::from(offset.value(row));
            let target = if lag {
                row as i128 - o
            } else {
                row as i128 + o
            };
            if target >= p.start as i128 && target < p.end as i128 {
                indices.push(Some(target as u32));
                use_default.push(false);
            } else {
                indices.push(None);
                use_default.push(true);
            }
        }
    }
    let taken = take(value.as_ref(), &UInt32Array::from(indices), None)?;
    let mask = BooleanArray::from(use_default);
    Ok(zip(&mask, default, &taken)?)
}

/// `first_value`, `last_value`, `nth_value(value, n)` over each row's frame.
pub(super) fn frame_value(
    func: WindowFunction,
    value: &ArrayRef,
    n: Option<&ArrayRef>,
    start: &[usize],
    end: &[usize],
) -> Result<ArrayRef> {
    let n = n.map(|n| cast(n, &DataType::Int64)).transpose()?;
    let n = n.as_ref().map(|n| n.as_primitive::<Int64Type>());
    let mut indices = Vec::with_capacity(start.len());
    for (row, (&s, &e)) in start.iter().zip(end).enumerate() {
        let index = match func {
            WindowFunction::FirstValue => (s < e).then_some(s),
            WindowFunction::LastValue => (s < e).then(|| e - 1),
            _ => match n {
                Some(n) if !n.is_null(row) => {
                    let k = n.value(row);
                    if k <= 0 {
                        return Err(Error::InvalidArgument {
                            message: format!(
                                "argument of nth_value must be greater than zero, not {k}"
                            ),
                        });
                    }
                    let k = usize::try_from(k - 1).unwrap_or(usize::MAX);
                    s.checked_add(k).filter(|&i| i < e)
                }
                _ => None,
            },
        };
        indices.push(index.map(|i| i as u32));
    }
    Ok(take(value.as_ref(), &UInt32Array::from(indices), None)?)
}

/// Which rows an aggregate counts: its argument is not NULL and its FILTER is true.
pub(super) fn valid_rows(
    rows: usize,
    arg: Option<&ArrayRef>,
    filter: Option<&BooleanArray>,
) -> Vec<bool> {
    let nulls = arg.and_then(|a| a.logical_nulls());
    (0..rows)
        .map(|row| {
            nulls.as_ref().is_none_or(|n| n.is_valid(row))
                && filter.is_none_or(|f| f.is_valid(row) && f.value(row))
        })
        .collect()
}

/// An aggregate over each row's frame.
pub(super) fn aggregate(
    func: AggregateFunction,
    arg: Option<&ArrayRef>,
    valid: &[bool],
    data_type: &DataType,
    layout: &Layout,
    start: &[usize],
    end: &[usize],
) -> Result<ArrayRef> {
    let rows = valid.len();
    let parts = &layout.partitions;
    let need = || {
        arg.ok_or_else(|| Error::internal(format!("{}() OVER without an argument", func.name())))
    };
    Ok(match func {
        AggregateFunction::Count => {
            let mut out = vec![0i64; rows];
            sliding(&fold::Count { valid }, parts, start, end, |row, c| {
                out[row] = c
            });
            Arc::new(Int64Array::from(out))
        }
        AggregateFunction::Sum if *data_type == DataType::Int64 => {
            let values = cast(need()?, &DataType::Int64)?;
            let values = values.as_primitive::<Int64Type>().values();
            let fold = fold::SumInt { values, valid };
            let mut out = vec![(0i128, 0i64); rows];
            sliding(&fold, parts, start, end, |row, s| out[row] = s);
            let mut sums = Vec::with_capacity(rows);
            for (sum, n) in out {
                sums.push(if n == 0 {
                    None
                } else {
                    Some(i64::try_from(sum).map_err(|_| Error::NumericOverflow {
                        message: "sum() OVER (...) out of range for BIGINT".into(),
                    })?)
                });
            }
            Arc::new(Int64Array::from(sums))
        }
        AggregateFunction::Sum | AggregateFunction::Avg
            if matches!(data_type, DataType::Decimal128(_, _)) =>
        {
            let arg = need()?;
            let DataType::Decimal128(_, scale) = arg.data_type() else {
                return Err(Error::internal(format!(
                    "{}() OVER of DECIMAL has a {} argument",
                    func.name(),
                    arg.data_type()
                )));
            };
            let values = arg.as_primitive::<Decimal128Type>().values();
            let fold = fold::SumDecimal { values, valid };
            let mut out = vec![(Some(0i128), 0i64); rows];
            sliding(&fold, parts, start, end, |row, s| out[row] = s);
            let shift = match data_type {
                DataType::Decimal128(_, s) => u32::try_from(s - scale).unwrap_or(0),
                _ => 0,
            };
            let avg = func == AggregateFunction::Avg;
            let mut values = Vec::with_capacity(rows);
            for (sum, n) in out {
                values.push(match (sum, n) {
                    (_, 0) => None,
                    (Some(sum), n) if avg => Some(
                        divide_decimal(sum, n as u64, shift)
                            .ok_or_else(|| decimal_overflow("avg"))?,
                    ),
                    (Some(sum), _) if -DECIMAL_LIMIT < sum && sum < DECIMAL_LIMIT => Some(sum),
                    _ => return Err(decimal_overflow(func.name())),
                });
            }
            Arc::new(Decimal128Array::from(values).with_data_type(data_type.clone()))
        }
        AggregateFunction::Sum | AggregateFunction::Avg => {
            let values = cast(need()?, &DataType::Float64)?;
            let fold = fold::SumFloat {
                values: values.as_primitive::<Float64Type>().values(),
                valid,
            };
            let avg = func == AggregateFunction::Avg;
            let mut out = vec![None; rows];
            sliding(&fold, parts, start, end, |row, (sum, n)| {
                out[row] = match n {
                    0 => None,
                    _ if avg => Some(sum / n as f64),
                    _ => Some(sum),
                }
            });
            Arc::new(Float64Array::from(out))
        }
        AggregateFunction::VarSamp
        | AggregateFunction::VarPop
        | AggregateFunction::StddevSamp
        | AggregateFunction::StddevPop => {
            let values = cast(need()?, &DataType::Float64)?;
            let fold = fold::Moments {
                values: values.as_primitive::<Float64Type>().values(),
                valid,
            };
            let sample = matches!(
                func,
                AggregateFunction::VarSamp | AggregateFunction::StddevSamp
            );
            let root = matches!(
                func,
                AggregateFunction::StddevSamp | AggregateFunction::StddevPop
            );
            let mut out = vec![None; rows];
            sliding(&fold, parts, start, end, |row, (n, _, m2)| {
                let divisor = if sample { n - 1.0 } else { n };
                out[row] = (divisor > 0.0).then(|| {
                    let variance = (m2 / divisor).max(0.0);
                    if root {
                        variance.sqrt()
                    } else {
                        variance
                    }
                });
            });
            Arc::new(Float64Array::from(out))
        }
        // On booleans false < true: AND is the minimum, OR the maximum.
        AggregateFunction::Min
        | AggregateFunction::Max
        | AggregateFunction::BoolAnd
        | AggregateFunction::BoolOr => {
            let arg = need()?;
            let max = matches!(func, AggregateFunction::Max | AggregateFunction::BoolOr);
            let mut out: Vec<Option<u32>> = vec![None; rows];
            let mut emit = |row: usize, s: Option<u32>| out[row] = s;
            match arg.data_type() {
                DataType::Float32 | DataType::Float64 => {
                    let values = normalize_zero(&cast(arg, &DataType::Float64)?)?;
                    let values: &[f64] = values.as_primitive::<Float64Type>().values();
                    let fold = fold::Extreme { values, valid, max };
                    sliding(&fold, parts, start, end, &mut emit);
                }
                DataType::Interval(_) => {
                    // Compared as PostgreSQL does: a month is 30 days, a day 24 hours.
                    let keys = crate::interval::comparable(arg)?;
                    let values: &[i128] = keys.as_primitive::<Decimal128Type>().values();
                    let fold = fold::Extreme { values, valid, max };
                    sliding(&fold, parts, start, end, &mut emit);
                }
                DataType::Decimal128(_, _) => {
                    let values: &[i128] = arg.as_primitive::<Decimal128Type>().values();
                    let fold = fold::Extreme { values, valid, max };
                    sliding(&fold, parts, start, end, &mut emit);
                }
                DataType::Utf8 => {
                    let values = arg.as_string::<i32>();
                    let fold = fold::Extreme { values, valid, max };
                    sliding(&fold, parts, start, end, &mut emit);
                }
                _ => {
                    let values = comparable_ints(arg)?;
                    let values: &[i64] = values.values();
                    let fold = fold::Extreme { values, valid, max };
                    sliding(&fold, parts, start, end, &mut emit);
                }
            }
            take(arg.as_ref(), &UInt32Array::from(out), None)?
        }
        AggregateFunction::AnyValue => {
            let arg = need()?;
            let mut out: Vec<Option<u32>> = vec![None; rows];
            sliding(&fold::FirstValid { valid }, parts, start, end, |row, s| {
                out[row] = s
            });
            take(arg.as_ref(), &UInt32Array::from(out), None)?
        }
        AggregateFunction::ApproxCountDistinct
        | AggregateFunction::ApproxPercentile
        | AggregateFunction::PercentileCont
        | AggregateFunction::PercentileDisc
        | AggregateFunction::Mode
        | AggregateFunction::StringAgg
        | AggregateFunction::ArrayAgg => {
            return Err(Error::unsupported(format!(
                "{}() as a window function",
                func.name()
            )))
        }
    })
}

/// Rows fed to an accumulator at a time, so that its memory is checked as it grows.
const ACCUMULATE_ROWS: usize = 8192;

/// An aggregate whose every frame is its whole partition (the binder allows no other frame for
/// it), computed by the GROUP BY accumulator with one group per partition: the approximate
/// aggregates, which have no sliding fold. Its state counts against the memory limit.
pub(super) fn per_partition(
    aggregate: &AggregateExpr,
    value: &ArrayRef,
    valid: &[bool],
    layout: &Layout,
    start: &[usize],
    end: &[usize],
    stats: &ExecStats,
) -> Result<ArrayRef> {
    let rows = valid.len();
    let mut partition_of = Vec::with_capacity(rows);
    for (k, p) in layout.partitions.iter().enumerate() {
        for row in p.clone() {
            if start[row] != p.start || end[row] != p.end {
                return Err(Error::internal(format!(
                    "{}() OVER a frame other than the whole partition",
                    aggregate.func.name()
                )));
            }
            partition_of.push(k);
        }
    }
    let mut accumulator = create_accumulator(aggregate)?;
    let mut held = 0;
    let mut first = 0;
    while first < rows {
        let len = ACCUMULATE_ROWS.min(rows - first);
        let chunk = first..first + len;
        let mask = BooleanArray::from(valid[chunk.clone()].to_vec());
        let values = arrow::compute::filter(value.slice(first, len).as_ref(), &mask)?;
        let groups: Vec<usize> = chunk
            .clone()
            .filter(|&row| valid[row])
            .map(|row| partition_of[row])
            .collect();
        let groups_so_far = partition_of[first + len - 1] + 1;
        accumulator.update_batch(Some(&values), &groups, groups_so_far)?;
        let size = accumulator.size();
        stats.track_memory(held, size)?;
        held = size;
        first += len;
    }
    let per = accumulator.evaluate(layout.partitions.len());
    stats.track_memory(held, 0)?;
    let index = UInt32Array::from_iter_values(partition_of.iter().map(|&k| k as u32));
    Ok(take(per?.as_ref(), &index, None)?)
}

/// The value of a one-row DOUBLE literal (an approximate percentile's fraction).
pub(super) fn float_literal(value: &ArrayRef) -> Result<f64> {
    let value = cast(value, &DataType::Float64)?;
    let value = value.as_primitive::<Float64Type>();
    if value.is_empty() || value.is_null(0) {
        return Err(Error::internal(
            "a percentile fraction that is not a number",
        ));
    }
    Ok(value.value(0))
}

/// Integers, booleans, DATEs and TIMESTAMPs as BIGINTs that order like them.
fn comparable_ints(arg: &ArrayRef) -> Result<PrimitiveArray<Int64Type>> {
    let ints = match arg.data_type() {
        DataType::Timestamp(_, _) => {
            let data = arg.to_data();
            let values = data
                .buffers()
                .first()
                .cloned()
                .ok_or_else(|| Error::internal("a TIMESTAMP array without a value buffer"))?;
            let values = arrow::buffer::ScalarBuffer::<i64>::new(values, data.offset(), data.len());
            return Ok(PrimitiveArray::new(values, data.nulls().cloned()));
        }
        DataType::Date32 | DataType::Boolean => {
            let as_int = cast(arg, &DataType::Int32)?;
            cast(&as_int, &DataType::Int64)?
        }
        _ => cast(arg, &DataType::Int64)?,
    };
    Ok(ints.as_primitive::<Int64Type>().clone())
}
