//! Arrow record batches as PostgreSQL `DataRow`s, in text or binary format, and the type OID of
//! every Strata type.
//!
//! | Strata | Arrow | PostgreSQL (OID) | binary format |
//! |---|---|---|---|
//! | BOOLEAN | Boolean | bool (16) | 1 byte |
//! | SMALLINT | Int16 (Int8 widened) | int2 (21) | big-endian i16 |
//! | INTEGER | Int32 | int4 (23) | big-endian i32 |
//! | BIGINT | Int64 | int8 (20) | big-endian i64 |
//! | REAL | Float32 | float4 (700) | IEEE 754 |
//! | DOUBLE | Float64 | float8 (701) | IEEE 754 |
//! | VARCHAR | Utf8 | varchar (1043) | UTF-8 bytes |
//! | DATE | Date32 | date (1082) | days since 2000-01-01 |
//! | TIMESTAMP | Timestamp(ms) | timestamp (1114) | microseconds since 2000-01-01 |
//! | DECIMAL(p, s) | Decimal128(p, s) | numeric (1700) | base-10000 digits, weight, sign, scale |
//! | TIMESTAMP under a session `TimeZone` | Timestamp(ms, zone) | timestamptz (1184): `2024-03-10 13:00:00+01` | microseconds since 2000-01-01 UTC |
//! | INTERVAL | Interval(MonthDayNano) | interval (1186) | i64 microseconds, i32 days, i32 months |
//! | NULL | Null | text (25) | always NULL |
//! | T[] (`array_agg`) | List(T) | T's array type (`_int8` 1016, `_varchar` 1015, ...) | PostgreSQL's array format |
//!
//! Any other Arrow type a function may produce is sent as `text` in Arrow's display form.
//!
//! Rows are built column by column: the data type is matched once per column and batch, then a
//! monomorphic loop appends every row's value to that row's buffer.

use std::fmt::Write as _;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float32Array, Float64Array, Int16Array,
    Int32Array, Int64Array, Int8Array, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, IntervalUnit, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use bytes::{BufMut, BytesMut};
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::api::Type;
use pgwire::messages::data::DataRow;

use crate::result::{decimal_text, DECIMAL_TEXT_MAX};

/// Milliseconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
pub const PG_EPOCH_MS: i64 = 946_684_800_000;
/// Days from 1970-01-01 to 2000-01-01.
pub const PG_EPOCH_DAYS: i32 = 10_957;

/// The PostgreSQL type of an Arrow column type.
pub fn pg_type(dt: &DataType) -> Type {
    match dt {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 => Type::INT2,
        DataType::Int32 => Type::INT4,
        DataType::Int64 => Type::INT8,
        DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Utf8 | DataType::LargeUtf8 => Type::VARCHAR,
        DataType::Date32 => Type::DATE,
        DataType::Timestamp(TimeUnit::Millisecond, None) => Type::TIMESTAMP,
        DataType::Timestamp(TimeUnit::Millisecond, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Decimal128(_, _) => Type::NUMERIC,
        DataType::List(element) => match pg_type(element.data_type()) {
            Type::BOOL => Type::BOOL_ARRAY,
            Type::INT2 => Type::INT2_ARRAY,
            Type::INT4 => Type::INT4_ARRAY,
            Type::INT8 => Type::INT8_ARRAY,
            Type::FLOAT4 => Type::FLOAT4_ARRAY,
            Type::FLOAT8 => Type::FLOAT8_ARRAY,
            Type::VARCHAR => Type::VARCHAR_ARRAY,
            Type::DATE => Type::DATE_ARRAY,
            Type::TIMESTAMP => Type::TIMESTAMP_ARRAY,
            Type::NUMERIC => Type::NUMERIC_ARRAY,
            // Lists of other types travel as their array text.
            _ => Type::TEXT,
        },
        DataType::Interval(IntervalUnit::MonthDayNano) => Type::INTERVAL,
        // Everything else is sent as text in Arrow's display form (see `encode_column`).
        _ => Type::TEXT,
    }
}

/// The row description of `schema`, with each column's format from `format_of(index)`.
pub fn fields(schema: &SchemaRef, format_of: impl Fn(usize) -> FieldFormat) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let ty = pg_type(f.data_type());
            let size = type_size(&ty);
            FieldInfo::new(f.name().clone(), None, None, ty, format_of(i)).with_type_size(size)
        })
        .collect()
}

/// `pg_type.typlen` of the types [`pg_type`] answers.
pub fn type_size(ty: &Type) -> i16 {
    match *ty {
        Type::BOOL => 1,
        Type::INT2 => 2,
        Type::INT4 | Type::FLOAT4 | Type::DATE => 4,
        Type::INT8 | Type::FLOAT8 | Type::TIMESTAMP | Type::TIMESTAMPTZ => 8,
        Type::INTERVAL => 16,
        _ => -1,
    }
}

/// Encodes every row of `batch`; `formats[i]` is column i's format.
pub fn encode_batch(batch: &RecordBatch, formats: &[FieldFormat]) -> Vec<DataRow> {
    let rows = batch.num_rows();
    let mut buffers: Vec<BytesMut> = (0..rows).map(|_| BytesMut::with_capacity(64)).collect();
    for (i, column) in batch.columns().iter().enumerate() {
        let binary = formats.get(i) == Some(&FieldFormat::Binary);
        encode_column(column, binary, &mut buffers);
    }
    let count = batch.num_columns() as i16;
    buffers
        .into_iter()
        .map(|data| DataRow::new(data, count))
        .collect()
}

/// Appends `values(row)` (length-prefixed, -1 for NULL) to every row's buffer.
fn append<A: Array + ?Sized>(
    array: &A,
    rows: &mut [BytesMut],
    mut value: impl FnMut(&A, usize, &mut BytesMut),
) {
    for (row, out) in rows.iter_mut().enumerate() {
        if array.is_null(row) {
            out.put_i32(-1);
            continue;
        }
        let at = out.len();
        out.put_i32(0);
        value(array, row, out);
        let len = (out.len() - at - 4) as i32;
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
}

fn encode_column(column: &ArrayRef, binary: bool, rows: &mut [BytesMut]) {
    match column.data_type() {
        DataType::Boolean => {
            let a = column.as_boolean();
            append::<BooleanArray>(a, rows, |a, i, out| {
                let v = a.value(i);
                if binary {
                    out.put_u8(v as u8);
                } else {
                    out.put_u8(if v { b't' } else { b'f' });
                }
            })
        }
        DataType::Int8 => {
            let a = column.as_primitive::<arrow::datatypes::Int8Type>();
            append::<Int8Array>(a, rows, |a, i, out| {
                if binary {
                    out.put_i16(a.value(i) as i16);
                } else {
                    let _ = write!(out, "{}", a.value(i));
                }
            })
        }
        DataType::Int16 => {
            let a = column.as_primitive::<arrow::datatypes::Int16Type>();
            append::<Int16Array>(a, rows, |a, i, out| {
                if binary {
                    out.put_i16(a.value(i));
                } else {
                    let _ = write!(out, "{}", a.value(i));
                }
            })
        }
        DataType::Int32 => {
            let a = column.as_primitive::<arrow::datatypes::Int32Type>();
            append::<Int32Array>(a, rows, |a, i, out| {
                if binary {
                    out.put_i32(a.value(i));
                } else {
                    let _ = write!(out, "{}", a.value(i));
                }
            })
        }
        DataType::Int64 => {
            let a = column.as_primitive::<arrow::datatypes::Int64Type>();
            append::<Int64Array>(a, rows, |a, i, out| {
                if binary {
                    out.put_i64(a.value(i));
                } else {
                    let _ = write!(out, "{}", a.value(i));
                }
            })
        }
        DataType::Float32 => {
            let a = column.as_primitive::<arrow::datatypes::Float32Type>();
            append::<Float32Array>(a, rows, |a, i, out| {
                if binary {
                    out.put_f32(a.value(i));
                } else {
                    write_float(out, a.value(i));
                }
            })
        }
        DataType::Float64 => {
            let a = column.as_primitive::<arrow::datatypes::Float64Type>();
            append::<Float64Array>(a, rows, |a, i, out| {
                if binary {
                    out.put_f64(a.value(i));
                } else {
                    write_float(out, a.value(i));
                }
            })
        }
        DataType::Utf8 => {
            let a = column.as_string::<i32>();
            append(a, rows, |a, i, out| out.put_slice(a.value(i).as_bytes()))
        }
        DataType::LargeUtf8 => {
            let a = column.as_string::<i64>();
            append(a, rows, |a, i, out| out.put_slice(a.value(i).as_bytes()))
        }
        DataType::Date32 => {
            let a = column.as_primitive::<arrow::datatypes::Date32Type>();
            append::<Date32Array>(a, rows, |a, i, out| {
                let days = a.value(i);
                if binary {
                    out.put_i32(days.saturating_sub(PG_EPOCH_DAYS));
                } else {
                    write_date(out, days);
                }
            })
        }
        DataType::Timestamp(TimeUnit::Millisecond, None) => {
            let a = column.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
            append::<TimestampMillisecondArray>(a, rows, |a, i, out| {
                let ms = a.value(i);
                if binary {
                    out.put_i64(ms.saturating_sub(PG_EPOCH_MS).saturating_mul(1000));
                } else {
                    write_timestamp_ms(out, ms);
                }
            })
        }
        DataType::Timestamp(TimeUnit::Millisecond, Some(_)) => {
            let a = column.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
            let zone = strata_query::zoned::zone_of(column.data_type());
            append::<TimestampMillisecondArray>(a, rows, |a, i, out| {
                let ms = a.value(i);
                match zone {
                    Some(tz) if !binary => {
                        let _ = strata_query::zoned::write_local(out, &tz, ms);
                    }
                    _ if !binary => write_timestamp_ms(out, ms),
                    _ => out.put_i64(ms.saturating_sub(PG_EPOCH_MS).saturating_mul(1000)),
                }
            })
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let a = column.as_primitive::<arrow::datatypes::IntervalMonthDayNanoType>();
            append(a, rows, |a, i, out| {
                let v = a.value(i);
                if binary {
                    out.put_i64(v.nanoseconds / 1_000);
                    out.put_i32(v.days);
                    out.put_i32(v.months);
                } else {
                    let _ = strata_query::interval::write_text(v, out);
                }
            })
        }
        DataType::Decimal128(_, scale) => {
            let a = column.as_primitive::<arrow::datatypes::Decimal128Type>();
            let scale = *scale;
            append(a, rows, |a, i, out| {
                let mut buf = [0u8; DECIMAL_TEXT_MAX];
                let text = decimal_text(a.value(i), scale, &mut buf);
                if binary {
                    put_numeric(out, text, scale);
                } else {
                    out.put_slice(text.as_bytes());
                }
            })
        }
        DataType::Null => {
            for out in rows.iter_mut() {
                out.put_i32(-1);
            }
        }
        DataType::List(element) => {
            let list = column.as_list::<i32>();
            let values = list.values();
            // Every element encoded once, length-prefixed (-1: NULL), in the list's format.
            let element_type = pg_type(element.data_type());
            let binary = binary && pg_type(column.data_type()) != Type::TEXT;
            let mut elements: Vec<BytesMut> = (0..values.len()).map(|_| BytesMut::new()).collect();
            encode_column(values, binary, &mut elements);
            let offsets = list.value_offsets();
            append(list, rows, |_, row, out| {
                let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                let items = elements.get(start..end).unwrap_or_default();
                if binary {
                    put_binary_array(out, items, element_type.oid());
                } else {
                    put_array_text(out, items);
                }
            })
        }
        _ => {
            // Anything else travels as text (declared `text` by `pg_type`).
            let formatter = arrow::util::display::ArrayFormatter::try_new(
                column.as_ref(),
                &arrow::util::display::FormatOptions::default(),
            );
            match formatter {
                Ok(f) => append(column.as_ref(), rows, |_, i, out| {
                    let _ = write!(out, "{}", f.value(i));
                }),
                Err(_) => {
                    for out in rows.iter_mut() {
                        out.put_i32(-1);
                    }
                }
            }
        }
    }
}

/// The value of a length-prefixed element (`None`: NULL).
fn element_value(item: &[u8]) -> Option<&[u8]> {
    let len = i32::from_be_bytes(item.get(..4)?.try_into().ok()?);
    if len < 0 {
        None
    } else {
        item.get(4..)
    }
}

/// An array in PostgreSQL's text format: `{1,2,NULL}`, an element in double quotes (with `"`
/// and `\` escaped) when it is empty, `NULL`, or holds `{},"\` or white space.
fn put_array_text(out: &mut BytesMut, items: &[BytesMut]) {
    out.put_u8(b'{');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        let Some(value) = element_value(item) else {
            out.put_slice(b"NULL");
            continue;
        };
        let quote = value.is_empty()
            || value.eq_ignore_ascii_case(b"null")
            || value.iter().any(|b| b"{},\"\\ \t\n\r\x0b\x0c".contains(b));
        if !quote {
            out.put_slice(value);
            continue;
        }
        out.put_u8(b'"');
        for &b in value {
            if b == b'"' || b == b'\\' {
                out.put_u8(b'\\');
            }
            out.put_u8(b);
        }
        out.put_u8(b'"');
    }
    out.put_u8(b'}');
}

/// A one-dimensional array in PostgreSQL's binary format: dimensions, NULL flag, element type,
/// then the length and lower bound (1) of the dimension and the length-prefixed elements; an
/// empty array has no dimension.
fn put_binary_array(out: &mut BytesMut, items: &[BytesMut], element_oid: u32) {
    let has_null = items.iter().any(|item| element_value(item).is_none());
    out.put_i32(i32::from(!items.is_empty()));
    out.put_i32(i32::from(has_null));
    out.put_u32(element_oid);
    if items.is_empty() {
        return;
    }
    out.put_i32(items.len() as i32);
    out.put_i32(1);
    for item in items {
        out.put_slice(item);
    }
}

/// A NUMERIC in PostgreSQL's binary format from its text (`-12.50`): the count of base-10000
/// digits, the weight of the first (in powers of 10000), the sign (0 or 0x4000), the display
/// scale, then the digits, leading and trailing zero digits left out.
fn put_numeric(out: &mut BytesMut, text: &str, scale: i8) {
    let negative = text.starts_with('-');
    let unsigned = text.trim_start_matches('-');
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let int = int.trim_start_matches('0');
    // Base-10000 digits of the integer part (grouped from the point leftwards) and of the
    // fraction (from the point rightwards), at most 12 of each for 38 decimal digits.
    let mut digits = [0i16; 24];
    let mut count = 0usize;
    let lead = int.len() % 4;
    let int_groups = int.len().div_ceil(4);
    let mut start = 0usize;
    for g in 0..int_groups {
        let end = if g == 0 && lead > 0 { lead } else { start + 4 };
        digits[count] = int[start..end].parse().unwrap_or(0);
        count += 1;
        start = end;
    }
    let mut weight = int_groups as i16 - 1;
    let frac_bytes = frac.as_bytes();
    for chunk in frac_bytes.chunks(4) {
        let mut group = 0i16;
        for k in 0..4 {
            group = group * 10 + chunk.get(k).map_or(0, |b| i16::from(b - b'0'));
        }
        digits[count] = group;
        count += 1;
    }
    // Drop leading zero digits (a fraction below 0.0001 has them) and trailing ones.
    let mut first = 0usize;
    while first < count && digits[first] == 0 {
        first += 1;
        weight -= 1;
    }
    while count > first && digits[count - 1] == 0 {
        count -= 1;
    }
    if first == count {
        weight = 0;
    }
    out.put_i16((count - first) as i16);
    out.put_i16(weight);
    out.put_u16(if negative && first < count { 0x4000 } else { 0 });
    out.put_u16(scale.max(0) as u16);
    for d in &digits[first..count] {
        out.put_i16(*d);
    }
}

/// A float as PostgreSQL's `float4out` / `float8out` write it (`extra_float_digits` 1, the
/// default): `NaN`, `Infinity`, `-Infinity`; else the shortest digits that round-trip, in
/// fixed notation when the decimal exponent is in -4 ..= 14 (float8) or -4 ..= 5 (float4), as
/// `1.5e+20` / `1e-05` otherwise (at least two exponent digits).
fn write_float<F: std::fmt::Display + std::fmt::LowerExp + Into<f64> + Copy>(
    out: &mut BytesMut,
    value: F,
) {
    let v: f64 = value.into();
    if v.is_nan() {
        out.put_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        out.put_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
        return;
    }
    // Fixed notation for a decimal exponent in -4 ..= 14 (float4: ..= 5), i.e. for a magnitude
    // in [1e-4, 1e15) (float4: [1e-4, 1e6)): the bounds are the floats nearest those powers of
    // ten, so the shortest digits of a value inside them never reach the next exponent. Checked
    // without formatting, so the common case allocates nothing.
    let (low, high) = if std::mem::size_of::<F>() == 4 {
        (f64::from(1e-4_f32), 1e6)
    } else {
        (1e-4, 1e15)
    };
    let magnitude = v.abs();
    if v == 0.0 || (low..high).contains(&magnitude) {
        let _ = write!(out, "{value}");
        return;
    }
    // The shortest round-trip digits of F's own precision, as `d.ddde<exp>`.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .map(|(m, e)| (m, e.parse::<i32>().unwrap_or(0)))
        .unwrap_or((scientific.as_str(), 0));
    let sign = if exponent < 0 { '-' } else { '+' };
    let _ = write!(out, "{mantissa}e{sign}{:02}", exponent.abs());
}

fn write_date(out: &mut BytesMut, days: i32) {
    match chrono::DateTime::from_timestamp(days as i64 * 86_400, 0) {
        Some(t) => {
            let _ = write!(out, "{}", t.format("%Y-%m-%d"));
        }
        None => {
            let _ = write!(out, "{days}");
        }
    }
}

/// `2024-01-02 03:04:05` with PostgreSQL's fractional seconds (`.5`, `.123`: trailing zeros
/// trimmed, none when whole).
pub fn write_timestamp_ms(out: &mut BytesMut, ms: i64) {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => {
            let _ = write!(out, "{}", t.format("%Y-%m-%d %H:%M:%S"));
            let frac = ms.rem_euclid(1000);
            if frac != 0 {
                let digits = format!("{frac:03}");
                let _ = write!(out, ".{}", digits.trim_end_matches('0'));
            }
        }
        None => {
            let _ = write!(out, "{ms}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn numeric(text: &str, scale: i8) -> Vec<i16> {
        let mut out = BytesMut::new();
        put_numeric(&mut out, text, scale);
        out.chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn numerics_in_binary_are_base_10000_digits() {
        // ndigits, weight, sign, dscale, digits...
        assert_eq!(numeric("12345.6789", 4), vec![3, 1, 0, 4, 1, 2345, 6789]);
        assert_eq!(numeric("-0.07", 2), vec![1, -1, 0x4000, 2, 700]);
        assert_eq!(numeric("0.00", 2), vec![0, 0, 0, 2]);
        assert_eq!(numeric("10000", 0), vec![1, 1, 0, 0, 1]);
        assert_eq!(numeric("0.00001", 5), vec![1, -2, 0, 5, 1000]);
    }

    #[test]
    fn decimals_go_out_as_numeric_text() {
        let a: ArrayRef = Arc::new(
            arrow::array::Decimal128Array::from(vec![Some(7), None, Some(-150)])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        );
        assert_eq!(pg_type(a.data_type()), Type::NUMERIC);
        let mut rows = vec![BytesMut::new(), BytesMut::new(), BytesMut::new()];
        encode_column(&a, false, &mut rows);
        assert_eq!(&rows[0][4..], b"0.07");
        assert_eq!(&rows[1][..], &(-1i32).to_be_bytes());
        assert_eq!(&rows[2][4..], b"-1.50");
    }

    #[test]
    fn floats_print_like_postgresql() {
        // What PostgreSQL 15 prints for these values (float8, then float4).
        let f8 = [
            1e20,
            1.5,
            -0.1,
            0.0001,
            0.00001,
            123456789012345.0,
            1234567890123456.0,
            1e15,
            -1.25e-7,
            0.0,
            -0.0,
            1e100,
            2.5e-300,
            999999999999999.9,
            0.00009999,
        ];
        let mut out = BytesMut::new();
        for v in f8 {
            write_float(&mut out, v);
            out.put_u8(b' ');
        }
        assert_eq!(
            std::str::from_utf8(&out).unwrap().trim_end(),
            "1e+20 1.5 -0.1 0.0001 1e-05 123456789012345 1.234567890123456e+15 1e+15 -1.25e-07 0 -0 1e+100 2.5e-300 999999999999999.9 9.999e-05"
        );
        let f4: [f32; 12] = [
            1e20,
            1.5,
            -0.1,
            0.0001,
            0.00001,
            123456.0,
            1234567.0,
            1e6,
            100000.0,
            3.4e38,
            999999.94,
            0.000099999,
        ];
        let mut out = BytesMut::new();
        for v in f4 {
            write_float(&mut out, v);
            out.put_u8(b' ');
        }
        assert_eq!(
            std::str::from_utf8(&out).unwrap().trim_end(),
            "1e+20 1.5 -0.1 0.0001 1e-05 123456 1.234567e+06 1e+06 100000 3.4e+38 999999.94 9.9999e-05"
        );
    }

    #[test]
    fn timestamps_print_like_postgresql() {
        let mut out = BytesMut::new();
        write_timestamp_ms(&mut out, 1_704_067_200_500);
        assert_eq!(&out[..], b"2024-01-01 00:00:00.5");
        let mut out = BytesMut::new();
        write_timestamp_ms(&mut out, 1_704_067_200_000);
        assert_eq!(&out[..], b"2024-01-01 00:00:00");
    }

    #[test]
    fn rows_are_length_prefixed_with_null_as_minus_one() {
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("a", DataType::Int32, true),
            arrow::datatypes::Field::new("b", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(vec![Some(7), None])),
                Arc::new(arrow::array::StringArray::from(vec![None, Some("xy")])),
            ],
        )
        .unwrap();
        let rows = encode_batch(&batch, &[FieldFormat::Text, FieldFormat::Binary]);
        assert_eq!(&rows[0].data[..], b"\0\0\0\x017\xff\xff\xff\xff");
        assert_eq!(&rows[1].data[..], b"\xff\xff\xff\xff\0\0\0\x02xy");
        let rows = encode_batch(&batch, &[FieldFormat::Binary, FieldFormat::Text]);
        assert_eq!(&rows[0].data[..8], b"\0\0\0\x04\0\0\0\x07");
    }
}
