//! [`SubqueryExpr`]: a subquery in an expression, by the id of its plan among the statement's
//! subqueries (the plan itself stays with the statement, so that expressions do not hold plans).
//!
//! Most are uncorrelated. A correlated subquery the binder cannot turn into a join has
//! `params`: the enclosing query's values it reads; the engine runs it once per distinct
//! tuple of them (see `crate::statement`).

use std::fmt;

use arrow::datatypes::DataType;

use super::Expr;
use crate::error::Result;

/// What the answer of a subquery becomes in its expression.
#[derive(Debug, Clone, PartialEq)]
pub enum SubqueryKind {
    /// `(SELECT ...)`: the one row's one column (NULL without rows; more rows are an error).
    Scalar,
    /// `EXISTS (SELECT ...)`: whether there is a row.
    Exists,
    /// `value [NOT] IN (SELECT ...)`: the column's values, cast to `value`'s type and hashed.
    In {
        /// The value tested (over the expression's input).
        value: Box<Expr>,
        /// `NOT IN`
        negated: bool,
    },
}

/// A subquery in an expression (see [`Expr::Subquery`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SubqueryExpr {
    /// The subquery's id among the statement's subqueries (the binder's numbering).
    pub id: usize,
    /// What the answer becomes.
    pub kind: SubqueryKind,
    /// The type of the subquery's one column (for `IN`: the type its values are cast to,
    /// `value`'s).
    pub column_type: DataType,
    /// For a correlated subquery run per outer value: the values it reads, over the enclosing
    /// input (empty for an uncorrelated one).
    pub params: Vec<Expr>,
    /// For each of `params`, the [`Expr::OuterColumn`] index in the subquery's plan that it
    /// gives its value to.
    pub outer: Vec<usize>,
}

impl SubqueryExpr {
    /// The type of the expression: the column's for a scalar subquery, else BOOLEAN.
    pub fn data_type(&self) -> DataType {
        match self.kind {
            SubqueryKind::Scalar => self.column_type.clone(),
            SubqueryKind::Exists | SubqueryKind::In { .. } => DataType::Boolean,
        }
    }

    /// True for a correlated subquery that runs per distinct tuple of its `params`.
    pub fn is_correlated(&self) -> bool {
        !self.params.is_empty()
    }

    /// The expressions over the enclosing input that the subquery reads: `IN`'s value, then
    /// the params.
    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        let value = match &self.kind {
            SubqueryKind::In { value, .. } => Some(value.as_ref()),
            SubqueryKind::Scalar | SubqueryKind::Exists => None,
        };
        value.into_iter().chain(self.params.iter())
    }

    /// The same subquery with `IN`'s value and each param `e` replaced by `f(e)`.
    pub fn map_exprs(self, mut f: impl FnMut(Expr) -> Result<Expr>) -> Result<SubqueryExpr> {
        let kind = match self.kind {
            SubqueryKind::In { value, negated } => SubqueryKind::In {
                value: Box::new(f(*value)?),
                negated,
            },
            other => other,
        };
        let params = self.params.into_iter().map(f).collect::<Result<_>>()?;
        Ok(SubqueryExpr {
            kind,
            params,
            ..self
        })
    }
}

impl fmt::Display for SubqueryExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.id;
        let subquery = if self.params.is_empty() {
            format!("subquery #{id}")
        } else {
            let params: Vec<String> = self.params.iter().map(ToString::to_string).collect();
            format!("subquery #{id} per {}", params.join(", "))
        };
        match &self.kind {
            SubqueryKind::Scalar => write!(f, "({subquery})"),
            SubqueryKind::Exists => write!(f, "EXISTS ({subquery})"),
            SubqueryKind::In { value, negated } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{value} {not}IN ({subquery})")
            }
        }
    }
}
