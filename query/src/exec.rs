//! Physical execution: operators (`...Exec`) that pull Arrow record batches from their input,
//! a batch at a time, and the planner that builds them from an optimized [`LogicalPlan`].
//!
//! Every operator works on whole batches with Arrow kernels (see [`crate::eval`]); nothing dispatches
//! on a data type per row. Operators are iterators: [`LimitExec`] stops pulling once it has its
//! rows, so `SELECT * FROM t LIMIT 10` reads one batch. Execution is single-threaded for now;
//! the unit of work is a batch of the table snapshot, so splitting work by segment across cores
//! is a matter of running the lower part of the plan per segment and merging (the aggregate
//! accumulators keep per-group state that can be combined).

pub mod aggregate;
pub mod analyze;
mod cte;
pub mod ddl;
pub mod delete;
mod filter;
pub mod index;
pub mod insert;
mod join;
mod limit;
mod mark_join;
mod nested_loop;
mod parallel;
mod projection;
pub mod prune;
mod scan;
mod series;
mod setop;
mod sort;
pub mod topn;
mod union;
mod window;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use strata_storage::Storage;

pub use aggregate::AggregateExec;
pub use analyze::AnalyzeExec;
pub use cte::CteExec;
pub use filter::FilterExec;
pub use join::HashJoinExec;
pub use limit::LimitExec;
pub use mark_join::MarkJoinExec;
pub use nested_loop::NestedLoopJoinExec;
pub use projection::{OneRowExec, ProjectionExec};
pub use scan::ScanExec;
pub use series::SeriesExec;
pub use setop::SetOpExec;
pub use sort::SortExec;
pub use topn::TopNBound;
pub use union::UnionExec;
pub use window::WindowExec;

use crate::error::{Error, Result};
use crate::plan::{JoinKind, LogicalPlan};

/// The stream of batches an operator produces.
pub type BatchIter = Box<dyn Iterator<Item = Result<RecordBatch>>>;

/// The guard rails of one query: a time limit, a memory limit, a cancellation flag.
#[derive(Debug, Clone, Default)]
pub struct QueryLimits {
    /// The query fails with [`Error::Timeout`] once it has run this long.
    pub timeout: Option<std::time::Duration>,
    /// The query fails with [`Error::MemoryLimit`] once its grouping, distinct and sort state
    /// exceeds this many bytes (an estimate of what those operators hold).
    pub memory_limit_bytes: Option<usize>,
    /// Setting this flag cancels the query ([`Error::Cancelled`]).
    pub cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// How many threads a scan may use; `None` (or 0): one per core.
    pub threads: Option<usize>,
    /// The session's `TimeZone` (`None`: UTC): `date_trunc`, `extract` / `date_part` and
    /// `::date` read timestamps as local time there, and TIMESTAMP results carry it (Arrow
    /// `Timestamp(ms, zone)`, shown as local time with its offset). See
    /// [`crate::parse_time_zone`].
    pub time_zone: Option<crate::TimeZone>,
}

/// Counters of one statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Rows read from storage, before filtering.
    pub rows_scanned: u64,
    /// Segments read.
    pub segments_scanned: u64,
    /// Segments skipped whole by zone maps.
    pub segments_pruned: u64,
    /// Bytes of column data read from storage (decoded Arrow memory of the scanned columns,
    /// before filtering).
    pub bytes_scanned: u64,
}

/// Counters of one execution, shared by its operators, and its guard rails. Operators call
/// [`ExecStats::check`] once per batch and [`ExecStats::track_memory`] as their state grows, so a
/// cancelled, late or too large query stops within one batch.
#[derive(Debug, Default)]
pub struct ExecStats {
    limits: QueryLimits,
    deadline: Option<std::time::Instant>,
    memory_used: std::sync::atomic::AtomicUsize,
    /// Rows read from storage, before any filter (rows a bitmap index excluded are not read).
    pub rows_scanned: AtomicU64,
    /// Segments read (at least one block).
    pub segments_scanned: AtomicU64,
    /// Segments skipped whole because their zone maps or bitmap indexes rule the filters out.
    pub segments_pruned: AtomicU64,
    /// Bytes of column data read (the Arrow memory of the scanned batches, before filters).
    pub bytes_scanned: AtomicU64,
}

impl ExecStats {
    /// Counters for a query with `limits`; its clock starts now.
    pub fn new(limits: QueryLimits) -> ExecStats {
        let deadline = limits.timeout.map(|t| std::time::Instant::now() + t);
        ExecStats::with_deadline(limits, deadline)
    }

    /// Counters for a query with `limits` whose clock started earlier: it times out at
    /// `deadline` (the statement's, shared by its subqueries).
    pub fn with_deadline(limits: QueryLimits, deadline: Option<std::time::Instant>) -> ExecStats {
        ExecStats {
            limits,
            deadline,
            ..ExecStats::default()
        }
    }

    /// The counters as they are now.
    pub fn snapshot(&self) -> QueryStats {
        QueryStats {
            rows_scanned: self.rows_scanned.load(Ordering::Relaxed),
            segments_scanned: self.segments_scanned.load(Ordering::Relaxed),
            segments_pruned: self.segments_pruned.load(Ordering::Relaxed),
            bytes_scanned: self.bytes_scanned.load(Ordering::Relaxed),
        }
    }

    /// How many threads a scan may use.
    pub fn threads(&self) -> usize {
        match self.limits.threads {
            Some(n) if n > 0 => n,
            _ => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        }
    }

    /// Fails when the query was cancelled or ran out of time.
    pub fn check(&self) -> Result<()> {
        if let Some(cancel) = &self.limits.cancel {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
        }
        if let Some(deadline) = self.deadline {
            if std::time::Instant::now() >= deadline {
                let limit_ms = self
                    .limits
                    .timeout
                    .map(|t| t.as_millis() as u64)
                    .unwrap_or(0);
                return Err(Error::Timeout { limit_ms });
            }
        }
        Ok(())
    }

    /// Records that an operator's state went from `old` to `new` bytes; fails when the query's
    /// total exceeds its memory limit. Also checks cancellation and time.
    pub fn track_memory(&self, old: usize, new: usize) -> Result<()> {
        let used = if new >= old {
            self.memory_used.fetch_add(new - old, Ordering::Relaxed) + (new - old)
        } else {
            self.memory_used.fetch_sub(old - new, Ordering::Relaxed) - (old - new)
        };
        if let Some(limit) = self.limits.memory_limit_bytes {
            if used > limit {
                return Err(Error::MemoryLimit { limit_bytes: limit });
            }
        }
        self.check()
    }
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

/// The table snapshots of one statement: every scan of the statement (its subqueries and CTEs
/// included) reads the snapshot of its table taken when the first of them was planned.
#[derive(Debug, Default)]
pub struct Snapshots {
    tables: std::sync::Mutex<std::collections::HashMap<String, strata_storage::TableSnapshot>>,
}

impl Snapshots {
    /// For each table the statement read (by name, virtual tables left out): when the newest
    /// append its snapshot includes was acknowledged (epoch milliseconds; `None`: no append
    /// since the server started).
    pub fn freshness(&self) -> Vec<(String, Option<i64>)> {
        let tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(String, Option<i64>)> = tables
            .iter()
            .filter(|(name, _)| !name.contains('.'))
            .map(|(name, snapshot)| (name.clone(), snapshot.newest_ack_ms))
            .collect();
        out.sort();
        out
    }

    /// The snapshot of `table` (a user table, or a virtual one named `schema.name`).
    pub fn get(&self, storage: &Storage, table: &str) -> Result<strata_storage::TableSnapshot> {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(snapshot) = tables.get(table) {
            return Ok(snapshot.clone());
        }
        // The binder names a virtual table `schema.name`; user table names have no dot.
        let snapshot = match table.split_once('.') {
            Some((schema, name)) => crate::system::snapshot(storage, schema, name)?,
            None => storage.table(table)?.snapshot(),
        };
        tables.insert(table.to_string(), snapshot.clone());
        Ok(snapshot)
    }
}

/// Builds the physical operators of an (optimized) logical plan. Tables are snapshotted here
/// (or were, by an earlier plan of the same statement, in `snapshots`): the query sees every
/// row acknowledged before the snapshot and none after.
pub fn create_physical_plan(
    plan: &LogicalPlan,
    storage: &Storage,
    snapshots: &Snapshots,
    stats: &Arc<ExecStats>,
) -> Result<Box<dyn ExecutionPlan>> {
    build(plan, storage, snapshots, stats, &mut None, 0, None)
}

/// Like [`create_physical_plan`], with every operator wrapped in an [`AnalyzeExec`] that counts
/// its rows and time into `metrics` (one entry per operator, parents before their inputs).
pub fn create_analyzed_plan(
    plan: &LogicalPlan,
    storage: &Storage,
    snapshots: &Snapshots,
    stats: &Arc<ExecStats>,
    metrics: &mut Vec<OperatorMetrics>,
) -> Result<Box<dyn ExecutionPlan>> {
    let mut collected = Some(std::mem::take(metrics));
    let plan = build(plan, storage, snapshots, stats, &mut collected, 0, None);
    *metrics = collected.unwrap_or_default();
    plan
}

/// Prints the operators of an analyzed plan, indented, with their rows and time.
pub fn display_metrics(metrics: &[OperatorMetrics]) -> String {
    let mut out = String::new();
    for m in metrics {
        out.push_str(&format!(
            "{:indent$}{}: {} rows={} elapsed={:.3}ms\n",
            "",
            m.name,
            m.details,
            m.counters.rows.load(Ordering::Relaxed),
            m.counters.elapsed_ns.load(Ordering::Relaxed) as f64 / 1e6,
            indent = m.depth * 2
        ));
    }
    out
}

fn build(
    plan: &LogicalPlan,
    storage: &Storage,
    snapshots: &Snapshots,
    stats: &Arc<ExecStats>,
    metrics: &mut Option<Vec<OperatorMetrics>>,
    depth: usize,
    bound: Option<Arc<TopNBound>>,
) -> Result<Box<dyn ExecutionPlan>> {
    // Reserve this operator's line before its inputs add theirs.
    let slot = metrics.as_mut().map(|m| {
        m.push(OperatorMetrics::default());
        m.len() - 1
    });
    let operator = build_operator(plan, storage, snapshots, stats, metrics, depth, bound)?;
    Ok(match (slot, metrics.as_mut()) {
        (Some(slot), Some(all)) => {
            let counters = Arc::new(Counters::default());
            if let Some(entry) = all.get_mut(slot) {
                *entry = OperatorMetrics {
                    depth,
                    name: operator.name(),
                    details: operator.details(),
                    counters: counters.clone(),
                };
            }
            Box::new(analyze::AnalyzeExec::new(operator, counters))
        }
        _ => operator,
    })
}

/// The table column that column `index` of `plan` passes through unchanged from a scan, through
/// filters and plain column projections.
fn scan_column(plan: &LogicalPlan, index: usize) -> Option<String> {
    use crate::expr::Expr;
    match plan {
        LogicalPlan::Filter { input, .. } => scan_column(input, index),
        LogicalPlan::Projection { input, exprs, .. } => match exprs.get(index)? {
            Expr::Column { index, .. } => scan_column(input, *index),
            _ => None,
        },
        LogicalPlan::Scan(scan) => {
            let i = *scan.projection.get(index)?;
            Some(scan.table_schema.fields().get(i)?.name().clone())
        }
        _ => None,
    }
}

fn build_operator(
    plan: &LogicalPlan,
    storage: &Storage,
    snapshots: &Snapshots,
    stats: &Arc<ExecStats>,
    metrics: &mut Option<Vec<OperatorMetrics>>,
    depth: usize,
    bound: Option<Arc<TopNBound>>,
) -> Result<Box<dyn ExecutionPlan>> {
    // A top-N's bound goes down through filters and projections to the scan it skips blocks
    // of; every other operator's inputs get none.
    let passes = matches!(
        plan,
        LogicalPlan::Filter { .. } | LogicalPlan::Projection { .. }
    );
    let scan_bound = bound.clone();
    let mut input = |p: &LogicalPlan| {
        let bound = if passes { bound.clone() } else { None };
        build(p, storage, snapshots, stats, metrics, depth + 1, bound)
    };
    Ok(match plan {
        LogicalPlan::Scan(scan) => {
            let snapshot = snapshots.get(storage, &scan.table)?;
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
            let bound = scan_bound.filter(|b| schema.field_with_name(b.column()).is_ok());
            Box::new(ScanExec::try_new(
                scan.table.clone(),
                schema,
                snapshot.segments,
                scan.filters.clone(),
                stats.clone(),
                bound,
            )?)
        }
        LogicalPlan::OneRow => Box::new(OneRowExec),
        LogicalPlan::Cte(cte) => Box::new(CteExec::new(cte)),
        LogicalPlan::Series(series) => Box::new(SeriesExec::new(series.clone(), stats.clone())),
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
            stats.clone(),
        )?),
        LogicalPlan::Sort {
            input: child,
            keys,
            fetch,
        } => {
            // A top-N whose first key is a column read from a scan below: a dynamic filter.
            let bound = match (fetch, keys.first()) {
                (Some(_), Some(key)) => match &key.expr {
                    crate::expr::Expr::Column { index, .. } => {
                        scan_column(child, *index).map(|column| {
                            Arc::new(TopNBound::new(column, key.descending, key.nulls_first))
                        })
                    }
                    _ => None,
                },
                _ => None,
            };
            let child = build(
                child,
                storage,
                snapshots,
                stats,
                metrics,
                depth + 1,
                bound.clone(),
            )?;
            Box::new(SortExec::new(
                child,
                keys.clone(),
                *fetch,
                stats.clone(),
                bound,
            ))
        }
        LogicalPlan::Limit {
            input: child,
            skip,
            fetch,
        } => Box::new(LimitExec::new(input(child)?, *skip, *fetch)),
        LogicalPlan::Join {
            left,
            right,
            kind,
            on,
            filter,
        } => {
            let left = input(left)?;
            let right = input(right)?;
            if on.is_empty() {
                return Ok(Box::new(NestedLoopJoinExec::new(
                    left,
                    right,
                    *kind,
                    filter.clone(),
                    plan.schema(),
                    stats.clone(),
                )));
            }
            if *kind == JoinKind::Mark {
                return Ok(Box::new(MarkJoinExec::new(
                    left,
                    right,
                    on.clone(),
                    filter.clone(),
                    plan.schema(),
                    stats.clone(),
                )));
            }
            Box::new(HashJoinExec::try_new(
                left,
                right,
                *kind,
                on.clone(),
                filter.clone(),
                plan.schema(),
                stats.clone(),
            )?)
        }
        LogicalPlan::Window {
            input: child,
            exprs,
            ..
        } => Box::new(WindowExec::new(
            input(child)?,
            exprs.clone(),
            plan.schema(),
            stats.clone(),
        )),
        LogicalPlan::Union { inputs } => {
            let children = inputs.iter().map(&mut input).collect::<Result<Vec<_>>>()?;
            Box::new(UnionExec::new(children, plan.schema(), stats.clone()))
        }
        LogicalPlan::SetOp {
            left,
            right,
            op,
            all,
        } => {
            let left = input(left)?;
            let right = input(right)?;
            Box::new(SetOpExec::new(left, right, *op, *all, stats.clone()))
        }
    })
}

/// The rows and time of one operator of an analyzed plan.
#[derive(Debug, Default)]
pub struct OperatorMetrics {
    /// Depth in the plan tree (0: the root).
    pub depth: usize,
    /// The operator name.
    pub name: &'static str,
    /// Its parameters.
    pub details: String,
    /// What it did, filled in while the query runs.
    pub counters: Arc<Counters>,
}

/// Counters updated by an [`AnalyzeExec`].
#[derive(Debug, Default)]
pub struct Counters {
    /// Rows produced.
    pub rows: AtomicU64,
    /// Nanoseconds spent starting the operator and pulling its batches, inputs included.
    pub elapsed_ns: AtomicU64,
}

/// Runs a physical plan to completion.
pub fn collect(plan: Box<dyn ExecutionPlan>) -> Result<Vec<RecordBatch>> {
    plan.execute()?.collect()
}
