//! What the binder does for PostgreSQL's own forms, which its clients send in their catalog
//! queries: object-identifier casts (`'int4'::regtype`, `'events'::regclass`), `LIKE ...
//! ESCAPE` patterns, and the selects that have no rows because they read a `pg_catalog` table
//! Strata keeps empty (`pg_constraint`, `pg_attrdef`, ...): what such a select computes is never
//! computed, so a function Strata lacks in it is no error.

use std::sync::Arc;

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::DataType;
use sqlparser::ast as sql;

use super::context::Context;
use super::scope::Scope;
use crate::error::{Error, Result};
use crate::expr::{BinaryOp, Expr};
use crate::function::string_literal;

/// `expr::data_type` when it involves an object-identifier type: `x::regtype` (see
/// [`bind_reg_cast`]) or `x::regtype::text` (see [`reg_name`]); `None` for any other cast.
/// `bind` binds an expression of the statement.
pub(super) fn object_identifier_cast(
    expr: &sql::Expr,
    data_type: &sql::DataType,
    bind: &dyn Fn(&sql::Expr) -> Result<Expr>,
    scope: &Scope,
) -> Option<Result<Expr>> {
    if let Some(cast) = reg_cast(data_type) {
        return Some(bind(expr).and_then(|value| bind_reg_cast(cast, value, scope)));
    }
    let sql::Expr::Cast {
        expr: inner,
        data_type: inner_type,
        ..
    } = expr
    else {
        return None;
    };
    let text = matches!(super::literal::sql_type(data_type), Ok(DataType::Utf8));
    let cast = reg_cast(inner_type)
        .filter(|c| text && matches!(c.as_str(), "regtype" | "regclass" | "regnamespace"))?;
    Some(
        bind(inner)
            .and_then(|value| bind_reg_cast(cast.clone(), value, scope))
            .and_then(|oid| reg_name(&cast, oid, scope)),
    )
}

/// `oid::regtype::text` (also `regclass`, `regnamespace`): the name of the object `oid` names
/// (`bigint`, `events`, `public`), its number when it names none, as PostgreSQL shows a
/// `regtype` as text. psycopg's `TypeInfo.fetch` reads `oid::regtype::text`.
fn reg_name(cast: &str, oid: Expr, scope: &Scope) -> Result<Expr> {
    let Some(binder) = scope.binder else {
        return Ok(oid.cast_to(&DataType::Utf8));
    };
    let when_then = crate::pg_catalog::object_names(binder.storage(), cast)
        .into_iter()
        .map(|(number, name)| {
            let number = Expr::Literal(Arc::new(Int64Array::from(vec![number])));
            let name = Expr::Literal(Arc::new(StringArray::from(vec![name])));
            (oid.clone().binary(BinaryOp::Eq, number), name)
        })
        .collect();
    Ok(Expr::Case {
        when_then,
        else_result: Some(Box::new(oid.cast_to(&DataType::Utf8))),
    })
}

/// `pattern ESCAPE escape` as a pattern with the LIKE kernel's escape character, the
/// backslash (PostgreSQL's default): `'pg/_%' ESCAPE '/'` (SQLAlchemy's `startswith`) becomes
/// `'pg\_%'`; `ESCAPE ''` escapes nothing. Both must be constant.
pub(super) fn like_escape(pattern: Expr, escape: Expr) -> Result<Expr> {
    let constant = |x: Expr| -> Result<Option<String>> {
        Ok(string_literal(&crate::eval::fold_constants(x)?))
    };
    let (Some(pattern), Some(escape)) = (constant(pattern)?, constant(escape)?) else {
        return Err(Error::unsupported(
            "LIKE ... ESCAPE with a pattern or escape that is not a constant",
        ));
    };
    let mut chars = escape.chars();
    let escape = match (chars.next(), chars.next()) {
        (None, _) => None,
        (Some(c), None) => Some(c),
        _ => {
            return Err(Error::InvalidArgument {
                message: "invalid escape string: it must be empty or one character".into(),
            })
        }
    };
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(next @ ('%' | '_' | '\\')) => {
                    out.push('\\');
                    out.push(next);
                }
                Some(next) => out.push(next),
                None => {
                    return Err(Error::InvalidArgument {
                        message: "LIKE pattern must not end with escape character".into(),
                    })
                }
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Ok(Expr::Literal(Arc::new(StringArray::from(vec![out]))))
}

/// PostgreSQL's object-identifier types: `x::regtype`, `x::regclass`, `x::oid`, ... (lower case,
/// without `pg_catalog.`), `None` for another type.
fn reg_cast(data_type: &sql::DataType) -> Option<String> {
    let name = data_type.to_string().to_ascii_lowercase();
    let name = name
        .strip_prefix("pg_catalog.")
        .unwrap_or(&name)
        .to_string();
    matches!(
        name.as_str(),
        "regtype" | "regclass" | "regnamespace" | "regproc" | "regprocedure" | "oid"
    )
    .then_some(name)
}

/// A cast to an object-identifier type. OIDs are BIGINTs here: a name (`'int4'::regtype`,
/// `'events'::regclass`, `'public'::regnamespace`) becomes its OID, or fails as PostgreSQL
/// fails for an object that does not exist; a number stays a number.
fn bind_reg_cast(cast: String, value: Expr, scope: &Scope) -> Result<Expr> {
    let Some(name) = string_literal(&value) else {
        return Ok(value.cast_to(&DataType::Int64));
    };
    if let Ok(oid) = name.trim().parse::<i64>() {
        return Ok(Expr::Literal(Arc::new(Int64Array::from(vec![oid]))));
    }
    let oid = match cast.as_str() {
        "regtype" => crate::pg_catalog::type_oid(&name),
        "regclass" => scope
            .binder
            .and_then(|b| crate::pg_catalog::table_oid(b.storage(), &name)),
        "regnamespace" => crate::pg_catalog::namespace_oid(&name),
        _ => None,
    };
    let what = match cast.as_str() {
        "regtype" => "type",
        "regclass" => "relation",
        "regnamespace" => "schema",
        "oid" => "OID",
        _ => "function",
    };
    match oid {
        Some(oid) => Ok(Expr::Literal(Arc::new(Int64Array::from(vec![oid])))),
        None => Err(Error::UndefinedObject {
            message: format!("{what} \"{name}\" does not exist"),
        }),
    }
}

/// Aggregates whose value over no rows is not NULL (every other aggregate's is NULL).
const NOT_NULL_OVER_NO_ROWS: &[&str] = &["count("];

/// Whether `query` is a SELECT that reads an empty catalog table (see
/// [`select_has_no_rows`]): its value is NULL whatever the outer row, so that the
/// correlated subqueries of psql and SQLAlchemy (a column's default from `pg_attrdef`, its
/// identity from `pg_sequence`, its collation from `pg_collation`) answer exactly without being
/// decorrelated.
pub(super) fn reads_empty_catalog_table(query: &sql::Query, scope: &Scope) -> bool {
    let sql::SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    query.with.is_none() && select_has_no_rows(select, scope.binder)
}

/// Whether `select` has no rows whatever its select list computes: its FROM is empty (see
/// [`empty_from`]) and it is grouped (no group without rows), or ungrouped without HAVING and
/// without a counting aggregate (which would answer one row).
pub(super) fn select_has_no_rows(select: &sql::Select, binder: Option<&dyn Context>) -> bool {
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
/// has none ([`select_has_no_rows`]).
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
                select_has_no_rows(select, binder)
            }
            _ => false,
        },
        _ => false,
    }
}
