//! Subqueries in expressions (`(SELECT ...)`, `x IN (SELECT ...)`, `EXISTS (...)`).
//!
//! An uncorrelated one is bound through the statement's [`Context`] and run once, while the
//! statement is bound; its answer enters the plan as a literal or a hashed [`InSet`].
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
//! `x IN (SELECT ...)` over a correlated subquery is not decorrelated (its NULL answer needs a
//! null-aware mark); `EXISTS (... AND y = x)` says the same without NULLs. Other correlated
//! shapes (a correlated subquery in GROUP BY, HAVING, ORDER BY or ON; one
//! with GROUP BY, LIMIT or a non-aggregate value; outer columns in its select list or two
//! levels up) are `UNSUPPORTED`, with a hint.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use sqlparser::ast as sql;

use super::context::OuterResolver;
use super::postgres::reads_empty_catalog_table;
use super::scope::{PendingJoin, Scope};
use crate::error::{Error, Result};
use crate::eval::fold_constants;
use crate::expr::coerce::coerce_pair;
use crate::expr::{AggregateFunction, BinaryOp, Expr, InSet};
use crate::plan::{JoinKind, LogicalPlan};

/// The answer of a subquery bound in an expression: uncorrelated (its plan, to run now) or
/// correlated (its plan, with outer columns, to decorrelate).
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

/// True when some expression of the plan reads an outer column.
fn reads_outer(plan: &LogicalPlan) -> bool {
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

/// Runs an uncorrelated subquery's plan.
fn run(plan: LogicalPlan, scope: &Scope) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let Some(runner) = scope.binder.and_then(|b| b.runner()) else {
        return Err(Error::unsupported("subqueries in this statement"));
    };
    let schema = plan.schema();
    let batches = runner(plan)?;
    Ok((schema, batches))
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
        Bound::Uncorrelated(plan) => {
            let (_, batches) = run(plan, scope)?;
            let exists = batches.iter().any(|b| b.num_rows() > 0);
            Expr::Literal(Arc::new(arrow::array::BooleanArray::from(vec![exists])))
        }
        Bound::Correlated(plan) => exists_join(plan, scope)?,
    };
    Ok(if negated {
        Expr::Not(Box::new(exists))
    } else {
        exists
    })
}

/// `(SELECT agg(...) FROM f WHERE inner = outer AND ...)`: `f` grouped by the inner sides,
/// LEFT-joined on the outer ones.
fn scalar_join(plan: LogicalPlan, scope: &Scope) -> Result<Expr> {
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
pub(super) fn scalar_subquery(query: &sql::Query, scope: &Scope) -> Result<Expr> {
    if reads_empty_catalog_table(query, scope) {
        return Ok(Expr::Literal(arrow::array::new_null_array(
            &arrow::datatypes::DataType::Null,
            1,
        )));
    }
    let (schema, batches) = match bind_subquery(query, scope)? {
        Bound::Uncorrelated(plan) => run(plan, scope)?,
        Bound::Correlated(plan) => return scalar_join(plan, scope),
    };
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
pub(super) fn in_subquery(
    value: Expr,
    query: &sql::Query,
    negated: bool,
    scope: &Scope,
) -> Result<Expr> {
    let (schema, batches) = match bind_subquery(query, scope)? {
        Bound::Uncorrelated(plan) => run(plan, scope)?,
        Bound::Correlated(_) => {
            return Err(Error::unsupported(
                "[NOT] IN over a correlated subquery (with NULLs, IN has a third answer); write [NOT] EXISTS (SELECT ... WHERE ... AND inner = x)",
            ))
        }
    };
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
