//! Arrow kernels with SQL's semantics where Arrow's differ, shared by every layer that touches
//! values: the expressions (hashed `IN` sets), the binder (constants cast while binding), the
//! evaluator and the operators (group, join and distinct keys).
//!
//! - [`cast`]: a value that does not convert is an error, not a NULL; floats round half to even
//!   into integers, decimals half away from zero (into integers and into decimals of a smaller
//!   scale, as PostgreSQL); floats become decimals at their own precision (15 digits for
//!   DOUBLE), as PostgreSQL's; a TIMESTAMP becomes text the way PostgreSQL writes it, and text
//!   a TIMESTAMP the way PostgreSQL reads it ([`timestamp`]; `CAST` reads text without an
//!   offset as UTC, the binder's zoned cast in the session time zone).
//! - [`normalize_zero`]: `-0.0` and `0.0` are one value, as SQL says and Arrow's total order
//!   does not.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::DataType;

use crate::error::{Error, Result};

pub mod timestamp;

/// `CAST`: a value that does not convert is an error (a number out of the target range is a
/// numeric overflow). Floats become integers by rounding half to even, like PostgreSQL's
/// `rint` (Arrow truncates).
pub fn cast(value: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    let from = value.data_type();
    if from != to && (matches!(from, DataType::List(_)) || matches!(to, DataType::List(_))) {
        return Err(Error::unsupported(format!(
            "casting {} to {} (arrays have no casts yet)",
            strata_storage::sql_type_name(from),
            strata_storage::sql_type_name(to)
        )));
    }
    if matches!(from, DataType::Timestamp(_, _)) && *to == DataType::Utf8 {
        return timestamp_text(value);
    }
    if *to == strata_storage::types::TIMESTAMP_TYPE {
        match from {
            DataType::Utf8 => return timestamp::cast_text(value, None),
            DataType::Dictionary(_, v) if **v == DataType::Utf8 => {
                let text = cast_with_options(value.as_ref(), &DataType::Utf8, &options)?;
                return timestamp::cast_text(&text, None);
            }
            _ => {}
        }
    }
    if crate::interval::is_interval(from) && *to == DataType::Utf8 {
        return crate::interval::to_text(value);
    }
    if *from == DataType::Utf8 && crate::interval::is_interval(to) {
        return crate::interval::from_text(value);
    }
    let is_int = |dt: &DataType| matches!(dt, DataType::Int16 | DataType::Int32 | DataType::Int64);
    let is_float = |dt: &DataType| matches!(dt, DataType::Float32 | DataType::Float64);
    let is_decimal = |dt: &DataType| matches!(dt, DataType::Decimal128(_, _));
    if let (true, DataType::Decimal128(p, s)) = (is_float(from), to) {
        return float_to_decimal(value, *p, *s);
    }
    let source: ArrayRef = if is_decimal(from) && is_int(to) {
        // Arrow truncates a decimal into an integer; PostgreSQL rounds half away from zero,
        // as Arrow does when it lowers a decimal's scale.
        cast_with_options(value.as_ref(), &DataType::Decimal128(38, 0), &options)?
    } else if is_float(from) && is_int(to) {
        let doubles = cast_with_options(value.as_ref(), &DataType::Float64, &options)?;
        let doubles = doubles
            .as_primitive_opt::<arrow::datatypes::Float64Type>()
            .ok_or_else(|| Error::internal("cast to DOUBLE gave another type"))?;
        Arc::new(doubles.unary::<_, arrow::datatypes::Float64Type>(f64::round_ties_even))
    } else {
        value.clone()
    };
    let numeric = |dt: &DataType| is_int(dt) || is_float(dt) || is_decimal(dt);
    cast_with_options(source.as_ref(), to, &options).map_err(|e| {
        let target = strata_storage::sql_type_name(to);
        if numeric(from) && numeric(to) {
            Error::NumericOverflow {
                message: format!("value out of range for {target} ({e})"),
            }
        } else {
            Error::InvalidArgument {
                message: format!("cannot cast to {target}: {e}"),
            }
        }
    })
}

/// REAL or DOUBLE to `DECIMAL(p, s)` as PostgreSQL's `float8_numeric`: each value is read at
/// the float's own precision (15 significant digits for DOUBLE, 6 for REAL), then rounded half
/// away from zero to the scale, so `CAST(CAST(2.675 AS DOUBLE) AS DECIMAL(4,2))` is 2.68, not
/// 2.67 as the binary value 2.67499999... would round. NaN, infinities and values beyond `p`
/// digits are errors.
fn float_to_decimal(value: &ArrayRef, precision: u8, scale: i8) -> Result<ArrayRef> {
    use arrow::compute::kernels::cast_utils::parse_decimal;
    use arrow::datatypes::{Decimal128Type, Float64Type};
    let digits = if *value.data_type() == DataType::Float32 {
        6
    } else {
        15
    };
    let doubles = cast_with_options(value.as_ref(), &DataType::Float64, &CastOptions::default())?;
    let doubles = doubles
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| Error::internal("cast to DOUBLE gave another type"))?;
    let target = DataType::Decimal128(precision, scale);
    let mut text = String::with_capacity(32);
    let mut out = Vec::with_capacity(doubles.len());
    for (row, &v) in doubles.values().iter().enumerate() {
        if doubles.is_null(row) {
            out.push(0);
            continue;
        }
        if !v.is_finite() {
            return Err(Error::InvalidArgument {
                message: format!(
                    "cannot cast {v} to {}",
                    strata_storage::sql_type_name(&target)
                ),
            });
        }
        text.clear();
        std::fmt::Write::write_fmt(&mut text, format_args!("{:.*e}", digits - 1, v))
            .map_err(|e| Error::internal(e.to_string()))?;
        let decimal = parse_decimal::<Decimal128Type>(&text, precision, scale).map_err(|_| {
            Error::NumericOverflow {
                message: format!(
                    "value out of range for {} ({v})",
                    strata_storage::sql_type_name(&target)
                ),
            }
        })?;
        out.push(decimal);
    }
    Ok(Arc::new(
        arrow::array::Decimal128Array::new(out.into(), doubles.nulls().cloned())
            .with_precision_and_scale(precision, scale)?,
    ))
}

/// The result of a DECIMAL operation as `to`, a `Decimal128(p, s)`: rescaled when Arrow's
/// kernel chose another type, and every value checked against `p` digits, so that a result
/// beyond the precision (at most 38 digits) is a `NUMERIC_OVERFLOW` error, never a value that
/// does not fit its type.
pub fn fit_decimal(result: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    let DataType::Decimal128(precision, _) = to else {
        return Err(Error::internal(format!("decimal result typed {to}")));
    };
    let fitted = if result.data_type() == to {
        result.clone()
    } else {
        cast(result, to)?
    };
    fitted
        .as_primitive_opt::<arrow::datatypes::Decimal128Type>()
        .ok_or_else(|| Error::internal("decimal result is not DECIMAL"))?
        .validate_decimal_precision(*precision)
        .map_err(|_| Error::NumericOverflow {
            message: format!(
                "numeric value out of range: the result does not fit in {} (a DECIMAL holds at most 38 digits)",
                strata_storage::sql_type_name(to)
            ),
        })?;
    Ok(fitted)
}

/// TIMESTAMP as text the way PostgreSQL writes it: `2024-01-02 03:04:05`, with the fraction of
/// a second only when there is one, trailing zeros dropped (`23:59:59.25`). Arrow's cast writes
/// ISO 8601 with a `T`.
fn timestamp_text(value: &ArrayRef) -> Result<ArrayRef> {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let options = FormatOptions::default().with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"));
    let formatter = ArrayFormatter::try_new(value.as_ref(), &options)?;
    let mut builder = arrow::array::StringBuilder::with_capacity(value.len(), value.len() * 19);
    let mut text = String::with_capacity(32);
    for row in 0..value.len() {
        if value.is_null(row) {
            builder.append_null();
            continue;
        }
        text.clear();
        std::fmt::Write::write_fmt(&mut text, format_args!("{}", formatter.value(row)))
            .map_err(|e| Error::internal(e.to_string()))?;
        let trimmed = if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.')
        } else {
            text.as_str()
        };
        builder.append_value(trimmed);
    }
    Ok(Arc::new(builder.finish()))
}

/// Turns every `-0.0` of a REAL or DOUBLE array into `0.0` (adding `0.0` does exactly that);
/// other arrays are returned as they are. Arrow compares, sorts and row-encodes floats by their
/// total order, in which `-0.0 < 0.0`; SQL says they are equal. Comparisons, group keys and
/// DISTINCT sets go through this first.
pub fn normalize_zero(array: &ArrayRef) -> Result<ArrayRef> {
    use arrow::datatypes::{Float32Type, Float64Type};
    Ok(match array.data_type() {
        DataType::Float64 => Arc::new(
            array
                .as_primitive::<Float64Type>()
                .unary::<_, Float64Type>(|v| v + 0.0),
        ),
        DataType::Float32 => Arc::new(
            array
                .as_primitive::<Float32Type>()
                .unary::<_, Float32Type>(|v| v + 0.0),
        ),
        _ => array.clone(),
    })
}
