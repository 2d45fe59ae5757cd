//! Newline-delimited JSON to Arrow.
//!
//! The fast path hands the whole body to arrow-json's tape decoder against the table's schema.
//! When it fails (a new field, a bad value, a table that does not exist yet), the slow path reads
//! the body line by line with `serde_json`: it infers the types of new fields and finds the exact
//! line and column of a bad value. Only then is the body decoded for real, with the extended
//! schema. Bad input pays for the slow path; good input does not.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::Array;
use arrow::compute::concat_batches;
use arrow::compute::kernels::cast_utils::Parser;
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Schema, SchemaRef, TimestampMillisecondType,
};
use arrow::json::ReaderBuilder;
use arrow::record_batch::RecordBatch;
use serde_json::Value;
use strata_storage::sql_type_name;
use strata_storage::types::TIMESTAMP_TYPE;

use crate::{Decoded, Error, Limits, Result};

/// Rows per batch inside the decoder; the batches are concatenated into one at the end.
const DECODE_BATCH_ROWS: usize = 16 * 1024;

pub(crate) fn decode(body: &[u8], schema: Option<&SchemaRef>, limits: &Limits) -> Result<Decoded> {
    crate::limits::check_ndjson_depth(limits, body)?;
    if let Some(schema) = schema {
        let decode_schema = all_nullable(schema.fields().iter().map(|f| f.as_ref().clone()));
        if let Ok(batch) = decode_body(body, &decode_schema, true) {
            check_not_null(body, &batch, schema)?;
            return Ok(Decoded {
                batch,
                time_column: None,
            });
        }
    }
    slow_path(body, schema, limits)
}

fn all_nullable(fields: impl Iterator<Item = Field>) -> SchemaRef {
    Arc::new(Schema::new(
        fields.map(|f| f.with_nullable(true)).collect::<Vec<_>>(),
    ))
}

fn decode_body(
    body: &[u8],
    schema: &SchemaRef,
    strict: bool,
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(DECODE_BATCH_ROWS)
        .with_strict_mode(strict)
        .with_coerce_primitive(true)
        .build_decoder()?;
    let mut batches = Vec::new();
    let mut buf = body;
    loop {
        let consumed = decoder.decode(buf)?;
        buf = &buf[consumed..];
        if consumed == 0 || decoder.len() >= DECODE_BATCH_ROWS {
            match decoder.flush()? {
                Some(b) => batches.push(b),
                None if buf.is_empty() => break,
                None => {}
            }
        }
    }
    concat_batches(schema, &batches)
}

/// The non-blank lines of `body`: (1-based line number, bytes).
fn lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    body.split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.iter().all(|b| b.is_ascii_whitespace()))
}

/// The JSON kind of a value, for inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Float,
    String,
}

struct NewColumn {
    name: String,
    kind: Option<Kind>,
    timestamp_like: bool,
}

fn slow_path(body: &[u8], schema: Option<&SchemaRef>, limits: &Limits) -> Result<Decoded> {
    let known: Vec<Field> = schema
        .map(|s| s.fields().iter().map(|f| f.as_ref().clone()).collect())
        .unwrap_or_default();
    // The table's columns by exact spelling, then case-insensitively (the first one wins): one
    // hash lookup per field, so a line with many fields costs linear time.
    let exact: HashMap<&str, &Field> = known.iter().map(|f| (f.name().as_str(), f)).collect();
    let mut folded: HashMap<String, &Field> = HashMap::with_capacity(known.len());
    for f in known.iter().rev() {
        folded.insert(f.name().to_ascii_lowercase(), f);
    }
    // Spelling in the body -> type to decode it as (known columns) or index into `new`.
    let mut spelled: HashMap<String, DataType> = HashMap::new();
    let mut new: Vec<NewColumn> = Vec::new();
    let mut new_index: HashMap<String, usize> = HashMap::new();
    // The body with each nested object or array written as a JSON string (what arrow-json stores
    // in a VARCHAR column), once a line has one; until then, the body as it is.
    let mut flattened: Option<Vec<u8>> = None;
    for (line, bytes) in lines(body) {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| Error::Json {
            line,
            column: None,
            reason: format!("invalid JSON: {e}"),
        })?;
        let Value::Object(object) = value else {
            return Err(Error::Json {
                line,
                column: None,
                reason: format!("expected a JSON object, got {}", kind_name(&value)),
            });
        };
        crate::limits::check_fields(limits, object.len(), Some(line))?;
        let has_nested = object
            .values()
            .any(|v| matches!(v, Value::Array(_) | Value::Object(_)));
        if has_nested || flattened.is_some() {
            let out = flattened.get_or_insert_with(|| {
                let start = (bytes.as_ptr() as usize).saturating_sub(body.as_ptr() as usize);
                body.get(..start).unwrap_or_default().to_vec()
            });
            if has_nested {
                nested_as_text(bytes, out).map_err(|reason| Error::Json {
                    line,
                    column: None,
                    reason,
                })?;
            } else {
                out.extend_from_slice(bytes);
            }
            out.push(b'\n');
        }
        for (key, value) in &object {
            let field = exact
                .get(key.as_str())
                .or_else(|| folded.get(&key.to_ascii_lowercase()))
                .copied();
            if let Some(field) = field {
                check_value(value, field.data_type()).map_err(|reason| Error::Json {
                    line,
                    column: Some(field.name().clone()),
                    reason,
                })?;
                spelled
                    .entry(key.clone())
                    .or_insert_with(|| field.data_type().clone());
                continue;
            }
            let idx = *new_index
                .entry(key.to_ascii_lowercase())
                .or_insert_with(|| {
                    new.push(NewColumn {
                        name: key.clone(),
                        kind: None,
                        timestamp_like: true,
                    });
                    new.len() - 1
                });
            let col = &mut new[idx];
            if col.name != *key {
                return Err(Error::Json {
                    line,
                    column: Some(key.clone()),
                    reason: format!(
                        "field \"{key}\" differs only in case from field \"{}\" on an earlier \
                         line; column names are case-insensitive, spell them one way",
                        col.name
                    ),
                });
            }
            let kind = match value {
                Value::Null => continue,
                Value::Bool(_) => Kind::Bool,
                Value::Number(n) if n.is_i64() || n.is_u64() => Kind::Int,
                Value::Number(_) => Kind::Float,
                // Nested values are kept as their JSON text.
                Value::String(_) | Value::Array(_) | Value::Object(_) => Kind::String,
            };
            col.timestamp_like &= match value {
                Value::Number(n) => n.is_i64(),
                Value::String(s) => TimestampMillisecondType::parse(s).is_some(),
                _ => false,
            };
            col.kind = Some(match (col.kind, kind) {
                (None, k) => k,
                (Some(a), b) if a == b => a,
                (Some(Kind::Int), Kind::Float) | (Some(Kind::Float), Kind::Int) => Kind::Float,
                _ => Kind::String,
            });
        }
    }
    // New columns: the time column of a new table, then inferred types. Columns that held only
    // nulls are left out: their type is unknown, and nothing is lost.
    let mut time_column = None;
    let mut fields: Vec<Field> = spelled
        .iter()
        .map(|(name, dt)| Field::new(name, dt.clone(), true))
        .collect();
    if schema.is_none() {
        for wanted in crate::TIME_COLUMN_NAMES {
            if let Some(col) = new.iter().find(|c| c.name.eq_ignore_ascii_case(wanted)) {
                if col.kind.is_some() && col.timestamp_like {
                    time_column = Some(col.name.clone());
                    break;
                }
            }
        }
    }
    for col in &new {
        let dt = if Some(&col.name) == time_column.as_ref() {
            TIMESTAMP_TYPE
        } else {
            match col.kind {
                None => continue,
                Some(Kind::Bool) => DataType::Boolean,
                Some(Kind::Int) => DataType::Int64,
                Some(Kind::Float) => DataType::Float64,
                Some(Kind::String) => DataType::Utf8,
            }
        };
        fields.push(Field::new(&col.name, dt, true));
    }
    if fields.is_empty() {
        return Err(Error::Json {
            line: 1,
            column: None,
            reason: "no field has a non-null value, so no column can be created; send at least \
                     one field with a value"
                .to_string(),
        });
    }
    let decode_schema = all_nullable(fields.into_iter());
    let body: &[u8] = flattened.as_deref().unwrap_or(body);
    let batch = match decode_body(body, &decode_schema, false) {
        Ok(batch) => batch,
        Err(e) => return Err(locate(body, &decode_schema, e)),
    };
    // The NOT NULL columns: the table's, or the new time column.
    let mut required: Vec<Field> = known.into_iter().filter(|f| !f.is_nullable()).collect();
    if let Some(tc) = &time_column {
        required.push(Field::new(tc, TIMESTAMP_TYPE, false));
    }
    check_not_null(body, &batch, &Arc::new(Schema::new(required)))?;
    Ok(Decoded { batch, time_column })
}

fn nested() -> String {
    "a nested object or array is stored as its JSON text, in a VARCHAR column only".to_string()
}

/// Appends `line` (a JSON object) to `out` with each field whose value is an object or an array
/// turned into a JSON string holding that value's text exactly as sent.
fn nested_as_text(line: &[u8], out: &mut Vec<u8>) -> std::result::Result<(), String> {
    let raw: HashMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
    out.push(b'{');
    for (i, (key, value)) in raw.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, key).map_err(|e| e.to_string())?;
        out.push(b':');
        let text = value.get();
        if text.trim_start().starts_with(['{', '[']) {
            serde_json::to_writer(&mut *out, text).map_err(|e| e.to_string())?;
        } else {
            out.extend_from_slice(text.as_bytes());
        }
    }
    out.push(b'}');
    Ok(())
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether `value` can be stored in a column of type `dt`; the reason when it cannot.
fn check_value(value: &Value, dt: &DataType) -> std::result::Result<(), String> {
    let ty = sql_type_name(dt);
    let cannot = |what: String| Err(format!("cannot store {what} in a {ty} column"));
    match (dt, value) {
        (_, Value::Null) => Ok(()),
        (DataType::Utf8, _) => Ok(()),
        (_, Value::Array(_) | Value::Object(_)) => Err(nested()),
        (DataType::Boolean, Value::Bool(_)) => Ok(()),
        (DataType::Boolean, v) => cannot(format!("{v}; expected true or false")),
        (DataType::Int16 | DataType::Int32 | DataType::Int64, v) => {
            let parsed: Option<i64> = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            let Some(i) = parsed else {
                return cannot(format!("{v}; expected an integer"));
            };
            let (lo, hi) = match dt {
                DataType::Int16 => (i16::MIN as i64, i16::MAX as i64),
                DataType::Int32 => (i32::MIN as i64, i32::MAX as i64),
                _ => (i64::MIN, i64::MAX),
            };
            if i < lo || i > hi {
                return Err(format!("{i} is out of range for {ty} ({lo} to {hi})"));
            }
            Ok(())
        }
        (DataType::Float32 | DataType::Float64, Value::Number(_)) => Ok(()),
        (DataType::Float32 | DataType::Float64, Value::String(s))
            if s.trim().parse::<f64>().is_ok() =>
        {
            Ok(())
        }
        (DataType::Float32 | DataType::Float64, v) => cannot(format!("{v}; expected a number")),
        (DataType::Decimal128(p, s), Value::Number(_) | Value::String(_)) => {
            let text = match value {
                Value::String(s) => s.trim().to_string(),
                v => v.to_string(),
            };
            match arrow::compute::kernels::cast_utils::parse_decimal::<Decimal128Type>(
                &text, *p, *s,
            ) {
                Ok(_) => Ok(()),
                Err(_) => cannot(format!(
                    "{value}; expected a number of at most {} digits, {s} after the point",
                    p
                )),
            }
        }
        (DataType::Decimal128(_, _), v) => cannot(format!("{v}; expected a number")),
        (DataType::Date32, Value::String(s)) if Date32Type::parse(s).is_some() => Ok(()),
        (DataType::Date32, v) => cannot(format!("{v}; expected a date like \"2024-01-31\"")),
        (DataType::Timestamp(_, _), Value::Number(n)) if n.is_i64() => Ok(()),
        (DataType::Timestamp(_, _), Value::String(s))
            if TimestampMillisecondType::parse(s).is_some() =>
        {
            Ok(())
        }
        (DataType::Timestamp(_, _), v) => cannot(format!(
            "{v}; expected an RFC 3339 timestamp like \"2024-01-31T12:00:00Z\" or an integer \
             of milliseconds since 1970-01-01"
        )),
        (_, v) => cannot(format!("{v}")),
    }
}

/// Finds the first line that arrow-json refuses, for an error that names it.
fn locate(body: &[u8], schema: &SchemaRef, whole: arrow::error::ArrowError) -> Error {
    for (line, bytes) in lines(body) {
        if let Err(e) = decode_body(bytes, schema, false) {
            return Error::Json {
                line,
                column: None,
                reason: clean(&e),
            };
        }
    }
    Error::Json {
        line: 1,
        column: None,
        reason: clean(&whole),
    }
}

fn clean(e: &arrow::error::ArrowError) -> String {
    let s = e.to_string();
    s.strip_prefix("Json error: ")
        .or_else(|| s.strip_prefix("Parser error: "))
        .unwrap_or(&s)
        .to_string()
}

/// Fails on the first null in a column that `required` declares NOT NULL.
fn check_not_null(body: &[u8], batch: &RecordBatch, required: &SchemaRef) -> Result<()> {
    for field in required.fields().iter().filter(|f| !f.is_nullable()) {
        let Some((_, column)) = batch
            .schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .find(|(f, _)| f.name().eq_ignore_ascii_case(field.name()))
        else {
            if batch.num_rows() > 0 {
                return Err(Error::Json {
                    line: lines(body).next().map(|(l, _)| l).unwrap_or(1),
                    column: Some(field.name().clone()),
                    reason: "the column is NOT NULL but the row has no value for it".to_string(),
                });
            }
            continue;
        };
        if column.null_count() == 0 {
            continue;
        }
        let row = (0..column.len()).find(|i| column.is_null(*i)).unwrap_or(0);
        let line = lines(body).nth(row).map(|(l, _)| l).unwrap_or(row + 1);
        return Err(Error::Json {
            line,
            column: Some(field.name().clone()),
            reason: "the column is NOT NULL but the row has no value for it".to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray, TimestampMillisecondArray};

    fn schema(fields: Vec<Field>) -> SchemaRef {
        Arc::new(Schema::new(fields))
    }

    fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> &'a T {
        b.column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<T>()
            .unwrap()
    }

    #[test]
    fn new_table_infers_types_and_time_column() {
        let body = b"{\"time\": \"2024-01-01T00:00:00Z\", \"n\": 1, \"x\": 1.5, \"s\": \"a\"}\n\
                     {\"time\": 1704067200001, \"n\": 2, \"x\": 2, \"s\": null}\n";
        let d = decode(body, None, &Limits::default()).unwrap();
        assert_eq!(d.time_column.as_deref(), Some("time"));
        let b = &d.batch;
        assert_eq!(b.num_rows(), 2);
        assert_eq!(
            col::<TimestampMillisecondArray>(b, "time").value(1),
            1704067200001
        );
        assert_eq!(col::<Int64Array>(b, "n").values().to_vec(), vec![1, 2]);
        assert_eq!(col::<Float64Array>(b, "x").value(1), 2.0);
        assert!(col::<StringArray>(b, "s").is_null(1));
    }

    #[test]
    fn a_time_field_that_is_not_a_timestamp_is_an_ordinary_column() {
        let d = decode(b"{\"time\": \"fast\", \"v\": 1}", None, &Limits::default()).unwrap();
        assert_eq!(d.time_column, None);
        assert_eq!(
            d.batch
                .schema()
                .field_with_name("time")
                .unwrap()
                .data_type(),
            &DataType::Utf8
        );
    }

    #[test]
    fn known_schema_fast_path_coerces_strings() {
        let s = schema(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ]);
        let d = decode(
            b"{\"a\": \"42\", \"b\": 7}\n\n{\"a\": 1}\n",
            Some(&s),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            col::<Int64Array>(&d.batch, "a").values().to_vec(),
            vec![42, 1]
        );
        assert_eq!(col::<StringArray>(&d.batch, "b").value(0), "7");
    }

    #[test]
    fn decimal_columns_take_the_exact_text_of_numbers_and_strings() {
        let s = schema(vec![Field::new("price", DataType::Decimal128(10, 2), true)]);
        let d = decode(
            b"{\"price\": 0.07}\n{\"price\": \"12345678.91\"}\n{\"price\": -1.005}\n{\"price\": null}\n",
            Some(&s),
            &Limits::default(),
        )
        .unwrap();
        let a = col::<arrow::array::Decimal128Array>(&d.batch, "price");
        assert_eq!(a.data_type(), &DataType::Decimal128(10, 2));
        assert_eq!(a.value_as_string(0), "0.07");
        assert_eq!(a.value_as_string(1), "12345678.91");
        // Rounded half away from zero at the column's scale.
        assert_eq!(a.value_as_string(2), "-1.01");
        assert!(a.is_null(3));
        let err = decode(b"{\"price\": 123456789.5}\n", Some(&s), &Limits::default()).unwrap_err();
        assert_eq!(err.column(), Some("price"), "{err}");
        let err = decode(b"{\"price\": true}\n", Some(&s), &Limits::default()).unwrap_err();
        assert_eq!(err.column(), Some("price"), "{err}");
    }

    #[test]
    fn new_fields_on_a_known_table_are_added() {
        let s = schema(vec![Field::new("a", DataType::Int64, true)]);
        let d = decode(
            b"{\"a\": 1}\n{\"a\": 2, \"extra\": \"x\"}\n",
            Some(&s),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(col::<StringArray>(&d.batch, "extra").value(1), "x");
        assert!(col::<StringArray>(&d.batch, "extra").is_null(0));
    }

    #[test]
    fn wrong_type_names_line_column_and_reason() {
        let s = schema(vec![Field::new("price", DataType::Float64, true)]);
        let err = decode(
            b"{\"price\": 1}\n\n{\"price\": \"cheap\"}\n",
            Some(&s),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(err.line(), Some(3));
        assert_eq!(err.column(), Some("price"));
        assert!(err.to_string().contains("cheap"), "{err}");
    }

    #[test]
    fn malformed_json_names_the_line() {
        let err = decode(b"{\"a\": 1}\n{\"a\": \n", None, &Limits::default()).unwrap_err();
        assert_eq!(err.line(), Some(2));
        assert!(err.to_string().contains("invalid JSON"), "{err}");
    }

    #[test]
    fn missing_not_null_value_names_the_line() {
        let s = schema(vec![
            Field::new("time", TIMESTAMP_TYPE, false),
            Field::new("v", DataType::Int64, true),
        ]);
        let err = decode(
            b"{\"time\": 1, \"v\": 1}\n{\"v\": 2}\n",
            Some(&s),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(err.line(), Some(2));
        assert_eq!(err.column(), Some("time"));
    }

    #[test]
    fn nested_values_are_kept_as_json_text() {
        let body = b"{\"a\": 1}\n{\"a\": 2, \"p\": {\"b\": [1, {\"c\": \"x\"}]}, \"l\": [1,2]}\n{\"a\": 3, \"p\": \"plain\"}\n";
        let decoded = decode(body, None, &Limits::default()).unwrap();
        let batch = decoded.batch;
        let p = batch
            .column(batch.schema().index_of("p").unwrap())
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap()
            .clone();
        assert!(p.is_null(0));
        assert_eq!(p.value(1), "{\"b\": [1, {\"c\": \"x\"}]}");
        assert_eq!(p.value(2), "plain");
        let l = batch
            .column(batch.schema().index_of("l").unwrap())
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap()
            .clone();
        assert_eq!(l.value(1), "[1,2]");
        // Into an existing VARCHAR column too; not into a number column.
        let s = schema(vec![Field::new("p", DataType::Utf8, true)]);
        let decoded = decode(b"{\"p\": {\"k\": true}}", Some(&s), &Limits::default()).unwrap();
        assert_eq!(decoded.batch.num_rows(), 1);
        let s = schema(vec![Field::new("p", DataType::Int64, true)]);
        let err = decode(b"{\"p\": {\"k\": 1}}", Some(&s), &Limits::default()).unwrap_err();
        assert_eq!(err.column(), Some("p"));
    }

    #[test]
    fn out_of_range_integers_are_refused() {
        let s = schema(vec![Field::new("a", DataType::Int16, true)]);
        let err = decode(b"{\"a\": 70000}", Some(&s), &Limits::default()).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
    }
}
