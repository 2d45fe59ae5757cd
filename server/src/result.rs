//! Result writers: a query's Arrow batches, as they arrive, to the bytes of one response format.
//!
//! Each format is one [`ResultFormat`] variant; an [`Encoder`] writes the format's header when it
//! is created, then each batch as it comes ([`Encoder::write_batch`]), then the trailer
//! ([`Encoder::finish`]); the caller drains the encoded bytes with [`Encoder::take`] whenever it
//! wants to send them, so a large result streams through a small buffer. JSON is the default.
//! A writer dispatches on a column's type once per batch ([`ColumnWriter::new`]) and then writes
//! values row by row (JSON rows interleave columns, so row-major output is inherent).

use std::io::Write;
use std::time::Duration;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, ListArray, StringArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::ArrowWriter;
use strata_query::QueryStats;
use strata_storage::sql_type_name;

use crate::error::ApiError;

/// A Parquet row group is closed (and its bytes sent) once its buffered data reaches this size.
const PARQUET_ROW_GROUP_BYTES: usize = 16 << 20;

/// The formats a result can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultFormat {
    /// `{"columns": [...], "rows": [[...]], "stats": {...}, "freshness": {...}}`.
    Json,
    /// CSV with a header row.
    Csv,
    /// One JSON object per row.
    NdJson,
    /// An Arrow IPC stream.
    Arrow,
    /// A Parquet file (zstd-compressed columns).
    Parquet,
}

impl ResultFormat {
    /// Parses the `format` request field (default JSON).
    pub fn parse(s: Option<&str>) -> Result<ResultFormat, ApiError> {
        match s.map(|s| s.to_ascii_lowercase()).as_deref() {
            None | Some("json") => Ok(ResultFormat::Json),
            Some("csv") => Ok(ResultFormat::Csv),
            Some("ndjson") | Some("jsonl") => Ok(ResultFormat::NdJson),
            Some("arrow") | Some("arrows") | Some("ipc") => Ok(ResultFormat::Arrow),
            Some("parquet") => Ok(ResultFormat::Parquet),
            Some(other) => Err(ApiError::BadRequest {
                code: "INVALID_FORMAT",
                message: format!(
                    "unknown result format \"{other}\"; use json, ndjson, csv, arrow or parquet"
                ),
            }),
        }
    }

    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            ResultFormat::Json => "application/json",
            ResultFormat::Csv => "text/csv",
            ResultFormat::NdJson => "application/x-ndjson",
            ResultFormat::Arrow => "application/vnd.apache.arrow.stream",
            ResultFormat::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// How fresh the data a query saw was (reported by the JSON format).
#[derive(Debug, Clone, Default)]
pub struct Freshness {
    /// The newest acknowledged append among the tables read (epoch ms), if any since the
    /// server started.
    pub newest_ingest_ms: Option<i64>,
    /// Per table read (by name): when the newest append its snapshot includes was acknowledged.
    pub tables: Vec<(String, Option<i64>)>,
    /// Whether rows not yet persisted (the live, in-memory segments) were part of the snapshot.
    pub live_rows_included: bool,
}

enum Writer {
    Json { first: bool },
    NdJson { names: Vec<Vec<u8>> },
    Csv,
    Arrow(Box<StreamWriter<Vec<u8>>>),
    Parquet(Box<ArrowWriter<Vec<u8>>>),
}

/// Writes one result in one format, batch by batch, into a buffer the caller drains.
pub struct Encoder {
    out: Vec<u8>,
    writer: Option<Writer>,
}

fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl Encoder {
    /// Starts a result of `schema` in `format` (its header is buffered already).
    pub fn new(format: ResultFormat, schema: &SchemaRef) -> std::io::Result<Encoder> {
        let mut out = Vec::with_capacity(64 << 10);
        let writer = match format {
            ResultFormat::Json => {
                out.extend_from_slice(b"{\"columns\":[");
                for (i, f) in schema.fields().iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"{\"name\":");
                    write_json_str(&mut out, f.name());
                    write!(out, ",\"type\":\"{}\"}}", sql_type_name(f.data_type()))?;
                }
                out.extend_from_slice(b"],\"rows\":[");
                Writer::Json { first: true }
            }
            ResultFormat::NdJson => Writer::NdJson {
                names: schema
                    .fields()
                    .iter()
                    .map(|f| {
                        let mut n = Vec::new();
                        write_json_str(&mut n, f.name());
                        n
                    })
                    .collect(),
            },
            ResultFormat::Csv => {
                let header: Vec<String> = schema
                    .fields()
                    .iter()
                    .map(|f| csv_field(f.name()))
                    .collect();
                out.extend_from_slice(header.join(",").as_bytes());
                out.push(b'\n');
                Writer::Csv
            }
            ResultFormat::Arrow => Writer::Arrow(Box::new(
                StreamWriter::try_new(Vec::new(), schema).map_err(io_error)?,
            )),
            ResultFormat::Parquet => {
                let props = parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                    .build();
                Writer::Parquet(Box::new(
                    ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))
                        .map_err(io_error)?,
                ))
            }
        };
        Ok(Encoder {
            out,
            writer: Some(writer),
        })
    }

    /// Encodes one batch.
    pub fn write_batch(&mut self, batch: &RecordBatch) -> std::io::Result<()> {
        let out = &mut self.out;
        match &mut self.writer {
            Some(Writer::Json { first }) => write_json_rows(out, batch, first),
            Some(Writer::NdJson { names }) => write_ndjson_rows(out, batch, names),
            Some(Writer::Csv) => write_csv_rows(out, batch),
            Some(Writer::Arrow(w)) => {
                w.write(batch).map_err(io_error)?;
                out.append(w.get_mut());
                Ok(())
            }
            Some(Writer::Parquet(w)) => {
                w.write(batch).map_err(io_error)?;
                if w.in_progress_size() >= PARQUET_ROW_GROUP_BYTES {
                    w.flush().map_err(io_error)?;
                }
                out.append(w.inner_mut());
                Ok(())
            }
            None => Err(io_error("the result was finished already")),
        }
    }

    /// How many encoded bytes wait to be taken.
    pub fn buffered(&self) -> usize {
        self.out.len()
    }

    /// The encoded bytes so far; the buffer is empty afterwards.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Ends the result: the JSON trailer with `stats` and `freshness` (or `error`, for a query
    /// that failed after its first bytes were sent), the Arrow end-of-stream marker, the Parquet
    /// footer.
    pub fn finish(
        &mut self,
        stats: &QueryStats,
        elapsed: Duration,
        freshness: &Freshness,
        error: Option<&ApiError>,
    ) -> std::io::Result<()> {
        let out = &mut self.out;
        match self.writer.take() {
            Some(Writer::Json { .. }) => {
                out.push(b']');
                if let Some(e) = error {
                    let (_, code) = e.parts();
                    write!(out, ",\"error\":{{\"code\":")?;
                    write_json_str(out, code);
                    out.extend_from_slice(b",\"message\":");
                    write_json_str(out, &e.to_string());
                    out.push(b'}');
                }
                write!(
                    out,
                    ",\"stats\":{{\"elapsed_ms\":{:.3},\"rows_scanned\":{},\"bytes_scanned\":{},\
                     \"segments_scanned\":{},\"segments_pruned\":{}}}",
                    elapsed.as_secs_f64() * 1000.0,
                    stats.rows_scanned,
                    stats.bytes_scanned,
                    stats.segments_scanned,
                    stats.segments_pruned
                )?;
                out.extend_from_slice(b",\"freshness\":{\"newest_ingest_at\":");
                match freshness.newest_ingest_ms {
                    Some(ms) => write_json_str(out, &format_timestamp_ms(ms)),
                    None => out.extend_from_slice(b"null"),
                }
                out.extend_from_slice(b",\"tables\":{");
                for (i, (table, ms)) in freshness.tables.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_json_str(out, table);
                    out.push(b':');
                    match ms {
                        Some(ms) => write_json_str(out, &format_timestamp_ms(*ms)),
                        None => out.extend_from_slice(b"null"),
                    }
                }
                out.push(b'}');
                writeln!(
                    out,
                    ",\"live_rows_included\":{}}}}}",
                    freshness.live_rows_included
                )?;
                Ok(())
            }
            Some(Writer::Arrow(mut w)) => {
                if error.is_none() {
                    w.finish().map_err(io_error)?;
                }
                out.append(w.get_mut());
                Ok(())
            }
            Some(Writer::Parquet(mut w)) => {
                if error.is_none() {
                    w.finish().map_err(io_error)?;
                }
                out.append(w.inner_mut());
                Ok(())
            }
            Some(Writer::NdJson { .. }) | Some(Writer::Csv) | None => Ok(()),
        }
    }
}

fn write_json_rows(
    out: &mut Vec<u8>,
    batch: &RecordBatch,
    first: &mut bool,
) -> std::io::Result<()> {
    let writers: Vec<ColumnWriter> = batch.columns().iter().map(ColumnWriter::new).collect();
    for row in 0..batch.num_rows() {
        if !*first {
            out.push(b',');
        }
        *first = false;
        out.push(b'[');
        for (i, w) in writers.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            w.write(out, row)?;
        }
        out.push(b']');
    }
    Ok(())
}

fn write_ndjson_rows(
    out: &mut Vec<u8>,
    batch: &RecordBatch,
    names: &[Vec<u8>],
) -> std::io::Result<()> {
    let writers: Vec<ColumnWriter> = batch.columns().iter().map(ColumnWriter::new).collect();
    for row in 0..batch.num_rows() {
        out.push(b'{');
        for (i, (w, name)) in writers.iter().zip(names).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(name);
            out.push(b':');
            w.write(out, row)?;
        }
        out.extend_from_slice(b"}\n");
    }
    Ok(())
}

fn write_csv_rows(out: &mut Vec<u8>, batch: &RecordBatch) -> std::io::Result<()> {
    let options = FormatOptions::default().with_null("");
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_error)?;
    // The elements of list columns, formatted like the columns.
    let element_formatters = batch
        .columns()
        .iter()
        .map(|c| {
            c.as_list_opt::<i32>()
                .map(|l| ArrayFormatter::try_new(l.values().as_ref(), &options))
                .transpose()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_error)?;
    let mut cell = String::new();
    let mut element = String::new();
    for row in 0..batch.num_rows() {
        for (i, (f, col)) in formatters.iter().zip(batch.columns()).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if col.is_null(row) {
                continue;
            }
            cell.clear();
            if let DataType::Timestamp(TimeUnit::Millisecond, None) = col.data_type() {
                let ts = col.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
                cell.push_str(&format_timestamp_ms(ts.value(row)));
            } else if let (Some(list), Some(Some(elements))) =
                (col.as_list_opt::<i32>(), element_formatters.get(i))
            {
                list_text(&mut cell, &mut element, list, elements, row);
            } else if let Some(tz) = strata_query::zoned::zone_of(col.data_type()) {
                let ts = col.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
                cell.push_str(&format_timestamp_ms_in(ts.value(row), &tz));
            } else if let Some(iv) =
                col.as_primitive_opt::<arrow::datatypes::IntervalMonthDayNanoType>()
            {
                let _ = strata_query::interval::write_text(iv.value(row), &mut cell);
            } else {
                use std::fmt::Write as _;
                let _ = write!(cell, "{}", f.value(row));
            }
            out.extend_from_slice(csv_field(&cell).as_bytes());
        }
        out.push(b'\n');
    }
    Ok(())
}

/// Row `row` of `list` as PostgreSQL's array text (`{1,2,NULL}`, elements quoted as
/// PostgreSQL quotes them), the elements in the CSV's display form.
/// `element` is scratch space.
fn list_text(
    cell: &mut String,
    element: &mut String,
    list: &ListArray,
    formatter: &ArrayFormatter<'_>,
    row: usize,
) {
    use std::fmt::Write as _;
    let values = list.values();
    let offsets = list.value_offsets();
    cell.push('{');
    for (i, j) in (offsets[row] as usize..offsets[row + 1] as usize).enumerate() {
        if i > 0 {
            cell.push(',');
        }
        if values.is_null(j) {
            cell.push_str("NULL");
            continue;
        }
        element.clear();
        match values.data_type() {
            DataType::Timestamp(TimeUnit::Millisecond, None) => {
                let ts = values.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
                element.push_str(&format_timestamp_ms(ts.value(j)));
            }
            _ => {
                let _ = write!(element, "{}", formatter.value(j));
            }
        }
        let quote = element.is_empty()
            || element.eq_ignore_ascii_case("null")
            || element.contains(|c: char| "{},\"\\".contains(c) || c.is_ascii_whitespace());
        if quote {
            cell.push('"');
            for c in element.chars() {
                if c == '"' || c == '\\' {
                    cell.push('\\');
                }
                cell.push(c);
            }
            cell.push('"');
        } else {
            cell.push_str(element);
        }
    }
    cell.push('}');
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Formats epoch milliseconds as ISO-8601 UTC: `2024-01-31T12:00:00.000Z`.
pub fn format_timestamp_ms(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => ms.to_string(),
    }
}

/// Formats epoch milliseconds as ISO-8601 local time in `tz` with its offset:
/// `2024-03-10T13:00:00.000+01:00` (the session time zone of the request).
pub fn format_timestamp_ms_in(ms: i64, tz: &strata_query::TimeZone) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t
            .with_timezone(tz)
            .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
            .to_string(),
        None => ms.to_string(),
    }
}

fn format_date(days: i32) -> String {
    chrono::DateTime::from_timestamp(days as i64 * 86_400, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| days.to_string())
}

/// Writes one column's values as JSON, typed once per batch.
enum ColumnWriter<'a> {
    Bool(&'a BooleanArray),
    I8(&'a Int8Array),
    I16(&'a Int16Array),
    I32(&'a Int32Array),
    I64(&'a Int64Array),
    F32(&'a Float32Array),
    F64(&'a Float64Array),
    Str(&'a StringArray),
    Date(&'a Date32Array),
    TsMs(&'a TimestampMillisecondArray),
    Dec(&'a Decimal128Array, i8),
    /// A list (`array_agg`) as a JSON array, its elements written by the inner writer.
    List(&'a ListArray, Box<ColumnWriter<'a>>),
    Null,
    Other(&'a ArrayRef),
}

impl<'a> ColumnWriter<'a> {
    fn new(array: &'a ArrayRef) -> ColumnWriter<'a> {
        let a = array.as_any();
        match array.data_type() {
            DataType::Boolean => a.downcast_ref().map(ColumnWriter::Bool),
            DataType::Int8 => a.downcast_ref().map(ColumnWriter::I8),
            DataType::Int16 => a.downcast_ref().map(ColumnWriter::I16),
            DataType::Int32 => a.downcast_ref().map(ColumnWriter::I32),
            DataType::Int64 => a.downcast_ref().map(ColumnWriter::I64),
            DataType::Float32 => a.downcast_ref().map(ColumnWriter::F32),
            DataType::Float64 => a.downcast_ref().map(ColumnWriter::F64),
            DataType::Utf8 => a.downcast_ref().map(ColumnWriter::Str),
            DataType::Date32 => a.downcast_ref().map(ColumnWriter::Date),
            DataType::Timestamp(TimeUnit::Millisecond, None) => {
                a.downcast_ref().map(ColumnWriter::TsMs)
            }
            DataType::Decimal128(_, scale) => {
                a.downcast_ref().map(|d| ColumnWriter::Dec(d, *scale))
            }
            DataType::Null => Some(ColumnWriter::Null),
            DataType::List(_) => a
                .downcast_ref::<ListArray>()
                .map(|l| ColumnWriter::List(l, Box::new(ColumnWriter::new(l.values())))),
            _ => None,
        }
        .unwrap_or(ColumnWriter::Other(array))
    }

    fn write(&self, out: &mut Vec<u8>, row: usize) -> std::io::Result<()> {
        let null = match self {
            ColumnWriter::Null => true,
            ColumnWriter::Bool(a) => a.is_null(row),
            ColumnWriter::I8(a) => a.is_null(row),
            ColumnWriter::I16(a) => a.is_null(row),
            ColumnWriter::I32(a) => a.is_null(row),
            ColumnWriter::I64(a) => a.is_null(row),
            ColumnWriter::F32(a) => a.is_null(row),
            ColumnWriter::F64(a) => a.is_null(row),
            ColumnWriter::Str(a) => a.is_null(row),
            ColumnWriter::Date(a) => a.is_null(row),
            ColumnWriter::TsMs(a) => a.is_null(row),
            ColumnWriter::Dec(a, _) => a.is_null(row),
            ColumnWriter::List(a, _) => a.is_null(row),
            ColumnWriter::Other(a) => a.is_null(row),
        };
        if null {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        match self {
            ColumnWriter::Null => {}
            ColumnWriter::Bool(a) => {
                out.extend_from_slice(if a.value(row) { b"true" } else { b"false" })
            }
            ColumnWriter::I8(a) => write!(out, "{}", a.value(row))?,
            ColumnWriter::I16(a) => write!(out, "{}", a.value(row))?,
            ColumnWriter::I32(a) => write!(out, "{}", a.value(row))?,
            ColumnWriter::I64(a) => write!(out, "{}", a.value(row))?,
            ColumnWriter::F32(a) => write_float(out, a.value(row) as f64)?,
            ColumnWriter::F64(a) => write_float(out, a.value(row))?,
            ColumnWriter::Str(a) => write_json_str(out, a.value(row)),
            ColumnWriter::Date(a) => write_json_str(out, &format_date(a.value(row))),
            ColumnWriter::TsMs(a) => write_json_str(out, &format_timestamp_ms(a.value(row))),
            // A JSON number with the column's scale, exact as text: `0.07`, `1.50`.
            ColumnWriter::Dec(a, scale) => {
                let mut buf = [0u8; DECIMAL_TEXT_MAX];
                out.extend_from_slice(decimal_text(a.value(row), *scale, &mut buf).as_bytes());
            }
            ColumnWriter::List(a, elements) => {
                let offsets = a.value_offsets();
                out.push(b'[');
                for (i, element) in (offsets[row] as usize..offsets[row + 1] as usize).enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    elements.write(out, element)?;
                }
                out.push(b']');
            }
            ColumnWriter::Other(a) => {
                // A TIMESTAMP under a session time zone: ISO-8601 local time and offset,
                // `2024-03-10T13:00:00.000+01:00`.
                if let Some(tz) = strata_query::zoned::zone_of(a.data_type()) {
                    let ts = a.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
                    write_json_str(out, &format_timestamp_ms_in(ts.value(row), &tz));
                    return Ok(());
                }
                // An INTERVAL as PostgreSQL prints it: `1 day 02:00:00`.
                if let Some(iv) = a.as_primitive_opt::<arrow::datatypes::IntervalMonthDayNanoType>()
                {
                    write_json_str(out, &strata_query::interval::text(iv.value(row)));
                    return Ok(());
                }
                let options = FormatOptions::default();
                let formatter =
                    ArrayFormatter::try_new(a.as_ref(), &options).map_err(std::io::Error::other)?;
                write_json_str(out, &formatter.value(row).to_string());
            }
        }
        Ok(())
    }
}

/// The longest [`decimal_text`]: a sign, 39 digits of an i128 (a DECIMAL holds 38), a point
/// and a leading zero.
pub(crate) const DECIMAL_TEXT_MAX: usize = 48;

/// A DECIMAL's unscaled `value` at `scale` as PostgreSQL prints a NUMERIC: every decimal of the
/// scale (`1.50`), a zero before the point (`0.07`), `-` for negatives; no allocation.
pub(crate) fn decimal_text(value: i128, scale: i8, buf: &mut [u8; DECIMAL_TEXT_MAX]) -> &str {
    let scale = usize::from(scale.max(0).unsigned_abs());
    let mut magnitude = value.unsigned_abs();
    let mut at = buf.len();
    let mut digits = 0usize;
    while (magnitude > 0 || digits <= scale) && at > 2 {
        if digits == scale && scale > 0 {
            at -= 1;
            buf[at] = b'.';
        }
        at -= 1;
        buf[at] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        digits += 1;
    }
    if value < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    std::str::from_utf8(&buf[at..]).unwrap_or("NaN")
}

/// JSON has no NaN or infinities: they are written as the strings PostgreSQL prints.
fn write_float(out: &mut Vec<u8>, v: f64) -> std::io::Result<()> {
    if v.is_finite() {
        write!(out, "{v}")
    } else if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
        Ok(())
    } else if v > 0.0 {
        out.extend_from_slice(b"\"Infinity\"");
        Ok(())
    } else {
        out.extend_from_slice(b"\"-Infinity\"");
        Ok(())
    }
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_print_every_decimal_of_their_scale() {
        let mut buf = [0u8; DECIMAL_TEXT_MAX];
        for (value, scale, text) in [
            (7, 2, "0.07"),
            (150, 2, "1.50"),
            (-125, 2, "-1.25"),
            (-5, 3, "-0.005"),
            (0, 2, "0.00"),
            (0, 0, "0"),
            (42, 0, "42"),
            (i128::MAX, 0, "170141183460469231731687303715884105727"),
            (i128::MIN, 38, "-1.70141183460469231731687303715884105728"),
        ] {
            assert_eq!(decimal_text(value, scale, &mut buf), text);
        }
    }

    #[test]
    fn strings_are_escaped_for_json() {
        let mut out = Vec::new();
        write_json_str(&mut out, "a\"b\\c\n\u{1}é");
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, "a\"b\\c\n\u{1}é");
    }

    #[test]
    fn timestamps_are_iso_8601_utc() {
        assert_eq!(
            format_timestamp_ms(1_704_067_200_123),
            "2024-01-01T00:00:00.123Z"
        );
        assert_eq!(format_date(19723), "2024-01-01");
    }
}
