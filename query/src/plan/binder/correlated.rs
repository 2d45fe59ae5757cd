//! Correlated subqueries that no rule of [`super::subquery`] turns into a join: run once per
//! distinct tuple of the outer values they read.
//!
//! The decorrelation rules cover EXISTS, IN and scalar subqueries correlated by equalities in
//! WHERE and plain select lists. Everything else that PostgreSQL accepts (a correlated subquery
//! in HAVING, GROUP BY, ORDER BY or the select list of a grouped query; one with GROUP BY,
//! `ORDER BY ... LIMIT`, a non-equality correlation in a scalar subquery, outer columns in its
//! select list or its FROM) becomes an [`Expr::Subquery`] with `params`: the enclosing
//! columns it reads. When the statement executes, the node holding the expression has its
//! input computed once; the subquery then runs once per distinct tuple of those values (each
//! run binds them as literals, so its filters prune like any constant's), at most
//! `statement::CORRELATED_RUNS_MAX` times, and the expression reads the answers back by value
//! (see `crate::statement`). This is DuckDB's dependent join evaluated by value, which is what
//! PostgreSQL's per-row SubPlan does with its result cache; a subquery that cannot be bounded
//! that way is refused with its error, never run without limit.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array};
use arrow::datatypes::DataType;

use super::scope::Scope;
use crate::error::{Error, Result};
use crate::expr::coerce::coerce_pair;
use crate::expr::{
    AggregateExpr, AggregateFunction, BinaryOp, Expr, SubqueryExpr, SubqueryKind, OUTER_LEVEL,
};
use crate::plan::LogicalPlan;

/// What the subquery is in its expression.
pub(super) enum Shape {
    /// `(SELECT ...)`: its one value.
    Scalar,
    /// `EXISTS (SELECT ...)`.
    Exists,
    /// `value [NOT] IN (SELECT ...)`.
    In {
        /// The value tested, over the enclosing input.
        value: Expr,
        /// `NOT IN`
        negated: bool,
    },
}

/// True when no decorrelation rule may take `plan`: it reads a query two or more levels up,
/// or holds a correlated subquery that reads the enclosing query (a join would move it into
/// a join condition).
pub(super) fn needs_per_outer_value(plan: &LogicalPlan) -> bool {
    let mut outer = BTreeMap::new();
    if outer_columns(plan, &mut outer).is_err() {
        return true;
    }
    outer.keys().any(|&i| i >= OUTER_LEVEL) || reads_outer_in_subquery(plan)
}

fn reads_outer_in_subquery(plan: &LogicalPlan) -> bool {
    plan.exprs().iter().any(|e| outer_in_subquery(e))
        || plan.inputs().into_iter().any(reads_outer_in_subquery)
}

#[recursive::recursive]
fn outer_in_subquery(e: &Expr) -> bool {
    match e {
        Expr::Subquery(s) if s.is_correlated() => s.params.iter().any(|p| {
            let mut outer = vec![];
            p.collect_outer_columns(&mut outer);
            !outer.is_empty()
        }),
        _ => e.children().into_iter().any(outer_in_subquery),
    }
}

/// The subquery as an expression that runs it per distinct tuple of the outer values it
/// reads.
pub(super) fn per_outer_value(plan: LogicalPlan, shape: Shape, scope: &Scope) -> Result<Expr> {
    let Some(binder) = scope.binder else {
        return Err(Error::unsupported("subqueries in this statement"));
    };
    let mut outer = BTreeMap::new();
    outer_columns(&plan, &mut outer)?;
    let mut params = Vec::with_capacity(outer.len() + 1);
    let mut indices = Vec::with_capacity(outer.len() + 1);
    for (index, (name, data_type)) in outer {
        // A column of the enclosing query, or one further up: an outer column of it.
        params.push(match index.checked_sub(OUTER_LEVEL) {
            None => Expr::column(index, name, data_type),
            Some(up) => Expr::OuterColumn {
                index: up,
                name,
                data_type,
            },
        });
        indices.push(index);
    }
    let (plan, kind, column_type, negated) = match shape {
        Shape::Scalar => {
            let column_type = one_column(&plan)?;
            (plan, SubqueryKind::Scalar, column_type, false)
        }
        Shape::Exists => {
            // One row answers it.
            let plan = LogicalPlan::Limit {
                input: Box::new(plan),
                skip: 0,
                fetch: Some(1),
            };
            (plan, SubqueryKind::Exists, DataType::Boolean, false)
        }
        Shape::In { value, negated } => {
            // The tested value is one more outer value, at an index no column of the
            // enclosing query has.
            let index = OUTER_LEVEL - 1;
            let item = Expr::column(0, "value", one_column(&plan)?);
            let (value, item) = coerce_pair(value, item, BinaryOp::Eq)?;
            let tested = Expr::OuterColumn {
                index,
                name: "in value".into(),
                data_type: value.data_type(),
            };
            params.push(value);
            indices.push(index);
            (
                in_answer(plan, item, tested),
                SubqueryKind::Scalar,
                DataType::Boolean,
                negated,
            )
        }
    };
    let id = binder.add_subquery(plan);
    let expr = Expr::Subquery(Box::new(SubqueryExpr {
        id,
        kind,
        column_type,
        params,
        outer: indices,
    }));
    Ok(if negated {
        Expr::Not(Box::new(expr))
    } else {
        expr
    })
}

/// `x IN (SELECT y ...)` for one outer row, as a one-row plan: PostgreSQL's three-valued
/// answer (TRUE when some `y = x`; FALSE without rows; NULL when `x` or some `y` is NULL;
/// else FALSE).
fn in_answer(plan: LogicalPlan, item: Expr, tested: Expr) -> LogicalPlan {
    let count = |filter: Option<Expr>| AggregateExpr {
        func: AggregateFunction::Count,
        arg: None,
        distinct: false,
        filter,
        data_type: DataType::Int64,
        fraction: None,
        extra_args: vec![],
        order_by: vec![],
    };
    let aggregates = vec![
        count(None),
        count(Some(item.clone().binary(BinaryOp::Eq, tested.clone()))),
        count(Some(Expr::IsNull(Box::new(item)))),
    ];
    let column = |i: usize, name: &str| Expr::column(i, name, DataType::Int64);
    let zero = || Expr::Literal(Arc::new(Int64Array::from(vec![0_i64])) as ArrayRef);
    let boolean = |b: Option<bool>| Expr::Literal(Arc::new(BooleanArray::from(vec![b])));
    let answer = Expr::Case {
        when_then: vec![
            (
                column(1, "found").binary(BinaryOp::Gt, zero()),
                boolean(Some(true)),
            ),
            (
                column(0, "rows").binary(BinaryOp::Eq, zero()),
                boolean(Some(false)),
            ),
            (
                Expr::IsNull(Box::new(tested)).binary(
                    BinaryOp::Or,
                    column(2, "nulls").binary(BinaryOp::Gt, zero()),
                ),
                boolean(None),
            ),
        ],
        else_result: Some(Box::new(boolean(Some(false)))),
    };
    LogicalPlan::Projection {
        input: Box::new(LogicalPlan::Aggregate {
            input: Box::new(plan),
            group_by: vec![],
            aggregates,
            names: vec!["rows".into(), "found".into(), "nulls".into()],
        }),
        exprs: vec![answer],
        names: vec!["in".into()],
    }
}

/// The type of a subquery's one column (an error unless it has exactly one).
pub(super) fn one_column(plan: &LogicalPlan) -> Result<DataType> {
    let schema = plan.schema();
    match schema.fields().as_ref() {
        [field] => Ok(field.data_type().clone()),
        fields => Err(Error::InvalidArgument {
            message: format!(
                "subquery has {} columns; a subquery in an expression returns one",
                fields.len()
            ),
        }),
    }
}

/// The outer columns read anywhere in `plan`: index -> (name, type).
fn outer_columns(plan: &LogicalPlan, out: &mut BTreeMap<usize, (String, DataType)>) -> Result<()> {
    if let LogicalPlan::Cte(cte) = plan {
        let mut inside = BTreeMap::new();
        outer_columns(&cte.plan, &mut inside)?;
        if !inside.is_empty() {
            return Err(Error::unsupported(
                "a WITH query inside a correlated subquery that reads the enclosing query; move the WITH to the top of the statement",
            ));
        }
        return Ok(());
    }
    for e in plan.exprs() {
        outer_in(e, out);
    }
    for input in plan.inputs() {
        outer_columns(input, out)?;
    }
    Ok(())
}

#[recursive::recursive]
fn outer_in(e: &Expr, out: &mut BTreeMap<usize, (String, DataType)>) {
    if let Expr::OuterColumn {
        index,
        name,
        data_type,
    } = e
    {
        out.entry(*index)
            .or_insert_with(|| (name.clone(), data_type.clone()));
    }
    for child in e.children() {
        outer_in(child, out);
    }
}
