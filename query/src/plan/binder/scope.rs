//! Name resolution: the columns an expression may reference (the output of FROM, each with the
//! relation it comes from) and the lookup of a column or a table name in them.
//!
//! Names are resolved case-insensitively: an exact match wins, else a unique match ignoring case.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use sqlparser::ast as sql;

use super::context::Context;
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::plan::JoinKind;

/// The relation a column of a scope comes from, for qualified names (`t.x`, `alias.x`).
#[derive(Debug, Clone, Default)]
pub(super) struct Relation {
    /// The table (or CTE) name.
    pub(super) table: Option<String>,
    /// The alias given in FROM.
    pub(super) alias: Option<String>,
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

/// The columns an expression may reference: the output of FROM.
pub(super) struct Scope<'s> {
    /// For every column, the relation it belongs to.
    pub(super) relations: Vec<Relation>,
    /// The input columns.
    pub(super) schema: SchemaRef,
    /// The statement, to bind and run subqueries (absent for `INSERT ... VALUES`).
    pub(super) binder: Option<&'s dyn Context>,
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
        }
    }

    /// The columns of a join: the left ones, then the right ones (nullable for a LEFT join).
    pub(super) fn join(left: Scope<'s>, right: Scope<'s>, kind: JoinKind) -> Self {
        let mut fields: Vec<arrow::datatypes::Field> = left
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.extend(right.schema.fields().iter().map(|f| {
            let nullable = f.is_nullable() || kind == JoinKind::Left;
            f.as_ref().clone().with_nullable(nullable)
        }));
        let mut relations = left.relations;
        relations.extend(right.relations);
        Scope {
            relations,
            schema: Arc::new(arrow::datatypes::Schema::new(fields)),
            binder: left.binder.or(right.binder),
        }
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

    pub(super) fn all_columns(&self) -> Vec<(Expr, String)> {
        self.columns_where(|_| true)
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
        self.resolve_where(name, |_| true)
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
