//! SELECT: WHERE, the select list, GROUP BY, HAVING, ORDER BY, DISTINCT; and LIMIT / OFFSET.
//!
//! A `SELECT` becomes, bottom-up (FROM is bound by [`super::from`]):
//!
//! ```text
//! Filter(WHERE)
//!   -> Aggregate(GROUP BY keys, aggregate calls) -> Filter(HAVING)      (aggregate queries)
//!   -> Projection(select items + ORDER BY keys not in the select list)
//!   -> Aggregate(all columns)                                           (SELECT DISTINCT)
//!   -> Sort
//!   -> Projection(drop the extra ORDER BY keys)
//! ```

use std::sync::Arc;

use sqlparser::ast as sql;

use super::context::Context;
use super::expr::{bind_expr, keyword_column, sort_options};
use super::from::bind_from;
use super::literal::null_literal;
use super::postgres::select_has_no_rows;
use super::scope::{object_name, Scope};
use crate::error::{Error, Result};
use crate::expr::coerce::expect_boolean;
use crate::expr::{AggregateExpr, Expr};
use crate::plan::{LogicalPlan, SortKey};

/// Output name of a select item that is neither a column nor a function call (PostgreSQL's).
const ANONYMOUS_COLUMN: &str = "?column?";

/// A `SELECT` with the query's `ORDER BY` (its `WITH` and `LIMIT` are bound around it).
pub(super) fn bind_select(
    binder: &dyn Context,
    select: &sql::Select,
    order_by: &[sql::OrderByExpr],
) -> Result<LogicalPlan> {
    if select.top.is_some() {
        return Err(Error::unsupported("TOP; use LIMIT"));
    }
    if select.into.is_some() {
        return Err(Error::unsupported("SELECT INTO"));
    }
    if !select.named_window.is_empty() || select.qualify.is_some() {
        return Err(Error::unsupported("window functions"));
    }
    let distinct = match &select.distinct {
        None | Some(sql::Distinct::All) => false,
        Some(sql::Distinct::Distinct) => true,
        Some(sql::Distinct::On(_)) => return Err(Error::unsupported("DISTINCT ON")),
    };
    let (mut plan, scope) = bind_from(binder, &select.from)?;
    // Over a catalog table without rows (psql's `\d` reads pg_policy, pg_statistic_ext,
    // pg_publication, ... with PostgreSQL functions Strata lacks) a condition or select item
    // Strata cannot compute is never computed: the condition is false, the item an untyped NULL.
    let no_rows = select_has_no_rows(select, Some(binder));

    // WHERE
    if let Some(selection) = &select.selection {
        let predicate = match bind_expr(selection, &scope, Some("WHERE")) {
            Err(Error::Unsupported { .. } | Error::InvalidArgument { .. }) if no_rows => {
                Expr::Literal(Arc::new(arrow::array::BooleanArray::from(vec![false])))
            }
            other => other?,
        };
        let predicate = expect_boolean(predicate, "WHERE")?;
        plan = LogicalPlan::Filter {
            input: Box::new(plan),
            predicate,
        };
    }

    // Select items (aggregates allowed), with their output names.
    let bind_item = |e: &sql::Expr| match bind_expr(e, &scope, None) {
        Err(Error::Unsupported { .. } | Error::InvalidArgument { .. }) if no_rows => {
            Ok(Expr::Literal(arrow::array::new_null_array(
                &arrow::datatypes::DataType::Null,
                1,
            )))
        }
        other => other,
    };
    let mut items: Vec<(Expr, String)> = vec![];
    for item in &select.projection {
        match item {
            sql::SelectItem::UnnamedExpr(e) => {
                items.push((bind_item(e)?, output_name(e, &scope)));
            }
            sql::SelectItem::ExprWithAlias { expr, alias } => {
                items.push((bind_item(expr)?, alias.value.clone()));
            }
            sql::SelectItem::Wildcard(options) => {
                if options.opt_exclude.is_some() || options.opt_except.is_some() {
                    return Err(Error::unsupported("SELECT * EXCLUDE/EXCEPT"));
                }
                items.extend(scope.all_columns());
            }
            sql::SelectItem::QualifiedWildcard(kind, _) => {
                let qualifier = match kind {
                    sql::SelectItemQualifiedWildcardKind::ObjectName(name) => object_name(name)?,
                    sql::SelectItemQualifiedWildcardKind::Expr(e) => e.to_string(),
                };
                if !scope.matches_qualifier(&qualifier) {
                    return Err(Error::TableNotFound { name: qualifier });
                }
                items.extend(scope.columns_where(|r| r.matches(&qualifier)));
            }
            sql::SelectItem::ExprWithAliases { .. } => {
                return Err(Error::unsupported("several aliases for one select item"));
            }
        }
    }
    if items.is_empty() {
        return Err(Error::InvalidArgument {
            message: "SELECT needs at least one column".into(),
        });
    }

    // GROUP BY: an input expression, a select alias, or a 1-based select position.
    let group_asts: &[sql::Expr] = match &select.group_by {
        sql::GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs,
        _ => {
            return Err(Error::unsupported(
                "GROUP BY ALL / ROLLUP / CUBE / GROUPING SETS",
            ))
        }
    };
    let mut group_by = vec![];
    for ast in group_asts {
        let expr = if let Some(position) = positional(ast)? {
            select_item_at(&items, position, "GROUP BY")?.0.clone()
        } else {
            match bind_expr(ast, &scope, Some("GROUP BY")) {
                Ok(expr) => expr,
                Err(err @ Error::ColumnNotFound { .. }) => match alias_of(ast, &items) {
                    Some(i) => items[i].0.clone(),
                    None => return Err(err),
                },
                Err(err) => return Err(err),
            }
        };
        if expr.contains_aggregate() {
            return Err(Error::InvalidArgument {
                message: "aggregate functions are not allowed in GROUP BY".into(),
            });
        }
        if !group_by.contains(&expr) {
            group_by.push(expr);
        }
    }

    let having = match &select.having {
        Some(h) => Some(expect_boolean(bind_expr(h, &scope, None)?, "HAVING")?),
        None => None,
    };

    // ORDER BY: a select position, a select output name, or an expression over the input.
    enum OrderTarget {
        Item(usize),
        Extra(Expr),
    }
    let mut order_targets = vec![];
    for key in order_by {
        if key.with_fill.is_some() {
            return Err(Error::unsupported("ORDER BY ... WITH FILL"));
        }
        let target = if let Some(position) = positional(&key.expr)? {
            select_item_at(&items, position, "ORDER BY")?;
            OrderTarget::Item(position - 1)
        } else if let Some(i) = alias_of(&key.expr, &items) {
            OrderTarget::Item(i)
        } else {
            let expr = bind_expr(&key.expr, &scope, None)?;
            match items.iter().position(|(e, _)| *e == expr) {
                Some(i) => OrderTarget::Item(i),
                None => OrderTarget::Extra(expr),
            }
        };
        let (descending, nulls_first) = sort_options(key)?;
        order_targets.push((target, descending, nulls_first));
    }

    // Aggregate queries: compute groups and aggregates, then rewrite everything above the
    // Aggregate node to read its output.
    let is_aggregate = !group_by.is_empty()
        || having.is_some()
        || items.iter().any(|(e, _)| e.contains_aggregate())
        || order_targets
            .iter()
            .any(|(t, _, _)| matches!(t, OrderTarget::Extra(e) if e.contains_aggregate()));
    let mut having = having;
    if is_aggregate {
        let mut rewriter = AggregateRewriter {
            group_by: &group_by,
            aggregates: vec![],
        };
        for (expr, _) in items.iter_mut() {
            *expr = rewriter.rewrite(std::mem::replace(expr, Expr::Literal(null_literal())))?;
        }
        for (target, _, _) in order_targets.iter_mut() {
            if let OrderTarget::Extra(expr) = target {
                *expr = rewriter.rewrite(std::mem::replace(expr, Expr::Literal(null_literal())))?;
            }
        }
        if let Some(h) = having.take() {
            having = Some(rewriter.rewrite(h)?);
        }
        let aggregates = rewriter.aggregates;
        let names = group_by
            .iter()
            .map(|g| match g {
                Expr::Column { name, .. } => name.clone(),
                other => other.to_string(),
            })
            .chain(aggregates.iter().map(|a| a.func.name().to_string()))
            .collect();
        plan = LogicalPlan::Aggregate {
            input: Box::new(plan),
            group_by,
            aggregates,
            names,
        };
        if let Some(predicate) = having {
            plan = LogicalPlan::Filter {
                input: Box::new(plan),
                predicate,
            };
        }
    }

    // Projection: select items, then ORDER BY keys that are not select items.
    let visible = items.len();
    let mut exprs: Vec<Expr> = vec![];
    let mut names: Vec<String> = vec![];
    for (expr, name) in items {
        exprs.push(expr);
        names.push(name);
    }
    let mut keys = vec![];
    for (target, descending, nulls_first) in order_targets {
        let index = match target {
            OrderTarget::Item(i) => i,
            OrderTarget::Extra(expr) => {
                if distinct {
                    return Err(Error::InvalidArgument {
                        message: "for SELECT DISTINCT, ORDER BY expressions must appear in the select list".into(),
                    });
                }
                exprs.push(expr);
                names.push(format!("__order_{}", exprs.len()));
                exprs.len() - 1
            }
        };
        let expr = Expr::column(index, names[index].clone(), exprs[index].data_type());
        keys.push(SortKey {
            expr,
            descending,
            nulls_first,
        });
    }
    plan = LogicalPlan::Projection {
        input: Box::new(plan),
        exprs,
        names: names.clone(),
    };

    if distinct {
        plan = distinct_rows(plan);
    }
    if !keys.is_empty() {
        plan = LogicalPlan::Sort {
            input: Box::new(plan),
            keys,
            fetch: None,
        };
    }
    if names.len() > visible {
        let schema = plan.schema();
        let exprs = (0..visible)
            .map(|i| Expr::column(i, names[i].clone(), schema.field(i).data_type().clone()))
            .collect();
        names.truncate(visible);
        plan = LogicalPlan::Projection {
            input: Box::new(plan),
            exprs,
            names,
        };
    }
    Ok(plan)
}

/// Replaces group keys and aggregate calls by columns of the Aggregate output; any other column
/// reference is an error (it is neither grouped nor aggregated).
struct AggregateRewriter<'g> {
    group_by: &'g [Expr],
    aggregates: Vec<AggregateExpr>,
}

impl AggregateRewriter<'_> {
    fn rewrite(&mut self, expr: Expr) -> Result<Expr> {
        if let Some(i) = self.group_by.iter().position(|g| *g == expr) {
            let name = match &expr {
                Expr::Column { name, .. } => name.clone(),
                other => other.to_string(),
            };
            return Ok(Expr::column(i, name, expr.data_type()));
        }
        match expr {
            Expr::Aggregate(agg) => {
                let agg = *agg;
                let i = match self.aggregates.iter().position(|a| *a == agg) {
                    Some(i) => i,
                    None => {
                        self.aggregates.push(agg.clone());
                        self.aggregates.len() - 1
                    }
                };
                Ok(Expr::column(
                    self.group_by.len() + i,
                    agg.func.name(),
                    agg.data_type,
                ))
            }
            Expr::Column { name, .. } => Err(Error::NotGrouped { name }),
            other => other.map_children(|c| self.rewrite(c)),
        }
    }
}

/// `SELECT DISTINCT`, `UNION`: one row per distinct row of `plan` (a GROUP BY every column).
pub(super) fn distinct_rows(plan: LogicalPlan) -> LogicalPlan {
    let schema = plan.schema();
    let group_by = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| Expr::column(i, f.name().clone(), f.data_type().clone()))
        .collect();
    let names = schema.fields().iter().map(|f| f.name().clone()).collect();
    LogicalPlan::Aggregate {
        input: Box::new(plan),
        group_by,
        aggregates: vec![],
        names,
    }
}

/// `LIMIT` and `OFFSET` as (skip, fetch).
pub(super) fn bind_limit(clause: Option<&sql::LimitClause>) -> Result<(usize, Option<usize>)> {
    let (limit, offset) = match clause {
        None => return Ok((0, None)),
        Some(sql::LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) => {
            if !limit_by.is_empty() {
                return Err(Error::unsupported("LIMIT BY"));
            }
            (limit.as_ref(), offset.as_ref().map(|o| &o.value))
        }
        Some(sql::LimitClause::OffsetCommaLimit { offset, limit }) => (Some(limit), Some(offset)),
    };
    let count = |e: &sql::Expr, what: &str| -> Result<Option<usize>> {
        match e {
            sql::Expr::Value(v) => match &v.value {
                sql::Value::Null => Ok(None),
                sql::Value::Number(n, _) => {
                    n.parse::<usize>()
                        .map(Some)
                        .map_err(|_| Error::InvalidArgument {
                            message: format!("{what} must be a non-negative integer, not {n}"),
                        })
                }
                other => Err(Error::InvalidArgument {
                    message: format!("{what} must be a non-negative integer, not {other}"),
                }),
            },
            other => Err(Error::InvalidArgument {
                message: format!("{what} must be a non-negative integer literal, not {other}"),
            }),
        }
    };
    let fetch = match limit {
        Some(e) => count(e, "LIMIT")?,
        None => None,
    };
    let skip = match offset {
        Some(e) => count(e, "OFFSET")?.unwrap_or(0),
        None => 0,
    };
    Ok((skip, fetch))
}

/// `Some(n)` when the expression is an integer literal (a 1-based select position).
pub(super) fn positional(e: &sql::Expr) -> Result<Option<usize>> {
    match e {
        sql::Expr::Value(v) => match &v.value {
            sql::Value::Number(n, _) => match n.parse::<usize>() {
                Ok(p) => Ok(Some(p)),
                Err(_) => Err(Error::InvalidArgument {
                    message: format!("position {n} is not a select list position; use 1, 2, ..."),
                }),
            },
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}

/// The select item at 1-based `position` of `clause` (GROUP BY, ORDER BY).
pub(super) fn select_item_at<'i>(
    items: &'i [(Expr, String)],
    position: usize,
    clause: &str,
) -> Result<&'i (Expr, String)> {
    if position == 0 || position > items.len() {
        return Err(Error::InvalidArgument {
            message: format!(
                "{clause} position {position} is not in select list; it has {} item(s)",
                items.len()
            ),
        });
    }
    Ok(&items[position - 1])
}

/// The index of the select item whose output name is the bare identifier `e`.
fn alias_of(e: &sql::Expr, items: &[(Expr, String)]) -> Option<usize> {
    let sql::Expr::Identifier(ident) = e else {
        return None;
    };
    items
        .iter()
        .position(|(_, name)| *name == ident.value)
        .or_else(|| {
            items
                .iter()
                .position(|(_, name)| name.eq_ignore_ascii_case(&ident.value))
        })
}

/// PostgreSQL's default output name of a select item.
fn output_name(e: &sql::Expr, scope: &Scope) -> String {
    match e {
        sql::Expr::Identifier(ident) => match scope.resolve(&ident.value) {
            Ok(Expr::Column { name, .. }) => name,
            _ => ident.value.clone(),
        },
        sql::Expr::CompoundIdentifier(idents) => match scope.resolve_compound(idents) {
            Ok(Expr::Column { name, .. }) => name,
            _ => idents.last().map(|i| i.value.clone()).unwrap_or_default(),
        },
        sql::Expr::Function(f) => match f.name.0.last().and_then(|p| p.as_ident()) {
            Some(_) if keyword_column(f, scope).is_some() => match keyword_column(f, scope) {
                Some(Expr::Column { name, .. }) => name,
                _ => ANONYMOUS_COLUMN.to_string(),
            },
            Some(ident) => ident.value.to_ascii_lowercase(),
            None => ANONYMOUS_COLUMN.to_string(),
        },
        sql::Expr::Cast { expr, .. } | sql::Expr::Nested(expr) => output_name(expr, scope),
        sql::Expr::Case { .. } => "case".to_string(),
        sql::Expr::Extract { .. } => "extract".to_string(),
        sql::Expr::Substring { .. } => "substring".to_string(),
        sql::Expr::Trim { .. } => "btrim".to_string(),
        sql::Expr::Position { .. } => "strpos".to_string(),
        _ => ANONYMOUS_COLUMN.to_string(),
    }
}
