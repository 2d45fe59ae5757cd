//! Aggregates over ordered values: `string_agg` and `array_agg` (with or without an `ORDER BY`
//! inside the call), `percentile_disc` and `mode` (`WITHIN GROUP (ORDER BY x)`).
//!
//! Per batch the accumulator keeps the rows it is given as they come: the group of every row
//! and one struct array of the argument, the extra arguments and the ORDER BY keys (built by
//! the aggregation, so that FILTER drops the rows of all of them at once). At the end the
//! batches are put back in input order (each carries its position in the input, so the states
//! of several workers merge into the order one worker would have seen), the rows are bucketed
//! by group (a counting sort) and each group's rows sorted by (keys, row number) on Arrow's row
//! format (ties keep the input order: the same result on every run and with any number of
//! workers), and each group's run is folded: joined, listed, counted or indexed.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListArray, StringBuilder, StructArray, UInt32Array};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::SortOptions;
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, Rows, SortField};

use super::accumulator::{downcast, GroupsAccumulator};
use crate::error::{Error, Result};
use crate::expr::{AggregateExpr, AggregateFunction};

/// What is made of a group's ordered values.
#[derive(Debug, Clone, Copy)]
enum Fold {
    /// The non-NULL values joined by their separators.
    StringAgg,
    /// Every value, as a list.
    ArrayAgg,
    /// The most frequent non-NULL value (the first in the order among ties).
    Mode,
    /// The first non-NULL value whose position reaches the fraction.
    PercentileDisc(f64),
}

/// The rows of one input batch.
struct Chunk {
    /// The position of the batch in the input.
    batch: usize,
    groups: Vec<u32>,
    /// The argument, the extra arguments, the ORDER BY keys.
    values: StructArray,
}

/// The accumulator of an ordered aggregate (see the module documentation).
pub(super) struct Ordered {
    fold: Fold,
    distinct: bool,
    /// The ORDER BY keys' sort options, in the order of the keys.
    keys: Vec<SortOptions>,
    /// The index of the first key column in the struct arrays.
    first_key: usize,
    result_type: DataType,
    chunks: Vec<Chunk>,
    /// The position of the batch being fed.
    batch: usize,
    /// Bytes held by the chunks.
    bytes: usize,
}

impl std::fmt::Debug for Ordered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ordered")
            .field("fold", &self.fold)
            .field("chunks", &self.chunks.len())
            .finish()
    }
}

impl Ordered {
    /// The accumulator of `aggregate` (one of [`AggregateExpr::is_ordered`]).
    pub(super) fn try_new(aggregate: &AggregateExpr) -> Result<Self> {
        let fold = match aggregate.func {
            AggregateFunction::StringAgg => Fold::StringAgg,
            AggregateFunction::ArrayAgg => Fold::ArrayAgg,
            AggregateFunction::Mode => Fold::Mode,
            AggregateFunction::PercentileDisc => Fold::PercentileDisc(
                aggregate
                    .fraction
                    .ok_or_else(|| Error::internal("percentile_disc() without a fraction"))?,
            ),
            other => {
                return Err(Error::internal(format!(
                    "{}() is not an ordered aggregate",
                    other.name()
                )))
            }
        };
        Ok(Ordered {
            fold,
            distinct: aggregate.distinct,
            keys: aggregate
                .order_by
                .iter()
                .map(|k| SortOptions {
                    descending: k.descending,
                    nulls_first: k.nulls_first,
                })
                .collect(),
            first_key: 1 + aggregate.extra_args.len(),
            result_type: aggregate.data_type.clone(),
            chunks: vec![],
            batch: 0,
            bytes: 0,
        })
    }
}

/// Row encodings of `columns` (-0.0 and 0.0 encode alike), with `options` per column.
fn encode(columns: &[ArrayRef], options: &[SortOptions]) -> Result<Rows> {
    let columns = columns
        .iter()
        .map(crate::kernel::normalize_zero)
        .collect::<Result<Vec<_>>>()?;
    let fields = columns
        .iter()
        .zip(options)
        .map(|(c, &o)| SortField::new_with_options(c.data_type().clone(), o))
        .collect();
    Ok(RowConverter::new(fields)?.convert_columns(&columns)?)
}

impl GroupsAccumulator for Ordered {
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        groups: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        let values = values
            .and_then(|v| v.as_struct_opt())
            .ok_or_else(|| Error::internal("ordered aggregate input is not a struct"))?;
        if num_groups > u32::MAX as usize {
            return Err(Error::unsupported(
                "an ordered aggregate over more than 4294967295 groups",
            ));
        }
        if values.is_empty() {
            return Ok(());
        }
        let groups: Vec<u32> = groups.iter().map(|&g| g as u32).collect();
        // The rows' own bytes (a batch may be a slice of larger buffers).
        self.bytes += values.to_data().get_slice_memory_size()? + groups.len() * 4;
        self.chunks.push(Chunk {
            batch: self.batch,
            groups,
            values: values.clone(),
        });
        Ok(())
    }

    fn set_batch(&mut self, index: usize) {
        self.batch = index;
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        let mut chunks = std::mem::take(&mut self.chunks);
        self.bytes = 0;
        // Input order (a stable sort: a batch's chunks keep their order).
        chunks.sort_by_key(|c| c.batch);
        let Some(first) = chunks.first() else {
            return Ok(arrow::array::new_null_array(&self.result_type, num_groups));
        };
        let fields = first.values.fields().clone();
        let arrays: Vec<&dyn Array> = chunks.iter().map(|c| &c.values as &dyn Array).collect();
        let all = arrow::compute::concat(&arrays)?;
        let all = all
            .as_struct_opt()
            .ok_or_else(|| Error::internal("ordered aggregate rows are not a struct"))?
            .clone();
        debug_assert_eq!(all.fields(), &fields);
        let groups: Vec<u32> = chunks
            .iter()
            .flat_map(|c| c.groups.iter().copied())
            .collect();
        drop(chunks);
        let rows = all.len();
        if rows > u32::MAX as usize {
            return Err(Error::unsupported(
                "an ordered aggregate over more than 4294967295 rows",
            ));
        }

        // Where each group's rows start once sorted by group.
        let mut starts = vec![0usize; num_groups + 1];
        for &g in &groups {
            if let Some(count) = starts.get_mut(g as usize + 1) {
                *count += 1;
            }
        }
        for g in 0..num_groups {
            starts[g + 1] += starts[g];
        }
        // A counting sort by group (in input order within a group), then each group's rows
        // sorted by (keys, row number), so ties keep the input order.
        let mut order = vec![0u32; rows];
        let mut next = starts.clone();
        for (i, &g) in groups.iter().enumerate() {
            let at = next
                .get_mut(g as usize)
                .ok_or_else(|| Error::internal("an ordered aggregate row past the last group"))?;
            order[*at] = i as u32;
            *at += 1;
        }
        drop(next);
        let key_columns: Vec<ArrayRef> =
            all.columns().iter().skip(self.first_key).cloned().collect();
        // The keys' row encoding. With DISTINCT the keys are the argument, and mode's key is its
        // argument: equal keys are equal values there.
        let keys = if key_columns.is_empty() {
            None
        } else {
            let keys = encode(&key_columns, &self.keys)?;
            for w in starts.windows(2) {
                // Row numbers are the input order: ties broken by them keep it.
                order[w[0]..w[1]].sort_unstable_by(|&a, &b| {
                    keys.row(a as usize)
                        .cmp(&keys.row(b as usize))
                        .then(a.cmp(&b))
                });
            }
            Some(keys)
        };
        let value = all.column(0).clone();
        if let (true, Some(keys)) = (self.distinct, &keys) {
            // Equal values are next to each other: keep each group's first.
            let mut kept = Vec::with_capacity(order.len());
            let mut kept_starts = Vec::with_capacity(starts.len());
            kept_starts.push(0);
            for w in starts.windows(2) {
                let mut previous: Option<u32> = None;
                for &i in &order[w[0]..w[1]] {
                    if previous.is_none_or(|p| keys.row(p as usize) != keys.row(i as usize)) {
                        kept.push(i);
                    }
                    previous = Some(i);
                }
                kept_starts.push(kept.len());
            }
            order = kept;
            starts = kept_starts;
        }
        let runs = starts.windows(2).map(|w| &order[w[0]..w[1]]);
        match self.fold {
            Fold::StringAgg => {
                let strings = value
                    .as_string_opt::<i32>()
                    .ok_or_else(|| Error::internal("string_agg() of a non-string"))?;
                let separators = all
                    .columns()
                    .get(1)
                    .and_then(|s| s.as_string_opt::<i32>())
                    .ok_or_else(|| Error::internal("string_agg() without a separator"))?;
                string_agg(strings, separators, runs, num_groups)
            }
            Fold::ArrayAgg => {
                let field = match &self.result_type {
                    DataType::List(field) => field.clone(),
                    other => {
                        return Err(Error::internal(format!("array_agg() typed {other}")));
                    }
                };
                let mut offsets = Vec::with_capacity(num_groups + 1);
                offsets.push(0i32);
                let mut valid = Vec::with_capacity(num_groups);
                for w in starts.windows(2) {
                    let end = i32::try_from(w[1]).map_err(|_| {
                        Error::unsupported("array_agg() of more than 2147483647 values")
                    })?;
                    offsets.push(end);
                    valid.push(w[1] > w[0]);
                }
                let taken = arrow::compute::take(&value, &UInt32Array::from(order), None)?;
                let nulls = valid.iter().any(|v| !v).then(|| NullBuffer::from(valid));
                Ok(Arc::new(ListArray::try_new(
                    field,
                    OffsetBuffer::new(offsets.into()),
                    taken,
                    nulls,
                )?))
            }
            Fold::Mode => {
                let values = keys
                    .as_ref()
                    .ok_or_else(|| Error::internal("mode() without a key"))?;
                let picks: Vec<Option<u32>> = runs
                    .map(|run| {
                        let mut best: Option<(u32, usize)> = None;
                        let mut current: Option<(u32, usize)> = None;
                        for &i in run.iter().filter(|&&i| value.is_valid(i as usize)) {
                            current = match current {
                                Some((v, n))
                                    if values.row(v as usize) == values.row(i as usize) =>
                                {
                                    Some((v, n + 1))
                                }
                                _ => Some((i, 1)),
                            };
                            if let Some((v, n)) = current {
                                if best.is_none_or(|(_, m)| n > m) {
                                    best = Some((v, n));
                                }
                            }
                        }
                        best.map(|(v, _)| v)
                    })
                    .collect();
                Ok(arrow::compute::take(
                    &value,
                    &UInt32Array::from(picks),
                    None,
                )?)
            }
            Fold::PercentileDisc(p) => {
                let picks: Vec<Option<u32>> = runs
                    .map(|run| {
                        let valid = run.iter().filter(|&&i| value.is_valid(i as usize));
                        let n = valid.clone().count();
                        if n == 0 {
                            return None;
                        }
                        // PostgreSQL: the first value whose position k (1-based) has k / n >= p.
                        let k = ((p * n as f64).ceil() as usize).clamp(1, n);
                        valid.copied().nth(k - 1)
                    })
                    .collect();
                Ok(arrow::compute::take(
                    &value,
                    &UInt32Array::from(picks),
                    None,
                )?)
            }
        }
    }

    fn supports_merge(&self) -> bool {
        true
    }

    fn merge(
        &mut self,
        other: Box<dyn GroupsAccumulator>,
        mapping: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<Self>(other)?;
        if num_groups > u32::MAX as usize {
            return Err(Error::unsupported(
                "an ordered aggregate over more than 4294967295 groups",
            ));
        }
        for mut chunk in other.chunks {
            for g in &mut chunk.groups {
                *g = mapping
                    .get(*g as usize)
                    .copied()
                    .ok_or_else(|| Error::internal("a merged group without a mapping"))?
                    as u32;
            }
            self.chunks.push(chunk);
        }
        self.bytes += other.bytes;
        Ok(())
    }

    fn size(&self) -> usize {
        self.bytes
    }
}

/// The values of every group's run joined: the separator of each value but the first goes
/// before it (a NULL separator adds nothing), NULL values are skipped, a group without values
/// is NULL.
fn string_agg<'a>(
    strings: &arrow::array::StringArray,
    separators: &arrow::array::StringArray,
    runs: impl Iterator<Item = &'a [u32]>,
    num_groups: usize,
) -> Result<ArrayRef> {
    let mut builder = StringBuilder::with_capacity(num_groups, 0);
    let mut joined = String::new();
    let mut total = 0usize;
    for run in runs {
        joined.clear();
        let mut any = false;
        for &i in run {
            let i = i as usize;
            if strings.is_null(i) {
                continue;
            }
            if any && separators.is_valid(i) {
                joined.push_str(separators.value(i));
            }
            joined.push_str(strings.value(i));
            any = true;
        }
        total += joined.len();
        if total > i32::MAX as usize {
            return Err(Error::unsupported(
                "string_agg() results of more than 2 GB in all",
            ));
        }
        if any {
            builder.append_value(&joined);
        } else {
            builder.append_null();
        }
    }
    Ok(Arc::new(builder.finish()))
}
