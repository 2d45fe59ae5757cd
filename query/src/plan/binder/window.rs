//! Window calls: the window an `OVER` clause names (written inline, or a definition of the
//! `WINDOW` clause, copied and extended by PostgreSQL's rules), its frame (PostgreSQL's default
//! and checks), and the arguments and result type of every window function.
//!
//! Expressions are bound by the caller ([`super::expr`]), which hands its binding in as
//! closures, so this file sits below it.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, Int64Array};
use arrow::datatypes::{DataType, Float64Type, Int64Type, IntervalUnit};
use sqlparser::ast as sql;

use super::literal::sort_options;
use crate::error::{Error, Result};
use crate::expr::coerce::{common_type, integer_arg, is_numeric, is_temporal, type_name};
use crate::expr::{
    AggregateFunction, Expr, FrameBound, FrameUnits, SortKey, WindowExpr, WindowFrame,
    WindowFunction,
};

/// A bound `OVER` clause.
#[derive(Debug)]
pub(super) struct Over {
    partition_by: Vec<Expr>,
    order_by: Vec<SortKey>,
    frame: WindowFrame,
}

/// Binds an expression of the window (a partition or order key).
pub(super) type BindExpr<'a> = dyn Fn(&sql::Expr) -> Result<Expr> + 'a;

/// Binds `OVER (...)` or `OVER w` against the `WINDOW` clause's `definitions`: `bind` binds the
/// partition and order keys, `constant` a frame offset (folded to a literal).
pub(super) fn bind_over(
    over: &sql::WindowType,
    definitions: &[sql::NamedWindowDefinition],
    bind: &BindExpr,
    constant: &BindExpr,
) -> Result<Over> {
    let spec = match over {
        sql::WindowType::WindowSpec(spec) => inline(spec, definitions)?,
        sql::WindowType::NamedWindow(name) => named(name, definitions)?,
    };
    let partition_by = spec
        .partition_by
        .iter()
        .map(bind)
        .collect::<Result<Vec<_>>>()?;
    let mut order_by = Vec::with_capacity(spec.order_by.len());
    for key in spec.order_by {
        if key.with_fill.is_some() {
            return Err(Error::unsupported("ORDER BY ... WITH FILL"));
        }
        let (descending, nulls_first) = sort_options(key)?;
        order_by.push(SortKey {
            expr: bind(&key.expr)?,
            descending,
            nulls_first,
        });
    }
    let frame = bind_frame(spec.frame, &order_by, constant)?;
    Ok(Over {
        partition_by,
        order_by,
        frame,
    })
}

/// Fails when two definitions of the `WINDOW` clause have one name.
pub(super) fn check_definitions(definitions: &[sql::NamedWindowDefinition]) -> Result<()> {
    for (i, definition) in definitions.iter().enumerate() {
        let name = &definition.0.value;
        if definitions[..i]
            .iter()
            .any(|d| d.0.value.eq_ignore_ascii_case(name))
        {
            return Err(Error::InvalidArgument {
                message: format!("window \"{name}\" is already defined"),
            });
        }
    }
    Ok(())
}

/// The parts of a window, found in the AST.
struct Spec<'a> {
    partition_by: &'a [sql::Expr],
    order_by: &'a [sql::OrderByExpr],
    frame: Option<&'a sql::WindowFrame>,
}

/// The definition called `name`, as it is (`OVER w`). A definition sees only the ones before
/// it, as in PostgreSQL, which also bounds the recursion by the clause's length.
fn named<'a>(name: &sql::Ident, definitions: &'a [sql::NamedWindowDefinition]) -> Result<Spec<'a>> {
    let Some(i) = definitions
        .iter()
        .position(|d| d.0.value.eq_ignore_ascii_case(&name.value))
    else {
        return Err(Error::InvalidArgument {
            message: format!("window \"{}\" does not exist", name.value),
        });
    };
    match &definitions[i].1 {
        sql::NamedWindowExpr::NamedWindow(base) => named(base, &definitions[..i]),
        sql::NamedWindowExpr::WindowSpec(spec) => inline(spec, &definitions[..i]),
    }
}

/// `(base PARTITION BY ... ORDER BY ... frame)`: a copy of the window `base`, if named, which
/// may add an ORDER BY (when it has none) and a frame (PostgreSQL's rules).
fn inline<'a>(
    spec: &'a sql::WindowSpec,
    definitions: &'a [sql::NamedWindowDefinition],
) -> Result<Spec<'a>> {
    let own = Spec {
        partition_by: &spec.partition_by,
        order_by: &spec.order_by,
        frame: spec.window_frame.as_ref(),
    };
    let Some(base_name) = &spec.window_name else {
        return Ok(own);
    };
    let base = named(base_name, definitions)?;
    let refuse = |message: String| Err(Error::InvalidArgument { message });
    let name = &base_name.value;
    if !own.partition_by.is_empty() {
        return refuse(format!(
            "cannot override PARTITION BY clause of window \"{name}\""
        ));
    }
    if !own.order_by.is_empty() && !base.order_by.is_empty() {
        return refuse(format!(
            "cannot override ORDER BY clause of window \"{name}\""
        ));
    }
    if base.frame.is_some() {
        return refuse(format!(
            "cannot copy window \"{name}\" because it has a frame clause; write OVER {name} without parentheses"
        ));
    }
    Ok(Spec {
        partition_by: base.partition_by,
        order_by: if own.order_by.is_empty() {
            base.order_by
        } else {
            own.order_by
        },
        frame: own.frame,
    })
}

/// The frame, PostgreSQL's default when none is written, with PostgreSQL's checks.
fn bind_frame(
    frame: Option<&sql::WindowFrame>,
    order_by: &[SortKey],
    constant: &BindExpr,
) -> Result<WindowFrame> {
    let Some(frame) = frame else {
        return Ok(WindowFrame::default_frame());
    };
    let units = match frame.units {
        sql::WindowFrameUnits::Rows => FrameUnits::Rows,
        sql::WindowFrameUnits::Range => FrameUnits::Range,
        sql::WindowFrameUnits::Groups => FrameUnits::Groups,
    };
    let wrong = |message: &str| {
        Err(Error::InvalidArgument {
            message: message.to_string(),
        })
    };
    if units == FrameUnits::Groups && order_by.is_empty() {
        return wrong("GROUPS mode requires an ORDER BY clause");
    }
    let bound = |b: &sql::WindowFrameBound, which: &str| -> Result<FrameBound> {
        Ok(match b {
            sql::WindowFrameBound::CurrentRow => FrameBound::CurrentRow,
            sql::WindowFrameBound::Preceding(None) => FrameBound::UnboundedPreceding,
            sql::WindowFrameBound::Following(None) => FrameBound::UnboundedFollowing,
            sql::WindowFrameBound::Preceding(Some(e)) => {
                FrameBound::Preceding(offset(e, which, units, order_by, constant)?)
            }
            sql::WindowFrameBound::Following(Some(e)) => {
                FrameBound::Following(offset(e, which, units, order_by, constant)?)
            }
        })
    };
    let start = bound(&frame.start_bound, "starting")?;
    let end = match &frame.end_bound {
        Some(b) => bound(b, "ending")?,
        None => FrameBound::CurrentRow,
    };
    match (&start, &end) {
        (FrameBound::UnboundedFollowing, _) => wrong("frame start cannot be UNBOUNDED FOLLOWING"),
        (_, FrameBound::UnboundedPreceding) => wrong("frame end cannot be UNBOUNDED PRECEDING"),
        (FrameBound::CurrentRow, FrameBound::Preceding(_)) => {
            wrong("frame starting from current row cannot have preceding rows")
        }
        (FrameBound::Following(_), FrameBound::Preceding(_) | FrameBound::CurrentRow) => {
            wrong("frame starting from following row cannot have preceding rows")
        }
        _ => Ok(WindowFrame { units, start, end }),
    }
}

/// A frame offset: a non-negative, non-NULL constant; a BIGINT for ROWS and GROUPS; for RANGE a
/// number of the ORDER BY key's kind (BIGINT for integers, else DOUBLE), or an INTERVAL for a
/// DATE or TIMESTAMP key.
fn offset(
    e: &sql::Expr,
    which: &str,
    units: FrameUnits,
    order_by: &[SortKey],
    constant: &BindExpr,
) -> Result<Expr> {
    let value = match constant(e)? {
        Expr::Literal(value) if value.len() == 1 => value,
        _ => {
            return Err(Error::InvalidArgument {
                message: format!("frame {which} offset must be a constant, not {e}"),
            })
        }
    };
    if value.data_type() == &DataType::Null || value.is_null(0) {
        return Err(Error::InvalidArgument {
            message: format!("frame {which} offset must not be null"),
        });
    }
    let negative = || Error::InvalidArgument {
        message: format!("frame {which} offset must not be negative"),
    };
    let integer = |dt: &DataType| matches!(dt, DataType::Int16 | DataType::Int32 | DataType::Int64);
    let dt = value.data_type().clone();
    let key = match (units, order_by) {
        (FrameUnits::Rows | FrameUnits::Groups, _) => None,
        (FrameUnits::Range, [key]) => Some(key.expr.data_type()),
        (FrameUnits::Range, _) => {
            return Err(Error::InvalidArgument {
                message:
                    "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column"
                        .into(),
            })
        }
    };
    match key {
        None if integer(&dt) => {
            let value = crate::kernel::cast(&value, &DataType::Int64)?;
            if value.as_primitive::<Int64Type>().value(0) < 0 {
                return Err(negative());
            }
            Ok(Expr::Literal(value))
        }
        None => Err(Error::mismatch(format!(
            "the offset of {} must be an integer, not {}",
            units.name(),
            type_name(&dt)
        ))),
        Some(key) if is_numeric(&key) && is_numeric(&dt) => {
            let target = if integer(&key) && integer(&dt) {
                DataType::Int64
            } else {
                DataType::Float64
            };
            let value = crate::kernel::cast(&value, &target)?;
            let below_zero = match target {
                DataType::Int64 => value.as_primitive::<Int64Type>().value(0) < 0,
                _ => {
                    let v = value.as_primitive::<Float64Type>().value(0);
                    v.is_nan() || v < 0.0
                }
            };
            if below_zero {
                return Err(negative());
            }
            Ok(Expr::Literal(value))
        }
        Some(key) if is_temporal(&key) && dt == DataType::Interval(IntervalUnit::MonthDayNano) => {
            let interval = value
                .as_primitive::<arrow::datatypes::IntervalMonthDayNanoType>()
                .value(0);
            if interval.months < 0 || interval.days < 0 || interval.nanoseconds < 0 {
                return Err(negative());
            }
            Ok(Expr::Literal(value))
        }
        Some(key) if is_numeric(&key) || is_temporal(&key) => Err(Error::mismatch(format!(
            "the RANGE offset for a {} ORDER BY key must be {}, not {}",
            type_name(&key),
            if is_numeric(&key) {
                "a number"
            } else {
                "an INTERVAL"
            },
            type_name(&dt)
        ))),
        Some(key) => Err(Error::mismatch(format!(
            "RANGE with offset PRECEDING/FOLLOWING is not supported for column type {}",
            type_name(&key)
        ))),
    }
}

/// Types a call of the window-only function `func` whose arguments and window are bound.
pub(super) fn window_call(func: WindowFunction, args: Vec<Expr>, over: Over) -> Result<Expr> {
    let name = func.name();
    let count = |range: std::ops::RangeInclusive<usize>, usage: &str| {
        if range.contains(&args.len()) {
            Ok(())
        } else {
            Err(Error::InvalidArgument {
                message: format!("{name}() takes {usage}, not {} argument(s)", args.len()),
            })
        }
    };
    // A NULL of no type (`lag(NULL)`) is text, as PostgreSQL resolves an unknown.
    let value_type = |args: &[Expr]| -> Result<DataType> {
        match common_type(args, name)? {
            DataType::Null => Ok(DataType::Utf8),
            dt => Ok(dt),
        }
    };
    let (args, data_type) = match func {
        WindowFunction::RowNumber | WindowFunction::Rank | WindowFunction::DenseRank => {
            count(0..=0, "no arguments")?;
            (args, DataType::Int64)
        }
        WindowFunction::PercentRank | WindowFunction::CumeDist => {
            count(0..=0, "no arguments")?;
            (args, DataType::Float64)
        }
        WindowFunction::Ntile => {
            count(1..=1, "one argument, the number of buckets")?;
            let buckets = args.into_iter().map(|a| integer_arg(a, "ntile()"));
            (buckets.collect::<Result<Vec<_>>>()?, DataType::Int32)
        }
        WindowFunction::Lag | WindowFunction::Lead => {
            count(1..=3, "1 to 3 arguments: (value [, offset [, default]])")?;
            let mut args = args.into_iter();
            let value = args.next().ok_or_else(|| Error::internal("counted"))?;
            let offset = match args.next() {
                Some(offset) => integer_arg(offset, &format!("the offset of {name}()"))?,
                None => Expr::Literal(Arc::new(Int64Array::from(vec![1]))),
            };
            let default = args.next();
            let data_type = match &default {
                Some(default) => value_type(&[value.clone(), default.clone()])?,
                None => value_type(std::slice::from_ref(&value))?,
            };
            let default = match default {
                Some(default) => default.cast_to(&data_type),
                None => Expr::Literal(arrow::array::new_null_array(&data_type, 1)),
            };
            (vec![value.cast_to(&data_type), offset, default], data_type)
        }
        WindowFunction::FirstValue | WindowFunction::LastValue => {
            count(1..=1, "one argument")?;
            let data_type = value_type(&args)?;
            let args = args.into_iter().map(|a| a.cast_to(&data_type)).collect();
            (args, data_type)
        }
        WindowFunction::NthValue => {
            count(2..=2, "two arguments: (value, n)")?;
            let mut args = args.into_iter();
            let value = args.next().ok_or_else(|| Error::internal("counted"))?;
            let n = args.next().ok_or_else(|| Error::internal("counted"))?;
            let data_type = value_type(std::slice::from_ref(&value))?;
            let n = integer_arg(n, "the n of nth_value()")?;
            (vec![value.cast_to(&data_type), n], data_type)
        }
        WindowFunction::Aggregate(_) => {
            return Err(Error::internal("aggregates are typed by window_aggregate"))
        }
    };
    window_expr(WindowExpr {
        func,
        args,
        distinct: false,
        within: vec![],
        filter: None,
        partition_by: over.partition_by,
        order_by: over.order_by,
        frame: over.frame,
        data_type,
    })
}

/// An aggregate call (typed like one of GROUP BY) computed over a window. `within_group`: the
/// call was written `f(...) WITHIN GROUP (ORDER BY x)`.
pub(super) fn window_aggregate(call: Expr, over: Over, within_group: bool) -> Result<Expr> {
    let Expr::Aggregate(aggregate) = call else {
        return Err(Error::internal("window_aggregate of a non-aggregate"));
    };
    let name = aggregate.func.name();
    if within_group {
        // PostgreSQL's rule (DuckDB refuses these too); `mode(x)` and `median(x)` are the
        // spellings that take a window.
        return Err(Error::InvalidArgument {
            message: format!(
                "OVER is not supported for ordered-set aggregate {name}; over a window write mode(x), median(x), quantile_cont(x, p) or quantile_disc(x, p)"
            ),
        });
    }
    if aggregate.distinct
        && matches!(
            aggregate.func,
            AggregateFunction::StddevSamp
                | AggregateFunction::StddevPop
                | AggregateFunction::VarSamp
                | AggregateFunction::VarPop
        )
    {
        return Err(Error::unsupported(format!(
            "{name}(DISTINCT ...) OVER (...): the window operator keeps no distinct state for it (not implemented); take the distinct values in a subquery first"
        )));
    }
    // DISTINCT changes nothing for these; mode's value order is its WITHIN GROUP key.
    let distinct = aggregate.distinct
        && !matches!(
            aggregate.func,
            AggregateFunction::Min
                | AggregateFunction::Max
                | AggregateFunction::AnyValue
                | AggregateFunction::BoolAnd
                | AggregateFunction::BoolOr
                | AggregateFunction::ApproxCountDistinct
        );
    let mut args: Vec<Expr> = aggregate.arg.into_iter().collect();
    args.extend(aggregate.extra_args);
    if let Some(fraction) = aggregate.fraction {
        args.push(Expr::Literal(Arc::new(Float64Array::from(vec![fraction]))));
    }
    window_expr(WindowExpr {
        func: WindowFunction::Aggregate(aggregate.func),
        args,
        distinct,
        within: aggregate.order_by,
        filter: aggregate.filter,
        partition_by: over.partition_by,
        order_by: over.order_by,
        frame: over.frame,
        data_type: aggregate.data_type,
    })
}

/// The call, unless it nests another window call.
fn window_expr(window: WindowExpr) -> Result<Expr> {
    if window.exprs().any(Expr::contains_window) {
        return Err(Error::InvalidArgument {
            message: "window function calls cannot be nested".into(),
        });
    }
    Ok(Expr::Window(Box::new(window)))
}
