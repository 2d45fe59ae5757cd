//! FROM: tables (user tables, the `system` and `pg_catalog` virtual tables), CTEs, subqueries in
//! parentheses, and `[INNER | LEFT] JOIN ... ON` of those, each with the [`Scope`] its columns
//! are resolved in.
//!
//! A join's ON condition is split: the equalities between a left and a right expression become
//! the hash join's keys, the rest a filter on the matched pairs.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use sqlparser::ast as sql;
use strata_storage::Storage;

use super::context::Context;
use super::expr::bind_expr;
use super::scope::{object_name, Relation, Scope};
use crate::error::{Error, Result};
use crate::expr::coerce::expect_boolean;
use crate::expr::{BinaryOp, Expr};
use crate::plan::{JoinKind, LogicalPlan, Scan};

/// The FROM list: nothing (one row without columns), or one table with its joins.
pub(super) fn bind_from<'s>(
    binder: &'s dyn Context,
    from: &[sql::TableWithJoins],
) -> Result<(LogicalPlan, Scope<'s>)> {
    match from {
        [] => Ok((
            LogicalPlan::OneRow,
            Scope::of(
                Arc::new(arrow::datatypes::Schema::empty()),
                Relation::default(),
                Some(binder),
            ),
        )),
        [table] => {
            let (mut plan, mut scope) = bind_table_factor(binder, &table.relation)?;
            for join in &table.joins {
                (plan, scope) = bind_join(binder, plan, scope, join)?;
            }
            Ok((plan, scope))
        }
        _ => Err(Error::unsupported(
            "several tables in FROM separated by commas (a cross join); join them with JOIN ... ON a.x = b.y",
        )),
    }
}

/// A table, a CTE, a subquery in parentheses, or a parenthesized join.
fn bind_table_factor<'s>(
    binder: &'s dyn Context,
    factor: &sql::TableFactor,
) -> Result<(LogicalPlan, Scope<'s>)> {
    match factor {
        sql::TableFactor::Table {
            name, alias, args, ..
        } => {
            if args.is_some() {
                return Err(Error::unsupported("table functions"));
            }
            if let Some(system) = virtual_table(binder.storage(), name)? {
                let scope = Scope::of(
                    system.schema(),
                    Relation {
                        table: Some(
                            name.0
                                .last()
                                .and_then(|p| p.as_ident())
                                .map_or_else(String::new, |i| i.value.clone()),
                        ),
                        alias: alias.as_ref().map(|a| a.name.value.clone()),
                    },
                    Some(binder),
                );
                return Ok((system, scope));
            }
            let qualified = &name.0;
            let name = object_name(name)?;
            let cte = binder.cte(&name);
            let (plan, table) = match cte {
                Some((cte, plan)) => (plan, cte),
                None => {
                    // An unqualified name that is no user table may be a `pg_catalog` table,
                    // as PostgreSQL's search path implies.
                    match binder.storage().table(&name) {
                        Ok(table) => {
                            let schema = table.def().schema;
                            let scan = Scan {
                                table: table.name().to_string(),
                                table_schema: schema.clone(),
                                projection: (0..schema.fields().len()).collect(),
                                filters: vec![],
                            };
                            (LogicalPlan::Scan(scan), table.name().to_string())
                        }
                        Err(e) => match binder.storage().virtual_tables().get(PG_CATALOG, &name) {
                            Some(v) if qualified.len() == 1 => {
                                (virtual_scan(PG_CATALOG, &name, v.schema()), name.clone())
                            }
                            _ => return Err(e.into()),
                        },
                    }
                }
            };
            let plan = match alias {
                Some(alias) => rename_columns(plan, &alias.columns)?,
                None => plan,
            };
            let relation = Relation {
                table: Some(table),
                alias: alias.as_ref().map(|a| a.name.value.clone()),
            };
            let scope = Scope::of(plan.schema(), relation, Some(binder));
            Ok((plan, scope))
        }
        sql::TableFactor::Derived {
            lateral,
            subquery,
            alias,
            ..
        } => {
            if *lateral {
                return Err(Error::unsupported("LATERAL subqueries"));
            }
            let plan = binder.bind_query(subquery)?;
            let plan = match alias {
                Some(alias) => rename_columns(plan, &alias.columns)?,
                None => plan,
            };
            let relation = Relation {
                table: None,
                alias: alias.as_ref().map(|a| a.name.value.clone()),
            };
            let scope = Scope::of(plan.schema(), relation, Some(binder));
            Ok((plan, scope))
        }
        sql::TableFactor::NestedJoin {
            table_with_joins,
            alias: None,
        } => bind_from(binder, std::slice::from_ref(table_with_joins.as_ref())),
        other => Err(Error::unsupported(format!(
            "FROM {other}; supported: tables, CTEs, (subqueries) and joins"
        ))),
    }
}

/// `left [INNER | LEFT] JOIN right ON ...`: the equalities between a left and a right
/// expression become hash join keys, the rest a filter on the matched pairs.
fn bind_join<'s>(
    binder: &'s dyn Context,
    left: LogicalPlan,
    left_scope: Scope<'s>,
    join: &sql::Join,
) -> Result<(LogicalPlan, Scope<'s>)> {
    let (kind, constraint) = match &join.join_operator {
        sql::JoinOperator::Join(c) | sql::JoinOperator::Inner(c) => (JoinKind::Inner, c),
        sql::JoinOperator::Left(c) | sql::JoinOperator::LeftOuter(c) => (JoinKind::Left, c),
        _ => {
            return Err(Error::unsupported(
                "this kind of join; supported: [INNER] JOIN and LEFT [OUTER] JOIN with ON",
            ))
        }
    };
    let on = match constraint {
        sql::JoinConstraint::On(on) => on,
        sql::JoinConstraint::Using(_) | sql::JoinConstraint::UsingAlias(..) => {
            return Err(Error::unsupported(
                "JOIN ... USING; write JOIN ... ON a.x = b.x",
            ))
        }
        _ => {
            return Err(Error::unsupported(
                "a JOIN without ON (a cross or natural join); write JOIN ... ON a.x = b.y",
            ))
        }
    };
    let (right, right_scope) = bind_table_factor(binder, &join.relation)?;
    let left_len = left_scope.schema.fields().len();
    let scope = Scope::join(left_scope, right_scope, kind);
    let condition = expect_boolean(
        bind_expr(on, &scope, Some("JOIN conditions"))?,
        "JOIN ... ON",
    )?;
    // Which input an expression reads: Some(true) left only, Some(false) right only.
    let side = |e: &Expr| -> Option<bool> {
        let mut columns = vec![];
        e.collect_columns(&mut columns);
        if columns.is_empty() {
            None
        } else if columns.iter().all(|&c| c < left_len) {
            Some(true)
        } else if columns.iter().all(|&c| c >= left_len) {
            Some(false)
        } else {
            None
        }
    };
    let to_right: Vec<Option<usize>> = (0..scope.schema.fields().len())
        .map(|i| i.checked_sub(left_len))
        .collect();
    let mut keys = vec![];
    let mut rest: Option<Expr> = None;
    for conjunct in condition.split_conjunction() {
        if let Expr::Binary {
            op: BinaryOp::Eq,
            left: l,
            right: r,
        } = &conjunct
        {
            match (side(l), side(r)) {
                (Some(true), Some(false)) => {
                    keys.push((
                        l.as_ref().clone(),
                        r.as_ref().clone().remap_columns(&to_right)?,
                    ));
                    continue;
                }
                (Some(false), Some(true)) => {
                    keys.push((
                        r.as_ref().clone(),
                        l.as_ref().clone().remap_columns(&to_right)?,
                    ));
                    continue;
                }
                _ => {}
            }
        }
        rest = Some(match rest {
            None => conjunct,
            Some(r) => r.binary(BinaryOp::And, conjunct),
        });
    }
    if keys.is_empty() {
        return Err(Error::unsupported(
            "a JOIN whose ON has no equality between a left and a right expression; Strata joins by hashing equal keys (ON a.x = b.y [AND ...])",
        ));
    }
    let plan = LogicalPlan::Join {
        left: Box::new(left),
        right: Box::new(right),
        kind,
        on: keys,
        filter: rest,
    };
    Ok((plan, scope))
}

/// Renames the first output columns of `plan` (`AS t(a, b)`, `WITH t(a, b) AS ...`).
pub(super) fn rename_columns(
    plan: LogicalPlan,
    columns: &[sql::TableAliasColumnDef],
) -> Result<LogicalPlan> {
    if columns.is_empty() {
        return Ok(plan);
    }
    let schema = plan.schema();
    if columns.len() > schema.fields().len() {
        return Err(Error::InvalidArgument {
            message: format!(
                "{} column names given for a relation of {} column(s)",
                columns.len(),
                schema.fields().len()
            ),
        });
    }
    let mut exprs = vec![];
    let mut names = vec![];
    for (i, field) in schema.fields().iter().enumerate() {
        exprs.push(Expr::column(
            i,
            field.name().clone(),
            field.data_type().clone(),
        ));
        names.push(match columns.get(i) {
            Some(c) => c.name.value.clone(),
            None => field.name().clone(),
        });
    }
    Ok(LogicalPlan::Projection {
        input: Box::new(plan),
        exprs,
        names,
    })
}

/// The schema searched for an unqualified name that is no user table.
const PG_CATALOG: &str = "pg_catalog";

/// A scan of a virtual table ([`strata_storage::virtual_table`]) for `schema.table`, or `None`
/// for a name that is not one. In the `system` schema an unknown name is an error.
fn virtual_table(storage: &Storage, name: &sql::ObjectName) -> Result<Option<LogicalPlan>> {
    let parts: Vec<&str> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(|i| i.value.as_str())
        .collect();
    let [schema, table] = parts[..] else {
        return Ok(None);
    };
    let Some(virtual_table) = storage.virtual_tables().get(schema, table) else {
        if schema.eq_ignore_ascii_case(crate::system::SCHEMA) {
            return Err(crate::system::unknown(
                storage,
                crate::system::SCHEMA,
                table,
            ));
        }
        return Ok(None);
    };
    Ok(Some(virtual_scan(schema, table, virtual_table.schema())))
}

fn virtual_scan(schema: &str, table: &str, table_schema: SchemaRef) -> LogicalPlan {
    LogicalPlan::Scan(Scan {
        table: format!(
            "{}.{}",
            schema.to_ascii_lowercase(),
            table.to_ascii_lowercase()
        ),
        projection: (0..table_schema.fields().len()).collect(),
        table_schema,
        filters: vec![],
    })
}
