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
use super::parallel::ordered_parallel_map;
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
    /// Rows in the blocks to read (from their zone maps).
    rows_to_read: u64,
}

/// Below this many rows a scan runs on the calling thread: starting workers costs more.
pub const PARALLEL_SCAN_ROWS_MIN: u64 = 64 * 1024;

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
        let mut rows_to_read = 0;
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
            rows_to_read += blocks.iter().map(|&b| zones[b].rows).sum::<u64>();
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
            rows_to_read,
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
            rows_to_read,
            ..
        } = *self;
        let predicate = filters
            .into_iter()
            .reduce(|a, b| a.binary(BinaryOp::And, b));
        // One job per block: read it (decode only the needed columns), filter it. Jobs run on
        // all cores; results come back in block order, so answers do not depend on timing.
        let jobs: Vec<(SegmentRef, usize)> = segments
            .into_iter()
            .flat_map(|(segment, blocks)| blocks.into_iter().map(move |b| (segment.clone(), b)))
            .collect();
        let threads = stats.threads();
        let work = move |(segment, block): (SegmentRef, usize)| -> Result<Vec<RecordBatch>> {
            stats.check()?;
            let mut out = Vec::new();
            for batch in segment.read_blocks(&schema, &[block])? {
                stats.check()?;
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
                if batch.num_rows() > 0 {
                    out.push(batch);
                }
            }
            Ok(out)
        };
        let iter: BatchIter =
            if threads <= 1 || jobs.len() <= 1 || rows_to_read < PARALLEL_SCAN_ROWS_MIN {
                Box::new(jobs.into_iter().flat_map(move |job| match work(job) {
                    Ok(batches) => batches.into_iter().map(Ok).collect::<Vec<_>>(),
                    Err(e) => vec![Err(e)],
                }))
            } else {
                Box::new(
                    ordered_parallel_map(jobs, threads, 2 * threads, work).flat_map(|r| match r {
                        Ok(batches) => batches.into_iter().map(Ok).collect::<Vec<_>>(),
                        Err(e) => vec![Err(e)],
                    }),
                )
            };
        Ok(iter)
    }
}
