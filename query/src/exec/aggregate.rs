//! [`AggregateExec`]: hash GROUP BY.
//!
//! Per input batch: the group keys are evaluated and encoded once with Arrow's
//! [`RowConverter`] (one comparable byte string per row); each key is looked up in a hash map
//! from key bytes to a dense group index, allocating only when a new group appears. Then every
//! accumulator consumes the whole batch given the vector of group indices, in a monomorphic loop
//! chosen once per query by argument type (see [`accumulator`]).
//!
//! With more than one query thread, and when every accumulator can merge partial states, the
//! batches are spread over that many aggregation workers, each building its own groups and
//! accumulators ([`Partial`]); the partial states merge into one at the end (group keys
//! re-interned, accumulator states combined group by group).

pub mod accumulator;
mod groups;
pub mod sketch;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use self::accumulator::{create_accumulator, GroupsAccumulator};
use self::groups::GroupTable;
use super::{BatchIter, ExecStats, ExecutionPlan};
use crate::error::{Error, Result};
use crate::eval::{evaluate_array, evaluate_predicate};
use crate::expr::{AggregateExpr, Expr};

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

    fn update(
        &mut self,
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
            let values = match &aggregate.arg {
                Some(arg) => Some(evaluate_array(arg, batch)?),
                None => None,
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

/// Aggregates `input` on `workers` threads: the calling thread pulls batches from the input (whose
/// scans run on their own workers) and hands each to whichever aggregation worker is free; every
/// worker builds a [`Partial`] state; the states merge at the end. The first error stops the
/// feeding and is returned.
fn aggregate_in_parallel(
    input: Box<dyn ExecutionPlan>,
    group_by: &[Expr],
    aggregates: &[AggregateExpr],
    stats: &ExecStats,
    workers: usize,
) -> Result<Partial> {
    let (sender, receiver) = std::sync::mpsc::sync_channel::<RecordBatch>(workers);
    let receiver = Mutex::new(receiver);
    let failed = AtomicBool::new(false);
    let batches = input.execute()?;
    let (fed, partials) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<Partial> {
                    let mut state = Partial::new(group_by, aggregates)?;
                    loop {
                        let next = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok(batch) = next else { break };
                        if let Err(e) = state.update(&batch, group_by, aggregates, stats) {
                            failed.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                    Ok(state)
                })
            })
            .collect();
        let mut fed: Result<()> = Ok(());
        for batch in batches {
            if failed.load(Ordering::Relaxed) {
                break;
            }
            match batch {
                Ok(batch) => {
                    if sender.send(batch).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    fed = Err(e);
                    break;
                }
            }
        }
        drop(sender);
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
            for batch in input.execute()? {
                state.update(&batch?, &group_by, &aggregates, &stats)?;
            }
            state
        };
        let batch = state.finish(schema, &stats)?;
        Ok(Box::new(std::iter::once(Ok(batch))))
    }
}
