//! The catalog: every table's definition, persisted as one JSON document (`catalog.json`) that is
//! replaced atomically (write temporary file, fsync, rename, fsync directory) on every change.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::fsutil::{self, lock};
use crate::types::{is_supported, parse_sql_type, sql_type_name};
use crate::{Error, Result};

/// The version of the catalog file format this build writes and reads.
pub const CATALOG_VERSION: u32 = 1;
const CATALOG_FORMAT: &str = "strata-catalog";
/// The longest table name accepted.
pub const TABLE_NAME_LEN_MAX: usize = 128;

/// The longest column name, in bytes (PostgreSQL's is 63, Snowflake's 255).
pub const COLUMN_NAME_BYTES_MAX: usize = 255;

/// At most the first 64 characters of `name`, with an ellipsis when cut: how a name a client
/// sent is quoted back in an error (a 1 MB name is not echoed whole).
pub fn quoted_name(name: &str) -> String {
    match name.char_indices().nth(64) {
        Some((at, _)) => format!("{}...", &name[..at]),
        None => name.to_string(),
    }
}

/// Refuses a column name longer than [`COLUMN_NAME_BYTES_MAX`].
pub fn validate_column_name(name: &str) -> Result<()> {
    if name.len() > COLUMN_NAME_BYTES_MAX {
        return Err(Error::IdentifierTooLong {
            name: quoted_name(name),
            bytes: name.len(),
            max: COLUMN_NAME_BYTES_MAX,
        });
    }
    Ok(())
}

/// The time partition granularity of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Partition {
    /// One partition per hour.
    Hour,
    /// One partition per day (the default).
    #[default]
    Day,
}

impl Partition {
    /// Parses `hour` / `day` (case-insensitive).
    pub fn parse(s: &str) -> Option<Partition> {
        match s.to_ascii_lowercase().as_str() {
            "hour" => Some(Partition::Hour),
            "day" => Some(Partition::Day),
            _ => None,
        }
    }

    /// The lowercase name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Partition::Hour => "hour",
            Partition::Day => "day",
        }
    }

    /// The width of a partition in milliseconds.
    pub fn width_ms(&self) -> i64 {
        match self {
            Partition::Hour => 3_600_000,
            Partition::Day => 86_400_000,
        }
    }
}

/// Table options (the `WITH (...)` clause of `CREATE TABLE`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// The time column: a NOT NULL `TIMESTAMP` column, the unit of partitioning and pruning.
    pub time_column: Option<String>,
    /// The time partition granularity.
    pub partition: Partition,
    /// The columns persisted segments are sorted by; empty means the time column.
    pub sort_key: Vec<String>,
    /// Rows older than this (by the time column) are dropped, a whole partition at a time.
    pub ttl_ms: Option<i64>,
    /// The columns that get a bitmap index (`WITH (indexes = 'a, b')`): `None` (the default)
    /// indexes every string column, `Some(vec![])` none.
    pub indexes: Option<Vec<String>>,
}

impl TableOptions {
    /// The sort key in effect: the declared one, else the time column, else none.
    pub fn effective_sort_key(&self) -> Vec<String> {
        if !self.sort_key.is_empty() {
            return self.sort_key.clone();
        }
        self.time_column.iter().cloned().collect()
    }
}

/// The definition of a table.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// The table name.
    pub name: String,
    /// The columns.
    pub schema: SchemaRef,
    /// The options.
    pub options: TableOptions,
}

impl TableDef {
    /// Checks the definition and normalises it (the time column is made NOT NULL).
    pub fn validated(self) -> Result<TableDef> {
        let invalid = |reason: String| Err(Error::InvalidSchema { reason });
        if self.schema.fields().is_empty() {
            return invalid(format!("table \"{}\" needs at least one column", self.name));
        }
        let mut seen = std::collections::HashSet::new();
        for f in self.schema.fields() {
            if f.name().is_empty() {
                return invalid("a column name is empty".to_string());
            }
            validate_column_name(f.name())?;
            if !seen.insert(f.name().to_ascii_lowercase()) {
                return invalid(format!(
                    "column \"{}\" appears twice (column names are case-insensitive)",
                    f.name()
                ));
            }
            if !is_supported(f.data_type()) {
                return invalid(format!(
                    "column \"{}\" has unsupported type {}",
                    f.name(),
                    f.data_type()
                ));
            }
        }
        let mut fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        if let Some(tc) = &self.options.time_column {
            let Some(pos) = fields.iter().position(|f| f.name() == tc) else {
                return invalid(format!(
                    "time_column \"{tc}\" is not a column of table \"{}\"",
                    self.name
                ));
            };
            if !crate::types::is_time_column_type(fields[pos].data_type()) {
                return invalid(format!(
                    "time_column \"{tc}\" must be TIMESTAMP or DATE, not {}",
                    sql_type_name(fields[pos].data_type())
                ));
            }
            fields[pos] = fields[pos].clone().with_nullable(false);
        }
        if let Some(ttl) = self.options.ttl_ms {
            if ttl <= 0 {
                return invalid(format!("ttl must be positive, not {ttl} ms"));
            }
            if self.options.time_column.is_none() {
                return invalid("a ttl needs a time_column to measure age by".to_string());
            }
        }
        for name in self.options.indexes.iter().flatten() {
            let Some(field) = fields.iter().find(|f| f.name() == name) else {
                return invalid(format!(
                    "indexes column \"{name}\" is not a column of table \"{}\"",
                    self.name
                ));
            };
            if !crate::index::indexable(field.data_type()) {
                return invalid(format!(
                    "indexes column \"{name}\" is {}; only VARCHAR columns have bitmap indexes",
                    sql_type_name(field.data_type())
                ));
            }
        }
        for key in &self.options.sort_key {
            if !fields.iter().any(|f| f.name() == key) {
                return invalid(format!(
                    "sort_key column \"{key}\" is not a column of table \"{}\"",
                    self.name
                ));
            }
        }
        Ok(TableDef {
            name: self.name,
            schema: Arc::new(Schema::new(fields)),
            options: self.options,
        })
    }
}

/// Checks that `name` can name a table: 1 to 128 characters, ASCII letters, digits and `_`, not
/// starting with a digit (table names appear in URLs and file listings).
pub fn validate_table_name(name: &str) -> Result<()> {
    let bad = |reason: &str| {
        Err(Error::InvalidTableName {
            name: quoted_name(name),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > TABLE_NAME_LEN_MAX {
        return bad("it is longer than 128 characters");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return bad("use only ASCII letters, digits and underscores");
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return bad("it must not start with a digit");
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct CatalogFile {
    format: String,
    version: u32,
    next_id: u64,
    tables: Vec<TableEntry>,
}

#[derive(Serialize, Deserialize, Clone)]
struct TableEntry {
    id: u64,
    name: String,
    columns: Vec<ColumnEntry>,
    #[serde(default)]
    time_column: Option<String>,
    #[serde(default)]
    partition: Partition,
    #[serde(default)]
    sort_key: Vec<String>,
    #[serde(default)]
    ttl_ms: Option<i64>,
    /// Absent: the default (every string column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    indexes: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, Clone)]
struct ColumnEntry {
    name: String,
    #[serde(rename = "type")]
    sql_type: String,
    nullable: bool,
}

impl TableEntry {
    fn from_def(id: u64, def: &TableDef) -> TableEntry {
        TableEntry {
            id,
            name: def.name.clone(),
            columns: def
                .schema
                .fields()
                .iter()
                .map(|f| ColumnEntry {
                    name: f.name().clone(),
                    sql_type: sql_type_name(f.data_type()).to_string(),
                    nullable: f.is_nullable(),
                })
                .collect(),
            time_column: def.options.time_column.clone(),
            partition: def.options.partition,
            sort_key: def.options.sort_key.clone(),
            ttl_ms: def.options.ttl_ms,
            indexes: def.options.indexes.clone(),
        }
    }

    fn to_def(&self, path: &Path) -> Result<TableDef> {
        let mut fields = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            let dt: DataType = parse_sql_type(&c.sql_type).ok_or_else(|| Error::Corrupt {
                path: path.to_path_buf(),
                offset: 0,
                reason: format!(
                    "unknown type {} of column {}.{}",
                    c.sql_type, self.name, c.name
                ),
            })?;
            fields.push(Field::new(&c.name, dt, c.nullable));
        }
        Ok(TableDef {
            name: self.name.clone(),
            schema: Arc::new(Schema::new(fields)),
            options: TableOptions {
                time_column: self.time_column.clone(),
                partition: self.partition,
                sort_key: self.sort_key.clone(),
                ttl_ms: self.ttl_ms,
                indexes: self.indexes.clone(),
            },
        })
    }
}

/// The persisted catalog, shared by the storage engine and its tables.
pub struct Catalog {
    path: PathBuf,
    state: Mutex<CatalogFile>,
}

impl Catalog {
    /// Loads `DIR/catalog.json`, or starts an empty catalog when there is none.
    pub(crate) fn load(dir: &Path) -> Result<Catalog> {
        let path = dir.join("catalog.json");
        let state = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: CatalogFile =
                    serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                        path: path.clone(),
                        offset: 0,
                        reason: e.to_string(),
                    })?;
                if file.format != CATALOG_FORMAT || file.version != CATALOG_VERSION {
                    return Err(Error::Corrupt {
                        path,
                        offset: 0,
                        reason: format!(
                            "catalog format {} version {} is not {CATALOG_FORMAT} version \
                             {CATALOG_VERSION}",
                            file.format, file.version
                        ),
                    });
                }
                file
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CatalogFile {
                format: CATALOG_FORMAT.to_string(),
                version: CATALOG_VERSION,
                next_id: 1,
                tables: Vec::new(),
            },
            Err(source) => {
                return Err(Error::Io {
                    op: "read",
                    path,
                    source,
                })
            }
        };
        Ok(Catalog {
            path,
            state: Mutex::new(state),
        })
    }

    /// Every table: id and definition.
    pub(crate) fn tables(&self) -> Vec<(u64, TableDef)> {
        let state = lock(&self.state);
        state
            .tables
            .iter()
            .filter_map(|t| match t.to_def(&self.path) {
                Ok(def) => Some((t.id, def)),
                Err(e) => {
                    tracing::error!(table = %t.name, error = %e, "skipping unreadable table");
                    None
                }
            })
            .collect()
    }

    /// Adds a table and returns its new id.
    pub(crate) fn add_table(&self, def: &TableDef) -> Result<u64> {
        let mut state = lock(&self.state);
        let id = state.next_id;
        let mut next = clone_file(&state);
        next.next_id = id + 1;
        next.tables.push(TableEntry::from_def(id, def));
        self.commit(&next)?;
        *state = next;
        Ok(id)
    }

    /// Replaces the definition of table `id` (schema evolution).
    pub(crate) fn update_table(&self, id: u64, def: &TableDef) -> Result<()> {
        let mut state = lock(&self.state);
        let mut next = clone_file(&state);
        let Some(entry) = next.tables.iter_mut().find(|t| t.id == id) else {
            return Err(Error::TableDropped {
                name: def.name.clone(),
            });
        };
        *entry = TableEntry::from_def(id, def);
        self.commit(&next)?;
        *state = next;
        Ok(())
    }

    /// Removes table `id`.
    pub(crate) fn remove_table(&self, id: u64) -> Result<()> {
        let mut state = lock(&self.state);
        let mut next = clone_file(&state);
        next.tables.retain(|t| t.id != id);
        self.commit(&next)?;
        *state = next;
        Ok(())
    }

    fn commit(&self, file: &CatalogFile) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(file)
            .map_err(|e| Error::Internal(format!("serialising the catalog: {e}")))?;
        fsutil::write_atomic(&self.path, &bytes)
    }
}

fn clone_file(f: &CatalogFile) -> CatalogFile {
    CatalogFile {
        format: f.format.clone(),
        version: f.version,
        next_id: f.next_id,
        tables: f.tables.clone(),
    }
}

/// Parses a duration such as `3 days`, `12h`, `90 minutes`, `1 week`, `500 ms` into
/// milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    let text = text.trim().to_ascii_lowercase();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().ok()?;
    let unit_ms: i64 = match unit.trim() {
        "ms" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "second" | "seconds" => 1_000,
        "m" | "min" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        "w" | "week" | "weeks" => 7 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms).filter(|v| *v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_common_spellings() {
        assert_eq!(parse_duration_ms("3 days"), Some(3 * 86_400_000));
        assert_eq!(parse_duration_ms("12h"), Some(12 * 3_600_000));
        assert_eq!(parse_duration_ms(" 90 Minutes "), Some(90 * 60_000));
        assert_eq!(parse_duration_ms("1 week"), Some(7 * 86_400_000));
        assert_eq!(parse_duration_ms("0 days"), None);
        assert_eq!(parse_duration_ms("days"), None);
        assert_eq!(parse_duration_ms("3 fortnights"), None);
    }
}
