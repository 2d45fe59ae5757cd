//! Typed expressions: what the binder produces from SQL expressions and what the executor
//! evaluates, a whole batch at a time.
//!
//! Columns are referenced by their index in the input of the plan node that owns the expression,
//! so evaluation never looks a name up. Literals are one-element Arrow arrays, so a literal is
//! handed to the Arrow kernels as a [`Scalar`](arrow::array::Scalar) without conversion.

mod aggregate;
pub mod coerce;
mod in_set;
mod subquery;
mod window;
pub(crate) mod zoned_cast;

pub use aggregate::{AggregateExpr, AggregateFunction};
pub use in_set::{InSet, Literals};
pub use subquery::{SubqueryExpr, SubqueryKind};
pub use window::{FrameBound, FrameUnits, WindowExpr, WindowFrame, WindowFunction};

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::Result;

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `=`
    Eq,
    /// `<>`, `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `AND` (three-valued)
    And,
    /// `OR` (three-valued)
    Or,
    /// `+` (overflow is an error)
    Plus,
    /// `-` (overflow is an error)
    Minus,
    /// `*` (overflow is an error)
    Multiply,
    /// `/` (integer division for integers; division by zero is an error)
    Divide,
    /// `%` (division by zero is an error)
    Modulo,
    /// `IS DISTINCT FROM`: `<>` that treats NULL as a value (never NULL).
    IsDistinctFrom,
    /// `IS NOT DISTINCT FROM`: `=` that treats NULL as a value (never NULL).
    IsNotDistinctFrom,
}

impl BinaryOp {
    /// True for `=`, `<>`, `<`, `<=`, `>`, `>=`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq
                | BinaryOp::NotEq
                | BinaryOp::Lt
                | BinaryOp::LtEq
                | BinaryOp::Gt
                | BinaryOp::GtEq
                | BinaryOp::IsDistinctFrom
                | BinaryOp::IsNotDistinctFrom
        )
    }

    /// True for `+ - * / %`.
    pub fn is_arithmetic(self) -> bool {
        matches!(
            self,
            BinaryOp::Plus
                | BinaryOp::Minus
                | BinaryOp::Multiply
                | BinaryOp::Divide
                | BinaryOp::Modulo
        )
    }

    /// The SQL spelling.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
            BinaryOp::Plus => "+",
            BinaryOp::Minus => "-",
            BinaryOp::Multiply => "*",
            BinaryOp::Divide => "/",
            BinaryOp::Modulo => "%",
            BinaryOp::IsDistinctFrom => "IS DISTINCT FROM",
            BinaryOp::IsNotDistinctFrom => "IS NOT DISTINCT FROM",
        }
    }
}

/// A scalar (row-by-row) function as a plan holds it: found by the binder in the registry
/// ([`crate::function`]), with the constant options of the call fixed (`date_trunc`'s unit,
/// `trim`'s side, `time_bucket`'s width), and run by the executor once per batch over whole
/// arrays.
pub trait ScalarFunction: AnyFunction + fmt::Debug + Send + Sync {
    /// The SQL name (for EXPLAIN and messages).
    fn name(&self) -> &'static str;

    /// The type of the result of a call with `args` (as the binder coerced them).
    fn return_type(&self, args: &[Expr]) -> DataType;

    /// Computes the function over arrays of one length (a constant argument is repeated), of
    /// the types the binder cast the arguments to: one call per batch, never per row.
    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef>;

    /// Writes a call with its formatted arguments as SQL: `name(a, b)`, unless the function is
    /// spelled otherwise.
    fn fmt_call(&self, args: &[String], f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), args.join(", "))
    }
}

/// What lets a plan compare its functions and the executor recognize one; every `PartialEq`
/// type has it.
pub trait AnyFunction: Any {
    /// The function as [`Any`].
    fn as_any(&self) -> &dyn Any;
    /// True when `other` is a function of the same type with equal options.
    fn equals(&self, other: &dyn Any) -> bool;
}

impl<T: Any + PartialEq> AnyFunction for T {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn equals(&self, other: &dyn Any) -> bool {
        other.downcast_ref::<T>() == Some(self)
    }
}

impl dyn ScalarFunction {
    /// True when the function is a `T`.
    pub fn is<T: ScalarFunction>(&self) -> bool {
        self.as_any().is::<T>()
    }
}

impl PartialEq for dyn ScalarFunction {
    fn eq(&self, other: &Self) -> bool {
        self.equals(other.as_any())
    }
}

/// One key of an ORDER BY (of a query or of a window).
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// The value sorted on.
    pub expr: Expr,
    /// `DESC`
    pub descending: bool,
    /// NULLs before values (PostgreSQL default: only for `DESC`).
    pub nulls_first: bool,
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} NULLS {}",
            self.expr,
            if self.descending { "DESC" } else { "ASC" },
            if self.nulls_first { "FIRST" } else { "LAST" }
        )
    }
}

/// A typed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// The column at `index` of the input.
    Column {
        /// Position in the input schema.
        index: usize,
        /// The column name (for messages and output names).
        name: String,
        /// Its type.
        data_type: DataType,
    },
    /// A constant: a one-element array (possibly a NULL of some type).
    Literal(ArrayRef),
    /// `left op right`; the binder has cast both sides to a common type.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `NOT x` (three-valued).
    Not(Box<Expr>),
    /// `-x` (overflow is an error).
    Negative(Box<Expr>),
    /// `x IS NULL`
    IsNull(Box<Expr>),
    /// `x IS NOT NULL`
    IsNotNull(Box<Expr>),
    /// `x [NOT] [I]LIKE pattern`
    Like {
        /// `NOT LIKE`
        negated: bool,
        /// `ILIKE`
        case_insensitive: bool,
        /// The string tested.
        expr: Box<Expr>,
        /// The pattern (`%` and `_` wildcards, `\` escape).
        pattern: Box<Expr>,
    },
    /// `CAST(x AS type)`; a value that does not convert is an error.
    Cast {
        /// The value.
        expr: Box<Expr>,
        /// The target type.
        data_type: DataType,
    },
    /// A scalar function call; the binder has coerced the arguments.
    Function {
        /// Which function (with the options the binder fixed, e.g. `date_trunc`'s unit).
        func: Arc<dyn ScalarFunction>,
        /// The arguments (for `date_trunc`, only the timestamp: the unit is part of `func`).
        args: Vec<Expr>,
    },
    /// `CASE WHEN c1 THEN r1 ... [ELSE e] END`; the binder has given every result one type.
    Case {
        /// The conditions (BOOLEAN; NULL counts as false) and their results, in order.
        when_then: Vec<(Expr, Expr)>,
        /// The result when no condition holds (NULL when absent).
        else_result: Option<Box<Expr>>,
    },
    /// `x [NOT] IN (SELECT ...)`: the subquery ran before the query, its values are hashed.
    /// NULL semantics of SQL: NULL when `x` is NULL or when `x` is not found and the values
    /// hold a NULL; false for no values at all.
    InSet {
        /// The value tested.
        expr: Box<Expr>,
        /// The values, of `expr`'s type.
        set: Arc<InSet>,
        /// `NOT IN`
        negated: bool,
    },
    /// A column of the enclosing query's FROM, read by a correlated subquery. The binder
    /// decorrelates the subquery into a join, which replaces it by a column of the join, or the
    /// engine binds its value when it runs the subquery per outer value; the executor never
    /// sees one.
    OuterColumn {
        /// Position in the enclosing query's FROM columns; plus [`OUTER_LEVEL`] for each level
        /// further up (a column of the query enclosing the enclosing one).
        index: usize,
        /// The column name (for messages).
        name: String,
        /// Its type.
        data_type: DataType,
    },
    /// A subquery (`(SELECT ...)`, `EXISTS (...)`, `x IN (SELECT ...)`): its plan is one of the
    /// statement's subqueries, run when the statement executes, before the plan is optimized,
    /// and the expression is then replaced by the answer: a literal or an [`Expr::InSet`] for
    /// an uncorrelated one (run once), a lookup of the answers by outer values for a correlated
    /// one the binder could not turn into a join (run once per distinct outer value). The
    /// optimizer and `EXPLAIN` see it unresolved; the executor never does.
    Subquery(Box<SubqueryExpr>),
    /// An aggregate call. Exists only between binding and the rewrite of an aggregate query,
    /// which replaces it by a column of the [`Aggregate`](crate::plan::LogicalPlan::Aggregate)
    /// output; the executor never sees one.
    Aggregate(Box<AggregateExpr>),
    /// A window function call. Exists only between binding and the rewrite of a query with
    /// window calls, which replaces it by a column of the
    /// [`Window`](crate::plan::LogicalPlan::Window) output; the executor never sees one.
    Window(Box<WindowExpr>),
}

/// What an [`Expr::OuterColumn`]'s index adds per level above the enclosing query.
pub const OUTER_LEVEL: usize = 1 << 24;

impl Expr {
    /// The type of the value the expression produces.
    pub fn data_type(&self) -> DataType {
        match self {
            Expr::Column { data_type, .. } | Expr::OuterColumn { data_type, .. } => {
                data_type.clone()
            }
            Expr::Literal(value) => value.data_type().clone(),
            Expr::Binary { op, left, right } => {
                if op.is_arithmetic() {
                    coerce::arithmetic_type(*op, &left.data_type(), &right.data_type())
                } else {
                    DataType::Boolean
                }
            }
            Expr::Not(_)
            | Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::Like { .. }
            | Expr::InSet { .. } => DataType::Boolean,
            Expr::Negative(e) => e.data_type(),
            Expr::Cast { data_type, .. } => data_type.clone(),
            Expr::Aggregate(agg) => agg.data_type.clone(),
            Expr::Window(window) => window.data_type.clone(),
            Expr::Subquery(subquery) => subquery.data_type(),
            Expr::Case { when_then, .. } => when_then
                .first()
                .map(|(_, r)| r.data_type())
                .unwrap_or(DataType::Null),
            Expr::Function { func, args } => func.return_type(args),
        }
    }

    /// A call of `func` with `args` (coerced to what it expects).
    pub fn call(func: impl ScalarFunction, args: Vec<Expr>) -> Expr {
        Expr::Function {
            func: Arc::new(func),
            args,
        }
    }

    /// A column reference.
    pub fn column(index: usize, name: impl Into<String>, data_type: DataType) -> Expr {
        Expr::Column {
            index,
            name: name.into(),
            data_type,
        }
    }

    /// `self op right`.
    pub fn binary(self, op: BinaryOp, right: Expr) -> Expr {
        Expr::Binary {
            op,
            left: Box::new(self),
            right: Box::new(right),
        }
    }

    /// `CAST(self AS data_type)`, or `self` when it already has that type.
    ///
    /// While the binder binds a statement under a session time zone, a cast of VARCHAR or
    /// DATE to TIMESTAMP reads them in that zone, and one of a TIMESTAMP to VARCHAR writes
    /// local time with the offset (see `expr/zoned_cast.rs`).
    pub fn cast_to(self, data_type: &DataType) -> Expr {
        let from = self.data_type();
        if from == *data_type {
            return self;
        }
        let expr = if *data_type == strata_storage::types::TIMESTAMP_TYPE
            || *data_type == DataType::Utf8
        {
            match zoned_cast::zoned(self, &from, data_type) {
                Ok(zoned) => return zoned,
                Err(expr) => expr,
            }
        } else {
            self
        };
        Expr::Cast {
            expr: Box::new(expr),
            data_type: data_type.clone(),
        }
    }

    /// The direct children.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Column { .. } | Expr::OuterColumn { .. } | Expr::Literal(_) => vec![],
            Expr::Binary { left, right, .. } => vec![left, right],
            Expr::Not(e) | Expr::Negative(e) | Expr::IsNull(e) | Expr::IsNotNull(e) => vec![e],
            Expr::InSet { expr, .. } => vec![expr],
            Expr::Like { expr, pattern, .. } => vec![expr, pattern],
            Expr::Cast { expr, .. } => vec![expr],
            Expr::Aggregate(agg) => agg.exprs().collect(),
            Expr::Window(window) => window.exprs().collect(),
            Expr::Subquery(subquery) => subquery.exprs().collect(),
            Expr::Function { args, .. } => args.iter().collect(),
            Expr::Case {
                when_then,
                else_result,
            } => when_then
                .iter()
                .flat_map(|(w, t)| [w, t])
                .chain(else_result.iter().map(|e| e.as_ref()))
                .collect(),
        }
    }

    /// Rebuilds the expression with every direct child replaced by `f(child)`.
    pub fn map_children(self, mut f: impl FnMut(Expr) -> Result<Expr>) -> Result<Expr> {
        let mut g = |e: Box<Expr>| f(*e).map(Box::new);
        Ok(match self {
            Expr::Column { .. } | Expr::OuterColumn { .. } | Expr::Literal(_) => self,
            Expr::Binary { op, left, right } => Expr::Binary {
                op,
                left: g(left)?,
                right: g(right)?,
            },
            Expr::Not(e) => Expr::Not(g(e)?),
            Expr::Negative(e) => Expr::Negative(g(e)?),
            Expr::IsNull(e) => Expr::IsNull(g(e)?),
            Expr::IsNotNull(e) => Expr::IsNotNull(g(e)?),
            Expr::InSet { expr, set, negated } => Expr::InSet {
                expr: g(expr)?,
                set,
                negated,
            },
            Expr::Like {
                negated,
                case_insensitive,
                expr,
                pattern,
            } => Expr::Like {
                negated,
                case_insensitive,
                expr: g(expr)?,
                pattern: g(pattern)?,
            },
            Expr::Cast { expr, data_type } => Expr::Cast {
                expr: g(expr)?,
                data_type,
            },
            Expr::Function { func, args } => Expr::Function {
                func,
                args: args.into_iter().map(&mut f).collect::<Result<_>>()?,
            },
            Expr::Case {
                when_then,
                else_result,
            } => {
                let mut mapped = Vec::with_capacity(when_then.len());
                for (w, t) in when_then {
                    mapped.push((f(w)?, f(t)?));
                }
                let else_result = match else_result {
                    Some(e) => Some(Box::new(f(*e)?)),
                    None => None,
                };
                Expr::Case {
                    when_then: mapped,
                    else_result,
                }
            }
            Expr::Aggregate(agg) => Expr::Aggregate(Box::new(agg.map_exprs(&mut f)?)),
            Expr::Window(window) => Expr::Window(Box::new(window.map_exprs(&mut f)?)),
            Expr::Subquery(subquery) => Expr::Subquery(Box::new(subquery.map_exprs(f)?)),
        })
    }

    /// Adds the indices of the input columns the expression reads to `out`.
    pub fn collect_columns(&self, out: &mut Vec<usize>) {
        if let Expr::Column { index, .. } = self {
            out.push(*index);
        }
        for child in self.children() {
            child.collect_columns(out);
        }
    }

    /// True when the expression contains an aggregate call.
    pub fn contains_aggregate(&self) -> bool {
        matches!(self, Expr::Aggregate(_)) || self.children().iter().any(|c| c.contains_aggregate())
    }

    /// Adds the indices of the enclosing query's columns that a correlated subquery's
    /// expression reads to `out`.
    pub fn collect_outer_columns(&self, out: &mut Vec<usize>) {
        if let Expr::OuterColumn { index, .. } = self {
            out.push(*index);
        }
        for child in self.children() {
            child.collect_outer_columns(out);
        }
    }

    /// True when the expression holds a correlated subquery that runs per outer value
    /// ([`SubqueryExpr::is_correlated`]).
    pub fn contains_correlated_subquery(&self) -> bool {
        matches!(self, Expr::Subquery(s) if s.is_correlated())
            || self
                .children()
                .iter()
                .any(|c| c.contains_correlated_subquery())
    }

    /// True when the expression contains a window function call.
    pub fn contains_window(&self) -> bool {
        matches!(self, Expr::Window(_)) || self.children().iter().any(|c| c.contains_window())
    }

    /// True when the expression reads no column, calls no aggregate or window function and
    /// holds no unresolved subquery: it can be folded.
    pub fn is_constant(&self) -> bool {
        !matches!(
            self,
            Expr::Column { .. }
                | Expr::OuterColumn { .. }
                | Expr::Aggregate(_)
                | Expr::Window(_)
                | Expr::Subquery(_)
        ) && self.children().iter().all(|c| c.is_constant())
    }

    /// Moves every column index `i >= from` up by `by` (the expression read over a wider input
    /// whose extra columns come before those: a join's right side over the joined columns).
    #[recursive::recursive]
    pub fn shift_columns(self, from: usize, by: usize) -> Result<Expr> {
        match self {
            Expr::Column {
                index,
                name,
                data_type,
            } => Ok(Expr::Column {
                index: if index >= from { index + by } else { index },
                name,
                data_type,
            }),
            other => other.map_children(|c| c.shift_columns(from, by)),
        }
    }

    /// Replaces every column `i` by `exprs[i]` (the expression read through the projection or
    /// the grouping that computes its input's column `i`).
    #[recursive::recursive]
    pub fn substitute_columns(self, exprs: &[Expr]) -> Result<Expr> {
        match self {
            Expr::Column { index, name, .. } => exprs.get(index).cloned().ok_or_else(|| {
                crate::error::Error::internal(format!("column {name} (#{index}) out of range"))
            }),
            other => other.map_children(|c| c.substitute_columns(exprs)),
        }
    }

    /// Replaces every column index `i` by `mapping[i]`.
    #[recursive::recursive]
    pub fn remap_columns(self, mapping: &[Option<usize>]) -> Result<Expr> {
        match self {
            Expr::Column {
                index,
                name,
                data_type,
            } => match mapping.get(index).copied().flatten() {
                Some(index) => Ok(Expr::Column {
                    index,
                    name,
                    data_type,
                }),
                None => Err(crate::error::Error::internal(format!(
                    "column {name} (#{index}) was pruned but is still used"
                ))),
            },
            other => other.map_children(|c| c.remap_columns(mapping)),
        }
    }

    /// Splits `a AND b AND c` into `[a, b, c]` (in order, without recursion).
    pub fn split_conjunction(self) -> Vec<Expr> {
        let mut out = vec![];
        let mut pending = vec![self];
        while let Some(e) = pending.pop() {
            match e {
                Expr::Binary {
                    op: BinaryOp::And,
                    left,
                    right,
                } => {
                    pending.push(*right);
                    pending.push(*left);
                }
                other => out.push(other),
            }
        }
        out
    }

    /// `t1 AND t2 AND ...` as a balanced tree (as deep as the logarithm of the number of
    /// terms, so that 20,000 conjuncts do not nest 20,000 deep); `None` for no term.
    pub fn conjunction(terms: Vec<Expr>) -> Option<Expr> {
        Expr::balanced(terms, BinaryOp::And)
    }

    /// `t1 op t2 op ...` for an associative `op` (`AND`, `OR`) as a balanced tree; `None` for
    /// no term.
    pub fn balanced(mut terms: Vec<Expr>, op: BinaryOp) -> Option<Expr> {
        while terms.len() > 1 {
            let mut next = Vec::with_capacity(terms.len().div_ceil(2));
            let mut pairs = terms.into_iter();
            while let Some(a) = pairs.next() {
                next.push(match pairs.next() {
                    Some(b) => a.binary(op, b),
                    None => a,
                });
            }
            terms = next;
        }
        terms.pop()
    }
}

/// Formats a one-element literal array as SQL.
fn fmt_literal(value: &dyn Array, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if value.is_null(0) {
        return write!(f, "NULL");
    }
    let options = FormatOptions::default();
    match ArrayFormatter::try_new(value, &options) {
        Ok(formatter) => {
            let text = formatter.value(0).to_string();
            match value.data_type() {
                DataType::Utf8 => write!(f, "'{}'", text.replace('\'', "''")),
                DataType::Date32 | DataType::Timestamp(_, _) => {
                    write!(
                        f,
                        "{} '{}'",
                        strata_storage::sql_type_name(value.data_type()),
                        text
                    )
                }
                _ => write!(f, "{text}"),
            }
        }
        Err(_) => write!(f, "<literal>"),
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Column { name, index, .. } => write!(f, "{name}#{index}"),
            Expr::OuterColumn { name, index, .. } => write!(f, "outer.{name}#{index}"),
            Expr::Subquery(subquery) => write!(f, "{subquery}"),
            Expr::Literal(value) => fmt_literal(value.as_ref(), f),
            Expr::Binary { op, left, right } => write!(f, "({left} {} {right})", op.symbol()),
            Expr::Not(e) => write!(f, "NOT {e}"),
            Expr::Negative(e) => write!(f, "(- {e})"),
            Expr::IsNull(e) => write!(f, "{e} IS NULL"),
            Expr::IsNotNull(e) => write!(f, "{e} IS NOT NULL"),
            Expr::InSet { expr, set, negated } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{expr} {not}IN (<{} values>)", set.len())
            }
            Expr::Like {
                negated,
                case_insensitive,
                expr,
                pattern,
            } => {
                let not = if *negated { "NOT " } else { "" };
                let like = if *case_insensitive { "ILIKE" } else { "LIKE" };
                write!(f, "{expr} {not}{like} {pattern}")
            }
            Expr::Cast { expr, data_type } => {
                write!(
                    f,
                    "CAST({expr} AS {})",
                    strata_storage::sql_type_name(data_type)
                )
            }
            Expr::Aggregate(agg) => write!(f, "{agg}"),
            Expr::Window(window) => write!(f, "{window}"),
            Expr::Case {
                when_then,
                else_result,
            } => {
                write!(f, "CASE")?;
                for (w, t) in when_then {
                    write!(f, " WHEN {w} THEN {t}")?;
                }
                if let Some(e) = else_result {
                    write!(f, " ELSE {e}")?;
                }
                write!(f, " END")
            }
            Expr::Function { func, args } => {
                let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                func.fmt_call(&args, f)
            }
        }
    }
}
