//! Binding of `DELETE FROM t [[AS] alias] [WHERE condition]`.
//!
//! The condition is bound over the table's columns like a `SELECT`'s WHERE: any expression the
//! engine evaluates, uncorrelated subqueries included (they run while the statement is bound).
//! A correlated subquery (it would need a join under the delete), `USING`, `RETURNING`, `ORDER
//! BY` / `LIMIT` and multi-table deletes are refused. Virtual tables (`system.*`, `pg_catalog.*`)
//! are read-only.

use sqlparser::ast as sql;

use super::context::Context;
use super::expr::bind_expr;
use super::from::bind_from;
use super::scope::object_name;
use crate::error::{Error, Result};
use crate::expr::coerce::expect_boolean;
use crate::plan::{Delete, LogicalPlan, Plan};

/// Binds a `DELETE` statement.
pub(super) fn bind_delete(binder: &dyn Context, delete: &sql::Delete) -> Result<Plan> {
    if delete.returning.is_some() || delete.output.is_some() {
        return Err(Error::unsupported(
            "DELETE ... RETURNING; SELECT the rows first, then DELETE them",
        ));
    }
    if delete.using.is_some() {
        return Err(Error::unsupported(
            "DELETE ... USING; name the other table in a subquery: WHERE a IN (SELECT ...)",
        ));
    }
    if !delete.tables.is_empty()
        || !delete.order_by.is_empty()
        || delete.limit.is_some()
        || delete.on_cluster.is_some()
        || delete.settings.is_some()
        || !delete.optimizer_hints.is_empty()
    {
        return Err(Error::unsupported(
            "DELETE options (several tables, ORDER BY, LIMIT, ON CLUSTER, SETTINGS); use DELETE FROM t WHERE ...",
        ));
    }
    let from = match &delete.from {
        sql::FromTable::WithFromKeyword(from) | sql::FromTable::WithoutKeyword(from) => from,
    };
    let [table] = from.as_slice() else {
        return Err(Error::unsupported(
            "DELETE from several tables; delete from one table per statement",
        ));
    };
    if !table.joins.is_empty() {
        return Err(Error::unsupported(
            "DELETE from a join; name the other table in a subquery: WHERE a IN (SELECT ...)",
        ));
    }
    let sql::TableFactor::Table { name, args, .. } = &table.relation else {
        return Err(Error::unsupported(
            "DELETE from a subquery or table function; DELETE FROM a table",
        ));
    };
    if args.is_some() {
        return Err(Error::unsupported(
            "DELETE from a table function; DELETE FROM a table",
        ));
    }
    let read_only = || Error::InvalidArgument {
        message: format!("cannot DELETE FROM {name}: it is a read-only system table"),
    };
    if name.0.len() > 1 {
        // `system.x`, `pg_catalog.x`: user tables have no schema.
        return Err(read_only());
    }
    let table_name = object_name(name)?;
    let stored = match binder.storage().table(&table_name) {
        Ok(t) => t.name().to_string(),
        Err(e) => {
            if binder
                .storage()
                .virtual_tables()
                .get("pg_catalog", &table_name)
                .is_some()
            {
                return Err(read_only());
            }
            return Err(e.into());
        }
    };
    let (plan, scope) = bind_from(binder, std::slice::from_ref(table))?;
    if !matches!(&plan, LogicalPlan::Scan(scan) if scan.table == stored) {
        return Err(Error::unsupported(
            "DELETE from a common table expression; DELETE FROM a table",
        ));
    }
    let predicate = match &delete.selection {
        None => None,
        Some(selection) => {
            let predicate = expect_boolean(bind_expr(selection, &scope, Some("WHERE"))?, "WHERE")?;
            if !scope.take_joins().is_empty() || predicate.contains_correlated_subquery() {
                return Err(Error::unsupported(
                    "a correlated subquery in DELETE's WHERE; compute the rows to delete with an uncorrelated subquery (WHERE key IN (SELECT ...))",
                ));
            }
            Some(predicate)
        }
    };
    Ok(Plan::Delete(Delete {
        table: stored,
        predicate,
    }))
}
