//! Kernels of the scalar functions: each runs once per batch over whole arrays (the binder has
//! expanded constant arguments and cast every argument to the type the kernel expects).
//! String kernels walk the values with a `StringBuilder`; the function and the argument types
//! are fixed before the loop.

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, Float64Array, Int32Array, PrimitiveArray,
    StringArray, StringBuilder,
};
use arrow::compute::kernels::{boolean, zip};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, TimestampMillisecondType,
};

use crate::error::{Error, Result};
use crate::expr::{DatePart, ScalarFunction, TrimSide, TruncUnit};

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
        ScalarFunction::Floor | ScalarFunction::Ceil => {
            let values = first
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(|| Error::internal("floor/ceil of a non-DOUBLE"))?;
            Ok(Arc::new(if func == ScalarFunction::Floor {
                values.unary::<_, Float64Type>(f64::floor)
            } else {
                values.unary::<_, Float64Type>(f64::ceil)
            }))
        }
        ScalarFunction::ConcatOperator if args.len() == 2 => {
            let (a, b) = (strings(first)?, strings(arg(args, 1)?)?);
            Ok(Arc::new(
                arrow::compute::kernels::concat_elements::concat_elements_utf8(a, b)?,
            ))
        }
        ScalarFunction::ConcatOperator => {
            // `a || b || c ...` in one pass: NULL when any operand is NULL.
            let parts = args.iter().map(strings).collect::<Result<Vec<_>>>()?;
            let bytes = parts.iter().map(|p| p.value_data().len()).sum();
            let mut builder = StringBuilder::with_capacity(first.len(), bytes);
            for row in 0..first.len() {
                if parts.iter().all(|p| p.is_valid(row)) {
                    for part in &parts {
                        builder.write_str(part.value(row)).map_err(fmt_error)?;
                    }
                    builder.append_value("");
                } else {
                    builder.append_null();
                }
            }
            Ok(Arc::new(builder.finish()))
        }
        ScalarFunction::Concat => {
            let parts = args.iter().map(strings).collect::<Result<Vec<_>>>()?;
            let mut builder = StringBuilder::with_capacity(first.len(), 0);
            for row in 0..first.len() {
                for part in &parts {
                    if part.is_valid(row) {
                        builder.write_str(part.value(row)).map_err(fmt_error)?;
                    }
                }
                builder.append_value("");
            }
            Ok(Arc::new(builder.finish()))
        }
        ScalarFunction::Substring => substring(args),
        ScalarFunction::Trim(side) => {
            let values = strings(first)?;
            let chars = args.get(1).map(strings).transpose()?;
            let mut builder = StringBuilder::with_capacity(values.len(), values.value_data().len());
            for row in 0..values.len() {
                let set = match chars {
                    Some(c) if c.is_null(row) => None,
                    Some(c) => Some(c.value(row)),
                    None => Some(" "),
                };
                match (values.is_valid(row), set) {
                    (true, Some(set)) => {
                        let s = values.value(row);
                        let strip = |c: char| set.contains(c);
                        builder.append_value(match side {
                            TrimSide::Both => s.trim_matches(strip),
                            TrimSide::Leading => s.trim_start_matches(strip),
                            TrimSide::Trailing => s.trim_end_matches(strip),
                        });
                    }
                    _ => builder.append_null(),
                }
            }
            Ok(Arc::new(builder.finish()))
        }
        ScalarFunction::Replace => {
            let (values, from, to) = (
                strings(first)?,
                strings(arg(args, 1)?)?,
                strings(arg(args, 2)?)?,
            );
            let mut builder = StringBuilder::with_capacity(values.len(), values.value_data().len());
            for row in 0..values.len() {
                if values.is_null(row) || from.is_null(row) || to.is_null(row) {
                    builder.append_null();
                } else if from.value(row).is_empty() {
                    builder.append_value(values.value(row));
                } else {
                    builder.append_value(values.value(row).replace(from.value(row), to.value(row)));
                }
            }
            Ok(Arc::new(builder.finish()))
        }
        ScalarFunction::Strpos => {
            let (values, needles) = (strings(first)?, strings(arg(args, 1)?)?);
            let positions: Int32Array = values
                .iter()
                .zip(needles.iter())
                .map(|(s, needle)| {
                    let (s, needle) = (s?, needle?);
                    let position = match s.find(needle) {
                        Some(byte) => s[..byte].chars().count() + 1,
                        None => 0,
                    };
                    Some(i32::try_from(position).unwrap_or(i32::MAX))
                })
                .collect();
            Ok(Arc::new(positions))
        }
        ScalarFunction::StartsWith => Ok(Arc::new(
            arrow::compute::kernels::comparison::starts_with(first, arg(args, 1)?)?,
        )),
        ScalarFunction::OctetLength => Ok(arrow::compute::kernels::length::length(first)?),
        ScalarFunction::RegexpReplace => regexp_replace(args),
        ScalarFunction::RegexpMatch => regexp_match(args),
        ScalarFunction::RegexpLike => regexp_like(args),
        ScalarFunction::ToTimestamp => to_timestamp(first),
        ScalarFunction::DatePart(part) => date_part(part, first),
        ScalarFunction::TimeBucket { months, stride_ms } => {
            time_bucket(months, stride_ms, first, arg(args, 1)?)
        }
    }
}

/// `time_bucket`: the start of the bucket holding each timestamp, buckets aligned on `origin`.
fn time_bucket(months: i32, stride_ms: i64, ts: &ArrayRef, origin: &ArrayRef) -> Result<ArrayRef> {
    let timestamps = |a: &ArrayRef| {
        a.as_primitive_opt::<TimestampMillisecondType>()
            .cloned()
            .ok_or_else(|| Error::internal("time_bucket of a non-TIMESTAMP"))
    };
    let (ts, origin) = (timestamps(ts)?, timestamps(origin)?);
    let result: PrimitiveArray<TimestampMillisecondType> = if months == 0 {
        arrow::compute::binary(&ts, &origin, |v, o| {
            o + (v - o).div_euclid(stride_ms) * stride_ms
        })?
    } else {
        let months = i64::from(months);
        arrow::compute::binary(&ts, &origin, |v, o| {
            let (y, m) = civil_from_days(v.div_euclid(MS_PER_DAY));
            let (oy, om) = civil_from_days(o.div_euclid(MS_PER_DAY));
            let start = oy * 12 + om - 1;
            let bucket = (y * 12 + m - 1 - start).div_euclid(months) * months + start;
            days_from_civil(bucket.div_euclid(12), bucket.rem_euclid(12) + 1, 1) * MS_PER_DAY
        })?
    };
    Ok(Arc::new(result))
}

fn fmt_error(e: std::fmt::Error) -> Error {
    Error::internal(e.to_string())
}

fn arg(args: &[ArrayRef], i: usize) -> Result<&ArrayRef> {
    args.get(i)
        .ok_or_else(|| Error::internal(format!("missing function argument #{i}")))
}

fn strings(array: &ArrayRef) -> Result<&StringArray> {
    array
        .as_string_opt::<i32>()
        .ok_or_else(|| Error::internal(format!("expected VARCHAR, got {}", array.data_type())))
}

/// PostgreSQL's `substring(s FROM start [FOR count])`: the characters at 1-based positions
/// `start .. start + count` that exist (a start before 1 still counts toward `count`).
fn substring(args: &[ArrayRef]) -> Result<ArrayRef> {
    let values = strings(arg(args, 0)?)?;
    fn int64(a: &ArrayRef) -> Result<&PrimitiveArray<Int64Type>> {
        a.as_primitive_opt::<Int64Type>()
            .ok_or_else(|| Error::internal("substring() position is not BIGINT"))
    }
    let starts = int64(arg(args, 1)?)?;
    let counts = args.get(2).map(int64).transpose()?;
    let mut builder = StringBuilder::with_capacity(values.len(), values.value_data().len());
    for row in 0..values.len() {
        if values.is_null(row) || starts.is_null(row) || counts.is_some_and(|c| c.is_null(row)) {
            builder.append_null();
            continue;
        }
        let s = values.value(row);
        let start = starts.value(row);
        let end = match counts {
            Some(c) => {
                let count = c.value(row);
                if count < 0 {
                    return Err(Error::InvalidArgument {
                        message: "negative substring length not allowed".into(),
                    });
                }
                start.saturating_add(count)
            }
            None => i64::MAX,
        };
        // Characters [first, last) in 0-based positions.
        let first = usize::try_from(start.max(1) - 1).unwrap_or(usize::MAX);
        let last = usize::try_from(end.max(1) - 1).unwrap_or(usize::MAX);
        if last <= first {
            builder.append_value("");
        } else if s.is_ascii() {
            let (a, b) = (first.min(s.len()), last.min(s.len()));
            builder.append_value(&s[a..b]);
        } else {
            let piece: String = s.chars().skip(first).take(last - first).collect();
            builder.append_value(piece);
        }
    }
    Ok(Arc::new(builder.finish()))
}

/// Translates a PostgreSQL replacement (`\1` a group, `\&` the match) into the `regex`
/// crate's (`${1}`, `${0}`; `$` is literal).
fn regex_replacement(replacement: &str) -> String {
    let mut out = String::with_capacity(replacement.len());
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    chars.next();
                    out.push_str(&format!("${{{d}}}"));
                }
                Some('&') => {
                    chars.next();
                    out.push_str("${0}");
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

/// `regexp_replace(s, pattern, replacement[, flags])`; the pattern is compiled once per
/// distinct (pattern, flags) in a row, so a constant pattern compiles once per batch.
fn regexp_replace(args: &[ArrayRef]) -> Result<ArrayRef> {
    let values = strings(arg(args, 0)?)?;
    let patterns = strings(arg(args, 1)?)?;
    let replacements = strings(arg(args, 2)?)?;
    let flags = args.get(3).map(strings).transpose()?;
    let mut compiled: Option<(String, String, regex::Regex, bool)> = None;
    let mut builder = StringBuilder::with_capacity(values.len(), values.value_data().len());
    for row in 0..values.len() {
        let flag = match flags {
            Some(f) if f.is_null(row) => None,
            Some(f) => Some(f.value(row)),
            None => Some(""),
        };
        let (Some(flag), true, true, true) = (
            flag,
            values.is_valid(row),
            patterns.is_valid(row),
            replacements.is_valid(row),
        ) else {
            builder.append_null();
            continue;
        };
        let pattern = patterns.value(row);
        let fresh = match &compiled {
            Some((p, f, _, _)) => p != pattern || f != flag,
            None => true,
        };
        if fresh {
            let mut global = false;
            let mut builder = regex::RegexBuilder::new(pattern);
            for c in flag.chars() {
                match c {
                    'g' => global = true,
                    'i' => {
                        builder.case_insensitive(true);
                    }
                    'c' => {
                        builder.case_insensitive(false);
                    }
                    other => {
                        return Err(Error::InvalidArgument {
                            message: format!(
                                "invalid regexp_replace() flag '{other}'; supported: g, i, c"
                            ),
                        })
                    }
                }
            }
            let re = builder.build().map_err(|e| Error::InvalidArgument {
                message: format!("invalid regular expression: {e}"),
            })?;
            compiled = Some((pattern.to_string(), flag.to_string(), re, global));
        }
        let Some((_, _, re, global)) = &compiled else {
            return Err(Error::internal("regex not compiled"));
        };
        let replacement = regex_replacement(replacements.value(row));
        let s = values.value(row);
        let replaced = if *global {
            re.replace_all(s, replacement.as_str())
        } else {
            re.replace(s, replacement.as_str())
        };
        builder.append_value(replaced);
    }
    Ok(Arc::new(builder.finish()))
}

/// Compiles `pattern` unless it is the one compiled for the previous row.
fn cached_regex<'c>(
    cache: &'c mut Option<(String, regex::Regex)>,
    pattern: &str,
) -> Result<&'c regex::Regex> {
    if cache.as_ref().is_none_or(|(p, _)| p != pattern) {
        let re = regex::Regex::new(pattern).map_err(|e| Error::InvalidArgument {
            message: format!("invalid regular expression: {e}"),
        })?;
        *cache = Some((pattern.to_string(), re));
    }
    match cache {
        Some((_, re)) => Ok(re),
        None => Err(Error::internal("regex not compiled")),
    }
}

/// `regexp_match(s, pattern)`: the first group of the first match (the match itself without
/// groups), NULL when there is none. The capture slots are reused from row to row.
fn regexp_match(args: &[ArrayRef]) -> Result<ArrayRef> {
    let values = strings(arg(args, 0)?)?;
    let patterns = strings(arg(args, 1)?)?;
    let mut cache = None;
    let mut locations: Option<regex::CaptureLocations> = None;
    let mut builder = StringBuilder::with_capacity(values.len(), 0);
    for row in 0..values.len() {
        if values.is_null(row) || patterns.is_null(row) {
            builder.append_null();
            continue;
        }
        let fresh = cache
            .as_ref()
            .is_none_or(|(p, _): &(String, regex::Regex)| p != patterns.value(row));
        let re = cached_regex(&mut cache, patterns.value(row))?;
        if fresh || locations.is_none() {
            locations = Some(re.capture_locations());
        }
        let Some(locs) = locations.as_mut() else {
            return Err(Error::internal("no capture locations"));
        };
        let group = usize::from(re.captures_len() > 1);
        let s = values.value(row);
        match re.captures_read(locs, s).and(locs.get(group)) {
            Some((start, end)) => builder.append_value(&s[start..end]),
            None => builder.append_null(),
        }
    }
    Ok(Arc::new(builder.finish()))
}

/// `regexp_like(s, pattern)`: whether the pattern matches anywhere.
fn regexp_like(args: &[ArrayRef]) -> Result<ArrayRef> {
    let values = strings(arg(args, 0)?)?;
    let patterns = strings(arg(args, 1)?)?;
    let mut cache = None;
    let mut out = arrow::array::BooleanBuilder::with_capacity(values.len());
    for row in 0..values.len() {
        if values.is_null(row) || patterns.is_null(row) {
            out.append_null();
            continue;
        }
        let re = cached_regex(&mut cache, patterns.value(row))?;
        out.append_value(re.is_match(values.value(row)));
    }
    Ok(Arc::new(out.finish()))
}

/// `to_timestamp(seconds)` over DOUBLE seconds since the epoch: millisecond timestamps.
fn to_timestamp(array: &ArrayRef) -> Result<ArrayRef> {
    let seconds = array
        .as_primitive_opt::<arrow::datatypes::Float64Type>()
        .ok_or_else(|| Error::internal("to_timestamp() of a non-DOUBLE"))?;
    // Beyond about 292 million years the milliseconds no longer fit a BIGINT.
    const LIMIT_MS: f64 = 9.2e18;
    if let Some(bad) = seconds
        .iter()
        .flatten()
        .find(|s| !(s * 1000.0).is_finite() || (s * 1000.0).abs() >= LIMIT_MS)
    {
        return Err(Error::InvalidArgument {
            message: format!("to_timestamp({bad}) is out of the TIMESTAMP range"),
        });
    }
    let ms: PrimitiveArray<TimestampMillisecondType> =
        seconds.unary(|s| (s * 1000.0).round() as i64);
    Ok(Arc::new(ms))
}

/// `extract` / `date_part` of millisecond timestamps (UTC).
fn date_part(part: DatePart, array: &ArrayRef) -> Result<ArrayRef> {
    let ts = array
        .as_primitive_opt::<TimestampMillisecondType>()
        .ok_or_else(|| Error::internal("date_part of a non-TIMESTAMP"))?;
    let days = |v: i64| v.div_euclid(MS_PER_DAY);
    let ms_of_day = |v: i64| v.rem_euclid(MS_PER_DAY);
    // Sunday 0 .. Saturday 6; 1970-01-01 was a Thursday.
    let dow = |d: i64| (d + 4).rem_euclid(7);
    fn ints(ts: &PrimitiveArray<TimestampMillisecondType>, f: impl Fn(i64) -> i64) -> ArrayRef {
        Arc::new(ts.unary::<_, Int64Type>(f))
    }
    Ok(match part {
        DatePart::Year => ints(ts, |v| civil_from_days(days(v)).0),
        DatePart::Quarter => ints(ts, |v| (civil_from_days(days(v)).1 - 1) / 3 + 1),
        DatePart::Month => ints(ts, |v| civil_from_days(days(v)).1),
        DatePart::Day => ints(ts, |v| {
            let d = days(v);
            let (y, m) = civil_from_days(d);
            d - days_from_civil(y, m, 1) + 1
        }),
        DatePart::Doy => ints(ts, |v| {
            let d = days(v);
            d - days_from_civil(civil_from_days(d).0, 1, 1) + 1
        }),
        DatePart::Dow => ints(ts, |v| dow(days(v))),
        DatePart::IsoDow => ints(ts, |v| (dow(days(v)) + 6) % 7 + 1),
        DatePart::Week => ints(ts, |v| {
            // The ISO week is the one of its Thursday; week 1 holds the year's first Thursday.
            let d = days(v);
            let thursday = d - (dow(d) + 6) % 7 + 3;
            let year = civil_from_days(thursday).0;
            (thursday - days_from_civil(year, 1, 1)) / 7 + 1
        }),
        DatePart::Hour => ints(ts, |v| ms_of_day(v) / 3_600_000),
        DatePart::Minute => ints(ts, |v| ms_of_day(v) / 60_000 % 60),
        DatePart::Second => ints(ts, |v| ms_of_day(v) / 1_000 % 60),
        DatePart::Epoch => {
            let seconds: Float64Array = ts.unary(|v| v as f64 / 1_000.0);
            Arc::new(seconds)
        }
    })
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

    #[test]
    fn regexp_match_returns_the_first_group_or_the_whole_match() {
        let values: ArrayRef = Arc::new(StringArray::from(vec![
            Some("key=42;x=7"),
            Some("none"),
            None,
        ]));
        let run = |pattern: &str| {
            let patterns: ArrayRef = Arc::new(StringArray::from(vec![pattern; 3]));
            let out = regexp_match(&[values.clone(), patterns]).unwrap();
            let out = out.as_string::<i32>();
            out.iter()
                .map(|v| v.map(str::to_string))
                .collect::<Vec<_>>()
        };
        assert_eq!(run("=([0-9]+)"), [Some("42".into()), None, None]);
        assert_eq!(run("[0-9]+"), [Some("42".into()), None, None]);
        assert_eq!(run("(x)?=(7)"), [Some("x".into()), None, None]);
    }

    #[test]
    fn regexp_replacement_translates_postgres_groups() {
        assert_eq!(regex_replacement(r"\2, \1"), "${2}, ${1}");
        assert_eq!(regex_replacement(r"[\&]"), "[${0}]");
        assert_eq!(regex_replacement("$5 \\\\ x"), "$$5 \\ x");
    }

    fn timestamps(values: &[&str]) -> ArrayRef {
        let strings: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
        arrow::compute::cast(&strings, &strata_storage::types::TIMESTAMP_TYPE).unwrap()
    }

    #[test]
    fn iso_week_and_weekday_match_known_dates() {
        // 2021-01-03 is a Sunday in ISO week 53 of 2020; 2024-12-30 a Monday in week 1 of 2025.
        let ts = timestamps(&[
            "2021-01-03T00:00:00",
            "2020-12-31T00:00:00",
            "2024-12-30T00:00:00",
            "1969-12-28T00:00:00",
        ]);
        let week = date_part(DatePart::Week, &ts).unwrap();
        let week = week.as_primitive::<Int64Type>();
        assert_eq!(week.values().to_vec(), vec![53, 53, 1, 52]);
        let dow = date_part(DatePart::Dow, &ts).unwrap();
        assert_eq!(
            dow.as_primitive::<Int64Type>().values().to_vec(),
            vec![0, 4, 1, 0]
        );
        let isodow = date_part(DatePart::IsoDow, &ts).unwrap();
        assert_eq!(
            isodow.as_primitive::<Int64Type>().values().to_vec(),
            vec![7, 4, 1, 7]
        );
    }

    #[test]
    fn substring_counts_a_start_before_one_toward_the_length() {
        let s: ArrayRef = Arc::new(StringArray::from(vec!["hello", "héllo"]));
        let start: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![-1, 2]));
        let count: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![3, 2]));
        let out = substring(&[s, start, count]).unwrap();
        let out = out.as_string::<i32>();
        assert_eq!((out.value(0), out.value(1)), ("h", "él"));
    }
}
