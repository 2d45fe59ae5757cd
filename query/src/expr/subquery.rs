//! [`SubqueryExpr`]: an uncorrelated subquery in an expression, by the id of its plan among the
//! statement's subqueries (the plan itself stays with the statement, so that expressions do not
//! hold plans).

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

/// An uncorrelated subquery in an expression (see [`Expr::Subquery`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SubqueryExpr {
    /// The subquery's id among the statement's subqueries (the binder's numbering).
    pub id: usize,
    /// What the answer becomes.
    pub kind: SubqueryKind,
    /// The type of the subquery's one column (for `IN`: the type its values are cast to,
    /// `value`'s).
    pub column_type: DataType,
}

impl SubqueryExpr {
    /// The type of the expression: the column's for a scalar subquery, else BOOLEAN.
    pub fn data_type(&self) -> DataType {
        match self.kind {
            SubqueryKind::Scalar => self.column_type.clone(),
            SubqueryKind::Exists | SubqueryKind::In { .. } => DataType::Boolean,
        }
    }

    /// The expression over the enclosing input that the subquery reads (`IN`'s value).
    pub fn value(&self) -> Option<&Expr> {
        match &self.kind {
            SubqueryKind::In { value, .. } => Some(value),
            SubqueryKind::Scalar | SubqueryKind::Exists => None,
        }
    }

    /// The same subquery with `IN`'s value replaced by `f(value)`.
    pub fn map_value(self, mut f: impl FnMut(Expr) -> Result<Expr>) -> Result<SubqueryExpr> {
        let kind = match self.kind {
            SubqueryKind::In { value, negated } => SubqueryKind::In {
                value: Box::new(f(*value)?),
                negated,
            },
            other => other,
        };
        Ok(SubqueryExpr { kind, ..self })
    }
}

impl fmt::Display for SubqueryExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SubqueryKind::Scalar => write!(f, "(subquery #{})", self.id),
            SubqueryKind::Exists => write!(f, "EXISTS (subquery #{})", self.id),
            SubqueryKind::In { value, negated } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{value} {not}IN (subquery #{})", self.id)
            }
        }
    }
}
