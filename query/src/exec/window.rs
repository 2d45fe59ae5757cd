//! [`WindowExec`]: window function calls, `f(...) OVER (PARTITION BY ... ORDER BY ... frame)`.
//!
//! The operator holds its whole input (counted against the query's memory limit, like
//! [`SortExec`](super::SortExec)); then, for each distinct window (partition and order keys),
//! shared by every call over it:
//!
//! 1. sorts the rows once by (partition keys, order keys, input position): `lexsort` for one
//!    key, else the keys row-encoded (Arrow's row format) and sorted as bytes;
//! 2. finds the partition and peer boundaries once ([`arrow::compute::partition`]);
//! 3. computes every call over that window in sorted order ([`functions`]): the ranking
//!    functions from the boundaries, `lag`/`lead` and the value functions as one `take`, the
//!    aggregates with an associative fold by a sliding fold over the frames ([`fold`]), O(rows)
//!    whatever the frame, the others (`string_agg`, `array_agg`, `mode`, the percentiles,
//!    `DISTINCT`) by frame states that rows enter and leave ([`holistic`]), O(rows log rows);
//! 4. puts the results back in input order (one `take` by the inverse permutation).
//!
//! Output: the input rows in input order, then one column per call.

mod fold;
mod frame;
mod functions;
mod holistic;

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, UInt32Array};
use arrow::compute::{
    concat_batches, lexsort_to_indices, partition, sort_to_indices, take, SortColumn, SortOptions,
};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};

use super::{BatchIter, ExecStats, ExecutionPlan};
use crate::error::{Error, Result};
use crate::eval::{evaluate_array, evaluate_predicate};
use crate::expr::{AggregateExpr, AggregateFunction, WindowExpr, WindowFunction};
use crate::kernel::normalize_zero;
use frame::{frame_bounds, Layout};

/// Bytes per row a call holds while it is computed: its frame bounds (two `usize`), the rows
/// that count (a `bool`), a fold state (up to 24 bytes) and its arguments in sorted order (an
/// estimate of 8 bytes).
const CALL_SCRATCH_BYTES: usize = 2 * 8 + 1 + 24 + 8;

/// Computes window function calls over all of its input.
#[derive(Debug)]
pub struct WindowExec {
    input: Box<dyn ExecutionPlan>,
    exprs: Vec<WindowExpr>,
    schema: SchemaRef,
    stats: Arc<ExecStats>,
}

impl WindowExec {
    /// The calls `exprs` over `input`; `schema` is the input's columns then one per call.
    pub fn new(
        input: Box<dyn ExecutionPlan>,
        exprs: Vec<WindowExpr>,
        schema: SchemaRef,
        stats: Arc<ExecStats>,
    ) -> Self {
        WindowExec {
            input,
            exprs,
            schema,
            stats,
        }
    }
}

impl ExecutionPlan for WindowExec {
    fn name(&self) -> &'static str {
        "WindowExec"
    }

    fn details(&self) -> String {
        let calls: Vec<String> = self.exprs.iter().map(|e| e.to_string()).collect();
        calls.join(", ")
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![self.input.as_ref()]
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let input_schema = self.input.schema();
        let stats = self.stats.clone();
        // The whole input is held (twice, briefly, while it is concatenated).
        let mut held = 0;
        let mut batches = Vec::new();
        for batch in self.input.execute()? {
            let batch = batch?;
            let size = batch.get_array_memory_size();
            stats.track_memory(held, held + 2 * size)?;
            held += 2 * size;
            batches.push(batch);
        }
        let batch = concat_batches(&input_schema, &batches)?;
        drop(batches);
        stats.track_memory(held, held / 2)?;
        held /= 2;
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(Box::new(std::iter::empty()));
        }
        if u32::try_from(rows).is_err() {
            return Err(Error::unsupported(format!(
                "window functions over more than {} rows",
                u32::MAX
            )));
        }
        let mut results: Vec<Option<ArrayRef>> = vec![None; self.exprs.len()];
        for first in 0..self.exprs.len() {
            if results[first].is_some() {
                continue;
            }
            let window = &self.exprs[first];
            let sorted = Sorted::new(window, &batch)?;
            let sorted_size = sorted.size();
            stats.track_memory(held, held + sorted_size)?;
            for (i, call) in self.exprs.iter().enumerate().skip(first) {
                let same_window =
                    call.partition_by == window.partition_by && call.order_by == window.order_by;
                if !same_window || results[i].is_some() {
                    continue;
                }
                // The call's frames, flags and fold states while it runs (an estimate).
                let scratch = rows * CALL_SCRATCH_BYTES;
                let base = held + sorted_size;
                stats.track_memory(base, base + scratch)?;
                let value = evaluate_call(call, &batch, &sorted, &stats)?;
                stats.track_memory(base + scratch, base)?;
                let value = take(value.as_ref(), &sorted.inverse, None)?;
                let size = value.get_array_memory_size();
                stats.track_memory(held + sorted_size, held + sorted_size + size)?;
                held += size;
                results[i] = Some(value);
            }
            stats.track_memory(held + sorted_size, held)?;
        }
        let mut columns = batch.columns().to_vec();
        for result in results {
            columns.push(result.ok_or_else(|| Error::internal("a window call was not computed"))?);
        }
        let output = RecordBatch::try_new(self.schema.clone(), columns)?;
        Ok(Box::new(std::iter::once(Ok(output))))
    }
}

/// The rows of one window in sorted order.
struct Sorted {
    /// Sorted position -> input row.
    indices: UInt32Array,
    /// Input row -> sorted position.
    inverse: UInt32Array,
    /// Partitions and peer groups.
    layout: Layout,
    /// The first ORDER BY key, sorted (for RANGE offsets).
    order_key: Option<ArrayRef>,
    /// The bytes the row-encoded keys took while sorting.
    encoded: usize,
}

impl Sorted {
    fn new(window: &WindowExpr, batch: &RecordBatch) -> Result<Sorted> {
        let rows = batch.num_rows();
        let mut columns = Vec::with_capacity(window.partition_by.len() + window.order_by.len());
        for key in &window.partition_by {
            columns.push(SortColumn {
                values: normalize_zero(&evaluate_array(key, batch)?)?,
                options: Some(SortOptions {
                    descending: false,
                    nulls_first: true,
                }),
            });
        }
        for key in &window.order_by {
            columns.push(SortColumn {
                values: normalize_zero(&evaluate_array(&key.expr, batch)?)?,
                options: Some(SortOptions {
                    descending: key.descending,
                    nulls_first: key.nulls_first,
                }),
            });
        }
        // Rows fit in u32 (checked by the caller). Ties keep their input order. One key is
        // sorted with `lexsort` (the key, then the position); several keys and the position
        // are row-encoded (Arrow's row format) into one byte string per row, all distinct, and
        // sorted as bytes: no comparator per column and row.
        let mut encoded = 0;
        let position: ArrayRef = Arc::new(UInt32Array::from_iter_values(0..rows as u32));
        let indices = if columns.is_empty() {
            UInt32Array::from_iter_values(0..rows as u32)
        } else if columns.len() == 1 {
            columns.push(SortColumn {
                values: position,
                options: Some(SortOptions::default()),
            });
            lexsort_to_indices(&columns, None)?
        } else {
            let mut fields: Vec<SortField> = columns
                .iter()
                .map(|c| {
                    let options = c.options.unwrap_or_default();
                    SortField::new_with_options(c.values.data_type().clone(), options)
                })
                .collect();
            fields.push(SortField::new(DataType::UInt32));
            let mut arrays: Vec<ArrayRef> = columns.iter().map(|c| c.values.clone()).collect();
            arrays.push(position.clone());
            let keys = RowConverter::new(fields)?.convert_columns(&arrays)?;
            encoded = keys.size();
            match keys.try_into_binary() {
                Ok(bytes) => sort_to_indices(&bytes, None, None)?,
                // Over 2 GiB of keys: compare column by column.
                Err(_) => {
                    columns.push(SortColumn {
                        values: position,
                        options: Some(SortOptions::default()),
                    });
                    lexsort_to_indices(&columns, None)?
                }
            }
        };
        let mut inverse = vec![0u32; rows];
        for (position, &row) in indices.values().iter().enumerate() {
            inverse[row as usize] = position as u32;
        }
        let keys = columns
            .iter()
            .take(window.partition_by.len() + window.order_by.len())
            .map(|c| take(c.values.as_ref(), &indices, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let whole = || std::iter::once(0..rows).collect::<Vec<_>>();
        let ranges = |keys: &[ArrayRef]| -> Result<Vec<Range<usize>>> {
            Ok(if keys.is_empty() {
                whole()
            } else {
                partition(keys)?.ranges()
            })
        };
        let partitions = ranges(&keys[..window.partition_by.len()])?;
        let peers = ranges(&keys)?;
        let order_key = keys.get(window.partition_by.len()).cloned();
        Ok(Sorted {
            indices,
            inverse: UInt32Array::from(inverse),
            layout: Layout::new(rows, partitions, &peers),
            order_key,
            encoded,
        })
    }

    /// Bytes held, for the memory limit.
    fn size(&self) -> usize {
        self.encoded
            + self.indices.get_array_memory_size()
            + self.inverse.get_array_memory_size()
            + self.layout.size()
            + self
                .order_key
                .as_ref()
                .map_or(0, |k| k.get_array_memory_size())
    }

    /// An expression of the call, evaluated over the input and put in sorted order.
    fn evaluate(&self, expr: &crate::expr::Expr, batch: &RecordBatch) -> Result<ArrayRef> {
        let values = evaluate_array(expr, batch)?;
        Ok(take(values.as_ref(), &self.indices, None)?)
    }
}

/// One call over its window, in sorted order.
fn evaluate_call(
    call: &WindowExpr,
    batch: &RecordBatch,
    sorted: &Sorted,
    stats: &ExecStats,
) -> Result<ArrayRef> {
    let layout = &sorted.layout;
    let args = call
        .args
        .iter()
        .map(|a| sorted.evaluate(a, batch))
        .collect::<Result<Vec<_>>>()?;
    let arg = |i: usize| {
        args.get(i).ok_or_else(|| {
            Error::internal(format!(
                "{}() OVER is missing argument {i}",
                call.func.name()
            ))
        })
    };
    let bounds = || {
        let order_key = sorted.order_key.as_ref().zip(call.order_by.first());
        frame_bounds(&call.frame, layout, order_key)
    };
    match call.func {
        WindowFunction::RowNumber
        | WindowFunction::Rank
        | WindowFunction::DenseRank
        | WindowFunction::PercentRank
        | WindowFunction::CumeDist => functions::ranking(call.func, layout),
        WindowFunction::Ntile => functions::ntile(arg(0)?, layout),
        WindowFunction::Lag | WindowFunction::Lead => functions::lag_lead(
            call.func == WindowFunction::Lag,
            arg(0)?,
            arg(1)?,
            arg(2)?,
            layout,
        ),
        WindowFunction::FirstValue | WindowFunction::LastValue | WindowFunction::NthValue => {
            let (start, end) = bounds()?;
            functions::frame_value(call.func, arg(0)?, args.get(1), &start, &end)
        }
        WindowFunction::Aggregate(func) => {
            let (start, end) = bounds()?;
            let filter = match &call.filter {
                Some(f) => {
                    let mask = evaluate_predicate(f, batch)?;
                    let mask = take(&mask, &sorted.indices, None)?;
                    Some(arrow::array::AsArray::as_boolean(&mask).clone())
                }
                None => None,
            };
            let value = args.first();
            // array_agg keeps NULL values; every other aggregate skips them.
            let counted = if func == AggregateFunction::ArrayAgg {
                None
            } else {
                value
            };
            let valid = functions::valid_rows(batch.num_rows(), counted, filter.as_ref());
            let approximate = matches!(
                func,
                AggregateFunction::ApproxCountDistinct | AggregateFunction::ApproxPercentile
            );
            let whole = layout.partitions.iter().all(|p| {
                p.clone()
                    .all(|row| start[row] == p.start && end[row] == p.end)
            });
            if approximate && whole && !call.distinct {
                // The sketches of GROUP BY, one accumulator group per partition.
                let fraction = match args.get(1) {
                    Some(f) => Some(functions::float_literal(f)?),
                    None => None,
                };
                let aggregate = AggregateExpr {
                    func,
                    arg: call.args.first().cloned(),
                    distinct: false,
                    filter: None,
                    data_type: call.data_type.clone(),
                    fraction,
                    extra_args: vec![],
                    order_by: vec![],
                };
                let value = value.ok_or_else(|| {
                    Error::internal("an approximate aggregate without an argument")
                })?;
                return functions::per_partition(
                    &aggregate, value, &valid, layout, &start, &end, stats,
                );
            }
            if holistic::handles(func, call.distinct) {
                let value = value.ok_or_else(|| {
                    Error::internal(format!("{}() OVER without an argument", func.name()))
                })?;
                let within = call
                    .within
                    .iter()
                    .map(|k| {
                        let options = SortOptions {
                            descending: k.descending,
                            nulls_first: k.nulls_first,
                        };
                        Ok((sorted.evaluate(&k.expr, batch)?, options))
                    })
                    .collect::<Result<Vec<_>>>()?;
                let (separator, fraction) = match func {
                    AggregateFunction::StringAgg => (args.get(1), None),
                    AggregateFunction::PercentileCont
                    | AggregateFunction::PercentileDisc
                    | AggregateFunction::ApproxPercentile => {
                        let f = arg(1)?;
                        (None, Some(functions::float_literal(f)?))
                    }
                    _ => (None, None),
                };
                let holistic_call = holistic::Call {
                    func,
                    value,
                    separator,
                    fraction,
                    distinct: call.distinct,
                    within,
                    valid: &valid,
                    data_type: &call.data_type,
                };
                return holistic::evaluate(&holistic_call, &start, &end, stats);
            }
            functions::aggregate(func, value, &valid, &call.data_type, layout, &start, &end)
        }
    }
}
