//! SELECT: WHERE, the select list, GROUP BY, HAVING, ORDER BY, DISTINCT; and LIMIT / OFFSET.
//!
//! A `SELECT` becomes, bottom-up (FROM is bound by [`super::from`]):
//!
//! ```text
//! Filter(WHERE)
//!   -> Aggregate(GROUP BY keys, aggregate calls) -> Filter(HAVING)      (aggregate queries)
//!   -> Window(window function calls)                                    (... OVER (...))
//!   -> Projection(select items + ORDER BY keys not in the select list)
//!   -> Aggregate(all columns)                                           (SELECT DISTINCT)
//!   -> Sort
//!   -> Projection(drop the extra ORDER BY keys)
//! ```

use std::sync::Arc;

use sqlparser::ast as sql;

use super::context::Context;
use super::expr::{bind_expr, keyword_column};
use super::from::bind_from;
use super::grouping::{bind_group_by, grouping_sets_plan, replace_grouping_calls};
use super::literal::{null_literal, sort_options};
use super::postgres::select_has_no_rows;
use super::scope::{object_name, PendingJoin, Scope};
use super::window::check_definitions;
use crate::error::{Error, Result};
use crate::expr::coerce::expect_boolean;
use crate::expr::{AggregateExpr, Expr, WindowExpr};
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
    if select.qualify.is_some() {
        return Err(Error::unsupported(
            "QUALIFY; filter the window results in an outer query",
        ));
    }
    check_definitions(&select.named_window)?;
    let (distinct, distinct_on): (bool, &[sql::Expr]) = match &select.distinct {
        None | Some(sql::Distinct::All) => (false, &[]),
        Some(sql::Distinct::Distinct) => (true, &[]),
        Some(sql::Distinct::On(exprs)) => (false, exprs),
    };
    let (mut plan, scope) = bind_from(binder, &select.from)?;
    // The select list and ORDER BY may call window functions; WHERE, GROUP BY and HAVING not.
    let windowed = scope.with_windows(&select.named_window);
    // Over a catalog table without rows (psql's `\d` reads pg_policy, pg_statistic_ext,
    // pg_publication, ... with PostgreSQL functions Strata lacks) a condition or select item
    // Strata cannot compute is never computed: the condition is false, the item an untyped NULL.
    let no_rows = select_has_no_rows(select, Some(binder));

    // WHERE
    let width = scope.schema.fields().len();
    if let Some(selection) = &select.selection {
        let predicate = match bind_expr(selection, &scope, Some("WHERE")) {
            Err(Error::Unsupported { .. } | Error::InvalidArgument { .. }) if no_rows => {
                Expr::Literal(Arc::new(arrow::array::BooleanArray::from(vec![false])))
            }
            other => other?,
        };
        let predicate = expect_boolean(predicate, "WHERE")?;
        let joins = scope.take_joins();
        if joins.is_empty() {
            plan = LogicalPlan::Filter {
                input: Box::new(plan),
                predicate,
            };
        } else {
            // Correlated subqueries: the conjuncts that do not read them filter the FROM rows
            // first (and link its tables), then the subqueries' joins, then the rest.
            let (below, above): (Vec<Expr>, Vec<Expr>) =
                predicate.split_conjunction().into_iter().partition(|c| {
                    let mut columns = vec![];
                    c.collect_columns(&mut columns);
                    columns.iter().all(|&i| i < width)
                });
            if let Some(predicate) = Expr::conjunction(below) {
                plan = LogicalPlan::Filter {
                    input: Box::new(plan),
                    predicate,
                };
            }
            plan = apply_joins(plan, joins, width)?;
            if let Some(predicate) = Expr::conjunction(above) {
                plan = LogicalPlan::Filter {
                    input: Box::new(plan),
                    predicate,
                };
            }
            let exprs = scope
                .schema
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| Expr::column(i, f.name().clone(), f.data_type().clone()))
                .collect();
            plan = LogicalPlan::Projection {
                input: Box::new(plan),
                exprs,
                names: scope.column_names(),
            };
        }
    }

    // Below, no join goes under GROUP BY or HAVING: a correlated subquery there runs per
    // distinct outer value. Nor under a grouped select list (its joins would go below the
    // grouping).
    scope.decorrelate.set(false);
    let grouped = select.having.is_some()
        || match &select.group_by {
            sql::GroupByExpr::All(_) => true,
            sql::GroupByExpr::Expressions(keys, modifiers) => {
                !keys.is_empty() || !modifiers.is_empty()
            }
        };
    if grouped {
        windowed.decorrelate.set(false);
    }

    // Select items (aggregates allowed), with their output names.
    let bind_item = |e: &sql::Expr| match bind_expr(e, &windowed, None) {
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
    // Correlated subqueries of the select list: their joins go under the select list.
    // (The select list is bound in `windowed`, which holds its own joins.)
    let item_joins = windowed.take_joins();
    let correlated_items = !item_joins.is_empty();
    if correlated_items {
        plan = apply_joins(plan, item_joins, width)?;
    }

    // GROUP BY: an input expression, a select alias, or a 1-based select position; grouping
    // sets (ROLLUP, CUBE, GROUPING SETS) of those.
    let mut bind_key = |ast: &sql::Expr| -> Result<Expr> {
        if let Some(position) = positional(ast)? {
            return Ok(select_item_at(&items, position, "GROUP BY")?.0.clone());
        }
        match bind_expr(ast, &scope, Some("GROUP BY")) {
            Ok(expr) => Ok(expr),
            Err(err @ Error::ColumnNotFound { .. }) => match alias_of(ast, &items) {
                Some(i) => Ok(items[i].0.clone()),
                None => Err(err),
            },
            Err(err) => Err(err),
        }
    };
    let grouping = bind_group_by(&select.group_by, &mut bind_key)?;
    let group_by = grouping.rewrite_keys();

    let having = match &select.having {
        Some(h) => Some(expect_boolean(bind_expr(h, &scope, None)?, "HAVING")?),
        None => None,
    };

    // ORDER BY: a select position, a select output name, or an expression over the input
    // (a correlated subquery there runs per outer value).
    windowed.decorrelate.set(false);
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
            let expr = bind_expr(&key.expr, &windowed, None)?;
            match items.iter().position(|(e, _)| *e == expr) {
                Some(i) => OrderTarget::Item(i),
                None => OrderTarget::Extra(expr),
            }
        };
        let (descending, nulls_first) = sort_options(key)?;
        order_targets.push((target, descending, nulls_first));
    }
    // DISTINCT ON (...): its expressions are bound like ORDER BY keys (positions, output names,
    // input expressions) and follow them in `order_targets`, where the aggregate rewrite finds
    // them too; they partition rather than sort.
    let on_start = order_targets.len();
    for e in distinct_on {
        let target = if let Some(position) = positional(e)? {
            select_item_at(&items, position, "DISTINCT ON")?;
            OrderTarget::Item(position - 1)
        } else if let Some(i) = alias_of(e, &items) {
            OrderTarget::Item(i)
        } else {
            let expr = bind_expr(e, &windowed, None)?;
            match items.iter().position(|(i, _)| *i == expr) {
                Some(i) => OrderTarget::Item(i),
                None => OrderTarget::Extra(expr),
            }
        };
        order_targets.push((target, false, false));
    }

    if !scope.take_joins().is_empty() || !windowed.take_joins().is_empty() {
        return Err(Error::internal(
            "a correlated subquery of GROUP BY, HAVING or ORDER BY was made a join",
        ));
    }

    // Aggregate queries: compute groups and aggregates, then rewrite everything above the
    // Aggregate node to read its output.
    let is_aggregate = !group_by.is_empty()
        || having.is_some()
        || items.iter().any(|(e, _)| e.contains_aggregate())
        || order_targets
            .iter()
            .any(|(t, _, _)| matches!(t, OrderTarget::Extra(e) if e.contains_aggregate()));
    if is_aggregate && correlated_items {
        // Without GROUP BY: the subquery reads a column that is neither grouped nor in an
        // aggregate.
        return Err(Error::InvalidArgument {
            message: "a correlated subquery in the select list of an aggregate query without GROUP BY reads a column of each row; add GROUP BY, or put the column in an aggregate".into(),
        });
    }
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
        // grouping(...): its value for the row's grouping set.
        let sets = grouping.sets.as_deref();
        let keys = grouping.keys.len();
        for (expr, _) in items.iter_mut() {
            let e = std::mem::replace(expr, Expr::Literal(null_literal()));
            *expr = replace_grouping_calls(e, keys, sets)?;
        }
        for (target, _, _) in order_targets.iter_mut() {
            if let OrderTarget::Extra(expr) = target {
                let e = std::mem::replace(expr, Expr::Literal(null_literal()));
                *expr = replace_grouping_calls(e, keys, sets)?;
            }
        }
        if let Some(h) = having.take() {
            having = Some(replace_grouping_calls(h, keys, sets)?);
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
        plan = match &grouping.sets {
            None => LogicalPlan::Aggregate {
                input: Box::new(plan),
                group_by,
                aggregates,
                names,
            },
            Some(sets) => grouping_sets_plan(plan, &grouping.keys, sets, aggregates, names),
        };
        if let Some(predicate) = having {
            plan = LogicalPlan::Filter {
                input: Box::new(plan),
                predicate,
            };
        }
    }

    // Window calls: computed over the rows so far (after GROUP BY and HAVING), each replaced
    // by a column of the Window output.
    let has_windows = items.iter().any(|(e, _)| e.contains_window())
        || order_targets
            .iter()
            .any(|(t, _, _)| matches!(t, OrderTarget::Extra(e) if e.contains_window()));
    if has_windows {
        let mut rewriter = WindowRewriter {
            width: plan.schema().fields().len(),
            calls: vec![],
        };
        for (expr, _) in items.iter_mut() {
            *expr = rewriter.rewrite(std::mem::replace(expr, Expr::Literal(null_literal())))?;
        }
        for (target, _, _) in order_targets.iter_mut() {
            if let OrderTarget::Extra(expr) = target {
                *expr = rewriter.rewrite(std::mem::replace(expr, Expr::Literal(null_literal())))?;
            }
        }
        let names = rewriter
            .calls
            .iter()
            .map(|w| w.func.name().to_string())
            .collect();
        plan = LogicalPlan::Window {
            input: Box::new(plan),
            exprs: rewriter.calls,
            names,
        };
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
    let mut on_columns = vec![];
    for (position, (target, descending, nulls_first)) in order_targets.into_iter().enumerate() {
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
        if position >= on_start {
            on_columns.push(expr);
            continue;
        }
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
    if !on_columns.is_empty() {
        // DISTINCT ON: the first row of each group of equal ON values, in ORDER BY order:
        // row_number() OVER (PARTITION BY on ORDER BY keys) = 1.
        let width = names.len();
        let first = crate::expr::WindowExpr {
            func: crate::expr::WindowFunction::RowNumber,
            args: vec![],
            distinct: false,
            within: vec![],
            filter: None,
            partition_by: on_columns,
            order_by: keys.clone(),
            frame: crate::expr::WindowFrame::default_frame(),
            data_type: arrow::datatypes::DataType::Int64,
        };
        plan = LogicalPlan::Window {
            input: Box::new(plan),
            exprs: vec![first],
            names: vec!["__row_number".into()],
        };
        let one = Expr::Literal(std::sync::Arc::new(arrow::array::Int64Array::from(vec![
            1_i64,
        ])));
        plan = LogicalPlan::Filter {
            input: Box::new(plan),
            predicate: Expr::column(width, "__row_number", arrow::datatypes::DataType::Int64)
                .binary(crate::expr::BinaryOp::Eq, one),
        };
        names.push("__row_number".into());
    }

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

/// Puts the joins that the correlated subqueries of a clause registered under the clause: each
/// joins the plan so far (the scope's `width` columns, then the columns the joins before it
/// added) with its decorrelated subquery.
fn apply_joins(plan: LogicalPlan, joins: Vec<PendingJoin>, width: usize) -> Result<LogicalPlan> {
    let mut plan = plan;
    let mut left_width = width;
    for join in joins {
        let added = join.width();
        // The filter reads the scope's columns, then the subquery's: these move past the
        // columns that earlier joins added.
        let filter = match join.filter {
            Some(filter) => Some(filter.shift_columns(width, left_width - width)?),
            None => None,
        };
        plan = LogicalPlan::Join {
            left: Box::new(plan),
            right: Box::new(join.right),
            kind: join.kind,
            on: join.on,
            filter,
        };
        left_width += added;
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

/// Replaces window calls by columns of the Window output (the input's `width` columns, then
/// one per distinct call).
struct WindowRewriter {
    width: usize,
    calls: Vec<WindowExpr>,
}

impl WindowRewriter {
    fn rewrite(&mut self, expr: Expr) -> Result<Expr> {
        match expr {
            Expr::Window(call) => {
                let call = *call;
                let i = match self.calls.iter().position(|c| *c == call) {
                    Some(i) => i,
                    None => {
                        self.calls.push(call.clone());
                        self.calls.len() - 1
                    }
                };
                Ok(Expr::column(
                    self.width + i,
                    call.func.name(),
                    call.data_type,
                ))
            }
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
