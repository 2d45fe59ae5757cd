//! [`ScanExec`]: reads the batches of a table snapshot, keeps the needed columns and drops the
//! rows that fail the pushed-down filters.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::eval::evaluate_predicate;
use super::{BatchIter, ExecStats, ExecutionPlan};
use crate::error::Result;
use crate::expr::{BinaryOp, Expr};

/// Reads a table snapshot.
#[derive(Debug)]
pub struct ScanExec {
    table: String,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    projection: Vec<usize>,
    filters: Vec<Expr>,
    stats: Arc<ExecStats>,
}

impl ScanExec {
    /// Scans `batches` (all of the snapshot schema), keeping the columns `projection` (giving
    /// `schema`) and the rows for which every filter (over the projected columns) is true.
    pub fn new(
        table: String,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        projection: Vec<usize>,
        filters: Vec<Expr>,
        stats: Arc<ExecStats>,
    ) -> Self {
        ScanExec {
            table,
            schema,
            batches,
            projection,
            filters,
            stats,
        }
    }
}

impl ExecutionPlan for ScanExec {
    fn name(&self) -> &'static str {
        "ScanExec"
    }

    fn details(&self) -> String {
        let columns: Vec<&str> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let mut out = format!(
            "{} columns=[{}] batches={}",
            self.table,
            columns.join(", "),
            self.batches.len()
        );
        if !self.filters.is_empty() {
            let filters: Vec<String> = self.filters.iter().map(|f| f.to_string()).collect();
            out.push_str(&format!(" filters=[{}]", filters.join(", ")));
        }
        out
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![]
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let ScanExec {
            batches,
            projection,
            filters,
            stats,
            ..
        } = *self;
        let predicate = filters
            .into_iter()
            .reduce(|a, b| a.binary(BinaryOp::And, b));
        let iter = batches.into_iter().filter_map(move |batch| {
            stats
                .rows_scanned
                .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            let step = || -> Result<Option<RecordBatch>> {
                let batch = batch.project(&projection)?;
                let batch = match &predicate {
                    None => batch,
                    Some(predicate) => {
                        let mask = evaluate_predicate(predicate, &batch)?;
                        filter_record_batch(&batch, &mask)?
                    }
                };
                Ok((batch.num_rows() > 0).then_some(batch))
            };
            step().transpose()
        });
        Ok(Box::new(iter))
    }
}
