//! [`ScanExec`]: reads the segments of a table snapshot (persisted, sealed and live alike, through
//! the storage's one segment interface), only the needed columns, and drops the rows that fail
//! the pushed-down filters. Segments are read one at a time, as the consumer pulls batches.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use strata_storage::{SegmentKind, SegmentRef};

use super::eval::evaluate_predicate;
use super::{BatchIter, ExecStats, ExecutionPlan};
use crate::error::Result;
use crate::expr::{BinaryOp, Expr};

/// Reads a table snapshot.
#[derive(Debug)]
pub struct ScanExec {
    table: String,
    schema: SchemaRef,
    segments: Vec<SegmentRef>,
    filters: Vec<Expr>,
    stats: Arc<ExecStats>,
}

impl ScanExec {
    /// Scans `segments`, reading the columns of `schema` (a projection of the table schema) and
    /// keeping the rows for which every filter (over those columns) is true.
    pub fn new(
        table: String,
        schema: SchemaRef,
        segments: Vec<SegmentRef>,
        filters: Vec<Expr>,
        stats: Arc<ExecStats>,
    ) -> Self {
        ScanExec {
            table,
            schema,
            segments,
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
        let count = |kind: SegmentKind| self.segments.iter().filter(|s| s.kind() == kind).count();
        let mut out = format!(
            "{} columns=[{}] segments={} (persisted={}, sealed={}, live={})",
            self.table,
            columns.join(", "),
            self.segments.len(),
            count(SegmentKind::Persisted),
            count(SegmentKind::Sealed),
            count(SegmentKind::Live),
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
            schema,
            segments,
            filters,
            stats,
            ..
        } = *self;
        let predicate = filters
            .into_iter()
            .reduce(|a, b| a.binary(BinaryOp::And, b));
        let batches = segments.into_iter().flat_map(move |segment| {
            let read: Vec<Result<RecordBatch>> = match segment.read(&schema) {
                Ok(batches) => batches.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e.into())],
            };
            read
        });
        let iter = batches.filter_map(move |batch| {
            let step = || -> Result<Option<RecordBatch>> {
                let batch = batch?;
                stats
                    .rows_scanned
                    .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
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
