//! Text and dates read as TIMESTAMPs (instants, milliseconds since the epoch) the way
//! PostgreSQL reads `timestamptz` input: text with an offset (`2024-03-10 12:00+01`, `...Z`,
//! `... Europe/Paris`) is that instant; text without one, and a DATE (its midnight), is a local
//! time in the session time zone (UTC without one).
//!
//! A local time that a zone's clocks skip (the spring-forward gap, 02:30 on 2024-03-10 in
//! America/New_York) is read with the offset in force before the change, so it lands as far
//! past the gap's start as it was written (03:30 EDT); one that they show twice (the fall-back
//! overlap, 01:30 on 2024-11-03 there) is the later instant, with the offset after the change
//! (01:30 EST). Both are PostgreSQL's rules (`DetermineTimeZoneOffset`) and DuckDB's (ICU).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, PrimitiveArray, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{Date32Type, TimestampMillisecondType};
use chrono::{LocalResult, NaiveDate, NaiveTime, Offset, TimeZone};
use chrono_tz::Tz;

use crate::error::{Error, Result};

const MS_PER_DAY: i64 = 86_400_000;

/// The instant at which `tz`'s clocks show the local time `local_ms` (milliseconds of wall-clock
/// time, read as UTC): in a skipped hour, the offset before the change; in an hour shown twice,
/// the later instant (see the module documentation).
pub fn instant_of_local(tz: &Tz, local_ms: i64) -> i64 {
    let Some(naive) = chrono::DateTime::from_timestamp_millis(local_ms).map(|d| d.naive_utc())
    else {
        return local_ms;
    };
    let offset_ms = |o: &<Tz as TimeZone>::Offset| i64::from(o.fix().local_minus_utc()) * 1000;
    match tz.offset_from_local_datetime(&naive) {
        LocalResult::Single(o) => local_ms.saturating_sub(offset_ms(&o)),
        LocalResult::Ambiguous(_, later) => local_ms.saturating_sub(offset_ms(&later)),
        LocalResult::None => {
            // Skipped: the offset in force a day before (every gap in the database is shorter,
            // Samoa's 2011 day included, and no zone changes twice within a day).
            let before = naive - chrono::Duration::days(1);
            let offset = match tz.offset_from_local_datetime(&before) {
                LocalResult::Single(o) | LocalResult::Ambiguous(_, o) => offset_ms(&o),
                LocalResult::None => 0,
            };
            local_ms.saturating_sub(offset)
        }
    }
}

/// The wall-clock time (milliseconds, read as UTC) that instant `ms` shows in `tz`.
pub fn local_of_instant(tz: &Tz, ms: i64) -> i64 {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(utc) => {
            let offset = tz.offset_from_utc_datetime(&utc.naive_utc()).fix();
            ms.saturating_add(i64::from(offset.local_minus_utc()) * 1000)
        }
        None => ms,
    }
}

/// The offset from UTC, in seconds, of zone `tz` at instant `ms`.
pub fn offset_seconds(tz: &Tz, ms: i64) -> i32 {
    ((local_of_instant(tz, ms) - ms) / 1000) as i32
}

/// Writes instant `ms` as PostgreSQL shows a timestamptz in zone `tz`:
/// `2024-03-10 13:00:00+01` (`.5` for fractions, `+05:30` for offsets of part of an hour).
pub fn write_local(out: &mut impl std::fmt::Write, tz: &Tz, ms: i64) -> std::fmt::Result {
    let offset = offset_seconds(tz, ms);
    let local = ms + i64::from(offset) * 1000;
    match chrono::DateTime::from_timestamp_millis(local) {
        Some(t) => write!(out, "{}", t.format("%Y-%m-%d %H:%M:%S"))?,
        None => return write!(out, "{ms}"),
    }
    let frac = local.rem_euclid(1000);
    if frac != 0 {
        let digits = format!("{frac:03}");
        write!(out, ".{}", digits.trim_end_matches('0'))?;
    }
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.unsigned_abs();
    write!(out, "{sign}{:02}", abs / 3600)?;
    if !abs.is_multiple_of(3600) {
        write!(out, ":{:02}", abs % 3600 / 60)?;
    }
    Ok(())
}

/// TIMESTAMPs as text the way PostgreSQL writes a timestamptz in zone `tz` ([`write_local`]):
/// `CAST(ts AS VARCHAR)` under a session time zone.
pub fn timestamps_to_local_text(
    tz: &Tz,
    ts: &PrimitiveArray<TimestampMillisecondType>,
) -> Result<StringArray> {
    let mut builder = arrow::array::StringBuilder::with_capacity(ts.len(), ts.len() * 22);
    let mut text = String::with_capacity(32);
    for row in 0..ts.len() {
        if ts.is_null(row) {
            builder.append_null();
            continue;
        }
        text.clear();
        write_local(&mut text, tz, ts.value(row)).map_err(|e| Error::internal(e.to_string()))?;
        builder.append_value(&text);
    }
    Ok(builder.finish())
}

/// The instant of local midnight of each DATE in `tz` (PostgreSQL's `date::timestamptz`), the
/// lookup made once per run of equal dates.
pub fn dates_at_local_midnight(
    tz: &Tz,
    dates: &PrimitiveArray<Date32Type>,
) -> TimestampMillisecondArray {
    let mut cached: Option<(i32, i64)> = None;
    let values: Vec<i64> = dates
        .values()
        .iter()
        .map(|&day| match cached {
            Some((d, instant)) if d == day => instant,
            _ => {
                let instant = instant_of_local(tz, i64::from(day) * MS_PER_DAY);
                cached = Some((day, instant));
                instant
            }
        })
        .collect();
    PrimitiveArray::new(values.into(), dates.nulls().cloned())
}

/// Text as TIMESTAMPs: with an offset or zone name, that instant; without, a local time in
/// `zone` (UTC for `None`). A value that is not a timestamp is an error naming it.
pub fn text_to_timestamps(strings: &StringArray, zone: Option<&Tz>) -> Result<ArrayRef> {
    let mut values = Vec::with_capacity(strings.len());
    for row in 0..strings.len() {
        if strings.is_null(row) {
            values.push(0);
            continue;
        }
        let text = strings.value(row);
        let ms = parse(text, zone).ok_or_else(|| {
            // At most 64 characters of the value in the message.
            let shown: String = text.chars().take(64).collect();
            Error::InvalidArgument {
                message: format!(
                    "invalid input syntax for type timestamp: \"{shown}\"; write 'YYYY-MM-DD[ HH:MM[:SS[.fff]]][+HH[:MM]]'"
                ),
            }
        })?;
        values.push(ms);
    }
    Ok(Arc::new(PrimitiveArray::<TimestampMillisecondType>::new(
        values.into(),
        strings.nulls().cloned(),
    )))
}

/// Casts a VARCHAR array (`Utf8`) to TIMESTAMP: [`text_to_timestamps`].
pub fn cast_text(value: &ArrayRef, zone: Option<&Tz>) -> Result<ArrayRef> {
    let strings = value
        .as_string_opt::<i32>()
        .ok_or_else(|| Error::internal("text to TIMESTAMP of a non-VARCHAR"))?;
    text_to_timestamps(strings, zone)
}

/// One timestamp: PostgreSQL's ISO forms, then whatever Arrow's parser reads.
fn parse(text: &str, zone: Option<&Tz>) -> Option<i64> {
    let text = text.trim();
    if let Some(ms) = parse_iso(text, zone) {
        return Some(ms);
    }
    use arrow::compute::kernels::cast_utils::string_to_datetime;
    match zone {
        Some(tz) => string_to_datetime(tz, text)
            .ok()
            .map(|d| d.timestamp_millis()),
        None => string_to_datetime(&chrono::Utc, text)
            .ok()
            .map(|d| d.timestamp_millis()),
    }
}

/// A cursor over the bytes of a timestamp.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// Between `min` and `max` digits as a number, with how many there were.
    fn number(&mut self, min: usize, max: usize) -> Option<(u32, usize)> {
        let start = self.at;
        let mut value: u32 = 0;
        while self.at - start < max {
            match self.peek() {
                Some(b @ b'0'..=b'9') => {
                    value = value * 10 + u32::from(b - b'0');
                    self.at += 1;
                }
                _ => break,
            }
        }
        let digits = self.at - start;
        (digits >= min).then_some((value, digits))
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    fn rest(&self) -> &str {
        std::str::from_utf8(&self.bytes[self.at..]).unwrap_or("")
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

/// `YYYY-MM-DD[( |T)HH:MM[:SS[.f...]]][ ][Z|UTC|GMT|(+|-)HH[[:]MM[[:]SS]]| Zone/Name]`; `None`
/// for anything else.
fn parse_iso(text: &str, zone: Option<&Tz>) -> Option<i64> {
    let mut c = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let (year, _) = c.number(4, 4)?;
    let month = c.eat(b'-').then(|| c.number(1, 2)).flatten()?.0;
    let day = c.eat(b'-').then(|| c.number(1, 2)).flatten()?.0;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let mut local = date.and_time(NaiveTime::MIN).and_utc().timestamp_millis();
    let date_only = c.done();
    if !date_only {
        if !(c.eat(b'T') || c.eat(b't')) {
            if c.peek() != Some(b' ') {
                return None;
            }
            c.skip_spaces();
        }
        let hour = c.number(1, 2)?.0;
        let minute = c.eat(b':').then(|| c.number(2, 2)).flatten()?.0;
        let mut second = 0;
        let mut millis = 0;
        if c.eat(b':') {
            second = c.number(2, 2)?.0;
            if c.eat(b'.') || c.eat(b',') {
                let (fraction, digits) = c.number(1, 9)?;
                // Milliseconds, the rest truncated (as Arrow's cast does).
                millis = match digits {
                    1 => fraction * 100,
                    2 => fraction * 10,
                    3 => fraction,
                    d => fraction / 10u32.pow(u32::try_from(d).ok()? - 3),
                };
                // Digits beyond nine: dropped.
                while matches!(c.peek(), Some(b'0'..=b'9')) {
                    c.at += 1;
                }
            }
        }
        // 24:00:00 is the next midnight (PostgreSQL).
        if hour == 24 && minute == 0 && second == 0 && millis == 0 {
            local += MS_PER_DAY;
        } else if hour > 23 || minute > 59 || second > 59 {
            return None;
        } else {
            local += i64::from(hour) * 3_600_000
                + i64::from(minute) * 60_000
                + i64::from(second) * 1000
                + i64::from(millis);
        }
    }
    c.skip_spaces();
    if c.done() {
        return Some(match zone {
            Some(tz) => instant_of_local(tz, local),
            None => local,
        });
    }
    if date_only && c.at == 10 {
        // `2024-03-10+01` is not a timestamp PostgreSQL reads either.
        return None;
    }
    match c.peek()? {
        b'Z' | b'z' if c.at + 1 == c.bytes.len() => Some(local),
        sign @ (b'+' | b'-') => {
            c.at += 1;
            let (hours, digits) = c.number(1, 4)?;
            let (hours, mut minutes) = if digits > 2 {
                (hours / 100, hours % 100)
            } else {
                (hours, 0)
            };
            let mut seconds = 0;
            if digits <= 2 && c.eat(b':') {
                minutes = c.number(2, 2)?.0;
                if c.eat(b':') {
                    seconds = c.number(2, 2)?.0;
                }
            }
            if !c.done() || hours > 15 || minutes > 59 || seconds > 59 {
                return None;
            }
            let offset_ms = i64::from(hours * 3600 + minutes * 60 + seconds) * 1000;
            Some(if sign == b'+' {
                local - offset_ms
            } else {
                local + offset_ms
            })
        }
        _ => {
            let name = c.rest();
            if name.eq_ignore_ascii_case("utc") || name.eq_ignore_ascii_case("gmt") {
                return Some(local);
            }
            let tz: Tz = name.parse().ok()?;
            Some(instant_of_local(&tz, local))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn ms(text: &str, zone: Option<&str>) -> Option<i64> {
        let tz: Option<Tz> = zone.map(|z| z.parse().unwrap());
        parse(text, tz.as_ref())
    }

    fn utc(text: &str) -> i64 {
        ms(text, None).unwrap()
    }

    #[test]
    fn text_without_offset_is_local_time_in_the_zone() {
        // 2024-03-10 12:00 UTC.
        let noon = 1_710_072_000_000;
        assert_eq!(utc("2024-03-10 12:00:00"), noon);
        assert_eq!(utc("2024-03-10 12:00"), noon);
        assert_eq!(utc("2024-03-10T12:00"), noon);
        assert_eq!(utc(" 2024-03-10   12:00:00.250 "), noon + 250);
        assert_eq!(utc("2024-03-10 12:00:00.123456"), noon + 123);
        assert_eq!(utc("2024-03-10"), noon - 12 * HOUR);
        assert_eq!(utc("2024-03-09 24:00:00"), noon - 12 * HOUR);
        assert_eq!(
            ms("2024-03-10 12:00", Some("Europe/Paris")),
            Some(noon - HOUR)
        );
        assert_eq!(
            ms("2024-03-10 12:00", Some("Asia/Kolkata")),
            Some(noon - 5 * HOUR - HOUR / 2)
        );
        // Offsets and names win over the session zone.
        for zone in [None, Some("America/New_York")] {
            assert_eq!(ms("2024-03-10 13:00+01", zone), Some(noon));
            assert_eq!(ms("2024-03-10 13:00:00+01:00", zone), Some(noon));
            assert_eq!(ms("2024-03-10 17:30 +0530", zone), Some(noon));
            assert_eq!(ms("2024-03-10 07:00:00-05", zone), Some(noon));
            assert_eq!(ms("2024-03-10T12:00:00Z", zone), Some(noon));
            assert_eq!(ms("2024-03-10 12:00 UTC", zone), Some(noon));
            assert_eq!(ms("2024-03-10 13:00 Europe/Paris", zone), Some(noon));
        }
        // Arrow's other forms still read.
        assert_eq!(utc("2024-03-10 120000"), noon);
        for bad in [
            "",
            "2024-03-10 12",
            "2024-13-01",
            "2024-02-30",
            "2024-03-10 25:00",
            "2024-03-10 12:00+",
            "2024-03-10 12:00 Mars/Olympus",
            "yesterday",
            "20240310",
        ] {
            assert_eq!(ms(bad, None), None, "{bad}");
        }
    }

    #[test]
    fn gaps_move_forward_and_overlaps_take_the_later_instant() {
        let ny: Tz = "America/New_York".parse().unwrap();
        // 2024-03-10 02:30 does not exist in New York: 07:30 UTC (03:30 EDT).
        assert_eq!(
            ms("2024-03-10 02:30", Some("America/New_York")),
            Some(utc("2024-03-10 07:30"))
        );
        // 2024-11-03 01:30 happens twice: the later, EST (06:30 UTC).
        assert_eq!(
            ms("2024-11-03 01:30", Some("America/New_York")),
            Some(utc("2024-11-03 06:30"))
        );
        assert_eq!(
            instant_of_local(&ny, utc("2024-07-01 00:00")),
            utc("2024-07-01 04:00")
        );
        // Paris: 2024-03-31 02:30 skipped, 2024-10-27 02:30 twice.
        assert_eq!(
            ms("2024-03-31 02:30", Some("Europe/Paris")),
            Some(utc("2024-03-31 01:30"))
        );
        assert_eq!(
            ms("2024-10-27 02:30", Some("Europe/Paris")),
            Some(utc("2024-10-27 01:30"))
        );
    }

    #[test]
    fn dates_become_local_midnights() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let day = |d: &str| (utc(d) / MS_PER_DAY) as i32;
        let dates = PrimitiveArray::<Date32Type>::from(vec![
            Some(day("2024-01-15")),
            Some(day("2024-01-15")),
            None,
            Some(day("2024-07-15")),
        ]);
        let midnights = dates_at_local_midnight(&paris, &dates);
        assert_eq!(midnights.value(0), utc("2024-01-14 23:00"));
        assert_eq!(midnights.value(1), utc("2024-01-14 23:00"));
        assert!(midnights.is_null(2));
        assert_eq!(midnights.value(3), utc("2024-07-14 22:00"));
    }
}
