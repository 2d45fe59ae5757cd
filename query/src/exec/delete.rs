//! `DELETE FROM t [WHERE ...]`: evaluates the predicate over one snapshot of the table (taken by
//! [`strata_storage::Table::begin_delete`], which holds off flushes and compactions until the
//! delete commits), collects the row ids where it is true per segment, and commits them as delete
//! bitmaps (see `strata_storage::deletes`). Rows appended after the snapshot are not deleted.
//! Answers one row with one BIGINT column `count`, the rows deleted (as `INSERT` answers).

use std::sync::Arc;

use arrow::array::Int64Array;
use arrow::array::{Array, BooleanArray};
use arrow::compute::{filter_record_batch, not, prep_null_mask_filter};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use strata_storage::roaring::RoaringBitmap;
use strata_storage::segment::selection_mask;
use strata_storage::Storage;

use super::prune::may_match_all;
use super::ExecStats;
use crate::error::{Error, Result};
use crate::eval::evaluate_predicate;
use crate::plan::Delete;

/// Runs a bound `DELETE`.
pub fn delete(storage: &Storage, delete: Delete, stats: &ExecStats) -> Result<RecordBatch> {
    let table = storage.table(&delete.table)?;
    let txn = table.begin_delete()?;
    let schema = txn.schema().clone();
    let filters = delete
        .predicate
        .clone()
        .map(|p| p.split_conjunction())
        .unwrap_or_default();
    let mut rows = Vec::with_capacity(txn.inputs().len());
    for input in txn.inputs() {
        stats.check()?;
        let segment = &input.segment;
        let total = u32::try_from(segment.num_rows()).map_err(|_| {
            Error::internal(format!(
                "a segment of {} rows is too large to delete from",
                segment.num_rows()
            ))
        })?;
        let Some(predicate) = &delete.predicate else {
            let mut all = RoaringBitmap::new();
            all.insert_range(0..total);
            rows.push(all);
            continue;
        };
        let mut hit = RoaringBitmap::new();
        let mut start = 0u32;
        for (block, zone) in segment.zones().iter().enumerate() {
            let block_rows = zone.rows as u32;
            // Blocks the zone maps rule out, or whose rows are all deleted, are not read.
            let skip = !may_match_all(&filters, zone)
                || input.deleted.as_ref().is_some_and(|d| {
                    d.range_cardinality(start..start + block_rows) == u64::from(block_rows)
                });
            if !skip {
                let mut offset = start;
                for batch in segment.read_blocks(&schema, &[block])? {
                    stats.check()?;
                    let n = batch.num_rows() as u32;
                    let deleted = input
                        .deleted
                        .as_ref()
                        .filter(|d| d.range_cardinality(offset..offset + n) > 0);
                    match deleted {
                        None => {
                            let mask = true_rows(&evaluate_predicate(predicate, &batch)?);
                            hit.append(mask.values().set_indices().map(|i| offset + i as u32))
                                .map_err(out_of_order)?;
                        }
                        Some(deleted) => {
                            // Rows deleted already are not evaluated again (they may fail it).
                            let keep = not(&selection_mask(deleted, offset, n))?;
                            let positions: Vec<u32> = keep
                                .values()
                                .set_indices()
                                .map(|i| offset + i as u32)
                                .collect();
                            let batch = filter_record_batch(&batch, &keep)?;
                            let mask = true_rows(&evaluate_predicate(predicate, &batch)?);
                            hit.append(mask.values().set_indices().map(|i| positions[i]))
                                .map_err(out_of_order)?;
                        }
                    }
                    offset += n;
                }
            }
            start += block_rows;
        }
        rows.push(hit);
    }
    let count = txn.commit(rows)?;
    let count_schema = Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::Int64,
        false,
    )]));
    Ok(RecordBatch::try_new(
        count_schema,
        vec![Arc::new(Int64Array::from(vec![count as i64]))],
    )?)
}

/// The rows where `mask` is true (NULL is not true).
fn true_rows(mask: &BooleanArray) -> BooleanArray {
    if mask.null_count() > 0 {
        prep_null_mask_filter(mask)
    } else {
        mask.clone()
    }
}

fn out_of_order(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("delete rows out of order: {e}"))
}
