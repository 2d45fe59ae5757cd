//! Time zones (the IANA database, `chrono-tz`): `ts AT TIME ZONE 'Europe/Paris'` and what
//! `date_trunc(unit, ts, zone)` (in `time.rs`) needs.
//!
//! A Strata TIMESTAMP is an instant in UTC. `ts AT TIME ZONE zone` is the wall-clock time that
//! instant shows in `zone`, as a TIMESTAMP (PostgreSQL's `timestamptz AT TIME ZONE zone`): the
//! value to group, display or `extract` from in local time. [`from_local`] goes back: the
//! instant at which `zone`'s clocks show a local time (the later one when the clocks go back;
//! in the hour skipped when they go forward, the local time read with the offset before the
//! change, as PostgreSQL and DuckDB do).

use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, TimestampMillisecondType};
use chrono_tz::Tz;

use super::{arg, string_literal};
use crate::error::{Error, Result};
use crate::expr::coerce::is_temporal;
use crate::expr::{Expr, ScalarFunction};

/// The zone named `name` (an IANA name such as `Europe/Paris`, or `UTC`).
pub(crate) fn parse_zone(name: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|_| Error::InvalidArgument {
        message: format!(
            "time zone \"{name}\" not recognized; use an IANA name such as 'Europe/Paris', 'America/New_York' or 'UTC'"
        ),
    })
}

/// The wall-clock time (milliseconds, read as UTC) that instant `ms` shows in `tz`.
pub(crate) fn to_local(tz: &Tz, ms: i64) -> i64 {
    crate::kernel::timestamp::local_of_instant(tz, ms)
}

/// Every instant of `ts` as the wall-clock time it shows in `tz` ([`to_local`] per value),
/// looking the offset up once per quarter hour of UTC time met (IANA offsets change at whole
/// quarter hours since 1970): consecutive values of a batch usually share it.
pub(crate) fn to_local_array(
    tz: &Tz,
    ts: &arrow::array::PrimitiveArray<TimestampMillisecondType>,
) -> arrow::array::PrimitiveArray<TimestampMillisecondType> {
    const QUARTER_HOUR: i64 = 900_000;
    let mut cached: Option<(i64, i64)> = None;
    let values: Vec<i64> = ts
        .values()
        .iter()
        .map(|&v| {
            if v < 0 {
                return to_local(tz, v);
            }
            let key = v / QUARTER_HOUR;
            let offset = match cached {
                Some((k, offset)) if k == key => offset,
                _ => {
                    let offset = to_local(tz, v) - v;
                    cached = Some((key, offset));
                    offset
                }
            };
            v.saturating_add(offset)
        })
        .collect();
    arrow::array::PrimitiveArray::new(values.into(), ts.nulls().cloned())
}

/// The instant at which `tz`'s clocks show the local time `local_ms` (see the module
/// documentation for the hours that occur twice or not at all).
pub(crate) fn from_local(tz: &Tz, local_ms: i64) -> i64 {
    crate::kernel::timestamp::instant_of_local(tz, local_ms)
}

/// `ts AT TIME ZONE 'zone'` (bound by the binder): a TIMESTAMP or DATE and a constant zone.
pub(crate) fn at_time_zone(ts: Expr, zone: &Expr) -> Result<Expr> {
    let name = string_literal(zone).ok_or_else(|| Error::InvalidArgument {
        message: format!("AT TIME ZONE takes a constant zone name, not {zone}"),
    })?;
    let tz = parse_zone(&name)?;
    let dt = ts.data_type();
    if !(is_temporal(&dt) || dt == DataType::Utf8 || dt == DataType::Null) {
        return Err(Error::mismatch(format!(
            "AT TIME ZONE applies to a TIMESTAMP, not {dt} ({ts})"
        )));
    }
    Ok(Expr::call(
        AtTimeZone(tz),
        vec![ts.cast_to(&strata_storage::types::TIMESTAMP_TYPE)],
    ))
}

/// `ts AT TIME ZONE 'zone'`.
#[derive(Debug, PartialEq)]
pub(crate) struct AtTimeZone(pub(crate) Tz);

impl ScalarFunction for AtTimeZone {
    fn name(&self) -> &'static str {
        "timezone"
    }

    fn return_type(&self, _args: &[Expr]) -> DataType {
        strata_storage::types::TIMESTAMP_TYPE
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let ts = arg(args, 0)?
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| Error::internal("AT TIME ZONE of a non-TIMESTAMP"))?;
        Ok(Arc::new(to_local_array(&self.0, ts)))
    }

    fn fmt_call(&self, args: &[String], f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({} AT TIME ZONE '{}')", args.join(", "), self.0.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn local_times_follow_daylight_saving() {
        let paris = parse_zone("Europe/Paris").unwrap();
        // 2024-01-15 12:00 UTC is 13:00 in Paris (CET), 2024-07-15 12:00 UTC is 14:00 (CEST).
        let winter = 1_705_320_000_000;
        let summer = 1_721_044_800_000;
        assert_eq!(to_local(&paris, winter), winter + HOUR);
        assert_eq!(to_local(&paris, summer), summer + 2 * HOUR);
        assert_eq!(from_local(&paris, winter + HOUR), winter);
        // 2024-03-31 02:30 does not exist in Paris: read with the offset before (+01:00).
        let gap_local = 1_711_852_200_000; // 2024-03-31 02:30 as UTC
        assert_eq!(from_local(&paris, gap_local), gap_local - HOUR);
        // 2024-10-27 02:30 happens twice: the later (+01:00).
        let twice_local = 1_729_996_200_000; // 2024-10-27 02:30 as UTC
        assert_eq!(from_local(&paris, twice_local), twice_local - HOUR);
        // The offset cache gives what the lookup per value gives, across a change (Paris,
        // 2024-03-31 01:00 UTC) and for values out of order.
        let change = 1_711_846_800_000;
        let values: Vec<i64> = (-8..8)
            .map(|q| change + q * 15 * 60_000 + 1)
            .chain([change - 1, change, winter, -HOUR])
            .collect();
        let array = arrow::array::PrimitiveArray::<TimestampMillisecondType>::from(values.clone());
        let local = to_local_array(&paris, &array);
        for (i, v) in values.iter().enumerate() {
            assert_eq!(local.value(i), to_local(&paris, *v), "{v}");
        }
        assert!(parse_zone("Mars/Olympus").is_err());
        assert!(parse_zone("UTC").is_ok());
    }
}
