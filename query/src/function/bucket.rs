//! `time_bucket(width, ts[, origin | timezone])` (TimescaleDB's and DuckDB's) and
//! `date_bin(width, ts, origin)` (PostgreSQL's): the start of the bucket of a fixed width, or of
//! a number of calendar months, that holds each timestamp.
//!
//! Without a time zone argument, buckets are aligned on their origin in UTC, whatever the
//! session time zone (DuckDB's `time_bucket` over TIMESTAMPTZ; PostgreSQL's `date_bin` counts
//! fixed widths from its origin too): Monday 2000-01-03 00:00 UTC for fixed widths (weeks start
//! on Monday), 2000-01-01 for months. `time_bucket(width, ts, 'Europe/Paris')` buckets local
//! time in that zone, as DuckDB does: a width of days (or weeks) starts its buckets at local
//! midnight, counted in local days from 2000-01-03, a width of months at local midnight of the
//! 1st, counted from January 2000, across daylight saving changes (such a bucket may last 23 or
//! 25 hours); a width under a day is a fixed length counted from the instant of local midnight
//! of 2000-01-03 there (so `INTERVAL '1 hour'` in Asia/Kolkata starts at half past the UTC
//! hour). Over a DATE (without a zone) the buckets are days and the result is a DATE, as
//! DuckDB's.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Date32Type, TimestampMillisecondType};
use chrono_tz::Tz;

use super::time::{civil_from_days, days_from_civil, MS_PER_DAY};
use super::{arg, string_literal, Call, Definition};
use crate::error::{Error, Result};
use crate::expr::coerce::is_temporal;
use crate::expr::{Expr, ScalarFunction};
use crate::kernel::timestamp::instant_of_local;

/// The bucketing functions of the registry.
pub(super) const FUNCTIONS: &[Definition] = &[Definition {
    names: &["time_bucket", "date_bin"],
    bind: bind_time_bucket,
}];

/// 2000-01-03 (a Monday), the default origin of fixed widths, in days since 1970-01-01.
const ORIGIN_DAY: i64 = 10_959;
/// 2000-01-01, the default origin of widths in months, in days since 1970-01-01.
const ORIGIN_MONTHS_DAY: i64 = 10_957;
/// January 2000 as a count of months since year 0.
const ORIGIN_MONTH: i64 = 2000 * 12;

/// The width of a bucket: calendar months, whole days or a fixed length under a day.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Width {
    Months(i64),
    Days(i64),
    Fixed(i64),
}

/// `time_bucket(interval, ts[, origin | 'zone'])`, `date_bin(interval, ts, origin)`: the width
/// must be an interval literal, months or a fixed length.
fn bind_time_bucket(mut call: Call) -> Result<Expr> {
    let name = call.name;
    let range = if name == "date_bin" { 3..=3 } else { 2..=3 };
    if !range.contains(&call.args.len()) {
        return Err(Error::InvalidArgument {
            message: format!(
                "{name}() takes {} arguments: (interval, timestamp{}), not {}",
                if name == "date_bin" { "3" } else { "2 or 3" },
                if name == "date_bin" {
                    ", origin"
                } else {
                    "[, origin or time zone]"
                },
                call.args.len()
            ),
        });
    }
    let (months, days, nanos) = match &call.args[0] {
        Expr::Literal(v) => v
            .as_any()
            .downcast_ref::<arrow::array::IntervalMonthDayNanoArray>()
            .filter(|a| a.is_valid(0))
            .map(|a| {
                let i = a.value(0);
                (i.months, i.days, i.nanoseconds)
            }),
        _ => None,
    }
    .ok_or_else(|| Error::InvalidArgument {
        message: format!(
            "{name}() needs an interval literal as its width, e.g. INTERVAL '15 minutes'; not {}",
            call.args[0]
        ),
    })?;
    let stride_ms = i64::from(days) * MS_PER_DAY + nanos / 1_000_000;
    if (months != 0 && stride_ms != 0)
        || months < 0
        || stride_ms < 0
        || (months == 0 && stride_ms == 0)
    {
        return Err(Error::InvalidArgument {
            message: format!(
                "{name}() width must be positive and either months or a fixed length, not both: {}",
                call.args[0]
            ),
        });
    }
    let months = i64::from(months);
    let zone_given =
        name == "time_bucket" && call.args.len() == 3 && call.args[2].data_type() == DataType::Utf8;
    if zone_given {
        let zone = call.args.remove(2);
        let Some(zone_name) = string_literal(&zone) else {
            let null = |e: &Expr| matches!(e, Expr::Literal(v) if *v.data_type() == DataType::Null || v.is_null(0));
            if null(&zone) || matches!(&zone, Expr::Cast { expr, .. } if null(expr)) {
                return Ok(Expr::Literal(arrow::array::new_null_array(
                    &strata_storage::types::TIMESTAMP_TYPE,
                    1,
                )));
            }
            return Err(Error::InvalidArgument {
                message: format!("time_bucket() takes a constant time zone name, not {zone}"),
            });
        };
        let tz = super::zone::parse_zone(&zone_name)?;
        let width = if months != 0 {
            Width::Months(months)
        } else if nanos == 0 {
            Width::Days(i64::from(days))
        } else if days == 0 {
            Width::Fixed(stride_ms)
        } else {
            return Err(Error::unsupported(format!(
                "time_bucket() with a time zone and a width of days and a time part ({}); use whole days or a width under a day",
                call.args[0]
            )));
        };
        let ts = timestamp_arg(&call, call.args[1].clone())?;
        return Ok(match width {
            // A fixed length from the instant of local midnight of 2000-01-03.
            Width::Fixed(stride_ms) => {
                let origin = instant_of_local(&tz, ORIGIN_DAY * MS_PER_DAY);
                Expr::call(
                    TimeBucket {
                        months: 0,
                        stride_ms,
                        dates: false,
                    },
                    vec![ts, timestamp_literal(origin)],
                )
            }
            width => Expr::call(TimeBucketZone { width, tz }, vec![ts]),
        });
    }
    if months != 0 && (name == "date_bin" || call.args.len() == 3) {
        return Err(Error::unsupported(format!(
            "{name}() with a width in months and an origin; use time_bucket(interval, ts)"
        )));
    }
    let points_given: Vec<Expr> = call.args.drain(1..).collect();
    // Over DATEs (and a DATE origin), days: a DATE, as DuckDB's.
    let dates = points_given
        .iter()
        .all(|p| p.data_type() == DataType::Date32);
    let mut points = Vec::with_capacity(2);
    for a in points_given {
        points.push(if dates { a } else { timestamp_arg(&call, a)? });
    }
    if points.len() == 1 {
        let day = if months != 0 {
            ORIGIN_MONTHS_DAY
        } else {
            ORIGIN_DAY
        };
        points.push(if dates {
            Expr::Literal(Arc::new(PrimitiveArray::<Date32Type>::from(vec![
                day as i32,
            ])))
        } else {
            timestamp_literal(day * MS_PER_DAY)
        });
    }
    Ok(Expr::call(
        TimeBucket {
            months: months as i32,
            stride_ms,
            dates,
        },
        points,
    ))
}

/// A TIMESTAMP argument: a TIMESTAMP, a DATE, a string literal (read as a TIMESTAMP in the
/// session time zone, PostgreSQL's `date_bin(interval, timestamptz, '2000-01-01')`) or NULL.
fn timestamp_arg(call: &Call, a: Expr) -> Result<Expr> {
    let dt = a.data_type();
    call.expect(
        &a,
        is_temporal(&dt) || dt == DataType::Null || crate::expr::coerce::is_string_literal(&a),
        "a TIMESTAMP",
    )?;
    Ok(a.cast_to(&strata_storage::types::TIMESTAMP_TYPE))
}

/// The instant `ms` as a TIMESTAMP literal (not text: no session time zone applies).
fn timestamp_literal(ms: i64) -> Expr {
    Expr::Literal(Arc::new(TimestampMillisecondArray::from(vec![ms])))
}

/// `time_bucket(interval, ts[, origin])`, `date_bin(interval, ts, origin)`: the start of the
/// bucket of width `months` (calendar months, counted from the origin's month) or `stride_ms`
/// that holds `ts`, buckets aligned on the origin (arguments: ts, origin; TIMESTAMPs, or DATEs
/// when `dates`, the result then a DATE).
#[derive(Debug, PartialEq)]
pub(crate) struct TimeBucket {
    /// The width in months (0 for a fixed width).
    months: i32,
    /// The fixed width in milliseconds (0 for a width in months).
    stride_ms: i64,
    /// The arguments and the result are DATEs.
    dates: bool,
}

impl ScalarFunction for TimeBucket {
    fn name(&self) -> &'static str {
        "time_bucket"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        if self.dates {
            DataType::Date32
        } else {
            strata_storage::types::TIMESTAMP_TYPE
        }
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let (ts, origin) = (arg(args, 0)?, arg(args, 1)?);
        if !self.dates {
            return time_bucket(self.months, self.stride_ms, ts, origin);
        }
        let midnights = |a: &ArrayRef| -> Result<ArrayRef> {
            let dates = a
                .as_primitive_opt::<Date32Type>()
                .ok_or_else(|| Error::internal("time_bucket of a non-DATE"))?;
            Ok(Arc::new(dates.unary::<_, TimestampMillisecondType>(|d| {
                i64::from(d) * MS_PER_DAY
            })))
        };
        let bucket = time_bucket(
            self.months,
            self.stride_ms,
            &midnights(ts)?,
            &midnights(origin)?,
        )?;
        let bucket = bucket
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| Error::internal("time_bucket result is not a TIMESTAMP"))?;
        Ok(Arc::new(bucket.unary::<_, Date32Type>(|v| {
            v.div_euclid(MS_PER_DAY) as i32
        })))
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

/// `time_bucket(interval, ts, 'zone')` for a width of days or months: buckets of local days
/// or months in `tz`, starting at local midnight (see the module documentation).
#[derive(Debug, PartialEq)]
pub(crate) struct TimeBucketZone {
    width: Width,
    tz: Tz,
}

impl ScalarFunction for TimeBucketZone {
    fn name(&self) -> &'static str {
        "time_bucket"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        strata_storage::types::TIMESTAMP_TYPE
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let ts = arg(args, 0)?
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| Error::internal("time_bucket of a non-TIMESTAMP"))?;
        let local = super::zone::to_local_array(&self.tz, ts);
        // The local day each bucket starts on, then that midnight's instant, looked up once
        // per run of values in one bucket.
        let start_day = |day: i64| -> i64 {
            match self.width {
                Width::Days(n) => ORIGIN_DAY + (day - ORIGIN_DAY).div_euclid(n) * n,
                Width::Months(n) => {
                    let (y, m) = civil_from_days(day);
                    let bucket = (y * 12 + m - 1 - ORIGIN_MONTH).div_euclid(n) * n + ORIGIN_MONTH;
                    days_from_civil(bucket.div_euclid(12), bucket.rem_euclid(12) + 1, 1)
                }
                Width::Fixed(_) => day,
            }
        };
        let mut cached: Option<(i64, i64)> = None;
        let values: Vec<i64> = local
            .values()
            .iter()
            .map(|&v| {
                let day = start_day(v.div_euclid(MS_PER_DAY));
                match cached {
                    Some((d, instant)) if d == day => instant,
                    _ => {
                        let instant = instant_of_local(&self.tz, day.saturating_mul(MS_PER_DAY));
                        cached = Some((day, instant));
                        instant
                    }
                }
            })
            .collect();
        Ok(Arc::new(PrimitiveArray::<TimestampMillisecondType>::new(
            values.into(),
            ts.nulls().cloned(),
        )))
    }

    fn fmt_call(&self, args: &[String], f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let width = match self.width {
            Width::Months(n) => format!("{n} months"),
            Width::Days(n) => format!("{n} days"),
            Width::Fixed(ms) => format!("{ms} milliseconds"),
        };
        write!(
            f,
            "time_bucket(INTERVAL '{width}', {}, '{}')",
            args.join(", "),
            self.tz.name()
        )
    }
}
