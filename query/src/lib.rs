//! # strata-query: from SQL text to Arrow record batches
//!
//! A statement travels through four stages, each a module:
//!
//! ```text
//!   "SELECT region, count(*) FROM events WHERE ts > '2024-01-01' GROUP BY 1 ORDER BY 2 DESC LIMIT 3"
//!        |
//!        | parser     sqlparser, PostgreSQL dialect, exactly one statement
//!        v
//!   AST (sqlparser::ast::Statement)
//!        |
//!        | plan       the binder resolves tables and columns (exact name first, then a unique
//!        |            case-insensitive match), types every expression, coerces literals
//!        v            ('2024-01-01' becomes a TIMESTAMP) and picks PostgreSQL result types
//!   LogicalPlan       Limit(0, 3)
//!        |              Sort(count DESC)
//!        |                Projection(region, count)
//!        |                  Aggregate(group_by=[region], aggregates=[count(*)])
//!        |                    Filter(ts > TIMESTAMP '2024-01-01 00:00:00')
//!        |                      Scan(events, all columns)
//!        |
//!        | optimizer  constant folding, predicate pushdown into the scan, top-N (the sort
//!        v            keeps 3 rows), projection pushdown (the scan reads region and ts only)
//!   LogicalPlan       ... Scan(events, columns=[region, ts], filters=[ts > ...])
//!        |
//!        | exec       one physical operator per node (ScanExec, FilterExec, ProjectionExec,
//!        v            AggregateExec, WindowExec, SortExec, LimitExec, HashJoinExec, UnionExec), pulling
//!                     batches from its input
//!   PhysicalPlan
//!        |
//!        | execute    vectorized: Arrow kernels per batch, hash GROUP BY over row-encoded keys
//!        v
//!   Vec<RecordBatch> + QueryStats (rows scanned)  ->  QueryOutput
//! ```
//!
//! Under those stages, and used by them: [`expr`] (typed expressions, type coercion),
//! [`function`] (the scalar functions, one file per family), [`eval`] (vectorized evaluation and
//! constant folding) and [`kernel`] (Arrow kernels with SQL's semantics). No module imports one
//! above it; `docs/architecture.md` draws the floors.
//!
//! Tables are read through [`strata_storage::Table::snapshot`], taken when the physical plan is
//! built: a query sees every row acknowledged before it started and none after.
//!
//! DDL and catalog statements skip the plan stages: `CREATE TABLE` and `DROP TABLE` answer one
//! row in a `status` VARCHAR column (`table "t" created`); `SHOW TABLES` answers `table_name`;
//! `DESCRIBE t` (also `DESC t`, `SHOW COLUMNS FROM t`) answers `column_name`, `data_type`,
//! `is_nullable` ('YES'/'NO') and `is_time_column`. `EXPLAIN <query>` answers one `plan`
//! column: the optimized logical plan, then the physical plan.
//!
//! `INSERT INTO t [(columns)] VALUES ... | SELECT ...` binds the rows like a query, casts each
//! value to its column type (PostgreSQL's assignment casts), builds one record batch and appends
//! it to the table; it answers one BIGINT `count` row.
//!
//! `DELETE FROM t [WHERE ...]` binds the condition over the table's columns, evaluates it block
//! by block over the snapshot [`strata_storage::Table::begin_delete`] takes, and commits the row
//! ids where it is true as delete bitmaps (`exec::delete`); it answers one BIGINT `count` row.
//!
//! `EXPLAIN ANALYZE <query>` runs the query with every physical operator wrapped in an
//! [`AnalyzeExec`](exec::AnalyzeExec) and prints the plan with each operator's rows and time.
//!
//! The SQL surface: `SELECT` over a table, a CTE (`WITH`), a subquery in FROM, INNER and LEFT
//! equi-joins of those (hash joins: the right input is the build side), or nothing
//! (`SELECT 1 + 1`); `UNION [ALL]`; `*`, aliases, `WHERE`, `GROUP BY` (expression, select alias
//! or 1-based position), `HAVING`, `ORDER BY` (expression, alias or position; `ASC`/`DESC`,
//! `NULLS FIRST`/`LAST`), `LIMIT`/`OFFSET`, `DISTINCT`; operators `+ - * / % ||`, comparisons,
//! `IS [NOT] DISTINCT FROM`, `AND`/`OR`/`NOT`, `[NOT] IN (list)`, `[NOT] IN (SELECT ...)`,
//! scalar subqueries and `EXISTS` (uncorrelated: they run once, while the statement is bound),
//! `[NOT] BETWEEN`, `[NOT] LIKE`/`ILIKE`, `IS [NOT] NULL`, `CAST`/`::`, `CASE` (lazy: a branch
//! runs only over the rows that reach it); aggregates `count(*)`, `count`, `sum`, `min`, `max`,
//! `avg`, `stddev[_samp|_pop]`, `variance`/`var_samp`/`var_pop`, `any_value`,
//! `approx_count_distinct` (HyperLogLog), `approx_percentile`, `percentile_cont(p) WITHIN GROUP
//! (ORDER BY x)`, each with `DISTINCT` and `FILTER (WHERE ...)`; window functions (`row_number`,
//! `rank`, `dense_rank`, `percent_rank`, `cume_dist`, `ntile`, `lag`, `lead`, `first_value`,
//! `last_value`, `nth_value` and the aggregates `OVER (PARTITION BY ... ORDER BY ...
//! ROWS|RANGE|GROUPS ...)`, named `WINDOW` clauses); `timestamp +/- INTERVAL '...'`;
//! scalar functions `coalesce`, `nullif`, `abs`, `length`, `octet_length`, `lower`, `upper`,
//! `concat`, `substring`, `trim` and friends, `replace`, `strpos`/`position`, `starts_with`,
//! `regexp_replace`, `regexp_match`, `regexp_like`, `date_trunc`, `extract`/`date_part`,
//! `time_bucket`/`date_bin`, `to_timestamp`, `floor`/`ceil`, `now()` (one value per statement),
//! and the session functions PostgreSQL clients call (`version()`, `current_setting(...)`, ...:
//! [`pg_catalog`], which also registers the `information_schema` and `pg_catalog` tables). Not yet: RIGHT,
//! FULL and cross joins, correlated subqueries, `INTERSECT`/`EXCEPT`, window frame `EXCLUDE`.
//! `docs/sql.md` is the reference; the SQL test files in `tests/slt/` pin every construct
//! against DuckDB's answers.
//!
//! Semantics follow PostgreSQL: three-valued logic, integer overflow and division by zero are
//! errors, integer division truncates, `SUM` of integers is BIGINT, `AVG` is DOUBLE, NULLs sort
//! last ascending and first descending, and output columns are named like PostgreSQL names them
//! (`count`, `?column?`). Every [`Error`] has a stable [`code`](Error::code) and a
//! [`kind`](Error::kind) that tells the server whose fault it is.

#![forbid(unsafe_code)]

pub mod error;
pub mod eval;
pub mod exec;
pub mod expr;
pub mod function;
pub mod fuzzing;
pub mod kernel;
pub mod limits;
pub mod optimizer;
pub mod parser;
pub mod pg_catalog;
pub mod plan;
pub mod system;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use arrow::array::StringArray;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use strata_storage::Storage;

pub use error::{Error, ErrorKind, Result};

use exec::ExecStats;
pub use exec::{QueryLimits, QueryStats};
pub use limits::SqlLimits;
pub use parser::Parsed;
pub use parser::{required_access, Access};
use plan::binder::Binder;
use plan::Plan;

/// The answer to one statement.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    /// The schema of the result; every batch has it.
    pub schema: SchemaRef,
    /// The rows (possibly no batch at all).
    pub batches: Vec<RecordBatch>,
    /// What it cost.
    pub stats: QueryStats,
}

impl QueryOutput {
    /// The number of result rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    fn single(batch: RecordBatch) -> Self {
        QueryOutput {
            schema: batch.schema(),
            batches: vec![batch],
            stats: QueryStats::default(),
        }
    }
}

/// A statement's result being produced: its schema, then its batches as they are pulled.
///
/// An iterator of `Result<RecordBatch>`; pulling runs the physical plan one batch further on the
/// calling thread. Dropping it stops the query. [`QueryStream::stats`] is current at any time and
/// final once the iterator is exhausted.
pub struct QueryStream {
    /// The schema of every batch.
    pub schema: SchemaRef,
    batches: exec::BatchIter,
    stats: Option<Arc<ExecStats>>,
}

impl std::fmt::Debug for QueryStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStream")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl QueryStream {
    fn from_output(output: QueryOutput) -> QueryStream {
        let stats = ExecStats::default();
        stats
            .rows_scanned
            .store(output.stats.rows_scanned, Ordering::Relaxed);
        stats
            .segments_scanned
            .store(output.stats.segments_scanned, Ordering::Relaxed);
        stats
            .segments_pruned
            .store(output.stats.segments_pruned, Ordering::Relaxed);
        stats
            .bytes_scanned
            .store(output.stats.bytes_scanned, Ordering::Relaxed);
        QueryStream {
            schema: output.schema,
            batches: Box::new(output.batches.into_iter().map(Ok)),
            stats: Some(Arc::new(stats)),
        }
    }

    /// The counters so far (final once the stream is exhausted).
    pub fn stats(&self) -> QueryStats {
        self.stats
            .as_ref()
            .map(|s| s.snapshot())
            .unwrap_or_default()
    }

    /// Pulls every batch into a [`QueryOutput`].
    pub fn collect_output(mut self) -> Result<QueryOutput> {
        let batches = (&mut self.batches).collect::<Result<Vec<_>>>()?;
        Ok(QueryOutput {
            stats: self.stats(),
            schema: self.schema,
            batches,
        })
    }
}

impl Iterator for QueryStream {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.batches.next()
    }
}

/// Runs SQL statements against one [`Storage`].
#[derive(Debug, Clone)]
pub struct QueryEngine {
    storage: Arc<Storage>,
    sql_limits: SqlLimits,
}

impl QueryEngine {
    /// An engine over `storage`.
    pub fn new(storage: Arc<Storage>) -> Self {
        system::register(&storage);
        pg_catalog::register(&storage);
        QueryEngine {
            storage,
            sql_limits: SqlLimits::default(),
        }
    }

    /// The same engine with other statement limits (text size, expression depth).
    pub fn with_sql_limits(mut self, sql_limits: SqlLimits) -> Self {
        self.sql_limits = sql_limits;
        self
    }

    /// The statement limits in force.
    pub fn sql_limits(&self) -> &SqlLimits {
        &self.sql_limits
    }

    /// Parses one statement under this engine's [`SqlLimits`] (to check its
    /// [`required_access`] before [`QueryEngine::execute_statement`]).
    pub fn parse(&self, sql: &str) -> Result<Parsed> {
        parser::parse_with(sql, &self.sql_limits)
    }

    /// Parses, plans and runs one SQL statement, without limits.
    pub fn execute(&self, sql: &str) -> Result<QueryOutput> {
        self.execute_with(sql, &QueryLimits::default())
    }

    /// Parses, plans and runs one SQL statement under `limits` (time, memory, cancellation).
    pub fn execute_with(&self, sql: &str, limits: &QueryLimits) -> Result<QueryOutput> {
        self.execute_stream(sql, limits)?.collect_output()
    }

    /// Parses and plans one SQL statement under `limits` and starts it: a query's batches are
    /// produced one at a time as the caller pulls them from the returned [`QueryStream`] (on the
    /// caller's thread; scans may use worker threads, a bounded window ahead), so a large result
    /// never sits in memory whole. Other statements (DDL, INSERT, EXPLAIN) run to completion here
    /// and their small answer is streamed from memory.
    pub fn execute_stream(&self, sql: &str, limits: &QueryLimits) -> Result<QueryStream> {
        let statement = self.parse(sql)?;
        self.execute_statement(&statement, limits)
    }

    /// Like [`QueryEngine::execute_stream`] for a statement parsed already (to check its
    /// [`parser::required_access`] first).
    ///
    /// Binding and planning run on a stack grown to what the statement's text can need, under
    /// the engine's expression depth limit.
    pub fn execute_statement(
        &self,
        statement: &Parsed,
        limits: &QueryLimits,
    ) -> Result<QueryStream> {
        limits::with_stack_for(statement.text_len(), || {
            limits::with_depth_limit(self.sql_limits.max_expression_depth, || {
                self.execute_parsed(statement, limits)
            })
        })
    }

    fn execute_parsed(
        &self,
        statement: &sqlparser::ast::Statement,
        limits: &QueryLimits,
    ) -> Result<QueryStream> {
        // One clock for the statement and its subqueries.
        let deadline = limits.timeout.map(|t| std::time::Instant::now() + t);
        // Uncorrelated subqueries run while the statement is bound, under the same limits (each
        // with its own memory budget).
        let runner = |plan: plan::LogicalPlan| Ok(self.run_query(plan, limits, deadline)?.batches);
        let plan = Binder::new(&self.storage)
            .with_subquery_runner(&runner)
            .bind_statement(statement)?;
        match plan {
            Plan::Query(plan) => {
                let plan = optimizer::optimize(plan)?;
                let stats = Arc::new(ExecStats::with_deadline(limits.clone(), deadline));
                let physical = exec::create_physical_plan(&plan, &self.storage, &stats)?;
                let schema = physical.schema();
                let batches = physical.execute()?;
                Ok(QueryStream {
                    schema,
                    batches,
                    stats: Some(stats),
                })
            }
            other => Ok(QueryStream::from_output(
                self.run_plan(other, limits, deadline)?,
            )),
        }
    }

    fn run_plan(
        &self,
        plan: Plan,
        limits: &QueryLimits,
        deadline: Option<std::time::Instant>,
    ) -> Result<QueryOutput> {
        match plan {
            Plan::Query(plan) => self.run_query(plan, limits, deadline),
            Plan::Explain(plan) => self.explain(plan),
            Plan::ExplainAnalyze(plan) => self.explain_analyze(plan, limits, deadline),
            Plan::CreateTable { def, if_not_exists } => Ok(QueryOutput::single(
                exec::ddl::create_table(&self.storage, def, if_not_exists)?,
            )),
            Plan::AlterTable {
                name,
                ttl,
                sort_key,
            } => Ok(QueryOutput::single(exec::ddl::alter_table(
                &self.storage,
                &name,
                ttl,
                sort_key,
            )?)),
            Plan::DropTable { name, if_exists } => Ok(QueryOutput::single(exec::ddl::drop_table(
                &self.storage,
                &name,
                if_exists,
            )?)),
            Plan::Insert(insert) => Ok(QueryOutput::single(exec::insert::insert(
                &self.storage,
                insert,
                |plan| Ok(self.run_query(plan, limits, deadline)?.batches),
            )?)),
            Plan::Delete(delete) => Ok(QueryOutput::single(exec::delete::delete(
                &self.storage,
                delete,
                &ExecStats::with_deadline(limits.clone(), deadline),
            )?)),
            Plan::ShowTables => Ok(QueryOutput::single(exec::ddl::show_tables(&self.storage)?)),
            Plan::Flush { tables } => Ok(QueryOutput::single(exec::ddl::flush(
                &self.storage,
                &tables,
            )?)),
            Plan::Describe { name } => Ok(QueryOutput::single(exec::ddl::describe(
                &self.storage,
                &name,
            )?)),
        }
    }

    /// The schema of the rows `sql` would answer, without running it (the PostgreSQL wire
    /// protocol's Describe); `None` for statements that change something (DDL, `INSERT`,
    /// `FLUSH`), whose answer is known only once they ran. Uncorrelated subqueries run while the
    /// statement is bound, and `SHOW TABLES` / `DESCRIBE` (cheap, read-only) run.
    pub fn describe(&self, sql: &str) -> Result<Option<SchemaRef>> {
        let statement = self.parse(sql)?;
        limits::with_stack_for(statement.text_len(), || {
            limits::with_depth_limit(self.sql_limits.max_expression_depth, || {
                self.describe_parsed(&statement)
            })
        })
    }

    fn describe_parsed(&self, statement: &sqlparser::ast::Statement) -> Result<Option<SchemaRef>> {
        let limits = QueryLimits::default();
        let runner = |plan: plan::LogicalPlan| Ok(self.run_query(plan, &limits, None)?.batches);
        let plan = Binder::new(&self.storage)
            .with_subquery_runner(&runner)
            .bind_statement(statement)?;
        Ok(match plan {
            Plan::Query(plan) => Some(plan.schema()),
            Plan::Explain(_) | Plan::ExplainAnalyze(_) => {
                Some(Arc::new(Schema::new(vec![Field::new(
                    "plan",
                    DataType::Utf8,
                    false,
                )])))
            }
            Plan::ShowTables => Some(exec::ddl::show_tables(&self.storage)?.schema()),
            Plan::Describe { name } => Some(exec::ddl::describe(&self.storage, &name)?.schema()),
            Plan::CreateTable { .. }
            | Plan::AlterTable { .. }
            | Plan::DropTable { .. }
            | Plan::Insert(_)
            | Plan::Delete(_)
            | Plan::Flush { .. } => None,
        })
    }

    fn run_query(
        &self,
        plan: plan::LogicalPlan,
        limits: &QueryLimits,
        deadline: Option<std::time::Instant>,
    ) -> Result<QueryOutput> {
        let plan = optimizer::optimize(plan)?;
        let stats = Arc::new(ExecStats::with_deadline(limits.clone(), deadline));
        let physical = exec::create_physical_plan(&plan, &self.storage, &stats)?;
        let schema = physical.schema();
        let batches = exec::collect(physical)?;
        let stats = stats.snapshot();
        Ok(QueryOutput {
            schema,
            batches,
            stats,
        })
    }

    fn explain(&self, plan: plan::LogicalPlan) -> Result<QueryOutput> {
        let plan = optimizer::optimize(plan)?;
        let stats = Arc::new(ExecStats::default());
        let physical = exec::create_physical_plan(&plan, &self.storage, &stats)?;
        let text = format!(
            "logical plan:\n{plan}\nphysical plan:\n{}",
            exec::display_plan(physical.as_ref())
        );
        Ok(QueryOutput::single(plan_text(&text)?))
    }

    /// Runs the query with every operator instrumented, then prints the physical plan with the
    /// rows each operator produced and the time spent in it (including its inputs).
    fn explain_analyze(
        &self,
        plan: plan::LogicalPlan,
        limits: &QueryLimits,
        deadline: Option<std::time::Instant>,
    ) -> Result<QueryOutput> {
        let plan = optimizer::optimize(plan)?;
        let stats = Arc::new(ExecStats::with_deadline(limits.clone(), deadline));
        let mut metrics = vec![];
        let physical = exec::create_analyzed_plan(&plan, &self.storage, &stats, &mut metrics)?;
        let started = std::time::Instant::now();
        let rows: usize = exec::collect(physical)?
            .iter()
            .map(RecordBatch::num_rows)
            .sum();
        let elapsed = started.elapsed();
        let mut text = format!("logical plan:\n{plan}\nphysical plan (analyzed):\n");
        text.push_str(&exec::display_metrics(&metrics));
        text.push_str(&format!(
            "total: rows={rows} elapsed={:.3}ms rows_scanned={} segments_scanned={} segments_pruned={}\n",
            elapsed.as_secs_f64() * 1e3,
            stats.rows_scanned.load(Ordering::Relaxed),
            stats.segments_scanned.load(Ordering::Relaxed),
            stats.segments_pruned.load(Ordering::Relaxed),
        ));
        Ok(QueryOutput::single(plan_text(&text)?))
    }
}

/// One `plan` VARCHAR row per line of `text`.
fn plan_text(text: &str) -> Result<RecordBatch> {
    let lines: Vec<&str> = text.lines().collect();
    let schema = Arc::new(Schema::new(vec![Field::new("plan", DataType::Utf8, false)]));
    Ok(RecordBatch::try_new(
        schema,
        vec![Arc::new(StringArray::from(lines))],
    )?)
}

#[cfg(test)]
mod tests;
