//! Zone maps: the smallest and largest value and the NULL count of each column over a block of
//! rows, so that a query can skip blocks (and whole segments) its filters cannot match.
//!
//! A block is one batch of an in-memory segment (computed once, when the batch arrives) or one
//! row group of a Parquet segment (read from the file's footer statistics). Only types whose
//! order is unambiguous get values: integers, dates and timestamps (as `Int`), decimals (as
//! `Int` of their unscaled value at the column's scale, when it fits 64 bits; a filter compares
//! a literal of the column's own type with it), strings (bytewise, as SQL's C collation orders
//! them), booleans. Floats carry only NULL counts: NaN sorts above every number in SQL but is
//! absent from Parquet statistics.

use std::cmp::Ordering;
use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Int16Type, Int32Type, Int64Type, TimeUnit,
    TimestampMillisecondType,
};
use arrow::record_batch::RecordBatch;
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;

/// A bound of a zone map.
#[derive(Debug, Clone, PartialEq)]
pub enum StatValue {
    /// Integers, dates (days), timestamps (milliseconds) and decimals (unscaled, at the
    /// column's scale).
    Int(i64),
    /// Strings, ordered bytewise.
    Str(String),
    /// Booleans (false < true).
    Bool(bool),
}

impl StatValue {
    /// Compares two bounds of the same kind; `None` across kinds.
    pub fn partial_cmp_value(&self, other: &StatValue) -> Option<Ordering> {
        match (self, other) {
            (StatValue::Int(a), StatValue::Int(b)) => Some(a.cmp(b)),
            (StatValue::Str(a), StatValue::Str(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (StatValue::Bool(a), StatValue::Bool(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

/// One column over one block.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnZone {
    /// The smallest non-NULL value (`None`: unknown, or no non-NULL value when
    /// `null_count == rows`).
    pub min: Option<StatValue>,
    /// The largest non-NULL value.
    pub max: Option<StatValue>,
    /// NULLs in the block (`None`: unknown).
    pub null_count: Option<u64>,
}

/// The zone map of one block: its row count and a zone per column name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Zone {
    /// Rows in the block.
    pub rows: u64,
    /// Per column (by name); a missing column is unknown.
    pub columns: HashMap<String, ColumnZone>,
}

/// Whether zone maps carry values for `dt`.
fn orderable(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Date32
            | DataType::Timestamp(TimeUnit::Millisecond, None)
            | DataType::Utf8
            | DataType::Boolean
            | DataType::Decimal128(_, _)
    )
}

/// The zone map of a batch (vectorized min/max per column).
pub fn zone_of_batch(batch: &RecordBatch) -> Zone {
    let mut columns = HashMap::with_capacity(batch.num_columns());
    let schema = batch.schema();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let (min, max) = min_max(column);
        columns.insert(
            field.name().clone(),
            ColumnZone {
                min,
                max,
                null_count: Some(column.null_count() as u64),
            },
        );
    }
    Zone {
        rows: batch.num_rows() as u64,
        columns,
    }
}

fn min_max(column: &ArrayRef) -> (Option<StatValue>, Option<StatValue>) {
    use arrow::compute::{max, max_boolean, max_string, min, min_boolean, min_string};
    let int = |v: Option<i64>| v.map(StatValue::Int);
    match column.data_type() {
        DataType::Int16 => {
            let a = column.as_primitive::<Int16Type>();
            (int(min(a).map(i64::from)), int(max(a).map(i64::from)))
        }
        DataType::Int32 => {
            let a = column.as_primitive::<Int32Type>();
            (int(min(a).map(i64::from)), int(max(a).map(i64::from)))
        }
        DataType::Int64 => {
            let a = column.as_primitive::<Int64Type>();
            (int(min(a)), int(max(a)))
        }
        DataType::Date32 => {
            let a = column.as_primitive::<Date32Type>();
            (int(min(a).map(i64::from)), int(max(a).map(i64::from)))
        }
        DataType::Timestamp(TimeUnit::Millisecond, None) => {
            let a = column.as_primitive::<TimestampMillisecondType>();
            (int(min(a)), int(max(a)))
        }
        DataType::Utf8 => {
            let a = column.as_string::<i32>();
            (
                min_string(a).map(|s| StatValue::Str(s.to_string())),
                max_string(a).map(|s| StatValue::Str(s.to_string())),
            )
        }
        DataType::Decimal128(_, _) => {
            let a = column.as_primitive::<Decimal128Type>();
            let fit = |v: Option<i128>| v.and_then(|v| i64::try_from(v).ok()).map(StatValue::Int);
            // A bound that does not fit 64 bits is unknown (both, so that no filter prunes on
            // half a zone).
            match (fit(min(a)), fit(max(a))) {
                (Some(lo), Some(hi)) => (Some(lo), Some(hi)),
                _ => (None, None),
            }
        }
        DataType::Boolean => {
            let a = column.as_boolean();
            (
                min_boolean(a).map(StatValue::Bool),
                max_boolean(a).map(StatValue::Bool),
            )
        }
        _ => (None, None),
    }
}

/// Merges the zone maps of adjacent blocks into one.
pub fn merge_zones(zones: &[Zone]) -> Zone {
    let mut out = Zone::default();
    let Some(first) = zones.first() else {
        return out;
    };
    out.rows = zones.iter().map(|z| z.rows).sum();
    for name in first.columns.keys() {
        let parts: Vec<&ColumnZone> = zones.iter().filter_map(|z| z.columns.get(name)).collect();
        if parts.len() != zones.len() {
            continue;
        }
        let null_count = parts
            .iter()
            .try_fold(0u64, |acc, p| p.null_count.map(|n| acc + n));
        let all_null = |p: &&ColumnZone| p.null_count.is_some() && p.min.is_none();
        let live: Vec<&&ColumnZone> = parts.iter().filter(|p| !all_null(p)).collect();
        let pick = |get: fn(&ColumnZone) -> &Option<StatValue>, want: Ordering| {
            let mut best: Option<StatValue> = None;
            for p in &live {
                let v = get(p).clone()?;
                best = Some(match best {
                    Some(b) if b.partial_cmp_value(&v)? != want => v,
                    Some(b) => b,
                    None => v,
                });
            }
            best
        };
        let min = pick(|c| &c.min, Ordering::Less);
        let max = pick(|c| &c.max, Ordering::Greater);
        out.columns.insert(
            name.clone(),
            ColumnZone {
                min,
                max,
                null_count,
            },
        );
    }
    out
}

/// The zone map of a Parquet row group, from its footer statistics, for the columns of
/// `schema` (the file's Arrow schema; top-level columns map to leaf columns one to one).
pub fn zone_of_row_group(rg: &RowGroupMetaData, schema: &arrow::datatypes::Schema) -> Zone {
    let mut columns = HashMap::new();
    for (i, field) in schema.fields().iter().enumerate() {
        let Some(chunk) = rg.columns().get(i) else {
            continue;
        };
        let Some(stats) = chunk.statistics() else {
            continue;
        };
        let null_count = stats.null_count_opt();
        let (min, max) = if orderable(field.data_type()) {
            parquet_min_max(stats, field.data_type())
        } else {
            (None, None)
        };
        columns.insert(
            field.name().clone(),
            ColumnZone {
                min,
                max,
                null_count,
            },
        );
    }
    Zone {
        rows: rg.num_rows().max(0) as u64,
        columns,
    }
}

fn parquet_min_max(stats: &Statistics, dt: &DataType) -> (Option<StatValue>, Option<StatValue>) {
    match (stats, dt) {
        // Decimals of up to 18 digits are stored as INT32 / INT64 of their unscaled value (the
        // arms below); wider ones as fixed-length byte arrays: no bounds.
        (_, DataType::Decimal128(_, _))
            if !matches!(stats, Statistics::Int32(_) | Statistics::Int64(_)) =>
        {
            (None, None)
        }
        (Statistics::Int32(s), _) => (
            s.min_opt().map(|v| StatValue::Int(i64::from(*v))),
            s.max_opt().map(|v| StatValue::Int(i64::from(*v))),
        ),
        (Statistics::Int64(s), _) => (
            s.min_opt().map(|v| StatValue::Int(*v)),
            s.max_opt().map(|v| StatValue::Int(*v)),
        ),
        (Statistics::Boolean(s), _) => (
            s.min_opt().map(|v| StatValue::Bool(*v)),
            s.max_opt().map(|v| StatValue::Bool(*v)),
        ),
        (Statistics::ByteArray(s), DataType::Utf8) => {
            // A truncated min is a prefix (still a lower bound); a truncated max is rounded up by
            // the writer (still an upper bound). Invalid UTF-8 (a cut character) gives up.
            let text = |b: &parquet::data_type::ByteArray| {
                std::str::from_utf8(b.data())
                    .ok()
                    .map(|s| StatValue::Str(s.to_string()))
            };
            (s.min_opt().and_then(text), s.max_opt().and_then(text))
        }
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn decimal_zones_hold_unscaled_bounds_in_memory_and_in_parquet() {
        let values =
            arrow::array::Decimal128Array::from(vec![Some(-125), None, Some(7), Some(12_345)])
                .with_precision_and_scale(10, 2)
                .unwrap();
        let batch = RecordBatch::try_from_iter(vec![("x", Arc::new(values) as ArrayRef)]).unwrap();
        let zone = zone_of_batch(&batch);
        assert_eq!(zone.columns["x"].min, Some(StatValue::Int(-125)));
        assert_eq!(zone.columns["x"].max, Some(StatValue::Int(12_345)));
        let mut file = Vec::new();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut file, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        let meta = writer.close().unwrap();
        let parquet_zone = zone_of_row_group(meta.row_group(0), &batch.schema());
        assert_eq!(parquet_zone.columns["x"].min, Some(StatValue::Int(-125)));
        assert_eq!(parquet_zone.columns["x"].max, Some(StatValue::Int(12_345)));
        // 38 digits: no bounds in memory (beyond 64 bits) nor in Parquet (byte arrays).
        let wide =
            arrow::array::Decimal128Array::from(vec![Some(i128::from(i64::MAX) * 10), Some(1)])
                .with_precision_and_scale(38, 0)
                .unwrap();
        let batch = RecordBatch::try_from_iter(vec![("w", Arc::new(wide) as ArrayRef)]).unwrap();
        assert_eq!(zone_of_batch(&batch).columns["w"].min, None);
    }

    #[test]
    fn batch_zones_and_merges_bound_every_value() {
        let a = RecordBatch::try_from_iter(vec![
            (
                "n",
                Arc::new(Int64Array::from(vec![Some(5), None, Some(-3)])) as ArrayRef,
            ),
            (
                "s",
                Arc::new(StringArray::from(vec![Some("m"), Some("b"), None])) as ArrayRef,
            ),
        ])
        .unwrap();
        let b = RecordBatch::try_from_iter(vec![
            ("n", Arc::new(Int64Array::from(vec![Some(9)])) as ArrayRef),
            (
                "s",
                Arc::new(StringArray::from(vec![None::<&str>])) as ArrayRef,
            ),
        ])
        .unwrap();
        let za = zone_of_batch(&a);
        assert_eq!(za.columns["n"].min, Some(StatValue::Int(-3)));
        assert_eq!(za.columns["s"].max, Some(StatValue::Str("m".into())));
        let m = merge_zones(&[za, zone_of_batch(&b)]);
        assert_eq!(m.rows, 4);
        assert_eq!(m.columns["n"].min, Some(StatValue::Int(-3)));
        assert_eq!(m.columns["n"].max, Some(StatValue::Int(9)));
        assert_eq!(m.columns["s"].min, Some(StatValue::Str("b".into())));
        assert_eq!(m.columns["s"].null_count, Some(2));
    }
}
