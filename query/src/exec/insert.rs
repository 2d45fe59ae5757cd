//! `INSERT`: builds one record batch of the new rows and appends it to the table, which stores
//! it wholly or not at all. Answers one row with one BIGINT column `count`, the rows inserted.

use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, Int64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use strata_storage::Storage;

use crate::error::{Error, Result};
use crate::eval::evaluate_array;
use crate::plan::{Insert, InsertSource};

/// Runs a bound `INSERT`; `query_rows` runs the SELECT of `INSERT ... SELECT`.
pub fn insert(
    storage: &Storage,
    insert: Insert,
    query_rows: impl FnOnce(crate::plan::LogicalPlan) -> Result<Vec<RecordBatch>>,
) -> Result<RecordBatch> {
    let table = storage.table(&insert.table)?;
    let schema = insert.table_schema.clone();
    // The value columns, in the order of `insert.columns`.
    let (values, rows): (Vec<ArrayRef>, usize) = match insert.source {
        InsertSource::Values(rows) => {
            let one_row = RecordBatch::try_new_with_options(
                Arc::new(Schema::empty()),
                vec![],
                &RecordBatchOptions::new().with_row_count(Some(1)),
            )?;
            let mut columns = Vec::with_capacity(insert.columns.len());
            for c in 0..insert.columns.len() {
                let mut cells: Vec<ArrayRef> = Vec::with_capacity(rows.len());
                for row in &rows {
                    let expr = row
                        .get(c)
                        .ok_or_else(|| Error::internal("INSERT row shorter than its columns"))?;
                    cells.push(evaluate_array(expr, &one_row)?);
                }
                let refs: Vec<&dyn arrow::array::Array> =
                    cells.iter().map(|a| a.as_ref()).collect();
                let column = if refs.is_empty() {
                    new_null_array(schema.field(insert.columns[c]).data_type(), 0)
                } else {
                    arrow::compute::concat(&refs)?
                };
                columns.push(column);
            }
            (columns, rows.len())
        }
        InsertSource::Query(plan) => {
            let out_schema = plan.schema();
            let batches = query_rows(plan)?;
            let rows = batches.iter().map(RecordBatch::num_rows).sum();
            let all = arrow::compute::concat_batches(&out_schema, &batches)?;
            (all.columns().to_vec(), rows)
        }
    };
    let mut columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| new_null_array(f.data_type(), rows))
        .collect();
    for (&index, value) in insert.columns.iter().zip(values) {
        let slot = columns
            .get_mut(index)
            .ok_or_else(|| Error::internal(format!("INSERT column #{index} out of range")))?;
        *slot = value;
    }
    // Nullability is checked by the table on append, with a message naming the column.
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    let outcome = table.append(batch)?;
    let count_schema = Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::Int64,
        false,
    )]));
    Ok(RecordBatch::try_new(
        count_schema,
        vec![Arc::new(Int64Array::from(vec![outcome.rows as i64]))],
    )?)
}
