//! FROM: tables (user tables, the `system` and `pg_catalog` virtual tables), CTEs, subqueries in
//! parentheses, and `[INNER | LEFT] JOIN ... ON` of those, each with the [`Scope`] its columns
//! are resolved in.
//!
//! A join's ON condition is split: the equalities between a left and a right expression become
//! the hash join's keys, the rest a filter on the matched pairs.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use sqlparser::ast as sql;
use strata_storage::Storage;

use super::context::Context;
use super::expr::bind_expr;
use super::scope::{object_name, Relation, Scope};
use crate::error::{Error, Result};
use crate::expr::coerce::{coerce_pair, expect_boolean};
use crate::expr::{BinaryOp, Expr};
use crate::plan::{JoinKind, LogicalPlan, Scan};

/// The most tables (and joins) one FROM clause may list: each is a level of the join tree that
/// the planner walks.
const FROM_TABLES_MAX: usize = 256;

/// The FROM list: nothing (one row without columns), or one table with its joins.
pub(super) fn bind_from<'s>(
    binder: &'s dyn Context,
    from: &[sql::TableWithJoins],
) -> Result<(LogicalPlan, Scope<'s>)> {
    match from {
        [] => Ok((
            LogicalPlan::OneRow,
            Scope::of(
                Arc::new(arrow::datatypes::Schema::empty()),
                Relation::default(),
                Some(binder),
            ),
        )),
        [first, rest @ ..] => {
            let tables: usize = from.iter().map(|t| 1 + t.joins.len()).sum();
            if tables > FROM_TABLES_MAX {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "FROM lists {tables} tables and joins; at most {FROM_TABLES_MAX} (split the query, or join a subquery that combines them)"
                    ),
                });
            }
            // `FROM a, b, c`: cross joins, left to right. The WHERE clause's conditions that
            // link the tables become hash join keys in the optimizer, which also orders the
            // joins.
            let (mut plan, mut scope) = bind_table_with_joins(binder, first)?;
            for table in rest {
                let (right, right_scope) = bind_table_with_joins(binder, table)?;
                plan = LogicalPlan::Join {
                    left: Box::new(plan),
                    right: Box::new(right),
                    kind: JoinKind::Inner,
                    on: vec![],
                    filter: None,
                };
                scope = Scope::join(scope, right_scope, JoinKind::Inner);
            }
            Ok((plan, scope))
        }
    }
}

/// One item of FROM: a table and the joins that follow it.
fn bind_table_with_joins<'s>(
    binder: &'s dyn Context,
    table: &sql::TableWithJoins,
) -> Result<(LogicalPlan, Scope<'s>)> {
    let (mut plan, mut scope) = bind_table_factor(binder, &table.relation)?;
    for join in &table.joins {
        (plan, scope) = bind_join(binder, plan, scope, join)?;
    }
    Ok((plan, scope))
}

/// A table, a CTE, a subquery in parentheses, or a parenthesized join.
fn bind_table_factor<'s>(
    binder: &'s dyn Context,
    factor: &sql::TableFactor,
) -> Result<(LogicalPlan, Scope<'s>)> {
    match factor {
        sql::TableFactor::Table {
            name, alias, args, ..
        } => {
            if let Some(args) = args {
                let plan = table_function(binder, name, args)?;
                let plan = match alias {
                    Some(alias) => rename_columns(plan, &alias.columns)?,
                    None => plan,
                };
                let relation = Relation {
                    table: Some(object_name(name)?),
                    alias: alias.as_ref().map(|a| a.name.value.clone()),
                    merged: false,
                };
                let scope = Scope::of(plan.schema(), relation, Some(binder));
                return Ok((plan, scope));
            }
            if let Some(system) = virtual_table(binder.storage(), name)? {
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
                        merged: false,
                    },
                    Some(binder),
                );
                return Ok((system, scope));
            }
            let qualified = &name.0;
            let name = object_name(name)?;
            let cte = binder.cte(&name);
            let (plan, table) = match cte {
                Some((cte, plan)) => (plan, cte),
                None => {
                    // An unqualified name that is no user table may be a `pg_catalog` table,
                    // as PostgreSQL's search path implies.
                    match binder.storage().table(&name) {
                        Ok(table) => {
                            let schema = table.def().schema;
                            let scan = Scan {
                                table: table.name().to_string(),
                                table_schema: schema.clone(),
                                projection: (0..schema.fields().len()).collect(),
                                filters: vec![],
                                rows_estimate: Some(
                                    table.segment_counts().iter().map(|c| c.2).sum(),
                                ),
                            };
                            (LogicalPlan::Scan(scan), table.name().to_string())
                        }
                        Err(e) => match binder.storage().virtual_tables().get(PG_CATALOG, &name) {
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
                merged: false,
            };
            let scope = Scope::of(plan.schema(), relation, Some(binder));
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
            let plan = binder.bind_query(subquery)?;
            let plan = match alias {
                Some(alias) => rename_columns(plan, &alias.columns)?,
                None => plan,
            };
            let relation = Relation {
                table: None,
                alias: alias.as_ref().map(|a| a.name.value.clone()),
                merged: false,
            };
            let scope = Scope::of(plan.schema(), relation, Some(binder));
            Ok((plan, scope))
        }
        sql::TableFactor::NestedJoin {
            table_with_joins,
            alias: None,
        } => bind_from(binder, std::slice::from_ref(table_with_joins.as_ref())),
        other => Err(Error::unsupported(format!(
            "FROM {other}; supported: tables, CTEs, (subqueries) and joins"
        ))),
    }
}

/// `left [INNER | LEFT | RIGHT | FULL] JOIN right ON ... | USING (...)`, `NATURAL ... JOIN`,
/// `CROSS JOIN`: the equalities between a left and a right expression become hash join keys, the
/// rest a filter on the matched pairs (without keys, a nested-loop join).
fn bind_join<'s>(
    binder: &'s dyn Context,
    left: LogicalPlan,
    left_scope: Scope<'s>,
    join: &sql::Join,
) -> Result<(LogicalPlan, Scope<'s>)> {
    let (kind, constraint) = match &join.join_operator {
        sql::JoinOperator::Join(c) | sql::JoinOperator::Inner(c) => (JoinKind::Inner, c),
        sql::JoinOperator::Left(c) | sql::JoinOperator::LeftOuter(c) => (JoinKind::Left, c),
        sql::JoinOperator::Right(c) | sql::JoinOperator::RightOuter(c) => (JoinKind::Right, c),
        sql::JoinOperator::FullOuter(c) => (JoinKind::Full, c),
        sql::JoinOperator::CrossJoin(c) => match c {
            sql::JoinConstraint::None => (JoinKind::Inner, c),
            _ => return Err(Error::unsupported("CROSS JOIN with a condition; use JOIN ... ON")),
        },
        other => {
            return Err(Error::unsupported(format!(
                "{}; supported: [INNER], LEFT, RIGHT, FULL [OUTER] JOIN with ON or USING, NATURAL joins and CROSS JOIN",
                join_name(other)
            )))
        }
    };
    let (right, right_scope) = bind_table_factor(binder, &join.relation)?;
    let left_len = left_scope.schema.fields().len();
    let using: Vec<String> = match constraint {
        sql::JoinConstraint::On(_) | sql::JoinConstraint::None => vec![],
        sql::JoinConstraint::Using(names) => names
            .iter()
            .map(|n| match n.0.as_slice() {
                [part] => part
                    .as_ident()
                    .map(|i| i.value.clone())
                    .ok_or_else(|| Error::unsupported(format!("USING ({n})"))),
                _ => Err(Error::InvalidArgument {
                    message: format!(
                        "USING ({n}): a USING list names columns without a table qualifier"
                    ),
                }),
            })
            .collect::<Result<_>>()?,
        sql::JoinConstraint::UsingAlias(..) => {
            return Err(Error::unsupported("JOIN ... USING (...) AS alias"))
        }
        sql::JoinConstraint::Natural => {
            // The columns both sides have, by name (as `*` would show them), in left order.
            let right_names: Vec<String> = right_scope
                .all_columns()
                .into_iter()
                .map(|(_, n)| n)
                .collect();
            left_scope
                .all_columns()
                .into_iter()
                .map(|(_, n)| n)
                .filter(|n| right_names.contains(n))
                .collect()
        }
    };
    if matches!(constraint, sql::JoinConstraint::None)
        && !matches!(join.join_operator, sql::JoinOperator::CrossJoin(_))
    {
        return Err(Error::InvalidArgument {
            message: format!(
                "{} needs ON or USING; write ... ON a.x = b.y, or CROSS JOIN for every pair",
                join_name(&join.join_operator)
            ),
        });
    }
    // For USING: each named column on each side, by its bare name.
    let mut merged = Vec::with_capacity(using.len());
    for name in &using {
        if using
            .iter()
            .filter(|n| n.eq_ignore_ascii_case(name))
            .count()
            > 1
        {
            return Err(Error::InvalidArgument {
                message: format!("column \"{name}\" appears more than once in USING"),
            });
        }
        let l = left_scope.resolve(name)?;
        // Over the joined columns: the right side's come after the left's.
        let r = right_scope.resolve(name)?.shift_columns(0, left_len)?;
        merged.push((name.clone(), l, r));
    }
    let scope = Scope::join(left_scope, right_scope, kind);
    let condition = match constraint {
        sql::JoinConstraint::On(on) => {
            let condition = bind_expr(on, &scope, Some("JOIN conditions"))?;
            if !scope.take_joins().is_empty() || condition.contains_correlated_subquery() {
                return Err(Error::unsupported(
                    "a correlated subquery in JOIN ... ON; move the condition to WHERE",
                ));
            }
            Some(expect_boolean(condition, "JOIN ... ON")?)
        }
        _ => {
            // USING (a, b): left.a = right.a AND left.b = right.b, over the joined columns.
            let mut condition: Option<Expr> = None;
            for (_, l, r) in &merged {
                let (l, r) = coerce_pair(l.clone(), r.clone(), BinaryOp::Eq)?;
                let eq = l.binary(BinaryOp::Eq, r);
                condition = Some(match condition {
                    None => eq,
                    Some(c) => c.binary(BinaryOp::And, eq),
                });
            }
            condition
        }
    };
    let (keys, rest) = match condition {
        Some(condition) => split_join_condition(condition, left_len, scope.schema.fields().len())?,
        None => (vec![], None),
    };
    let plan = LogicalPlan::Join {
        left: Box::new(left),
        right: Box::new(right),
        kind,
        on: keys,
        filter: rest,
    };
    if merged.is_empty() {
        return Ok((plan, scope));
    }
    merge_using_columns(plan, scope, kind, &merged)
}

/// Hash join key pairs: (expression over the left input, expression over the right input).
type JoinKeys = Vec<(Expr, Expr)>;

/// Splits a join condition over the joined columns (`left_len` left ones, then the right ones)
/// into hash join keys (`left expr = right expr`, the right one over the right input's columns)
/// and the rest.
fn split_join_condition(
    condition: Expr,
    left_len: usize,
    width: usize,
) -> Result<(JoinKeys, Option<Expr>)> {
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
    let to_right: Vec<Option<usize>> = (0..width).map(|i| i.checked_sub(left_len)).collect();
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
    Ok((keys, rest))
}

/// The output of a USING (or NATURAL) join, as PostgreSQL gives it: each merged column once,
/// first (the left value; the right one for a RIGHT join; the non-NULL one for a FULL join),
/// then the left columns, then the right ones. The two sides' own copies of a merged column stay
/// reachable by a qualified name (`a.id`, `a.*`), not by the bare name or `*`.
fn merge_using_columns<'s>(
    plan: LogicalPlan,
    scope: Scope<'s>,
    kind: JoinKind,
    merged: &[(String, Expr, Expr)],
) -> Result<(LogicalPlan, Scope<'s>)> {
    let width = scope.schema.fields().len();
    let mut exprs = Vec::with_capacity(merged.len() + width);
    let mut names = Vec::with_capacity(merged.len() + width);
    let mut relations = Vec::with_capacity(merged.len() + width);
    let mut hidden = vec![false; width];
    for (name, l, r) in merged {
        for side in [l, r] {
            let mut columns = vec![];
            side.collect_columns(&mut columns);
            for c in columns {
                if let Some(h) = hidden.get_mut(c) {
                    *h = true;
                }
            }
        }
        let (l, r) = coerce_pair(l.clone(), r.clone(), BinaryOp::Eq)?;
        let value = match kind {
            JoinKind::Inner | JoinKind::Left | JoinKind::Mark => l,
            JoinKind::Right => r,
            JoinKind::Full => Expr::Case {
                when_then: vec![(Expr::IsNotNull(Box::new(l.clone())), l)],
                else_result: Some(Box::new(r)),
            },
        };
        exprs.push(value);
        names.push(name.clone());
        relations.push(Relation::default());
    }
    for (i, field) in scope.schema.fields().iter().enumerate() {
        exprs.push(Expr::column(
            i,
            field.name().clone(),
            field.data_type().clone(),
        ));
        names.push(field.name().clone());
        let mut relation = scope.relations.get(i).cloned().unwrap_or_default();
        relation.merged |= hidden.get(i).copied().unwrap_or(false);
        relations.push(relation);
    }
    let plan = LogicalPlan::Projection {
        input: Box::new(plan),
        exprs,
        names,
    };
    let scope = Scope {
        relations,
        schema: plan.schema(),
        binder: scope.binder,
        pending: std::cell::RefCell::new(vec![]),
        windows: None,
        decorrelate: std::cell::Cell::new(true),
    };
    Ok((plan, scope))
}

/// The SQL spelling of a join operator, for messages.
fn join_name(op: &sql::JoinOperator) -> &'static str {
    match op {
        sql::JoinOperator::Join(_) | sql::JoinOperator::Inner(_) => "JOIN",
        sql::JoinOperator::Left(_) | sql::JoinOperator::LeftOuter(_) => "LEFT JOIN",
        sql::JoinOperator::Right(_) | sql::JoinOperator::RightOuter(_) => "RIGHT JOIN",
        sql::JoinOperator::FullOuter(_) => "FULL JOIN",
        sql::JoinOperator::CrossJoin(_) => "CROSS JOIN",
        sql::JoinOperator::Semi(_)
        | sql::JoinOperator::LeftSemi(_)
        | sql::JoinOperator::RightSemi(_) => "SEMI JOIN",
        sql::JoinOperator::Anti(_)
        | sql::JoinOperator::LeftAnti(_)
        | sql::JoinOperator::RightAnti(_) => "ANTI JOIN",
        sql::JoinOperator::CrossApply | sql::JoinOperator::OuterApply => "APPLY",
        sql::JoinOperator::AsOf { .. } => "ASOF JOIN",
        sql::JoinOperator::StraightJoin(_) => "STRAIGHT_JOIN",
        _ => "ARRAY JOIN",
    }
}

/// A table function in FROM: `generate_series(start, stop[, step])` (integers, BIGINT values;
/// timestamps or dates with an INTERVAL step, TIMESTAMP values). The arguments are constants.
fn table_function(
    binder: &dyn Context,
    name: &sql::ObjectName,
    args: &sql::TableFunctionArgs,
) -> Result<LogicalPlan> {
    let function = object_name(name)?;
    if !function.eq_ignore_ascii_case("generate_series") {
        return Err(Error::unsupported(format!(
            "table function {function}(); supported: generate_series(start, stop[, step])"
        )));
    }
    let empty = Scope::of(
        Arc::new(arrow::datatypes::Schema::empty()),
        Relation::default(),
        Some(binder),
    );
    let mut values = Vec::with_capacity(args.args.len());
    for arg in &args.args {
        let sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(e)) = arg else {
            return Err(Error::unsupported(format!(
                "generate_series argument {arg}"
            )));
        };
        let bound = match bind_expr(e, &empty, Some("generate_series")) {
            Ok(bound) => crate::eval::fold_constants(bound)?,
            Err(Error::ColumnNotFound { .. } | Error::TableNotFound { .. }) => {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "generate_series() arguments must be constants, not {e} (a column of another table in FROM is a LATERAL reference, not supported)"
                    ),
                })
            }
            Err(other) => return Err(other),
        };
        // A DATE is its midnight (local under a session time zone), as a timestamp.
        let bound = match bound {
            Expr::Literal(v) if *v.data_type() == arrow::datatypes::DataType::Date32 => {
                crate::eval::fold_constants(
                    Expr::Literal(v).cast_to(&strata_storage::types::TIMESTAMP_TYPE),
                )?
            }
            other => other,
        };
        match bound {
            Expr::Literal(v) => values.push(v),
            other => {
                return Err(Error::InvalidArgument {
                    message: format!("generate_series() arguments must be constants, not {other}"),
                })
            }
        }
    }
    let series = series_values(&values)?;
    Ok(LogicalPlan::Series(crate::plan::Series {
        name: "generate_series".into(),
        values: series,
    }))
}

/// The values of `generate_series` from its constant arguments.
fn series_values(args: &[arrow::array::ArrayRef]) -> Result<crate::plan::SeriesValues> {
    use arrow::array::Array;
    use arrow::datatypes::DataType;
    let usage = || {
        Error::InvalidArgument {
        message: "generate_series(start, stop[, step]) takes integers (step 1 by default), or timestamps or dates with an INTERVAL step".into(),
    }
    };
    if !(2..=3).contains(&args.len()) {
        return Err(usage());
    }
    if args.iter().any(|a| a.is_null(0)) {
        return Err(Error::InvalidArgument {
            message: "generate_series() arguments must not be NULL".into(),
        });
    }
    let integer = |a: &arrow::array::ArrayRef| -> Option<i64> {
        let c = arrow::compute::cast(a, &DataType::Int64).ok()?;
        c.as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .map(|v| v.value(0))
    };
    let timestamp = |a: &arrow::array::ArrayRef| -> Option<i64> {
        if !matches!(a.data_type(), DataType::Date32 | DataType::Timestamp(_, _)) {
            return None;
        }
        let c = arrow::compute::cast(a, &strata_storage::types::TIMESTAMP_TYPE).ok()?;
        c.as_any()
            .downcast_ref::<arrow::array::TimestampMillisecondArray>()
            .map(|v| v.value(0))
    };
    let is_integer = |a: &arrow::array::ArrayRef| {
        matches!(
            a.data_type(),
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
        )
    };
    if is_integer(&args[0]) && is_integer(&args[1]) {
        let step = match args.get(2) {
            None => 1,
            Some(s) if is_integer(s) => integer(s).ok_or_else(usage)?,
            Some(_) => return Err(usage()),
        };
        return Ok(crate::plan::SeriesValues::Int {
            start: integer(&args[0]).ok_or_else(usage)?,
            stop: integer(&args[1]).ok_or_else(usage)?,
            step,
        });
    }
    let (Some(start), Some(stop)) = (timestamp(&args[0]), timestamp(&args[1])) else {
        return Err(usage());
    };
    let step = args
        .get(2)
        .and_then(|s| {
            s.as_any()
                .downcast_ref::<arrow::array::IntervalMonthDayNanoArray>()
                .map(|v| v.value(0))
        })
        .ok_or_else(usage)?;
    Ok(crate::plan::SeriesValues::Timestamp {
        start,
        stop,
        months: step.months,
        days: step.days,
        ms: step.nanoseconds / 1_000_000,
    })
}

/// Renames the first output columns of `plan` (`AS t(a, b)`, `WITH t(a, b) AS ...`).
pub(super) fn rename_columns(
    plan: LogicalPlan,
    columns: &[sql::TableAliasColumnDef],
) -> Result<LogicalPlan> {
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
        rows_estimate: None,
    })
}
