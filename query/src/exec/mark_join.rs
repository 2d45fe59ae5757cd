//! A MARK join (`EXISTS` / `IN` over a correlated subquery) that hashes whichever side is small.
//!
//! The left input is the enclosing query's rows, often few after its filters (TPC-H Q4: 57,000
//! orders of a quarter), the right one the subquery's, often many (3.8 million late lineitems).
//! Hashing the right side, as the general hash join does, would hold millions of rows to mark a
//! few thousand. So the left input is read first: when it ends within [`LEFT_BUILD_ROWS`] rows
//! and the memory limit, those rows are hashed, the right input streams through them marking
//! the left rows that find a partner (and stops early once every left row has one), and the
//! left rows come out in their order with their marks. A larger left input goes the general
//! way: the right side is hashed and the left rows read so far, then the rest, probe it.

use std::sync::Arc;

use arrow::array::UInt32Array;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;

use super::join::{marked, matched_pairs, pair_schema, split_batch, BuildSide, HashJoinExec};
use super::{BatchIter, ExecStats, ExecutionPlan};
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::plan::JoinKind;

/// A MARK join: each left row with whether some right row matches it (see the module).
#[derive(Debug)]
pub struct MarkJoinExec {
    left: Box<dyn ExecutionPlan>,
    right: Box<dyn ExecutionPlan>,
    on: Vec<(Expr, Expr)>,
    filter: Option<Expr>,
    schema: SchemaRef,
    stats: Arc<ExecStats>,
}

impl MarkJoinExec {
    /// Marks the rows of `left` that some row of `right` matches on the key pairs `on` (each
    /// pair of one type) and `filter` over the pairs; `schema` is left's columns and the mark.
    pub fn new(
        left: Box<dyn ExecutionPlan>,
        right: Box<dyn ExecutionPlan>,
        on: Vec<(Expr, Expr)>,
        filter: Option<Expr>,
        schema: SchemaRef,
        stats: Arc<ExecStats>,
    ) -> Self {
        MarkJoinExec {
            left,
            right,
            on,
            filter,
            schema,
            stats,
        }
    }
}

impl ExecutionPlan for MarkJoinExec {
    fn name(&self) -> &'static str {
        "HashJoinExec"
    }

    fn details(&self) -> String {
        let keys: Vec<String> = self.on.iter().map(|(l, r)| format!("{l} = {r}")).collect();
        let mut out = format!("MARK on=[{}]", keys.join(", "));
        if let Some(filter) = &self.filter {
            out.push_str(&format!(" filter={filter}"));
        }
        out.push_str(&format!(
            " build=left when it has at most {LEFT_BUILD_ROWS} rows, else right"
        ));
        out
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![self.left.as_ref(), self.right.as_ref()]
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        let MarkJoinExec {
            left,
            right,
            on,
            filter,
            schema,
            stats,
        } = *self;
        let left_schema = left.schema();
        match try_left_build(left, right, &on, filter.as_ref(), &schema, &stats)? {
            (LeftRead::Done(out), _) => Ok(out),
            (LeftRead::Large(read), Some(right)) => {
                let left = Box::new(Started {
                    schema: left_schema,
                    batches: read,
                });
                Box::new(HashJoinExec::try_new(
                    left,
                    right,
                    JoinKind::Mark,
                    on,
                    filter,
                    schema,
                    stats,
                )?)
                .execute()
            }
            (LeftRead::Large(_), None) => Err(Error::internal("mark join lost its right input")),
        }
    }
}

/// An input already started: the batches read so far, then the rest.
struct Started {
    schema: SchemaRef,
    batches: BatchIter,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Started")
    }
}

impl ExecutionPlan for Started {
    fn name(&self) -> &'static str {
        "Started"
    }

    fn details(&self) -> String {
        String::new()
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![]
    }

    fn execute(self: Box<Self>) -> Result<BatchIter> {
        Ok(self.batches)
    }
}

/// Left rows a mark join hashes (instead of its right input) when its left input ends within
/// them.
pub(super) const LEFT_BUILD_ROWS: usize = 1 << 20;

/// What reading the left input first found.
enum LeftRead {
    /// The whole left input was read and the join is done: its output.
    Done(BatchIter),
    /// The left input is larger: the batches read so far, then the rest of the input.
    Large(BatchIter),
}

/// Reads the left input; when it is small, runs the join with the left rows hashed.
fn try_left_build(
    left: Box<dyn ExecutionPlan>,
    right: Box<dyn ExecutionPlan>,
    on: &[(Expr, Expr)],
    filter: Option<&Expr>,
    schema: &SchemaRef,
    stats: &Arc<ExecStats>,
) -> Result<(LeftRead, Option<Box<dyn ExecutionPlan>>)> {
    let left_schema = left.schema();
    let mut input = left.execute()?;
    let mut batches = vec![];
    let (mut rows, mut held) = (0, 0);
    let mut large = false;
    for batch in input.by_ref() {
        let batch = batch?;
        rows += batch.num_rows();
        let now = held + batch.get_array_memory_size();
        stats.track_memory(held, now)?;
        held = now;
        batches.push(batch);
        if rows > LEFT_BUILD_ROWS {
            large = true;
            break;
        }
    }
    if large {
        stats.track_memory(held, 0)?;
        let read: BatchIter = Box::new(batches.into_iter().map(Ok).chain(input));
        return Ok((LeftRead::Large(read), Some(right)));
    }
    let batch = concat_batches(&left_schema, &batches)?;
    drop(batches);
    let left_keys: Vec<&Expr> = on.iter().map(|(l, _)| l).collect();
    let build = BuildSide::new(batch, &left_keys, stats, &mut held)?;
    let mut found = vec![false; build.batch.num_rows()];
    let mut left_found = 0;
    if !build.heads.is_empty() {
        let right_keys: Vec<&Expr> = on.iter().map(|(_, r)| r).collect();
        let pairs = pair_schema(&left_schema, &right.schema());
        for batch in right.execute()? {
            stats.check()?;
            let batch = batch?;
            let mut left_rows: Vec<u32> = vec![];
            let mut right_rows: Vec<u32> = vec![];
            build.probe(&right_keys, &batch, |r, l| {
                // A left row marked already needs no more partners.
                if !found.get(l as usize).copied().unwrap_or(true) {
                    left_rows.push(l);
                    right_rows.push(r);
                }
            })?;
            if left_rows.is_empty() {
                continue;
            }
            let kept_lefts = match filter {
                None => UInt32Array::from(left_rows),
                Some(_) => {
                    matched_pairs(
                        &pairs,
                        &build.batch,
                        UInt32Array::from(left_rows),
                        &batch,
                        UInt32Array::from(right_rows),
                        filter,
                    )?
                    .1
                }
            };
            for &l in kept_lefts.values() {
                if let Some(flag) = found.get_mut(l as usize) {
                    if !*flag {
                        *flag = true;
                        left_found += 1;
                    }
                }
            }
            if left_found == found.len() {
                break;
            }
        }
    }
    stats.track_memory(held, 0)?;
    let out = marked(schema, &build.batch, &found)?;
    let out: BatchIter = Box::new(split_batch(&out).into_iter().map(Ok));
    Ok((LeftRead::Done(out), None))
}
