//! Name resolution: the columns an expression may reference (the output of FROM, each with the
//! relation it comes from) and the lookup of a column or a table name in them.
//!
//! Names are resolved case-insensitively: an exact match wins, else a unique match ignoring case.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use sqlparser::ast as sql;

use super::context::Context;
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::plan::{JoinKind, LogicalPlan};

/// The relation a column of a scope comes from, for qualified names (`t.x`, `alias.x`).
#[derive(Debug, Clone, Default)]
pub(super) struct Relation {
    /// The table (or CTE) name.
    pub(super) table: Option<String>,
    /// The alias given in FROM.
    pub(super) alias: Option<String>,
    /// A column that `JOIN ... USING` or `NATURAL JOIN` merged into one: reachable qualified
    /// (`a.id`, and in `a.*`) but not by its bare name nor in `*`, which see the merged column.
    pub(super) merged: bool,
}

impl Relation {
    pub(super) fn matches(&self, qualifier: &str) -> bool {
        match &self.alias {
            // An alias hides the table name, as in PostgreSQL.
            Some(alias) => alias.eq_ignore_ascii_case(qualifier),
            None => self
                .table
                .as_ref()
                .is_some_and(|t| t.eq_ignore_ascii_case(qualifier)),
        }
    }
}

/// The most correlated subqueries one clause may hold: each is a join under the clause.
const CORRELATED_MAX: usize = 256;

/// A join that a correlated subquery in an expression needs below the expression: the
/// subquery, decorrelated, as the right input of a join with the scope's plan. Its columns come
/// after the scope's columns (and those of the joins registered before it).
#[derive(Debug)]
pub(super) struct PendingJoin {
    /// The decorrelated subquery.
    pub(super) right: LogicalPlan,
    /// LEFT (a scalar subquery: its value, NULL without a match) or MARK (EXISTS).
    pub(super) kind: JoinKind,
    /// Keys: an expression over the scope's columns, one over the right input's.
    pub(super) on: Vec<(Expr, Expr)>,
    /// The rest of the correlated condition, over the scope's columns followed by the right
    /// input's.
    pub(super) filter: Option<Expr>,
}

impl PendingJoin {
    /// How many columns the join adds after its left input's.
    pub(super) fn width(&self) -> usize {
        if self.kind.outputs_right() {
            self.right.schema().fields().len()
        } else {
            1
        }
    }
}

/// The columns an expression may reference: the output of FROM.
pub(super) struct Scope<'s> {
    /// For every column, the relation it belongs to.
    pub(super) relations: Vec<Relation>,
    /// The input columns.
    pub(super) schema: SchemaRef,
    /// The statement, to bind and run subqueries (absent for `INSERT ... VALUES`).
    pub(super) binder: Option<&'s dyn Context>,
    /// The joins that the correlated subqueries bound in this scope need, in order; the clause
    /// that bound them (WHERE, the select list) puts them into the plan.
    pub(super) pending: RefCell<Vec<PendingJoin>>,
    /// Where window function calls are allowed (a select list, ORDER BY): the `WINDOW`
    /// clause's definitions; `None` elsewhere.
    pub(super) windows: Option<&'s [sql::NamedWindowDefinition]>,
    /// Whether a correlated subquery bound here may become a join under the clause (WHERE, a
    /// plain select list); where no join can go (HAVING, GROUP BY, ORDER BY, a grouped select
    /// list), it runs per outer value ([`super::correlated`]).
    pub(super) decorrelate: Cell<bool>,
}

impl<'s> Scope<'s> {
    /// The columns of `schema`, all from `relation`.
    pub(super) fn of(
        schema: SchemaRef,
        relation: Relation,
        binder: Option<&'s dyn Context>,
    ) -> Self {
        Scope {
            relations: vec![relation; schema.fields().len()],
            schema,
            binder,
            pending: RefCell::new(vec![]),
            windows: None,
            decorrelate: Cell::new(true),
        }
    }

    /// The same columns, where window function calls are allowed, with the `WINDOW` clause's
    /// definitions. (Its joins for correlated subqueries are its own: take them from it.)
    pub(super) fn with_windows<'t>(&self, windows: &'t [sql::NamedWindowDefinition]) -> Scope<'t>
    where
        's: 't,
    {
        Scope {
            relations: self.relations.clone(),
            schema: self.schema.clone(),
            binder: self.binder,
            pending: RefCell::new(vec![]),
            windows: Some(windows),
            decorrelate: Cell::new(true),
        }
    }

    /// The columns of a join: the left ones, then the right ones (nullable for a LEFT join).
    pub(super) fn join(left: Scope<'s>, right: Scope<'s>, kind: JoinKind) -> Self {
        let mut fields: Vec<arrow::datatypes::Field> = left
            .schema
            .fields()
            .iter()
            .map(|f| {
                let nullable = f.is_nullable() || kind.keeps_unmatched_right();
                f.as_ref().clone().with_nullable(nullable)
            })
            .collect();
        fields.extend(right.schema.fields().iter().map(|f| {
            let nullable = f.is_nullable() || kind.keeps_unmatched_left();
            f.as_ref().clone().with_nullable(nullable)
        }));
        let mut relations = left.relations;
        relations.extend(right.relations);
        Scope {
            relations,
            schema: Arc::new(arrow::datatypes::Schema::new(fields)),
            binder: left.binder.or(right.binder),
            pending: RefCell::new(vec![]),
            windows: None,
            decorrelate: Cell::new(true),
        }
    }

    /// The same columns, owned, without the statement: what a correlated subquery resolves
    /// its outer names in.
    pub(super) fn detached(&self) -> Scope<'static> {
        Scope {
            relations: self.relations.clone(),
            schema: self.schema.clone(),
            binder: None,
            pending: RefCell::new(vec![]),
            windows: None,
            decorrelate: Cell::new(true),
        }
    }

    /// Registers a join for a correlated subquery; returns the position its first column will
    /// have (after the scope's columns and those of the joins registered before).
    pub(super) fn add_join(&self, join: PendingJoin) -> crate::error::Result<usize> {
        let mut pending = self.pending.borrow_mut();
        if pending.len() >= CORRELATED_MAX {
            return Err(crate::error::Error::InvalidArgument {
                message: format!(
                    "more than {CORRELATED_MAX} correlated subqueries in one clause; combine them"
                ),
            });
        }
        let before: usize = pending.iter().map(PendingJoin::width).sum();
        pending.push(join);
        Ok(self.schema.fields().len() + before)
    }

    /// Takes the registered joins.
    pub(super) fn take_joins(&self) -> Vec<PendingJoin> {
        std::mem::take(&mut *self.pending.borrow_mut())
    }

    /// The table searched, for messages: the one table of the scope, if there is one.
    pub(super) fn table(&self) -> Option<String> {
        let first = self.relations.first()?.table.clone()?;
        self.relations
            .iter()
            .all(|r| r.table.as_deref() == Some(first.as_str()))
            .then_some(first)
    }

    pub(super) fn column_names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// The columns of `*`: every column but those a USING join merged.
    pub(super) fn all_columns(&self) -> Vec<(Expr, String)> {
        self.columns_where(|r| !r.merged)
    }

    pub(super) fn columns_where(&self, keep: impl Fn(&Relation) -> bool) -> Vec<(Expr, String)> {
        self.schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(i, _)| self.relations.get(*i).is_some_and(&keep))
            .map(|(i, f)| {
                (
                    Expr::column(i, f.name().clone(), f.data_type().clone()),
                    f.name().clone(),
                )
            })
            .collect()
    }

    pub(super) fn matches_qualifier(&self, qualifier: &str) -> bool {
        self.relations.iter().any(|r| r.matches(qualifier))
    }

    /// Finds a column: an exact match, else a unique case-insensitive one.
    pub(super) fn resolve(&self, name: &str) -> Result<Expr> {
        self.resolve_where(name, |r| !r.merged)
    }

    /// Finds a column among those whose relation passes `keep`.
    pub(super) fn resolve_where(
        &self,
        name: &str,
        keep: impl Fn(&Relation) -> bool,
    ) -> Result<Expr> {
        let fields = self.schema.fields();
        let candidates: Vec<usize> = (0..fields.len())
            .filter(|&i| self.relations.get(i).is_some_and(&keep))
            .collect();
        let exact: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| fields[i].name() == name)
            .collect();
        let matches = if exact.is_empty() {
            candidates
                .iter()
                .copied()
                .filter(|&i| fields[i].name().eq_ignore_ascii_case(name))
                .collect()
        } else {
            exact
        };
        let found = match matches.as_slice() {
            [i] => *i,
            [] => {
                return Err(Error::ColumnNotFound {
                    name: name.to_string(),
                    table: self.table(),
                    candidates: self.column_names(),
                })
            }
            many => {
                return Err(Error::AmbiguousColumn {
                    name: name.to_string(),
                    matches: many
                        .iter()
                        .map(|&i| {
                            let r = &self.relations[i];
                            match r.alias.as_ref().or(r.table.as_ref()) {
                                Some(q) => format!("{q}.{}", fields[i].name()),
                                None => fields[i].name().clone(),
                            }
                        })
                        .collect(),
                })
            }
        };
        let field = &fields[found];
        Ok(Expr::column(
            found,
            field.name().clone(),
            field.data_type().clone(),
        ))
    }

    pub(super) fn resolve_compound(&self, idents: &[sql::Ident]) -> Result<Expr> {
        match idents {
            [column] => self.resolve(&column.value),
            // `schema.table.column` (SQLAlchemy's `pg_catalog.pg_class.relname`): the schema
            // is ignored, as it is in the table names of FROM.
            [_, qualifier, column] | [qualifier, column] => {
                if self.matches_qualifier(&qualifier.value) {
                    self.resolve_where(&column.value, |r| r.matches(&qualifier.value))
                } else {
                    Err(Error::TableNotFound {
                        name: qualifier.value.clone(),
                    })
                }
            }
            _ => Err(Error::unsupported(format!(
                "qualified name {}",
                idents
                    .iter()
                    .map(|i| i.value.as_str())
                    .collect::<Vec<_>>()
                    .join(".")
            ))),
        }
    }
}

/// The table name of an object name (`t` or `schema.t`, the schema ignored).
pub(super) fn object_name(name: &sql::ObjectName) -> Result<String> {
    match name.0.last().and_then(|p| p.as_ident()) {
        Some(ident) if name.0.len() <= 2 => Ok(ident.value.clone()),
        _ => Err(Error::unsupported(format!("object name {name}"))),
    }
}
