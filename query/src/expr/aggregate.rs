//! Aggregate calls as plans hold them: [`AggregateFunction`] and [`AggregateExpr`].

use std::fmt;

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;

use super::{Expr, SortKey};
use crate::error::Result;

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFunction {
    /// `COUNT(*)` (no argument) or `COUNT(x)` (non-NULL values).
    Count,
    /// `SUM(x)`: BIGINT for integers (overflow is an error), DOUBLE for floats.
    Sum,
    /// `MIN(x)`
    Min,
    /// `MAX(x)`
    Max,
    /// `AVG(x)`: DOUBLE.
    Avg,
    /// `STDDEV(x)`, `STDDEV_SAMP(x)`: the sample standard deviation, DOUBLE (NULL below two
    /// values).
    StddevSamp,
    /// `STDDEV_POP(x)`: the population standard deviation, DOUBLE.
    StddevPop,
    /// `VARIANCE(x)`, `VAR_SAMP(x)`: the sample variance, DOUBLE (NULL below two values).
    VarSamp,
    /// `VAR_POP(x)`: the population variance, DOUBLE.
    VarPop,
    /// `ANY_VALUE(x)`: some non-NULL value of the group (Strata returns the smallest).
    AnyValue,
    /// `BOOL_AND(x)` (also `EVERY(x)`): true when every non-NULL value is true (BOOLEAN).
    BoolAnd,
    /// `BOOL_OR(x)`: true when some non-NULL value is true (BOOLEAN).
    BoolOr,
    /// `APPROX_COUNT_DISTINCT(x)`: the number of distinct non-NULL values, estimated by a
    /// HyperLogLog sketch (BIGINT; standard error about 1.6%, exact-ish below a few thousand).
    ApproxCountDistinct,
    /// `APPROX_PERCENTILE(x, p)`: the `p` quantile of the values (DOUBLE), estimated with a
    /// t-digest (exact below 200 values per group).
    ApproxPercentile,
    /// `PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY x)`: the `p` quantile, interpolated linearly
    /// between the two nearest values (DOUBLE), as in PostgreSQL; DuckDB's `MEDIAN(x)` is
    /// `PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY x)`, its `QUANTILE_CONT(x, p)`
    /// `PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY x)`.
    PercentileCont,
    /// `PERCENTILE_DISC(p) WITHIN GROUP (ORDER BY x)`: the first value of the ordering whose
    /// position reaches the fraction `p` (the type of `x`); DuckDB's `QUANTILE_DISC(x, p)`.
    PercentileDisc,
    /// `MODE() WITHIN GROUP (ORDER BY x)` (or DuckDB's `mode(x)`): the most frequent non-NULL
    /// value, the first in the ordering among equally frequent ones.
    Mode,
    /// `STRING_AGG(x, separator [ORDER BY ...])`: the non-NULL values joined by the separator
    /// (the separator of each value but the first goes before it), NULL without values.
    StringAgg,
    /// `ARRAY_AGG(x [ORDER BY ...])`: the values, NULLs included, as a list; NULL without rows.
    ArrayAgg,
}

impl AggregateFunction {
    /// Looks a function up by its (case-insensitive) SQL name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "count" => AggregateFunction::Count,
            "sum" => AggregateFunction::Sum,
            "min" => AggregateFunction::Min,
            "max" => AggregateFunction::Max,
            "avg" | "mean" => AggregateFunction::Avg,
            "stddev" | "stddev_samp" => AggregateFunction::StddevSamp,
            "stddev_pop" => AggregateFunction::StddevPop,
            "variance" | "var_samp" => AggregateFunction::VarSamp,
            "var_pop" => AggregateFunction::VarPop,
            "any_value" => AggregateFunction::AnyValue,
            "bool_and" | "every" => AggregateFunction::BoolAnd,
            "bool_or" => AggregateFunction::BoolOr,
            "approx_count_distinct" => AggregateFunction::ApproxCountDistinct,
            "approx_percentile" | "approx_quantile" => AggregateFunction::ApproxPercentile,
            "percentile_cont" | "median" | "quantile_cont" => AggregateFunction::PercentileCont,
            "percentile_disc" | "quantile_disc" => AggregateFunction::PercentileDisc,
            "mode" => AggregateFunction::Mode,
            "string_agg" => AggregateFunction::StringAgg,
            "array_agg" => AggregateFunction::ArrayAgg,
            _ => return None,
        })
    }

    /// The lower-case SQL name, also the default output column name.
    pub fn name(self) -> &'static str {
        match self {
            AggregateFunction::Count => "count",
            AggregateFunction::Sum => "sum",
            AggregateFunction::Min => "min",
            AggregateFunction::Max => "max",
            AggregateFunction::Avg => "avg",
            AggregateFunction::StddevSamp => "stddev_samp",
            AggregateFunction::StddevPop => "stddev_pop",
            AggregateFunction::VarSamp => "var_samp",
            AggregateFunction::VarPop => "var_pop",
            AggregateFunction::AnyValue => "any_value",
            AggregateFunction::BoolAnd => "bool_and",
            AggregateFunction::BoolOr => "bool_or",
            AggregateFunction::ApproxCountDistinct => "approx_count_distinct",
            AggregateFunction::ApproxPercentile => "approx_percentile",
            AggregateFunction::PercentileCont => "percentile_cont",
            AggregateFunction::PercentileDisc => "percentile_disc",
            AggregateFunction::Mode => "mode",
            AggregateFunction::StringAgg => "string_agg",
            AggregateFunction::ArrayAgg => "array_agg",
        }
    }
}

/// One aggregate call, e.g. `COUNT(DISTINCT user_id)`. Its argument is bound against the input
/// of the [`Aggregate`](crate::plan::LogicalPlan::Aggregate) node.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateExpr {
    /// Which function.
    pub func: AggregateFunction,
    /// The argument; `None` for `COUNT(*)`.
    pub arg: Option<Expr>,
    /// `DISTINCT` was given.
    pub distinct: bool,
    /// `FILTER (WHERE ...)`: only rows for which it is true are aggregated.
    pub filter: Option<Expr>,
    /// The result type.
    pub data_type: DataType,
    /// The fraction `p` of `approx_percentile(x, p)` and `percentile_cont(p)`, in [0, 1]
    /// (for `WITHIN GROUP (ORDER BY x DESC)`, `1 - p`), and of `percentile_disc(p)`.
    pub fraction: Option<f64>,
    /// The arguments after the first (`string_agg`'s separator).
    pub extra_args: Vec<Expr>,
    /// The order the values are aggregated in: `string_agg(x, ',' ORDER BY y DESC)`, or the
    /// `WITHIN GROUP (ORDER BY x)` of `percentile_disc` and `mode` (whose key is `arg`). Empty:
    /// the input order.
    pub order_by: Vec<SortKey>,
}

impl AggregateExpr {
    /// A call of `func` with one argument (or none, `COUNT(*)`) and no ORDER BY.
    pub fn simple(func: AggregateFunction, arg: Option<Expr>, data_type: DataType) -> Self {
        AggregateExpr {
            func,
            arg,
            distinct: false,
            filter: None,
            data_type,
            fraction: None,
            extra_args: vec![],
            order_by: vec![],
        }
    }

    /// Every expression of the call: the arguments, the ORDER BY keys and the FILTER.
    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.arg
            .iter()
            .chain(self.extra_args.iter())
            .chain(self.order_by.iter().map(|k| &k.expr))
            .chain(self.filter.iter())
    }

    /// The call with every expression replaced by `f(expression)`.
    pub fn map_exprs(mut self, mut f: impl FnMut(Expr) -> Result<Expr>) -> Result<Self> {
        self.arg = self.arg.map(&mut f).transpose()?;
        self.extra_args = self
            .extra_args
            .into_iter()
            .map(&mut f)
            .collect::<Result<_>>()?;
        for key in &mut self.order_by {
            let expr = std::mem::replace(&mut key.expr, Expr::Literal(null_literal()));
            key.expr = f(expr)?;
        }
        self.filter = self.filter.map(&mut f).transpose()?;
        Ok(self)
    }

    /// True when the call collects its values to order them (or has several arguments): its
    /// accumulator gets them as one struct array (the argument, the extra arguments, the
    /// ORDER BY keys).
    pub fn is_ordered(&self) -> bool {
        matches!(
            self.func,
            AggregateFunction::PercentileDisc
                | AggregateFunction::Mode
                | AggregateFunction::StringAgg
                | AggregateFunction::ArrayAgg
        )
    }
}

/// A one-row NULL literal (a placeholder while an expression is moved out).
fn null_literal() -> ArrayRef {
    arrow::array::new_null_array(&DataType::Null, 1)
}

impl fmt::Display for AggregateExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let distinct = if self.distinct { "DISTINCT " } else { "" };
        let keys: Vec<String> = self.order_by.iter().map(|k| k.to_string()).collect();
        if matches!(
            self.func,
            AggregateFunction::PercentileDisc | AggregateFunction::Mode
        ) {
            let p = self.fraction.map(|p| p.to_string()).unwrap_or_default();
            write!(
                f,
                "{}({p}) WITHIN GROUP (ORDER BY {})",
                self.func.name(),
                keys.join(", ")
            )?;
            return match &self.filter {
                Some(filter) => write!(f, " FILTER (WHERE {filter})"),
                None => Ok(()),
            };
        }
        match (&self.arg, self.fraction) {
            (Some(arg), Some(p)) => write!(f, "{}({distinct}{arg}, {p}", self.func.name())?,
            (Some(arg), None) => write!(f, "{}({distinct}{arg}", self.func.name())?,
            (None, _) => write!(f, "{}(*", self.func.name())?,
        }
        for extra in &self.extra_args {
            write!(f, ", {extra}")?;
        }
        if !keys.is_empty() {
            write!(f, " ORDER BY {}", keys.join(", "))?;
        }
        write!(f, ")")?;
        match &self.filter {
            Some(filter) => write!(f, " FILTER (WHERE {filter})"),
            None => Ok(()),
        }
    }
}
