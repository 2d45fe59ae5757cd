//! Expressions: a SQL expression becomes a typed [`Expr`] over the columns of a [`Scope`].
//!
//! Operands are coerced like PostgreSQL ([`crate::expr::coerce`]); chains of one operator
//! (`AND`, `OR`, `||`) and `IN` lists are taken apart without recursion, and the equalities of
//! one expression with constants become one hashed [`InSet`]. Function calls are typed by
//! [`super::function`] (scalar), [`super::aggregate`] and [`super::window`] (calls with
//! `OVER`); subqueries run through [`super::subquery`].

use std::sync::Arc;

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::DataType;
use sqlparser::ast as sql;

use super::aggregate::bind_aggregate;
use super::function::scalar_call;
use super::literal::{interval_literal, literal, sql_type};
use super::logic::{balanced, bind_binary, disjunction, map_binary_op};
use super::postgres;
use super::scope::{Relation, Scope};
use super::subquery::{exists_subquery, in_subquery, scalar_subquery};
use super::window::{bind_over, window_aggregate, window_call, Over};
use crate::error::{Error, Result};
use crate::expr::coerce::{
    common_type, expect_boolean, integer_arg, is_numeric, string_arg, type_name,
};
use crate::expr::{AggregateFunction, BinaryOp, Expr, WindowFunction};
use crate::function::math::{rounding, Ceil, Floor};
use crate::function::string::{ConcatOperator, Strpos, Substring, Trim, TrimSide};
use crate::function::time::{date_part, DatePart};
use crate::limits::DepthGuard;

/// Where aggregate calls are forbidden, for the error message; `None` allows them.
pub(super) type AggContext = Option<&'static str>;

/// Binds an expression that reads no column (an `INSERT ... VALUES` item); `clause` names the
/// place for the error messages.
pub(super) fn bind_constant(e: &sql::Expr, clause: &'static str) -> Result<Expr> {
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
pub(super) fn bind_expr(e: &sql::Expr, scope: &Scope, agg: AggContext) -> Result<Expr> {
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
        sql::Expr::Identifier(ident) => scope
            .resolve(&ident.value)
            .or_else(|e| outer_column(scope, std::slice::from_ref(ident), e)),
        sql::Expr::CompoundIdentifier(idents) => scope
            .resolve_compound(idents)
            .or_else(|e| outer_column(scope, idents, e)),
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
                        dt if is_numeric(&dt) || crate::interval::is_interval(&dt) => {
                            Ok(Expr::Negative(Box::new(inner)))
                        }
                        dt => Err(Error::mismatch(format!(
                            "unary minus needs a number or an interval, not {}",
                            type_name(&dt)
                        ))),
                    }
                }
                other => Err(Error::unsupported(format!("unary operator {other}"))),
            }
        }
        sql::Expr::AtTimeZone {
            timestamp,
            time_zone,
        } => crate::function::zone::at_time_zone(
            bind(timestamp)?,
            &crate::eval::fold_constants(bind(time_zone)?)?,
        ),
        sql::Expr::BinaryOp {
            left,
            op: op @ (sql::BinaryOperator::Arrow | sql::BinaryOperator::LongArrow),
            right,
        } => {
            // `json -> 'key'`, `json ->> 0`: JSON text in a VARCHAR column.
            let json = bind(left)?;
            let step = crate::eval::fold_constants(bind(right)?)?;
            let path = crate::function::json::operator_path(&step)?;
            crate::function::json::extract_call(
                json,
                path,
                matches!(op, sql::BinaryOperator::LongArrow),
            )
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
            Ok(Expr::call(
                ConcatOperator,
                args.into_iter()
                    .map(|a| a.cast_to(&DataType::Utf8))
                    .collect(),
            ))
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
            Ok(Expr::call(Substring, args))
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
            Ok(Expr::call(Trim(side), args))
        }
        sql::Expr::Position { expr, r#in } => Ok(Expr::call(
            Strpos,
            vec![
                string_arg(bind(r#in)?, "position()")?,
                string_arg(bind(expr)?, "position()")?,
            ],
        )),
        sql::Expr::Floor { expr, field } | sql::Expr::Ceil { expr, field } => {
            if !matches!(
                field,
                sql::CeilFloorKind::DateTimeField(sql::DateTimeField::NoDateTime)
            ) {
                return Err(Error::unsupported(format!(
                    "{e}; write date_trunc('unit', ts)"
                )));
            }
            let x = bind(expr)?;
            if matches!(e, sql::Expr::Floor { .. }) {
                rounding(Floor, x)
            } else {
                rounding(Ceil, x)
            }
        }
        sql::Expr::Extract { field, expr, .. } => {
            let name = field.to_string();
            let part = DatePart::parse(&name).ok_or_else(|| Error::InvalidArgument {
                message: format!(
                    "extract() field must be one of year, quarter, month, week, day, hour, minute, second, dow, isodow, doy, epoch; not {name}"
                ),
            })?;
            date_part(part, bind(expr)?, scope.binder.and_then(|b| b.time_zone()))
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
        // `x = ANY (ARRAY[a, b])` (SQLAlchemy's `IN`) is `x = a OR x = b`; `x <> ALL (ARRAY[a,
        // b])` is `x <> a AND x <> b`. Over a subquery or an array value: not supported.
        sql::Expr::AnyOp {
            left,
            compare_op,
            right,
            ..
        }
        | sql::Expr::AllOp {
            left,
            compare_op,
            right,
        } => {
            let any = matches!(e, sql::Expr::AnyOp { .. });
            let items = match right.as_ref() {
                sql::Expr::Array(array) if !array.elem.is_empty() => &array.elem,
                sql::Expr::Nested(inner) => match inner.as_ref() {
                    sql::Expr::Array(array) if !array.elem.is_empty() => &array.elem,
                    _ => return Err(Error::unsupported(format!("expression {e}"))),
                },
                _ => {
                    return Err(Error::unsupported(format!(
                        "expression {e}; write x IN (a, b, ...)"
                    )))
                }
            };
            let op = map_binary_op(compare_op)?;
            let value = bind(left)?;
            let mut terms = Vec::with_capacity(items.len());
            for item in items {
                terms.push(bind_binary(value.clone(), op, bind(item)?)?);
            }
            if any {
                disjunction(terms)
            } else {
                balanced(terms, BinaryOp::And)
            }
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
            if *any {
                return Err(Error::unsupported("LIKE ANY"));
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
            let mut pattern = string(bind(pattern)?, "pattern")?;
            if let Some(escape) = escape_char {
                pattern = postgres::like_escape(pattern, bind(escape)?)?;
            }
            Ok(Expr::Like {
                negated: *negated,
                case_insensitive,
                expr: Box::new(string(bind(expr)?, "value")?),
                pattern: Box::new(pattern),
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
            if let Some(cast) = postgres::object_identifier_cast(expr, data_type, &bind, scope) {
                return cast;
            }
            let target = sql_type(data_type)?;
            Ok(cast_in_zone(
                bind(expr)?,
                &target,
                scope.binder.and_then(|b| b.time_zone()),
            ))
        }
        sql::Expr::Function(function) => bind_function(function, scope, agg),
        sql::Expr::CompoundFieldAccess { root, access_chain } => match access_chain.as_slice() {
            [sql::AccessExpr::Subscript(sql::Subscript::Index { index })] => {
                crate::function::list::subscript(bind(root)?, bind(index)?)
            }
            _ => Err(Error::unsupported(format!(
                "expression {e}: only one subscript a[i] of an array"
            ))),
        },
        sql::Expr::Subquery(query) => scalar_subquery(query, scope),
        sql::Expr::Exists { subquery, negated } => exists_subquery(subquery, *negated, scope),
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

/// A function call: a parenthesis-less keyword that names a column, an aggregate call (its
/// arguments bound here, the call typed by [`aggregate_call`]) or a scalar call.
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
    // `ARRAY(SELECT ...)` over a catalog table without rows (psql's `\du`: a role's member
    // roles): the empty array. There are no array values otherwise.
    if let (true, sql::FunctionArguments::Subquery(query)) = (name == "array", &function.args) {
        let empty = match query.body.as_ref() {
            sql::SetExpr::Select(select) if query.with.is_none() => {
                postgres::select_has_no_rows(select, scope.binder)
            }
            _ => false,
        };
        if empty {
            return Ok(Expr::Literal(Arc::new(StringArray::from(vec!["{}"]))));
        }
        return Err(Error::unsupported(
            "ARRAY(SELECT ...): there are no array values",
        ));
    }
    let Some(func) = AggregateFunction::from_name(&name) else {
        if let Some(func) = WindowFunction::from_name(&name) {
            return bind_window_function(func, function, scope, agg);
        }
        return bind_scalar_function(&name, function, scope, agg);
    };
    // Over a window, an aggregate's argument may hold aggregates (`sum(count(*)) OVER ()`).
    let over = bind_over_clause(function, scope, agg)?;
    let nested = match over {
        Some(_) => agg,
        None => Some("the argument of an aggregate function (aggregates cannot be nested)"),
    };
    if let (Some(clause), None) = (agg, &over) {
        return Err(Error::InvalidArgument {
            message: format!("aggregate functions are not allowed in {clause}"),
        });
    }
    let filter = match &function.filter {
        Some(filter) => Some(expect_boolean(
            bind_expr(filter, scope, Some("FILTER (aggregates cannot be nested)"))?,
            "FILTER",
        )?),
        None => None,
    };
    let bind = |e: &sql::Expr| bind_expr(e, scope, nested);
    let constant = |e: &sql::Expr| bind_constant(e, "a percentile fraction");
    let call = bind_aggregate(func, function, filter, &bind, &constant)?;
    if over.is_none() && call.children().iter().any(|c| c.contains_window()) {
        return Err(Error::InvalidArgument {
            message: "aggregate function calls cannot contain window function calls".into(),
        });
    }
    match over {
        Some(over) => window_aggregate(call, over, !function.within_group.is_empty()),
        None => Ok(call),
    }
}

/// The bound `OVER` clause of a call, if it has one; an error where window functions are not
/// allowed.
fn bind_over_clause(
    function: &sql::Function,
    scope: &Scope,
    agg: AggContext,
) -> Result<Option<Over>> {
    let Some(over) = &function.over else {
        return Ok(None);
    };
    let Some(definitions) = scope.windows else {
        return Err(Error::InvalidArgument {
            message: format!(
                "window functions are not allowed in {}; only in the select list and ORDER BY",
                agg.unwrap_or("this clause")
            ),
        });
    };
    if function.null_treatment.is_some() {
        return Err(Error::unsupported("IGNORE NULLS / RESPECT NULLS"));
    }
    let bind = |e: &sql::Expr| bind_expr(e, scope, agg);
    let constant =
        |e: &sql::Expr| crate::eval::fold_constants(bind_constant(e, "a window frame offset")?);
    bind_over(over, definitions, &bind, &constant).map(Some)
}

/// A call of a window-only function (`row_number()`, `lag(x)`, ...).
fn bind_window_function(
    func: WindowFunction,
    function: &sql::Function,
    scope: &Scope,
    agg: AggContext,
) -> Result<Expr> {
    let name = func.name();
    let Some(over) = bind_over_clause(function, scope, agg)? else {
        return Err(Error::InvalidArgument {
            message: format!("window function {name}() requires an OVER clause"),
        });
    };
    if function.filter.is_some() {
        return Err(Error::unsupported(
            "FILTER is not implemented for non-aggregate window functions",
        ));
    }
    if !function.within_group.is_empty() {
        return Err(Error::InvalidArgument {
            message: format!("{name}() does not take WITHIN GROUP"),
        });
    }
    let args = function_args(name, function)?
        .into_iter()
        .map(|a| bind_expr(a, scope, agg))
        .collect::<Result<Vec<_>>>()?;
    window_call(func, args, over)
}

/// A scalar function call: its arguments bound here, the call typed by [`scalar_call`].
fn bind_scalar_function(
    name: &str,
    function: &sql::Function,
    scope: &Scope,
    agg: AggContext,
) -> Result<Expr> {
    if function.over.is_some() {
        return Err(Error::InvalidArgument {
            message: format!(
                "OVER specified, but {name}() is not a window function nor an aggregate function"
            ),
        });
    }
    if function.filter.is_some() {
        return Err(Error::unsupported(format!("FILTER on {name}()")));
    }
    let asts = function_args(name, function)?;
    let args = asts
        .iter()
        .map(|a| bind_expr(a, scope, agg))
        .collect::<Result<Vec<_>>>()?;
    scalar_call(
        name,
        function,
        args,
        scope.binder.map(|b| b.now_ms()),
        scope.binder.and_then(|b| b.time_zone()),
    )
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

/// A parenthesis-less SQL keyword function (`user`, `current_user`, `current_date`...) that names
/// a column of the input is that column: analytics tables often have a `user` field, and
/// writing it unquoted should not return the session user.
pub(super) fn keyword_column(function: &sql::Function, scope: &Scope) -> Option<Expr> {
    if !matches!(function.args, sql::FunctionArguments::None) || function.name.0.len() != 1 {
        return None;
    }
    let ident = function.name.0.first()?.as_ident()?;
    scope.resolve(&ident.value).ok()
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

/// A name the scope does not have, looked up in the enclosing query's FROM (in a correlated
/// subquery); `err` when it is not there either.
fn outer_column(scope: &Scope, idents: &[sql::Ident], err: Error) -> Result<Expr> {
    if !matches!(
        err,
        Error::ColumnNotFound { .. } | Error::TableNotFound { .. }
    ) {
        return Err(err);
    }
    match scope.binder.and_then(|b| b.outer_column(idents)) {
        Some(outer) => Ok(outer),
        None => Err(err),
    }
}

/// `CAST(value AS target)`; `ts::date` under a session time zone is the local date.
#[inline(never)]
fn cast_in_zone(value: Expr, target: &DataType, zone: Option<crate::TimeZone>) -> Expr {
    match zone {
        Some(tz)
            if *target == DataType::Date32
                && matches!(value.data_type(), DataType::Timestamp(_, _)) =>
        {
            Expr::call(crate::function::zone::AtTimeZone(tz), vec![value]).cast_to(target)
        }
        _ => value.cast_to(target),
    }
}
