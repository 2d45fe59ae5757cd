//! [`NestedLoopJoinExec`]: a join without equality keys: `CROSS JOIN`, a comma in FROM with no
//! condition linking the tables, or an ON condition such as `a.t BETWEEN b.start AND b.end`.
//!
//! The right input is read whole (it counts against the query memory limit, so an oversized one
//! fails with `MEMORY_LIMIT_EXCEEDED`). The pairs of a left batch and the right rows form a grid
//! of `left rows × right rows`; it is walked in row-major blocks of at most [`BATCH_ROWS`] pairs,
//! each gathered with the `take` kernel and filtered by the condition in one vectorized pass, so
//! a block's cost does not depend on how the grid is shaped and no output batch grows past the
//! block size. LEFT, RIGHT and FULL joins track which rows found a partner, as the hash join does.
//! The output is streamed: a cross join of large inputs costs time (bounded by the query's time
//! limit), not memory.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::UInt32Array;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::join::{gather, mark, marked, matched_pairs, unmatched_right, unset, BATCH_ROWS};
use super::{BatchIter, ExecStats, ExecutionPlan};
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::plan::JoinKind;

/// Joins every left row to every right row for which `filter` holds (all of them without one).
#[derive(Debug)]
pub struct NestedLoopJoinExec {
    left: Box<dyn ExecutionPlan>,
    right: Box<dyn ExecutionPlan>,
    kind: JoinKind,
    filter: Option<Expr>,
    schema: SchemaRef,
    stats: Arc<ExecStats>,
}

impl NestedLoopJoinExec {
    /// Joins `left` and `right` (held in memory) on `filter` over the joined columns (left's,
    /// then right's, as in `schema`).
    pub fn new(
        left: Box<dyn ExecutionPlan>,
        right: Box<dyn ExecutionPlan>,
        kind: JoinKind,
        filter: Option<Expr>,
        schema: SchemaRef,
        stats: Arc<ExecStats>,
    ) -> Self {
        NestedLoopJoinExec {
            left,
            right,
            kind,
            filter,
            schema,
            stats,
        }
    }
}

impl ExecutionPlan for NestedLoopJoinExec {
    fn name(&self) -> &'static str {
        "NestedLoopJoinExec"
    }

    fn details(&self) -> String {
        match &self.filter {
            Some(filter) => format!("{} filter={filter} build=right", self.kind.name()),
            None => format!("{} (cross) build=right", self.kind.name()),
        }
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![self.left.as_ref(), self.right.as_ref()]
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let NestedLoopJoinExec {
            left,
            right,
            kind,
            filter,
            schema,
            stats,
        } = *self;
        let right_schema = right.schema();
        let mut held = 0;
        let mut batches = vec![];
        for batch in right.execute()? {
            let batch = batch?;
            let now = held + batch.get_array_memory_size();
            stats.track_memory(held, now)?;
            held = now;
            batches.push(batch);
        }
        let right = concat_batches(&right_schema, &batches)?;
        drop(batches);
        let now = right.get_array_memory_size();
        stats.track_memory(held, now)?;
        if u32::try_from(right.num_rows()).is_err() {
            return Err(Error::unsupported(format!(
                "a join whose right side has {} rows; put the smaller table on the right",
                right.num_rows()
            )));
        }
        let left_schema = left.schema();
        if right.num_rows() == 0 && !kind.keeps_unmatched_left() {
            return Ok(Box::new(std::iter::empty()));
        }
        let pairs = super::join::pair_schema(&left_schema, &right.schema());
        let visited = if kind.keeps_unmatched_right() {
            vec![false; right.num_rows()]
        } else {
            vec![]
        };
        Ok(Box::new(NestedLoop {
            input: left.execute()?,
            right,
            kind,
            filter,
            schema,
            left_schema,
            pairs,
            stats,
            current: None,
            visited,
            done: false,
            tail: VecDeque::new(),
        }))
    }
}

/// The left batch being joined: the batch, the next pair of its grid, and which of its rows
/// found a partner.
struct Current {
    batch: RecordBatch,
    next_pair: usize,
    matched: Vec<bool>,
}

/// The state of a running nested-loop join.
struct NestedLoop {
    input: BatchIter,
    right: RecordBatch,
    kind: JoinKind,
    filter: Option<Expr>,
    schema: SchemaRef,
    left_schema: SchemaRef,
    /// The joined pairs' schema (differs from `schema` for a mark join).
    pairs: SchemaRef,
    stats: Arc<ExecStats>,
    current: Option<Current>,
    /// For RIGHT and FULL joins: the right rows that found a partner.
    visited: Vec<bool>,
    done: bool,
    tail: VecDeque<RecordBatch>,
}

impl NestedLoop {
    /// The next output batch (`None`: this step produced nothing, go on), or the end.
    fn step(&mut self) -> Result<Option<Option<RecordBatch>>> {
        if let Some(batch) = self.tail.pop_front() {
            return Ok(Some(Some(batch)));
        }
        if self.done {
            return Ok(None);
        }
        let Some(current) = self.current.as_mut() else {
            match self.input.next() {
                Some(batch) => {
                    let batch = batch?;
                    let rows = batch.num_rows();
                    self.current = Some(Current {
                        batch,
                        next_pair: 0,
                        matched: vec![false; rows],
                    });
                }
                None => {
                    self.done = true;
                    if self.kind.keeps_unmatched_right() {
                        self.tail = unmatched_right(
                            &self.schema,
                            &self.left_schema,
                            &self.right,
                            &self.visited,
                        )?
                        .into();
                    }
                }
            }
            return Ok(Some(None));
        };
        self.stats.check()?;
        let width = self.right.num_rows();
        let pairs = current.batch.num_rows().saturating_mul(width);
        if current.next_pair >= pairs {
            // The batch is done: its rows without a partner (LEFT, FULL).
            let Some(done) = self.current.take() else {
                return Ok(Some(None));
            };
            if !self.kind.outputs_right() {
                return Ok(Some(Some(marked(
                    &self.schema,
                    &done.batch,
                    &done.matched,
                )?)));
            }
            if !self.kind.keeps_unmatched_left() {
                return Ok(Some(None));
            }
            let alone = UInt32Array::from(unset(&done.matched));
            if alone.is_empty() {
                return Ok(Some(None));
            }
            let len = alone.len();
            let out = gather(
                &self.schema,
                &done.batch,
                Some(&alone),
                &self.right,
                None,
                len,
            )?;
            return Ok(Some(Some(out)));
        }
        let end = pairs.min(current.next_pair.saturating_add(BATCH_ROWS));
        let (lefts, rights): (Vec<u32>, Vec<u32>) = (current.next_pair..end)
            .map(|p| ((p / width) as u32, (p % width) as u32))
            .unzip();
        current.next_pair = end;
        let (out, kept_lefts, kept_rights) = matched_pairs(
            &self.pairs,
            &current.batch,
            lefts.into(),
            &self.right,
            rights.into(),
            self.filter.as_ref(),
        )?;
        for &l in kept_lefts.values() {
            if let Some(m) = current.matched.get_mut(l as usize) {
                *m = true;
            }
        }
        if self.kind.keeps_unmatched_right() {
            mark(&mut self.visited, &kept_rights);
        }
        if !self.kind.outputs_right() {
            return Ok(Some(None));
        }
        Ok(Some((out.num_rows() > 0).then_some(out)))
    }
}

impl Iterator for NestedLoop {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.step() {
                Ok(Some(Some(batch))) => return Some(Ok(batch)),
                Ok(Some(None)) => continue,
                Ok(None) => return None,
                Err(e) => {
                    self.done = true;
                    self.current = None;
                    self.tail.clear();
                    return Some(Err(e));
                }
            }
        }
    }
}
