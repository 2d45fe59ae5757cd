//! The kinds of plan nodes that carry an enum or a payload of their own: joins, set operations,
//! `generate_series`.

use arrow::datatypes::DataType;

/// `generate_series(start, stop[, step])` in FROM: one column of values from `start` to `stop`
/// (inclusive when reached) by `step`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The output column's name.
    pub name: String,
    /// The values.
    pub values: SeriesValues,
}

/// The values of a [`Series`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SeriesValues {
    /// BIGINT values.
    Int {
        /// The first value.
        start: i64,
        /// The bound (the last value is the last one not past it).
        stop: i64,
        /// The step (not 0).
        step: i64,
    },
    /// TIMESTAMP values (milliseconds since the epoch), each the previous plus an interval.
    Timestamp {
        /// The first value.
        start: i64,
        /// The bound.
        stop: i64,
        /// The step's months.
        months: i32,
        /// The step's days.
        days: i32,
        /// The step's milliseconds.
        ms: i64,
    },
}

impl SeriesValues {
    /// The column type.
    pub fn data_type(&self) -> DataType {
        match self {
            SeriesValues::Int { .. } => DataType::Int64,
            SeriesValues::Timestamp { .. } => strata_storage::types::TIMESTAMP_TYPE,
        }
    }

    /// How many values (an estimate for calendar steps).
    pub fn len_estimate(&self) -> f64 {
        match *self {
            SeriesValues::Int { start, stop, step } => {
                ((stop as f64 - start as f64) / step as f64)
                    .floor()
                    .max(-1.0)
                    + 1.0
            }
            SeriesValues::Timestamp {
                start,
                stop,
                months,
                days,
                ms,
            } => {
                let step = f64::from(months) * 30.0 * 86_400_000.0
                    + f64::from(days) * 86_400_000.0
                    + ms as f64;
                if step == 0.0 {
                    0.0
                } else {
                    ((stop as f64 - start as f64) / step).floor().max(-1.0) + 1.0
                }
            }
        }
    }
}

/// A set operation other than UNION.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOpKind {
    /// `INTERSECT`: the left rows that the right input has too.
    Intersect,
    /// `EXCEPT`: the left rows that the right input does not have.
    Except,
}

impl SetOpKind {
    /// The SQL spelling.
    pub fn name(self) -> &'static str {
        match self {
            SetOpKind::Intersect => "INTERSECT",
            SetOpKind::Except => "EXCEPT",
        }
    }
}

/// The name of a mark join's BOOLEAN column.
pub const MARK_COLUMN: &str = "mark";

/// The kind of a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// `[INNER] JOIN` (and `CROSS JOIN`, a comma in FROM: an inner join without a condition):
    /// the pairs of rows that match.
    Inner,
    /// `LEFT [OUTER] JOIN`: the pairs that match, and every left row without a match, with
    /// NULLs for the right columns.
    Left,
    /// `RIGHT [OUTER] JOIN`: the pairs that match, and every right row without a match, with
    /// NULLs for the left columns.
    Right,
    /// `FULL [OUTER] JOIN`: a LEFT and a RIGHT join at once.
    Full,
    /// A mark join, for `EXISTS` and `IN` over a correlated subquery: every left row once,
    /// followed by one non-NULL BOOLEAN column, true when some right row matched it. The right
    /// columns are not in the output.
    Mark,
}

impl JoinKind {
    /// The SQL spelling.
    pub fn name(self) -> &'static str {
        match self {
            JoinKind::Inner => "INNER",
            JoinKind::Left => "LEFT",
            JoinKind::Right => "RIGHT",
            JoinKind::Full => "FULL",
            JoinKind::Mark => "MARK",
        }
    }

    /// Whether a left row without a match comes out (NULL-extended on the right, or marked).
    pub fn keeps_unmatched_left(self) -> bool {
        matches!(self, JoinKind::Left | JoinKind::Full | JoinKind::Mark)
    }

    /// Whether the output has the right input's columns (all but a mark join).
    pub fn outputs_right(self) -> bool {
        self != JoinKind::Mark
    }

    /// Whether a right row without a match comes out (NULL-extended on the left).
    pub fn keeps_unmatched_right(self) -> bool {
        matches!(self, JoinKind::Right | JoinKind::Full)
    }
}
