//! `age(ts1, ts2)`: PostgreSQL's symbolic difference of two timestamps, in years, months, days
//! and a time part (`age('2024-03-01', '2023-01-15 10:00')` is `1 year 1 mon 16 days 14:00:00`),
//! read in the session time zone.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, IntervalMonthDayNanoArray};
use arrow::datatypes::{DataType, IntervalMonthDayNano, TimestampMillisecondType};
use chrono::{DateTime, Datelike, NaiveDate, Timelike};

use super::{arg, Call, Definition};
use crate::error::{Error, Result};
use crate::expr::coerce::is_temporal;
use crate::expr::{Expr, ScalarFunction};

/// The interval functions of the registry.
pub(super) const FUNCTIONS: &[Definition] = &[Definition {
    names: &["age"],
    bind: bind_age,
}];

/// `age(ts1, ts2)`: two TIMESTAMPs or DATEs.
fn bind_age(mut call: Call) -> Result<Expr> {
    if call.args.len() != 2 {
        return Err(Error::unsupported(format!(
            "age() with {} argument(s); write age(ts1, ts2)",
            call.args.len()
        )));
    }
    let timestamp = strata_storage::types::TIMESTAMP_TYPE;
    let mut args = Vec::with_capacity(2);
    for a in std::mem::take(&mut call.args) {
        let dt = a.data_type();
        call.expect(
            &a,
            is_temporal(&dt) || dt == DataType::Utf8 || dt == DataType::Null,
            "a TIMESTAMP",
        )?;
        let a = a.cast_to(&timestamp);
        // Fields are counted in the session time zone (where text and a DATE are local times).
        args.push(match call.time_zone {
            Some(tz) if dt != DataType::Null => Expr::call(super::zone::AtTimeZone(tz), vec![a]),
            _ => a,
        });
    }
    Ok(Expr::call(Age, args))
}

/// `age(ts1, ts2)` over wall-clock timestamps.
#[derive(Debug, PartialEq)]
pub(crate) struct Age;

impl ScalarFunction for Age {
    fn name(&self) -> &'static str {
        "age"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        crate::interval::INTERVAL_TYPE
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let ts = |i| {
            arg(args, i)?
                .as_primitive_opt::<TimestampMillisecondType>()
                .ok_or_else(|| Error::internal("age() of a non-TIMESTAMP"))
        };
        let (a, b) = (ts(0)?, ts(1)?);
        let mut out = Vec::with_capacity(a.len());
        for i in 0..a.len() {
            out.push((a.is_valid(i) && b.is_valid(i)).then(|| age(a.value(i), b.value(i))));
        }
        let result: IntervalMonthDayNanoArray = out.into_iter().map(|v| v.flatten()).collect();
        Ok(Arc::new(result))
    }
}

/// The days of `year`'s month `month` (1 to 12).
fn days_in_month(year: i32, month: u32) -> i64 {
    let (y, m) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    match (
        NaiveDate::from_ymd_opt(y, m, 1),
        NaiveDate::from_ymd_opt(year, month, 1),
    ) {
        (Some(next), Some(first)) => (next - first).num_days(),
        _ => 30,
    }
}

/// PostgreSQL's `timestamp_age`: the field-wise difference `a - b`, borrowing from the next
/// field up (a month borrowed is the length of the earlier timestamp's month), with the sign of
/// `a - b` on every field. `None` outside chrono's range.
fn age(a: i64, b: i64) -> Option<IntervalMonthDayNano> {
    let (ta, tb) = (
        DateTime::from_timestamp_millis(a)?.naive_utc(),
        DateTime::from_timestamp_millis(b)?.naive_utc(),
    );
    let fields = |t: &chrono::NaiveDateTime| {
        [
            i64::from(t.year()),
            i64::from(t.month()),
            i64::from(t.day()),
            i64::from(t.hour()),
            i64::from(t.minute()),
            i64::from(t.second()),
            i64::from(t.nanosecond() / 1_000_000),
        ]
    };
    let (fa, fb) = (fields(&ta), fields(&tb));
    let mut d: [i64; 7] = std::array::from_fn(|i| fa[i] - fb[i]);
    let negative = a < b;
    if negative {
        d.iter_mut().for_each(|v| *v = -*v);
    }
    let [year, mon, mday, hour, min, sec, ms] = &mut d;
    while *ms < 0 {
        *ms += 1000;
        *sec -= 1;
    }
    while *sec < 0 {
        *sec += 60;
        *min -= 1;
    }
    while *min < 0 {
        *min += 60;
        *hour -= 1;
    }
    while *hour < 0 {
        *hour += 24;
        *mday -= 1;
    }
    while *mday < 0 {
        // The month borrowed is the earlier timestamp's.
        let earlier = if negative { &ta } else { &tb };
        *mday += days_in_month(earlier.year(), earlier.month());
        *mon -= 1;
    }
    while *mon < 0 {
        *mon += 12;
        *year -= 1;
    }
    let sign = if negative { -1 } else { 1 };
    let months = i32::try_from(sign * (*year * 12 + *mon)).ok()?;
    let days = i32::try_from(sign * *mday).ok()?;
    let nanos = sign * ((((*hour * 60) + *min) * 60 + *sec) * 1000 + *ms) * 1_000_000;
    Some(IntervalMonthDayNano::new(months, days, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    #[test]
    fn ages_are_postgresql_s() {
        let text = |a, b| crate::interval::text(age(ms(a), ms(b)).unwrap());
        assert_eq!(
            text("2024-03-01 00:00:00", "2023-01-15 10:00:00"),
            "1 year 1 mon 16 days 14:00:00"
        );
        assert_eq!(
            text("2023-01-15 10:00:00", "2024-03-01 00:00:00"),
            "-1 years -1 mons -16 days -14:00:00"
        );
        assert_eq!(
            text("2024-03-31 00:00:00", "2024-02-29 00:00:00"),
            "1 mon 2 days"
        );
        assert_eq!(
            text("2024-01-01 00:00:00", "2024-01-01 00:00:00"),
            "00:00:00"
        );
    }
}
