//! Window function calls: `f(args) OVER (PARTITION BY ... ORDER BY ... frame)`.
//!
//! The binder turns every call into a [`WindowExpr`] with its frame spelled out (PostgreSQL's
//! defaults filled in); the plan's [`Window`](crate::plan::LogicalPlan::Window) node computes
//! them, one output column per call.

use std::fmt;

use arrow::datatypes::DataType;

use super::{AggregateFunction, Expr, SortKey};

/// What a window call computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowFunction {
    /// `row_number()`: 1, 2, ... in the partition (BIGINT).
    RowNumber,
    /// `rank()`: 1 + the rows before the current row's first peer (BIGINT).
    Rank,
    /// `dense_rank()`: 1 + the peer groups before the current row's (BIGINT).
    DenseRank,
    /// `percent_rank()`: `(rank - 1) / (rows - 1)`, 0 for one row (DOUBLE).
    PercentRank,
    /// `cume_dist()`: rows up to the current row's last peer / rows (DOUBLE).
    CumeDist,
    /// `ntile(n)`: the bucket, 1 to `n`, of `n` buckets as equal as can be (INTEGER).
    Ntile,
    /// `lag(x [, offset [, default]])`: `x` of the row `offset` rows before, in the partition.
    Lag,
    /// `lead(x [, offset [, default]])`: `x` of the row `offset` rows after, in the partition.
    Lead,
    /// `first_value(x)`: `x` of the frame's first row.
    FirstValue,
    /// `last_value(x)`: `x` of the frame's last row.
    LastValue,
    /// `nth_value(x, n)`: `x` of the frame's `n`th row (1-based).
    NthValue,
    /// An aggregate over the frame (`sum(x) OVER (...)`).
    Aggregate(AggregateFunction),
}

impl WindowFunction {
    /// The window-only function called `name` (case-insensitive); aggregates are found by
    /// [`AggregateFunction::from_name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "row_number" => WindowFunction::RowNumber,
            "rank" => WindowFunction::Rank,
            "dense_rank" => WindowFunction::DenseRank,
            "percent_rank" => WindowFunction::PercentRank,
            "cume_dist" => WindowFunction::CumeDist,
            "ntile" => WindowFunction::Ntile,
            "lag" => WindowFunction::Lag,
            "lead" => WindowFunction::Lead,
            "first_value" => WindowFunction::FirstValue,
            "last_value" => WindowFunction::LastValue,
            "nth_value" => WindowFunction::NthValue,
            _ => return None,
        })
    }

    /// The lower-case SQL name, also the default output column name.
    pub fn name(self) -> &'static str {
        match self {
            WindowFunction::RowNumber => "row_number",
            WindowFunction::Rank => "rank",
            WindowFunction::DenseRank => "dense_rank",
            WindowFunction::PercentRank => "percent_rank",
            WindowFunction::CumeDist => "cume_dist",
            WindowFunction::Ntile => "ntile",
            WindowFunction::Lag => "lag",
            WindowFunction::Lead => "lead",
            WindowFunction::FirstValue => "first_value",
            WindowFunction::LastValue => "last_value",
            WindowFunction::NthValue => "nth_value",
            WindowFunction::Aggregate(func) => func.name(),
        }
    }

    /// True when the result depends on the frame (aggregates and the value functions); the
    /// ranking functions and `lag`/`lead` look at the whole partition.
    pub fn uses_frame(self) -> bool {
        matches!(
            self,
            WindowFunction::FirstValue
                | WindowFunction::LastValue
                | WindowFunction::NthValue
                | WindowFunction::Aggregate(_)
        )
    }
}

/// How a frame's offsets count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameUnits {
    /// `ROWS`: physical rows.
    Rows,
    /// `RANGE`: values of the (single) ORDER BY key; `CURRENT ROW` means the current row's peers.
    Range,
    /// `GROUPS`: peer groups.
    Groups,
}

impl FrameUnits {
    /// The SQL spelling.
    pub fn name(self) -> &'static str {
        match self {
            FrameUnits::Rows => "ROWS",
            FrameUnits::Range => "RANGE",
            FrameUnits::Groups => "GROUPS",
        }
    }
}

/// One end of a frame. An offset is a non-negative, non-NULL literal: a BIGINT for `ROWS` and
/// `GROUPS`; for `RANGE`, of the ORDER BY key's numeric type (BIGINT or DOUBLE), or an INTERVAL
/// for a DATE or TIMESTAMP key.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameBound {
    /// `UNBOUNDED PRECEDING`: the partition's first row.
    UnboundedPreceding,
    /// `offset PRECEDING`
    Preceding(Expr),
    /// `CURRENT ROW` (in `RANGE` and `GROUPS`: the first or last peer).
    CurrentRow,
    /// `offset FOLLOWING`
    Following(Expr),
    /// `UNBOUNDED FOLLOWING`: the partition's last row.
    UnboundedFollowing,
}

impl fmt::Display for FrameBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameBound::UnboundedPreceding => write!(f, "UNBOUNDED PRECEDING"),
            FrameBound::Preceding(offset) => write!(f, "{offset} PRECEDING"),
            FrameBound::CurrentRow => write!(f, "CURRENT ROW"),
            FrameBound::Following(offset) => write!(f, "{offset} FOLLOWING"),
            FrameBound::UnboundedFollowing => write!(f, "UNBOUNDED FOLLOWING"),
        }
    }
}

/// The rows of the partition a frame-using function sees from each row.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowFrame {
    /// `ROWS`, `RANGE` or `GROUPS`.
    pub units: FrameUnits,
    /// Where the frame starts.
    pub start: FrameBound,
    /// Where it ends (inclusive).
    pub end: FrameBound,
}

impl WindowFrame {
    /// PostgreSQL's default frame: `RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW`, which
    /// without ORDER BY is the whole partition (every row is a peer of every other).
    pub fn default_frame() -> Self {
        WindowFrame {
            units: FrameUnits::Range,
            start: FrameBound::UnboundedPreceding,
            end: FrameBound::CurrentRow,
        }
    }

    /// True when every row's frame is its whole partition, given whether the window has an
    /// ORDER BY (without one, every row is a peer of every other).
    pub fn covers_partition(&self, ordered: bool) -> bool {
        self.start == FrameBound::UnboundedPreceding
            && match self.end {
                FrameBound::UnboundedFollowing => true,
                FrameBound::CurrentRow => !ordered && self.units != FrameUnits::Rows,
                _ => false,
            }
    }
}

impl fmt::Display for WindowFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} BETWEEN {} AND {}",
            self.units.name(),
            self.start,
            self.end
        )
    }
}

/// One window function call. Its expressions are bound against the input of the
/// [`Window`](crate::plan::LogicalPlan::Window) node.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowExpr {
    /// Which function.
    pub func: WindowFunction,
    /// The arguments, completed by the binder: `lag`/`lead` always have (value, offset BIGINT,
    /// default of the value's type); `ntile` (buckets INTEGER); `nth_value` (value, n BIGINT);
    /// an aggregate its argument (none for `count(*)`), then `string_agg`'s separator or a
    /// percentile's fraction (a DOUBLE literal).
    pub args: Vec<Expr>,
    /// `DISTINCT` inside an aggregate's parentheses: each distinct value of the frame counts
    /// once.
    pub distinct: bool,
    /// The order an aggregate takes its values in: its own `ORDER BY` (`string_agg(x, ','
    /// ORDER BY y)`), the argument for `DISTINCT` and for `mode(x)`. Empty: the frame's order.
    pub within: Vec<SortKey>,
    /// `FILTER (WHERE ...)` of an aggregate: only rows where it is true are aggregated.
    pub filter: Option<Expr>,
    /// `PARTITION BY`
    pub partition_by: Vec<Expr>,
    /// `ORDER BY` inside `OVER`.
    pub order_by: Vec<SortKey>,
    /// The frame (PostgreSQL's default when none was written).
    pub frame: WindowFrame,
    /// The result type.
    pub data_type: DataType,
}

impl WindowExpr {
    /// The expressions of the call, in order: arguments, the aggregate's own order keys,
    /// filter, partition keys, order keys.
    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.args
            .iter()
            .chain(self.within.iter().map(|k| &k.expr))
            .chain(self.filter.iter())
            .chain(self.partition_by.iter())
            .chain(self.order_by.iter().map(|k| &k.expr))
    }

    /// Rebuilds the call with every expression replaced by `f(expr)`, in the order of
    /// [`WindowExpr::exprs`].
    pub fn map_exprs(
        mut self,
        mut f: impl FnMut(Expr) -> crate::error::Result<Expr>,
    ) -> crate::error::Result<Self> {
        self.args = self
            .args
            .into_iter()
            .map(&mut f)
            .collect::<Result<_, _>>()?;
        for key in &mut self.within {
            let expr = std::mem::replace(&mut key.expr, Expr::column(0, "", DataType::Null));
            key.expr = f(expr)?;
        }
        self.filter = self.filter.map(&mut f).transpose()?;
        self.partition_by = self
            .partition_by
            .into_iter()
            .map(&mut f)
            .collect::<Result<_, _>>()?;
        for key in &mut self.order_by {
            let expr = std::mem::replace(&mut key.expr, Expr::column(0, "", DataType::Null));
            key.expr = f(expr)?;
        }
        Ok(self)
    }
}

impl fmt::Display for WindowExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let args: Vec<String> = self.args.iter().map(|a| a.to_string()).collect();
        let args = match self.func {
            WindowFunction::Aggregate(AggregateFunction::Count) if args.is_empty() => "*".into(),
            _ => args.join(", "),
        };
        let distinct = if self.distinct { "DISTINCT " } else { "" };
        write!(f, "{}({distinct}{args}", self.func.name())?;
        if !self.within.is_empty() {
            let keys: Vec<String> = self.within.iter().map(|k| k.to_string()).collect();
            write!(f, " ORDER BY {}", keys.join(", "))?;
        }
        write!(f, ")")?;
        if let Some(filter) = &self.filter {
            write!(f, " FILTER (WHERE {filter})")?;
        }
        write!(f, " OVER (")?;
        let mut parts = vec![];
        if !self.partition_by.is_empty() {
            let keys: Vec<String> = self.partition_by.iter().map(|e| e.to_string()).collect();
            parts.push(format!("PARTITION BY {}", keys.join(", ")));
        }
        if !self.order_by.is_empty() {
            let keys: Vec<String> = self.order_by.iter().map(|k| k.to_string()).collect();
            parts.push(format!("ORDER BY {}", keys.join(", ")));
        }
        if self.func.uses_frame() {
            parts.push(self.frame.to_string());
        }
        write!(f, "{})", parts.join(" "))
    }
}
