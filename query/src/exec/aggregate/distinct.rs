//! `DISTINCT` aggregates: `COUNT(DISTINCT x)` as a set per group, and any other aggregate over
//! each group's first occurrence of every value.

use std::collections::HashSet;
use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::{ArrayRef, ArrowPrimitiveType, AsArray, Int64Array};
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, SortField};

/// A set of encoded values, hashed with a fast non-cryptographic hasher.
type ValueSet = HashSet<Box<[u8]>, ahash::RandomState>;

use super::accumulator::{downcast, for_each_valid, primitive, GroupsAccumulator, Number};
use crate::error::{Error, Result};

/// `agg(DISTINCT x)` for aggregates other than COUNT: feeds each group's first occurrence of
/// every value (row-encoded, kept in a per-group set) to the plain accumulator.
pub(super) struct Distinct {
    converter: RowConverter,
    sets: Vec<ValueSet>,
    inner: Box<dyn GroupsAccumulator>,
}

impl std::fmt::Debug for Distinct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distinct")
            .field("groups", &self.sets.len())
            .field("inner", &self.inner)
            .finish()
    }
}

impl Distinct {
    pub(super) fn try_new(data_type: DataType, inner: Box<dyn GroupsAccumulator>) -> Result<Self> {
        Ok(Distinct {
            converter: RowConverter::new(vec![SortField::new(data_type)])?,
            sets: vec![],
            inner,
        })
    }
}

impl GroupsAccumulator for Distinct {
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        groups: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        self.sets.resize_with(num_groups, ValueSet::default);
        let values =
            values.ok_or_else(|| Error::internal("DISTINCT aggregate without argument"))?;
        // -0.0 and 0.0 are one value.
        let values = &crate::kernel::normalize_zero(values)?;
        let rows = self
            .converter
            .convert_columns(std::slice::from_ref(values))?;
        let sets = &mut self.sets;
        let mut first_rows: Vec<u32> = vec![];
        let mut first_groups: Vec<usize> = vec![];
        for_each_valid(values.as_ref(), groups, |row, g| {
            let key = rows.row(row);
            if !sets[g].contains(key.as_ref()) {
                sets[g].insert(key.as_ref().into());
                first_rows.push(row as u32);
                first_groups.push(g);
            }
        });
        let indices = arrow::array::UInt32Array::from(first_rows);
        let firsts = arrow::compute::take(values.as_ref(), &indices, None)?;
        self.inner
            .update_batch(Some(&firsts), &first_groups, num_groups)
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.inner.evaluate(num_groups)
    }
}

/// The size of each group's set, as `COUNT(DISTINCT)`'s result; the sets are released.
fn count_sets<T>(sets: &mut Vec<HashSet<T, ahash::RandomState>>, num_groups: usize) -> ArrayRef {
    sets.resize_with(num_groups, HashSet::default);
    let counts: Vec<i64> = sets.iter().map(|s| s.len() as i64).collect();
    *sets = vec![];
    Arc::new(Int64Array::from(counts))
}

/// Unions `theirs[g]` into `mine[mapping[g]]` for every group `g` of another worker (the smaller
/// set is inserted into the larger one).
fn union_sets<T: Eq + std::hash::Hash>(
    mine: &mut Vec<HashSet<T, ahash::RandomState>>,
    theirs: Vec<HashSet<T, ahash::RandomState>>,
    mapping: &[usize],
    num_groups: usize,
) {
    mine.resize_with(num_groups, HashSet::default);
    for (g, set) in theirs.into_iter().enumerate() {
        let to = &mut mine[mapping[g]];
        if to.len() < set.len() {
            let smaller = std::mem::replace(to, set);
            to.extend(smaller);
        } else {
            to.extend(set);
        }
    }
}

/// `COUNT(DISTINCT x)`: a set of row-encoded values per group.
pub(super) struct CountDistinct {
    converter: RowConverter,
    sets: Vec<ValueSet>,
}

impl std::fmt::Debug for CountDistinct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountDistinct")
            .field("groups", &self.sets.len())
            .finish()
    }
}

impl CountDistinct {
    pub(super) fn try_new(data_type: DataType) -> Result<Self> {
        Ok(CountDistinct {
            converter: RowConverter::new(vec![SortField::new(data_type)])?,
            sets: vec![],
        })
    }
}

impl GroupsAccumulator for CountDistinct {
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        groups: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        self.sets.resize_with(num_groups, ValueSet::default);
        let values = values.ok_or_else(|| Error::internal("count(distinct) without argument"))?;
        // -0.0 and 0.0 are one value.
        let values = &crate::kernel::normalize_zero(values)?;
        let rows = self
            .converter
            .convert_columns(std::slice::from_ref(values))?;
        let sets = &mut self.sets;
        for_each_valid(values.as_ref(), groups, |row, g| {
            let key = rows.row(row);
            if !sets[g].contains(key.as_ref()) {
                sets[g].insert(key.as_ref().into());
            }
        });
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        Ok(count_sets(&mut self.sets, num_groups))
    }

    fn supports_merge(&self) -> bool {
        true
    }

    fn merge(
        &mut self,
        other: Box<dyn GroupsAccumulator>,
        mapping: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<Self>(other)?;
        union_sets(&mut self.sets, other.sets, mapping, num_groups);
        Ok(())
    }
}

/// A set of integers, hashed with a fast non-cryptographic hasher.
type IntSet = HashSet<i64, ahash::RandomState>;

/// `COUNT(DISTINCT x)` of integers, dates and timestamps: a set of `i64` per group (no encoding,
/// no allocation per value).
#[derive(Debug)]
pub(super) struct CountDistinctInt<T> {
    sets: Vec<IntSet>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Default for CountDistinctInt<T> {
    fn default() -> Self {
        CountDistinctInt {
            sets: vec![],
            _type: PhantomData,
        }
    }
}

impl<T> GroupsAccumulator for CountDistinctInt<T>
where
    T: ArrowPrimitiveType + std::fmt::Debug,
    T::Native: Number,
{
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        groups: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        self.sets.resize_with(num_groups, IntSet::default);
        let array = primitive::<T>(values)?;
        let data = array.values();
        let sets = &mut self.sets;
        for_each_valid(array, groups, |row, g| {
            sets[g].insert(data[row].to_i64());
        });
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        Ok(count_sets(&mut self.sets, num_groups))
    }

    fn supports_merge(&self) -> bool {
        true
    }

    fn merge(
        &mut self,
        other: Box<dyn GroupsAccumulator>,
        mapping: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<Self>(other)?;
        union_sets(&mut self.sets, other.sets, mapping, num_groups);
        Ok(())
    }
}

/// `COUNT(DISTINCT x)` of strings: the string bytes per group, without row encoding.
#[derive(Debug, Default)]
pub(super) struct CountDistinctString {
    sets: Vec<ValueSet>,
}

impl GroupsAccumulator for CountDistinctString {
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        groups: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        self.sets.resize_with(num_groups, ValueSet::default);
        let array = values
            .and_then(|v| v.as_string_opt::<i32>())
            .ok_or_else(|| Error::internal("count(distinct) input is not VARCHAR"))?;
        let sets = &mut self.sets;
        for_each_valid(array, groups, |row, g| {
            let v = array.value(row).as_bytes();
            if !sets[g].contains(v) {
                sets[g].insert(v.into());
            }
        });
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        Ok(count_sets(&mut self.sets, num_groups))
    }

    fn supports_merge(&self) -> bool {
        true
    }

    fn merge(
        &mut self,
        other: Box<dyn GroupsAccumulator>,
        mapping: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<Self>(other)?;
        union_sets(&mut self.sets, other.sets, mapping, num_groups);
        Ok(())
    }
}
