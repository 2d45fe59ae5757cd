//! Subqueries in expressions (`(SELECT ...)`, `x IN (SELECT ...)`, `EXISTS (...)`): they must
//! be uncorrelated, are bound through the statement's [`Context`] and run once, while the
//! statement is bound; their answer enters the plan as a literal or a hashed [`InSet`].

use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use sqlparser::ast as sql;

use super::context::Context;
use super::scope::Scope;
use crate::error::{Error, Result};
use crate::expr::coerce::coerce_pair;
use crate::expr::{BinaryOp, Expr, InSet};

/// Binds and runs an uncorrelated subquery of an expression; a reference to a column of the
/// outer query is a clear error.
pub(super) fn run_subquery(
    query: &sql::Query,
    scope: &Scope,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let (Some(binder), Some(runner)) = (scope.binder, scope.binder.and_then(|b| b.runner())) else {
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
pub(super) fn scalar_subquery(query: &sql::Query, scope: &Scope) -> Result<Expr> {
    if reads_empty_catalog_table(query, scope) {
        return Ok(Expr::Literal(arrow::array::new_null_array(
            &arrow::datatypes::DataType::Null,
            1,
        )));
    }
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

/// Aggregates whose value over no rows is not NULL (every other aggregate's is NULL).
const NOT_NULL_OVER_NO_ROWS: &[&str] = &["count("];

/// Whether `query` is a SELECT that reads an empty catalog table (see
/// [`select_reads_empty_catalog_table`]): its value is NULL whatever the outer row, so that the
/// correlated subqueries of psql and SQLAlchemy (a column's default from `pg_attrdef`, its
/// identity from `pg_sequence`, its collation from `pg_collation`) answer exactly without being
/// decorrelated.
fn reads_empty_catalog_table(query: &sql::Query, scope: &Scope) -> bool {
    let sql::SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    query.with.is_none() && select_reads_empty_catalog_table(select, scope.binder)
}

/// Whether `select` has no rows whatever its select list computes: its FROM is empty (see
/// [`empty_from`]) and it is grouped (no group without rows), or ungrouped without HAVING and
/// without a counting aggregate (which would answer one row).
pub(super) fn select_reads_empty_catalog_table(
    select: &sql::Select,
    binder: Option<&dyn Context>,
) -> bool {
    let [from] = select.from.as_slice() else {
        return false;
    };
    if !empty_from(from, binder) {
        return false;
    }
    let grouped = match &select.group_by {
        sql::GroupByExpr::Expressions(exprs, _) => !exprs.is_empty(),
        sql::GroupByExpr::All(_) => true,
    };
    if grouped {
        return true;
    }
    let projection = select
        .projection
        .iter()
        .map(|p| p.to_string().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",");
    let counts = NOT_NULL_OVER_NO_ROWS
        .iter()
        .any(|f| projection.contains(f) || projection.contains(&f.replace('(', " (")));
    select.having.is_none() && !counts
}

/// Whether `from` has no rows: its first relation has none and every join is an inner or left
/// join, or an inner join's relation has none. A relation without rows is a `pg_catalog` table
/// without rows here ([`crate::pg_catalog::EMPTY_TABLES`]) or a subquery in FROM whose select
/// has none ([`select_reads_empty_catalog_table`]).
fn empty_from(from: &sql::TableWithJoins, binder: Option<&dyn Context>) -> bool {
    let mut empty = empty_relation(&from.relation, binder);
    for join in &from.joins {
        match &join.join_operator {
            sql::JoinOperator::Join(_) | sql::JoinOperator::Inner(_) => {
                empty = empty || empty_relation(&join.relation, binder);
            }
            sql::JoinOperator::Left(_) | sql::JoinOperator::LeftOuter(_) => {}
            _ => return false,
        }
    }
    empty
}

/// Whether one relation of FROM has no rows (see [`empty_from`]).
fn empty_relation(factor: &sql::TableFactor, binder: Option<&dyn Context>) -> bool {
    match factor {
        sql::TableFactor::Table {
            name, args: None, ..
        } => {
            let parts: Vec<String> = name
                .0
                .iter()
                .filter_map(|p| p.as_ident().map(|i| i.value.to_ascii_lowercase()))
                .collect();
            let (table, qualified) = match parts.as_slice() {
                [schema, table] if schema == "pg_catalog" => (table, true),
                [table] => (table, false),
                _ => return false,
            };
            let empty = crate::pg_catalog::EMPTY_TABLES
                .iter()
                .any(|(name, _)| name == table);
            // Unqualified: a user table or a CTE of that name comes first.
            empty
                && (qualified
                    || binder.is_some_and(|b| {
                        b.storage().table(table).is_err() && b.cte(table).is_none()
                    }))
        }
        sql::TableFactor::Derived { subquery, .. } => match subquery.body.as_ref() {
            sql::SetExpr::Select(select) if subquery.with.is_none() => {
                select_reads_empty_catalog_table(select, binder)
            }
            _ => false,
        },
        _ => false,
    }
}

/// `x [NOT] IN (SELECT ...)`: the values are computed now and hashed.
pub(super) fn in_subquery(
    value: Expr,
    query: &sql::Query,
    negated: bool,
    scope: &Scope,
) -> Result<Expr> {
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
