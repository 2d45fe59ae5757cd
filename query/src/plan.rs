//! Logical plans: relational algebra over typed expressions.
//!
//! The [`binder`] turns a parsed statement into a [`Plan`]; for a query that is a tree of
//! [`LogicalPlan`] nodes, which the [`optimizer`](crate::optimizer) rewrites and the
//! [`exec`](crate::exec) planner turns into physical operators. Every expression of a node
//! references the columns of that node's input by index.

pub mod binder;

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use strata_storage::TableDef;

use crate::error::Result;
pub use crate::expr::SortKey;
use crate::expr::{AggregateExpr, Expr, WindowExpr};

mod kinds;
#[cfg(test)]
mod tests;

pub use kinds::{JoinKind, Series, SeriesValues, SetOpKind, MARK_COLUMN};

/// What a statement asks for.
#[derive(Debug)]
pub enum Plan {
    /// A query returning rows.
    Query(LogicalPlan),
    /// `EXPLAIN <query>`: print the plan instead of running it.
    Explain(LogicalPlan),
    /// `EXPLAIN ANALYZE <query>`: run the query, print the plan with the rows and time of
    /// every operator.
    ExplainAnalyze(LogicalPlan),
    /// `CREATE TABLE`
    CreateTable {
        /// The definition.
        def: TableDef,
        /// `IF NOT EXISTS` was given.
        if_not_exists: bool,
    },
    /// `ALTER TABLE t SET (ttl = '...', sort_key = '...')`
    AlterTable {
        /// The table.
        name: String,
        /// The new ttl (`Some(None)`: no retention), when given.
        ttl: Option<Option<i64>>,
        /// The new sort key, when given.
        sort_key: Option<Vec<String>>,
    },
    /// `DROP TABLE`
    DropTable {
        /// The table.
        name: String,
        /// `IF EXISTS` was given.
        if_exists: bool,
    },
    /// `INSERT INTO t ...`
    Insert(Insert),
    /// `DELETE FROM t [WHERE ...]`
    Delete(Delete),
    /// `SHOW TABLES`
    ShowTables,
    /// `FLUSH TABLE t [, ...]`: persist the live rows of the tables.
    Flush {
        /// The tables.
        tables: Vec<String>,
    },
    /// `DESCRIBE t`, `SHOW COLUMNS FROM t`
    Describe {
        /// The table.
        name: String,
    },
}

/// Where the inserted rows come from.
#[derive(Debug)]
pub enum InsertSource {
    /// `VALUES (...), (...)`: one constant expression per target column and row, already cast
    /// to the column type.
    Values(Vec<Vec<Expr>>),
    /// `SELECT ...` whose output columns have the target columns' types.
    Query(LogicalPlan),
}

/// A bound `DELETE`.
#[derive(Debug)]
pub struct Delete {
    /// The table name as stored.
    pub table: String,
    /// The rows to delete: those for which it is true, over the table's columns (by position
    /// in the table schema); `None`: every row.
    pub predicate: Option<Expr>,
}

/// A bound `INSERT`.
#[derive(Debug)]
pub struct Insert {
    /// The table name as stored.
    pub table: String,
    /// The table schema when the statement was planned.
    pub table_schema: SchemaRef,
    /// For each value of a row, the index of its column in `table_schema`.
    pub columns: Vec<usize>,
    /// The rows.
    pub source: InsertSource,
}

/// A read of one table.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The table name as stored.
    pub table: String,
    /// The table's full schema when the statement was planned.
    pub table_schema: SchemaRef,
    /// The indices (in `table_schema`) of the columns read, in output order.
    pub projection: Vec<usize>,
    /// Predicates (over the scan output) that every returned row satisfies; pushed down by the
    /// optimizer so that rows are dropped as soon as they are read.
    pub filters: Vec<Expr>,
    /// The table's row count when the statement was bound (`None`: unknown, e.g. a virtual
    /// table), for the optimizer's join order.
    pub rows_estimate: Option<usize>,
}

/// A common table expression that the statement reads more than once (PostgreSQL's
/// `MATERIALIZED`): its plan runs once, when the statement executes (before the plan is
/// optimized), and every reference reads the same rows from memory. A CTE read once is inlined
/// instead, so that filters reach its tables.
#[derive(Debug, Clone)]
pub struct CteScan {
    /// The CTE's id in the statement (every reference to one CTE has the same).
    pub id: usize,
    /// Its name (for EXPLAIN).
    pub name: String,
    /// Its plan.
    pub plan: Arc<LogicalPlan>,
    /// Its rows, once computed.
    pub rows: Option<Arc<Vec<RecordBatch>>>,
}

impl CteScan {
    /// The number of rows, once computed.
    pub fn row_count(&self) -> Option<usize> {
        self.rows
            .as_ref()
            .map(|rows| rows.iter().map(RecordBatch::num_rows).sum())
    }
}

/// A logical plan node.
#[derive(Debug, Clone)]
pub enum LogicalPlan {
    /// Reads a table.
    Scan(Scan),
    /// One row with no columns (`SELECT 1`).
    OneRow,
    /// `generate_series(...)` in FROM.
    Series(Series),
    /// A CTE read more than once.
    Cte(CteScan),
    /// Keeps the rows for which `predicate` is true (not false, not NULL).
    Filter {
        /// The input.
        input: Box<LogicalPlan>,
        /// A BOOLEAN expression.
        predicate: Expr,
    },
    /// Computes one column per expression.
    Projection {
        /// The input.
        input: Box<LogicalPlan>,
        /// The output columns.
        exprs: Vec<Expr>,
        /// Their names.
        names: Vec<String>,
    },
    /// Groups rows and aggregates each group. Output: the group keys, then the aggregates.
    Aggregate {
        /// The input.
        input: Box<LogicalPlan>,
        /// The group keys (none: one group, one output row even without input).
        group_by: Vec<Expr>,
        /// The aggregate calls.
        aggregates: Vec<AggregateExpr>,
        /// The output names: group keys, then aggregates.
        names: Vec<String>,
    },
    /// Orders rows.
    Sort {
        /// The input.
        input: Box<LogicalPlan>,
        /// The keys, most significant first.
        keys: Vec<SortKey>,
        /// Only the first `fetch` rows are needed (top-N), set by the optimizer.
        fetch: Option<usize>,
    },
    /// Skips `skip` rows, then returns at most `fetch`.
    Limit {
        /// The input.
        input: Box<LogicalPlan>,
        /// `OFFSET`
        skip: usize,
        /// `LIMIT`
        fetch: Option<usize>,
    },
    /// A join. Output: the left columns, then the right columns. With keys, a hash join;
    /// without, a nested loop over the right rows (a cross join when there is no filter either).
    Join {
        /// The left (probe) input: the big one, e.g. the fact table.
        left: Box<LogicalPlan>,
        /// The right (build) input, held in memory: the small one, e.g. a dimension table.
        right: Box<LogicalPlan>,
        /// INNER, LEFT, RIGHT or FULL.
        kind: JoinKind,
        /// The equality keys: (expression over the left input, expression over the right
        /// input), of one type per pair. A NULL key never matches.
        on: Vec<(Expr, Expr)>,
        /// The rest of the ON condition, over the joined columns (left, then right): a pair
        /// matches only when it is true.
        filter: Option<Expr>,
    },
    /// `INTERSECT [ALL]` / `EXCEPT [ALL]` of two inputs with the same column types. Rows compare
    /// as in `DISTINCT` (NULLs equal). Output: the left input's columns.
    SetOp {
        /// The left input.
        left: Box<LogicalPlan>,
        /// The right input, held in memory (hashed).
        right: Box<LogicalPlan>,
        /// INTERSECT or EXCEPT.
        op: SetOpKind,
        /// `ALL`: keep duplicates (INTERSECT ALL: min(m, n) copies of a row found m times on the
        /// left and n on the right; EXCEPT ALL: max(m - n, 0)); else each row once.
        all: bool,
    },
    /// `UNION ALL`: the rows of every input, which all have the same column types.
    Union {
        /// The inputs, in order.
        inputs: Vec<LogicalPlan>,
    },
    /// Computes window function calls. Output: the input columns, then one column per call.
    /// The rows are the input's (in some order).
    Window {
        /// The input.
        input: Box<LogicalPlan>,
        /// The calls.
        exprs: Vec<WindowExpr>,
        /// Their output names.
        names: Vec<String>,
    },
}

impl LogicalPlan {
    /// The schema of the rows the node produces.
    pub fn schema(&self) -> SchemaRef {
        match self {
            LogicalPlan::Scan(scan) => {
                let fields: Vec<Field> = scan
                    .projection
                    .iter()
                    .filter_map(|&i| {
                        scan.table_schema
                            .fields()
                            .get(i)
                            .map(|f| f.as_ref().clone())
                    })
                    .collect();
                Arc::new(Schema::new(fields))
            }
            LogicalPlan::OneRow => Arc::new(Schema::empty()),
            LogicalPlan::Cte(cte) => cte.plan.schema(),
            LogicalPlan::Filter { input, .. }
            | LogicalPlan::Sort { input, .. }
            | LogicalPlan::Limit { input, .. } => input.schema(),
            LogicalPlan::Projection {
                input,
                exprs,
                names,
            } => {
                let input_schema = input.schema();
                let fields: Vec<Field> = exprs
                    .iter()
                    .zip(names)
                    .map(|(e, name)| {
                        let nullable = match e {
                            Expr::Column { index, .. } => input_schema
                                .fields()
                                .get(*index)
                                .is_none_or(|f| f.is_nullable()),
                            _ => true,
                        };
                        Field::new(name, e.data_type(), nullable)
                    })
                    .collect();
                Arc::new(Schema::new(fields))
            }
            LogicalPlan::Aggregate {
                group_by,
                aggregates,
                names,
                ..
            } => {
                let types = group_by
                    .iter()
                    .map(Expr::data_type)
                    .chain(aggregates.iter().map(|a| a.data_type.clone()));
                let fields: Vec<Field> = types
                    .zip(names)
                    .map(|(dt, name)| Field::new(name, dt, true))
                    .collect();
                Arc::new(Schema::new(fields))
            }
            LogicalPlan::Join {
                left, right, kind, ..
            } => {
                let mut fields: Vec<Field> = left
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| {
                        let nullable = f.is_nullable() || kind.keeps_unmatched_right();
                        f.as_ref().clone().with_nullable(nullable)
                    })
                    .collect();
                if kind.outputs_right() {
                    fields.extend(right.schema().fields().iter().map(|f| {
                        let nullable = f.is_nullable() || kind.keeps_unmatched_left();
                        f.as_ref().clone().with_nullable(nullable)
                    }));
                } else {
                    fields.push(Field::new(MARK_COLUMN, DataType::Boolean, false));
                }
                Arc::new(Schema::new(fields))
            }
            LogicalPlan::SetOp { left, .. } => left.schema(),
            LogicalPlan::Series(series) => Arc::new(Schema::new(vec![Field::new(
                series.name.clone(),
                series.values.data_type(),
                false,
            )])),
            LogicalPlan::Window {
                input,
                exprs,
                names,
            } => {
                let mut fields: Vec<Field> = input
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone())
                    .collect();
                fields.extend(
                    exprs
                        .iter()
                        .zip(names)
                        .map(|(e, name)| Field::new(name, e.data_type.clone(), true)),
                );
                Arc::new(Schema::new(fields))
            }
            LogicalPlan::Union { inputs } => match inputs.first() {
                Some(first) => {
                    let fields: Vec<Field> = first
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| f.as_ref().clone().with_nullable(true))
                        .collect();
                    Arc::new(Schema::new(fields))
                }
                None => Arc::new(Schema::empty()),
            },
        }
    }

    /// The inputs of the node.
    pub fn inputs(&self) -> Vec<&LogicalPlan> {
        match self {
            LogicalPlan::Scan(_)
            | LogicalPlan::OneRow
            | LogicalPlan::Series(_)
            | LogicalPlan::Cte(_) => vec![],
            LogicalPlan::Filter { input, .. }
            | LogicalPlan::Projection { input, .. }
            | LogicalPlan::Aggregate { input, .. }
            | LogicalPlan::Sort { input, .. }
            | LogicalPlan::Limit { input, .. }
            | LogicalPlan::Window { input, .. } => vec![input],
            LogicalPlan::Join { left, right, .. } | LogicalPlan::SetOp { left, right, .. } => {
                vec![left, right]
            }
            LogicalPlan::Union { inputs } => inputs.iter().collect(),
        }
    }

    /// The expressions of the node itself (not of its inputs), in order: scan filters, the
    /// filter predicate, projections, group keys then each aggregate's argument and FILTER, sort
    /// keys, join keys (left, right) then the join filter, each window call's
    /// [`exprs`](WindowExpr::exprs). Every walk over expressions follows this order.
    pub fn exprs(&self) -> Vec<&Expr> {
        match self {
            LogicalPlan::Scan(scan) => scan.filters.iter().collect(),
            LogicalPlan::OneRow
            | LogicalPlan::Series(_)
            | LogicalPlan::Cte(_)
            | LogicalPlan::Limit { .. }
            | LogicalPlan::Union { .. }
            | LogicalPlan::SetOp { .. } => vec![],
            LogicalPlan::Filter { predicate, .. } => vec![predicate],
            LogicalPlan::Projection { exprs, .. } => exprs.iter().collect(),
            LogicalPlan::Aggregate {
                group_by,
                aggregates,
                ..
            } => group_by
                .iter()
                .chain(aggregates.iter().flat_map(AggregateExpr::exprs))
                .collect(),
            LogicalPlan::Sort { keys, .. } => keys.iter().map(|k| &k.expr).collect(),
            LogicalPlan::Join { on, filter, .. } => on
                .iter()
                .flat_map(|(l, r)| [l, r])
                .chain(filter.iter())
                .collect(),
            LogicalPlan::Window { exprs, .. } => exprs.iter().flat_map(WindowExpr::exprs).collect(),
        }
    }

    /// Rebuilds the node with every input replaced by `f(input)`, in order; its own
    /// expressions are kept. With [`LogicalPlan::map_exprs`], the one walk over a plan's
    /// structure: a rewrite matches the variants it changes and hands the rest to these.
    pub fn map_inputs(
        self,
        mut f: impl FnMut(LogicalPlan) -> Result<LogicalPlan>,
    ) -> Result<LogicalPlan> {
        let mut g = |input: Box<LogicalPlan>| f(*input).map(Box::new);
        Ok(match self {
            LogicalPlan::Scan(_)
            | LogicalPlan::OneRow
            | LogicalPlan::Series(_)
            | LogicalPlan::Cte(_) => self,
            LogicalPlan::Filter { input, predicate } => LogicalPlan::Filter {
                input: g(input)?,
                predicate,
            },
            LogicalPlan::Projection {
                input,
                exprs,
                names,
            } => LogicalPlan::Projection {
                input: g(input)?,
                exprs,
                names,
            },
            LogicalPlan::Aggregate {
                input,
                group_by,
                aggregates,
                names,
            } => LogicalPlan::Aggregate {
                input: g(input)?,
                group_by,
                aggregates,
                names,
            },
            LogicalPlan::Sort { input, keys, fetch } => LogicalPlan::Sort {
                input: g(input)?,
                keys,
                fetch,
            },
            LogicalPlan::Limit { input, skip, fetch } => LogicalPlan::Limit {
                input: g(input)?,
                skip,
                fetch,
            },
            LogicalPlan::Join {
                left,
                right,
                kind,
                on,
                filter,
            } => LogicalPlan::Join {
                left: g(left)?,
                right: g(right)?,
                kind,
                on,
                filter,
            },
            LogicalPlan::SetOp {
                left,
                right,
                op,
                all,
            } => LogicalPlan::SetOp {
                left: g(left)?,
                right: g(right)?,
                op,
                all,
            },
            LogicalPlan::Union { inputs } => LogicalPlan::Union {
                inputs: inputs.into_iter().map(f).collect::<Result<_>>()?,
            },
            LogicalPlan::Window {
                input,
                exprs,
                names,
            } => LogicalPlan::Window {
                input: g(input)?,
                exprs,
                names,
            },
        })
    }

    /// Rebuilds the node with every expression of its own replaced by `f(expr)`, in the order
    /// of [`LogicalPlan::exprs`]; its inputs are kept.
    pub fn map_exprs(self, mut f: impl FnMut(Expr) -> Result<Expr>) -> Result<LogicalPlan> {
        Ok(match self {
            LogicalPlan::Scan(mut scan) => {
                scan.filters = scan
                    .filters
                    .into_iter()
                    .map(&mut f)
                    .collect::<Result<_>>()?;
                LogicalPlan::Scan(scan)
            }
            LogicalPlan::OneRow
            | LogicalPlan::Series(_)
            | LogicalPlan::Cte(_)
            | LogicalPlan::Limit { .. }
            | LogicalPlan::Union { .. }
            | LogicalPlan::SetOp { .. } => self,
            LogicalPlan::Filter { input, predicate } => LogicalPlan::Filter {
                input,
                predicate: f(predicate)?,
            },
            LogicalPlan::Projection {
                input,
                exprs,
                names,
            } => LogicalPlan::Projection {
                input,
                exprs: exprs.into_iter().map(&mut f).collect::<Result<_>>()?,
                names,
            },
            LogicalPlan::Aggregate {
                input,
                group_by,
                aggregates,
                names,
            } => {
                let group_by = group_by.into_iter().map(&mut f).collect::<Result<_>>()?;
                let mut mapped = Vec::with_capacity(aggregates.len());
                for aggregate in aggregates {
                    mapped.push(aggregate.map_exprs(&mut f)?);
                }
                LogicalPlan::Aggregate {
                    input,
                    group_by,
                    aggregates: mapped,
                    names,
                }
            }
            LogicalPlan::Sort { input, keys, fetch } => {
                let mut mapped = Vec::with_capacity(keys.len());
                for mut key in keys {
                    key.expr = f(key.expr)?;
                    mapped.push(key);
                }
                LogicalPlan::Sort {
                    input,
                    keys: mapped,
                    fetch,
                }
            }
            LogicalPlan::Join {
                left,
                right,
                kind,
                on,
                filter,
            } => {
                let mut mapped = Vec::with_capacity(on.len());
                for (l, r) in on {
                    mapped.push((f(l)?, f(r)?));
                }
                LogicalPlan::Join {
                    left,
                    right,
                    kind,
                    on: mapped,
                    filter: filter.map(&mut f).transpose()?,
                }
            }
            LogicalPlan::Window {
                input,
                exprs,
                names,
            } => LogicalPlan::Window {
                input,
                exprs: exprs
                    .into_iter()
                    .map(|e| e.map_exprs(&mut f))
                    .collect::<Result<_>>()?,
                names,
            },
        })
    }

    fn fmt_node(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: fmt::Display>(items: &[T]) -> String {
            items
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
        match self {
            LogicalPlan::Scan(scan) => {
                let columns: Vec<&str> = scan
                    .projection
                    .iter()
                    .filter_map(|&i| scan.table_schema.fields().get(i).map(|f| f.name().as_str()))
                    .collect();
                write!(f, "Scan: {} columns=[{}]", scan.table, columns.join(", "))?;
                if !scan.filters.is_empty() {
                    write!(f, " filters=[{}]", list(&scan.filters))?;
                }
                Ok(())
            }
            LogicalPlan::OneRow => write!(f, "OneRow"),
            LogicalPlan::Cte(cte) => match cte.row_count() {
                Some(rows) => write!(f, "CteScan: {} #{} rows={rows}", cte.name, cte.id),
                None => write!(f, "CteScan: {} #{} (computed once)", cte.name, cte.id),
            },
            LogicalPlan::Filter { predicate, .. } => write!(f, "Filter: {predicate}"),
            LogicalPlan::Projection { exprs, names, .. } => {
                let items: Vec<String> = exprs
                    .iter()
                    .zip(names)
                    .map(|(e, n)| format!("{e} AS {n}"))
                    .collect();
                write!(f, "Projection: {}", items.join(", "))
            }
            LogicalPlan::Aggregate {
                group_by,
                aggregates,
                ..
            } => {
                write!(
                    f,
                    "Aggregate: group_by=[{}] aggregates=[{}]",
                    list(group_by),
                    list(aggregates)
                )
            }
            LogicalPlan::Sort { keys, fetch, .. } => {
                let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
                write!(f, "Sort: {}", keys.join(", "))?;
                if let Some(fetch) = fetch {
                    write!(f, " fetch={fetch}")?;
                }
                Ok(())
            }
            LogicalPlan::Limit { skip, fetch, .. } => match fetch {
                Some(fetch) => write!(f, "Limit: skip={skip} fetch={fetch}"),
                None => write!(f, "Limit: skip={skip}"),
            },
            LogicalPlan::Join {
                kind, on, filter, ..
            } => {
                let keys: Vec<String> = on.iter().map(|(l, r)| format!("{l} = {r}")).collect();
                write!(f, "Join: {} on=[{}]", kind.name(), keys.join(", "))?;
                if let Some(filter) = filter {
                    write!(f, " filter={filter}")?;
                }
                Ok(())
            }
            LogicalPlan::Union { .. } => write!(f, "Union: ALL"),
            LogicalPlan::Series(series) => write!(f, "Series: {:?}", series.values),
            LogicalPlan::SetOp { op, all, .. } => {
                write!(f, "SetOp: {}{}", op.name(), if *all { " ALL" } else { "" })
            }
            LogicalPlan::Window { exprs, names, .. } => {
                let items: Vec<String> = exprs
                    .iter()
                    .zip(names)
                    .map(|(e, n)| format!("{e} AS {n}"))
                    .collect();
                write!(f, "Window: {}", items.join(", "))
            }
        }
    }

    fn fmt_indent(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        write!(f, "{:indent$}", "", indent = depth * 2)?;
        self.fmt_node(f)?;
        writeln!(f)?;
        for input in self.inputs() {
            input.fmt_indent(f, depth + 1)?;
        }
        Ok(())
    }
}

/// Prints the plan as an indented tree, one node per line, inputs below their parent.
impl fmt::Display for LogicalPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_indent(f, 0)
    }
}
