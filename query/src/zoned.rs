//! Query results under a session time zone: TIMESTAMP columns become Arrow
//! `Timestamp(ms, zone)` (the same instants, labelled with the zone), so every client
//! encoding shows them as local time with the offset (PostgreSQL's timestamptz output).

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;

use crate::exec::BatchIter;
use crate::TimeZone;

/// The offset from UTC, in seconds, of zone `tz` at instant `ms` (milliseconds since the epoch).
pub fn offset_seconds(tz: &TimeZone, ms: i64) -> i32 {
    crate::kernel::timestamp::offset_seconds(tz, ms)
}

/// The zone of a `Timestamp(ms, zone)` column as the result labels it, `None` for a plain
/// TIMESTAMP or a zone that is not an IANA name.
pub fn zone_of(dt: &DataType) -> Option<TimeZone> {
    match dt {
        DataType::Timestamp(TimeUnit::Millisecond, Some(name)) => name.parse().ok(),
        _ => None,
    }
}

/// Writes instant `ms` as PostgreSQL shows a timestamptz in zone `tz`:
/// `2024-03-10 13:00:00+01` (`.5` for fractions, `+05:30` for offsets of part of an hour).
pub fn write_local(out: &mut impl std::fmt::Write, tz: &TimeZone, ms: i64) -> std::fmt::Result {
    crate::kernel::timestamp::write_local(out, tz, ms)
}

fn is_plain_timestamp(dt: &DataType) -> bool {
    matches!(dt, DataType::Timestamp(TimeUnit::Millisecond, None))
}

/// `schema` with its TIMESTAMP columns labelled with `tz`.
pub(crate) fn schema(schema: &SchemaRef, tz: TimeZone) -> SchemaRef {
    if !schema
        .fields()
        .iter()
        .any(|f| is_plain_timestamp(f.data_type()))
    {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if is_plain_timestamp(f.data_type()) {
                f.as_ref().clone().with_data_type(DataType::Timestamp(
                    TimeUnit::Millisecond,
                    Some(tz.name().into()),
                ))
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The result `schema` and `batches` with their TIMESTAMP columns labelled with `tz` (no
/// value changes; a batch costs one pointer copy per column).
pub(crate) fn label(schema: SchemaRef, batches: BatchIter, tz: TimeZone) -> (SchemaRef, BatchIter) {
    let zoned = self::schema(&schema, tz);
    if Arc::ptr_eq(&zoned, &schema) {
        return (schema, batches);
    }
    let out = zoned.clone();
    let relabel = move |batch: RecordBatch| -> crate::Result<RecordBatch> {
        let columns: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| match c.as_primitive_opt::<TimestampMillisecondType>() {
                Some(ts) if is_plain_timestamp(c.data_type()) => {
                    Arc::new(ts.clone().with_timezone(tz.name())) as ArrayRef
                }
                _ => c.clone(),
            })
            .collect();
        Ok(RecordBatch::try_new(out.clone(), columns)?)
    };
    (zoned, Box::new(batches.map(move |b| b.and_then(&relabel))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(zone: &str, ms: i64) -> String {
        let tz: TimeZone = zone.parse().unwrap();
        let mut s = String::new();
        write_local(&mut s, &tz, ms).unwrap();
        s
    }

    #[test]
    fn local_times_carry_postgresql_offsets() {
        // 2024-03-10 12:00:00 UTC.
        let ms = 1_710_072_000_000;
        assert_eq!(local("Europe/Paris", ms), "2024-03-10 13:00:00+01");
        assert_eq!(local("America/New_York", ms), "2024-03-10 08:00:00-04");
        assert_eq!(
            local("Asia/Kolkata", ms + 500),
            "2024-03-10 17:30:00.5+05:30"
        );
        assert_eq!(
            zone_of(&DataType::Timestamp(TimeUnit::Millisecond, None)),
            None
        );
        assert!(zone_of(&DataType::Timestamp(
            TimeUnit::Millisecond,
            Some("Europe/Paris".into())
        ))
        .is_some());
    }
}
