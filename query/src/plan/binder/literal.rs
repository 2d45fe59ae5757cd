//! Constants of the AST: literals (`1`, `'a'`, `TRUE`, `NULL`), intervals (`INTERVAL '1 day
//! 2 hours'`), SQL type names (`CAST(x AS BIGINT)`) and the options of an ORDER BY key.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int32Array, Int64Array, NullArray,
    StringArray,
};
use arrow::datatypes::{DataType, Decimal128Type, DECIMAL128_MAX_PRECISION};
use sqlparser::ast as sql;

use crate::error::{Error, Result};
use crate::expr::Expr;

/// A NULL of type NULL.
pub(super) fn null_literal() -> ArrayRef {
    Arc::new(NullArray::new(1))
}

/// A SQL literal as a one-element array.
pub(super) fn literal(value: &sql::Value) -> Result<Expr> {
    let array: ArrayRef = match value {
        sql::Value::Number(n, _) => {
            if let Ok(v) = n.parse::<i32>() {
                Arc::new(Int32Array::from(vec![v]))
            } else if let Ok(v) = n.parse::<i64>() {
                Arc::new(Int64Array::from(vec![v]))
            } else if let Some(decimal) = decimal_literal(n) {
                decimal
            } else if let Ok(v) = n.parse::<f64>() {
                Arc::new(Float64Array::from(vec![v]))
            } else {
                return Err(Error::InvalidArgument {
                    message: format!("invalid number {n}"),
                });
            }
        }
        sql::Value::SingleQuotedString(s)
        | sql::Value::EscapedStringLiteral(s)
        | sql::Value::DollarQuotedString(sql::DollarQuotedString { value: s, .. }) => {
            Arc::new(StringArray::from(vec![s.as_str()]))
        }
        sql::Value::Boolean(b) => Arc::new(BooleanArray::from(vec![*b])),
        sql::Value::Null => null_literal(),
        other => return Err(Error::unsupported(format!("literal {other}"))),
    };
    Ok(Expr::Literal(array))
}

/// A number without an exponent that is not an integer of 64 bits (`0.06`, `123.450`,
/// `99999999999999999999`) as a DECIMAL typed the way PostgreSQL and DuckDB type it: the scale
/// is the count of digits after the point, the precision the count of digits written (at
/// least the scale, at least 1). `None` for a number with an exponent (`1e3` is DOUBLE) or of
/// more than 38 digits (DOUBLE too, as in DuckDB).
fn decimal_literal(text: &str) -> Option<ArrayRef> {
    // The binder folds a minus into the literal: `-2.5`.
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    // Digits as written, leading zeros but one dropped: `0.06` is DECIMAL(3,2), `.5` (1,1).
    let int = match int.trim_start_matches('0') {
        "" if !int.is_empty() => "0",
        trimmed => trimmed,
    };
    let scale = frac.len();
    let precision = (int.len() + scale).max(1);
    if precision > usize::from(DECIMAL128_MAX_PRECISION) {
        return None;
    }
    let (p, s) = (u8::try_from(precision).ok()?, i8::try_from(scale).ok()?);
    let value =
        arrow::compute::kernels::cast_utils::parse_decimal::<Decimal128Type>(text, p, s).ok()?;
    Decimal128Array::from(vec![value])
        .with_precision_and_scale(p, s)
        .ok()
        .map(|a| Arc::new(a) as ArrayRef)
}

/// Parses a SQL type as Strata stores it.
pub(super) fn sql_type(data_type: &sql::DataType) -> Result<DataType> {
    let name = data_type.to_string();
    if matches!(data_type, sql::DataType::Interval { .. }) || name.eq_ignore_ascii_case("INTERVAL")
    {
        return Ok(crate::interval::INTERVAL_TYPE);
    }
    strata_storage::parse_sql_type(&name).ok_or_else(|| Error::InvalidArgument {
        message: format!(
            "unknown type \"{name}\"; supported types: BOOLEAN, SMALLINT, INTEGER, BIGINT, REAL, DOUBLE, DECIMAL(p, s) (p 1 to 38, s 0 to p), VARCHAR, DATE, TIMESTAMP, INTERVAL"
        ),
    })
}

/// `INTERVAL '1 day 2 hours'`, `INTERVAL '90' MINUTE`, `INTERVAL 3 DAY` as a MonthDayNano literal.
pub(super) fn interval_literal(interval: &sql::Interval) -> Result<Expr> {
    if interval.last_field.is_some() {
        return Err(Error::unsupported(format!(
            "interval {interval}; write INTERVAL '1 day 2 hours'"
        )));
    }
    let text = match interval.value.as_ref() {
        sql::Expr::Value(v) => match &v.value {
            sql::Value::SingleQuotedString(s) => s.clone(),
            sql::Value::Number(n, _) => n.clone(),
            other => return Err(Error::unsupported(format!("interval value {other}"))),
        },
        other => return Err(Error::unsupported(format!("interval value {other}"))),
    };
    let text = match &interval.leading_field {
        Some(field) => format!("{text} {field}"),
        None => text,
    };
    let value = crate::interval::parse(&text).ok_or_else(|| Error::InvalidArgument {
        message: format!(
            "invalid interval '{text}'; write a list of <number> <unit> (unit: millisecond, second, minute, hour, day, week, month, quarter, year), e.g. '1 day 2 hours'"
        ),
    })?;
    Ok(Expr::Literal(Arc::new(
        arrow::array::IntervalMonthDayNanoArray::from(vec![value]),
    )))
}

/// (descending, nulls first) of an ORDER BY key, with PostgreSQL's defaults.
pub(super) fn sort_options(key: &sql::OrderByExpr) -> Result<(bool, bool)> {
    let descending = match &key.options.sort {
        None | Some(sql::OrderBySort::Asc) => false,
        Some(sql::OrderBySort::Desc) => true,
        Some(sql::OrderBySort::Using(_)) => return Err(Error::unsupported("ORDER BY ... USING")),
    };
    Ok((descending, key.options.nulls_first.unwrap_or(descending)))
}
