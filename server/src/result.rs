//! Result writers: a query's Arrow batches to the bytes of one response format.
//!
//! Each format is one [`ResultFormat`] variant and one writer function; JSON is the default. A
//! writer dispatches on a column's type once per batch ([`ColumnWriter::new`]) and then writes
//! values row by row (JSON rows interleave columns, so row-major output is inherent).

use std::io::Write;
use std::time::Duration;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float32Array, Float64Array, Int16Array,
    Int32Array, Int64Array, Int8Array, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use strata_query::QueryOutput;
use strata_storage::sql_type_name;

use crate::error::ApiError;

/// The formats a result can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultFormat {
    /// `{"columns": [...], "rows": [[...]], "stats": {...}}`.
    Json,
    /// CSV with a header row.
    Csv,
    /// One JSON object per row.
    NdJson,
}

impl ResultFormat {
    /// Parses the `format` request field (default JSON).
    pub fn parse(s: Option<&str>) -> Result<ResultFormat, ApiError> {
        match s.map(|s| s.to_ascii_lowercase()).as_deref() {
            None | Some("json") => Ok(ResultFormat::Json),
            Some("csv") => Ok(ResultFormat::Csv),
            Some("ndjson") | Some("jsonl") => Ok(ResultFormat::NdJson),
            Some(other) => Err(ApiError::BadRequest {
                code: "INVALID_FORMAT",
                message: format!("unknown result format \"{other}\"; use json, csv or ndjson"),
            }),
        }
    }
}

/// Writes `output` in `format`; returns the content type and the bytes.
pub fn write_result(
    format: ResultFormat,
    output: &QueryOutput,
    elapsed: Duration,
) -> Result<(&'static str, Vec<u8>), ApiError> {
    let mut out = Vec::with_capacity(1024);
    let res = match format {
        ResultFormat::Json => write_json(&mut out, output, elapsed).map(|_| "application/json"),
        ResultFormat::Csv => write_csv(&mut out, output).map(|_| "text/csv"),
        ResultFormat::NdJson => write_ndjson(&mut out, output).map(|_| "application/x-ndjson"),
    };
    res.map(|ct| (ct, out))
        .map_err(|e| ApiError::Internal(format!("writing the result: {e}")))
}

fn write_json(out: &mut Vec<u8>, output: &QueryOutput, elapsed: Duration) -> std::io::Result<()> {
    out.extend_from_slice(b"{\"columns\":[");
    for (i, f) in output.schema.fields().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"name\":");
        write_json_str(out, f.name());
        write!(out, ",\"type\":\"{}\"}}", sql_type_name(f.data_type()))?;
    }
    out.extend_from_slice(b"],\"rows\":[");
    let mut first = true;
    for batch in &output.batches {
        let writers: Vec<ColumnWriter> = batch.columns().iter().map(ColumnWriter::new).collect();
        for row in 0..batch.num_rows() {
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'[');
            for (i, w) in writers.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                w.write(out, row)?;
            }
            out.push(b']');
        }
    }
    writeln!(
        out,
        "],\"stats\":{{\"elapsed_ms\":{:.3},\"rows_scanned\":{},\"segments_scanned\":{},\
         \"segments_pruned\":{}}}}}",
        elapsed.as_secs_f64() * 1000.0,
        output.stats.rows_scanned,
        output.stats.segments_scanned,
        output.stats.segments_pruned
    )?;
    Ok(())
}

fn write_ndjson(out: &mut Vec<u8>, output: &QueryOutput) -> std::io::Result<()> {
    let names: Vec<Vec<u8>> = output
        .schema
        .fields()
        .iter()
        .map(|f| {
            let mut n = Vec::new();
            write_json_str(&mut n, f.name());
            n
        })
        .collect();
    for batch in &output.batches {
        let writers: Vec<ColumnWriter> = batch.columns().iter().map(ColumnWriter::new).collect();
        for row in 0..batch.num_rows() {
            out.push(b'{');
            for (i, w) in writers.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&names[i]);
                out.push(b':');
                w.write(out, row)?;
            }
            out.extend_from_slice(b"}\n");
        }
    }
    Ok(())
}

fn write_csv(out: &mut Vec<u8>, output: &QueryOutput) -> std::io::Result<()> {
    let header: Vec<String> = output
        .schema
        .fields()
        .iter()
        .map(|f| csv_field(f.name()))
        .collect();
    out.extend_from_slice(header.join(",").as_bytes());
    out.push(b'\n');
    let options = FormatOptions::default().with_null("");
    for batch in &output.batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(std::io::Error::other)?;
        let mut cell = String::new();
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
                } else {
                    use std::fmt::Write as _;
                    let _ = write!(cell, "{}", f.value(row));
                }
                out.extend_from_slice(csv_field(&cell).as_bytes());
            }
            out.push(b'\n');
        }
    }
    Ok(())
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
            DataType::Null => Some(ColumnWriter::Null),
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
            ColumnWriter::Other(a) => {
                let options = FormatOptions::default();
                let formatter =
                    ArrayFormatter::try_new(a.as_ref(), &options).map_err(std::io::Error::other)?;
                write_json_str(out, &formatter.value(row).to_string());
            }
        }
        Ok(())
    }
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
