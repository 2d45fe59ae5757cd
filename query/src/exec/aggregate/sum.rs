//! `COUNT`, `SUM` and `AVG`: per-group counters and sums.

use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::{ArrayRef, ArrowPrimitiveType, Float64Array, Int64Array};

use super::accumulator::{
    downcast, for_each_valid, primitive, validity, GroupsAccumulator, Number,
};
use crate::error::{Error, Result};

/// `COUNT(*)` and `COUNT(x)`.
#[derive(Debug, Default)]
pub(super) struct Count {
    counts: Vec<i64>,
}

impl GroupsAccumulator for Count {
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        groups: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        self.counts.resize(num_groups, 0);
        let counts = &mut self.counts;
        match values {
            None => groups.iter().for_each(|&g| counts[g] += 1),
            Some(values) => for_each_valid(values.as_ref(), groups, |_, g| counts[g] += 1),
        }
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.counts.resize(num_groups, 0);
        Ok(Arc::new(Int64Array::from(std::mem::take(&mut self.counts))))
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
        self.counts.resize(num_groups, 0);
        for (g, c) in other.counts.iter().enumerate() {
            self.counts[mapping[g]] += c;
        }
        Ok(())
    }
}

/// `SUM` of integers: BIGINT, overflow is an error.
#[derive(Debug)]
pub(super) struct SumInt<T> {
    sums: Vec<i64>,
    seen: Vec<bool>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Default for SumInt<T> {
    fn default() -> Self {
        SumInt {
            sums: vec![],
            seen: vec![],
            _type: PhantomData,
        }
    }
}

impl<T> GroupsAccumulator for SumInt<T>
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
        self.sums.resize(num_groups, 0);
        self.seen.resize(num_groups, false);
        let array = primitive::<T>(values)?;
        let data = array.values();
        let (sums, seen) = (&mut self.sums, &mut self.seen);
        let mut overflow = false;
        for_each_valid(array, groups, |row, g| {
            let (sum, o) = sums[g].overflowing_add(data[row].to_i64());
            sums[g] = sum;
            overflow |= o;
            seen[g] = true;
        });
        if overflow {
            return Err(Error::NumericOverflow {
                message: "sum() is out of range for BIGINT".into(),
            });
        }
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.sums.resize(num_groups, 0);
        self.seen.resize(num_groups, false);
        let nulls = validity(&self.seen);
        Ok(Arc::new(Int64Array::new(
            std::mem::take(&mut self.sums).into(),
            nulls,
        )))
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
        self.sums.resize(num_groups, 0);
        self.seen.resize(num_groups, false);
        for (g, (&sum, &seen)) in other.sums.iter().zip(&other.seen).enumerate() {
            if seen {
                let to = mapping[g];
                self.sums[to] =
                    self.sums[to]
                        .checked_add(sum)
                        .ok_or_else(|| Error::NumericOverflow {
                            message: "sum() is out of range for BIGINT".into(),
                        })?;
                self.seen[to] = true;
            }
        }
        Ok(())
    }
}

/// `SUM` of floats: DOUBLE.
#[derive(Debug)]
pub(super) struct SumFloat<T> {
    sums: Vec<f64>,
    seen: Vec<bool>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Default for SumFloat<T> {
    fn default() -> Self {
        SumFloat {
            sums: vec![],
            seen: vec![],
            _type: PhantomData,
        }
    }
}

impl<T> GroupsAccumulator for SumFloat<T>
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
        self.sums.resize(num_groups, 0.0);
        self.seen.resize(num_groups, false);
        let array = primitive::<T>(values)?;
        let data = array.values();
        let (sums, seen) = (&mut self.sums, &mut self.seen);
        for_each_valid(array, groups, |row, g| {
            sums[g] += data[row].to_f64();
            seen[g] = true;
        });
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.sums.resize(num_groups, 0.0);
        self.seen.resize(num_groups, false);
        let nulls = validity(&self.seen);
        Ok(Arc::new(Float64Array::new(
            std::mem::take(&mut self.sums).into(),
            nulls,
        )))
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
        self.sums.resize(num_groups, 0.0);
        self.seen.resize(num_groups, false);
        for (g, (&sum, &seen)) in other.sums.iter().zip(&other.seen).enumerate() {
            if seen {
                self.sums[mapping[g]] += sum;
                self.seen[mapping[g]] = true;
            }
        }
        Ok(())
    }
}

/// `AVG`: DOUBLE, NULL for a group without values.
#[derive(Debug)]
pub(super) struct Avg<T> {
    sums: Vec<f64>,
    counts: Vec<u64>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Default for Avg<T> {
    fn default() -> Self {
        Avg {
            sums: vec![],
            counts: vec![],
            _type: PhantomData,
        }
    }
}

impl<T> GroupsAccumulator for Avg<T>
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
        self.sums.resize(num_groups, 0.0);
        self.counts.resize(num_groups, 0);
        let array = primitive::<T>(values)?;
        let data = array.values();
        let (sums, counts) = (&mut self.sums, &mut self.counts);
        for_each_valid(array, groups, |row, g| {
            sums[g] += data[row].to_f64();
            counts[g] += 1;
        });
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.sums.resize(num_groups, 0.0);
        self.counts.resize(num_groups, 0);
        let averages: Vec<f64> = self
            .sums
            .iter()
            .zip(&self.counts)
            .map(|(&s, &c)| if c == 0 { 0.0 } else { s / c as f64 })
            .collect();
        let seen: Vec<bool> = self.counts.iter().map(|&c| c > 0).collect();
        Ok(Arc::new(Float64Array::new(
            averages.into(),
            validity(&seen),
        )))
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
        self.sums.resize(num_groups, 0.0);
        self.counts.resize(num_groups, 0);
        for (g, (&sum, &count)) in other.sums.iter().zip(&other.counts).enumerate() {
            self.sums[mapping[g]] += sum;
            self.counts[mapping[g]] += count;
        }
        Ok(())
    }
}
