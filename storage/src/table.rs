//! One table: its definition, write-ahead log and live segment.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use arrow::array::{new_null_array, ArrayRef};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;

use crate::catalog::Catalog;
use crate::fsutil::{lock, read_lock, write_lock};
use crate::segment::LiveSegment;
use crate::types::{is_supported, sql_type_name};
use crate::wal::{FrameKind, Wal};
use crate::{Error, Result, StorageConfig, TableDef};

/// What a query reads: the table's schema and the batches visible at one moment.
#[derive(Debug, Clone)]
pub struct TableSnapshot {
    /// The schema every batch has.
    pub schema: SchemaRef,
    /// The rows, in batches.
    pub batches: Vec<RecordBatch>,
}

impl TableSnapshot {
    /// The number of rows in the snapshot.
    pub fn row_count(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// The outcome of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Rows stored.
    pub rows: usize,
    /// The LSN of the log frame that holds them (0 when nothing was written).
    pub lsn: u64,
}

/// One table.
pub struct Table {
    id: u64,
    name: String,
    dir: PathBuf,
    catalog: Arc<Catalog>,
    def: RwLock<TableDef>,
    write: Mutex<()>,
    wal: Wal,
    live: RwLock<LiveSegment>,
    dropped: AtomicBool,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish()
    }
}

impl Table {
    /// Opens table `id` in `dir`, replaying its log.
    pub(crate) fn open(
        id: u64,
        def: TableDef,
        dir: PathBuf,
        catalog: Arc<Catalog>,
        config: &StorageConfig,
    ) -> Result<Table> {
        let (wal, frames) = Wal::open(
            &dir.join("wal"),
            &def.name,
            config.fsync,
            config.wal_file_bytes_max,
        )?;
        let table = Table {
            id,
            name: def.name.clone(),
            dir,
            catalog,
            live: RwLock::new(LiveSegment::new(def.schema.clone())),
            def: RwLock::new(def),
            write: Mutex::new(()),
            wal,
            dropped: AtomicBool::new(false),
        };
        let mut rows = 0;
        for frame in &frames {
            if frame.kind != FrameKind::Batch as u8 {
                return Err(Error::Corrupt {
                    path: table.dir.join("wal"),
                    offset: 0,
                    reason: format!("frame {} has unknown kind {}", frame.lsn, frame.kind),
                });
            }
            for batch in decode_ipc(&frame.body)? {
                let batch = table.reconcile(batch)?;
                rows += batch.num_rows();
                write_lock(&table.live).push(frame.lsn, batch);
            }
        }
        let durable = table.wal.durable_lsn();
        write_lock(&table.live).coalesce(durable)?;
        if !frames.is_empty() {
            tracing::info!(table = %table.name, frames = frames.len(), rows, "replayed log");
        }
        Ok(table)
    }

    /// The table id (names its directory).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The table name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current definition (its schema grows when ingest adds columns).
    pub fn def(&self) -> TableDef {
        read_lock(&self.def).clone()
    }

    /// The current schema.
    pub fn schema(&self) -> SchemaRef {
        read_lock(&self.live).schema().clone()
    }

    /// A consistent view of every durable row.
    pub fn snapshot(&self) -> TableSnapshot {
        let durable = self.wal.durable_lsn();
        let live = read_lock(&self.live);
        TableSnapshot {
            schema: live.schema().clone(),
            batches: live.visible(durable),
        }
    }

    /// Appends `batch` durably: when this returns `Ok`, its rows survive a crash (under the
    /// default fsync policy) and every later snapshot shows them. The batch is matched to the
    /// table's columns by name (case-insensitive): missing columns become NULL, values are cast
    /// to the column type, and columns the table lacks are added as nullable columns. The batch
    /// is stored wholly or not at all.
    pub fn append(&self, batch: RecordBatch) -> Result<AppendOutcome> {
        if batch.num_rows() == 0 {
            return Ok(AppendOutcome { rows: 0, lsn: 0 });
        }
        let rows = batch.num_rows();
        let lsn = {
            let _write = lock(&self.write);
            if self.dropped.load(Ordering::Acquire) {
                return Err(Error::TableDropped {
                    name: self.name.clone(),
                });
            }
            let batch = self.reconcile(batch)?;
            let body = encode_ipc(&batch)?;
            let lsn = self.wal.append(FrameKind::Batch, &body)?;
            write_lock(&self.live).push(lsn, batch);
            lsn
        };
        self.wal.sync(lsn)?;
        let durable = self.wal.durable_lsn();
        write_lock(&self.live).coalesce(durable)?;
        Ok(AppendOutcome { rows, lsn })
    }

    /// Marks the table dropped: later appends fail.
    pub(crate) fn mark_dropped(&self) {
        let _write = lock(&self.write);
        self.dropped.store(true, Ordering::Release);
    }

    /// Matches `batch` to the table schema, evolving the schema for new columns. Called with the
    /// write lock held (or during replay, before the table is shared).
    fn reconcile(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let current = self.schema();
        let mut fields: Vec<Field> = current
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut sources: Vec<Option<usize>> = vec![None; fields.len()];
        let in_schema = batch.schema();
        for (i, f) in in_schema.fields().iter().enumerate() {
            let pos = fields
                .iter()
                .position(|t| t.name() == f.name())
                .or_else(|| {
                    fields
                        .iter()
                        .position(|t| t.name().eq_ignore_ascii_case(f.name()))
                });
            match pos {
                Some(p) if sources[p].is_some() => {
                    return Err(Error::InvalidSchema {
                        reason: format!(
                            "the data has two columns that both match column \"{}\"",
                            fields[p].name()
                        ),
                    })
                }
                Some(p) => sources[p] = Some(i),
                None => {
                    if !is_supported(f.data_type()) {
                        return Err(Error::InvalidSchema {
                            reason: format!(
                                "new column \"{}\" has unsupported type {}",
                                f.name(),
                                f.data_type()
                            ),
                        });
                    }
                    fields.push(Field::new(f.name(), f.data_type().clone(), true));
                    sources.push(Some(i));
                }
            }
        }
        let rows = batch.num_rows();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.len());
        for (field, source) in fields.iter().zip(&sources) {
            let column = match source {
                None => new_null_array(field.data_type(), rows),
                Some(i) => {
                    let col = batch.column(*i);
                    if col.data_type() == field.data_type() {
                        col.clone()
                    } else {
                        let opts = CastOptions {
                            safe: false,
                            ..Default::default()
                        };
                        cast_with_options(col, field.data_type(), &opts).map_err(|e| {
                            Error::SchemaConflict {
                                table: self.name.clone(),
                                column: field.name().clone(),
                                existing: sql_type_name(field.data_type()).to_string(),
                                incoming: sql_type_name(col.data_type()).to_string(),
                                reason: e.to_string(),
                            }
                        })?
                    }
                }
            };
            if !field.is_nullable() && column.null_count() > 0 {
                return Err(Error::NullInNotNull {
                    table: self.name.clone(),
                    column: field.name().clone(),
                    count: column.null_count(),
                });
            }
            columns.push(column);
        }
        let schema = if fields.len() > current.fields().len() {
            let schema = Arc::new(Schema::new(fields));
            self.evolve(schema.clone())?;
            schema
        } else {
            current
        };
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// Adopts a wider schema: persisted in the catalog first, then applied to the live segment.
    fn evolve(&self, schema: SchemaRef) -> Result<()> {
        let mut def = write_lock(&self.def);
        let next = TableDef {
            name: def.name.clone(),
            schema: schema.clone(),
            options: def.options.clone(),
        };
        self.catalog.update_table(self.id, &next)?;
        tracing::info!(table = %self.name, columns = schema.fields().len(), "schema evolved");
        write_lock(&self.live).widen(schema)?;
        *def = next;
        Ok(())
    }
}

fn encode_ipc(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut writer = StreamWriter::try_new(Vec::new(), &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    Ok(writer.into_inner()?)
}

fn decode_ipc(bytes: &[u8]) -> Result<Vec<RecordBatch>> {
    let reader = StreamReader::try_new(bytes, None)?;
    let mut out = Vec::new();
    for batch in reader {
        out.push(batch?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::temp_dir;
    use crate::{Storage, TableOptions};
    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::DataType;

    fn def(name: &str) -> TableDef {
        TableDef {
            name: name.to_string(),
            schema: Arc::new(Schema::new(vec![
                Field::new("a", DataType::Int64, true),
                Field::new("s", DataType::Utf8, true),
            ])),
            options: TableOptions::default(),
        }
    }

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(cols).unwrap()
    }

    #[test]
    fn appended_rows_survive_reopen() {
        let dir = temp_dir("table-reopen");
        {
            let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
            storage.create_table(def("t"), false).unwrap();
            let t = storage.table("T").unwrap();
            let out = t
                .append(batch(vec![(
                    "a",
                    Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef,
                )]))
                .unwrap();
            assert_eq!(out.rows, 3);
            assert_eq!(t.snapshot().row_count(), 3);
        }
        let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
        let snap = storage.table("t").unwrap().snapshot();
        assert_eq!(snap.row_count(), 3);
        assert_eq!(snap.batches[0].column(1).null_count(), 3);
    }

    #[test]
    fn new_columns_evolve_the_schema_and_survive_reopen() {
        let dir = temp_dir("table-evolve");
        {
            let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
            storage.create_table(def("t"), false).unwrap();
            let t = storage.table("t").unwrap();
            t.append(batch(vec![(
                "a",
                Arc::new(Int64Array::from(vec![1])) as ArrayRef,
            )]))
            .unwrap();
            t.append(batch(vec![
                ("A", Arc::new(Int64Array::from(vec![2])) as ArrayRef),
                ("extra", Arc::new(StringArray::from(vec!["x"])) as ArrayRef),
            ]))
            .unwrap();
            assert_eq!(t.schema().fields().len(), 3);
        }
        let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
        let t = storage.table("t").unwrap();
        assert_eq!(t.schema().field(2).name(), "extra");
        let snap = t.snapshot();
        assert_eq!(snap.row_count(), 2);
        for b in &snap.batches {
            assert_eq!(b.schema(), snap.schema);
        }
    }

    #[test]
    fn unconvertible_values_reject_the_batch_and_change_nothing() {
        let dir = temp_dir("table-conflict");
        let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
        storage.create_table(def("t"), false).unwrap();
        let t = storage.table("t").unwrap();
        let err = t
            .append(batch(vec![
                (
                    "a",
                    Arc::new(StringArray::from(vec!["12", "nope"])) as ArrayRef,
                ),
                (
                    "new_col",
                    Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
                ),
            ]))
            .unwrap_err();
        assert!(matches!(err, Error::SchemaConflict { .. }), "{err}");
        assert_eq!(t.snapshot().row_count(), 0);
        assert_eq!(
            t.schema().fields().len(),
            2,
            "no column added by a rejected batch"
        );
    }

    #[test]
    fn dropped_table_is_gone_after_reopen_and_name_is_reusable() {
        let dir = temp_dir("table-drop");
        {
            let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
            storage.create_table(def("t"), false).unwrap();
            storage
                .table("t")
                .unwrap()
                .append(batch(vec![(
                    "a",
                    Arc::new(Int64Array::from(vec![1])) as ArrayRef,
                )]))
                .unwrap();
            assert!(storage.drop_table("t", false).unwrap());
            assert!(!storage.drop_table("t", true).unwrap());
            assert!(matches!(
                storage.table("t"),
                Err(Error::TableNotFound { .. })
            ));
            storage.create_table(def("t"), false).unwrap();
        }
        let storage = Storage::open(&dir, StorageConfig::default()).unwrap();
        assert_eq!(storage.table_names(), vec!["t".to_string()]);
        assert_eq!(storage.table("t").unwrap().snapshot().row_count(), 0);
    }
}
