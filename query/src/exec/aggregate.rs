//! [`AggregateExec`]: hash GROUP BY.
//!
//! Per input batch: the group keys are evaluated and encoded once with Arrow's
//! [`RowConverter`] (one comparable byte string per row); each key is looked up in a hash map
//! from key bytes to a dense group index, allocating only when a new group appears. Then every
//! accumulator consumes the whole batch given the vector of group indices, in a monomorphic loop
//! chosen once per query by argument type ([`create_accumulator`]; see [`accumulator`]).
//!
//! With more than one query thread, and when every accumulator can merge partial states, the
//! batches are spread over that many aggregation workers, each building its own groups and
//! accumulators ([`Partial`]); the partial states merge into one at the end (group keys
//! re-interned, accumulator states combined group by group).

pub mod accumulator;
mod distinct;
mod groups;
mod min_max;
mod ordered;
pub mod sketch;
mod sum;
mod variance;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow::array::{ArrayRef, StructArray};
use arrow::datatypes::Field;
use arrow::datatypes::{
    DataType, Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, SchemaRef,
    TimeUnit, TimestampMillisecondType,
};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use self::accumulator::GroupsAccumulator;
use self::groups::GroupTable;
pub(crate) use self::sum::{decimal_overflow, divide_decimal, DECIMAL_LIMIT};
use super::{BatchIter, ExecStats, ExecutionPlan};
use crate::error::{Error, Result};
use crate::eval::{evaluate_array, evaluate_predicate};
use crate::expr::{AggregateExpr, AggregateFunction, Expr};

/// Groups rows by key and aggregates each group. Output: keys, then aggregates.
#[derive(Debug)]
pub struct AggregateExec {
    input: Box<dyn ExecutionPlan>,
    group_by: Vec<Expr>,
    aggregates: Vec<AggregateExpr>,
    schema: SchemaRef,
    stats: Arc<ExecStats>,
}

impl AggregateExec {
    /// Aggregates `input`; `schema` is the output schema (keys, then aggregates).
    pub fn try_new(
        input: Box<dyn ExecutionPlan>,
        group_by: Vec<Expr>,
        aggregates: Vec<AggregateExpr>,
        schema: SchemaRef,
        stats: Arc<ExecStats>,
    ) -> Result<Self> {
        Ok(AggregateExec {
            input,
            group_by,
            aggregates,
            schema,
            stats,
        })
    }
}

/// The state of an aggregation over some of its input: the groups seen and every aggregate's
/// accumulator. Workers each build one over the batches they take; the states then merge.
struct Partial {
    table: Option<GroupTable>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    num_groups: usize,
    /// Scratch: the group of every row of the current batch.
    groups: Vec<usize>,
    /// Bytes reported to the query's memory accounting.
    held: usize,
}

impl Partial {
    fn new(group_by: &[Expr], aggregates: &[AggregateExpr]) -> Result<Partial> {
        let accumulators = aggregates
            .iter()
            .map(create_accumulator)
            .collect::<Result<Vec<_>>>()?;
        let table = if group_by.is_empty() {
            None
        } else {
            Some(GroupTable::try_new(group_by)?)
        };
        Ok(Partial {
            // Without GROUP BY there is exactly one group, even over no rows.
            num_groups: usize::from(table.is_none()),
            table,
            accumulators,
            groups: vec![],
            held: 0,
        })
    }

    fn mergeable(&self) -> bool {
        self.accumulators.iter().all(|a| a.supports_merge())
    }

    /// Reports the state's size to the memory accounting: the group table (keys, hash map),
    /// a few words per accumulator and group, and what sketches and kept values hold.
    fn track(&mut self, stats: &ExecStats) -> Result<()> {
        let keys = self.table.as_ref().map_or(0, GroupTable::size_bytes);
        let now = keys
            + self.num_groups * 16 * self.accumulators.len()
            + self.accumulators.iter().map(|a| a.size()).sum::<usize>();
        let old = std::mem::replace(&mut self.held, now);
        stats.track_memory(old, now)
    }

    /// Adds `batch`, the input's batch number `index`.
    fn update(
        &mut self,
        index: usize,
        batch: &RecordBatch,
        group_by: &[Expr],
        aggregates: &[AggregateExpr],
        stats: &ExecStats,
    ) -> Result<()> {
        let groups = &mut self.groups;
        match &mut self.table {
            Some(table) => {
                let keys = group_by
                    .iter()
                    .map(|e| evaluate_array(e, batch))
                    .collect::<Result<Vec<_>>>()?;
                table.intern(&keys, groups)?;
                self.num_groups = table.num_groups();
            }
            None => {
                groups.clear();
                groups.resize(batch.num_rows(), 0);
            }
        }
        let (groups, num_groups) = (&self.groups, self.num_groups);
        for (accumulator, aggregate) in self.accumulators.iter_mut().zip(aggregates) {
            accumulator.set_batch(index);
            let values = if aggregate.is_ordered() {
                Some(ordered_input(aggregate, batch)?)
            } else {
                match &aggregate.arg {
                    Some(arg) => Some(evaluate_array(arg, batch)?),
                    None => None,
                }
            };
            match &aggregate.filter {
                None => accumulator.update_batch(values.as_ref(), groups, num_groups)?,
                Some(filter) => {
                    // FILTER (WHERE ...): only the rows where it is true (not NULL).
                    let mask = evaluate_predicate(filter, batch)?;
                    let mask = if arrow::array::Array::null_count(&mask) > 0 {
                        arrow::compute::prep_null_mask_filter(&mask)
                    } else {
                        mask
                    };
                    let kept: Vec<usize> = groups
                        .iter()
                        .zip(mask.values().iter())
                        .filter_map(|(&g, keep)| keep.then_some(g))
                        .collect();
                    let values = values
                        .map(|v| arrow::compute::filter(v.as_ref(), &mask))
                        .transpose()?;
                    accumulator.update_batch(values.as_ref(), &kept, num_groups)?;
                }
            }
        }
        self.track(stats)
    }

    /// Folds `other` into this state.
    fn merge(&mut self, mut other: Partial, stats: &ExecStats) -> Result<()> {
        let mapping = match (&mut self.table, other.table.take()) {
            (Some(table), Some(theirs)) => {
                let mapping = table.merge(theirs)?;
                self.num_groups = table.num_groups();
                mapping
            }
            _ => vec![0],
        };
        let accumulators = std::mem::take(&mut other.accumulators);
        for (mine, theirs) in self.accumulators.iter_mut().zip(accumulators) {
            mine.merge(theirs, &mapping, self.num_groups)?;
        }
        stats.track_memory(other.held, 0)?;
        self.track(stats)
    }

    /// The output: keys, then aggregates.
    fn finish(mut self, schema: SchemaRef, stats: &ExecStats) -> Result<RecordBatch> {
        let num_groups = self.num_groups;
        let mut columns = match self.table.take() {
            Some(table) => table.into_columns()?,
            None => vec![],
        };
        for accumulator in &mut self.accumulators {
            columns.push(accumulator.evaluate(num_groups)?);
        }
        stats.track_memory(self.held, 0)?;
        let options = RecordBatchOptions::new().with_row_count(Some(num_groups));
        Ok(RecordBatch::try_new_with_options(
            schema, columns, &options,
        )?)
    }
}

/// The input of an ordered aggregate ([`AggregateExpr::is_ordered`]): one struct array of the
/// argument, the extra arguments and the ORDER BY keys, so that FILTER drops rows of all at once.
fn ordered_input(aggregate: &AggregateExpr, batch: &RecordBatch) -> Result<ArrayRef> {
    let exprs = aggregate
        .arg
        .iter()
        .chain(&aggregate.extra_args)
        .chain(aggregate.order_by.iter().map(|k| &k.expr));
    let mut fields = vec![];
    let mut columns = vec![];
    for (i, expr) in exprs.enumerate() {
        let column = evaluate_array(expr, batch)?;
        fields.push(Field::new(
            format!("c{i}"),
            column.data_type().clone(),
            true,
        ));
        columns.push(column);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    let batch = RecordBatch::try_new_with_options(
        Arc::new(arrow::datatypes::Schema::new(fields)),
        columns,
        &options,
    )?;
    Ok(Arc::new(StructArray::from(batch)))
}

/// Aggregates `input` on `workers` threads: the calling thread pulls batches from the input (whose
/// scans run on their own workers and deliver their batches in a fixed order) and deals them out
/// in turn, batch `k` to worker `k % workers`; every worker builds a [`Partial`] state; the
/// states merge at the end, in worker order. The deal is fixed rather than first-come, so a
/// statement over the same rows computes the same floating-point sums every time (a CTE read
/// twice agrees with itself; a dashboard does not flicker in the last digit). The first error
/// stops the feeding and is returned.
fn aggregate_in_parallel(
    input: Box<dyn ExecutionPlan>,
    group_by: &[Expr],
    aggregates: &[AggregateExpr],
    stats: &ExecStats,
    workers: usize,
) -> Result<Partial> {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..workers)
        .map(|_| std::sync::mpsc::sync_channel::<(usize, RecordBatch)>(2))
        .unzip();
    let failed = AtomicBool::new(false);
    let batches = input.execute()?;
    let (fed, partials) = std::thread::scope(|scope| {
        let handles: Vec<_> = receivers
            .into_iter()
            .map(|receiver| {
                let failed = &failed;
                scope.spawn(move || -> Result<Partial> {
                    let mut state = Partial::new(group_by, aggregates)?;
                    while let Ok((index, batch)) = receiver.recv() {
                        if let Err(e) = state.update(index, &batch, group_by, aggregates, stats) {
                            failed.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                    Ok(state)
                })
            })
            .collect();
        let mut fed: Result<()> = Ok(());
        for (k, batch) in batches.enumerate() {
            if failed.load(Ordering::Relaxed) {
                break;
            }
            match batch {
                Ok(batch) => {
                    let Some(sender) = senders.get(k % workers) else {
                        break;
                    };
                    if sender.send((k, batch)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    fed = Err(e);
                    break;
                }
            }
        }
        drop(senders);
        let partials: Vec<Result<Partial>> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::internal("an aggregation worker panicked")))
            })
            .collect();
        (fed, partials)
    });
    fed?;
    let mut partials = partials.into_iter();
    let mut state = partials
        .next()
        .ok_or_else(|| Error::internal("no aggregation worker"))??;
    for other in partials {
        state.merge(other?, stats)?;
    }
    Ok(state)
}

impl ExecutionPlan for AggregateExec {
    fn name(&self) -> &'static str {
        "AggregateExec"
    }

    fn details(&self) -> String {
        let keys: Vec<String> = self.group_by.iter().map(|e| e.to_string()).collect();
        let aggs: Vec<String> = self.aggregates.iter().map(|a| a.to_string()).collect();
        format!(
            "group_by=[{}] aggregates=[{}]",
            keys.join(", "),
            aggs.join(", ")
        )
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![self.input.as_ref()]
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let AggregateExec {
            input,
            group_by,
            aggregates,
            schema,
            stats,
        } = *self;
        let plan = Partial::new(&group_by, &aggregates)?;
        let workers = stats.threads();
        let state = if workers > 1 && plan.mergeable() {
            drop(plan);
            aggregate_in_parallel(input, &group_by, &aggregates, &stats, workers)?
        } else {
            let mut state = plan;
            for (index, batch) in input.execute()?.enumerate() {
                state.update(index, &batch?, &group_by, &aggregates, &stats)?;
            }
            state
        };
        let batch = state.finish(schema, &stats)?;
        Ok(Box::new(std::iter::once(Ok(batch))))
    }
}

/// Builds the accumulator for `aggregate`, choosing the loop by argument type.
pub fn create_accumulator(aggregate: &AggregateExpr) -> Result<Box<dyn GroupsAccumulator>> {
    if aggregate.is_ordered() {
        // DISTINCT included: the accumulator drops repeated values once they are sorted.
        return Ok(Box::new(ordered::Ordered::try_new(aggregate)?));
    }
    let arg_type = aggregate.arg.as_ref().map(|a| a.data_type());
    let unsupported = |dt: &DataType| {
        Err(Error::unsupported(format!(
            "{}() of {}",
            aggregate.func.name(),
            strata_storage::sql_type_name(dt)
        )))
    };
    if aggregate.distinct {
        return match (aggregate.func, &arg_type) {
            (AggregateFunction::Count, Some(dt)) => Ok(match dt {
                DataType::Int16 => Box::new(distinct::CountDistinctInt::<Int16Type>::default()),
                DataType::Int32 => Box::new(distinct::CountDistinctInt::<Int32Type>::default()),
                DataType::Int64 => Box::new(distinct::CountDistinctInt::<Int64Type>::default()),
                DataType::Date32 => Box::new(distinct::CountDistinctInt::<Date32Type>::default()),
                DataType::Timestamp(TimeUnit::Millisecond, None) => {
                    Box::new(distinct::CountDistinctInt::<TimestampMillisecondType>::default())
                }
                DataType::Utf8 => Box::new(distinct::CountDistinctString::default()),
                _ => Box::new(distinct::CountDistinct::try_new(dt.clone())?),
            }),
            (
                AggregateFunction::Min
                | AggregateFunction::Max
                | AggregateFunction::AnyValue
                | AggregateFunction::BoolAnd
                | AggregateFunction::BoolOr,
                _,
            ) => create_accumulator(&AggregateExpr {
                distinct: false,
                ..aggregate.clone()
            }),
            (_, Some(dt)) => {
                let inner = create_accumulator(&AggregateExpr {
                    distinct: false,
                    ..aggregate.clone()
                })?;
                Ok(Box::new(distinct::Distinct::try_new(dt.clone(), inner)?))
            }
            (_, None) => Err(Error::internal(format!(
                "{}(DISTINCT) without argument",
                aggregate.func.name()
            ))),
        };
    }
    let Some(dt) = arg_type else {
        return Ok(Box::new(sum::Count::default()));
    };
    Ok(match aggregate.func {
        AggregateFunction::Count => Box::new(sum::Count::default()),
        AggregateFunction::Sum => match dt {
            DataType::Int16 => Box::new(sum::SumInt::<Int16Type>::default()),
            DataType::Int32 => Box::new(sum::SumInt::<Int32Type>::default()),
            DataType::Int64 => Box::new(sum::SumInt::<Int64Type>::default()),
            DataType::Float32 => Box::new(sum::SumFloat::<Float32Type>::default()),
            DataType::Float64 => Box::new(sum::SumFloat::<Float64Type>::default()),
            DataType::Decimal128(_, s) => Box::new(sum::SumDecimal::new(s)),
            other => return unsupported(&other),
        },
        AggregateFunction::Avg => match dt {
            DataType::Int16 => Box::new(sum::Avg::<Int16Type>::default()),
            DataType::Int32 => Box::new(sum::Avg::<Int32Type>::default()),
            DataType::Int64 => Box::new(sum::Avg::<Int64Type>::default()),
            DataType::Float32 => Box::new(sum::Avg::<Float32Type>::default()),
            DataType::Float64 => Box::new(sum::Avg::<Float64Type>::default()),
            DataType::Decimal128(_, s) => Box::new(sum::AvgDecimal::new(s)),
            other => return unsupported(&other),
        },
        // Any value will do: the smallest is as good as the first and needs no new kernel.
        AggregateFunction::Min | AggregateFunction::AnyValue => min_max::min_max::<true>(dt)?,
        AggregateFunction::Max => min_max::min_max::<false>(dt)?,
        // On booleans false < true: AND is the minimum, OR the maximum.
        AggregateFunction::BoolAnd => min_max::min_max::<true>(dt)?,
        AggregateFunction::BoolOr => min_max::min_max::<false>(dt)?,
        AggregateFunction::ApproxCountDistinct => {
            Box::new(sketch::ApproxCountDistinct::try_new(dt)?)
        }
        AggregateFunction::ApproxPercentile | AggregateFunction::PercentileCont => {
            let fraction = aggregate.fraction.ok_or_else(|| {
                Error::internal(format!("{}() without a fraction", aggregate.func.name()))
            })?;
            if aggregate.func == AggregateFunction::ApproxPercentile {
                Box::new(sketch::ApproxPercentile::new(fraction))
            } else {
                Box::new(sketch::Percentile::new(fraction))
            }
        }
        AggregateFunction::StddevSamp
        | AggregateFunction::StddevPop
        | AggregateFunction::VarSamp
        | AggregateFunction::VarPop => {
            let kind = match aggregate.func {
                AggregateFunction::StddevSamp => variance::Spread::StddevSamp,
                AggregateFunction::StddevPop => variance::Spread::StddevPop,
                AggregateFunction::VarSamp => variance::Spread::VarSamp,
                _ => variance::Spread::VarPop,
            };
            match dt {
                DataType::Int16 => Box::new(variance::Variance::<Int16Type>::new(kind)),
                DataType::Int32 => Box::new(variance::Variance::<Int32Type>::new(kind)),
                DataType::Int64 => Box::new(variance::Variance::<Int64Type>::new(kind)),
                DataType::Float32 => Box::new(variance::Variance::<Float32Type>::new(kind)),
                DataType::Float64 => Box::new(variance::Variance::<Float64Type>::new(kind)),
                other => return unsupported(&other),
            }
        }
        AggregateFunction::PercentileDisc
        | AggregateFunction::Mode
        | AggregateFunction::StringAgg
        | AggregateFunction::ArrayAgg => Box::new(ordered::Ordered::try_new(aggregate)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray, Int32Array, Int64Array};

    fn accumulator(
        func: AggregateFunction,
        data_type: DataType,
        distinct: bool,
    ) -> Box<dyn GroupsAccumulator> {
        let arg = Some(Expr::column(0, "x", DataType::Int32));
        create_accumulator(&AggregateExpr {
            func,
            arg,
            distinct,
            filter: None,
            data_type,
            fraction: None,
            extra_args: vec![],
            order_by: vec![],
        })
        .unwrap()
    }

    /// Per-group results against a naive per-row computation.
    #[test]
    fn grouped_kernels_match_a_per_row_loop() {
        let values: ArrayRef = Arc::new(Int32Array::from(vec![
            Some(5),
            None,
            Some(-3),
            Some(5),
            Some(7),
            None,
        ]));
        let groups = [0, 1, 0, 0, 2, 2];
        let run = |func, dt, distinct| {
            let mut acc = accumulator(func, dt, distinct);
            // Two batches, as two segments would feed it.
            acc.update_batch(Some(&values.slice(0, 3)), &groups[..3], 2)
                .unwrap();
            acc.update_batch(Some(&values.slice(3, 3)), &groups[3..], 3)
                .unwrap();
            acc.evaluate(4).unwrap()
        };
        let count = run(AggregateFunction::Count, DataType::Int64, false);
        assert_eq!(
            count.as_primitive::<Int64Type>().iter().collect::<Vec<_>>(),
            [Some(3), Some(0), Some(1), Some(0)]
        );
        let sum = run(AggregateFunction::Sum, DataType::Int64, false);
        assert_eq!(
            sum.as_primitive::<Int64Type>().iter().collect::<Vec<_>>(),
            [Some(7), None, Some(7), None]
        );
        let min = run(AggregateFunction::Min, DataType::Int32, false);
        assert_eq!(
            min.as_primitive::<Int32Type>().iter().collect::<Vec<_>>(),
            [Some(-3), None, Some(7), None]
        );
        let max = run(AggregateFunction::Max, DataType::Int32, false);
        assert_eq!(
            max.as_primitive::<Int32Type>().iter().collect::<Vec<_>>(),
            [Some(5), None, Some(7), None]
        );
        let avg = run(AggregateFunction::Avg, DataType::Float64, false);
        let avg: Vec<_> = avg.as_primitive::<Float64Type>().iter().collect();
        assert_eq!(avg[1], None);
        assert!((avg[0].unwrap() - 7.0 / 3.0).abs() < 1e-12);
        let distinct = run(AggregateFunction::Count, DataType::Int64, true);
        assert_eq!(
            distinct
                .as_primitive::<Int64Type>()
                .iter()
                .collect::<Vec<_>>(),
            [Some(2), Some(0), Some(1), Some(0)]
        );
    }

    /// Welford's update against the two-pass formula, over two batches; DISTINCT sums once.
    #[test]
    fn variance_matches_the_two_pass_formula_and_distinct_sums_once() {
        let data = [4, 7, 13, 16, 7];
        let values: ArrayRef = Arc::new(Int32Array::from(data.to_vec()));
        let groups = [0usize; 5];
        let n = data.len() as f64;
        let mean = data.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let m2: f64 = data.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum();
        for (func, expected) in [
            (AggregateFunction::VarSamp, m2 / (n - 1.0)),
            (AggregateFunction::VarPop, m2 / n),
            (AggregateFunction::StddevSamp, (m2 / (n - 1.0)).sqrt()),
            (AggregateFunction::StddevPop, (m2 / n).sqrt()),
        ] {
            let mut acc = accumulator(func, DataType::Float64, false);
            acc.update_batch(Some(&values.slice(0, 2)), &groups[..2], 1)
                .unwrap();
            acc.update_batch(Some(&values.slice(2, 3)), &groups[2..], 2)
                .unwrap();
            let result = acc.evaluate(2).unwrap();
            let result = result.as_primitive::<Float64Type>();
            assert!((result.value(0) - expected).abs() < 1e-9, "{func:?}");
            assert!(result.is_null(1), "{func:?} of no values is NULL");
        }
        let mut sum = accumulator(AggregateFunction::Sum, DataType::Int64, true);
        sum.update_batch(Some(&values), &groups, 1).unwrap();
        let result = sum.evaluate(1).unwrap();
        assert_eq!(result.as_primitive::<Int64Type>().value(0), 40);
    }

    /// Two partial states over halves of the rows, merged with a group remapping, evaluate like
    /// one state over all rows, for every aggregate that merges.
    #[test]
    fn merged_partial_states_equal_one_state() {
        let data: Vec<Option<i32>> = (0..40)
            .map(|i| (i % 7 != 3).then_some((i * 37 % 23) - 11))
            .collect();
        let groups: Vec<usize> = (0..40).map(|i| (i * 5 % 6) as usize).collect();
        let values: ArrayRef = Arc::new(Int32Array::from(data));
        // The second worker saw the groups in another order: its group g is group (g + 2) % 6.
        let mapping: Vec<usize> = (0..6).map(|g| (g + 2) % 6).collect();
        let inverse: Vec<usize> = (0..6).map(|g| (g + 4) % 6).collect();
        let cases = [
            (AggregateFunction::Count, DataType::Int64, false),
            (AggregateFunction::Count, DataType::Int64, true),
            (AggregateFunction::Sum, DataType::Int64, false),
            (AggregateFunction::Avg, DataType::Float64, false),
            (AggregateFunction::Min, DataType::Int32, false),
            (AggregateFunction::Max, DataType::Int32, false),
            (AggregateFunction::VarSamp, DataType::Float64, false),
            (AggregateFunction::StddevPop, DataType::Float64, false),
        ];
        for (func, dt, distinct) in cases {
            let mut whole = accumulator(func, dt.clone(), distinct);
            assert!(whole.supports_merge(), "{func:?}");
            whole.update_batch(Some(&values), &groups, 6).unwrap();
            let expected = whole.evaluate(6).unwrap();

            let mut first = accumulator(func, dt.clone(), distinct);
            first
                .update_batch(Some(&values.slice(0, 25)), &groups[..25], 6)
                .unwrap();
            let mut second = accumulator(func, dt.clone(), distinct);
            let theirs: Vec<usize> = groups[25..].iter().map(|&g| inverse[g]).collect();
            second
                .update_batch(Some(&values.slice(25, 15)), &theirs, 6)
                .unwrap();
            first.merge(second, &mapping, 6).unwrap();
            let merged = first.evaluate(6).unwrap();
            if dt == DataType::Float64 {
                let (a, b) = (
                    expected.as_primitive::<Float64Type>(),
                    merged.as_primitive::<Float64Type>(),
                );
                for g in 0..6 {
                    assert_eq!(a.is_null(g), b.is_null(g), "{func:?} group {g}");
                    assert!((a.value(g) - b.value(g)).abs() < 1e-9, "{func:?} group {g}");
                }
            } else {
                assert_eq!(&expected, &merged, "{func:?} distinct={distinct}");
            }
        }
    }

    #[test]
    fn sum_of_bigints_that_overflows_is_an_error() {
        let mut acc = create_accumulator(&AggregateExpr {
            func: AggregateFunction::Sum,
            arg: Some(Expr::column(0, "x", DataType::Int64)),
            distinct: false,
            filter: None,
            data_type: DataType::Int64,
            fraction: None,
            extra_args: vec![],
            order_by: vec![],
        })
        .unwrap();
        let values: ArrayRef = Arc::new(Int64Array::from(vec![i64::MAX, 1]));
        let err = acc.update_batch(Some(&values), &[0, 0], 1).unwrap_err();
        assert_eq!(err.code(), "NUMERIC_OVERFLOW");
    }
}
