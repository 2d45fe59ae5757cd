//! Statements that read or change the catalog rather than rows: `CREATE TABLE`, `DROP TABLE`,
//! `SHOW TABLES`, `DESCRIBE`. Each answers with one record batch.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use strata_storage::{sql_type_name, Storage, TableDef};

use crate::error::Result;

/// The answer of a DDL statement: one `status` VARCHAR row saying what was done.
fn status(message: String) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "status",
        DataType::Utf8,
        false,
    )]));
    Ok(RecordBatch::try_new(
        schema,
        vec![Arc::new(StringArray::from(vec![message]))],
    )?)
}

/// `CREATE TABLE`.
pub fn create_table(storage: &Storage, def: TableDef, if_not_exists: bool) -> Result<RecordBatch> {
    let name = def.name.clone();
    if storage.create_table(def, if_not_exists)? {
        status(format!("table \"{name}\" created"))
    } else {
        status(format!("table \"{name}\" already exists, nothing done"))
    }
}

/// `ALTER TABLE t SET (...)`: the changed options, validated like at CREATE TABLE.
pub fn alter_table(
    storage: &Storage,
    name: &str,
    ttl: Option<Option<i64>>,
    sort_key: Option<Vec<String>>,
) -> Result<RecordBatch> {
    let table = storage.table(name)?;
    let def = table.def();
    let mut options = def.options.clone();
    if let Some(ttl) = ttl {
        options.ttl_ms = ttl;
    }
    if let Some(sort_key) = sort_key {
        options.sort_key = sort_key;
    }
    // The same checks as CREATE TABLE (sort key columns exist, ...); names come back
    // canonical.
    let checked = TableDef {
        name: def.name.clone(),
        schema: def.schema.clone(),
        options,
    }
    .validated()?;
    table.set_options(checked.options)?;
    status(format!("table \"{}\" altered", table.name()))
}

/// `DROP TABLE`.
pub fn drop_table(storage: &Storage, name: &str, if_exists: bool) -> Result<RecordBatch> {
    if storage.drop_table(name, if_exists)? {
        status(format!("table \"{name}\" dropped"))
    } else {
        status(format!("table \"{name}\" does not exist, nothing done"))
    }
}

/// `SHOW TABLES`: one `table_name` column, sorted.
pub fn show_tables(storage: &Storage) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "table_name",
        DataType::Utf8,
        false,
    )]));
    let names = storage.table_names();
    Ok(RecordBatch::try_new(
        schema,
        vec![Arc::new(StringArray::from(names))],
    )?)
}

/// `FLUSH TABLE t, ...`: persists each table's live rows (`FLUSH TABLES` alone: every table's);
/// one row per table with the segments and rows written.
pub fn flush(storage: &Storage, tables: &[String]) -> Result<RecordBatch> {
    let all;
    let tables = if tables.is_empty() {
        // `FLUSH TABLES`: every table, in name order.
        all = {
            let mut names = storage.table_names();
            names.sort();
            names
        };
        &all[..]
    } else {
        tables
    };
    let resolved = tables
        .iter()
        .map(|name| storage.table(name))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut names = Vec::new();
    let mut segments = Vec::new();
    let mut rows = Vec::new();
    for table in resolved {
        let outcome = table.flush()?;
        names.push(table.name().to_string());
        segments.push(outcome.segments as i64);
        rows.push(outcome.rows as i64);
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("table_name", DataType::Utf8, false),
        Field::new("segments_written", DataType::Int64, false),
        Field::new("rows_written", DataType::Int64, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(names)),
            Arc::new(arrow::array::Int64Array::from(segments)),
            Arc::new(arrow::array::Int64Array::from(rows)),
        ],
    )?)
}

/// `DESCRIBE t`: `column_name`, `data_type` (SQL name), `is_nullable` ('YES' / 'NO', as in
/// `information_schema.columns`), `is_time_column`.
pub fn describe(storage: &Storage, name: &str) -> Result<RecordBatch> {
    let def = storage.table(name)?.def();
    let fields = def.schema.fields();
    let time_column = def.options.time_column.as_deref();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            fields.iter().map(|f| f.name().as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            fields.iter().map(|f| sql_type_name(f.data_type())),
        )),
        Arc::new(StringArray::from_iter_values(fields.iter().map(|f| {
            if f.is_nullable() {
                "YES"
            } else {
                "NO"
            }
        }))),
        Arc::new(BooleanArray::from_iter(
            fields
                .iter()
                .map(|f| Some(Some(f.name().as_str()) == time_column)),
        )),
    ];
    let schema = Arc::new(Schema::new(vec![
        Field::new("column_name", DataType::Utf8, false),
        Field::new("data_type", DataType::Utf8, false),
        Field::new("is_nullable", DataType::Utf8, false),
        Field::new("is_time_column", DataType::Boolean, false),
    ]));
    Ok(RecordBatch::try_new(schema, columns)?)
}
