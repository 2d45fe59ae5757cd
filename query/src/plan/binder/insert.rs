//! Binding of `INSERT INTO t [(columns)] VALUES (...), ...` and `INSERT INTO t [(columns)]
//! SELECT ...`.
//!
//! Like PostgreSQL, the values are matched to the listed columns (all the table's columns, in
//! order, without a list) by position; a column left out is NULL. Every value gets the column's
//! type by an assignment cast: numbers convert to any numeric column (out of range is an
//! error), a string literal converts to any type (`'2024-01-01'` into a TIMESTAMP), a DATE to a
//! TIMESTAMP and back; anything else is a type mismatch naming the column.

use arrow::datatypes::{DataType, Field};
use sqlparser::ast as sql;

use super::context::Context;
use super::expr::bind_constant;
use super::scope::object_name;
use crate::error::{Error, Result};
use crate::expr::coerce::{is_numeric, is_temporal};
use crate::expr::Expr;
use crate::plan::{Insert, InsertSource, LogicalPlan, Plan};

/// Binds an `INSERT` statement.
pub(super) fn bind_insert(binder: &dyn Context, insert: &sql::Insert) -> Result<Plan> {
    if insert.or.is_some()
        || insert.ignore
        || insert.overwrite
        || insert.replace_into
        || insert.on.is_some()
        || insert.returning.is_some()
        || !insert.assignments.is_empty()
        || insert.partitioned.is_some()
        || insert.by_name
    {
        return Err(Error::unsupported(
            "INSERT options (ON CONFLICT, RETURNING, OVERWRITE, SET, BY NAME); use INSERT INTO t [(columns)] VALUES ... or SELECT ...",
        ));
    }
    let sql::TableObject::TableName(name) = &insert.table else {
        return Err(Error::unsupported("INSERT INTO a table function"));
    };
    let table = binder.storage().table(&object_name(name)?)?;
    let schema = table.def().schema;
    let columns = if insert.columns.is_empty() {
        (0..schema.fields().len()).collect()
    } else {
        let mut columns: Vec<usize> = Vec::with_capacity(insert.columns.len());
        for column in &insert.columns {
            let name = object_name(column)?;
            let fields = schema.fields();
            let index = fields
                .iter()
                .position(|f| *f.name() == name)
                .or_else(|| {
                    let matches: Vec<usize> = fields
                        .iter()
                        .enumerate()
                        .filter(|(_, f)| f.name().eq_ignore_ascii_case(&name))
                        .map(|(i, _)| i)
                        .collect();
                    match matches.as_slice() {
                        [i] => Some(*i),
                        _ => None,
                    }
                })
                .ok_or_else(|| Error::ColumnNotFound {
                    name: name.clone(),
                    table: Some(table.name().to_string()),
                    candidates: fields.iter().map(|f| f.name().clone()).collect(),
                })?;
            if columns.contains(&index) {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "column \"{}\" is listed more than once in INSERT",
                        fields[index].name()
                    ),
                });
            }
            columns.push(index);
        }
        columns
    };
    let targets: Vec<&Field> = columns.iter().map(|&i| schema.field(i)).collect();
    let Some(query) = &insert.source else {
        return Err(Error::InvalidArgument {
            message: "INSERT needs VALUES (...) or a SELECT".into(),
        });
    };
    let source = match query.body.as_ref() {
        sql::SetExpr::Values(values)
            if query.order_by.is_none() && query.limit_clause.is_none() =>
        {
            let mut rows = Vec::with_capacity(values.rows.len());
            for row in &values.rows {
                check_width(row.content.len(), targets.len())?;
                let mut bound = Vec::with_capacity(row.content.len());
                for (value, field) in row.content.iter().zip(&targets) {
                    let expr = bind_constant(value, "VALUES")?;
                    bound.push(assignment_cast(expr, field)?);
                }
                rows.push(bound);
            }
            InsertSource::Values(rows)
        }
        _ => {
            let plan = binder.bind_query(query)?;
            let out = plan.schema();
            check_width(out.fields().len(), targets.len())?;
            let exprs = out
                .fields()
                .iter()
                .enumerate()
                .zip(&targets)
                .map(|((i, f), target)| {
                    let column = Expr::column(i, f.name().clone(), f.data_type().clone());
                    assignment_cast(column, target)
                })
                .collect::<Result<Vec<_>>>()?;
            let names = targets.iter().map(|f| f.name().clone()).collect();
            InsertSource::Query(LogicalPlan::Projection {
                input: Box::new(plan),
                exprs,
                names,
            })
        }
    };
    Ok(Plan::Insert(Insert {
        table: table.name().to_string(),
        table_schema: schema,
        columns,
        source,
    }))
}

fn check_width(values: usize, columns: usize) -> Result<()> {
    if values > columns {
        return Err(Error::InvalidArgument {
            message: format!(
                "INSERT has more expressions ({values}) than target columns ({columns})"
            ),
        });
    }
    if values < columns {
        return Err(Error::InvalidArgument {
            message: format!(
                "INSERT has more target columns ({columns}) than expressions ({values}); list the columns to fill"
            ),
        });
    }
    Ok(())
}

/// Casts `expr` to the type of column `field` where PostgreSQL's assignment casts allow it.
fn assignment_cast(expr: Expr, field: &Field) -> Result<Expr> {
    let from = expr.data_type();
    let to = field.data_type();
    let string_literal = matches!(&expr, Expr::Literal(_)) && from == DataType::Utf8;
    let allowed = from == *to
        || from == DataType::Null
        || string_literal
        || (is_numeric(&from) && is_numeric(to))
        || (is_temporal(&from) && is_temporal(to))
        || *to == DataType::Utf8;
    if !allowed {
        return Err(Error::mismatch(format!(
            "column \"{}\" is of type {} but the expression {expr} is of type {}; cast it",
            field.name(),
            strata_storage::sql_type_name(to),
            strata_storage::sql_type_name(&from)
        )));
    }
    Ok(expr.cast_to(to))
}
