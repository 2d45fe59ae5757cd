//! Time functions over TIMESTAMP (milliseconds since the epoch, UTC; a DATE is read as its
//! midnight, local under a session time zone): `date_trunc`, `date_part` / `extract` (a DATE's
//! own fields), `to_timestamp`, and `now()` (one value per statement). `time_bucket` /
//! `date_bin` are in `bucket.rs`.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, PrimitiveArray, StringArray};
use arrow::datatypes::{DataType, Int64Type, TimestampMillisecondType};

use super::{arg, string_literal, Call, Definition};
use crate::error::{Error, Result};
use crate::expr::coerce::{is_numeric, is_temporal, type_name};
use crate::expr::{Expr, ScalarFunction};

pub(super) const MS_PER_DAY: i64 = 86_400_000;

/// The time functions of the registry.
pub(super) const FUNCTIONS: &[Definition] = &[
    Definition {
        names: &["date_trunc"],
        bind: bind_date_trunc,
    },
    Definition {
        names: &["date_part"],
        bind: bind_date_part,
    },
    Definition {
        names: &["to_timestamp"],
        bind: bind_to_timestamp,
    },
    Definition {
        names: &[
            "now",
            "current_timestamp",
            "localtimestamp",
            "transaction_timestamp",
        ],
        bind: bind_now,
    },
];

/// `date_trunc('unit', ts [, 'zone'])`.
fn bind_date_trunc(mut call: Call) -> Result<Expr> {
    if call.args.len() == 3 {
        let zone = call.args.remove(2);
        let name = string_literal(&zone).ok_or_else(|| Error::InvalidArgument {
            message: format!("date_trunc() takes a constant time zone name, not {zone}"),
        })?;
        let tz = super::zone::parse_zone(&name)?;
        let Expr::Function { func, args } = bind_date_trunc(call)? else {
            return Err(Error::internal("date_trunc bound to something else"));
        };
        let unit = func
            .as_any()
            .downcast_ref::<DateTrunc>()
            .map(|d| d.0)
            .ok_or_else(|| Error::internal("date_trunc bound to something else"))?;
        return Ok(Expr::call(DateTruncZone(unit, tz), args));
    }
    if let (Some(tz), 2) = (call.time_zone, call.args.len()) {
        // The session time zone: PostgreSQL's date_trunc(text, timestamptz); a DATE or text
        // is read as local time there first.
        if matches!(
            call.args[1].data_type(),
            DataType::Timestamp(_, _) | DataType::Date32 | DataType::Utf8
        ) {
            call.args
                .push(Expr::Literal(Arc::new(StringArray::from(vec![tz.name()]))));
            call.time_zone = None;
            return bind_date_trunc(call);
        }
    }
    call.arity(2)?;
    let unit = string_literal(&call.args[0]);
    let unit = unit.as_deref().and_then(TruncUnit::parse).ok_or_else(|| Error::InvalidArgument {
        message: format!(
            "date_trunc() unit must be one of 'second', 'minute', 'hour', 'day', 'week', 'month', 'quarter', 'year', not {}",
            call.args[0]
        ),
    })?;
    let ts = call.args.remove(1);
    let dt = ts.data_type();
    call.expect(
        &ts,
        is_temporal(&dt) || dt == DataType::Utf8 || dt == DataType::Null,
        "a TIMESTAMP",
    )?;
    Ok(Expr::call(
        DateTrunc(unit),
        vec![ts.cast_to(&strata_storage::types::TIMESTAMP_TYPE)],
    ))
}

/// `date_part('field', ts)`.
fn bind_date_part(mut call: Call) -> Result<Expr> {
    call.arity(2)?;
    let field = string_literal(&call.args[0]);
    let part = field.as_deref().and_then(DatePart::parse).ok_or_else(|| Error::InvalidArgument {
        message: format!(
            "date_part() field must be one of 'year', 'quarter', 'month', 'week', 'day', 'hour', 'minute', 'second', 'dow', 'isodow', 'doy', 'epoch'; not {}",
            call.args[0]
        ),
    })?;
    date_part(part, call.args.remove(1), call.time_zone)
}

/// `extract(part FROM e)` / `date_part('part', e)` over a TIMESTAMP, DATE or INTERVAL; with a
/// session time zone `zone`, the fields of a TIMESTAMP are its local ones there (not `epoch`).
pub(crate) fn date_part(part: DatePart, e: Expr, zone: Option<crate::TimeZone>) -> Result<Expr> {
    let dt = e.data_type();
    if crate::interval::is_interval(&dt) {
        use crate::interval::Part;
        let field = match part {
            DatePart::Epoch => Part::Epoch,
            DatePart::Year => Part::Year,
            DatePart::Month => Part::Month,
            DatePart::Day => Part::Day,
            DatePart::Hour => Part::Hour,
            DatePart::Minute => Part::Minute,
            DatePart::Second => Part::Second,
            other => {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "extract({} FROM interval): an interval has the fields epoch, year, month, day, hour, minute, second",
                        other.name()
                    ),
                })
            }
        };
        return Ok(Expr::call(IntervalPart(field), vec![e]));
    }
    if !(is_temporal(&dt) || dt == DataType::Null) {
        return Err(Error::mismatch(format!(
            "extract() / date_part() needs a TIMESTAMP, DATE or INTERVAL, not {} ({e})",
            type_name(&dt)
        )));
    }
    // A DATE's fields are its own, whatever the zone: the kernel reads it as a day number.
    let ts = if dt == DataType::Date32 {
        e
    } else {
        e.cast_to(&strata_storage::types::TIMESTAMP_TYPE)
    };
    let ts = match zone {
        Some(tz) if part != DatePart::Epoch && matches!(dt, DataType::Timestamp(_, _)) => {
            Expr::call(super::zone::AtTimeZone(tz), vec![ts])
        }
        _ => ts,
    };
    Ok(Expr::call(Extract(part), vec![ts]))
}

/// `to_timestamp(seconds)`.
fn bind_to_timestamp(mut call: Call) -> Result<Expr> {
    if call.args.len() != 1 {
        return Err(Error::unsupported(
            "to_timestamp(text, format); to_timestamp takes one argument, seconds since 1970-01-01 (cast text with CAST(x AS TIMESTAMP))",
        ));
    }
    let dt = call.args[0].data_type();
    call.expect(
        &call.args[0],
        is_numeric(&dt) || dt == DataType::Null,
        "a number of seconds",
    )?;
    let seconds = call.args.remove(0).cast_to(&DataType::Float64);
    Ok(Expr::call(ToTimestamp, vec![seconds]))
}

/// `now()` and its synonyms: the statement's clock, as a literal.
fn bind_now(call: Call) -> Result<Expr> {
    call.arity(0)?;
    let now_ms = call.now_ms.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    });
    Ok(Expr::Literal(Arc::new(
        arrow::array::TimestampMillisecondArray::from(vec![now_ms]),
    )))
}

/// The unit `date_trunc` truncates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TruncUnit {
    /// Whole seconds.
    Second,
    /// Whole minutes.
    Minute,
    /// Whole hours.
    Hour,
    /// Midnight (UTC).
    Day,
    /// Monday midnight.
    Week,
    /// The first of the month.
    Month,
    /// The first of January, April, July or October.
    Quarter,
    /// The first of January.
    Year,
}

impl TruncUnit {
    /// Parses a PostgreSQL unit name (`'hour'`, `'day'`, ...), case-insensitive.
    pub fn parse(unit: &str) -> Option<Self> {
        Some(match unit.to_ascii_lowercase().as_str() {
            "second" | "seconds" => TruncUnit::Second,
            "minute" | "minutes" => TruncUnit::Minute,
            "hour" | "hours" => TruncUnit::Hour,
            "day" | "days" => TruncUnit::Day,
            "week" | "weeks" => TruncUnit::Week,
            "month" | "months" => TruncUnit::Month,
            "quarter" => TruncUnit::Quarter,
            "year" | "years" => TruncUnit::Year,
            _ => return None,
        })
    }

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            TruncUnit::Second => "second",
            TruncUnit::Minute => "minute",
            TruncUnit::Hour => "hour",
            TruncUnit::Day => "day",
            TruncUnit::Week => "week",
            TruncUnit::Month => "month",
            TruncUnit::Quarter => "quarter",
            TruncUnit::Year => "year",
        }
    }
}

/// The field `extract` / `date_part` takes from a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePart {
    /// The year.
    Year,
    /// 1 to 4.
    Quarter,
    /// 1 to 12.
    Month,
    /// The ISO 8601 week number, 1 to 53 (weeks start on Monday).
    Week,
    /// The day of the month, 1 to 31.
    Day,
    /// 0 to 23.
    Hour,
    /// 0 to 59.
    Minute,
    /// 0 to 59, whole seconds.
    Second,
    /// The day of the week, Sunday 0 to Saturday 6.
    Dow,
    /// The ISO day of the week, Monday 1 to Sunday 7.
    IsoDow,
    /// The day of the year, 1 to 366.
    Doy,
    /// Seconds since 1970-01-01 00:00:00 (DOUBLE, with the milliseconds).
    Epoch,
}

impl DatePart {
    /// Parses a PostgreSQL field name, case-insensitive.
    pub fn parse(field: &str) -> Option<Self> {
        Some(match field.to_ascii_lowercase().as_str() {
            "year" | "years" => DatePart::Year,
            "quarter" => DatePart::Quarter,
            "month" | "months" => DatePart::Month,
            "week" | "weeks" => DatePart::Week,
            "day" | "days" => DatePart::Day,
            "hour" | "hours" => DatePart::Hour,
            "minute" | "minutes" => DatePart::Minute,
            "second" | "seconds" => DatePart::Second,
            "dow" | "dayofweek" => DatePart::Dow,
            "isodow" => DatePart::IsoDow,
            "doy" | "dayofyear" => DatePart::Doy,
            "epoch" => DatePart::Epoch,
            _ => return None,
        })
    }

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            DatePart::Year => "year",
            DatePart::Quarter => "quarter",
            DatePart::Month => "month",
            DatePart::Week => "week",
            DatePart::Day => "day",
            DatePart::Hour => "hour",
            DatePart::Minute => "minute",
            DatePart::Second => "second",
            DatePart::Dow => "dow",
            DatePart::IsoDow => "isodow",
            DatePart::Doy => "doy",
            DatePart::Epoch => "epoch",
        }
    }
}

/// `date_trunc('unit', ts)`: TIMESTAMP.
#[derive(Debug, PartialEq)]
pub(crate) struct DateTrunc(pub(crate) TruncUnit);

impl ScalarFunction for DateTrunc {
    fn name(&self) -> &'static str {
        "date_trunc"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        strata_storage::types::TIMESTAMP_TYPE
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        date_trunc(self.0, arg(args, 0)?)
    }

    fn fmt_call(&self, args: &[String], f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "date_trunc('{}', {})", self.0.name(), args.join(", "))
    }
}

/// `extract(field FROM ts)`, `date_part('field', ts)`: BIGINT (DOUBLE for `epoch`).
#[derive(Debug, PartialEq)]
pub(crate) struct Extract(pub(crate) DatePart);

impl ScalarFunction for Extract {
    fn name(&self) -> &'static str {
        "date_part"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        match self.0 {
            DatePart::Epoch => DataType::Float64,
            _ => DataType::Int64,
        }
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        date_part_of(self.0, arg(args, 0)?)
    }

    fn fmt_call(&self, args: &[String], f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "date_part('{}', {})", self.0.name(), args.join(", "))
    }
}

/// `extract(field FROM interval)`: see [`crate::interval::part`].
#[derive(Debug, PartialEq)]
pub(crate) struct IntervalPart(crate::interval::Part);

impl ScalarFunction for IntervalPart {
    fn name(&self) -> &'static str {
        "date_part"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        match self.0 {
            crate::interval::Part::Epoch => DataType::Float64,
            _ => DataType::Int64,
        }
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        crate::interval::part(self.0, arg(args, 0)?)
    }
}

/// `to_timestamp(seconds)`: the TIMESTAMP that many seconds (DOUBLE, fractions kept to the
/// millisecond) after 1970-01-01 00:00:00.
#[derive(Debug, PartialEq)]
pub(crate) struct ToTimestamp;

impl ScalarFunction for ToTimestamp {
    fn name(&self) -> &'static str {
        "to_timestamp"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        strata_storage::types::TIMESTAMP_TYPE
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        to_timestamp(arg(args, 0)?)
    }
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

/// `extract` / `date_part` of millisecond timestamps (UTC), or of DATEs (their midnights).
fn date_part_of(part: DatePart, array: &ArrayRef) -> Result<ArrayRef> {
    let midnights;
    let ts = match array.as_primitive_opt::<arrow::datatypes::Date32Type>() {
        Some(dates) => {
            midnights = dates.unary::<_, TimestampMillisecondType>(|d| i64::from(d) * MS_PER_DAY);
            &midnights
        }
        None => array
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| Error::internal("date_part of a non-TIMESTAMP"))?,
    };
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

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub(super) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil (year, month) of a day number.
pub(super) fn civil_from_days(days: i64) -> (i64, i64) {
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

/// `date_trunc('unit', ts, 'zone')`: TIMESTAMP, the instant at which the local time in `zone`
/// truncated to `unit` began (days, weeks, months start at local midnight).
#[derive(Debug, PartialEq)]
pub(crate) struct DateTruncZone(pub(crate) TruncUnit, pub(crate) chrono_tz::Tz);

impl ScalarFunction for DateTruncZone {
    fn name(&self) -> &'static str {
        "date_trunc"
    }

    fn return_type(&self, _args: &[Expr]) -> DataType {
        strata_storage::types::TIMESTAMP_TYPE
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let tz = self.1;
        let ts = arg(args, 0)?
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| Error::internal("date_trunc of a non-TIMESTAMP"))?;
        let local: ArrayRef = Arc::new(super::zone::to_local_array(&tz, ts));
        let truncated = date_trunc(self.0, &local)?;
        let truncated = truncated
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| Error::internal("date_trunc result is not a TIMESTAMP"))?;
        if matches!(
            self.0,
            TruncUnit::Second | TruncUnit::Minute | TruncUnit::Hour
        ) {
            // Within an hour the offset does not change: go back by the local remainder, so
            // an hour that occurs twice when the clocks go back keeps its own instant.
            let local = local.as_primitive::<TimestampMillisecondType>();
            let remainder: PrimitiveArray<Int64Type> =
                arrow::compute::binary(local, truncated, |l, t| l - t)?;
            let result: PrimitiveArray<TimestampMillisecondType> =
                arrow::compute::binary(ts, &remainder, |v, r| v - r)?;
            return Ok(Arc::new(result));
        }
        Ok(Arc::new(truncated.unary::<_, TimestampMillisecondType>(
            |v| super::zone::from_local(&tz, v),
        )))
    }

    fn fmt_call(&self, args: &[String], f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "date_trunc('{}', {}, '{}')",
            self.0.name(),
            args.join(", "),
            self.1.name()
        )
    }
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
        let week = date_part_of(DatePart::Week, &ts).unwrap();
        let week = week.as_primitive::<Int64Type>();
        assert_eq!(week.values().to_vec(), vec![53, 53, 1, 52]);
        let dow = date_part_of(DatePart::Dow, &ts).unwrap();
        assert_eq!(
            dow.as_primitive::<Int64Type>().values().to_vec(),
            vec![0, 4, 1, 0]
        );
        let isodow = date_part_of(DatePart::IsoDow, &ts).unwrap();
        assert_eq!(
            isodow.as_primitive::<Int64Type>().values().to_vec(),
            vec![7, 4, 1, 7]
        );
    }
}
