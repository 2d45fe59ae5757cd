//! Type coercion: the types SQL values take when they meet (PostgreSQL's rules).
//!
//! Numbers widen to the wider type (smallint < integer < bigint < real < double; a float with a
//! BIGINT gives DOUBLE), a NULL takes the other side's type, a string literal the type it is
//! compared with (`ts > '2024-01-01'`), a DATE meets a TIMESTAMP as a TIMESTAMP, and
//! `TIMESTAMP +/- INTERVAL` is the only arithmetic on non-numbers. The binder applies these rules
//! to operators, `CASE`, `UNION` and `IN`; the scalar functions to their arguments.

use arrow::datatypes::DataType;
use strata_storage::sql_type_name;

use super::{BinaryOp, Expr};
use crate::error::{Error, Result};

/// The SQL name of a type, for messages.
pub(crate) fn type_name(dt: &DataType) -> &'static str {
    sql_type_name(dt)
}

/// SMALLINT, INTEGER, BIGINT, REAL or DOUBLE.
pub(crate) fn is_numeric(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Float32 | DataType::Float64
    )
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
    let interval = |dt: &DataType| matches!(dt, DataType::Interval(_));
    if arithmetic && (interval(&lt) || interval(&rt)) {
        // TIMESTAMP +/- INTERVAL (a DATE is read as midnight), INTERVAL + TIMESTAMP.
        let timestamp = strata_storage::types::TIMESTAMP_TYPE;
        let point = |dt: &DataType| is_temporal(dt) || *dt == DataType::Null;
        return match op {
            BinaryOp::Plus | BinaryOp::Minus if point(&lt) && interval(&rt) => {
                Ok((left.cast_to(&timestamp), right))
            }
            BinaryOp::Plus if interval(&lt) && point(&rt) => Ok((right.cast_to(&timestamp), left)),
            _ => Err(Error::mismatch(format!(
                "operator {} cannot be applied to {} and {}; intervals add to and subtract from timestamps",
                op.symbol(),
                type_name(&lt),
                type_name(&rt)
            ))),
        };
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
