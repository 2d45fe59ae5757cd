//! Subqueries in expressions (`(SELECT ...)`, `x IN (SELECT ...)`, `EXISTS (...)`): they must
//! be uncorrelated, are bound through the statement's [`Context`] and run once, while the
//! statement is bound; their answer enters the plan as a literal or a hashed [`InSet`].

use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use sqlparser::ast as sql;

use super::postgres::reads_empty_catalog_table;
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
