//! Virtual tables: read-only tables computed when a query reads them (`system.segments`,
//! `system.sources`, `pg_catalog.pg_class`, `information_schema.tables`, ...).
//!
//! The crates above storage register them by schema and name on the [`Storage`](crate::Storage)
//! they describe; the query engine resolves `schema.name` (and an unqualified name that is not a
//! user table against `pg_catalog`, as PostgreSQL's search path does) through this registry and
//! scans the batches like an in-memory segment, so filters, joins and aggregates work on them.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::fsutil::{read_lock, write_lock};
use crate::{Result, Storage};

/// A read-only table whose rows are computed on every read.
pub trait VirtualTable: Send + Sync {
    /// The table's schema; every batch of [`VirtualTable::batches`] has it.
    fn schema(&self) -> SchemaRef;
    /// The current rows.
    fn batches(&self, storage: &Storage) -> Result<Vec<RecordBatch>>;
}

/// The registry of virtual tables of one storage, by lower-case schema and table name.
#[derive(Default)]
pub struct VirtualTables {
    tables: RwLock<BTreeMap<(String, String), Arc<dyn VirtualTable>>>,
}

impl VirtualTables {
    /// Registers (or replaces) `schema.name`.
    pub fn register(&self, schema: &str, name: &str, table: Arc<dyn VirtualTable>) {
        write_lock(&self.tables).insert(
            (schema.to_ascii_lowercase(), name.to_ascii_lowercase()),
            table,
        );
    }

    /// `schema.name`, case-insensitive.
    pub fn get(&self, schema: &str, name: &str) -> Option<Arc<dyn VirtualTable>> {
        read_lock(&self.tables)
            .get(&(schema.to_ascii_lowercase(), name.to_ascii_lowercase()))
            .cloned()
    }

    /// The registered tables of `schema`, sorted.
    pub fn names_in(&self, schema: &str) -> Vec<String> {
        let schema = schema.to_ascii_lowercase();
        read_lock(&self.tables)
            .keys()
            .filter(|(s, _)| *s == schema)
            .map(|(_, n)| n.clone())
            .collect()
    }

    /// Every registered `(schema, name)`, sorted.
    pub fn all(&self) -> Vec<(String, String)> {
        read_lock(&self.tables).keys().cloned().collect()
    }
}
