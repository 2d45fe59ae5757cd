//! Physical execution: operators (`...Exec`) that pull Arrow record batches from their input,
//! a batch at a time, and the planner that builds them from an optimized [`LogicalPlan`].
//!
//! Every operator works on whole batches with Arrow kernels (see [`eval`]); nothing dispatches
//! on a data type per row. Operators are iterators: [`LimitExec`] stops pulling once it has its
//! rows, so `SELECT * FROM t LIMIT 10` reads one batch. Execution is single-threaded for now;
//! the unit of work is a batch of the table snapshot, so splitting work by segment across cores
//! is a matter of running the lower part of the plan per segment and merging (the aggregate
//! accumulators keep per-group state that can be combined).

pub mod aggregate;
pub mod ddl;
pub mod eval;
mod filter;
mod function;
pub mod insert;
mod limit;
mod projection;
pub mod prune;
mod scan;
mod sort;

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use strata_storage::Storage;

pub use aggregate::AggregateExec;
pub use filter::FilterExec;
pub use limit::LimitExec;
pub use projection::{OneRowExec, ProjectionExec};
pub use scan::ScanExec;
pub use sort::SortExec;

use crate::error::{Error, Result};
use crate::plan::LogicalPlan;

/// The stream of batches an operator produces.
pub type BatchIter = Box<dyn Iterator<Item = Result<RecordBatch>>>;

/// Counters of one execution, shared by its operators.
#[derive(Debug, Default)]
pub struct ExecStats {
    /// Rows read from storage, before any filter.
    pub rows_scanned: AtomicU64,
    /// Segments read (at least one block).
    pub segments_scanned: AtomicU64,
    /// Segments skipped whole because their zone maps rule the filters out.
    pub segments_pruned: AtomicU64,
}

/// A physical operator.
pub trait ExecutionPlan: fmt::Debug {
    /// The operator name, e.g. `ScanExec`.
    fn name(&self) -> &'static str;
    /// A one-line description of the operator's parameters (for EXPLAIN).
    fn details(&self) -> String;
    /// The schema of every batch produced.
    fn schema(&self) -> SchemaRef;
    /// The inputs.
    fn children(&self) -> Vec<&dyn ExecutionPlan>;
    /// Starts the operator (and its inputs).
    fn execute(self: Box<Self>) -> Result<BatchIter>;
}

/// Prints a physical plan as an indented tree.
pub fn display_plan(plan: &dyn ExecutionPlan) -> String {
    fn walk(plan: &dyn ExecutionPlan, depth: usize, out: &mut String) {
        out.push_str(&format!(
            "{:indent$}{}: {}\n",
            "",
            plan.name(),
            plan.details(),
            indent = depth * 2
        ));
        for child in plan.children() {
            walk(child, depth + 1, out);
        }
    }
    let mut out = String::new();
    walk(plan, 0, &mut out);
    out
}

/// Builds the physical operators of an (optimized) logical plan. Tables are snapshotted here:
/// the query sees every row acknowledged before this call and none after.
pub fn create_physical_plan(
    plan: &LogicalPlan,
    storage: &Storage,
    stats: &Arc<ExecStats>,
) -> Result<Box<dyn ExecutionPlan>> {
    let input = |p: &LogicalPlan| create_physical_plan(p, storage, stats);
    Ok(match plan {
        LogicalPlan::Scan(scan) => {
            let table = storage.table(&scan.table)?;
            let snapshot = table.snapshot();
            let mut projection = Vec::with_capacity(scan.projection.len());
            for &i in &scan.projection {
                let field = scan
                    .table_schema
                    .fields()
                    .get(i)
                    .ok_or_else(|| Error::internal(format!("scan column #{i} out of range")))?;
                let index = snapshot.schema.index_of(field.name()).map_err(|_| {
                    Error::internal(format!(
                        "column {} vanished from table {}",
                        field.name(),
                        scan.table
                    ))
                })?;
                projection.push(index);
            }
            let schema = Arc::new(snapshot.schema.project(&projection)?);
            Box::new(ScanExec::new(
                scan.table.clone(),
                schema,
                snapshot.segments,
                scan.filters.clone(),
                stats.clone(),
            ))
        }
        LogicalPlan::OneRow => Box::new(OneRowExec),
        LogicalPlan::Filter {
            input: child,
            predicate,
        } => Box::new(FilterExec::new(input(child)?, predicate.clone())),
        LogicalPlan::Projection { .. } => {
            let LogicalPlan::Projection {
                input: child,
                exprs,
                ..
            } = plan
            else {
                return Err(Error::internal("unreachable"));
            };
            Box::new(ProjectionExec::new(
                input(child)?,
                exprs.clone(),
                plan.schema(),
            ))
        }
        LogicalPlan::Aggregate {
            input: child,
            group_by,
            aggregates,
            ..
        } => Box::new(AggregateExec::try_new(
            input(child)?,
            group_by.clone(),
            aggregates.clone(),
            plan.schema(),
        )?),
        LogicalPlan::Sort {
            input: child,
            keys,
            fetch,
        } => Box::new(SortExec::new(input(child)?, keys.clone(), *fetch)),
        LogicalPlan::Limit {
            input: child,
            skip,
            fetch,
        } => Box::new(LimitExec::new(input(child)?, *skip, *fetch)),
    })
}

/// Runs a physical plan to completion.
pub fn collect(plan: Box<dyn ExecutionPlan>) -> Result<Vec<RecordBatch>> {
    plan.execute()?.collect()
}
