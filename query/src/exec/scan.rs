//! [`ScanExec`]: reads the segments of a table snapshot (persisted, sealed and live alike, through
//! the storage's one segment interface), only the needed columns, and drops the rows that fail
//! the pushed-down filters. Per segment, when the plan is built:
//!
//! 1. blocks whose zone maps prove that no row can pass the filters are dropped
//!    ([`super::prune`]);
//! 2. filters on indexed string columns are answered from the segment's bitmap indexes
//!    ([`super::index`]): their intersection is the segment's row selection; blocks with no
//!    selected row are dropped, the others are read through the selection (a Parquet segment
//!    decodes only the selected rows' pages), and those filters are not evaluated again;
//! 3. a segment with no block left is pruned whole.
//!
//! The remaining filters are evaluated on the rows read. Segments are read as the consumer pulls
//! batches, one job per block, on all cores.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use strata_storage::roaring::RoaringBitmap;
use strata_storage::{SegmentKind, SegmentRef};

use strata_storage::zonemap::{StatValue, Zone};

use super::index::{IndexExpr, SegmentContext};
use super::parallel::ordered_parallel_map;
use super::prune::may_match_all;
use super::topn::TopNBound;
use super::{BatchIter, ExecStats, ExecutionPlan};
use crate::error::Result;
use crate::eval::evaluate_predicate;
use crate::expr::Expr;

/// What is read of one segment.
#[derive(Debug)]
struct SegmentScan {
    segment: SegmentRef,
    /// The blocks to read: index, first row id, rows, and whether every row is selected.
    blocks: Vec<(usize, u32, u32, bool)>,
    /// With a top-N bound: each block's zone of the bound's column.
    bound_zones: Vec<Zone>,
    /// The rows the bitmap indexes selected (`None`: no filter was answered by an index).
    selection: Option<Arc<RoaringBitmap>>,
    /// The filters left to evaluate on the rows read, AND-ed.
    predicate: Option<Arc<Expr>>,
}

/// Pruning counters, for EXPLAIN.
#[derive(Debug, Default, Clone, Copy)]
struct PruneCounts {
    segments_by_zone_maps: usize,
    segments_by_index: usize,
    blocks_by_zone_maps: usize,
    blocks_by_index: usize,
}

/// Reads a table snapshot.
#[derive(Debug)]
pub struct ScanExec {
    table: String,
    schema: SchemaRef,
    /// The segments to read, each with the blocks that survived pruning.
    segments: Vec<SegmentScan>,
    filters: Vec<Expr>,
    /// The filters answered by a bitmap index in at least one segment.
    index_filters: Vec<String>,
    /// The columns whose indexes answered them.
    index_columns: Vec<String>,
    stats: Arc<ExecStats>,
    segments_total: usize,
    blocks_total: usize,
    blocks_read: usize,
    pruned: PruneCounts,
    /// Rows in the blocks to read (from their zone maps).
    rows_to_read: u64,
    /// The dynamic filter of a top-N above: blocks it rules out are not read, and the most
    /// promising blocks are read first.
    bound: Option<Arc<TopNBound>>,
}

/// Below this many rows a scan runs on the calling thread: starting workers costs more.
pub const PARALLEL_SCAN_ROWS_MIN: u64 = 64 * 1024;

impl ScanExec {
    /// Scans `segments`, reading the columns of `schema` (a projection of the table schema) and
    /// keeping the rows for which every filter (over those columns) is true. Prunes with zone
    /// maps and asks the bitmap indexes now, so that EXPLAIN can tell what was skipped; fails
    /// when an index cannot be read. With `bound` (the dynamic filter of a top-N above), blocks
    /// are read best first and skipped once the bound rules them out.
    pub fn try_new(
        table: String,
        schema: SchemaRef,
        segments: Vec<SegmentRef>,
        filters: Vec<Expr>,
        stats: Arc<ExecStats>,
        bound: Option<Arc<TopNBound>>,
    ) -> Result<Self> {
        let segments_total = segments.len();
        let index_exprs: Vec<Option<IndexExpr>> =
            filters.iter().map(IndexExpr::from_expr).collect();
        let mut used = vec![false; filters.len()];
        let mut blocks_total = 0;
        let mut rows_to_read = 0;
        let mut pruned = PruneCounts::default();
        let mut selected = Vec::with_capacity(segments.len());
        for segment in segments {
            let zones = segment.zones();
            blocks_total += zones.len();
            let mut starts = Vec::with_capacity(zones.len());
            let mut row = 0u64;
            for zone in &zones {
                starts.push(row);
                row += zone.rows;
            }
            let blocks: Vec<usize> = (0..zones.len())
                .filter(|&i| may_match_all(&filters, &zones[i]))
                .collect();
            pruned.blocks_by_zone_maps += zones.len() - blocks.len();
            if blocks.is_empty() {
                pruned.segments_by_zone_maps += 1;
                continue;
            }
            // Row ids are u32: a larger segment is scanned without its index.
            let indexable = row <= u64::from(u32::MAX);
            let mut selection: Option<RoaringBitmap> = None;
            let mut residual = Vec::new();
            let mut context = SegmentContext::default();
            for (i, (filter, index_expr)) in filters.iter().zip(&index_exprs).enumerate() {
                let answer = match index_expr {
                    Some(e) if indexable => e.evaluate(segment.as_ref(), &mut context)?,
                    _ => None,
                };
                match answer {
                    Some(truth) => {
                        used[i] = true;
                        selection = Some(match selection {
                            None => truth.r#true,
                            Some(s) => s & truth.r#true,
                        });
                    }
                    None => residual.push(filter.clone()),
                }
            }
            let mut kept = Vec::with_capacity(blocks.len());
            for b in blocks {
                let (start, rows) = (starts[b] as u32, zones[b].rows as u32);
                let full = match &selection {
                    None => true,
                    Some(s) => {
                        let n = s.range_cardinality(start..start + rows);
                        if n == 0 {
                            pruned.blocks_by_index += 1;
                            continue;
                        }
                        n == u64::from(rows)
                    }
                };
                kept.push((b, start, rows, full));
            }
            if kept.is_empty() {
                pruned.segments_by_index += 1;
                continue;
            }
            rows_to_read += kept.iter().map(|k| u64::from(k.2)).sum::<u64>();
            let predicate = Expr::conjunction(residual).map(Arc::new);
            let bound_zones = match &bound {
                None => vec![],
                Some(bound) => kept
                    .iter()
                    .map(|&(b, ..)| {
                        let mut zone = Zone {
                            rows: zones[b].rows,
                            ..Zone::default()
                        };
                        if let Some(c) = zones[b].columns.get(bound.column()) {
                            zone.columns.insert(bound.column().to_string(), c.clone());
                        }
                        zone
                    })
                    .collect(),
            };
            selected.push(SegmentScan {
                segment,
                bound_zones,
                blocks: kept,
                selection: selection.map(Arc::new),
                predicate,
            });
        }
        let blocks_read = selected.iter().map(|s| s.blocks.len()).sum();
        stats
            .segments_scanned
            .fetch_add(selected.len() as u64, Ordering::Relaxed);
        stats
            .segments_pruned
            .fetch_add((segments_total - selected.len()) as u64, Ordering::Relaxed);
        let mut index_filters = Vec::new();
        let mut index_columns = Vec::new();
        for (e, used) in index_exprs.iter().zip(used) {
            if let (Some(e), true) = (e, used) {
                index_filters.push(e.to_string());
                e.columns(&mut index_columns);
            }
        }
        Ok(ScanExec {
            table,
            schema,
            segments: selected,
            filters,
            index_filters,
            index_columns,
            stats,
            segments_total,
            blocks_total,
            blocks_read,
            pruned,
            rows_to_read,
            bound,
        })
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
                .filter(|s| s.segment.kind() == kind)
                .count()
        };
        let p = self.pruned;
        let mut out = format!(
            "{} columns=[{}] segments={}/{} (persisted={}, sealed={}, live={}; pruned by zone \
             maps={}, by index={}) blocks={}/{} (pruned by zone maps={}, by index={})",
            self.table,
            columns.join(", "),
            self.segments.len(),
            self.segments_total,
            count(SegmentKind::Persisted),
            count(SegmentKind::Sealed),
            count(SegmentKind::Live),
            p.segments_by_zone_maps,
            p.segments_by_index,
            self.blocks_read,
            self.blocks_total,
            p.blocks_by_zone_maps,
            p.blocks_by_index,
        );
        if !self.filters.is_empty() {
            let filters: Vec<String> = self.filters.iter().map(|f| f.to_string()).collect();
            out.push_str(&format!(" filters=[{}]", filters.join(", ")));
        }
        if !self.index_filters.is_empty() {
            out.push_str(&format!(
                " bitmap index on [{}]: [{}]",
                self.index_columns.join(", "),
                self.index_filters.join(", ")
            ));
        }
        if let Some(bound) = &self.bound {
            out.push_str(&format!(" top-n bound on {}", bound.describe()));
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
            stats,
            rows_to_read,
            bound,
            ..
        } = *self;
        // One job per block: read it (decode only the needed columns, and with an index
        // selection only the selected rows), filter it. Jobs run on all cores; results come
        // back in block order, so answers do not depend on timing.
        let jobs: Vec<Job> = segments
            .into_iter()
            .flat_map(|s| {
                let SegmentScan {
                    segment,
                    blocks,
                    bound_zones,
                    selection,
                    predicate,
                } = s;
                let mut zones = bound_zones.into_iter();
                blocks
                    .into_iter()
                    .map(move |(block, start, _, full)| Job {
                        segment: segment.clone(),
                        block,
                        start,
                        selection: if full { None } else { selection.clone() },
                        predicate: predicate.clone(),
                        zone: zones.next(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut jobs = jobs;
        if let Some(bound) = &bound {
            // The most promising blocks first, so that the bound tightens early.
            fn promise<'j>(bound: &TopNBound, job: &'j Job) -> Option<&'j StatValue> {
                job.zone.as_ref().and_then(|z| bound.promise(z))
            }
            jobs.sort_by(|a, b| bound.compare_promise(promise(bound, a), promise(bound, b)));
        }
        let threads = stats.threads();
        let work = move |job: Job| -> Result<Vec<RecordBatch>> {
            stats.check()?;
            if let (Some(bound), Some(zone)) = (&bound, &job.zone) {
                if !bound.may_enter(zone) {
                    return Ok(vec![]);
                }
            }
            let batches = match &job.selection {
                None => job.segment.read_blocks(&schema, &[job.block])?,
                Some(selection) => job
                    .segment
                    .read_selected(&schema, job.block, job.start, selection)?,
            };
            let mut out = Vec::new();
            for batch in batches {
                stats.check()?;
                stats
                    .rows_scanned
                    .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                stats
                    .bytes_scanned
                    .fetch_add(batch.get_array_memory_size() as u64, Ordering::Relaxed);
                let batch = match &job.predicate {
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

/// One block to read.
struct Job {
    segment: SegmentRef,
    block: usize,
    /// The block's first row id in the segment.
    start: u32,
    /// The rows to read (`None`: all).
    selection: Option<Arc<RoaringBitmap>>,
    /// The filters to evaluate on them.
    predicate: Option<Arc<Expr>>,
    /// With a top-N bound: the block's zone of its column.
    zone: Option<Zone>,
}
