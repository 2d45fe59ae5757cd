//! Logical plans: relational algebra over typed expressions.
//!
//! The [`binder`] turns a parsed statement into a [`Plan`]; for a query that is a tree of
//! [`LogicalPlan`] nodes, which the [`optimizer`](crate::optimizer) rewrites and the
//! [`exec`](crate::exec) planner turns into physical operators. Every expression of a node
//! references the columns of that node's input by index.

pub mod binder;

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use strata_storage::TableDef;

use crate::expr::{AggregateExpr, Expr};

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

/// One key of an ORDER BY.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// The value sorted on.
    pub expr: Expr,
    /// `DESC`
    pub descending: bool,
    /// NULLs before values (PostgreSQL default: only for `DESC`).
    pub nulls_first: bool,
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} NULLS {}",
            self.expr,
            if self.descending { "DESC" } else { "ASC" },
            if self.nulls_first { "FIRST" } else { "LAST" }
        )
    }
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
}

/// The kind of a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// `[INNER] JOIN`: the pairs of rows that match.
    Inner,
    /// `LEFT [OUTER] JOIN`: the pairs that match, and every left row without a match, with
    /// NULLs for the right columns.
    Left,
}

impl JoinKind {
    /// The SQL spelling.
    pub fn name(self) -> &'static str {
        match self {
            JoinKind::Inner => "INNER",
            JoinKind::Left => "LEFT",
        }
    }
}

/// A logical plan node.
#[derive(Debug, Clone)]
pub enum LogicalPlan {
    /// Reads a table.
    Scan(Scan),
    /// One row with no columns (`SELECT 1`).
    OneRow,
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
    /// An equi-join. Output: the left columns, then the right columns.
    Join {
        /// The left (probe) input: the big one, e.g. the fact table.
        left: Box<LogicalPlan>,
        /// The right (build) input, held in memory: the small one, e.g. a dimension table.
        right: Box<LogicalPlan>,
        /// INNER or LEFT.
        kind: JoinKind,
        /// The equality keys: (expression over the left input, expression over the right
        /// input), of one type per pair. A NULL key never matches.
        on: Vec<(Expr, Expr)>,
        /// The rest of the ON condition, over the joined columns (left, then right): a pair
        /// matches only when it is true.
        filter: Option<Expr>,
    },
    /// `UNION ALL`: the rows of every input, which all have the same column types.
    Union {
        /// The inputs, in order.
        inputs: Vec<LogicalPlan>,
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
                    .map(|f| f.as_ref().clone())
                    .collect();
                fields.extend(right.schema().fields().iter().map(|f| {
                    let nullable = f.is_nullable() || *kind == JoinKind::Left;
                    f.as_ref().clone().with_nullable(nullable)
                }));
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
            LogicalPlan::Scan(_) | LogicalPlan::OneRow => vec![],
            LogicalPlan::Filter { input, .. }
            | LogicalPlan::Projection { input, .. }
            | LogicalPlan::Aggregate { input, .. }
            | LogicalPlan::Sort { input, .. }
            | LogicalPlan::Limit { input, .. } => vec![input],
            LogicalPlan::Join { left, right, .. } => vec![left, right],
            LogicalPlan::Union { inputs } => inputs.iter().collect(),
        }
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
