//! INTERVAL values: Arrow `Interval(MonthDayNano)`, PostgreSQL's three fields (months, days and
//! a time part, here in nanoseconds, printed to the microsecond as PostgreSQL keeps them).
//!
//! - [`parse`]: PostgreSQL's input forms (`'1 day 2 hours'`, `'1h'`, `'2 days 03:00:00'`,
//!   `'-00:00:01'`, `'1 year 2 mons'`, fractions cascading down: `'1.5 days'` is 1 day 12 hours).
//! - [`write_text`]: PostgreSQL's default `IntervalStyle` (`postgres`): `1 day 02:00:00`,
//!   `-00:00:01`, `1 year 2 mons`, `00:00:00` for zero.
//! - [`from_duration_ms`]: `timestamp - timestamp` as PostgreSQL's `timestamp_mi`: days and a
//!   time under 24 hours, no months.
//! - [`comparable`]: the value PostgreSQL compares intervals by (a month is 30 days, a day 24
//!   hours), so `INTERVAL '1 day' = INTERVAL '24 hours'`.
//! - [`part`]: `extract(field FROM interval)`.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int64Array, IntervalMonthDayNanoArray,
    StringArray,
};
use arrow::datatypes::{
    DataType, DurationMillisecondType, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit,
};

use crate::error::{Error, Result};

/// The Arrow type of an SQL INTERVAL.
pub const INTERVAL_TYPE: DataType = DataType::Interval(IntervalUnit::MonthDayNano);

const NANOS_PER_MICRO: i64 = 1_000;
const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_HOUR: i64 = 3_600 * NANOS_PER_SECOND;
const NANOS_PER_DAY: i64 = 24 * NANOS_PER_HOUR;

/// Parses PostgreSQL's interval input: a list of `<number> <unit>` (units millisecond, second,
/// minute, hour, day, week, month, quarter, year, with plurals and the usual abbreviations, also
/// glued to the number: `'1h'`), clock notation (`'04:05:06'`, `'-00:00:01'`), an optional
/// leading `@` and trailing `ago` (which negates). Fractions of months cascade to days (30 a
/// month) and fractions of days to the time part, as in PostgreSQL. `None` when it does not
/// parse or overflows.
pub fn parse(text: &str) -> Option<IntervalMonthDayNano> {
    let mut tokens: Vec<String> = Vec::new();
    for raw in text.split_whitespace() {
        let raw = raw.trim_end_matches(',');
        // `1h`, `30min`, `2days`: split a number glued to its unit.
        let split = raw
            .char_indices()
            .find(|(i, c)| *i > 0 && c.is_ascii_alphabetic())
            .map(|(i, _)| i)
            .filter(|_| !raw.contains(':'));
        match split {
            Some(i) if raw[..i].parse::<f64>().is_ok() => {
                tokens.push(raw[..i].to_string());
                tokens.push(raw[i..].to_string());
            }
            _ => tokens.push(raw.to_string()),
        }
    }
    if tokens.first().is_some_and(|t| t == "@") {
        tokens.remove(0);
    }
    let ago = tokens.last().is_some_and(|t| t.eq_ignore_ascii_case("ago"));
    if ago {
        tokens.pop();
    }
    if tokens.is_empty() {
        return None;
    }
    let (mut months, mut days, mut nanos) = (0f64, 0f64, 0f64);
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i].as_str();
        if token.contains(':') {
            let (sign, clock) = match token.strip_prefix('-') {
                Some(rest) => (-1.0, rest),
                None => (1.0, token.strip_prefix('+').unwrap_or(token)),
            };
            let parts: Vec<f64> = clock
                .split(':')
                .map(|p| p.parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0))
                .collect::<Option<_>>()?;
            let (h, m, s) = match parts.as_slice() {
                [h, m] => (*h, *m, 0.0),
                [h, m, s] => (*h, *m, *s),
                _ => return None,
            };
            nanos += sign * ((h * 60.0 + m) * 60.0 + s) * 1e9;
            i += 1;
            continue;
        }
        let number: f64 = token.parse().ok().filter(|v: &f64| v.is_finite())?;
        let unit = tokens.get(i + 1)?.to_ascii_lowercase();
        match unit.as_str() {
            "microsecond" | "microseconds" | "us" | "usec" | "usecs" => nanos += number * 1e3,
            "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" => nanos += number * 1e6,
            "second" | "seconds" | "s" | "sec" | "secs" => nanos += number * 1e9,
            "minute" | "minutes" | "m" | "min" | "mins" => nanos += number * 6e10,
            "hour" | "hours" | "h" | "hr" | "hrs" => nanos += number * 3.6e12,
            "day" | "days" | "d" => days += number,
            "week" | "weeks" | "w" => days += number * 7.0,
            "month" | "months" | "mon" | "mons" => months += number,
            "quarter" | "quarters" => months += number * 3.0,
            "year" | "years" | "y" | "yr" | "yrs" => months += number * 12.0,
            "decade" | "decades" => months += number * 120.0,
            "century" | "centuries" => months += number * 1200.0,
            _ => return None,
        }
        i += 2;
    }
    // Fractions cascade down: a month is 30 days, a day 24 hours.
    let whole_months = months.trunc();
    days += (months - whole_months) * 30.0;
    let whole_days = days.trunc();
    nanos += (days - whole_days) * NANOS_PER_DAY as f64;
    let sign = if ago { -1.0 } else { 1.0 };
    let fits_i32 = |v: f64| v >= f64::from(i32::MIN) && v <= f64::from(i32::MAX);
    let nanos = (nanos / 1e3).round() * 1e3;
    if !fits_i32(whole_months) || !fits_i32(whole_days) || !nanos.is_finite() {
        return None;
    }
    if nanos.abs() >= i64::MAX as f64 {
        return None;
    }
    Some(IntervalMonthDayNano::new(
        (sign * whole_months) as i32,
        (sign * whole_days) as i32,
        (sign * nanos) as i64,
    ))
}

/// Writes `v` as PostgreSQL's `postgres` IntervalStyle: `1 year 2 mons 3 days 04:05:06.5`,
/// `-1 days +02:00:00` (a field after a negative one gets an explicit sign), `00:00:00` for zero.
/// The time part is shown to the microsecond.
pub fn write_text(v: IntervalMonthDayNano, out: &mut impl std::fmt::Write) -> std::fmt::Result {
    let (years, mons) = (v.months / 12, v.months % 12);
    let mut is_zero = true;
    let mut is_before = false;
    for (value, unit) in [(years, "year"), (mons, "mon"), (v.days, "day")] {
        if value == 0 {
            continue;
        }
        write!(
            out,
            "{}{}{} {}{}",
            if is_zero { "" } else { " " },
            if !is_zero && is_before && value > 0 {
                "+"
            } else {
                ""
            },
            value,
            unit,
            if value != 1 { "s" } else { "" }
        )?;
        is_before = value < 0;
        is_zero = false;
    }
    let micros = v.nanoseconds / NANOS_PER_MICRO;
    if micros != 0 || is_zero {
        let minus = micros < 0;
        let abs = micros.unsigned_abs();
        let (hours, rest) = (abs / 3_600_000_000, abs % 3_600_000_000);
        let (minutes, rest) = (rest / 60_000_000, rest % 60_000_000);
        let (seconds, fraction) = (rest / 1_000_000, rest % 1_000_000);
        write!(
            out,
            "{}{}{:02}:{:02}:{:02}",
            if is_zero { "" } else { " " },
            if minus {
                "-"
            } else if is_before {
                "+"
            } else {
                ""
            },
            hours,
            minutes,
            seconds
        )?;
        if fraction != 0 {
            let digits = format!("{fraction:06}");
            write!(out, ".{}", digits.trim_end_matches('0'))?;
        }
    }
    Ok(())
}

/// `v` as PostgreSQL's text.
pub fn text(v: IntervalMonthDayNano) -> String {
    let mut s = String::new();
    let _ = write_text(v, &mut s);
    s
}

fn intervals(array: &ArrayRef) -> Result<&IntervalMonthDayNanoArray> {
    array
        .as_primitive_opt::<IntervalMonthDayNanoType>()
        .ok_or_else(|| {
            Error::internal(format!(
                "{} where an INTERVAL was expected",
                array.data_type()
            ))
        })
}

/// An INTERVAL column as VARCHAR, PostgreSQL's text.
pub fn to_text(array: &ArrayRef) -> Result<ArrayRef> {
    let a = intervals(array)?;
    let mut builder = arrow::array::StringBuilder::with_capacity(a.len(), a.len() * 16);
    for i in 0..a.len() {
        if a.is_null(i) {
            builder.append_null();
        } else {
            let _ = write_text(a.value(i), &mut builder);
            builder.append_value("");
        }
    }
    Ok(Arc::new(builder.finish()))
}

/// A VARCHAR column as INTERVAL; text that does not parse is an error.
pub fn from_text(array: &ArrayRef) -> Result<ArrayRef> {
    let a: &StringArray = array
        .as_string_opt::<i32>()
        .ok_or_else(|| Error::internal("INTERVAL from a non-VARCHAR"))?;
    let mut out = Vec::with_capacity(a.len());
    for i in 0..a.len() {
        if a.is_null(i) {
            out.push(None);
            continue;
        }
        let text = a.value(i);
        out.push(Some(parse(text).ok_or_else(|| Error::InvalidArgument {
            message: format!(
                "invalid input syntax for type interval: \"{text}\"; write a list of <number> <unit>, e.g. '1 day 2 hours', or clock notation '04:05:06'"
            ),
        })?));
    }
    Ok(Arc::new(IntervalMonthDayNanoArray::from(out)))
}

/// `timestamp - timestamp` (Arrow gives a Duration(ms)) as an INTERVAL of whole days and a time
/// part under 24 hours, both with the sign of the difference (PostgreSQL's `timestamp_mi`).
pub fn from_duration_ms(array: &ArrayRef) -> Result<ArrayRef> {
    let a = array
        .as_primitive_opt::<DurationMillisecondType>()
        .ok_or_else(|| Error::internal("timestamp difference is not a Duration(ms)"))?;
    let result: IntervalMonthDayNanoArray = a.unary(|ms| {
        let (days, rest) = (ms / 86_400_000, ms % 86_400_000);
        IntervalMonthDayNano::new(0, days as i32, rest * 1_000_000)
    });
    Ok(Arc::new(result))
}

/// Each interval as the 128-bit number of nanoseconds PostgreSQL compares by (a month is 30
/// days, a day 24 hours), as a DECIMAL(38, 0): comparing these compares the intervals.
pub fn comparable(array: &ArrayRef) -> Result<ArrayRef> {
    let a = intervals(array)?;
    let result: Decimal128Array = a.unary(|v| {
        (i128::from(v.months) * 30 + i128::from(v.days)) * i128::from(NANOS_PER_DAY)
            + i128::from(v.nanoseconds)
    });
    Ok(Arc::new(result.with_precision_and_scale(38, 0)?))
}

/// A field of an interval, for `extract(field FROM interval)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Seconds in all (a month is 30 days, a year 365.25 days, as PostgreSQL), DOUBLE.
    Epoch,
    /// The months field divided by 12.
    Year,
    /// The months field modulo 12.
    Month,
    /// The days field.
    Day,
    /// The whole hours of the time part.
    Hour,
    /// The minutes of the time part, modulo 60.
    Minute,
    /// The whole seconds of the time part, modulo 60.
    Second,
}

/// `extract(part FROM interval)`: BIGINT, DOUBLE for [`Part::Epoch`]. Signs follow the field, as
/// in PostgreSQL (`extract(hour FROM INTERVAL '-90 minutes')` is -1).
pub fn part(part: Part, array: &ArrayRef) -> Result<ArrayRef> {
    let a = intervals(array)?;
    if part == Part::Epoch {
        let result: Float64Array = a.unary(|v| {
            let years = f64::from(v.months / 12) * 365.25 * 86_400.0;
            let months = f64::from(v.months % 12) * 30.0 * 86_400.0;
            years + months + f64::from(v.days) * 86_400.0 + v.nanoseconds as f64 / 1e9
        });
        return Ok(Arc::new(result));
    }
    let result: Int64Array = a.unary(|v| match part {
        Part::Year => i64::from(v.months / 12),
        Part::Month => i64::from(v.months % 12),
        Part::Day => i64::from(v.days),
        Part::Hour => v.nanoseconds / NANOS_PER_HOUR,
        Part::Minute => (v.nanoseconds / (60 * NANOS_PER_SECOND)) % 60,
        Part::Second | Part::Epoch => (v.nanoseconds / NANOS_PER_SECOND) % 60,
    });
    Ok(Arc::new(result))
}

/// Whether `dt` is an interval type.
pub fn is_interval(dt: &DataType) -> bool {
    matches!(dt, DataType::Interval(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        text(parse(s).unwrap_or_else(|| panic!("{s} does not parse")))
    }

    #[test]
    fn prints_as_postgres() {
        assert_eq!(p("1 day 2 hours"), "1 day 02:00:00");
        assert_eq!(p("-1 second"), "-00:00:01");
        assert_eq!(p("1 year 2 months"), "1 year 2 mons");
        assert_eq!(p("0 seconds"), "00:00:00");
        assert_eq!(p("-1 day 2 hours"), "-1 days +02:00:00");
        assert_eq!(p("2 days 03:00:00"), "2 days 03:00:00");
        assert_eq!(p("1h"), "01:00:00");
        assert_eq!(p("1.5 days"), "1 day 12:00:00");
        assert_eq!(p("36 hours"), "36:00:00");
        assert_eq!(p("1.25 seconds"), "00:00:01.25");
        assert_eq!(p("1 day ago"), "-1 days");
        assert_eq!(p("-1 year -2 mons"), "-1 years -2 mons");
        assert!(parse("").is_none());
        assert!(parse("1 fortnight").is_none());
        assert!(parse("1e300 years").is_none());
    }
}
