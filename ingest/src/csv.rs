//! CSV (with a header row) to Arrow.
//!
//! Header names are matched to the table's columns (case-insensitive); the types of columns the
//! table lacks are inferred from every row of the body. arrow-csv then decodes the body in one
//! vectorized pass. An empty field is NULL.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use arrow::compute::concat_batches;
use arrow::csv::reader::Format as CsvFormat;
use arrow::csv::ReaderBuilder;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use strata_storage::types::TIMESTAMP_TYPE;

use crate::{is_time_name, Decoded, Error, Limits, Result};

const DECODE_BATCH_ROWS: usize = 16 * 1024;

fn csv_error(e: arrow::error::ArrowError, columns: &[Field]) -> Error {
    let message = e.to_string();
    // Value errors count data rows from 1 (the header is not counted); the csv crate's own
    // errors count physical lines. Both are turned into physical line numbers.
    let line = if message.contains("Error while parsing value") {
        number_after(&message, "at line ").map(|l| l + 1)
    } else {
        number_after(&message, "at line ").or_else(|| number_after(&message, "for line "))
    };
    let column = number_after(&message, "for column ")
        .and_then(|i| columns.get(i))
        .map(|f| f.name().clone());
    let reason = match message.split(". Row data:").next() {
        Some(r) => r.to_string(),
        None => message.clone(),
    };
    let reason = reason
        .strip_prefix("Parser error: ")
        .or_else(|| reason.strip_prefix("Csv error: "))
        .unwrap_or(&reason)
        .to_string();
    Error::Csv {
        line,
        column,
        reason,
    }
}

/// The number that follows `marker` in `s`.
fn number_after(s: &str, marker: &str) -> Option<usize> {
    let start = s.find(marker)? + marker.len();
    let digits: String = s[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

pub(crate) fn decode(body: &[u8], schema: Option<&SchemaRef>, limits: &Limits) -> Result<Decoded> {
    let format = CsvFormat::default().with_header(true);
    let (header, _) = format
        .infer_schema(Cursor::new(body), Some(0))
        .map_err(|e| csv_error(e, &[]))?;
    crate::limits::check_fields(limits, header.fields().len(), Some(1))?;
    let known: Vec<Field> = schema
        .map(|s| s.fields().iter().map(|f| f.as_ref().clone()).collect())
        .unwrap_or_default();
    // Exact spelling first, then case-insensitive: one hash lookup per header name.
    let exact: HashMap<&str, &Field> = known.iter().map(|f| (f.name().as_str(), f)).collect();
    let mut folded: HashMap<String, &Field> = HashMap::with_capacity(known.len());
    for f in known.iter().rev() {
        folded.insert(f.name().to_ascii_lowercase(), f);
    }
    let find = |name: &str| {
        exact
            .get(name)
            .or_else(|| folded.get(&name.to_ascii_lowercase()))
            .copied()
    };
    let all_known = header.fields().iter().all(|f| find(f.name()).is_some());
    let inferred = if all_known {
        header.clone()
    } else {
        format
            .infer_schema(Cursor::new(body), None)
            .map_err(|e| csv_error(e, &[]))?
            .0
    };
    let mut time_column = None;
    let mut fields = Vec::with_capacity(inferred.fields().len());
    for f in inferred.fields() {
        if f.name().is_empty() {
            return Err(Error::Csv {
                line: Some(1),
                column: None,
                reason: "the header row has an empty column name".to_string(),
            });
        }
        let dt = match find(f.name()) {
            Some(k) => k.data_type().clone(),
            None => match f.data_type() {
                DataType::Timestamp(_, _) => {
                    if schema.is_none() && time_column.is_none() && is_time_name(f.name()) {
                        time_column = Some(f.name().clone());
                    }
                    TIMESTAMP_TYPE
                }
                DataType::Int64 | DataType::Float64 | DataType::Boolean | DataType::Date32 => {
                    f.data_type().clone()
                }
                _ => DataType::Utf8,
            },
        };
        fields.push(Field::new(f.name(), dt, true));
    }
    let decode_schema: SchemaRef = Arc::new(Schema::new(fields.clone()));
    let reader = ReaderBuilder::new(decode_schema.clone())
        .with_header(true)
        .with_batch_size(DECODE_BATCH_ROWS)
        .build(Cursor::new(body))
        .map_err(|e| csv_error(e, &fields))?;
    let mut batches = Vec::new();
    for batch in reader {
        batches.push(batch.map_err(|e| csv_error(e, &fields))?);
    }
    let batch = concat_batches(&decode_schema, &batches).map_err(|e| csv_error(e, &fields))?;
    // NOT NULL columns of the table, and the new time column.
    let mut required: Vec<String> = known
        .iter()
        .filter(|f| !f.is_nullable())
        .map(|f| f.name().clone())
        .collect();
    required.extend(time_column.clone());
    for name in required {
        let Some(idx) = fields
            .iter()
            .position(|f| f.name().eq_ignore_ascii_case(&name))
        else {
            return Err(Error::Csv {
                line: Some(1),
                column: Some(name),
                reason: "the column is NOT NULL but the header does not name it".to_string(),
            });
        };
        let column = batch.column(idx);
        if column.null_count() > 0 {
            let row = (0..column.len()).find(|i| column.is_null(*i)).unwrap_or(0);
            return Err(Error::Csv {
                line: Some(row + 2),
                column: Some(name),
                reason: "the column is NOT NULL but the row has no value for it".to_string(),
            });
        }
    }
    Ok(Decoded { batch, time_column })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Float64Array, Int64Array, TimestampMillisecondArray};

    #[test]
    fn new_table_from_csv_infers_types_and_time_column() {
        let body =
            b"time,user,amount,n\n2024-01-01T00:00:00Z,ann,1.5,3\n2024-01-01T00:00:01Z,bob,,4\n";
        let d = decode(body, None, &Limits::default()).unwrap();
        assert_eq!(d.time_column.as_deref(), Some("time"));
        let b = &d.batch;
        assert_eq!(b.num_rows(), 2);
        let t = b
            .column(0)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap();
        assert_eq!(t.value(1), 1_704_067_201_000);
        let amount = b.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
        assert!(amount.is_null(1));
        let n = b.column(3).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(n.values().to_vec(), vec![3, 4]);
    }

    #[test]
    fn bad_value_names_line_and_column() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Float64, true),
        ]));
        let err = decode(b"b,a\n1.0,1\n2.0,x\n", Some(&schema), &Limits::default()).unwrap_err();
        assert_eq!(err.column(), Some("a"), "{err}");
        assert_eq!(err.line(), Some(3), "{err}");
    }

    #[test]
    fn decimal_columns_parse_the_text_exactly() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new(
            "price",
            DataType::Decimal128(12, 2),
            true,
        )]));
        let d = decode(
            b"price,n\n0.07,1\n-123.45,2\n,3\n99999999.99,4\n",
            Some(&schema),
            &Limits::default(),
        )
        .unwrap();
        let a = d
            .batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Decimal128Array>()
            .unwrap();
        let texts: Vec<Option<String>> = (0..a.len())
            .map(|i| (!a.is_null(i)).then(|| a.value_as_string(i)))
            .collect();
        assert_eq!(
            texts,
            vec![
                Some("0.07".to_string()),
                Some("-123.45".to_string()),
                None,
                Some("99999999.99".to_string())
            ]
        );
    }

    #[test]
    fn ragged_rows_are_refused() {
        let err = decode(b"a,b\n1,2\n3\n", None, &Limits::default()).unwrap_err();
        assert_eq!(err.line(), Some(3), "{err}");
    }
}
