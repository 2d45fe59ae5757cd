//! Data generators: deterministic, seeded, streamed as Arrow batches, written as Parquet.

pub mod dist;
pub mod events;
pub mod hits;
pub mod text;

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::mpsc::sync_channel;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::{Error, Result};

/// A generator that yields its rows as Arrow batches.
pub trait BatchSource: Send {
    /// The schema of every batch.
    fn schema(&self) -> SchemaRef;
    /// The next batch, or `None` when all rows have been produced.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>>;
}

impl BatchSource for hits::HitsGenerator {
    fn schema(&self) -> SchemaRef {
        hits::HitsGenerator::schema(self)
    }
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        hits::HitsGenerator::next_batch(self)
    }
}

impl BatchSource for events::EventsGenerator {
    fn schema(&self) -> SchemaRef {
        events::EventsGenerator::schema(self)
    }
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        events::EventsGenerator::next_batch(self)
    }
}

/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 65_536;
/// Batches in flight between the generating thread and the writing thread.
const PIPELINE_DEPTH: usize = 2;

/// The writer settings of every generated file: ZSTD level 1, 64K-row row groups, and
/// dictionary encoding except for `plain_columns` (high-cardinality columns, where building a
/// dictionary costs time and then falls back to plain anyway).
pub fn writer_properties(plain_columns: &[&str]) -> Result<WriterProperties> {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by("strata-bench".to_string());
    for name in plain_columns {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(*name), false);
    }
    Ok(builder.build())
}

/// Drains `source` without writing anything; returns the rows produced. Measures the
/// generator alone (`--dry-run`).
pub fn drain(source: &mut dyn BatchSource) -> Result<u64> {
    let mut rows = 0u64;
    while let Some(batch) = source.next_batch()? {
        rows += batch.num_rows() as u64;
    }
    Ok(rows)
}

/// Writes all batches of `source` to a Parquet file at `path`; returns the rows written.
///
/// Generation and encoding overlap: the source runs on its own thread and hands batches over a
/// channel bounded at two batches; this thread encodes and writes.
pub fn write_parquet(
    source: &mut dyn BatchSource,
    path: &Path,
    properties: WriterProperties,
) -> Result<u64> {
    let file = File::create(path).map_err(|source| Error::Io {
        operation: "create",
        path: path.to_path_buf(),
        source,
    })?;
    let mut writer = ArrowWriter::try_new(
        BufWriter::with_capacity(1 << 20, file),
        source.schema(),
        Some(properties),
    )?;
    let (tx, rx) = sync_channel::<RecordBatch>(PIPELINE_DEPTH);
    let mut rows = 0u64;
    std::thread::scope(|scope| -> Result<()> {
        let producer = scope.spawn(move || -> Result<()> {
            while let Some(batch) = source.next_batch()? {
                if tx.send(batch).is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            Ok(())
        });
        let mut write_result = Ok(());
        for batch in rx.iter() {
            rows += batch.num_rows() as u64;
            if let Err(e) = writer.write(&batch) {
                write_result = Err(Error::from(e));
                break;
            }
        }
        drop(rx);
        let produced = producer
            .join()
            .map_err(|_| Error::Internal("the generator thread panicked".into()))?;
        produced?;
        write_result
    })?;
    writer.close()?;
    Ok(rows)
}
