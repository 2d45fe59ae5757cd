//! A Parquet request body to Arrow, in bounded memory.
//!
//! Parquet is the one body format whose rows can be many times larger than the body: a column
//! of one value repeated is a few bytes of run-length encoding per billion rows, and a
//! dictionary page can hold one large string that a billion keys point to. So the body is read
//! in three steps, each before anything large is allocated:
//!
//! ```text
//!  footer   -> its Thrift's shape and the schema depth (precheck, before the reader builds
//!              its schema tree recursively)
//!  metadata -> fields per row; rows x fixed widths, the decoded size the file declares
//!  batches  -> string and binary columns read as dictionaries (their memory is the body's),
//!              their expanded size summed from the keys, checked, then expanded
//! ```
//!
//! A body over [`Limits::decoded_bytes_max`] is refused with `DECODED_TOO_LARGE` as soon as the
//! running total passes it.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Int32Type, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::Type as PhysicalType;
use parquet::file::metadata::ParquetMetaData;

use crate::limits::{check_fields, LimitKind};
use crate::{Error, Limits, Result};

/// Rows per decoded batch.
const BATCH_ROWS: usize = 8192;

fn bad(e: impl std::fmt::Display) -> Error {
    Error::Parquet {
        reason: e.to_string(),
    }
}

fn too_large(found: usize, limits: &Limits) -> Error {
    Error::Limit {
        kind: LimitKind::DecodedBytes,
        line: None,
        found,
        max: limits.decoded_bytes_max,
    }
}

/// Decodes a Parquet body into one batch (types as the file has them; the caller normalises).
pub(crate) fn decode(body: &[u8], limits: &Limits) -> Result<RecordBatch> {
    if let Some(depth) = crate::precheck::check_parquet_footer(body)? {
        if depth > limits.nesting_depth_max {
            return Err(Error::Limit {
                kind: LimitKind::NestingDepth,
                line: None,
                found: depth,
                max: limits.nesting_depth_max,
            });
        }
    }
    let bytes = bytes::Bytes::copy_from_slice(body);
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).map_err(bad)?;
    crate::precheck::check_parquet_metadata(builder.metadata(), body.len())?;
    check_fields(limits, builder.schema().fields().len(), None)?;
    let declared = declared_bytes(builder.metadata());
    if declared > limits.decoded_bytes_max {
        return Err(too_large(declared, limits));
    }
    // String and binary columns as dictionaries: a batch's memory stays what the file holds.
    let file_schema = builder.schema().clone();
    let hinted: Vec<Field> = file_schema
        .fields()
        .iter()
        .map(|f| match dictionary_of(f.data_type()) {
            Some(dt) => f.as_ref().clone().with_data_type(dt),
            None => f.as_ref().clone(),
        })
        .collect();
    let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(hinted)));
    let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, options)
        .map_err(bad)?
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(bad)?;
    let mut total = 0usize;
    let mut batches = Vec::new();
    for batch in reader {
        let batch = batch.map_err(bad)?;
        total = total.saturating_add(expanded_bytes(&batch));
        if total > limits.decoded_bytes_max {
            return Err(too_large(total, limits));
        }
        batches.push(expand(batch, &file_schema)?);
    }
    concat_batches(&file_schema, &batches).map_err(bad)
}

/// The dictionary type a string or binary column is read as.
fn dictionary_of(dt: &DataType) -> Option<DataType> {
    let value = match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
        _ => return None,
    };
    Some(DataType::Dictionary(
        Box::new(DataType::Int32),
        Box::new(value),
    ))
}

/// The memory the file's row groups declare they decode to: rows times each column's width
/// (a string or binary value counts its offset here; its bytes are counted as it is read).
fn declared_bytes(metadata: &ParquetMetaData) -> usize {
    let mut total = 0usize;
    for rg in metadata.row_groups() {
        let rows = usize::try_from(rg.num_rows()).unwrap_or(0);
        for column in rg.columns() {
            let width = match column.column_type() {
                PhysicalType::BOOLEAN => 1,
                PhysicalType::INT32 | PhysicalType::FLOAT | PhysicalType::BYTE_ARRAY => 4,
                PhysicalType::INT64 | PhysicalType::DOUBLE => 8,
                PhysicalType::INT96 => 12,
                PhysicalType::FIXED_LEN_BYTE_ARRAY => {
                    usize::try_from(column.column_descr().type_length()).unwrap_or(0)
                }
            };
            total = total.saturating_add(rows.saturating_mul(width));
        }
    }
    total
}

/// The memory `batch` takes once its dictionary columns are expanded.
fn expanded_bytes(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|c| match c.as_dictionary_opt::<Int32Type>() {
            Some(dict) => {
                let values = dict.values();
                let lengths: Vec<usize> = match values.data_type() {
                    DataType::Utf8 => lengths(values.as_string::<i32>().offsets()),
                    DataType::Binary => lengths(values.as_binary::<i32>().offsets()),
                    _ => vec![values.to_data().get_slice_memory_size().unwrap_or(0)],
                };
                let bytes: usize = dict
                    .keys()
                    .values()
                    .iter()
                    .map(|&k| {
                        usize::try_from(k)
                            .ok()
                            .and_then(|k| lengths.get(k))
                            .copied()
                    })
                    .map(|l| l.unwrap_or(0))
                    .sum();
                bytes.saturating_add(4 * dict.len())
            }
            // The bytes of the batch's own rows: a reader's batch may share a buffer with
            // others, which get_array_memory_size would count whole.
            None => c.to_data().get_slice_memory_size().unwrap_or(0),
        })
        .fold(0usize, usize::saturating_add)
}

fn lengths(offsets: &[i32]) -> Vec<usize> {
    offsets
        .windows(2)
        .map(|w| usize::try_from(w[1] - w[0]).unwrap_or(0))
        .collect()
}

/// Casts the dictionary columns of `batch` back to the file's types.
fn expand(batch: RecordBatch, file_schema: &Arc<Schema>) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .zip(file_schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c.clone())
            } else {
                arrow::compute::cast(c, f.data_type()).map_err(bad)
            }
        })
        .collect::<Result<_>>()?;
    RecordBatch::try_new(file_schema.clone(), columns).map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    fn parquet_of(batch: &RecordBatch) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
        w.write(batch).unwrap();
        w.close().unwrap();
        out
    }

    #[test]
    fn a_file_decodes_to_the_same_rows() {
        let batch = RecordBatch::try_from_iter([
            ("n", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
            (
                "s",
                Arc::new(StringArray::from(vec![Some("a"), None, Some("ccc")])) as ArrayRef,
            ),
        ])
        .unwrap();
        let decoded = decode(&parquet_of(&batch), &Limits::default()).unwrap();
        assert_eq!(decoded, batch);
    }

    #[test]
    fn a_repeated_large_string_is_refused_by_its_expanded_size() {
        // 20,000 rows of one 10 KB string: a small dictionary-encoded file, 200 MB of rows.
        let big = "x".repeat(10_000);
        let batch = RecordBatch::try_from_iter([(
            "s",
            Arc::new(StringArray::from(vec![big.as_str(); 20_000])) as ArrayRef,
        )])
        .unwrap();
        let body = parquet_of(&batch);
        assert!(body.len() < 1 << 20, "{} bytes", body.len());
        let limits = Limits {
            decoded_bytes_max: 64 << 20,
            ..Limits::default()
        };
        let err = decode(&body, &limits).unwrap_err();
        assert_eq!(err.code(), "DECODED_TOO_LARGE", "{err}");
    }

    #[test]
    fn a_billion_declared_rows_are_refused_before_decoding() {
        // A million rows of a constant: run-length encoded, a few KB; refused by what its
        // metadata declares with a limit below 8 MB.
        let batch = RecordBatch::try_from_iter([(
            "n",
            Arc::new(Int64Array::from(vec![7; 1_000_000])) as ArrayRef,
        )])
        .unwrap();
        let body = parquet_of(&batch);
        let limits = Limits {
            decoded_bytes_max: 4 << 20,
            ..Limits::default()
        };
        let err = decode(&body, &limits).unwrap_err();
        assert_eq!(err.code(), "DECODED_TOO_LARGE", "{err}");
        assert!(err.to_string().contains("8000000"), "{err}");
    }
}
