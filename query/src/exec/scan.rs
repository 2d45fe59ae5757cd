//! [`ScanExec`]: reads the segments of a table snapshot (persisted, sealed and live alike, through
//! the storage's one segment interface), only the needed columns, and drops the rows that fail
//! the pushed-down filters. Blocks whose zone maps prove that no row can pass the filters are
//! not read at all ([`super::prune`]); a segment with no block left is pruned whole. Segments
//! are read one at a time, as the consumer pulls batches.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use strata_storage::{SegmentKind, SegmentRef};

use super::eval::evaluate_predicate;
use super::prune::may_match_all;
use super::{BatchIter, ExecStats, ExecutionPlan};
use crate::error::Result;
use crate::expr::{BinaryOp, Expr};

/// Reads a table snapshot.
#[derive(Debug)]
pub struct ScanExec {
    table: String,
    schema: SchemaRef,
    /// The segments to read, each with the blocks that survived pruning.
    segments: Vec<(SegmentRef, Vec<usize>)>,
    filters: Vec<Expr>,
    stats: Arc<ExecStats>,
    segments_total: usize,
    blocks_total: usize,
    blocks_read: usize,
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
        let segments_total = segments.len();
        let mut blocks_total = 0;
        let mut selected = Vec::with_capacity(segments.len());
        for segment in segments {
            let zones = segment.zones();
            blocks_total += zones.len();
            let blocks: Vec<usize> = zones
                .iter()
                .enumerate()
                .filter(|(_, zone)| may_match_all(&filters, zone))
                .map(|(i, _)| i)
                .collect();
            if !blocks.is_empty() {
                selected.push((segment, blocks));
            }
        }
        let blocks_read = selected.iter().map(|(_, b)| b.len()).sum();
        stats
            .segments_scanned
            .fetch_add(selected.len() as u64, Ordering::Relaxed);
        stats
            .segments_pruned
            .fetch_add((segments_total - selected.len()) as u64, Ordering::Relaxed);
        ScanExec {
            table,
            schema,
            segments: selected,
            filters,
            stats,
            segments_total,
            blocks_total,
            blocks_read,
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
        let count = |kind: SegmentKind| {
            self.segments
                .iter()
                .filter(|(s, _)| s.kind() == kind)
                .count()
        };
        let mut out = format!(
            "{} columns=[{}] segments={}/{} (persisted={}, sealed={}, live={}; pruned by zone \
             maps={}) blocks={}/{}",
            self.table,
            columns.join(", "),
            self.segments.len(),
            self.segments_total,
            count(SegmentKind::Persisted),
            count(SegmentKind::Sealed),
            count(SegmentKind::Live),
            self.segments_total - self.segments.len(),
            self.blocks_read,
            self.blocks_total,
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
        let batches = segments.into_iter().flat_map(move |(segment, blocks)| {
            let read: Vec<Result<RecordBatch>> = match segment.read_blocks(&schema, &blocks) {
                Ok(batches) => batches.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e.into())],
            };
            read
        });
        let iter = batches.filter_map(move |batch| {
            let step = || -> Result<Option<RecordBatch>> {
                stats.check()?;
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
