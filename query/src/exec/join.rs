//! [`HashJoinExec`]: INNER, LEFT, RIGHT and FULL equi-joins by hashing the right input.
//!
//! Build: the right input (the small side, e.g. a dimension table) is read whole, its key
//! columns are evaluated and row-encoded once ([`RowConverter`]), and every row with no NULL key
//! goes into a hash map from key bytes to the last row with that key, the earlier rows of the
//! same key chained through a `next` vector (no allocation per duplicate). The build side's
//! batches, key bytes and map count against the query memory limit, so an oversized build fails
//! with `MEMORY_LIMIT_EXCEEDED` instead of exhausting the server.
//!
//! Probe: each left batch is encoded the same way, each row looks its key up once and walks the
//! chain, giving (left row, right row) index pairs; the output is gathered with the `take`
//! kernel, a batch out per batch in. The rest of the ON condition (non-equalities) is then
//! evaluated over the gathered pairs; for a LEFT or FULL join, left rows left without a pair
//! come out once with NULL right columns. For a RIGHT or FULL join, the build rows that found a
//! partner are marked, and the others come out, NULL-extended on the left, after the last probe
//! batch. A NULL key never matches.
//!
//! A MARK join (for `EXISTS` / `IN` over a correlated subquery) outputs each left row once with
//! a BOOLEAN column: whether some pair passed. (The planner gives a mark join to
//! [`MarkJoinExec`](super::MarkJoinExec), which hashes the left input instead when that is
//! small, and comes here when it is not.)
//!
//! The helpers below the operator (gathering pairs, the filter over them, the unmatched rows)
//! are shared with the nested-loop join.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use ahash::RandomState;
use arrow::array::{new_null_array, Array, ArrayRef, UInt32Array};
use arrow::buffer::NullBuffer;
use arrow::compute::{concat_batches, filter_record_batch, take};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};

use super::{BatchIter, ExecStats, ExecutionPlan};
use crate::error::{Error, Result};
use crate::eval::{evaluate_array, evaluate_predicate};
use crate::expr::Expr;
use crate::kernel::normalize_zero;
use crate::plan::JoinKind;

/// The end of a chain of build rows.
const NONE: u32 = u32::MAX;

/// Joins its left input to its right input on equal keys.
#[derive(Debug)]
pub struct HashJoinExec {
    left: Box<dyn ExecutionPlan>,
    right: Box<dyn ExecutionPlan>,
    kind: JoinKind,
    on: Vec<(Expr, Expr)>,
    filter: Option<Expr>,
    schema: SchemaRef,
    stats: Arc<ExecStats>,
}

impl HashJoinExec {
    /// Joins `left` (probe) and `right` (build) on the key pairs `on` (each pair of one type),
    /// then `filter` over the joined columns; `schema` is left's columns then right's.
    pub fn try_new(
        left: Box<dyn ExecutionPlan>,
        right: Box<dyn ExecutionPlan>,
        kind: JoinKind,
        on: Vec<(Expr, Expr)>,
        filter: Option<Expr>,
        schema: SchemaRef,
        stats: Arc<ExecStats>,
    ) -> Result<Self> {
        if on.is_empty() {
            return Err(Error::internal("hash join without keys"));
        }
        if let Some((l, r)) = on.iter().find(|(l, r)| l.data_type() != r.data_type()) {
            return Err(Error::internal(format!(
                "join keys {l} and {r} have different types"
            )));
        }
        Ok(HashJoinExec {
            left,
            right,
            kind,
            on,
            filter,
            schema,
            stats,
        })
    }
}

/// True for the rows where every key is non-NULL.
pub(super) fn valid_keys(keys: &[ArrayRef], rows: usize) -> Option<NullBuffer> {
    keys.iter()
        .fold(None, |acc: Option<NullBuffer>, k| {
            NullBuffer::union(acc.as_ref(), k.logical_nulls().as_ref())
        })
        .filter(|n| n.len() == rows && n.null_count() > 0)
}

/// Evaluates key expressions over a batch, with -0.0 read as 0.0.
pub(super) fn keys_of(exprs: &[&Expr], batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    exprs
        .iter()
        .map(|e| normalize_zero(&evaluate_array(e, batch)?))
        .collect()
}

/// The build input, hashed by key.
pub(super) struct BuildSide {
    /// Its rows.
    pub(super) batch: RecordBatch,
    /// Encodes keys (of the probe side too) as bytes.
    pub(super) converter: RowConverter,
    /// Key bytes -> the last build row with that key.
    pub(super) heads: HashMap<Box<[u8]>, u32, RandomState>,
    /// For every build row, the previous row with the same key (`NONE` ends the chain).
    next: Vec<u32>,
}

impl BuildSide {
    /// Probes with a batch: evaluates `keys` over it and calls `f(probe_row, build_row)` for
    /// every pair with equal keys (a probe row with a NULL key matches nothing).
    pub(super) fn probe(
        &self,
        keys: &[&Expr],
        batch: &RecordBatch,
        mut f: impl FnMut(u32, u32),
    ) -> Result<()> {
        let keys = keys_of(keys, batch)?;
        let rows = self.converter.convert_columns(&keys)?;
        let valid = valid_keys(&keys, batch.num_rows());
        for (i, row) in rows.iter().enumerate() {
            if valid.as_ref().is_some_and(|v| v.is_null(i)) {
                continue;
            }
            self.matches(row.as_ref(), |b| f(i as u32, b));
        }
        Ok(())
    }

    /// Calls `f` with every build row whose key is `key`.
    pub(super) fn matches(&self, key: &[u8], mut f: impl FnMut(u32)) {
        if let Some(&head) = self.heads.get(key) {
            let mut row = head;
            while row != NONE {
                f(row);
                row = self.next.get(row as usize).copied().unwrap_or(NONE);
            }
        }
    }
}

impl HashJoinExec {
    fn build(
        right: Box<dyn ExecutionPlan>,
        keys: &[&Expr],
        stats: &ExecStats,
        held: &mut usize,
    ) -> Result<BuildSide> {
        let schema = right.schema();
        let mut batches = vec![];
        for batch in right.execute()? {
            let batch = batch?;
            let now = *held + batch.get_array_memory_size();
            stats.track_memory(*held, now)?;
            *held = now;
            batches.push(batch);
        }
        let batch = concat_batches(&schema, &batches)?;
        drop(batches);
        BuildSide::new(batch, keys, stats, held)
    }
}

impl BuildSide {
    /// Hashes the rows of `batch` by `keys` (memory counted from `held` on).
    pub(super) fn new(
        batch: RecordBatch,
        keys: &[&Expr],
        stats: &ExecStats,
        held: &mut usize,
    ) -> Result<BuildSide> {
        let num_rows = batch.num_rows();
        let limit = usize::try_from(NONE).unwrap_or(usize::MAX);
        if num_rows >= limit {
            return Err(Error::unsupported(format!(
                "a join whose right side has {num_rows} rows; put the smaller table on the right"
            )));
        }
        let fields = keys.iter().map(|e| SortField::new(e.data_type())).collect();
        let converter = RowConverter::new(fields)?;
        let key_columns = keys_of(keys, &batch)?;
        let rows: Rows = converter.convert_columns(&key_columns)?;
        let valid = valid_keys(&key_columns, num_rows);
        // The batch, the encoded keys (twice: the rows and the map's copy), the chains.
        let now = batch.get_array_memory_size() + 2 * rows.size() + 4 * num_rows;
        stats.track_memory(*held, now)?;
        *held = now;
        let mut heads: HashMap<Box<[u8]>, u32, RandomState> =
            HashMap::with_hasher(RandomState::new());
        let mut next = vec![NONE; num_rows];
        for (i, row) in rows.iter().enumerate() {
            if valid.as_ref().is_some_and(|v| v.is_null(i)) {
                continue;
            }
            let row_id = i as u32;
            match heads.get_mut(row.as_ref()) {
                Some(head) => {
                    next[i] = *head;
                    *head = row_id;
                }
                None => {
                    heads.insert(row.as_ref().into(), row_id);
                }
            }
        }
        let now = now + heads.len() * 48;
        stats.track_memory(*held, now)?;
        *held = now;
        Ok(BuildSide {
            batch,
            converter,
            heads,
            next,
        })
    }
}

/// Gathers the left rows `left_rows` and the right rows `right_rows` side by side; a side
/// given as `None` comes out as NULLs (`len` rows).
pub(super) fn gather(
    schema: &SchemaRef,
    left: &RecordBatch,
    left_rows: Option<&UInt32Array>,
    right: &RecordBatch,
    right_rows: Option<&UInt32Array>,
    len: usize,
) -> Result<RecordBatch> {
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (side, rows) in [(left, left_rows), (right, right_rows)] {
        for column in side.columns() {
            columns.push(match rows {
                Some(rows) => take(column.as_ref(), rows, None)?,
                None => new_null_array(column.data_type(), len),
            });
        }
    }
    let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(len));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &options,
    )?)
}

/// The joined pairs `(lefts[i], rights[i])` that pass `filter`, and which pairs those are.
pub(super) fn matched_pairs(
    schema: &SchemaRef,
    left: &RecordBatch,
    lefts: UInt32Array,
    right: &RecordBatch,
    rights: UInt32Array,
    filter: Option<&Expr>,
) -> Result<(RecordBatch, UInt32Array, UInt32Array)> {
    let len = lefts.len();
    let matched = gather(schema, left, Some(&lefts), right, Some(&rights), len)?;
    let Some(filter) = filter else {
        return Ok((matched, lefts, rights));
    };
    let mask = evaluate_predicate(filter, &matched)?;
    let mask = if mask.null_count() > 0 {
        arrow::compute::prep_null_mask_filter(&mask)
    } else {
        mask
    };
    let keep = |indices: &UInt32Array| -> Result<UInt32Array> {
        arrow::compute::filter(indices, &mask)?
            .as_any()
            .downcast_ref::<UInt32Array>()
            .cloned()
            .ok_or_else(|| Error::internal("filtered join indices"))
    };
    Ok((
        filter_record_batch(&matched, &mask)?,
        keep(&lefts)?,
        keep(&rights)?,
    ))
}

/// The positions in `0..len` that `matched` does not name.
pub(super) fn unmatched(len: usize, matched: &UInt32Array) -> UInt32Array {
    let mut seen = vec![false; len];
    mark(&mut seen, matched);
    unset(&seen).into()
}

/// The positions whose flag is false.
pub(super) fn unset(flags: &[bool]) -> Vec<u32> {
    flags
        .iter()
        .enumerate()
        .filter(|(_, &f)| !f)
        .map(|(i, _)| i as u32)
        .collect()
}

/// Marks the right rows that found a partner.
pub(super) fn mark(visited: &mut [bool], rights: &UInt32Array) {
    for &r in rights.values() {
        if let Some(v) = visited.get_mut(r as usize) {
            *v = true;
        }
    }
}

/// The output of one probe batch: the matched pairs, then (LEFT, FULL) the left rows without a
/// partner, NULL-extended.
pub(super) fn probe_output(
    kind: JoinKind,
    schema: &SchemaRef,
    batch: &RecordBatch,
    matched: RecordBatch,
    kept_lefts: &UInt32Array,
    right: &RecordBatch,
) -> Result<RecordBatch> {
    if !kind.keeps_unmatched_left() {
        return Ok(matched);
    }
    let alone = unmatched(batch.num_rows(), kept_lefts);
    if alone.is_empty() {
        return Ok(matched);
    }
    let len = alone.len();
    let alone = gather(schema, batch, Some(&alone), right, None, len)?;
    Ok(concat_batches(schema, [&matched, &alone])?)
}

/// The right rows no left row matched (RIGHT, FULL), NULL-extended on the left, in batches of at
/// most `BATCH_ROWS`.
pub(super) fn unmatched_right(
    schema: &SchemaRef,
    left_schema: &SchemaRef,
    right: &RecordBatch,
    visited: &[bool],
) -> Result<Vec<RecordBatch>> {
    let rows = unset(visited);
    let empty_left = RecordBatch::new_empty(left_schema.clone());
    rows.chunks(BATCH_ROWS)
        .map(|chunk| {
            let rows = UInt32Array::from(chunk.to_vec());
            gather(schema, &empty_left, None, right, Some(&rows), chunk.len())
        })
        .collect()
}

/// A mark join's output: the left batch and, for each of its rows, whether it found a partner.
pub(super) fn marked(
    schema: &SchemaRef,
    batch: &RecordBatch,
    matched: &[bool],
) -> Result<RecordBatch> {
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(arrow::array::BooleanArray::from(matched.to_vec())));
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The schema of the joined pairs: the left columns, then the right ones (what a join filter
/// reads, also for a mark join, whose output has no right columns).
pub(super) fn pair_schema(left: &SchemaRef, right: &SchemaRef) -> SchemaRef {
    let fields: Vec<arrow::datatypes::FieldRef> = left
        .fields()
        .iter()
        .chain(right.fields().iter())
        .map(|f| Arc::new(f.as_ref().clone().with_nullable(true)))
        .collect();
    Arc::new(arrow::datatypes::Schema::new(fields))
}

/// `batch` in slices of at most [`BATCH_ROWS`] rows (none for an empty batch).
pub(super) fn split_batch(batch: &RecordBatch) -> Vec<RecordBatch> {
    (0..batch.num_rows())
        .step_by(BATCH_ROWS)
        .map(|start| batch.slice(start, BATCH_ROWS.min(batch.num_rows() - start)))
        .collect()
}

/// Rows per batch of NULL-extended right rows, and the size the nested loop aims at.
pub(super) const BATCH_ROWS: usize = 8192;

/// Turns a per-batch function and a final flush into the operator's batch iterator: `probe` maps
/// each input batch (`None`: nothing to emit), `finish` runs once after the input ends.
pub(super) fn probe_iter(
    mut input: BatchIter,
    mut probe: impl FnMut(RecordBatch) -> Result<Option<RecordBatch>> + 'static,
    finish: impl FnOnce() -> Result<Vec<RecordBatch>> + 'static,
) -> BatchIter {
    let mut finish = Some(finish);
    let mut tail: std::vec::IntoIter<RecordBatch> = Vec::new().into_iter();
    Box::new(std::iter::from_fn(move || loop {
        if let Some(batch) = tail.next() {
            return Some(Ok(batch));
        }
        finish.as_ref()?;
        match input.next() {
            Some(Ok(batch)) => match probe(batch) {
                Ok(Some(out)) => return Some(Ok(out)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            },
            Some(Err(e)) => return Some(Err(e)),
            None => match finish.take().map(|f| f()) {
                Some(Ok(batches)) => tail = batches.into_iter(),
                Some(Err(e)) => return Some(Err(e)),
                None => return None,
            },
        }
    }))
}

impl ExecutionPlan for HashJoinExec {
    fn name(&self) -> &'static str {
        "HashJoinExec"
    }

    fn details(&self) -> String {
        let keys: Vec<String> = self.on.iter().map(|(l, r)| format!("{l} = {r}")).collect();
        let mut out = format!("{} on=[{}]", self.kind.name(), keys.join(", "));
        if let Some(filter) = &self.filter {
            out.push_str(&format!(" filter={filter}"));
        }
        out.push_str(" build=right");
        out
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![self.left.as_ref(), self.right.as_ref()]
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let HashJoinExec {
            left,
            right,
            kind,
            on,
            filter,
            schema,
            stats,
        } = *self;
        let left_schema = left.schema();
        let right_keys: Vec<&Expr> = on.iter().map(|(_, r)| r).collect();
        let mut held = 0;
        let build = HashJoinExec::build(right, &right_keys, &stats, &mut held)?;
        let build_rows = build.batch.num_rows();
        let pairs = pair_schema(&left_schema, &build.batch.schema());
        if build.heads.is_empty() && !kind.keeps_unmatched_left() {
            // Nothing can match and no left row comes out alone: do not read the left input.
            let alone = if kind.keeps_unmatched_right() {
                unmatched_right(
                    &schema,
                    &left_schema,
                    &build.batch,
                    &vec![false; build_rows],
                )?
            } else {
                vec![]
            };
            stats.track_memory(held, 0)?;
            return Ok(Box::new(alone.into_iter().map(Ok)));
        }
        let left_keys: Vec<Expr> = on.into_iter().map(|(l, _)| l).collect();
        let input = left.execute()?;
        let build = Rc::new(build);
        let visited = Rc::new(RefCell::new(if kind.keeps_unmatched_right() {
            vec![false; build_rows]
        } else {
            vec![]
        }));
        let (probe_build, probe_visited, probe_schema) =
            (build.clone(), visited.clone(), schema.clone());
        let probe = move |batch: RecordBatch| -> Result<Option<RecordBatch>> {
            stats.check()?;
            let build = &probe_build;
            let key_refs: Vec<&Expr> = left_keys.iter().collect();
            let mut left_rows: Vec<u32> = Vec::with_capacity(batch.num_rows());
            let mut right_rows: Vec<u32> = Vec::with_capacity(batch.num_rows());
            build.probe(&key_refs, &batch, |l, r| {
                left_rows.push(l);
                right_rows.push(r);
            })?;
            let pair_schema = if kind.outputs_right() {
                &probe_schema
            } else {
                &pairs
            };
            let (matched, kept_lefts, kept_rights) = matched_pairs(
                pair_schema,
                &batch,
                UInt32Array::from(left_rows),
                &build.batch,
                UInt32Array::from(right_rows),
                filter.as_ref(),
            )?;
            if kind.keeps_unmatched_right() {
                mark(&mut probe_visited.borrow_mut(), &kept_rights);
            }
            if !kind.outputs_right() {
                let mut found = vec![false; batch.num_rows()];
                mark(&mut found, &kept_lefts);
                return Ok(Some(marked(&probe_schema, &batch, &found)?));
            }
            let out = probe_output(
                kind,
                &probe_schema,
                &batch,
                matched,
                &kept_lefts,
                &build.batch,
            )?;
            Ok((out.num_rows() > 0).then_some(out))
        };
        let finish = move || -> Result<Vec<RecordBatch>> {
            if !kind.keeps_unmatched_right() {
                return Ok(vec![]);
            }
            let visited = visited.borrow();
            unmatched_right(&schema, &left_schema, &build.batch, &visited)
        };
        Ok(probe_iter(input, probe, finish))
    }
}
