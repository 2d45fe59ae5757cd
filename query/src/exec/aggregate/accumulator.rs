//! Group accumulators: the state of one aggregate call for every group, updated a batch at a
//! time (DataFusion's `GroupsAccumulator` idea).
//!
//! [`create_accumulator`](super::create_accumulator) dispatches on the argument type once per
//! query; the returned accumulator then runs one tight loop per batch over the values and the
//! group-index vector. State is plain per-group vectors (sums, counts, current minimum, ...), so
//! two partial states of the same aggregate (built by two workers over different batches)
//! combine group by group ([`GroupsAccumulator::merge`]).
//!
//! This file holds what every accumulator shares: the [`GroupsAccumulator`] trait and the loops
//! over valid rows; the accumulators live in one file per family (`sum`, `min_max`,
//! `variance`, `distinct`, `sketch`).

use std::any::Any;

use arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, PrimitiveArray};
use arrow::buffer::NullBuffer;

use crate::error::{Error, Result};

/// The per-group state of one aggregate call.
pub trait GroupsAccumulator: std::fmt::Debug + Send + Any {
    /// Adds row `i` of `values` to group `groups[i]`, for every row. `values` is `None` for
    /// `COUNT(*)`. Group indices are below `num_groups`; groups not seen before start empty.
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        groups: &[usize],
        num_groups: usize,
    ) -> Result<()>;

    /// Says that the next batches are the input's batch `index` (batches are numbered in input
    /// order; accumulators that keep the input order use it when partial states merge).
    fn set_batch(&mut self, index: usize) {
        let _ = index;
    }

    /// The result of every group, in group order (`num_groups` values).
    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef>;

    /// Whether [`GroupsAccumulator::merge`] is implemented; aggregations whose accumulators all
    /// merge run on several workers.
    fn supports_merge(&self) -> bool {
        false
    }

    /// Folds `other`, a partial state of the same aggregate built over other rows, into this
    /// one: `other`'s group `g` is this accumulator's group `mapping[g]`; this accumulator has
    /// `num_groups` groups afterwards.
    fn merge(
        &mut self,
        other: Box<dyn GroupsAccumulator>,
        mapping: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        let _ = (other, mapping, num_groups);
        Err(Error::internal("this aggregate has no partial-state merge"))
    }

    /// The bytes of state beyond a few words per group (sketches, kept values), for the memory
    /// limit.
    fn size(&self) -> usize {
        0
    }
}

/// `other` as the concrete accumulator type `T` (a merge of two different kinds is a bug).
pub(super) fn downcast<T: GroupsAccumulator>(other: Box<dyn GroupsAccumulator>) -> Result<Box<T>> {
    let any: Box<dyn Any> = other;
    any.downcast::<T>()
        .map_err(|_| Error::internal("merging partial states of different aggregates"))
}

/// Calls `f(row, group)` for every row whose value is not NULL.
#[inline]
pub(super) fn for_each_valid(
    values: &dyn Array,
    groups: &[usize],
    mut f: impl FnMut(usize, usize),
) {
    match values.logical_nulls() {
        None => groups
            .iter()
            .enumerate()
            .for_each(|(row, &group)| f(row, group)),
        Some(nulls) => {
            for (row, &group) in groups.iter().enumerate() {
                if nulls.is_valid(row) {
                    f(row, group);
                }
            }
        }
    }
}

/// A validity buffer from per-group "has a value" flags.
pub(super) fn validity(seen: &[bool]) -> Option<NullBuffer> {
    if seen.iter().all(|&s| s) {
        None
    } else {
        Some(NullBuffer::from(seen.to_vec()))
    }
}

pub(super) fn primitive<T: ArrowPrimitiveType>(
    values: Option<&ArrayRef>,
) -> Result<&PrimitiveArray<T>> {
    values
        .and_then(|v| v.as_primitive_opt::<T>())
        .ok_or_else(|| Error::internal(format!("aggregate input is not {}", T::DATA_TYPE)))
}

/// Numbers that sum into an i64 or an f64.
pub(super) trait Number: Copy {
    /// The value as an i64 (integers; floats are truncated).
    fn to_i64(self) -> i64;
    /// The value as an f64.
    fn to_f64(self) -> f64;
}

macro_rules! number {
    ($($t:ty),*) => {$(
        impl Number for $t {
            #[inline]
            fn to_i64(self) -> i64 { self as i64 }
            #[inline]
            fn to_f64(self) -> f64 { self as f64 }
        }
    )*};
}
number!(i16, i32, i64, f32, f64);
