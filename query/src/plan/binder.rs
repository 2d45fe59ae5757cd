//! The binder: resolves names and types of a parsed statement and builds its [`Plan`].
//!
//! A `SELECT` becomes, bottom-up:
//!
//! ```text
//! Scan(table, all columns) | OneRow | the plan of a CTE or a subquery in FROM
//!   -> Join(left, right, equality keys, rest of ON)                     (per JOIN)
//!   -> Filter(WHERE)
//!   -> Aggregate(GROUP BY keys, aggregate calls) -> Filter(HAVING)      (aggregate queries)
//!   -> Window(window function calls)                                    (... OVER (...))
//!   -> Projection(select items + ORDER BY keys not in the select list)
//!   -> Aggregate(all columns)                                           (SELECT DISTINCT)
//!   -> Sort -> Limit
//!   -> Projection(drop the extra ORDER BY keys)
//! ```
//!
//! `a UNION ALL b` is a `Union` of the inputs, each cast to the column types they share
//! (`UNION` adds an `Aggregate` over every column); `WITH` binds each CTE once: a CTE read once
//! is inlined, one read more often is a [`LogicalPlan::Cte`] computed once when the statement
//! runs (`cte.rs`). Uncorrelated subqueries in expressions (`IN (SELECT ...)`, `(SELECT ...)`,
//! `EXISTS`) are [`Expr::Subquery`] references to the statement's subqueries
//! ([`Binder::take_subqueries`]), which the engine runs once, when the statement executes, and
//! replaces by their answer; correlated ones are decorrelated into joins (`subquery.rs`) that
//! WHERE or the select list put below themselves. Binding runs nothing.
//!
//! Names are resolved case-insensitively: an exact match wins, else a unique match ignoring
//! case. Types are coerced like PostgreSQL: numbers to the wider type, string literals to the
//! type they are compared with (`ts > '2024-01-01'`), NULL to whatever it meets.
//!
//! One module per concern, each importing only the ones listed below it:
//!
//! ```text
//! binder.rs      statements; a query's WITH, ORDER BY and LIMIT (this file)
//!   cte.rs       inlining the CTEs read once
//!   ddl.rs       CREATE TABLE, ALTER TABLE
//!   insert.rs    INSERT ... VALUES | SELECT
//!   setop.rs     UNION; ORDER BY over a set operation or a parenthesized query
//!   select.rs    SELECT: WHERE, GROUP BY, HAVING, ORDER BY, DISTINCT; LIMIT values
//!   grouping.rs  GROUP BY's grouping sets (ROLLUP, CUBE, GROUPING SETS), grouping()
//!   from.rs      tables, CTEs, subqueries in FROM, joins
//!   expr.rs      expressions
//!   subquery.rs  (SELECT ...), IN (SELECT ...), EXISTS in expressions (decorrelated to joins)
//!   correlated.rs  correlated subqueries no join rule covers: run per distinct outer value
//!   function.rs  scalar function calls      aggregate.rs  aggregate calls
//!   window.rs    OVER clauses, WINDOW definitions, frames, window function types
//!   postgres.rs  PostgreSQL's forms: ::regtype / ::regclass, LIKE ... ESCAPE, selects over
//!                the empty pg_catalog tables
//!   scope.rs     name resolution
//!   literal.rs   literals, intervals, type names, ORDER BY options
//!   context.rs   what the parts need from the statement (the Binder provides it)
//! ```
//!
//! The parts are handed the statement as a `context::Context`, not the
//! [`Binder`]: a nested query (a CTE, a subquery) recurses through it instead of importing
//! this file.

mod aggregate;
mod context;
mod correlated;
mod cte;
mod ddl;
mod delete;
mod expr;
mod from;
mod function;
mod grouping;
mod insert;
mod literal;
mod logic;
mod postgres;
mod scope;
mod select;
mod setop;
mod subquery;
mod window;

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use sqlparser::ast as sql;
use strata_storage::Storage;

use self::context::{Context, OuterResolver};
use self::from::rename_columns;
use self::scope::object_name;
use self::select::bind_limit;
use super::{CteScan, LogicalPlan, Plan};
use crate::error::{Error, Result};
use crate::expr::Expr;

/// Binds statements against the tables of one [`Storage`].
pub struct Binder<'a> {
    storage: &'a Storage,
    /// The common table expressions in scope (innermost last), already bound: name, id, plan.
    ctes: RefCell<Vec<(String, usize, Arc<LogicalPlan>)>>,
    /// The next CTE id.
    next_cte: Cell<usize>,
    /// For the correlated subquery being bound (innermost last): the names of its enclosing
    /// query.
    outer: RefCell<Vec<OuterResolver>>,
    /// The uncorrelated subqueries of expressions (`IN (SELECT ...)`, scalar subqueries,
    /// `EXISTS`), by [`Expr::Subquery`] id.
    subqueries: RefCell<Vec<LogicalPlan>>,
    /// `now()`: milliseconds since the epoch, one value for the whole statement.
    now_ms: i64,
    /// The session's `TimeZone` (`None`: UTC).
    time_zone: Option<crate::TimeZone>,
}

impl<'a> Binder<'a> {
    /// A binder over `storage`'s catalog.
    pub fn new(storage: &'a Storage) -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Binder {
            storage,
            ctes: RefCell::new(vec![]),
            next_cte: Cell::new(0),
            outer: RefCell::new(vec![]),
            subqueries: RefCell::new(vec![]),
            now_ms,
            time_zone: None,
        }
    }

    /// Binds under the session time zone `time_zone` (`None`: UTC): `date_trunc`,
    /// `extract` / `date_part` and `::date` read timestamps as local time there, and text
    /// without an offset and dates cast to TIMESTAMP are local times there.
    pub fn with_time_zone(mut self, time_zone: Option<crate::TimeZone>) -> Self {
        self.time_zone = time_zone;
        self
    }

    /// The uncorrelated subqueries of the statements bound so far, by [`Expr::Subquery`] id:
    /// the engine runs them once when the statement executes. Binding runs nothing.
    pub fn take_subqueries(&self) -> Vec<LogicalPlan> {
        std::mem::take(&mut *self.subqueries.borrow_mut())
    }

    /// Binds one statement. A CTE read only once (counting its uses in the statement's
    /// subqueries too) is inlined into its reader.
    pub fn bind_statement(&self, statement: &sql::Statement) -> Result<Plan> {
        // Casts of text and dates to TIMESTAMP read them in the session time zone.
        crate::expr::zoned_cast::with_session_zone(self.time_zone, || {
            self.bind_statement_in_zone(statement)
        })
    }

    fn bind_statement_in_zone(&self, statement: &sql::Statement) -> Result<Plan> {
        let mut plan = self.bind_statement_parts(statement)?;
        let mut subqueries = self.subqueries.borrow_mut();
        let mut plans: Vec<&mut LogicalPlan> = subqueries.iter_mut().collect();
        match &mut plan {
            Plan::Query(p) | Plan::Explain(p) | Plan::ExplainAnalyze(p) => plans.push(p),
            Plan::Insert(insert) => {
                if let super::InsertSource::Query(p) = &mut insert.source {
                    plans.push(p);
                }
            }
            _ => {}
        }
        cte::inline_single_use(plans)?;
        drop(subqueries);
        Ok(plan)
    }

    fn bind_statement_parts(&self, statement: &sql::Statement) -> Result<Plan> {
        match statement {
            sql::Statement::Query(query) => Ok(Plan::Query(self.bind_query(query)?)),
            sql::Statement::Explain {
                statement, analyze, ..
            } => match statement.as_ref() {
                sql::Statement::Query(query) if *analyze => {
                    Ok(Plan::ExplainAnalyze(self.bind_query(query)?))
                }
                sql::Statement::Query(query) => Ok(Plan::Explain(self.bind_query(query)?)),
                _ => Err(Error::unsupported(
                    "EXPLAIN is supported for SELECT queries only",
                )),
            },
            sql::Statement::CreateTable(create) => ddl::bind_create_table(create),
            sql::Statement::Insert(insert) => insert::bind_insert(self, insert),
            sql::Statement::Delete(delete) => delete::bind_delete(self, delete),
            sql::Statement::Drop {
                object_type,
                if_exists,
                names,
                ..
            } => {
                if *object_type != sql::ObjectType::Table {
                    return Err(Error::unsupported(format!(
                        "DROP {object_type}; only DROP TABLE"
                    )));
                }
                let [name] = names.as_slice() else {
                    return Err(Error::unsupported(
                        "dropping several tables at once; drop one per statement",
                    ));
                };
                Ok(Plan::DropTable {
                    name: object_name(name)?,
                    if_exists: *if_exists,
                })
            }
            sql::Statement::AlterTable(alter) => ddl::bind_alter_table(alter),
            sql::Statement::ShowTables { .. } => Ok(Plan::ShowTables),
            sql::Statement::Flush { tables, .. } => Ok(Plan::Flush {
                tables: tables
                    .iter()
                    .map(|t| {
                        t.0.last()
                            .and_then(|p| p.as_ident())
                            .map(|i| i.value.clone())
                            .unwrap_or_default()
                    })
                    .collect(),
            }),
            sql::Statement::ExplainTable { table_name, .. } => Ok(Plan::Describe {
                name: object_name(table_name)?,
            }),
            sql::Statement::ShowColumns { show_options, .. } => {
                match show_options
                    .show_in
                    .as_ref()
                    .and_then(|s| s.parent_name.as_ref())
                {
                    Some(name) => Ok(Plan::Describe {
                        name: object_name(name)?,
                    }),
                    None => Err(Error::InvalidArgument {
                        message: "SHOW COLUMNS needs a table: SHOW COLUMNS FROM <table>".into(),
                    }),
                }
            }
            other => {
                let text = other.to_string();
                let verb: String = text
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                Err(Error::unsupported(format!(
                    "statement \"{verb} ...\"; supported: SELECT, INSERT, CREATE TABLE, DROP TABLE, SHOW TABLES, DESCRIBE, EXPLAIN"
                )))
            }
        }
    }

    /// Binds a query (`[WITH ...] SELECT ... | query UNION [ALL] query`).
    pub fn bind_query(&self, query: &sql::Query) -> Result<LogicalPlan> {
        // The CTEs of this query are visible in it (and its subqueries) only.
        let ctes_before = self.ctes.borrow().len();
        let result = self.bind_query_in_scope(query);
        self.ctes.borrow_mut().truncate(ctes_before);
        result
    }

    fn bind_query_in_scope(&self, query: &sql::Query) -> Result<LogicalPlan> {
        if let Some(with) = &query.with {
            if with.recursive {
                return Err(Error::unsupported("WITH RECURSIVE"));
            }
            for cte in &with.cte_tables {
                if cte.from.is_some() {
                    return Err(Error::unsupported("WITH ... FROM"));
                }
                let plan = self.bind_query(&cte.query)?;
                let plan = rename_columns(plan, &cte.alias.columns)?;
                if subquery::reads_outer(&plan) {
                    return Err(Error::unsupported(
                        "a CTE that reads a column of the query enclosing its subquery; move the condition into the subquery's WHERE",
                    ));
                }
                let id = self.next_cte.get();
                self.next_cte.set(id + 1);
                self.ctes
                    .borrow_mut()
                    .push((cte.alias.name.value.clone(), id, Arc::new(plan)));
            }
        }
        if query.fetch.is_some() {
            return Err(Error::unsupported("FETCH FIRST; use LIMIT"));
        }
        let (skip, fetch) = bind_limit(query.limit_clause.as_ref())?;
        let order_by: &[sql::OrderByExpr] = match query.order_by.as_ref().map(|o| &o.kind) {
            None => &[],
            Some(sql::OrderByKind::Expressions(exprs)) => exprs,
            Some(sql::OrderByKind::All(_)) => return Err(Error::unsupported("ORDER BY ALL")),
        };
        let mut plan = match query.body.as_ref() {
            sql::SetExpr::Select(select) => select::bind_select(self, select, order_by)?,
            body => {
                let plan = setop::bind_set_expr(self, body)?;
                setop::order_output(self, plan, order_by)?
            }
        };
        if skip > 0 || fetch.is_some() {
            plan = LogicalPlan::Limit {
                input: Box::new(plan),
                skip,
                fetch,
            };
        }
        Ok(plan)
    }
}

/// The binding of a statement's parts reaches the statement through this.
impl Context for Binder<'_> {
    fn storage(&self) -> &Storage {
        self.storage
    }

    fn cte(&self, name: &str) -> Option<(String, LogicalPlan)> {
        self.ctes
            .borrow()
            .iter()
            .rev()
            .find(|(cte, _, _)| cte.eq_ignore_ascii_case(name))
            .map(|(cte, id, plan)| {
                let scan = LogicalPlan::Cte(CteScan {
                    id: *id,
                    name: cte.clone(),
                    plan: plan.clone(),
                    rows: None,
                });
                (cte.clone(), scan)
            })
    }

    fn bind_query(&self, query: &sql::Query) -> Result<LogicalPlan> {
        Binder::bind_query(self, query)
    }

    fn bind_correlated(&self, query: &sql::Query, outer: OuterResolver) -> Result<LogicalPlan> {
        self.outer.borrow_mut().push(outer);
        let result = Binder::bind_query(self, query);
        self.outer.borrow_mut().pop();
        result
    }

    fn outer_column(&self, idents: &[sql::Ident]) -> Option<Expr> {
        // The enclosing query first, then the queries around it, each level up adding
        // OUTER_LEVEL to the index.
        let resolvers = self.outer.borrow();
        for (level, resolve) in resolvers.iter().rev().enumerate() {
            if let Some(found) = resolve(idents) {
                return Some(match found {
                    Expr::OuterColumn {
                        index,
                        name,
                        data_type,
                    } => Expr::OuterColumn {
                        index: index + level * crate::expr::OUTER_LEVEL,
                        name,
                        data_type,
                    },
                    other => other,
                });
            }
        }
        None
    }

    fn add_subquery(&self, plan: LogicalPlan) -> usize {
        let mut subqueries = self.subqueries.borrow_mut();
        subqueries.push(plan);
        subqueries.len() - 1
    }

    fn now_ms(&self) -> i64 {
        self.now_ms
    }

    fn time_zone(&self) -> Option<crate::TimeZone> {
        self.time_zone
    }
}
