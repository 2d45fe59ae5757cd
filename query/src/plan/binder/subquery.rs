//! Subqueries in expressions (`(SELECT ...)`, `x IN (SELECT ...)`, `EXISTS (...)`).
//!
//! An uncorrelated one is bound through the statement's [`Context`] and added to the
//! statement's subqueries; the expression is an [`Expr::Subquery`] that refers to it, which the
//! engine replaces by the answer (a literal or a hashed [`InSet`](crate::expr::InSet)) when the
//! statement executes, once per subquery, inside the statement's snapshot. Binding runs nothing.
//!
//! A correlated one (it reads columns of the enclosing query's FROM, bound as
//! [`Expr::OuterColumn`]) is decorrelated into a join that the enclosing clause puts below the
//! expression ([`Scope::add_join`]), as DuckDB and DataFusion do for these shapes:
//!
//! * `EXISTS (SELECT ... FROM f WHERE c)`: a MARK join of the enclosing rows with `f` filtered by
//!   the conjuncts of `c` that read `f` only; the correlated conjuncts `inner = outer` are the
//!   hash join's keys, the other correlated ones its filter. The expression is the mark
//!   (`NOT EXISTS`: its negation).
//! * `(SELECT agg(...) FROM f WHERE inner = outer AND ...)`, a scalar aggregate correlated by
//!   equalities: `f` grouped by the inner sides, LEFT-joined on the outer sides. Where no group
//!   matches, the value is what the aggregate gives over no rows (0 for `count`, else NULL).
//!
//! * `x [NOT] IN (SELECT y FROM f WHERE inner = outer ...)`: three MARK joins (a row of `f` for
//!   the outer row at all, one with `y = x`, one with a NULL `y`) give IN's three-valued answer.
//!
//! Other correlated shapes (in HAVING, GROUP BY, ORDER BY or a grouped select list, where no
//! join can go under the clause; with GROUP BY or `ORDER BY ... LIMIT`; correlated by a
//! non-equality in a scalar subquery; outer columns in its select list or FROM) run once per
//! distinct tuple of the outer values they read ([`super::correlated`]). A correlated subquery
//! in JOIN ... ON or DELETE, or one reading two levels up, is `UNSUPPORTED`, with a hint.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array};
use arrow::datatypes::DataType;
use sqlparser::ast as sql;

use super::context::OuterResolver;
use super::correlated::{needs_per_outer_value, one_column, per_outer_value, Shape};
use super::postgres::reads_empty_catalog_table;
use super::scope::{PendingJoin, Scope};
use crate::error::{Error, Result};
use crate::eval::fold_constants;
use crate::expr::coerce::coerce_pair;
use crate::expr::{AggregateExpr, AggregateFunction, BinaryOp, Expr, SubqueryExpr, SubqueryKind};
use crate::function::conditional::SingleRow;
use crate::plan::{JoinKind, LogicalPlan};

/// A subquery bound in an expression: uncorrelated (its plan, to run when the statement
/// executes) or correlated (its plan, with outer columns, to decorrelate).
enum Bound {
    Uncorrelated(LogicalPlan),
    Correlated(LogicalPlan),
}

/// Binds a subquery of an expression, with the names of `scope` (the enclosing query's FROM)
/// visible to it.
fn bind_subquery(query: &sql::Query, scope: &Scope) -> Result<Bound> {
    let Some(binder) = scope.binder else {
        return Err(Error::unsupported("subqueries in this statement"));
    };
    let outer = scope.detached();
    let resolver: OuterResolver =
        Box::new(
            move |idents: &[sql::Ident]| match outer.resolve_compound(idents).ok()? {
                Expr::Column {
                    index,
                    name,
                    data_type,
                } => Some(Expr::OuterColumn {
                    index,
                    name,
                    data_type,
                }),
                _ => None,
            },
        );
    let plan = binder.bind_correlated(query, resolver)?;
    Ok(if reads_outer(&plan) {
        Bound::Correlated(plan)
    } else {
        Bound::Uncorrelated(plan)
    })
}

/// True when some expression of the plan (or of a CTE it reads) reads an outer column.
pub(super) fn reads_outer(plan: &LogicalPlan) -> bool {
    if let LogicalPlan::Cte(cte) = plan {
        return reads_outer(&cte.plan);
    }
    let mut outer = vec![];
    for e in plan.exprs() {
        e.collect_outer_columns(&mut outer);
    }
    !outer.is_empty() || plan.inputs().into_iter().any(reads_outer)
}

fn has_outer(e: &Expr) -> bool {
    let mut outer = vec![];
    e.collect_outer_columns(&mut outer);
    !outer.is_empty()
}

/// Adds an uncorrelated subquery's plan to the statement's subqueries: its id.
fn register(plan: LogicalPlan, scope: &Scope) -> Result<usize> {
    let Some(binder) = scope.binder else {
        return Err(Error::unsupported("subqueries in this statement"));
    };
    Ok(binder.add_subquery(plan))
}

fn unsupported_shape(what: &str) -> Error {
    Error::unsupported(format!(
        "a correlated subquery {what}; supported: EXISTS / NOT EXISTS (SELECT ... WHERE inner = outer ...) and a scalar aggregate (SELECT agg(...) FROM ... WHERE inner = outer ...) in WHERE or a select list without GROUP BY"
    ))
}

/// The subquery's FROM plan under its WHERE filter, with the filter's conjuncts split into
/// those that read the subquery only and those that read the enclosing query.
struct Correlation {
    from: LogicalPlan,
    local: Vec<Expr>,
    correlated: Vec<Expr>,
}

impl Correlation {
    /// `Filter(WHERE)` over the FROM plan (or the FROM plan alone: then no correlation).
    fn of(plan: LogicalPlan) -> Result<Self> {
        let (from, predicate) = match plan {
            LogicalPlan::Filter { input, predicate } => (*input, Some(predicate)),
            other => (other, None),
        };
        if reads_outer(&from) {
            return Err(unsupported_shape(
                "that reads the enclosing query outside its WHERE clause (in FROM, a join or a nested subquery)",
            ));
        }
        let (mut local, mut correlated) = (vec![], vec![]);
        for c in predicate.map(Expr::split_conjunction).unwrap_or_default() {
            if has_outer(&c) {
                correlated.push(c);
            } else {
                local.push(c);
            }
        }
        Ok(Correlation {
            from,
            local,
            correlated,
        })
    }

    /// The FROM plan filtered by the local conjuncts.
    fn right(&mut self) -> LogicalPlan {
        let from = std::mem::replace(&mut self.from, LogicalPlan::OneRow);
        match Expr::conjunction(std::mem::take(&mut self.local)) {
            Some(predicate) => LogicalPlan::Filter {
                input: Box::new(from),
                predicate,
            },
            None => from,
        }
    }
}

/// `inner = outer` (either order), with `inner` reading the subquery only and `outer` the
/// enclosing query only: (inner, outer as a column expression of the enclosing scope).
fn equality(c: &Expr) -> Option<(Expr, Expr)> {
    let Expr::Binary {
        op: BinaryOp::Eq,
        left,
        right,
    } = c
    else {
        return None;
    };
    let reads_inner = |e: &Expr| {
        let mut columns = vec![];
        e.collect_columns(&mut columns);
        !columns.is_empty()
    };
    let is_inner = |e: &Expr| reads_inner(e) && !has_outer(e);
    let is_outer = |e: &Expr| has_outer(e) && !reads_inner(e);
    if is_inner(left) && is_outer(right) {
        Some((
            left.as_ref().clone(),
            outer_to_column(right.as_ref().clone()).ok()?,
        ))
    } else if is_inner(right) && is_outer(left) {
        Some((
            right.as_ref().clone(),
            outer_to_column(left.as_ref().clone()).ok()?,
        ))
    } else {
        None
    }
}

/// Outer columns become columns of the enclosing scope.
fn outer_to_column(e: Expr) -> Result<Expr> {
    match e {
        Expr::OuterColumn {
            index,
            name,
            data_type,
        } => Ok(Expr::Column {
            index,
            name,
            data_type,
        }),
        other => other.map_children(outer_to_column),
    }
}

/// A correlated conjunct over the joined pairs: the enclosing scope's columns (`width` of them)
/// first, then the subquery's.
fn over_pairs(e: Expr, width: usize) -> Result<Expr> {
    outer_to_column(e.shift_columns(0, width)?)
}

/// `[NOT] EXISTS (...)` over a correlated subquery: a MARK join.
fn exists_join(plan: LogicalPlan, scope: &Scope) -> Result<Expr> {
    // Above WHERE, only what does not change whether a row exists: the select list, DISTINCT,
    // ORDER BY.
    let mut plan = plan;
    let plan = loop {
        plan = match plan {
            LogicalPlan::Projection { input, exprs, .. } => {
                if exprs.iter().any(has_outer) {
                    return Err(unsupported_shape(
                        "whose select list reads the enclosing query",
                    ));
                }
                *input
            }
            LogicalPlan::Sort { input, .. } => *input,
            LogicalPlan::Aggregate {
                input, aggregates, ..
            } if aggregates.is_empty() => *input,
            LogicalPlan::Limit {
                input,
                skip: 0,
                fetch,
            } if fetch != Some(0) => *input,
            other => break other,
        };
    };
    if matches!(
        plan,
        LogicalPlan::Aggregate { .. } | LogicalPlan::Limit { .. }
    ) {
        return Err(unsupported_shape(
            "with aggregates, GROUP BY or LIMIT under EXISTS / IN",
        ));
    }
    let mut correlation = Correlation::of(plan)?;
    let width = scope.schema.fields().len();
    let mut on = vec![];
    let mut filter = vec![];
    for c in std::mem::take(&mut correlation.correlated) {
        match equality(&c) {
            Some((inner, outer)) => on.push((outer, inner)),
            None => filter.push(over_pairs(c, width)?),
        }
    }
    let right = correlation.right();
    let mark = scope.add_join(PendingJoin {
        right,
        kind: JoinKind::Mark,
        on,
        filter: Expr::conjunction(filter),
    })?;
    Ok(Expr::column(
        mark,
        crate::plan::MARK_COLUMN,
        arrow::datatypes::DataType::Boolean,
    ))
}

/// `EXISTS (...)` / `NOT EXISTS (...)`.
pub(super) fn exists_subquery(query: &sql::Query, negated: bool, scope: &Scope) -> Result<Expr> {
    let exists = match bind_subquery(query, scope)? {
        Bound::Uncorrelated(plan) => Expr::Subquery(Box::new(SubqueryExpr {
            id: register(plan, scope)?,
            kind: SubqueryKind::Exists,
            column_type: DataType::Boolean,
            params: vec![],
            outer: vec![],
        })),
        Bound::Correlated(plan) => {
            return or_per_outer_value(plan, scope, Shape::Exists, |plan| exists_join(plan, scope))
                .map(|exists| {
                    if negated {
                        Expr::Not(Box::new(exists))
                    } else {
                        exists
                    }
                })
        }
    };
    Ok(if negated {
        Expr::Not(Box::new(exists))
    } else {
        exists
    })
}

/// `x [NOT] IN (SELECT y FROM f WHERE inner = outer AND ...)`: three MARK joins of the
/// enclosing rows with `f` filtered by the local conjuncts, keyed by the correlated equalities:
/// whether `f` has rows for the row at all (`any`), whether one has `y = x` (`found`, `x = y` a
/// hash key too) and whether one has a NULL `y` (`null`). As in PostgreSQL, the answer is TRUE
/// when found, FALSE without rows, NULL when `x` is NULL or a `y` is NULL, else FALSE.
///
/// Over an ungrouped aggregate (one row, always), `x IN (SELECT agg ...)` is `x = (SELECT agg
/// ...)`, decorrelated as a scalar subquery.
fn in_join(value: Expr, plan: LogicalPlan, negated: bool, scope: &Scope) -> Result<Expr> {
    if let LogicalPlan::Projection { input, .. } = &plan {
        if matches!(input.as_ref(), LogicalPlan::Aggregate { group_by, .. } if group_by.is_empty())
        {
            let scalar = scalar_join(plan, scope)?;
            let op = if negated {
                BinaryOp::NotEq
            } else {
                BinaryOp::Eq
            };
            let (value, scalar) = coerce_pair(value, scalar, op)?;
            return Ok(value.binary(op, scalar));
        }
    }
    // What does not change the set of values: ORDER BY, DISTINCT.
    let mut plan = plan;
    let (item, below) = loop {
        plan = match plan {
            LogicalPlan::Sort { input, .. } => *input,
            LogicalPlan::Aggregate {
                input, aggregates, ..
            } if aggregates.is_empty() => *input,
            LogicalPlan::Projection {
                input, mut exprs, ..
            } if exprs.len() == 1 => {
                let item = exprs
                    .pop()
                    .ok_or_else(|| Error::internal("empty select list"))?;
                break (item, *input);
            }
            LogicalPlan::Projection { exprs, .. } => {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "subquery has {} columns; a subquery in an expression returns one",
                        exprs.len()
                    ),
                })
            }
            _ => return Err(unsupported_shape(
                "under IN with aggregates, GROUP BY or LIMIT (write it as a join, or as EXISTS)",
            )),
        };
    };
    if has_outer(&item) {
        return Err(unsupported_shape(
            "whose select list reads the enclosing query",
        ));
    }
    if matches!(
        below,
        LogicalPlan::Aggregate { .. } | LogicalPlan::Limit { .. } | LogicalPlan::Window { .. }
    ) {
        return Err(unsupported_shape(
            "under IN with aggregates, GROUP BY, LIMIT or window functions",
        ));
    }
    let (value, item) = coerce_pair(value, item, BinaryOp::Eq)?;
    let mut correlation = Correlation::of(below)?;
    let width = scope.schema.fields().len();
    let mut on = vec![];
    let mut filter = vec![];
    for c in std::mem::take(&mut correlation.correlated) {
        match equality(&c) {
            Some((inner, outer)) => on.push((outer, inner)),
            None => filter.push(over_pairs(c, width)?),
        }
    }
    let right = correlation.right();
    let filter = Expr::conjunction(filter);
    let mark = |right: LogicalPlan, on: Vec<(Expr, Expr)>| -> Result<Expr> {
        let index = scope.add_join(PendingJoin {
            right,
            kind: JoinKind::Mark,
            on,
            filter: filter.clone(),
        })?;
        Ok(Expr::column(
            index,
            crate::plan::MARK_COLUMN,
            DataType::Boolean,
        ))
    };
    let mut found_on = on.clone();
    found_on.push((value.clone(), item.clone()));
    let found = mark(right.clone(), found_on)?;
    let any = mark(right.clone(), on.clone())?;
    let null_right = LogicalPlan::Filter {
        input: Box::new(right),
        predicate: Expr::IsNull(Box::new(item)),
    };
    let null = mark(null_right, on)?;
    let boolean =
        |b: Option<bool>| Expr::Literal(Arc::new(arrow::array::BooleanArray::from(vec![b])));
    let answer = Expr::Case {
        when_then: vec![
            (found, boolean(Some(true))),
            (Expr::Not(Box::new(any)), boolean(Some(false))),
            (
                Expr::IsNull(Box::new(value)).binary(BinaryOp::Or, null),
                boolean(None),
            ),
        ],
        else_result: Some(Box::new(boolean(Some(false)))),
    };
    Ok(if negated {
        Expr::Not(Box::new(answer))
    } else {
        answer
    })
}

/// A correlated scalar subquery that is not an aggregate, `(SELECT y FROM f WHERE ...)`, as
/// one: `single_row(count(*), any_value(y))`, which is an error where an outer row matches more
/// than one row (PostgreSQL's "more than one row returned by a subquery"); with `LIMIT 1` (no
/// ORDER BY), `any_value(y)`. Aggregates pass unchanged.
fn single_row_aggregate(plan: LogicalPlan) -> Result<LogicalPlan> {
    let (plan, limited) = match plan {
        LogicalPlan::Limit {
            input,
            skip: 0,
            fetch: Some(1),
        } if matches!(input.as_ref(), LogicalPlan::Projection { .. }) => (*input, true),
        LogicalPlan::Limit { input, .. }
            if matches!(input.as_ref(), LogicalPlan::Sort { .. }) =>
        {
            return Err(unsupported_shape(
                "with ORDER BY ... LIMIT (the first row per outer row: write it with DISTINCT ON or row_number() in a join)",
            ))
        }
        other => (other, false),
    };
    let LogicalPlan::Projection {
        input,
        mut exprs,
        names,
    } = plan
    else {
        return Ok(plan);
    };
    let is_plain = !matches!(
        input.as_ref(),
        LogicalPlan::Aggregate { .. }
            | LogicalPlan::Limit { .. }
            | LogicalPlan::Sort { .. }
            | LogicalPlan::Window { .. }
    );
    if !is_plain || exprs.len() != 1 || exprs.iter().any(|e| e.contains_aggregate()) {
        return Ok(LogicalPlan::Projection {
            input,
            exprs,
            names,
        });
    }
    let item = exprs
        .pop()
        .ok_or_else(|| Error::internal("empty select list"))?;
    let item_type = item.data_type();
    let any_value = AggregateExpr {
        func: AggregateFunction::AnyValue,
        arg: Some(item),
        distinct: false,
        filter: None,
        data_type: item_type.clone(),
        fraction: None,
        extra_args: vec![],
        order_by: vec![],
    };
    let (aggregates, value) = if limited {
        (vec![any_value], Expr::column(0, "any_value", item_type))
    } else {
        let count = AggregateExpr {
            func: AggregateFunction::Count,
            arg: None,
            distinct: false,
            filter: None,
            data_type: DataType::Int64,
            fraction: None,
            extra_args: vec![],
            order_by: vec![],
        };
        let value = Expr::call(
            SingleRow,
            vec![
                Expr::column(0, "count", DataType::Int64),
                Expr::column(1, "any_value", item_type),
            ],
        );
        (vec![count, any_value], value)
    };
    let names = aggregates
        .iter()
        .map(|a| a.func.name().to_string())
        .collect();
    Ok(LogicalPlan::Projection {
        input: Box::new(LogicalPlan::Aggregate {
            input,
            group_by: vec![],
            aggregates,
            names,
        }),
        exprs: vec![value],
        names: vec!["value".into()],
    })
}

/// `(SELECT agg(...) FROM f WHERE inner = outer AND ...)`: `f` grouped by the inner sides,
/// LEFT-joined on the outer ones.
fn scalar_join(plan: LogicalPlan, scope: &Scope) -> Result<Expr> {
    let plan = single_row_aggregate(plan)?;
    let LogicalPlan::Projection { input, exprs, .. } = plan else {
        return Err(unsupported_shape(
            "that is not a single aggregate value (add an aggregate such as max(...))",
        ));
    };
    let [value] = <[Expr; 1]>::try_from(exprs).map_err(|exprs| Error::InvalidArgument {
        message: format!(
            "subquery has {} columns; a subquery in an expression returns one",
            exprs.len()
        ),
    })?;
    let LogicalPlan::Aggregate {
        input,
        group_by,
        aggregates,
        names,
    } = *input
    else {
        return Err(unsupported_shape(
            "that is not a single aggregate value (add an aggregate such as max(...))",
        ));
    };
    if !group_by.is_empty() {
        return Err(unsupported_shape("with GROUP BY"));
    }
    if has_outer(&value) || aggregates.iter().any(|a| a.exprs().any(has_outer)) {
        return Err(unsupported_shape(
            "whose select list reads the enclosing query",
        ));
    }
    let mut correlation = Correlation::of(*input)?;
    let mut inner_keys = vec![];
    let mut outer_keys = vec![];
    for c in std::mem::take(&mut correlation.correlated) {
        let (inner, outer) = equality(&c).ok_or_else(|| {
            unsupported_shape(
                "correlated by a condition other than inner = outer (in a scalar subquery)",
            )
        })?;
        inner_keys.push(inner);
        outer_keys.push(outer);
    }
    let keys = inner_keys.len();
    // What the value is over no rows: count gives 0, the other aggregates NULL.
    let empty_value = {
        let mut mapping = Vec::with_capacity(aggregates.len());
        for a in &aggregates {
            mapping.push(match a.func {
                AggregateFunction::Count | AggregateFunction::ApproxCountDistinct => {
                    Expr::Literal(Arc::new(Int64Array::from(vec![0_i64])) as ArrayRef)
                        .cast_to(&a.data_type)
                }
                _ => Expr::Literal(arrow::array::new_null_array(&a.data_type, 1)),
            });
        }
        fold_constants(substitute(value.clone(), &mapping)?)?
    };
    let key_names: Vec<String> = (0..keys).map(|i| format!("key{i}")).collect();
    let aggregate = LogicalPlan::Aggregate {
        input: Box::new(correlation.right()),
        group_by: inner_keys.clone(),
        aggregates,
        names: key_names.iter().cloned().chain(names).collect(),
    };
    let shift: Vec<Option<usize>> = (0..aggregate.schema().fields().len())
        .map(|i| Some(i + keys))
        .collect();
    let value = value.remap_columns(&shift)?;
    let value_type = value.data_type();
    let mut exprs: Vec<Expr> = inner_keys
        .iter()
        .enumerate()
        .map(|(i, k)| Expr::column(i, key_names[i].clone(), k.data_type()))
        .collect();
    exprs.push(value);
    let right = LogicalPlan::Projection {
        input: Box::new(aggregate),
        exprs,
        names: key_names
            .iter()
            .cloned()
            .chain(["value".to_string()])
            .collect(),
    };
    let on = outer_keys
        .into_iter()
        .zip(inner_keys.iter().enumerate())
        .map(|(outer, (i, k))| (outer, Expr::column(i, key_names[i].clone(), k.data_type())))
        .collect();
    let first = scope.add_join(PendingJoin {
        right,
        kind: JoinKind::Left,
        on,
        filter: None,
    })?;
    let column = Expr::column(first + keys, "value", value_type.clone());
    let is_null = matches!(&empty_value, Expr::Literal(v) if v.is_null(0));
    if is_null {
        return Ok(column);
    }
    // No group matched (the key column is NULL: a matched key never is): the empty value.
    let matched_key = Expr::column(first, &key_names[0], inner_keys[0].data_type());
    Ok(Expr::Case {
        when_then: vec![(
            Expr::IsNull(Box::new(matched_key)),
            empty_value.cast_to(&value_type),
        )],
        else_result: Some(Box::new(column)),
    })
}

/// `value` with every column `i` (an aggregate's output) replaced by `mapping[i]`.
fn substitute(value: Expr, mapping: &[Expr]) -> Result<Expr> {
    match value {
        Expr::Column { index, name, .. } => mapping
            .get(index)
            .cloned()
            .ok_or_else(|| Error::internal(format!("aggregate column {name} out of range"))),
        other => other.map_children(|c| substitute(c, mapping)),
    }
}

/// A correlated subquery decorrelated by `rule` into a join under the clause where the scope
/// allows one and the rule applies (it refuses a shape with `UNSUPPORTED`), else run per
/// distinct tuple of the outer values it reads ([`per_outer_value`]).
fn or_per_outer_value(
    plan: LogicalPlan,
    scope: &Scope,
    shape: Shape,
    rule: impl FnOnce(LogicalPlan) -> Result<Expr>,
) -> Result<Expr> {
    if scope.decorrelate.get() && !needs_per_outer_value(&plan) {
        match rule(plan.clone()) {
            Err(Error::Unsupported { .. }) => {}
            other => return other,
        }
    }
    per_outer_value(plan, shape, scope)
}

/// `(SELECT ...)` as a value: its one row's one column, NULL without rows.
pub(super) fn scalar_subquery(query: &sql::Query, scope: &Scope) -> Result<Expr> {
    if reads_empty_catalog_table(query, scope) {
        return Ok(Expr::Literal(arrow::array::new_null_array(
            &DataType::Null,
            1,
        )));
    }
    let plan = match bind_subquery(query, scope)? {
        Bound::Uncorrelated(plan) => plan,
        Bound::Correlated(plan) => {
            return or_per_outer_value(plan, scope, Shape::Scalar, |plan| scalar_join(plan, scope))
        }
    };
    let column_type = one_column(&plan)?;
    Ok(Expr::Subquery(Box::new(SubqueryExpr {
        id: register(plan, scope)?,
        kind: SubqueryKind::Scalar,
        column_type,
        params: vec![],
        outer: vec![],
    })))
}

/// `x [NOT] IN (SELECT ...)`: the values are computed when the statement runs, cast to the
/// type `x` is compared in, and hashed.
pub(super) fn in_subquery(
    value: Expr,
    query: &sql::Query,
    negated: bool,
    scope: &Scope,
) -> Result<Expr> {
    let plan = match bind_subquery(query, scope)? {
        Bound::Uncorrelated(plan) => plan,
        Bound::Correlated(plan) => {
            let shape = Shape::In {
                value: value.clone(),
                negated,
            };
            return or_per_outer_value(plan, scope, shape, |plan| {
                in_join(value, plan, negated, scope)
            });
        }
    };
    let probe = Expr::column(0, "subquery", one_column(&plan)?);
    let (value, probe) = coerce_pair(value, probe, BinaryOp::Eq)?;
    Ok(Expr::Subquery(Box::new(SubqueryExpr {
        id: register(plan, scope)?,
        kind: SubqueryKind::In {
            value: Box::new(value),
            negated,
        },
        column_type: probe.data_type(),
        params: vec![],
        outer: vec![],
    })))
}
