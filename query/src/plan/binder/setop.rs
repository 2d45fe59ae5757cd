//! Set operations: `a UNION [ALL] b ...` is a `Union` of the inputs, each cast to the column
//! types they share (`UNION` adds an `Aggregate` over every column); `INTERSECT [ALL]` and
//! `EXCEPT [ALL]` are `SetOp` nodes of two inputs cast the same way; and the `ORDER BY` over the
//! output of a set operation or a parenthesized query.

use arrow::datatypes::{DataType, SchemaRef};
use sqlparser::ast as sql;

use super::context::Context;
use super::expr::bind_expr;
use super::literal::sort_options;
use super::scope::{Relation, Scope};
use super::select::{bind_select, distinct_rows, positional, select_item_at};
use crate::error::{Error, Result};
use crate::expr::coerce::common_type;
use crate::expr::Expr;
use crate::plan::{LogicalPlan, SetOpKind, SortKey};

/// A query body: a SELECT, a parenthesized query, or `UNION [ALL]`.
pub(super) fn bind_set_expr(binder: &dyn Context, body: &sql::SetExpr) -> Result<LogicalPlan> {
    match body {
        sql::SetExpr::Select(select) => bind_select(binder, select, &[]),
        sql::SetExpr::Query(query) => binder.bind_query(query),
        sql::SetExpr::SetOperation {
            op: sql::SetOperator::Union,
            ..
        } => bind_union_chain(binder, body),
        sql::SetExpr::SetOperation { .. } => bind_difference_chain(binder, body),
        other => Err(Error::unsupported(format!("query body {other}"))),
    }
}

/// `a UNION [ALL] b UNION [ALL] c ...`: left-deep in the AST, taken apart without
/// recursion into one union node of all the branches, under one DISTINCT where the chain
/// asks for it (`DISTINCT (x UNION y)` is `DISTINCT (DISTINCT x UNION y)`), so 5,000
/// branches make a plan two nodes deep, not 5,000.
fn bind_union_chain(binder: &dyn Context, body: &sql::SetExpr) -> Result<LogicalPlan> {
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
            // An INTERSECT / EXCEPT below is one branch of the union.
            break;
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
    push(&mut inputs, bind_set_expr(binder, leftmost)?);
    let mut distinct_pending = false;
    for (distinct, right) in links.into_iter().rev() {
        if !distinct && distinct_pending {
            // `(x UNION y) UNION ALL z`: the DISTINCT applies to x and y only.
            let plan = distinct_rows(union_all(std::mem::take(&mut inputs))?);
            inputs.push(plan);
            distinct_pending = false;
        }
        push(&mut inputs, bind_set_expr(binder, right)?);
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
pub(super) fn order_output(
    binder: &dyn Context,
    plan: LogicalPlan,
    order_by: &[sql::OrderByExpr],
) -> Result<LogicalPlan> {
    if order_by.is_empty() {
        return Ok(plan);
    }
    let scope = Scope::of(plan.schema(), Relation::default(), Some(binder));
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

/// `a INTERSECT [ALL] b EXCEPT [ALL] c ...`: left-deep in the AST (INTERSECT binds tighter, the
/// parser has grouped it), taken apart without recursion, each step a hashed set operation of
/// the rows so far (streamed) and the next branch (held in memory).
fn bind_difference_chain(binder: &dyn Context, body: &sql::SetExpr) -> Result<LogicalPlan> {
    let mut links = vec![];
    let mut leftmost = body;
    while let sql::SetExpr::SetOperation {
        left,
        op,
        set_quantifier,
        right,
    } = leftmost
    {
        let kind = match op {
            sql::SetOperator::Intersect => SetOpKind::Intersect,
            sql::SetOperator::Except | sql::SetOperator::Minus => SetOpKind::Except,
            // A UNION below is one branch of this chain.
            sql::SetOperator::Union => break,
        };
        let all = match set_quantifier {
            sql::SetQuantifier::All => true,
            sql::SetQuantifier::Distinct | sql::SetQuantifier::None => false,
            other => return Err(Error::unsupported(format!("{op} {other}"))),
        };
        links.push((kind, all, right.as_ref()));
        leftmost = left.as_ref();
    }
    let mut plan = bind_set_expr(binder, leftmost)?;
    for (op, all, right) in links.into_iter().rev() {
        let right = bind_set_expr(binder, right)?;
        let [left, right] =
            <[LogicalPlan; 2]>::try_from(cast_to_common(vec![plan, right], op.name())?)
                .map_err(|_| Error::internal("a set operation lost an input"))?;
        plan = LogicalPlan::SetOp {
            left: Box::new(left),
            right: Box::new(right),
            op,
            all,
        };
    }
    Ok(plan)
}

/// The rows of `inputs` one after the other, every column cast to the type all inputs share.
fn union_all(inputs: Vec<LogicalPlan>) -> Result<LogicalPlan> {
    Ok(LogicalPlan::Union {
        inputs: cast_to_common(inputs, "UNION")?,
    })
}

/// The inputs of a set operation (`what`), each with every column cast to the type all inputs
/// share.
fn cast_to_common(inputs: Vec<LogicalPlan>, what: &str) -> Result<Vec<LogicalPlan>> {
    let schemas: Vec<SchemaRef> = inputs.iter().map(LogicalPlan::schema).collect();
    let width = schemas.first().map(|s| s.fields().len()).unwrap_or(0);
    if schemas.iter().any(|s| s.fields().len() != width) {
        return Err(Error::InvalidArgument {
            message: format!("each {what} query must have the same number of columns"),
        });
    }
    let mut types = Vec::with_capacity(width);
    for i in 0..width {
        let columns: Vec<Expr> = schemas
            .iter()
            .map(|s| Expr::column(i, s.field(i).name().clone(), s.field(i).data_type().clone()))
            .collect();
        let mut target = common_type(&columns, what)?;
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
    Ok(cast_inputs)
}
