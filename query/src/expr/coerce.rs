//! Type coercion: the types SQL values take when they meet (PostgreSQL's rules).
//!
//! Numbers widen to the wider type (smallint < integer < bigint < real < double; a float with a
//! BIGINT gives DOUBLE), a NULL takes the other side's type, a string literal the type it is
//! compared with (`ts > '2024-01-01'`), a DATE meets a TIMESTAMP as a TIMESTAMP, and
//! `TIMESTAMP +/- INTERVAL` is the only arithmetic on non-numbers. The binder applies these rules
//! to operators, `CASE`, `UNION` and `IN`; the scalar functions to their arguments.
//!
//! DECIMAL (Arrow `Decimal128(p, s)`) follows DuckDB's rules, which agree with PostgreSQL's
//! values and give them a fixed type: an integer meets a decimal as the decimal that holds all
//! its values (SMALLINT `DECIMAL(5,0)`, INTEGER `DECIMAL(10,0)`, BIGINT `DECIMAL(19,0)`), a
//! float meets a decimal as DOUBLE; two decimals meet as the one with the larger scale and
//! the larger integer part (precision capped at 38). See [`decimal_arithmetic`] for `+ - * /`.

use std::borrow::Cow;

use arrow::datatypes::{DataType, DECIMAL128_MAX_PRECISION};
use strata_storage::sql_type_name;

use super::{BinaryOp, Expr};
use crate::error::{Error, Result};

/// The SQL name of a type, for messages.
pub(crate) fn type_name(dt: &DataType) -> Cow<'static, str> {
    sql_type_name(dt)
}

/// SMALLINT, INTEGER, BIGINT, REAL, DOUBLE or DECIMAL.
pub(crate) fn is_numeric(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(_, _)
    )
}

/// The precision and scale of a DECIMAL, or of the decimal an integer type meets a decimal as
/// (SMALLINT `(5, 0)`, INTEGER `(10, 0)`, BIGINT `(19, 0)`); `None` for other types.
pub(crate) fn decimal_parts(dt: &DataType) -> Option<(u8, i8)> {
    Some(match dt {
        DataType::Decimal128(p, s) => (*p, *s),
        DataType::Int16 => (5, 0),
        DataType::Int32 => (10, 0),
        DataType::Int64 => (19, 0),
        _ => return None,
    })
}

/// `DECIMAL(p, s)` with the precision capped at 38 (and never below the scale).
fn decimal(p: i32, s: i32) -> DataType {
    let max = i32::from(DECIMAL128_MAX_PRECISION);
    let s = s.clamp(0, max);
    DataType::Decimal128(p.clamp(s.max(1), max) as u8, s as i8)
}

/// The decimal two decimals (or a decimal and an integer) meet as: the larger scale and the
/// larger integer part, precision capped at 38.
fn decimal_common(a: (u8, i8), b: (u8, i8)) -> DataType {
    let (p1, s1, p2, s2) = (
        i32::from(a.0),
        i32::from(a.1),
        i32::from(b.0),
        i32::from(b.1),
    );
    let s = s1.max(s2);
    decimal((p1 - s1).max(p2 - s2) + s, s)
}

/// The scale of `avg()` over DECIMAL(p, `scale`): DECIMAL(38, max(`scale`, 6)). DuckDB returns
/// a DOUBLE, PostgreSQL a NUMERIC of about 16 significant digits; 6 decimals keep an average
/// of cents exact to a ten-thousandth of a cent, in a fixed type.
pub fn avg_decimal_scale(scale: i8) -> i8 {
    scale.max(6)
}

/// The result type of `l op r` for arithmetic on DECIMAL operands (after [`coerce_pair`]),
/// DuckDB's rules:
///
/// - `+`, `-`: scale `max(s1, s2)`, precision `max(p1 - s1, p2 - s2) + max(s1, s2) + 1`;
/// - `*`: scale `s1 + s2`, precision `p1 + p2`;
/// - `%`: the operands' common decimal;
///
/// with the precision capped at 38 (a value beyond it is a `NUMERIC_OVERFLOW` error). `/` on a
/// decimal is DOUBLE (the binder casts its operands). `None` when an operand is not a decimal.
pub fn decimal_arithmetic(op: BinaryOp, l: &DataType, r: &DataType) -> Option<DataType> {
    let (DataType::Decimal128(p1, s1), DataType::Decimal128(p2, s2)) = (l, r) else {
        return None;
    };
    let (p1, s1, p2, s2) = (
        i32::from(*p1),
        i32::from(*s1),
        i32::from(*p2),
        i32::from(*s2),
    );
    Some(match op {
        BinaryOp::Plus | BinaryOp::Minus => {
            let s = s1.max(s2);
            decimal((p1 - s1).max(p2 - s2) + s + 1, s)
        }
        BinaryOp::Multiply => decimal(p1 + p2, s1 + s2),
        _ => decimal_common((p1 as u8, s1 as i8), (p2 as u8, s2 as i8)),
    })
}

/// DATE or TIMESTAMP.
pub(crate) fn is_temporal(dt: &DataType) -> bool {
    matches!(dt, DataType::Date32 | DataType::Timestamp(_, _))
}

/// A VARCHAR literal (which adapts to the type it meets).
pub(crate) fn is_string_literal(e: &Expr) -> bool {
    matches!(e, Expr::Literal(v) if *v.data_type() == DataType::Utf8)
}

/// The wider of two numeric types (PostgreSQL's promotion: smallint < integer < bigint < real <
/// double; any float with a wider integer gives double).
pub(crate) fn numeric_common(a: &DataType, b: &DataType) -> Option<DataType> {
    let decimal_side = |dt: &DataType| matches!(dt, DataType::Decimal128(_, _));
    if decimal_side(a) || decimal_side(b) {
        return Some(match (decimal_parts(a), decimal_parts(b)) {
            (Some(x), Some(y)) => decimal_common(x, y),
            _ if is_numeric(a) && is_numeric(b) => DataType::Float64,
            _ => return None,
        });
    }
    fn rank(dt: &DataType) -> Option<u8> {
        Some(match dt {
            DataType::Int16 => 1,
            DataType::Int32 => 2,
            DataType::Int64 => 3,
            DataType::Float32 => 4,
            DataType::Float64 => 5,
            _ => return None,
        })
    }
    let (ra, rb) = (rank(a)?, rank(b)?);
    let wider = if ra >= rb { a } else { b };
    if *wider == DataType::Float32 && (*a == DataType::Int64 || *b == DataType::Int64) {
        return Some(DataType::Float64);
    }
    Some(wider.clone())
}

/// Casts NULLs and string literals to the other side's type and numbers to the wider type, for
/// a comparison (`arithmetic == false`) or an arithmetic operator.
pub(crate) fn coerce_pair(left: Expr, right: Expr, op: BinaryOp) -> Result<(Expr, Expr)> {
    let (lt, rt) = (left.data_type(), right.data_type());
    let arithmetic = op.is_arithmetic();
    if arithmetic {
        if let Some(pair) = coerce_temporal_arithmetic(&left, &right, op)? {
            return Ok(pair);
        }
    }
    if arithmetic {
        if let Some(pair) = coerce_decimal_arithmetic(&left, &right, op)? {
            return Ok(pair);
        }
    }
    if lt == rt && lt != DataType::Null {
        if arithmetic && !is_numeric(&lt) {
            return Err(arith_mismatch(op, &lt, &rt));
        }
        return Ok((left, right));
    }
    let target = match (&lt, &rt) {
        (DataType::Null, DataType::Null) => {
            if arithmetic {
                DataType::Int32
            } else {
                DataType::Boolean
            }
        }
        (DataType::Null, other) | (other, DataType::Null) => other.clone(),
        (a, b) if is_numeric(a) && is_numeric(b) => {
            numeric_common(a, b).unwrap_or(DataType::Float64)
        }
        (DataType::Utf8, other)
            if is_string_literal(&left) && (is_numeric(other) || !arithmetic) =>
        {
            other.clone()
        }
        (other, DataType::Utf8)
            if is_string_literal(&right) && (is_numeric(other) || !arithmetic) =>
        {
            other.clone()
        }
        (DataType::Date32, DataType::Timestamp(_, _)) if !arithmetic => rt.clone(),
        (DataType::Timestamp(_, _), DataType::Date32) if !arithmetic => lt.clone(),
        _ => {
            return Err(if arithmetic {
                arith_mismatch(op, &lt, &rt)
            } else {
                Error::mismatch(format!(
                    "cannot compare {} with {} ({left} {} {right}); cast one side, e.g. CAST(x AS {})",
                    type_name(&lt),
                    type_name(&rt),
                    op.symbol(),
                    type_name(&lt),
                ))
            })
        }
    };
    if arithmetic && !is_numeric(&target) {
        return Err(arith_mismatch(op, &lt, &rt));
    }
    Ok((left.cast_to(&target), right.cast_to(&target)))
}

/// Arithmetic with an INTERVAL operand, or between two DATEs or TIMESTAMPs (`None` otherwise),
/// as PostgreSQL: `ts +/- interval` and `interval + ts` are TIMESTAMPs (a DATE is read as
/// midnight; the interval goes right), `ts - ts` an INTERVAL, `date - date` the INTEGER number
/// of days, `interval +/- interval` an INTERVAL, `interval * number`, `number * interval` and
/// `interval / number` scale it (the number as DOUBLE).
fn coerce_temporal_arithmetic(
    left: &Expr,
    right: &Expr,
    op: BinaryOp,
) -> Result<Option<(Expr, Expr)>> {
    let (lt, rt) = (left.data_type(), right.data_type());
    let interval = |dt: &DataType| matches!(dt, DataType::Interval(_));
    let timestamp = strata_storage::types::TIMESTAMP_TYPE;
    let is_ts = |dt: &DataType| matches!(dt, DataType::Timestamp(_, _));
    // Most arithmetic is on numbers: decide from the types before copying the operands.
    if !(interval(&lt) || interval(&rt) || is_temporal(&lt) || is_temporal(&rt)) {
        return Ok(None);
    }
    let (l, r) = (left.clone(), right.clone());
    // A string literal or NULL next to an interval is an interval.
    let adapt = |e: Expr, dt: &DataType| {
        if *dt == DataType::Null || (*dt == DataType::Utf8 && is_string_literal(&e)) {
            e.cast_to(&crate::interval::INTERVAL_TYPE)
        } else {
            e
        }
    };
    let mismatch = || {
        Error::mismatch(format!(
            "operator {} cannot be applied to {} and {}; intervals add to and subtract from timestamps and intervals, and multiply or divide by numbers",
            op.symbol(),
            type_name(&lt),
            type_name(&rt)
        ))
    };
    if interval(&lt) || interval(&rt) {
        let point = |dt: &DataType| is_temporal(dt);
        let number = |dt: &DataType| is_numeric(dt) || *dt == DataType::Null;
        return Ok(Some(match op {
            BinaryOp::Plus | BinaryOp::Minus if point(&lt) => (l.cast_to(&timestamp), r),
            BinaryOp::Plus if point(&rt) => (r.cast_to(&timestamp), l),
            BinaryOp::Plus | BinaryOp::Minus => {
                let (l, r) = (adapt(l, &lt), adapt(r, &rt));
                if !interval(&l.data_type()) || !interval(&r.data_type()) {
                    return Err(mismatch());
                }
                (l, r)
            }
            BinaryOp::Multiply | BinaryOp::Divide if interval(&lt) && number(&rt) => {
                (l, r.cast_to(&DataType::Float64))
            }
            BinaryOp::Multiply if number(&lt) && interval(&rt) => {
                (r, l.cast_to(&DataType::Float64))
            }
            _ => return Err(mismatch()),
        }));
    }
    match (&lt, &rt, op) {
        (DataType::Date32, DataType::Date32, BinaryOp::Minus) => Ok(Some((
            l.cast_to(&DataType::Int32),
            r.cast_to(&DataType::Int32),
        ))),
        (a, b, BinaryOp::Minus)
            if (is_ts(a) && (is_temporal(b) || is_string_literal(&r)))
                || (is_ts(b) && (is_temporal(a) || is_string_literal(&l))) =>
        {
            Ok(Some((l.cast_to(&timestamp), r.cast_to(&timestamp))))
        }
        _ => Ok(None),
    }
}

/// The type of `l op r` for an arithmetic operator, once [`coerce_pair`] coerced the operands:
/// an INTERVAL for `ts - ts`, the DECIMAL of [`decimal_arithmetic`], else the left side's.
pub(crate) fn arithmetic_type(op: BinaryOp, l: &DataType, r: &DataType) -> DataType {
    if op == BinaryOp::Minus
        && matches!(l, DataType::Timestamp(_, _))
        && matches!(r, DataType::Timestamp(_, _))
    {
        return crate::interval::INTERVAL_TYPE;
    }
    decimal_arithmetic(op, l, r).unwrap_or_else(|| l.clone())
}

/// Arithmetic with a DECIMAL operand (`None` without one): `/` divides DOUBLEs (DuckDB; a
/// PostgreSQL quotient has a value-dependent scale no column type can hold); `*` keeps each
/// decimal's own precision and scale (an integer side becomes its decimal, a NULL the other
/// side's type), so the product's scale is `s1 + s2`; `+ - %` meet at the common decimal
/// ([`numeric_common`]); a float side makes it DOUBLE.
fn coerce_decimal_arithmetic(
    left: &Expr,
    right: &Expr,
    op: BinaryOp,
) -> Result<Option<(Expr, Expr)>> {
    let (lt, rt) = (left.data_type(), right.data_type());
    let is_decimal = |dt: &DataType| matches!(dt, DataType::Decimal128(_, _));
    if !is_decimal(&lt) && !is_decimal(&rt) {
        return Ok(None);
    }
    // A NULL or a string literal takes the decimal side's type.
    let adapt = |e: &Expr, dt: &DataType, other: &DataType| {
        is_decimal(other)
            && (*dt == DataType::Null || (*dt == DataType::Utf8 && is_string_literal(e)))
    };
    let (lt, rt) = (
        if adapt(left, &lt, &rt) {
            rt.clone()
        } else {
            lt.clone()
        },
        if adapt(right, &rt, &lt) { lt } else { rt },
    );
    let float = |dt: &DataType| matches!(dt, DataType::Float32 | DataType::Float64);
    if !is_numeric(&lt) || !is_numeric(&rt) {
        return Err(arith_mismatch(op, &lt, &rt));
    }
    let (l, r) = (left.clone(), right.clone());
    if op == BinaryOp::Divide || float(&lt) || float(&rt) {
        return Ok(Some((
            l.cast_to(&DataType::Float64),
            r.cast_to(&DataType::Float64),
        )));
    }
    let as_decimal = |dt: &DataType| {
        let (p, s) = decimal_parts(dt).unwrap_or((38, 0));
        DataType::Decimal128(p, s)
    };
    let (lt, rt) = if op == BinaryOp::Multiply {
        let (lt, rt) = (as_decimal(&lt), as_decimal(&rt));
        if let (DataType::Decimal128(_, s1), DataType::Decimal128(_, s2)) = (&lt, &rt) {
            if i32::from(*s1) + i32::from(*s2) > i32::from(DECIMAL128_MAX_PRECISION) {
                return Err(Error::NumericOverflow {
                    message: format!(
                        "the product of {} and {} would have more than 38 decimal places; cast an operand to a smaller scale",
                        type_name(&lt),
                        type_name(&rt)
                    ),
                });
            }
        }
        (lt, rt)
    } else {
        let common = numeric_common(&lt, &rt).unwrap_or(DataType::Float64);
        (common.clone(), common)
    };
    Ok(Some((l.cast_to(&lt), r.cast_to(&rt))))
}

fn arith_mismatch(op: BinaryOp, lt: &DataType, rt: &DataType) -> Error {
    Error::mismatch(format!(
        "operator {} cannot be applied to {} and {}; it needs numbers (cast with CAST(x AS DOUBLE))",
        op.symbol(),
        type_name(lt),
        type_name(rt)
    ))
}

/// Checks that a predicate is BOOLEAN (a NULL literal counts as one).
pub(crate) fn expect_boolean(e: Expr, clause: &str) -> Result<Expr> {
    match e.data_type() {
        DataType::Boolean => Ok(e),
        DataType::Null => Ok(e.cast_to(&DataType::Boolean)),
        other => Err(Error::mismatch(format!(
            "argument of {clause} must be BOOLEAN, not {} ({e})",
            type_name(&other)
        ))),
    }
}

/// The one type that all of `exprs` can be cast to (numbers widen, NULLs and string literals
/// adapt, DATE meets TIMESTAMP as TIMESTAMP).
pub(crate) fn common_type(exprs: &[Expr], what: &str) -> Result<DataType> {
    let mut target = DataType::Null;
    for expr in exprs {
        let dt = expr.data_type();
        target = match (&target, &dt) {
            (t, d) if t == d => dt.clone(),
            (DataType::Null, d) => d.clone(),
            (t, DataType::Null) => t.clone(),
            (t, d) if is_numeric(t) && is_numeric(d) => {
                numeric_common(t, d).unwrap_or(DataType::Float64)
            }
            (t, DataType::Utf8) if is_string_literal(expr) => t.clone(),
            (DataType::Date32, DataType::Timestamp(_, _))
            | (DataType::Timestamp(_, _), DataType::Date32) => {
                strata_storage::types::TIMESTAMP_TYPE
            }
            (t, d) => {
                return Err(Error::mismatch(format!(
                    "{what} values must have one type, not {} and {}; use CAST",
                    type_name(t),
                    type_name(d)
                )))
            }
        };
    }
    Ok(target)
}

/// A VARCHAR argument (a NULL literal becomes a VARCHAR NULL).
pub(crate) fn string_arg(e: Expr, function: &str) -> Result<Expr> {
    match e.data_type() {
        DataType::Utf8 => Ok(e),
        DataType::Null => Ok(e.cast_to(&DataType::Utf8)),
        other => Err(Error::mismatch(format!(
            "{function} needs a VARCHAR, not {} ({e}); use CAST(x AS VARCHAR)",
            type_name(&other)
        ))),
    }
}

/// An integer argument, as BIGINT.
pub(crate) fn integer_arg(e: Expr, function: &str) -> Result<Expr> {
    match e.data_type() {
        DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Null => {
            Ok(e.cast_to(&DataType::Int64))
        }
        other => Err(Error::mismatch(format!(
            "{function} needs an integer, not {} ({e})",
            type_name(&other)
        ))),
    }
}
