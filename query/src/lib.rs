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
pub mod interval;
pub mod kernel;
pub mod limits;
pub mod optimizer;
pub mod parser;
pub mod pg_catalog;
pub mod plan;
mod statement;
pub mod system;
pub mod zoned;

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

/// A time zone of the IANA database (`chrono-tz`), for [`QueryLimits::time_zone`].
pub use chrono_tz::Tz as TimeZone;

/// The session time zone named `name` (`'Europe/Paris'`, `'UTC'`, case-insensitive as
/// PostgreSQL); `None` for UTC itself (Strata's default, under which nothing changes).
/// An unknown name is `INVALID_ARGUMENT`.
pub fn parse_time_zone(name: &str) -> Result<Option<TimeZone>> {
    let tz = function::zone::parse_zone(name.trim())
        .or_else(|_| name.trim().parse::<TimeZone>().map_err(|_| ()))
        .or_else(|_| {
            chrono_tz::TZ_VARIANTS
                .iter()
                .find(|z| z.name().eq_ignore_ascii_case(name.trim()))
                .copied()
                .ok_or(())
        })
        .map_err(|_| Error::InvalidArgument {
            message: format!(
                "invalid value for parameter \"TimeZone\": \"{name}\"; use an IANA name such as 'Europe/Paris' or 'UTC'"
            ),
        })?;
    Ok(match tz.name() {
        "UTC" | "Etc/UTC" | "Etc/UCT" | "UCT" | "Etc/Universal" | "Universal" | "Zulu"
        | "Etc/Zulu" | "GMT" | "Etc/GMT" | "Etc/GMT0" | "GMT0" | "Etc/GMT+0" | "Etc/GMT-0"
        | "GMT+0" | "GMT-0" | "Etc/Greenwich" | "Greenwich" => None,
        _ => Some(tz),
    })
}
pub use parser::{required_access, Access};
use plan::binder::Binder;
use plan::Plan;
use statement::StatementRun;

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
    /// For each table the query reads (by name): when the newest append its snapshot includes
    /// was acknowledged (epoch milliseconds; `None`: none since the server started).
    pub freshness: Vec<(String, Option<i64>)>,
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
            freshness: vec![],
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
        let binder = Binder::new(&self.storage).with_time_zone(limits.time_zone);
        let plan = binder.bind_statement(statement)?;
        // Uncorrelated subqueries and CTEs read twice run once, as the statement executes,
        // under the same limits (each with its own memory budget), in its snapshot.
        let run = StatementRun::new(binder.take_subqueries());
        match plan {
            Plan::Query(plan) => {
                let plan = self.resolve(plan, limits, deadline, &run)?;
                let plan = optimizer::optimize(plan)?;
                let stats = Arc::new(ExecStats::with_deadline(limits.clone(), deadline));
                let physical =
                    exec::create_physical_plan(&plan, &self.storage, run.snapshots(), &stats)?;
                let schema = physical.schema();
                let batches = physical.execute()?;
                let (schema, batches) = match limits.time_zone {
                    Some(tz) => zoned::label(schema, batches, tz),
                    None => (schema, batches),
                };
                Ok(QueryStream {
                    schema,
                    freshness: run.snapshots().freshness(),
                    batches,
                    stats: Some(stats),
                })
            }
            other => Ok(QueryStream::from_output(
                self.run_plan(other, limits, deadline, &run)?,
            )),
        }
    }

    fn run_plan(
        &self,
        plan: Plan,
        limits: &QueryLimits,
        deadline: Option<std::time::Instant>,
        run: &StatementRun,
    ) -> Result<QueryOutput> {
        match plan {
            Plan::Query(plan) => self.run_query(plan, limits, deadline, run),
            Plan::Explain(plan) => self.explain(plan, run),
            Plan::ExplainAnalyze(plan) => self.explain_analyze(plan, limits, deadline, run),
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
                |plan| Ok(self.run_query(plan, limits, deadline, run)?.batches),
            )?)),
            Plan::Delete(mut delete) => {
                // Its subqueries run first (in the statement's snapshot), then the condition is
                // evaluated over the delete's own snapshot.
                if let Some(predicate) = delete.predicate.take() {
                    let predicate = run.resolve_expr(predicate, &|plan, run| {
                        self.collect_held(plan, limits, deadline, run)
                    })?;
                    delete.predicate = Some(eval::fold_constants(predicate)?);
                }
                Ok(QueryOutput::single(exec::delete::delete(
                    &self.storage,
                    delete,
                    &ExecStats::with_deadline(limits.clone(), deadline),
                )?))
            }
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

    /// `plan` with the statement's subqueries and CTEs that it reads computed (see
    /// [`StatementRun::resolve`]).
    fn resolve(
        &self,
        plan: plan::LogicalPlan,
        limits: &QueryLimits,
        deadline: Option<std::time::Instant>,
        run: &StatementRun,
    ) -> Result<plan::LogicalPlan> {
        run.resolve(plan, &|plan, run| {
            self.collect_held(plan, limits, deadline, run)
        })
    }

    /// Runs a subquery or a CTE of the statement and keeps its rows: they count against the
    /// query memory limit, with the rows the statement holds already, as they are collected.
    fn collect_held(
        &self,
        plan: plan::LogicalPlan,
        limits: &QueryLimits,
        deadline: Option<std::time::Instant>,
        run: &StatementRun,
    ) -> Result<Vec<RecordBatch>> {
        let plan = self.resolve(plan, limits, deadline, run)?;
        let plan = optimizer::optimize(plan)?;
        let stats = Arc::new(ExecStats::with_deadline(limits.clone(), deadline));
        let physical = exec::create_physical_plan(&plan, &self.storage, run.snapshots(), &stats)?;
        let mut batches = vec![];
        let mut bytes = 0usize;
        for batch in physical.execute()? {
            let batch = batch?;
            bytes = bytes.saturating_add(batch.get_array_memory_size());
            run.check_held(bytes, limits.memory_limit_bytes)?;
            batches.push(batch);
        }
        run.hold(bytes);
        Ok(batches)
    }

    /// The schema of the rows `sql` would answer, without running it (the PostgreSQL wire
    /// protocol's Describe); `None` for statements that change something (DDL, `INSERT`,
    /// `FLUSH`), whose answer is known only once they ran. Nothing runs but `SHOW TABLES` /
    /// `DESCRIBE` (cheap, read-only): subqueries are not computed.
    pub fn describe(&self, sql: &str) -> Result<Option<SchemaRef>> {
        self.describe_in(sql, None)
    }

    /// [`QueryEngine::describe`] for a session whose `TimeZone` is `time_zone` (TIMESTAMP
    /// columns carry it, as [`QueryLimits::time_zone`] gives them).
    pub fn describe_in(&self, sql: &str, time_zone: Option<TimeZone>) -> Result<Option<SchemaRef>> {
        let statement = self.parse(sql)?;
        limits::with_stack_for(statement.text_len(), || {
            limits::with_depth_limit(self.sql_limits.max_expression_depth, || {
                self.describe_parsed(&statement, time_zone)
            })
        })
    }

    fn describe_parsed(
        &self,
        statement: &sqlparser::ast::Statement,
        time_zone: Option<TimeZone>,
    ) -> Result<Option<SchemaRef>> {
        let plan = Binder::new(&self.storage)
            .with_time_zone(time_zone)
            .bind_statement(statement)?;
        Ok(match plan {
            Plan::Query(plan) => Some(match time_zone {
                Some(tz) => zoned::schema(&plan.schema(), tz),
                None => plan.schema(),
            }),
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
        run: &StatementRun,
    ) -> Result<QueryOutput> {
        let plan = self.resolve(plan, limits, deadline, run)?;
        let plan = optimizer::optimize(plan)?;
        let stats = Arc::new(ExecStats::with_deadline(limits.clone(), deadline));
        let physical = exec::create_physical_plan(&plan, &self.storage, run.snapshots(), &stats)?;
        let schema = physical.schema();
        let batches = exec::collect(physical)?;
        let stats = stats.snapshot();
        Ok(QueryOutput {
            schema,
            batches,
            stats,
        })
    }

    /// Prints the plan without running anything: a subquery or a CTE read twice is printed
    /// after the query, by its id, as it would run.
    fn explain(&self, plan: plan::LogicalPlan, run: &StatementRun) -> Result<QueryOutput> {
        let mut ctes = vec![];
        collect_ctes(&plan, &mut ctes);
        let plan = optimizer::optimize(plan)?;
        let stats = Arc::new(ExecStats::default());
        let physical = exec::create_physical_plan(&plan, &self.storage, run.snapshots(), &stats)?;
        let mut text = format!(
            "logical plan:\n{plan}\nphysical plan:\n{}",
            exec::display_plan(physical.as_ref())
        );
        for (id, subquery) in run.subqueries().iter().enumerate() {
            collect_ctes(subquery, &mut ctes);
            let subquery = optimizer::optimize(subquery.clone())?;
            if statement::is_correlated(&subquery) {
                text.push_str(&format!(
                    "subquery #{id} (run once per distinct outer value, at most {} times):\n{subquery}",
                    statement::CORRELATED_RUNS_MAX
                ));
            } else {
                text.push_str(&format!("subquery #{id} (run once):\n{subquery}"));
            }
        }
        let mut i = 0;
        while let Some(cte) = ctes.get(i) {
            let body = cte.plan.as_ref().clone();
            collect_ctes(&body, &mut ctes);
            let body = optimizer::optimize(body)?;
            let (name, id) = (&ctes[i].name, ctes[i].id);
            text.push_str(&format!("cte {name} #{id} (computed once):\n{body}"));
            i += 1;
        }
        Ok(QueryOutput::single(plan_text(&text)?))
    }

    /// Runs the query with every operator instrumented, then prints the physical plan with the
    /// rows each operator produced and the time spent in it (including its inputs).
    fn explain_analyze(
        &self,
        plan: plan::LogicalPlan,
        limits: &QueryLimits,
        deadline: Option<std::time::Instant>,
        run: &StatementRun,
    ) -> Result<QueryOutput> {
        let plan = self.resolve(plan, limits, deadline, run)?;
        let plan = optimizer::optimize(plan)?;
        let stats = Arc::new(ExecStats::with_deadline(limits.clone(), deadline));
        let mut metrics = vec![];
        let physical = exec::create_analyzed_plan(
            &plan,
            &self.storage,
            run.snapshots(),
            &stats,
            &mut metrics,
        )?;
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

/// Adds the CTEs that `plan` reads (not those of their bodies) to `out`, once each.
#[recursive::recursive]
fn collect_ctes(plan: &plan::LogicalPlan, out: &mut Vec<plan::CteScan>) {
    if let plan::LogicalPlan::Cte(cte) = plan {
        if !out.iter().any(|c| c.id == cte.id) {
            out.push(cte.clone());
        }
        return;
    }
    for input in plan.inputs() {
        collect_ctes(input, out);
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
