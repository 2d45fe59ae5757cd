//! Kernels of the scalar functions (`date_trunc`, `coalesce`, `lower`, `upper`, `length`,
//! `abs`): each runs once per batch over whole arrays.

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, Int32Array, PrimitiveArray, StringBuilder,
};
use arrow::compute::kernels::{boolean, zip};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, TimestampMillisecondType,
};

use crate::error::{Error, Result};
use crate::expr::{ScalarFunction, TruncUnit};

const MS_PER_DAY: i64 = 86_400_000;

/// Applies `func` to `args` (arrays of equal length).
pub fn evaluate_function(func: ScalarFunction, args: &[ArrayRef]) -> Result<ArrayRef> {
    let first = args
        .first()
        .ok_or_else(|| Error::internal(format!("{}() without arguments", func.name())))?;
    match func {
        ScalarFunction::DateTrunc(unit) => date_trunc(unit, first),
        ScalarFunction::Coalesce => {
            let mut result = first.clone();
            for next in &args[1..] {
                let present = boolean::is_not_null(result.as_ref())?;
                result = zip::zip(&present, &result, next)?;
            }
            Ok(result)
        }
        ScalarFunction::Lower | ScalarFunction::Upper => {
            let strings = first
                .as_string_opt::<i32>()
                .ok_or_else(|| Error::internal("lower/upper of a non-VARCHAR"))?;
            let mut builder =
                StringBuilder::with_capacity(strings.len(), strings.value_data().len());
            for value in strings.iter() {
                match value {
                    None => builder.append_null(),
                    Some(s) => {
                        for c in s.chars() {
                            let result = if func == ScalarFunction::Lower {
                                c.to_lowercase().try_for_each(|l| builder.write_char(l))
                            } else {
                                c.to_uppercase().try_for_each(|u| builder.write_char(u))
                            };
                            result.map_err(|e| Error::internal(e.to_string()))?;
                        }
                        builder.append_value("");
                    }
                }
            }
            Ok(Arc::new(builder.finish()))
        }
        ScalarFunction::Length => {
            let strings = first
                .as_string_opt::<i32>()
                .ok_or_else(|| Error::internal("length of a non-VARCHAR"))?;
            let lengths: Int32Array = strings
                .iter()
                .map(|s| s.map(|s| i32::try_from(s.chars().count()).unwrap_or(i32::MAX)))
                .collect();
            Ok(Arc::new(lengths))
        }
        ScalarFunction::Abs => match first.data_type() {
            DataType::Int16 => abs_int::<Int16Type>(first, |v| v.checked_abs()),
            DataType::Int32 => abs_int::<Int32Type>(first, |v| v.checked_abs()),
            DataType::Int64 => abs_int::<Int64Type>(first, |v| v.checked_abs()),
            DataType::Float32 => Ok(Arc::new(
                first
                    .as_primitive::<Float32Type>()
                    .unary::<_, Float32Type>(f32::abs),
            )),
            DataType::Float64 => Ok(Arc::new(
                first
                    .as_primitive::<Float64Type>()
                    .unary::<_, Float64Type>(f64::abs),
            )),
            other => Err(Error::internal(format!("abs of {other}"))),
        },
    }
}

fn abs_int<T: ArrowPrimitiveType>(
    array: &ArrayRef,
    abs: impl Fn(T::Native) -> Option<T::Native>,
) -> Result<ArrayRef> {
    let result: PrimitiveArray<T> = array.as_primitive::<T>().try_unary(|v| {
        abs(v).ok_or_else(|| {
            arrow::error::ArrowError::ArithmeticOverflow("abs() is out of range".into())
        })
    })?;
    Ok(Arc::new(result))
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil (year, month) of a day number.
fn civil_from_days(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

fn date_trunc(unit: TruncUnit, array: &ArrayRef) -> Result<ArrayRef> {
    let ts = array
        .as_primitive_opt::<TimestampMillisecondType>()
        .ok_or_else(|| Error::internal("date_trunc of a non-TIMESTAMP"))?;
    let fixed = |step: i64| -> ArrayRef {
        Arc::new(ts.unary::<_, TimestampMillisecondType>(|v| v - v.rem_euclid(step)))
    };
    Ok(match unit {
        TruncUnit::Second => fixed(1_000),
        TruncUnit::Minute => fixed(60_000),
        TruncUnit::Hour => fixed(3_600_000),
        TruncUnit::Day => fixed(MS_PER_DAY),
        TruncUnit::Week => Arc::new(ts.unary::<_, TimestampMillisecondType>(|v| {
            let days = v.div_euclid(MS_PER_DAY);
            // 1970-01-01 was a Thursday: Monday is 3 days earlier.
            (days - (days + 3).rem_euclid(7)) * MS_PER_DAY
        })),
        TruncUnit::Month | TruncUnit::Quarter | TruncUnit::Year => {
            Arc::new(ts.unary::<_, TimestampMillisecondType>(|v| {
                let (year, month) = civil_from_days(v.div_euclid(MS_PER_DAY));
                let month = match unit {
                    TruncUnit::Month => month,
                    TruncUnit::Quarter => (month - 1) / 3 * 3 + 1,
                    _ => 1,
                };
                days_from_civil(year, month, 1) * MS_PER_DAY
            }))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_date_conversions_round_trip() {
        for days in [-800_000, -1, 0, 59, 60, 10_957, 19_723, 2_932_896] {
            let (y, m) = civil_from_days(days);
            let first = days_from_civil(y, m, 1);
            assert!(first <= days && days - first < 31, "{days} -> {y}-{m}");
            assert_eq!(civil_from_days(first), (y, m));
        }
        assert_eq!(days_from_civil(2024, 1, 1), 19_723);
    }
}
