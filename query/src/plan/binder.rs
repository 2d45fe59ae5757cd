//! The binder: resolves names and types of a parsed statement and builds its [`Plan`].
//!
//! A `SELECT` becomes, bottom-up:
//!
//! ```text
//! Scan(table, all columns) | OneRow | the plan of a CTE or a subquery in FROM
//!   -> Join(left, right, equality keys, rest of ON)                     (per JOIN)
//!   -> Filter(WHERE)
//!   -> Aggregate(GROUP BY keys, aggregate calls) -> Filter(HAVING)      (aggregate queries)
//!   -> Projection(select items + ORDER BY keys not in the select list)
//!   -> Aggregate(all columns)                                           (SELECT DISTINCT)
//!   -> Sort -> Limit
//!   -> Projection(drop the extra ORDER BY keys)
//! ```
//!
//! `a UNION ALL b` is a `Union` of the inputs, each cast to the column types they share
//! (`UNION` adds an `Aggregate` over every column); `WITH` binds each CTE once and hands a copy
//! of its plan to every reference. Subqueries in expressions (`IN (SELECT ...)`, `(SELECT ...)`,
//! `EXISTS`) must be uncorrelated: the binder runs them once, with the engine's
//! [`SubqueryRunner`], and puts their answer in the plan as a literal or a hashed [`InSet`].
//!
//! Names are resolved case-insensitively: an exact match wins, else a unique match ignoring
//! case. Types are coerced like PostgreSQL: numbers to the wider type, string literals to the
//! type they are compared with (`ts > '2024-01-01'`), NULL to whatever it meets.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, NullArray, StringArray,
};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use sqlparser::ast as sql;
use strata_storage::{sql_type_name, Storage};

use super::{JoinKind, LogicalPlan, Plan, Scan, SortKey};
use crate::error::{Error, Result};
use crate::expr::{
    AggregateExpr, AggregateFunction, BinaryOp, DatePart, Expr, InSet, ScalarFunction, TrimSide,
    TruncUnit,
};
use crate::limits::DepthGuard;

/// Output name of a select item that is neither a column nor a function call (PostgreSQL's).
const ANONYMOUS_COLUMN: &str = "?column?";

/// Runs an uncorrelated subquery to completion (the engine's executor).
pub type SubqueryRunner<'a> = dyn Fn(LogicalPlan) -> Result<Vec<RecordBatch>> + 'a;

/// Binds statements against the tables of one [`Storage`].
pub struct Binder<'a> {
    storage: &'a Storage,
    /// The common table expressions in scope (innermost last), already bound.
    ctes: RefCell<Vec<(String, LogicalPlan)>>,
    /// Runs the subqueries of expressions (`IN (SELECT ...)`, scalar subqueries) once, while
    /// binding; without it they are an error.
    runner: Option<&'a SubqueryRunner<'a>>,
    /// `now()`: milliseconds since the epoch, one value for the whole statement.
    now_ms: i64,
}

/// The relation a column of a scope comes from, for qualified names (`t.x`, `alias.x`).
#[derive(Debug, Clone, Default)]
struct Relation {
    /// The table (or CTE) name.
    table: Option<String>,
    /// The alias given in FROM.
    alias: Option<String>,
}

impl Relation {
    fn matches(&self, qualifier: &str) -> bool {
        match &self.alias {
            // An alias hides the table name, as in PostgreSQL.
            Some(alias) => alias.eq_ignore_ascii_case(qualifier),
            None => self
                .table
                .as_ref()
                .is_some_and(|t| t.eq_ignore_ascii_case(qualifier)),
        }
    }
}

/// The columns an expression may reference: the output of FROM.
struct Scope<'s> {
    /// For every column, the relation it belongs to.
    relations: Vec<Relation>,
    /// The input columns.
    schema: SchemaRef,
    /// The binder, to bind and run subqueries (absent for `INSERT ... VALUES`).
    binder: Option<&'s Binder<'s>>,
}

/// Where aggregate calls are forbidden, for the error message; `None` allows them.
type AggContext = Option<&'static str>;

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
            runner: None,
            now_ms,
        }
    }

    /// Lets the binder run the uncorrelated subqueries of expressions with `runner`.
    pub fn with_subquery_runner(mut self, runner: &'a SubqueryRunner<'a>) -> Self {
        self.runner = Some(runner);
        self
    }

    /// The storage whose catalog names are resolved against.
    pub(crate) fn storage(&self) -> &Storage {
        self.storage
    }

    /// Binds one statement.
    pub fn bind_statement(&self, statement: &sql::Statement) -> Result<Plan> {
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
            sql::Statement::CreateTable(create) => super::ddl::bind_create_table(create),
            sql::Statement::Insert(insert) => self.bind_insert(insert),
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
            sql::Statement::AlterTable(alter) => super::ddl::bind_alter_table(alter),
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
                self.ctes
                    .borrow_mut()
                    .push((cte.alias.name.value.clone(), plan));
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
            sql::SetExpr::Select(select) => self.bind_select(select, order_by)?,
            body => {
                let plan = self.bind_set_expr(body)?;
                self.order_output(plan, order_by)?
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

    /// A query body: a SELECT, a parenthesized query, or `UNION [ALL]`.
    fn bind_set_expr(&self, body: &sql::SetExpr) -> Result<LogicalPlan> {
        match body {
            sql::SetExpr::Select(select) => self.bind_select(select, &[]),
            sql::SetExpr::Query(query) => self.bind_query(query),
            sql::SetExpr::SetOperation { .. } => self.bind_union_chain(body),
            other => Err(Error::unsupported(format!("query body {other}"))),
        }
    }

    /// `a UNION [ALL] b UNION [ALL] c ...`: left-deep in the AST, taken apart without
    /// recursion into one union node of all the branches, under one DISTINCT where the chain
    /// asks for it (`DISTINCT (x UNION y)` is `DISTINCT (DISTINCT x UNION y)`), so 5,000
    /// branches make a plan two nodes deep, not 5,000.
    fn bind_union_chain(&self, body: &sql::SetExpr) -> Result<LogicalPlan> {
        // The links from the top down, then the leftmost branch.
        let mut links = vec![];
        let mut leftmost = body;
        while let sql::SetExpr::SetOperation {
            left,
            op,
            set_quantifier,
            right,
        } = leftmost
        {
            if *op != sql::SetOperator::Union {
                return Err(Error::unsupported(format!(
                    "{op} (set operations); only UNION [ALL]"
                )));
            }
            let distinct = match set_quantifier {
                sql::SetQuantifier::All => false,
                sql::SetQuantifier::Distinct | sql::SetQuantifier::None => true,
                other => return Err(Error::unsupported(format!("UNION {other}"))),
            };
            links.push((distinct, right.as_ref()));
            leftmost = left.as_ref();
        }
        let mut inputs = vec![];
        let push = |inputs: &mut Vec<LogicalPlan>, plan: LogicalPlan| match plan {
            // A parenthesized `b UNION ALL c` is more inputs of the same node.
            LogicalPlan::Union { inputs: nested } => inputs.extend(nested),
            other => inputs.push(other),
        };
        push(&mut inputs, self.bind_set_expr(leftmost)?);
        let mut distinct_pending = false;
        for (distinct, right) in links.into_iter().rev() {
            if !distinct && distinct_pending {
                // `(x UNION y) UNION ALL z`: the DISTINCT applies to x and y only.
                let plan = distinct_rows(union_all(std::mem::take(&mut inputs))?);
                inputs.push(plan);
                distinct_pending = false;
            }
            push(&mut inputs, self.bind_set_expr(right)?);
            distinct_pending |= distinct;
        }
        let plan = union_all(inputs)?;
        Ok(if distinct_pending {
            distinct_rows(plan)
        } else {
            plan
        })
    }

    /// `ORDER BY` over the output of a set operation or parenthesized query: positions,
    /// output names, or expressions over the output columns.
    fn order_output(
        &self,
        plan: LogicalPlan,
        order_by: &[sql::OrderByExpr],
    ) -> Result<LogicalPlan> {
        if order_by.is_empty() {
            return Ok(plan);
        }
        let scope = Scope::of(plan.schema(), Relation::default(), Some(self));
        let items = scope.all_columns();
        let mut keys = vec![];
        for key in order_by {
            let expr = if let Some(position) = positional(&key.expr)? {
                select_item_at(&items, position, "ORDER BY")?.0.clone()
            } else {
                bind_expr(&key.expr, &scope, Some("ORDER BY"))?
            };
            let (descending, nulls_first) = sort_options(key)?;
            keys.push(SortKey {
                expr,
                descending,
                nulls_first,
            });
        }
        Ok(LogicalPlan::Sort {
            input: Box::new(plan),
            keys,
            fetch: None,
        })
    }

    fn bind_from(&self, from: &[sql::TableWithJoins]) -> Result<(LogicalPlan, Scope<'_>)> {
        match from {
            [] => Ok((
                LogicalPlan::OneRow,
                Scope::of(
                    Arc::new(arrow::datatypes::Schema::empty()),
                    Relation::default(),
                    Some(self),
                ),
            )),
            [table] => {
                let (mut plan, mut scope) = self.bind_table_factor(&table.relation)?;
                for join in &table.joins {
                    (plan, scope) = self.bind_join(plan, scope, join)?;
                }
                Ok((plan, scope))
            }
            _ => Err(Error::unsupported(
                "several tables in FROM separated by commas (a cross join); join them with JOIN ... ON a.x = b.y",
            )),
        }
    }

    /// A table, a CTE, a subquery in parentheses, or a parenthesized join.
    fn bind_table_factor(&self, factor: &sql::TableFactor) -> Result<(LogicalPlan, Scope<'_>)> {
        match factor {
            sql::TableFactor::Table {
                name, alias, args, ..
            } => {
                if args.is_some() {
                    return Err(Error::unsupported("table functions"));
                }
                if let Some(system) = virtual_table(self.storage, name)? {
                    let scope = Scope::of(
                        system.schema(),
                        Relation {
                            table: Some(
                                name.0
                                    .last()
                                    .and_then(|p| p.as_ident())
                                    .map_or_else(String::new, |i| i.value.clone()),
                            ),
                            alias: alias.as_ref().map(|a| a.name.value.clone()),
                        },
                        Some(self),
                    );
                    return Ok((system, scope));
                }
                let qualified = &name.0;
                let name = object_name(name)?;
                let cte = self
                    .ctes
                    .borrow()
                    .iter()
                    .rev()
                    .find(|(cte, _)| cte.eq_ignore_ascii_case(&name))
                    .map(|(cte, plan)| (cte.clone(), plan.clone()));
                let (plan, table) = match cte {
                    Some((cte, plan)) => (plan, cte),
                    None => {
                        // An unqualified name that is no user table may be a `pg_catalog` table,
                        // as PostgreSQL's search path implies.
                        match self.storage.table(&name) {
                            Ok(table) => {
                                let schema = table.def().schema;
                                let scan = Scan {
                                    table: table.name().to_string(),
                                    table_schema: schema.clone(),
                                    projection: (0..schema.fields().len()).collect(),
                                    filters: vec![],
                                };
                                (LogicalPlan::Scan(scan), table.name().to_string())
                            }
                            Err(e) => match self.storage.virtual_tables().get(PG_CATALOG, &name) {
                                Some(v) if qualified.len() == 1 => {
                                    (virtual_scan(PG_CATALOG, &name, v.schema()), name.clone())
                                }
                                _ => return Err(e.into()),
                            },
                        }
                    }
                };
                let plan = match alias {
                    Some(alias) => rename_columns(plan, &alias.columns)?,
                    None => plan,
                };
                let relation = Relation {
                    table: Some(table),
                    alias: alias.as_ref().map(|a| a.name.value.clone()),
                };
                let scope = Scope::of(plan.schema(), relation, Some(self));
                Ok((plan, scope))
            }
            sql::TableFactor::Derived {
                lateral,
                subquery,
                alias,
                ..
            } => {
                if *lateral {
                    return Err(Error::unsupported("LATERAL subqueries"));
                }
                let plan = self.bind_query(subquery)?;
                let plan = match alias {
                    Some(alias) => rename_columns(plan, &alias.columns)?,
                    None => plan,
                };
                let relation = Relation {
                    table: None,
                    alias: alias.as_ref().map(|a| a.name.value.clone()),
                };
                let scope = Scope::of(plan.schema(), relation, Some(self));
                Ok((plan, scope))
            }
            sql::TableFactor::NestedJoin {
                table_with_joins,
                alias: None,
            } => self.bind_from(std::slice::from_ref(table_with_joins.as_ref())),
            other => Err(Error::unsupported(format!(
                "FROM {other}; supported: tables, CTEs, (subqueries) and joins"
            ))),
        }
    }

    /// `left [INNER | LEFT] JOIN right ON ...`: the equalities between a left and a right
    /// expression become hash join keys, the rest a filter on the matched pairs.
    fn bind_join<'s>(
        &'s self,
        left: LogicalPlan,
        left_scope: Scope<'s>,
        join: &sql::Join,
    ) -> Result<(LogicalPlan, Scope<'s>)> {
        let (kind, constraint) = match &join.join_operator {
            sql::JoinOperator::Join(c) | sql::JoinOperator::Inner(c) => (JoinKind::Inner, c),
            sql::JoinOperator::Left(c) | sql::JoinOperator::LeftOuter(c) => (JoinKind::Left, c),
            _ => {
                return Err(Error::unsupported(
                    "this kind of join; supported: [INNER] JOIN and LEFT [OUTER] JOIN with ON",
                ))
            }
        };
        let on = match constraint {
            sql::JoinConstraint::On(on) => on,
            sql::JoinConstraint::Using(_) | sql::JoinConstraint::UsingAlias(..) => {
                return Err(Error::unsupported(
                    "JOIN ... USING; write JOIN ... ON a.x = b.x",
                ))
            }
            _ => {
                return Err(Error::unsupported(
                    "a JOIN without ON (a cross or natural join); write JOIN ... ON a.x = b.y",
                ))
            }
        };
        let (right, right_scope) = self.bind_table_factor(&join.relation)?;
        let left_len = left_scope.schema.fields().len();
        let scope = Scope::join(left_scope, right_scope, kind);
        let condition = expect_boolean(
            bind_expr(on, &scope, Some("JOIN conditions"))?,
            "JOIN ... ON",
        )?;
        // Which input an expression reads: Some(true) left only, Some(false) right only.
        let side = |e: &Expr| -> Option<bool> {
            let mut columns = vec![];
            e.collect_columns(&mut columns);
            if columns.is_empty() {
                None
            } else if columns.iter().all(|&c| c < left_len) {
                Some(true)
            } else if columns.iter().all(|&c| c >= left_len) {
                Some(false)
            } else {
                None
            }
        };
        let to_right: Vec<Option<usize>> = (0..scope.schema.fields().len())
            .map(|i| i.checked_sub(left_len))
            .collect();
        let mut keys = vec![];
        let mut rest: Option<Expr> = None;
        for conjunct in condition.split_conjunction() {
            if let Expr::Binary {
                op: BinaryOp::Eq,
                left: l,
                right: r,
            } = &conjunct
            {
                match (side(l), side(r)) {
                    (Some(true), Some(false)) => {
                        keys.push((
                            l.as_ref().clone(),
                            r.as_ref().clone().remap_columns(&to_right)?,
                        ));
                        continue;
                    }
                    (Some(false), Some(true)) => {
                        keys.push((
                            r.as_ref().clone(),
                            l.as_ref().clone().remap_columns(&to_right)?,
                        ));
                        continue;
                    }
                    _ => {}
                }
            }
            rest = Some(match rest {
                None => conjunct,
                Some(r) => r.binary(BinaryOp::And, conjunct),
            });
        }
        if keys.is_empty() {
            return Err(Error::unsupported(
                "a JOIN whose ON has no equality between a left and a right expression; Strata joins by hashing equal keys (ON a.x = b.y [AND ...])",
            ));
        }
        let plan = LogicalPlan::Join {
            left: Box::new(left),
            right: Box::new(right),
            kind,
            on: keys,
            filter: rest,
        };
        Ok((plan, scope))
    }

    fn bind_select(
        &self,
        select: &sql::Select,
        order_by: &[sql::OrderByExpr],
    ) -> Result<LogicalPlan> {
        if select.top.is_some() {
            return Err(Error::unsupported("TOP; use LIMIT"));
        }
        if select.into.is_some() {
            return Err(Error::unsupported("SELECT INTO"));
        }
        if !select.named_window.is_empty() || select.qualify.is_some() {
            return Err(Error::unsupported("window functions"));
        }
        let distinct = match &select.distinct {
            None | Some(sql::Distinct::All) => false,
            Some(sql::Distinct::Distinct) => true,
            Some(sql::Distinct::On(_)) => return Err(Error::unsupported("DISTINCT ON")),
        };
        let (mut plan, scope) = self.bind_from(&select.from)?;

        // WHERE
        if let Some(selection) = &select.selection {
            let predicate = bind_expr(selection, &scope, Some("WHERE"))?;
            let predicate = expect_boolean(predicate, "WHERE")?;
            plan = LogicalPlan::Filter {
                input: Box::new(plan),
                predicate,
            };
        }

        // Select items (aggregates allowed), with their output names.
        let mut items: Vec<(Expr, String)> = vec![];
        for item in &select.projection {
            match item {
                sql::SelectItem::UnnamedExpr(e) => {
                    items.push((bind_expr(e, &scope, None)?, output_name(e, &scope)));
                }
                sql::SelectItem::ExprWithAlias { expr, alias } => {
                    items.push((bind_expr(expr, &scope, None)?, alias.value.clone()));
                }
                sql::SelectItem::Wildcard(options) => {
                    if options.opt_exclude.is_some() || options.opt_except.is_some() {
                        return Err(Error::unsupported("SELECT * EXCLUDE/EXCEPT"));
                    }
                    items.extend(scope.all_columns());
                }
                sql::SelectItem::QualifiedWildcard(kind, _) => {
                    let qualifier = match kind {
                        sql::SelectItemQualifiedWildcardKind::ObjectName(name) => {
                            object_name(name)?
                        }
                        sql::SelectItemQualifiedWildcardKind::Expr(e) => e.to_string(),
                    };
                    if !scope.matches_qualifier(&qualifier) {
                        return Err(Error::TableNotFound { name: qualifier });
                    }
                    items.extend(scope.columns_where(|r| r.matches(&qualifier)));
                }
                sql::SelectItem::ExprWithAliases { .. } => {
                    return Err(Error::unsupported("several aliases for one select item"));
                }
            }
        }
        if items.is_empty() {
            return Err(Error::InvalidArgument {
                message: "SELECT needs at least one column".into(),
            });
        }

        // GROUP BY: an input expression, a select alias, or a 1-based select position.
        let group_asts: &[sql::Expr] = match &select.group_by {
            sql::GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs,
            _ => {
                return Err(Error::unsupported(
                    "GROUP BY ALL / ROLLUP / CUBE / GROUPING SETS",
                ))
            }
        };
        let mut group_by = vec![];
        for ast in group_asts {
            let expr = if let Some(position) = positional(ast)? {
                select_item_at(&items, position, "GROUP BY")?.0.clone()
            } else {
                match bind_expr(ast, &scope, Some("GROUP BY")) {
                    Ok(expr) => expr,
                    Err(err @ Error::ColumnNotFound { .. }) => match alias_of(ast, &items) {
                        Some(i) => items[i].0.clone(),
                        None => return Err(err),
                    },
                    Err(err) => return Err(err),
                }
            };
            if expr.contains_aggregate() {
                return Err(Error::InvalidArgument {
                    message: "aggregate functions are not allowed in GROUP BY".into(),
                });
            }
            if !group_by.contains(&expr) {
                group_by.push(expr);
            }
        }

        let having = match &select.having {
            Some(h) => Some(expect_boolean(bind_expr(h, &scope, None)?, "HAVING")?),
            None => None,
        };

        // ORDER BY: a select position, a select output name, or an expression over the input.
        enum OrderTarget {
            Item(usize),
            Extra(Expr),
        }
        let mut order_targets = vec![];
        for key in order_by {
            if key.with_fill.is_some() {
                return Err(Error::unsupported("ORDER BY ... WITH FILL"));
            }
            let target = if let Some(position) = positional(&key.expr)? {
                select_item_at(&items, position, "ORDER BY")?;
                OrderTarget::Item(position - 1)
            } else if let Some(i) = alias_of(&key.expr, &items) {
                OrderTarget::Item(i)
            } else {
                let expr = bind_expr(&key.expr, &scope, None)?;
                match items.iter().position(|(e, _)| *e == expr) {
                    Some(i) => OrderTarget::Item(i),
                    None => OrderTarget::Extra(expr),
                }
            };
            let (descending, nulls_first) = sort_options(key)?;
            order_targets.push((target, descending, nulls_first));
        }

        // Aggregate queries: compute groups and aggregates, then rewrite everything above the
        // Aggregate node to read its output.
        let is_aggregate = !group_by.is_empty()
            || having.is_some()
            || items.iter().any(|(e, _)| e.contains_aggregate())
            || order_targets
                .iter()
                .any(|(t, _, _)| matches!(t, OrderTarget::Extra(e) if e.contains_aggregate()));
        let mut having = having;
        if is_aggregate {
            let mut rewriter = AggregateRewriter {
                group_by: &group_by,
                aggregates: vec![],
            };
            for (expr, _) in items.iter_mut() {
                *expr = rewriter.rewrite(std::mem::replace(expr, Expr::Literal(null_literal())))?;
            }
            for (target, _, _) in order_targets.iter_mut() {
                if let OrderTarget::Extra(expr) = target {
                    *expr =
                        rewriter.rewrite(std::mem::replace(expr, Expr::Literal(null_literal())))?;
                }
            }
            if let Some(h) = having.take() {
                having = Some(rewriter.rewrite(h)?);
            }
            let aggregates = rewriter.aggregates;
            let names = group_by
                .iter()
                .map(|g| match g {
                    Expr::Column { name, .. } => name.clone(),
                    other => other.to_string(),
                })
                .chain(aggregates.iter().map(|a| a.func.name().to_string()))
                .collect();
            plan = LogicalPlan::Aggregate {
                input: Box::new(plan),
                group_by,
                aggregates,
                names,
            };
            if let Some(predicate) = having {
                plan = LogicalPlan::Filter {
                    input: Box::new(plan),
                    predicate,
                };
            }
        }

        // Projection: select items, then ORDER BY keys that are not select items.
        let visible = items.len();
        let mut exprs: Vec<Expr> = vec![];
        let mut names: Vec<String> = vec![];
        for (expr, name) in items {
            exprs.push(expr);
            names.push(name);
        }
        let mut keys = vec![];
        for (target, descending, nulls_first) in order_targets {
            let index = match target {
                OrderTarget::Item(i) => i,
                OrderTarget::Extra(expr) => {
                    if distinct {
                        return Err(Error::InvalidArgument {
                            message: "for SELECT DISTINCT, ORDER BY expressions must appear in the select list".into(),
                        });
                    }
                    exprs.push(expr);
                    names.push(format!("__order_{}", exprs.len()));
                    exprs.len() - 1
                }
            };
            let expr = Expr::column(index, names[index].clone(), exprs[index].data_type());
            keys.push(SortKey {
                expr,
                descending,
                nulls_first,
            });
        }
        plan = LogicalPlan::Projection {
            input: Box::new(plan),
            exprs,
            names: names.clone(),
        };

        if distinct {
            plan = distinct_rows(plan);
        }
        if !keys.is_empty() {
            plan = LogicalPlan::Sort {
                input: Box::new(plan),
                keys,
                fetch: None,
            };
        }
        if names.len() > visible {
            let schema = plan.schema();
            let exprs = (0..visible)
                .map(|i| Expr::column(i, names[i].clone(), schema.field(i).data_type().clone()))
                .collect();
            names.truncate(visible);
            plan = LogicalPlan::Projection {
                input: Box::new(plan),
                exprs,
                names,
            };
        }
        Ok(plan)
    }
}

/// Replaces group keys and aggregate calls by columns of the Aggregate output; any other column
/// reference is an error (it is neither grouped nor aggregated).
struct AggregateRewriter<'g> {
    group_by: &'g [Expr],
    aggregates: Vec<AggregateExpr>,
}

impl AggregateRewriter<'_> {
    fn rewrite(&mut self, expr: Expr) -> Result<Expr> {
        if let Some(i) = self.group_by.iter().position(|g| *g == expr) {
            let name = match &expr {
                Expr::Column { name, .. } => name.clone(),
                other => other.to_string(),
            };
            return Ok(Expr::column(i, name, expr.data_type()));
        }
        match expr {
            Expr::Aggregate(agg) => {
                let agg = *agg;
                let i = match self.aggregates.iter().position(|a| *a == agg) {
                    Some(i) => i,
                    None => {
                        self.aggregates.push(agg.clone());
                        self.aggregates.len() - 1
                    }
                };
                Ok(Expr::column(
                    self.group_by.len() + i,
                    agg.func.name(),
                    agg.data_type,
                ))
            }
            Expr::Column { name, .. } => Err(Error::NotGrouped { name }),
            other => other.map_children(|c| self.rewrite(c)),
        }
    }
}

impl<'s> Scope<'s> {
    /// The columns of `schema`, all from `relation`.
    fn of(schema: SchemaRef, relation: Relation, binder: Option<&'s Binder<'s>>) -> Self {
        Scope {
            relations: vec![relation; schema.fields().len()],
            schema,
            binder,
        }
    }

    /// The columns of a join: the left ones, then the right ones (nullable for a LEFT join).
    fn join(left: Scope<'s>, right: Scope<'s>, kind: JoinKind) -> Self {
        let mut fields: Vec<arrow::datatypes::Field> = left
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.extend(right.schema.fields().iter().map(|f| {
            let nullable = f.is_nullable() || kind == JoinKind::Left;
            f.as_ref().clone().with_nullable(nullable)
        }));
        let mut relations = left.relations;
        relations.extend(right.relations);
        Scope {
            relations,
            schema: Arc::new(arrow::datatypes::Schema::new(fields)),
            binder: left.binder.or(right.binder),
        }
    }

    /// The table searched, for messages: the one table of the scope, if there is one.
    fn table(&self) -> Option<String> {
        let first = self.relations.first()?.table.clone()?;
        self.relations
            .iter()
            .all(|r| r.table.as_deref() == Some(first.as_str()))
            .then_some(first)
    }

    fn column_names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn all_columns(&self) -> Vec<(Expr, String)> {
        self.columns_where(|_| true)
    }

    fn columns_where(&self, keep: impl Fn(&Relation) -> bool) -> Vec<(Expr, String)> {
        self.schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(i, _)| self.relations.get(*i).is_some_and(&keep))
            .map(|(i, f)| {
                (
                    Expr::column(i, f.name().clone(), f.data_type().clone()),
                    f.name().clone(),
                )
            })
            .collect()
    }

    fn matches_qualifier(&self, qualifier: &str) -> bool {
        self.relations.iter().any(|r| r.matches(qualifier))
    }

    /// Finds a column: an exact match, else a unique case-insensitive one.
    fn resolve(&self, name: &str) -> Result<Expr> {
        self.resolve_where(name, |_| true)
    }

    /// Finds a column among those whose relation passes `keep`.
    fn resolve_where(&self, name: &str, keep: impl Fn(&Relation) -> bool) -> Result<Expr> {
        let fields = self.schema.fields();
        let candidates: Vec<usize> = (0..fields.len())
            .filter(|&i| self.relations.get(i).is_some_and(&keep))
            .collect();
        let exact: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| fields[i].name() == name)
            .collect();
        let matches = if exact.is_empty() {
            candidates
                .iter()
                .copied()
                .filter(|&i| fields[i].name().eq_ignore_ascii_case(name))
                .collect()
        } else {
            exact
        };
        let found = match matches.as_slice() {
            [i] => *i,
            [] => {
                return Err(Error::ColumnNotFound {
                    name: name.to_string(),
                    table: self.table(),
                    candidates: self.column_names(),
                })
            }
            many => {
                return Err(Error::AmbiguousColumn {
                    name: name.to_string(),
                    matches: many
                        .iter()
                        .map(|&i| {
                            let r = &self.relations[i];
                            match r.alias.as_ref().or(r.table.as_ref()) {
                                Some(q) => format!("{q}.{}", fields[i].name()),
                                None => fields[i].name().clone(),
                            }
                        })
                        .collect(),
                })
            }
        };
        let field = &fields[found];
        Ok(Expr::column(
            found,
            field.name().clone(),
            field.data_type().clone(),
        ))
    }

    fn resolve_compound(&self, idents: &[sql::Ident]) -> Result<Expr> {
        match idents {
            [column] => self.resolve(&column.value),
            [qualifier, column] => {
                if self.matches_qualifier(&qualifier.value) {
                    self.resolve_where(&column.value, |r| r.matches(&qualifier.value))
                } else {
                    Err(Error::TableNotFound {
                        name: qualifier.value.clone(),
                    })
                }
            }
            _ => Err(Error::unsupported(format!(
                "qualified name {}",
                idents
                    .iter()
                    .map(|i| i.value.as_str())
                    .collect::<Vec<_>>()
                    .join(".")
            ))),
        }
    }
}

/// Renames the first output columns of `plan` (`AS t(a, b)`, `WITH t(a, b) AS ...`).
fn rename_columns(plan: LogicalPlan, columns: &[sql::TableAliasColumnDef]) -> Result<LogicalPlan> {
    if columns.is_empty() {
        return Ok(plan);
    }
    let schema = plan.schema();
    if columns.len() > schema.fields().len() {
        return Err(Error::InvalidArgument {
            message: format!(
                "{} column names given for a relation of {} column(s)",
                columns.len(),
                schema.fields().len()
            ),
        });
    }
    let mut exprs = vec![];
    let mut names = vec![];
    for (i, field) in schema.fields().iter().enumerate() {
        exprs.push(Expr::column(
            i,
            field.name().clone(),
            field.data_type().clone(),
        ));
        names.push(match columns.get(i) {
            Some(c) => c.name.value.clone(),
            None => field.name().clone(),
        });
    }
    Ok(LogicalPlan::Projection {
        input: Box::new(plan),
        exprs,
        names,
    })
}

/// The rows of `inputs` one after the other, every column cast to the type all inputs share.
fn union_all(inputs: Vec<LogicalPlan>) -> Result<LogicalPlan> {
    let schemas: Vec<SchemaRef> = inputs.iter().map(LogicalPlan::schema).collect();
    let width = schemas.first().map(|s| s.fields().len()).unwrap_or(0);
    if schemas.iter().any(|s| s.fields().len() != width) {
        return Err(Error::InvalidArgument {
            message: "each UNION query must have the same number of columns".into(),
        });
    }
    let mut types = Vec::with_capacity(width);
    for i in 0..width {
        let columns: Vec<Expr> = schemas
            .iter()
            .map(|s| Expr::column(i, s.field(i).name().clone(), s.field(i).data_type().clone()))
            .collect();
        let mut target = common_type(&columns, "UNION")?;
        if target == DataType::Null {
            target = DataType::Utf8;
        }
        types.push(target);
    }
    let mut cast_inputs = Vec::with_capacity(inputs.len());
    for (plan, schema) in inputs.into_iter().zip(&schemas) {
        if schema
            .fields()
            .iter()
            .zip(&types)
            .all(|(f, t)| f.data_type() == t)
        {
            cast_inputs.push(plan);
            continue;
        }
        let exprs = schema
            .fields()
            .iter()
            .enumerate()
            .zip(&types)
            .map(|((i, f), t)| Expr::column(i, f.name().clone(), f.data_type().clone()).cast_to(t))
            .collect();
        let names = schema.fields().iter().map(|f| f.name().clone()).collect();
        cast_inputs.push(LogicalPlan::Projection {
            input: Box::new(plan),
            exprs,
            names,
        });
    }
    Ok(LogicalPlan::Union {
        inputs: cast_inputs,
    })
}

/// `SELECT DISTINCT`, `UNION`: one row per distinct row of `plan` (a GROUP BY every column).
fn distinct_rows(plan: LogicalPlan) -> LogicalPlan {
    let schema = plan.schema();
    let group_by = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| Expr::column(i, f.name().clone(), f.data_type().clone()))
        .collect();
    let names = schema.fields().iter().map(|f| f.name().clone()).collect();
    LogicalPlan::Aggregate {
        input: Box::new(plan),
        group_by,
        aggregates: vec![],
        names,
    }
}

/// (descending, nulls first) of an ORDER BY key, with PostgreSQL's defaults.
fn sort_options(key: &sql::OrderByExpr) -> Result<(bool, bool)> {
    let descending = match &key.options.sort {
        None | Some(sql::OrderBySort::Asc) => false,
        Some(sql::OrderBySort::Desc) => true,
        Some(sql::OrderBySort::Using(_)) => return Err(Error::unsupported("ORDER BY ... USING")),
    };
    Ok((descending, key.options.nulls_first.unwrap_or(descending)))
}

/// Binds and runs an uncorrelated subquery of an expression; a reference to a column of the
/// outer query is a clear error.
fn run_subquery(query: &sql::Query, scope: &Scope) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let (Some(binder), Some(runner)) = (scope.binder, scope.binder.and_then(|b| b.runner)) else {
        return Err(Error::unsupported("subqueries in this statement"));
    };
    let correlated = |what: &str| {
        Error::unsupported(format!(
            "correlated subqueries (the subquery reads {what} of the outer query); rewrite it as a JOIN"
        ))
    };
    let plan = match binder.bind_query(query) {
        Ok(plan) => plan,
        Err(Error::ColumnNotFound { name, .. }) if scope.resolve(&name).is_ok() => {
            return Err(correlated(&format!("column \"{name}\"")))
        }
        Err(Error::TableNotFound { name }) if scope.matches_qualifier(&name) => {
            return Err(correlated(&format!("\"{name}\"")))
        }
        Err(e) => return Err(e),
    };
    let schema = plan.schema();
    let batches = runner(plan)?;
    Ok((schema, batches))
}

/// The one column of a subquery's result, as one array.
fn subquery_column(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<ArrayRef> {
    if schema.fields().len() != 1 {
        return Err(Error::InvalidArgument {
            message: format!(
                "subquery has {} columns; a subquery in an expression returns one",
                schema.fields().len()
            ),
        });
    }
    let data_type = schema.field(0).data_type();
    let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(0).as_ref()).collect();
    if arrays.is_empty() {
        return Ok(arrow::array::new_empty_array(data_type));
    }
    Ok(arrow::compute::concat(&arrays)?)
}

/// `(SELECT ...)` as a value: its one row's one column, NULL without rows.
fn scalar_subquery(query: &sql::Query, scope: &Scope) -> Result<Expr> {
    let (schema, batches) = run_subquery(query, scope)?;
    let column = subquery_column(&schema, &batches)?;
    let value = match column.len() {
        0 => arrow::array::new_null_array(column.data_type(), 1),
        1 => column,
        _ => {
            return Err(Error::InvalidArgument {
                message: "more than one row returned by a subquery used as an expression".into(),
            })
        }
    };
    Ok(Expr::Literal(value))
}

/// `x [NOT] IN (SELECT ...)`: the values are computed now and hashed.
fn in_subquery(value: Expr, query: &sql::Query, negated: bool, scope: &Scope) -> Result<Expr> {
    let (schema, batches) = run_subquery(query, scope)?;
    let column = subquery_column(&schema, &batches)?;
    let probe = Expr::column(0, "subquery", column.data_type().clone());
    let (value, probe) = coerce_pair(value, probe, BinaryOp::Eq)?;
    let values = match probe {
        Expr::Cast { data_type, .. } => crate::kernel::cast(&column, &data_type)?,
        _ => column,
    };
    Ok(Expr::InSet {
        expr: Box::new(value),
        set: Arc::new(InSet::try_new(&values)?),
        negated,
    })
}

/// The schema searched for an unqualified name that is no user table.
const PG_CATALOG: &str = "pg_catalog";

/// A scan of a virtual table ([`strata_storage::virtual_table`]) for `schema.table`, or `None`
/// for a name that is not one. In the `system` schema an unknown name is an error.
fn virtual_table(storage: &Storage, name: &sql::ObjectName) -> Result<Option<LogicalPlan>> {
    let parts: Vec<&str> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(|i| i.value.as_str())
        .collect();
    let [schema, table] = parts[..] else {
        return Ok(None);
    };
    let Some(virtual_table) = storage.virtual_tables().get(schema, table) else {
        if schema.eq_ignore_ascii_case(crate::system::SCHEMA) {
            return Err(crate::system::unknown(
                storage,
                crate::system::SCHEMA,
                table,
            ));
        }
        return Ok(None);
    };
    Ok(Some(virtual_scan(schema, table, virtual_table.schema())))
}

fn virtual_scan(schema: &str, table: &str, table_schema: SchemaRef) -> LogicalPlan {
    LogicalPlan::Scan(Scan {
        table: format!(
            "{}.{}",
            schema.to_ascii_lowercase(),
            table.to_ascii_lowercase()
        ),
        projection: (0..table_schema.fields().len()).collect(),
        table_schema,
        filters: vec![],
    })
}

/// The table name of an object name (`t` or `schema.t`, the schema ignored).
pub(crate) fn object_name(name: &sql::ObjectName) -> Result<String> {
    match name.0.last().and_then(|p| p.as_ident()) {
        Some(ident) if name.0.len() <= 2 => Ok(ident.value.clone()),
        _ => Err(Error::unsupported(format!("object name {name}"))),
    }
}

/// `LIMIT` and `OFFSET` as (skip, fetch).
fn bind_limit(clause: Option<&sql::LimitClause>) -> Result<(usize, Option<usize>)> {
    let (limit, offset) = match clause {
        None => return Ok((0, None)),
        Some(sql::LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) => {
            if !limit_by.is_empty() {
                return Err(Error::unsupported("LIMIT BY"));
            }
            (limit.as_ref(), offset.as_ref().map(|o| &o.value))
        }
        Some(sql::LimitClause::OffsetCommaLimit { offset, limit }) => (Some(limit), Some(offset)),
    };
    let count = |e: &sql::Expr, what: &str| -> Result<Option<usize>> {
        match e {
            sql::Expr::Value(v) => match &v.value {
                sql::Value::Null => Ok(None),
                sql::Value::Number(n, _) => {
                    n.parse::<usize>()
                        .map(Some)
                        .map_err(|_| Error::InvalidArgument {
                            message: format!("{what} must be a non-negative integer, not {n}"),
                        })
                }
                other => Err(Error::InvalidArgument {
                    message: format!("{what} must be a non-negative integer, not {other}"),
                }),
            },
            other => Err(Error::InvalidArgument {
                message: format!("{what} must be a non-negative integer literal, not {other}"),
            }),
        }
    };
    let fetch = match limit {
        Some(e) => count(e, "LIMIT")?,
        None => None,
    };
    let skip = match offset {
        Some(e) => count(e, "OFFSET")?.unwrap_or(0),
        None => 0,
    };
    Ok((skip, fetch))
}

/// `Some(n)` when the expression is an integer literal (a 1-based select position).
fn positional(e: &sql::Expr) -> Result<Option<usize>> {
    match e {
        sql::Expr::Value(v) => match &v.value {
            sql::Value::Number(n, _) => match n.parse::<usize>() {
                Ok(p) => Ok(Some(p)),
                Err(_) => Err(Error::InvalidArgument {
                    message: format!("position {n} is not a select list position; use 1, 2, ..."),
                }),
            },
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}

fn select_item_at<'i>(
    items: &'i [(Expr, String)],
    position: usize,
    clause: &str,
) -> Result<&'i (Expr, String)> {
    if position == 0 || position > items.len() {
        return Err(Error::InvalidArgument {
            message: format!(
                "{clause} position {position} is not in select list; it has {} item(s)",
                items.len()
            ),
        });
    }
    Ok(&items[position - 1])
}

/// The index of the select item whose output name is the bare identifier `e`.
fn alias_of(e: &sql::Expr, items: &[(Expr, String)]) -> Option<usize> {
    let sql::Expr::Identifier(ident) = e else {
        return None;
    };
    items
        .iter()
        .position(|(_, name)| *name == ident.value)
        .or_else(|| {
            items
                .iter()
                .position(|(_, name)| name.eq_ignore_ascii_case(&ident.value))
        })
}

/// A parenthesis-less SQL keyword function (`user`, `current_user`, `current_date`...) that names
/// a column of the input is that column: analytics tables often have a `user` field, and
/// writing it unquoted should not return the session user.
fn keyword_column(function: &sql::Function, scope: &Scope) -> Option<Expr> {
    if !matches!(function.args, sql::FunctionArguments::None) || function.name.0.len() != 1 {
        return None;
    }
    let ident = function.name.0.first()?.as_ident()?;
    scope.resolve(&ident.value).ok()
}

/// PostgreSQL's default output name of a select item.
fn output_name(e: &sql::Expr, scope: &Scope) -> String {
    match e {
        sql::Expr::Identifier(ident) => match scope.resolve(&ident.value) {
            Ok(Expr::Column { name, .. }) => name,
            _ => ident.value.clone(),
        },
        sql::Expr::CompoundIdentifier(idents) => match scope.resolve_compound(idents) {
            Ok(Expr::Column { name, .. }) => name,
            _ => idents.last().map(|i| i.value.clone()).unwrap_or_default(),
        },
        sql::Expr::Function(f) => match f.name.0.last().and_then(|p| p.as_ident()) {
            Some(_) if keyword_column(f, scope).is_some() => match keyword_column(f, scope) {
                Some(Expr::Column { name, .. }) => name,
                _ => ANONYMOUS_COLUMN.to_string(),
            },
            Some(ident) => ident.value.to_ascii_lowercase(),
            None => ANONYMOUS_COLUMN.to_string(),
        },
        sql::Expr::Cast { expr, .. } | sql::Expr::Nested(expr) => output_name(expr, scope),
        sql::Expr::Case { .. } => "case".to_string(),
        sql::Expr::Extract { .. } => "extract".to_string(),
        sql::Expr::Substring { .. } => "substring".to_string(),
        sql::Expr::Trim { .. } => "btrim".to_string(),
        sql::Expr::Position { .. } => "strpos".to_string(),
        _ => ANONYMOUS_COLUMN.to_string(),
    }
}

fn null_literal() -> ArrayRef {
    Arc::new(NullArray::new(1))
}

/// A SQL literal as a one-element array.
fn literal(value: &sql::Value) -> Result<Expr> {
    let array: ArrayRef = match value {
        sql::Value::Number(n, _) => {
            if let Ok(v) = n.parse::<i32>() {
                Arc::new(Int32Array::from(vec![v]))
            } else if let Ok(v) = n.parse::<i64>() {
                Arc::new(Int64Array::from(vec![v]))
            } else if let Ok(v) = n.parse::<f64>() {
                Arc::new(Float64Array::from(vec![v]))
            } else {
                return Err(Error::InvalidArgument {
                    message: format!("invalid number {n}"),
                });
            }
        }
        sql::Value::SingleQuotedString(s)
        | sql::Value::EscapedStringLiteral(s)
        | sql::Value::DollarQuotedString(sql::DollarQuotedString { value: s, .. }) => {
            Arc::new(StringArray::from(vec![s.as_str()]))
        }
        sql::Value::Boolean(b) => Arc::new(BooleanArray::from(vec![*b])),
        sql::Value::Null => null_literal(),
        other => return Err(Error::unsupported(format!("literal {other}"))),
    };
    Ok(Expr::Literal(array))
}

/// Parses a SQL type as Strata stores it.
pub(crate) fn sql_type(data_type: &sql::DataType) -> Result<DataType> {
    let name = data_type.to_string();
    strata_storage::parse_sql_type(&name).ok_or_else(|| Error::InvalidArgument {
        message: format!(
            "unknown type \"{name}\"; supported types: BOOLEAN, SMALLINT, INTEGER, BIGINT, REAL, DOUBLE, VARCHAR, DATE, TIMESTAMP"
        ),
    })
}

fn type_name(dt: &DataType) -> &'static str {
    sql_type_name(dt)
}

fn is_numeric(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Float32 | DataType::Float64
    )
}

fn is_temporal(dt: &DataType) -> bool {
    matches!(dt, DataType::Date32 | DataType::Timestamp(_, _))
}

fn is_string_literal(e: &Expr) -> bool {
    matches!(e, Expr::Literal(v) if *v.data_type() == DataType::Utf8)
}

/// The wider of two numeric types (PostgreSQL's promotion: smallint < integer < bigint < real <
/// double; any float with a wider integer gives double).
fn numeric_common(a: &DataType, b: &DataType) -> Option<DataType> {
    fn rank(dt: &DataType) -> Option<u8> {
        Some(match dt {
            DataType::Int16 => 1,
            DataType::Int32 => 2,
            DataType::Int64 => 3,
            DataType::Float32 => 4,
            DataType::Float64 => 5,
            _ => return None,
        })
    }
    let (ra, rb) = (rank(a)?, rank(b)?);
    let wider = if ra >= rb { a } else { b };
    if *wider == DataType::Float32 && (*a == DataType::Int64 || *b == DataType::Int64) {
        return Some(DataType::Float64);
    }
    Some(wider.clone())
}

/// Casts NULLs and string literals to the other side's type and numbers to the wider type, for
/// a comparison (`arithmetic == false`) or an arithmetic operator.
fn coerce_pair(left: Expr, right: Expr, op: BinaryOp) -> Result<(Expr, Expr)> {
    let (lt, rt) = (left.data_type(), right.data_type());
    let arithmetic = op.is_arithmetic();
    let interval = |dt: &DataType| matches!(dt, DataType::Interval(_));
    if arithmetic && (interval(&lt) || interval(&rt)) {
        // TIMESTAMP +/- INTERVAL (a DATE is read as midnight), INTERVAL + TIMESTAMP.
        let timestamp = strata_storage::types::TIMESTAMP_TYPE;
        let point = |dt: &DataType| is_temporal(dt) || *dt == DataType::Null;
        return match op {
            BinaryOp::Plus | BinaryOp::Minus if point(&lt) && interval(&rt) => {
                Ok((left.cast_to(&timestamp), right))
            }
            BinaryOp::Plus if interval(&lt) && point(&rt) => Ok((right.cast_to(&timestamp), left)),
            _ => Err(Error::mismatch(format!(
                "operator {} cannot be applied to {} and {}; intervals add to and subtract from timestamps",
                op.symbol(),
                type_name(&lt),
                type_name(&rt)
            ))),
        };
    }
    if lt == rt && lt != DataType::Null {
        if arithmetic && !is_numeric(&lt) {
            return Err(arith_mismatch(op, &lt, &rt));
        }
        return Ok((left, right));
    }
    let target = match (&lt, &rt) {
        (DataType::Null, DataType::Null) => {
            if arithmetic {
                DataType::Int32
            } else {
                DataType::Boolean
            }
        }
        (DataType::Null, other) | (other, DataType::Null) => other.clone(),
        (a, b) if is_numeric(a) && is_numeric(b) => {
            numeric_common(a, b).unwrap_or(DataType::Float64)
        }
        (DataType::Utf8, other)
            if is_string_literal(&left) && (is_numeric(other) || !arithmetic) =>
        {
            other.clone()
        }
        (other, DataType::Utf8)
            if is_string_literal(&right) && (is_numeric(other) || !arithmetic) =>
        {
            other.clone()
        }
        (DataType::Date32, DataType::Timestamp(_, _)) if !arithmetic => rt.clone(),
        (DataType::Timestamp(_, _), DataType::Date32) if !arithmetic => lt.clone(),
        _ => {
            return Err(if arithmetic {
                arith_mismatch(op, &lt, &rt)
            } else {
                Error::mismatch(format!(
                    "cannot compare {} with {} ({left} {} {right}); cast one side, e.g. CAST(x AS {})",
                    type_name(&lt),
                    type_name(&rt),
                    op.symbol(),
                    type_name(&lt),
                ))
            })
        }
    };
    if arithmetic && !is_numeric(&target) {
        return Err(arith_mismatch(op, &lt, &rt));
    }
    Ok((left.cast_to(&target), right.cast_to(&target)))
}

fn arith_mismatch(op: BinaryOp, lt: &DataType, rt: &DataType) -> Error {
    Error::mismatch(format!(
        "operator {} cannot be applied to {} and {}; it needs numbers (cast with CAST(x AS DOUBLE))",
        op.symbol(),
        type_name(lt),
        type_name(rt)
    ))
}

/// Checks that a predicate is BOOLEAN (a NULL literal counts as one).
fn expect_boolean(e: Expr, clause: &str) -> Result<Expr> {
    match e.data_type() {
        DataType::Boolean => Ok(e),
        DataType::Null => Ok(e.cast_to(&DataType::Boolean)),
        other => Err(Error::mismatch(format!(
            "argument of {clause} must be BOOLEAN, not {} ({e})",
            type_name(&other)
        ))),
    }
}

/// The operands of a chain of `op` (`a op b op c`, left-deep in the AST), in order, found
/// without recursion; `through_parentheses` also opens `(a op b) op c` (for associative
/// operators).
fn chain_operands<'a>(
    e: &'a sql::Expr,
    op: &sql::BinaryOperator,
    through_parentheses: bool,
) -> Vec<&'a sql::Expr> {
    let mut out = vec![];
    let mut pending = vec![e];
    while let Some(e) = pending.pop() {
        match e {
            sql::Expr::BinaryOp {
                left,
                op: this,
                right,
            } if this == op => {
                pending.push(right);
                pending.push(left);
            }
            sql::Expr::Nested(inner)
                if through_parentheses
                    && matches!(inner.as_ref(), sql::Expr::BinaryOp { op: this, .. } if this == op) =>
            {
                pending.push(inner);
            }
            other => out.push(other),
        }
    }
    out
}

/// Fewer equalities of one expression with constants than this stay `OR`s.
const IN_SET_MIN_VALUES: usize = 4;

/// `t1 OR t2 OR ...` (boolean terms, at least one): the equalities of one expression with
/// constants (`x = 1 OR x = 2 ...`, an `IN` list) become one hashed [`InSet`] (in the place of
/// the first of them), and the terms are joined by a balanced tree of `OR`s, so neither the
/// evaluation nor any later walk nests as deep as the list is long.
fn disjunction(terms: Vec<Expr>) -> Result<Expr> {
    if terms.len() < IN_SET_MIN_VALUES {
        return balanced(terms, BinaryOp::Or);
    }
    // Equalities grouped by their non-constant side (keyed by its text, confirmed by `==`).
    let mut groups: Vec<(Expr, Vec<ArrayRef>)> = vec![];
    let mut by_key: HashMap<String, usize> = HashMap::new();
    // Each term is either kept or the first member of group `g`.
    enum Slot {
        Term(Expr),
        Group(usize),
    }
    let mut slots = Vec::with_capacity(terms.len());
    for term in terms {
        let Some((probe, value)) = equality_with_constant(&term)? else {
            slots.push(Slot::Term(term));
            continue;
        };
        let key = probe.to_string();
        match by_key.get(&key) {
            Some(&g) if groups[g].0 == probe && groups[g].1[0].data_type() == value.data_type() => {
                groups[g].1.push(value);
            }
            Some(_) => slots.push(Slot::Term(term)),
            None => {
                by_key.insert(key, groups.len());
                slots.push(Slot::Group(groups.len()));
                groups.push((probe, vec![value]));
            }
        }
    }
    let mut groups: Vec<Option<(Expr, Vec<ArrayRef>)>> = groups.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(slots.len());
    for slot in slots {
        match slot {
            Slot::Term(term) => out.push(term),
            Slot::Group(g) => {
                let Some((probe, values)) = groups.get_mut(g).and_then(Option::take) else {
                    return Err(Error::internal("IN group taken twice"));
                };
                if values.len() < IN_SET_MIN_VALUES {
                    for value in values {
                        out.push(probe.clone().binary(BinaryOp::Eq, Expr::Literal(value)));
                    }
                } else {
                    let parts: Vec<&dyn Array> = values.iter().map(|v| v.as_ref()).collect();
                    let values = arrow::compute::concat(&parts)?;
                    out.push(Expr::InSet {
                        expr: Box::new(probe),
                        set: Arc::new(InSet::from_literals(values)?),
                        negated: false,
                    });
                }
            }
        }
    }
    balanced(out, BinaryOp::Or)
}

/// `probe = constant` (either side): the probe and the constant's value (one element, folded).
fn equality_with_constant(term: &Expr) -> Result<Option<(Expr, ArrayRef)>> {
    let Expr::Binary {
        op: BinaryOp::Eq,
        left,
        right,
    } = term
    else {
        return Ok(None);
    };
    let (probe, constant) = match (left.is_constant(), right.is_constant()) {
        (false, true) => (left, right),
        (true, false) => (right, left),
        _ => return Ok(None),
    };
    match crate::eval::fold_constants(constant.as_ref().clone())? {
        Expr::Literal(value) if value.len() == 1 && value.data_type() == &probe.data_type() => {
            Ok(Some((probe.as_ref().clone(), value)))
        }
        _ => Ok(None),
    }
}

/// `t1 op t2 op ...` for `AND` or `OR` (at least one term) as a balanced tree.
fn balanced(terms: Vec<Expr>, op: BinaryOp) -> Result<Expr> {
    Expr::balanced(terms, op).ok_or_else(|| Error::internal(format!("{} of no terms", op.symbol())))
}

fn bind_binary(left: Expr, op: BinaryOp, right: Expr) -> Result<Expr> {
    if matches!(op, BinaryOp::And | BinaryOp::Or) {
        let clause = op.symbol();
        return Ok(expect_boolean(left, clause)?.binary(op, expect_boolean(right, clause)?));
    }
    let (left, right) = coerce_pair(left, right, op)?;
    Ok(left.binary(op, right))
}

fn map_binary_op(op: &sql::BinaryOperator) -> Result<BinaryOp> {
    Ok(match op {
        sql::BinaryOperator::Eq => BinaryOp::Eq,
        sql::BinaryOperator::NotEq => BinaryOp::NotEq,
        sql::BinaryOperator::Lt => BinaryOp::Lt,
        sql::BinaryOperator::LtEq => BinaryOp::LtEq,
        sql::BinaryOperator::Gt => BinaryOp::Gt,
        sql::BinaryOperator::GtEq => BinaryOp::GtEq,
        sql::BinaryOperator::And => BinaryOp::And,
        sql::BinaryOperator::Or => BinaryOp::Or,
        sql::BinaryOperator::Plus => BinaryOp::Plus,
        sql::BinaryOperator::Minus => BinaryOp::Minus,
        sql::BinaryOperator::Multiply => BinaryOp::Multiply,
        sql::BinaryOperator::Divide => BinaryOp::Divide,
        sql::BinaryOperator::Modulo => BinaryOp::Modulo,
        sql::BinaryOperator::StringConcat => {
            return Err(Error::internal("|| is bound as a function"))
        }
        other => return Err(Error::unsupported(format!("operator {other}"))),
    })
}

/// Binds an expression that reads no column (an `INSERT ... VALUES` item); `clause` names the
/// place for the error messages.
pub(crate) fn bind_constant(e: &sql::Expr, clause: &'static str) -> Result<Expr> {
    let scope = Scope::of(
        Arc::new(arrow::datatypes::Schema::empty()),
        Relation::default(),
        None,
    );
    bind_expr(e, &scope, Some(clause))
}

/// Binds a SQL expression against `scope`. `agg` names the clause when aggregate calls are
/// not allowed there.
///
/// Every level of nesting counts against the expression depth limit
/// ([`crate::limits::SqlLimits::max_expression_depth`]); chains of one operator (`AND`, `OR`,
/// `||`) and `IN` lists are taken apart iteratively and do not nest.
// A debug build's frame of `bind_expr_at` is large: grow the stack as the nesting needs.
#[recursive::recursive]
fn bind_expr(e: &sql::Expr, scope: &Scope, agg: AggContext) -> Result<Expr> {
    let _depth = DepthGuard::enter()?;
    bind_expr_at(e, scope, agg)
}

fn bind_expr_at(e: &sql::Expr, scope: &Scope, agg: AggContext) -> Result<Expr> {
    let bind = |e: &sql::Expr| bind_expr(e, scope, agg);
    match e {
        sql::Expr::BinaryOp {
            op: op @ (sql::BinaryOperator::And | sql::BinaryOperator::Or),
            ..
        } => {
            let op = map_binary_op(op)?;
            let sql_op = if op == BinaryOp::And {
                sql::BinaryOperator::And
            } else {
                sql::BinaryOperator::Or
            };
            let terms = chain_operands(e, &sql_op, true)
                .into_iter()
                .map(|t| expect_boolean(bind(t)?, op.symbol()))
                .collect::<Result<Vec<_>>>()?;
            if op == BinaryOp::Or {
                disjunction(terms)
            } else {
                balanced(terms, BinaryOp::And)
            }
        }
        sql::Expr::Identifier(ident) => scope.resolve(&ident.value),
        sql::Expr::CompoundIdentifier(idents) => scope.resolve_compound(idents),
        sql::Expr::Value(v) => literal(&v.value),
        sql::Expr::TypedString(typed) => {
            let target = sql_type(&typed.data_type)?;
            let text = match &typed.value.value {
                sql::Value::SingleQuotedString(s) => s.clone(),
                other => other.to_string(),
            };
            Ok(Expr::Literal(Arc::new(StringArray::from(vec![text]))).cast_to(&target))
        }
        sql::Expr::Nested(inner) => bind(inner),
        sql::Expr::Interval(interval) => interval_literal(interval),
        sql::Expr::UnaryOp { op, expr } => {
            let inner = bind(expr)?;
            match op {
                sql::UnaryOperator::Not => Ok(Expr::Not(Box::new(expect_boolean(inner, "NOT")?))),
                sql::UnaryOperator::Plus => Ok(inner),
                sql::UnaryOperator::Minus => {
                    // `-2147483648` is an INTEGER literal, not the negation of a BIGINT.
                    if let sql::Expr::Value(v) = expr.as_ref() {
                        if let sql::Value::Number(n, long) = &v.value {
                            return literal(&sql::Value::Number(format!("-{n}"), *long));
                        }
                    }
                    let dt = inner.data_type();
                    match dt {
                        DataType::Null => Ok(inner),
                        dt if is_numeric(&dt) => Ok(Expr::Negative(Box::new(inner))),
                        dt => Err(Error::mismatch(format!(
                            "unary minus needs a number, not {}",
                            type_name(&dt)
                        ))),
                    }
                }
                other => Err(Error::unsupported(format!("unary operator {other}"))),
            }
        }
        sql::Expr::BinaryOp {
            op: sql::BinaryOperator::StringConcat,
            ..
        } => {
            // `a || b || c ...` is left-deep in the AST: one n-ary concatenation (NULL when any
            // operand is NULL), typed like the first link (after it the left side is text).
            let operands = chain_operands(e, &sql::BinaryOperator::StringConcat, false);
            let mut args = Vec::with_capacity(operands.len());
            for operand in operands {
                args.push(bind(operand)?);
            }
            let (Some(left), Some(right)) = (args.first(), args.get(1)) else {
                return Err(Error::internal("|| with fewer than two operands"));
            };
            let (lt, rt) = (left.data_type(), right.data_type());
            let texts = [DataType::Utf8, DataType::Null];
            if !texts.contains(&lt) && !texts.contains(&rt) {
                return Err(Error::mismatch(format!(
                    "operator || needs a VARCHAR operand, not {} and {}; cast one side with CAST(x AS VARCHAR)",
                    type_name(&lt),
                    type_name(&rt)
                )));
            }
            Ok(Expr::Function {
                func: ScalarFunction::ConcatOperator,
                args: args
                    .into_iter()
                    .map(|a| a.cast_to(&DataType::Utf8))
                    .collect(),
            })
        }
        sql::Expr::BinaryOp { left, op, right } => {
            let op = map_binary_op(op)?;
            bind_binary(bind(left)?, op, bind(right)?)
        }
        sql::Expr::IsDistinctFrom(left, right) => {
            bind_binary(bind(left)?, BinaryOp::IsDistinctFrom, bind(right)?)
        }
        sql::Expr::IsNotDistinctFrom(left, right) => {
            bind_binary(bind(left)?, BinaryOp::IsNotDistinctFrom, bind(right)?)
        }
        sql::Expr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            let mut args = vec![string_arg(bind(expr)?, "substring()")?];
            let from = match substring_from {
                Some(from) => bind(from)?,
                None => Expr::Literal(Arc::new(Int64Array::from(vec![1]))),
            };
            args.push(integer_arg(from, "substring()")?);
            if let Some(count) = substring_for {
                args.push(integer_arg(bind(count)?, "substring()")?);
            }
            Ok(Expr::Function {
                func: ScalarFunction::Substring,
                args,
            })
        }
        sql::Expr::Trim {
            expr,
            trim_where,
            trim_what,
            trim_characters,
        } => {
            if trim_characters.is_some() {
                return Err(Error::unsupported(
                    "trim(s, characters...) with several lists",
                ));
            }
            let side = match trim_where {
                None | Some(sql::TrimWhereField::Both) => TrimSide::Both,
                Some(sql::TrimWhereField::Leading) => TrimSide::Leading,
                Some(sql::TrimWhereField::Trailing) => TrimSide::Trailing,
            };
            let mut args = vec![string_arg(bind(expr)?, "trim()")?];
            if let Some(what) = trim_what {
                args.push(string_arg(bind(what)?, "trim()")?);
            }
            Ok(Expr::Function {
                func: ScalarFunction::Trim(side),
                args,
            })
        }
        sql::Expr::Position { expr, r#in } => Ok(Expr::Function {
            func: ScalarFunction::Strpos,
            args: vec![
                string_arg(bind(r#in)?, "position()")?,
                string_arg(bind(expr)?, "position()")?,
            ],
        }),
        sql::Expr::Floor { expr, field } | sql::Expr::Ceil { expr, field } => {
            if !matches!(
                field,
                sql::CeilFloorKind::DateTimeField(sql::DateTimeField::NoDateTime)
            ) {
                return Err(Error::unsupported(format!(
                    "{e}; write date_trunc('unit', ts)"
                )));
            }
            let func = if matches!(e, sql::Expr::Floor { .. }) {
                ScalarFunction::Floor
            } else {
                ScalarFunction::Ceil
            };
            rounding(func, bind(expr)?)
        }
        sql::Expr::Extract { field, expr, .. } => {
            let name = field.to_string();
            let part = DatePart::parse(&name).ok_or_else(|| Error::InvalidArgument {
                message: format!(
                    "extract() field must be one of year, quarter, month, week, day, hour, minute, second, dow, isodow, doy, epoch; not {name}"
                ),
            })?;
            date_part(part, bind(expr)?)
        }
        sql::Expr::IsNull(inner) => Ok(Expr::IsNull(Box::new(bind(inner)?))),
        sql::Expr::IsNotNull(inner) => Ok(Expr::IsNotNull(Box::new(bind(inner)?))),
        sql::Expr::In {
            expr,
            target,
            negated,
            ..
        } => {
            let list = match target {
                sql::InTarget::List(list) => list,
                sql::InTarget::Subquery(query) => {
                    return in_subquery(bind(expr)?, query, *negated, scope)
                }
                _ => return Err(Error::unsupported("IN UNNEST / IN table")),
            };
            // `x IN (a, b)` is `x = a OR x = b`, which gives SQL's NULL semantics for free:
            // `1 NOT IN (2, NULL)` is NULL, not true. `disjunction` hashes the equalities with
            // constants into one set.
            if list.is_empty() {
                return Err(Error::InvalidArgument {
                    message: "IN needs at least one value".into(),
                });
            }
            let value = bind(expr)?;
            let mut terms = Vec::with_capacity(list.len());
            for item in list {
                terms.push(bind_binary(value.clone(), BinaryOp::Eq, bind(item)?)?);
            }
            let disjunction = disjunction(terms)?;
            Ok(if *negated {
                Expr::Not(Box::new(disjunction))
            } else {
                disjunction
            })
        }
        sql::Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let value = bind(expr)?;
            let (low, high) = (bind(low)?, bind(high)?);
            if *negated {
                let below = bind_binary(value.clone(), BinaryOp::Lt, low)?;
                let above = bind_binary(value, BinaryOp::Gt, high)?;
                Ok(below.binary(BinaryOp::Or, above))
            } else {
                let from = bind_binary(value.clone(), BinaryOp::GtEq, low)?;
                let to = bind_binary(value, BinaryOp::LtEq, high)?;
                Ok(from.binary(BinaryOp::And, to))
            }
        }
        sql::Expr::Like {
            negated,
            any,
            expr,
            pattern,
            escape_char,
        }
        | sql::Expr::ILike {
            negated,
            any,
            expr,
            pattern,
            escape_char,
        } => {
            if *any || escape_char.is_some() {
                return Err(Error::unsupported("LIKE ANY / LIKE ... ESCAPE"));
            }
            let case_insensitive = matches!(e, sql::Expr::ILike { .. });
            let string = |x: Expr, what: &str| -> Result<Expr> {
                match x.data_type() {
                    DataType::Utf8 => Ok(x),
                    DataType::Null => Ok(x.cast_to(&DataType::Utf8)),
                    other => Err(Error::mismatch(format!(
                        "LIKE needs a VARCHAR {what}, not {}; use CAST(x AS VARCHAR)",
                        type_name(&other)
                    ))),
                }
            };
            Ok(Expr::Like {
                negated: *negated,
                case_insensitive,
                expr: Box::new(string(bind(expr)?, "value")?),
                pattern: Box::new(string(bind(pattern)?, "pattern")?),
            })
        }
        sql::Expr::Cast {
            expr,
            data_type,
            format,
            ..
        } => {
            if format.is_some() {
                return Err(Error::unsupported("CAST ... FORMAT"));
            }
            let target = sql_type(data_type)?;
            Ok(bind(expr)?.cast_to(&target))
        }
        sql::Expr::Function(function) => bind_function(function, scope, agg),
        sql::Expr::Subquery(query) => scalar_subquery(query, scope),
        sql::Expr::Exists { subquery, negated } => {
            let (_, batches) = run_subquery(subquery, scope)?;
            let exists = batches.iter().any(|b| b.num_rows() > 0);
            Ok(Expr::Literal(Arc::new(BooleanArray::from(vec![
                exists != *negated,
            ]))))
        }
        sql::Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => bind_case(
            operand.as_deref(),
            conditions,
            else_result.as_deref(),
            scope,
            agg,
        ),
        other => Err(Error::unsupported(format!("expression {other}"))),
    }
}

fn bind_function(function: &sql::Function, scope: &Scope, agg: AggContext) -> Result<Expr> {
    if let Some(column) = keyword_column(function, scope) {
        return Ok(column);
    }
    let name = function
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.to_ascii_lowercase())
        .unwrap_or_default();
    let Some(func) = AggregateFunction::from_name(&name) else {
        return bind_scalar_function(&name, function, scope, agg);
    };
    if let Some(clause) = agg {
        return Err(Error::InvalidArgument {
            message: format!("aggregate functions are not allowed in {clause}"),
        });
    }
    if function.over.is_some() {
        return Err(Error::unsupported("window functions (OVER)"));
    }
    let ordered_set = func == AggregateFunction::PercentileCont;
    if ordered_set != (function.within_group.len() == 1) {
        return Err(Error::InvalidArgument {
            message: if ordered_set {
                "percentile_cont(p) needs WITHIN GROUP (ORDER BY x)".into()
            } else {
                format!("{name}() does not take WITHIN GROUP")
            },
        });
    }
    let filter = match &function.filter {
        Some(filter) => Some(expect_boolean(
            bind_expr(filter, scope, Some("FILTER (aggregates cannot be nested)"))?,
            "FILTER",
        )?),
        None => None,
    };
    let list = match &function.args {
        sql::FunctionArguments::List(list) => list,
        _ => {
            return Err(Error::InvalidArgument {
                message: format!("{name}() needs one argument"),
            })
        }
    };
    if !list.clauses.is_empty() {
        return Err(Error::unsupported(format!("clauses inside {name}()")));
    }
    let distinct = matches!(
        list.duplicate_treatment,
        Some(sql::DuplicateTreatment::Distinct)
    );
    let nested = Some("the argument of an aggregate function (aggregates cannot be nested)");
    fn plain(arg: &sql::FunctionArg) -> Option<&sql::Expr> {
        match arg {
            sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        }
    }
    let (arg, fraction) = match (func, list.args.as_slice()) {
        (AggregateFunction::Count, [sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Wildcard)])
            if !distinct =>
        {
            (None, None)
        }
        (AggregateFunction::PercentileCont, [p]) if plain(p).is_some() => {
            let key = &function.within_group[0];
            let (descending, _) = sort_options(key)?;
            let p = fraction_arg(plain(p), &name)?;
            let p = if descending { 1.0 - p } else { p };
            (Some(bind_expr(&key.expr, scope, nested)?), Some(p))
        }
        (AggregateFunction::ApproxPercentile, [x, p]) if plain(x).is_some() => {
            let p = fraction_arg(plain(p), &name)?;
            let x = plain(x).ok_or_else(|| Error::internal("checked above"))?;
            (Some(bind_expr(x, scope, nested)?), Some(p))
        }
        (AggregateFunction::PercentileCont, _) => {
            return Err(Error::InvalidArgument {
                message: "percentile_cont() takes one fraction: percentile_cont(0.5) WITHIN GROUP (ORDER BY x)".into(),
            })
        }
        (AggregateFunction::ApproxPercentile, _) => {
            return Err(Error::InvalidArgument {
                message: "approx_percentile() takes a value and a fraction: approx_percentile(x, 0.5)".into(),
            })
        }
        (_, [a]) if plain(a).is_some() => {
            let e = plain(a).ok_or_else(|| Error::internal("checked above"))?;
            (Some(bind_expr(e, scope, nested)?), None)
        }
        _ => {
            return Err(Error::InvalidArgument {
                message: format!("{name}() takes exactly one argument (or * for count)"),
            })
        }
    };
    let arg_type = arg.as_ref().map(Expr::data_type).unwrap_or(DataType::Null);
    let data_type = match func {
        AggregateFunction::Count => DataType::Int64,
        AggregateFunction::Sum => match arg_type {
            DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Null => DataType::Int64,
            DataType::Float32 | DataType::Float64 => DataType::Float64,
            other => return Err(agg_mismatch(func, &other)),
        },
        AggregateFunction::ApproxCountDistinct => match arg_type {
            dt if is_numeric(&dt)
                || is_temporal(&dt)
                || dt == DataType::Utf8
                || dt == DataType::Boolean
                || dt == DataType::Null =>
            {
                DataType::Int64
            }
            other => return Err(agg_mismatch(func, &other)),
        },
        AggregateFunction::Avg
        | AggregateFunction::ApproxPercentile
        | AggregateFunction::PercentileCont
        | AggregateFunction::StddevSamp
        | AggregateFunction::StddevPop
        | AggregateFunction::VarSamp
        | AggregateFunction::VarPop => match arg_type {
            dt if is_numeric(&dt) || dt == DataType::Null => DataType::Float64,
            other => return Err(agg_mismatch(func, &other)),
        },
        AggregateFunction::Min | AggregateFunction::Max | AggregateFunction::AnyValue => {
            match arg_type {
                // PostgreSQL resolves an untyped NULL to text.
                DataType::Null => DataType::Utf8,
                dt if is_numeric(&dt)
                    || is_temporal(&dt)
                    || dt == DataType::Utf8
                    || dt == DataType::Boolean =>
                {
                    dt
                }
                other => return Err(agg_mismatch(func, &other)),
            }
        }
    };
    // A NULL literal argument gets a real type (the result's, or BIGINT for COUNT, SUM and the
    // DOUBLE aggregates), so that the kernels see one.
    let arg = arg.map(|a| {
        if a.data_type() != DataType::Null {
            a
        } else if matches!(
            func,
            AggregateFunction::Min | AggregateFunction::Max | AggregateFunction::AnyValue
        ) {
            a.cast_to(&data_type)
        } else {
            a.cast_to(&DataType::Int64)
        }
    });
    // The percentiles sort DOUBLEs.
    let arg = match func {
        AggregateFunction::ApproxPercentile | AggregateFunction::PercentileCont => {
            arg.map(|a| a.cast_to(&DataType::Float64))
        }
        _ => arg,
    };
    Ok(Expr::Aggregate(Box::new(AggregateExpr {
        func,
        arg,
        distinct,
        filter,
        data_type,
        fraction,
    })))
}

/// The constant fraction of a percentile, in [0, 1].
fn fraction_arg(e: Option<&sql::Expr>, name: &str) -> Result<f64> {
    let wrong = |what: String| Error::InvalidArgument {
        message: format!("the fraction of {name}() must be a constant between 0 and 1, not {what}"),
    };
    let e = e.ok_or_else(|| wrong("this argument".into()))?;
    let bound = crate::eval::fold_constants(bind_constant(e, "a percentile fraction")?)?;
    let value = match &bound {
        Expr::Literal(v) if is_numeric(v.data_type()) && v.is_valid(0) => {
            crate::kernel::cast(v, &DataType::Float64)?
                .as_any()
                .downcast_ref::<Float64Array>()
                .map(|a| a.value(0))
        }
        _ => None,
    };
    match value {
        Some(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(wrong(e.to_string())),
    }
}

fn agg_mismatch(func: AggregateFunction, dt: &DataType) -> Error {
    Error::mismatch(format!(
        "{}() cannot be applied to {}{}",
        func.name(),
        type_name(dt),
        if !matches!(
            func,
            AggregateFunction::Count
                | AggregateFunction::Min
                | AggregateFunction::Max
                | AggregateFunction::AnyValue
        ) {
            "; it needs numbers"
        } else {
            ""
        }
    ))
}

/// The plain expression arguments of a function call.
fn function_args<'f>(name: &str, function: &'f sql::Function) -> Result<Vec<&'f sql::Expr>> {
    let sql::FunctionArguments::List(list) = &function.args else {
        return Ok(vec![]);
    };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return Err(Error::InvalidArgument {
            message: format!("{name}() is not an aggregate function"),
        });
    }
    list.args
        .iter()
        .map(|arg| match arg {
            sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(e)) => Ok(e),
            other => Err(Error::unsupported(format!("argument {other} of {name}()"))),
        })
        .collect()
}

fn bind_scalar_function(
    name: &str,
    function: &sql::Function,
    scope: &Scope,
    agg: AggContext,
) -> Result<Expr> {
    const SUPPORTED: &str = "count, sum, min, max, avg, stddev, stddev_pop, variance, var_pop, \
         date_trunc, date_part, extract, coalesce, nullif, lower, upper, length, octet_length, \
         concat, substring, trim, ltrim, rtrim, btrim, replace, strpos, position, starts_with, \
         regexp_replace, regexp_match, regexp_like, to_timestamp, now, abs, approx_count_distinct, \
         approx_percentile, percentile_cont, any_value, version, current_database, current_schema, \
         current_user, current_setting, pg_backend_pid";
    if function.over.is_some() || function.filter.is_some() {
        return Err(Error::unsupported(format!("OVER / FILTER on {name}()")));
    }
    let asts = function_args(name, function)?;
    let arity = |n: usize| -> Result<()> {
        if asts.len() == n {
            Ok(())
        } else {
            Err(Error::InvalidArgument {
                message: format!("{name}() takes {n} argument(s), not {}", asts.len()),
            })
        }
    };
    let mut args = asts
        .iter()
        .map(|a| bind_expr(a, scope, agg))
        .collect::<Result<Vec<_>>>()?;
    // Session functions PostgreSQL clients call (version(), current_setting('x'), ...).
    if let Some(value) = crate::pg_catalog::constant_function(name, args.len(), |i| {
        args.get(i).and_then(string_literal)
    }) {
        return Ok(Expr::Literal(value?));
    }
    let expect = |arg: &Expr, ok: bool, wanted: &str| -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(Error::mismatch(format!(
                "{name}() needs {wanted}, not {} ({arg})",
                type_name(&arg.data_type())
            )))
        }
    };
    let func = match name {
        "date_trunc" => {
            arity(2)?;
            let unit = string_literal(&args[0]);
            let unit = unit.as_deref().and_then(TruncUnit::parse).ok_or_else(|| Error::InvalidArgument {
                message: format!(
                    "date_trunc() unit must be one of 'second', 'minute', 'hour', 'day', 'week', 'month', 'quarter', 'year', not {}",
                    args[0]
                ),
            })?;
            let ts = args.remove(1);
            let dt = ts.data_type();
            expect(
                &ts,
                is_temporal(&dt) || dt == DataType::Utf8 || dt == DataType::Null,
                "a TIMESTAMP",
            )?;
            args = vec![ts.cast_to(&strata_storage::types::TIMESTAMP_TYPE)];
            ScalarFunction::DateTrunc(unit)
        }
        "coalesce" => {
            if args.is_empty() {
                return Err(Error::InvalidArgument {
                    message: "coalesce() needs at least one argument".into(),
                });
            }
            let mut target = common_type(&args, "coalesce()")?;
            if target == DataType::Null {
                target = DataType::Utf8;
            }
            args = args.into_iter().map(|a| a.cast_to(&target)).collect();
            ScalarFunction::Coalesce
        }
        "lower" | "upper" | "length" | "char_length" | "character_length" => {
            arity(1)?;
            let dt = args[0].data_type();
            expect(
                &args[0],
                dt == DataType::Utf8 || dt == DataType::Null,
                "a VARCHAR",
            )?;
            args[0] = args[0].clone().cast_to(&DataType::Utf8);
            match name {
                "lower" => ScalarFunction::Lower,
                "upper" => ScalarFunction::Upper,
                _ => ScalarFunction::Length,
            }
        }
        "nullif" => {
            arity(2)?;
            // `nullif(a, b)` is `CASE WHEN a = b THEN NULL ELSE a END`, typed like `a = b`.
            let b = args.remove(1);
            let a = args.remove(0);
            let (a, b) = coerce_pair(a, b, BinaryOp::Eq)?;
            let data_type = a.data_type();
            return Ok(Expr::Case {
                when_then: vec![(
                    a.clone().binary(BinaryOp::Eq, b),
                    Expr::Literal(null_literal()).cast_to(&data_type),
                )],
                else_result: Some(Box::new(a)),
            });
        }
        "concat" => {
            if args.is_empty() {
                return Err(Error::InvalidArgument {
                    message: "concat() needs at least one argument".into(),
                });
            }
            args = args
                .into_iter()
                .map(|a| a.cast_to(&DataType::Utf8))
                .collect();
            ScalarFunction::Concat
        }
        "substr" | "substring" => {
            if !(2..=3).contains(&args.len()) {
                return Err(Error::InvalidArgument {
                    message: format!("{name}() takes 2 or 3 arguments, not {}", args.len()),
                });
            }
            let mut bound = vec![string_arg(args.remove(0), "substring()")?];
            for a in args {
                bound.push(integer_arg(a, "substring()")?);
            }
            args = bound;
            ScalarFunction::Substring
        }
        "trim" | "btrim" | "ltrim" | "rtrim" => {
            if !(1..=2).contains(&args.len()) {
                return Err(Error::InvalidArgument {
                    message: format!("{name}() takes 1 or 2 arguments, not {}", args.len()),
                });
            }
            args = args
                .into_iter()
                .map(|a| string_arg(a, "trim()"))
                .collect::<Result<_>>()?;
            ScalarFunction::Trim(match name {
                "ltrim" => TrimSide::Leading,
                "rtrim" => TrimSide::Trailing,
                _ => TrimSide::Both,
            })
        }
        "replace" | "strpos" | "starts_with" | "octet_length" | "regexp_replace" => {
            let func = match name {
                "replace" => {
                    arity(3)?;
                    ScalarFunction::Replace
                }
                "strpos" => {
                    arity(2)?;
                    ScalarFunction::Strpos
                }
                "starts_with" => {
                    arity(2)?;
                    ScalarFunction::StartsWith
                }
                "octet_length" => {
                    arity(1)?;
                    ScalarFunction::OctetLength
                }
                _ => {
                    if !(3..=4).contains(&args.len()) {
                        return Err(Error::InvalidArgument {
                            message: format!(
                                "regexp_replace() takes 3 or 4 arguments, not {}",
                                args.len()
                            ),
                        });
                    }
                    ScalarFunction::RegexpReplace
                }
            };
            let what = format!("{name}()");
            args = args
                .into_iter()
                .map(|a| string_arg(a, &what))
                .collect::<Result<_>>()?;
            func
        }
        "date_part" => {
            arity(2)?;
            let field = string_literal(&args[0]);
            let part = field.as_deref().and_then(DatePart::parse).ok_or_else(|| Error::InvalidArgument {
                message: format!(
                    "date_part() field must be one of 'year', 'quarter', 'month', 'week', 'day', 'hour', 'minute', 'second', 'dow', 'isodow', 'doy', 'epoch'; not {}",
                    args[0]
                ),
            })?;
            return date_part(part, args.remove(1));
        }
        "time_bucket" | "date_bin" => {
            let range = if name == "date_bin" { 3..=3 } else { 2..=3 };
            if !range.contains(&args.len()) {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "{name}() takes {} arguments: (interval, timestamp{}), not {}",
                        if name == "date_bin" { "3" } else { "2 or 3" },
                        if name == "date_bin" {
                            ", origin"
                        } else {
                            "[, origin]"
                        },
                        args.len()
                    ),
                });
            }
            let (months, days, nanos) = match &args[0] {
                Expr::Literal(v) => v
                    .as_any()
                    .downcast_ref::<arrow::array::IntervalMonthDayNanoArray>()
                    .filter(|a| a.is_valid(0))
                    .map(|a| {
                        let i = a.value(0);
                        (i.months, i.days, i.nanoseconds)
                    }),
                _ => None,
            }
            .ok_or_else(|| Error::InvalidArgument {
                message: format!(
                    "{name}() needs an interval literal as its width, e.g. INTERVAL '15 minutes'; not {}",
                    args[0]
                ),
            })?;
            let stride_ms = i64::from(days) * 86_400_000 + nanos / 1_000_000;
            if (months != 0 && stride_ms != 0)
                || months < 0
                || stride_ms < 0
                || (months == 0 && stride_ms == 0)
            {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "{name}() width must be positive and either months or a fixed length, not both: {}",
                        args[0]
                    ),
                });
            }
            if months != 0 && (name == "date_bin" || args.len() == 3) {
                return Err(Error::unsupported(format!(
                    "{name}() with a width in months and an origin; use time_bucket(interval, ts)"
                )));
            }
            let timestamp = strata_storage::types::TIMESTAMP_TYPE;
            let mut points = Vec::with_capacity(2);
            for a in args.drain(1..) {
                let dt = a.data_type();
                expect(&a, is_temporal(&dt) || dt == DataType::Null, "a TIMESTAMP")?;
                points.push(a.cast_to(&timestamp));
            }
            if points.len() == 1 {
                // TimescaleDB's and DuckDB's default origins: Monday 2000-01-03 for fixed widths
                // (weeks start on Monday), 2000-01-01 for months.
                let origin = if months != 0 {
                    "2000-01-01"
                } else {
                    "2000-01-03"
                };
                points.push(
                    Expr::Literal(Arc::new(StringArray::from(vec![origin]))).cast_to(&timestamp),
                );
            }
            args = points;
            ScalarFunction::TimeBucket { months, stride_ms }
        }
        "regexp_match" | "regexp_like" | "regexp_matches" => {
            arity(2)?;
            let what = format!("{name}()");
            args = args
                .into_iter()
                .map(|a| string_arg(a, &what))
                .collect::<Result<_>>()?;
            if name == "regexp_match" {
                ScalarFunction::RegexpMatch
            } else {
                ScalarFunction::RegexpLike
            }
        }
        "to_timestamp" => {
            if args.len() != 1 {
                return Err(Error::unsupported(
                    "to_timestamp(text, format); to_timestamp takes one argument, seconds since 1970-01-01 (cast text with CAST(x AS TIMESTAMP))",
                ));
            }
            let dt = args[0].data_type();
            expect(
                &args[0],
                is_numeric(&dt) || dt == DataType::Null,
                "a number of seconds",
            )?;
            args[0] = args[0].clone().cast_to(&DataType::Float64);
            ScalarFunction::ToTimestamp
        }
        "now" | "current_timestamp" | "localtimestamp" | "transaction_timestamp" => {
            arity(0)?;
            let now_ms = scope.binder.map(|b| b.now_ms).unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0)
            });
            return Ok(Expr::Literal(Arc::new(
                arrow::array::TimestampMillisecondArray::from(vec![now_ms]),
            )));
        }
        "floor" | "ceil" | "ceiling" => {
            arity(1)?;
            let func = if name == "floor" {
                ScalarFunction::Floor
            } else {
                ScalarFunction::Ceil
            };
            return rounding(func, args.remove(0));
        }
        "abs" => {
            arity(1)?;
            let dt = args[0].data_type();
            expect(
                &args[0],
                is_numeric(&dt) || dt == DataType::Null,
                "a number",
            )?;
            if dt == DataType::Null {
                args[0] = args[0].clone().cast_to(&DataType::Int32);
            }
            ScalarFunction::Abs
        }
        _ => {
            return Err(Error::unsupported(format!(
                "function {}(); supported functions: {SUPPORTED}",
                function.name
            )))
        }
    };
    Ok(Expr::Function { func, args })
}

/// `floor(x)` / `ceil(x)` of a number, as DOUBLE (Grafana's `$__timeGroup` is
/// `floor(extract(epoch from ts)/300)*300`).
fn rounding(func: ScalarFunction, arg: Expr) -> Result<Expr> {
    let dt = arg.data_type();
    if !(is_numeric(&dt) || dt == DataType::Null) {
        return Err(Error::mismatch(format!(
            "{}() needs a number, not {} ({arg})",
            func.name(),
            type_name(&dt)
        )));
    }
    Ok(Expr::Function {
        func,
        args: vec![arg.cast_to(&DataType::Float64)],
    })
}

/// `INTERVAL '1 day 2 hours'`, `INTERVAL '90' MINUTE`, `INTERVAL 3 DAY` as a MonthDayNano literal.
fn interval_literal(interval: &sql::Interval) -> Result<Expr> {
    if interval.last_field.is_some() {
        return Err(Error::unsupported(format!(
            "interval {interval}; write INTERVAL '1 day 2 hours'"
        )));
    }
    let text = match interval.value.as_ref() {
        sql::Expr::Value(v) => match &v.value {
            sql::Value::SingleQuotedString(s) => s.clone(),
            sql::Value::Number(n, _) => n.clone(),
            other => return Err(Error::unsupported(format!("interval value {other}"))),
        },
        other => return Err(Error::unsupported(format!("interval value {other}"))),
    };
    let text = match &interval.leading_field {
        Some(field) => format!("{text} {field}"),
        None => text,
    };
    let (months, days, ms) = parse_interval(&text).ok_or_else(|| Error::InvalidArgument {
        message: format!(
            "invalid interval '{text}'; write a list of <number> <unit> (unit: millisecond, second, minute, hour, day, week, month, quarter, year), e.g. '1 day 2 hours'"
        ),
    })?;
    let nanos = ms
        .checked_mul(1_000_000)
        .ok_or_else(|| Error::NumericOverflow {
            message: format!("interval '{text}' is too long"),
        })?;
    let value = arrow::datatypes::IntervalMonthDayNano::new(months, days, nanos);
    Ok(Expr::Literal(Arc::new(
        arrow::array::IntervalMonthDayNanoArray::from(vec![value]),
    )))
}

/// Parses `'1 year 2 months 3 days 04:05:06.5'` into (months, days, milliseconds).
fn parse_interval(text: &str) -> Option<(i32, i32, i64)> {
    let (mut months, mut days, mut ms) = (0i64, 0i64, 0f64);
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        if token.contains(':') {
            let (sign, clock) = match token.strip_prefix('-') {
                Some(rest) => (-1.0, rest),
                None => (1.0, token),
            };
            let parts: Vec<f64> = clock
                .split(':')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            let (h, m, s) = match parts.as_slice() {
                [h, m] => (*h, *m, 0.0),
                [h, m, s] => (*h, *m, *s),
                _ => return None,
            };
            ms += sign * ((h * 60.0 + m) * 60.0 + s) * 1000.0;
            i += 1;
            continue;
        }
        let number: f64 = token.parse().ok()?;
        let unit = tokens
            .get(i + 1)?
            .trim_end_matches(',')
            .to_ascii_lowercase();
        let whole = |n: f64| (n.fract() == 0.0).then_some(n as i64);
        match unit.as_str() {
            "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" => ms += number,
            "second" | "seconds" | "s" | "sec" | "secs" => ms += number * 1e3,
            "minute" | "minutes" | "m" | "min" | "mins" => ms += number * 6e4,
            "hour" | "hours" | "h" | "hr" | "hrs" => ms += number * 3.6e6,
            "day" | "days" | "d" => days += whole(number)?,
            "week" | "weeks" | "w" => days += whole(number)? * 7,
            "month" | "months" | "mon" | "mons" => months += whole(number)?,
            "quarter" | "quarters" => months += whole(number)? * 3,
            "year" | "years" | "y" | "yr" | "yrs" => months += whole(number)? * 12,
            _ => return None,
        }
        i += 2;
    }
    if tokens.is_empty() || !ms.is_finite() {
        return None;
    }
    Some((
        i32::try_from(months).ok()?,
        i32::try_from(days).ok()?,
        ms.round() as i64,
    ))
}

/// A VARCHAR argument (a NULL literal becomes a VARCHAR NULL).
fn string_arg(e: Expr, function: &str) -> Result<Expr> {
    match e.data_type() {
        DataType::Utf8 => Ok(e),
        DataType::Null => Ok(e.cast_to(&DataType::Utf8)),
        other => Err(Error::mismatch(format!(
            "{function} needs a VARCHAR, not {} ({e}); use CAST(x AS VARCHAR)",
            type_name(&other)
        ))),
    }
}

/// An integer argument, as BIGINT.
fn integer_arg(e: Expr, function: &str) -> Result<Expr> {
    match e.data_type() {
        DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Null => {
            Ok(e.cast_to(&DataType::Int64))
        }
        other => Err(Error::mismatch(format!(
            "{function} needs an integer, not {} ({e})",
            type_name(&other)
        ))),
    }
}

/// `extract(part FROM e)` / `date_part('part', e)` over a TIMESTAMP or DATE.
fn date_part(part: DatePart, e: Expr) -> Result<Expr> {
    let dt = e.data_type();
    if !(is_temporal(&dt) || dt == DataType::Null) {
        return Err(Error::mismatch(format!(
            "extract() / date_part() needs a TIMESTAMP or DATE, not {} ({e})",
            type_name(&dt)
        )));
    }
    Ok(Expr::Function {
        func: ScalarFunction::DatePart(part),
        args: vec![e.cast_to(&strata_storage::types::TIMESTAMP_TYPE)],
    })
}

/// The one type that all of `exprs` can be cast to (numbers widen, NULLs and string literals
/// adapt, DATE meets TIMESTAMP as TIMESTAMP).
fn common_type(exprs: &[Expr], what: &str) -> Result<DataType> {
    let mut target = DataType::Null;
    for expr in exprs {
        let dt = expr.data_type();
        target = match (&target, &dt) {
            (t, d) if t == d => dt.clone(),
            (DataType::Null, d) => d.clone(),
            (t, DataType::Null) => t.clone(),
            (t, d) if is_numeric(t) && is_numeric(d) => {
                numeric_common(t, d).unwrap_or(DataType::Float64)
            }
            (t, DataType::Utf8) if is_string_literal(expr) => t.clone(),
            (DataType::Date32, DataType::Timestamp(_, _))
            | (DataType::Timestamp(_, _), DataType::Date32) => {
                strata_storage::types::TIMESTAMP_TYPE
            }
            (t, d) => {
                return Err(Error::mismatch(format!(
                    "{what} values must have one type, not {} and {}; use CAST",
                    type_name(t),
                    type_name(d)
                )))
            }
        };
    }
    Ok(target)
}

fn bind_case(
    operand: Option<&sql::Expr>,
    conditions: &[sql::CaseWhen],
    else_result: Option<&sql::Expr>,
    scope: &Scope,
    agg: AggContext,
) -> Result<Expr> {
    let operand = operand.map(|o| bind_expr(o, scope, agg)).transpose()?;
    let mut whens = Vec::with_capacity(conditions.len());
    let mut results = Vec::with_capacity(conditions.len() + 1);
    for when in conditions {
        let condition = bind_expr(&when.condition, scope, agg)?;
        let condition = match &operand {
            // `CASE x WHEN a THEN ...` is `CASE WHEN x = a THEN ...`.
            Some(operand) => bind_binary(operand.clone(), BinaryOp::Eq, condition)?,
            None => expect_boolean(condition, "CASE WHEN")?,
        };
        whens.push(condition);
        results.push(bind_expr(&when.result, scope, agg)?);
    }
    if let Some(e) = else_result {
        results.push(bind_expr(e, scope, agg)?);
    }
    let mut target = common_type(&results, "CASE")?;
    if target == DataType::Null {
        target = DataType::Utf8;
    }
    let mut results = results.into_iter().map(|r| r.cast_to(&target));
    let when_then = whens.into_iter().zip(results.by_ref()).collect();
    let else_result = results.next().map(Box::new);
    Ok(Expr::Case {
        when_then,
        else_result,
    })
}

/// The text of a non-NULL string literal argument (a unit or field name), else `None`.
fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Literal(v) => v
            .as_any()
            .downcast_ref::<StringArray>()
            .filter(|s| s.is_valid(0))
            .map(|s| s.value(0).to_string()),
        _ => None,
    }
}
