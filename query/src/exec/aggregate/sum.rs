//! `COUNT`, `SUM` and `AVG`: per-group counters and sums.

use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::{ArrayRef, ArrowPrimitiveType, Decimal128Array, Float64Array, Int64Array};
use arrow::datatypes::Decimal128Type;

use super::accumulator::{
    downcast, for_each_valid, primitive, validity, GroupsAccumulator, Number,
};
use crate::error::{Error, Result};
use crate::expr::coerce::avg_decimal_scale;

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

/// The largest magnitude a DECIMAL(38, s) holds, plus one: `10^38`.
pub(crate) const DECIMAL_LIMIT: i128 = 10i128.pow(38);

/// The error of a DECIMAL sum or average past 38 digits.
pub(crate) fn decimal_overflow(what: &str) -> Error {
    Error::NumericOverflow {
        message: format!(
            "{what}() of DECIMAL is out of range for DECIMAL(38): more than 38 digits"
        ),
    }
}

/// `SUM` of DECIMAL(p, s): DECIMAL(38, s), as DuckDB (PostgreSQL's NUMERIC has no maximum).
/// The sums are exact i128 integers of the scale, so their order (batches, workers, the
/// merge of partial states) cannot change the result; a sum beyond 38 digits is an error.
#[derive(Debug)]
pub(super) struct SumDecimal {
    sums: Vec<i128>,
    seen: Vec<bool>,
    scale: i8,
}

impl SumDecimal {
    /// The sum of decimals of scale `scale`.
    pub(super) fn new(scale: i8) -> Self {
        SumDecimal {
            sums: vec![],
            seen: vec![],
            scale,
        }
    }
}

/// Adds `value` to `sum`, false when the result leaves DECIMAL(38).
#[inline]
fn add_decimal(sum: &mut i128, value: i128) -> bool {
    match sum.checked_add(value) {
        Some(s) if -DECIMAL_LIMIT < s && s < DECIMAL_LIMIT => {
            *sum = s;
            true
        }
        _ => false,
    }
}

impl GroupsAccumulator for SumDecimal {
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        groups: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        self.sums.resize(num_groups, 0);
        self.seen.resize(num_groups, false);
        let array = primitive::<Decimal128Type>(values)?;
        let data = array.values();
        let (sums, seen) = (&mut self.sums, &mut self.seen);
        let mut in_range = true;
        for_each_valid(array, groups, |row, g| {
            in_range &= add_decimal(&mut sums[g], data[row]);
            seen[g] = true;
        });
        if !in_range {
            return Err(decimal_overflow("sum"));
        }
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.sums.resize(num_groups, 0);
        self.seen.resize(num_groups, false);
        let nulls = validity(&self.seen);
        Ok(Arc::new(
            Decimal128Array::new(std::mem::take(&mut self.sums).into(), nulls)
                .with_precision_and_scale(38, self.scale)?,
        ))
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
                if !add_decimal(&mut self.sums[to], sum) {
                    return Err(decimal_overflow("sum"));
                }
                self.seen[to] = true;
            }
        }
        Ok(())
    }
}

/// `AVG` of DECIMAL(p, s): DECIMAL(38, max(s, 6)) (see [`crate::expr::coerce::avg_decimal_scale`]), the exact sum
/// divided by the count and rounded half away from zero at that scale; NULL without values.
#[derive(Debug)]
pub(super) struct AvgDecimal {
    sums: Vec<i128>,
    counts: Vec<u64>,
    scale: i8,
}

impl AvgDecimal {
    /// The average of decimals of scale `scale`.
    pub(super) fn new(scale: i8) -> Self {
        AvgDecimal {
            sums: vec![],
            counts: vec![],
            scale,
        }
    }
}

/// `sum / count` at `shift` more decimals, rounded half away from zero; `None` beyond
/// DECIMAL(38).
pub(crate) fn divide_decimal(sum: i128, count: u64, shift: u32) -> Option<i128> {
    let count = i128::from(count);
    let factor = 10i128.checked_pow(shift)?;
    let (quotient, remainder) = (sum / count, sum % count);
    // |remainder| < count < 2^64 and factor <= 10^38 / ... : the product fits for shift <= 6;
    // checked for any other.
    let scaled = remainder.checked_mul(factor)?;
    let (mut fraction, rest) = (scaled / count, scaled % count);
    if rest.unsigned_abs() * 2 >= count.unsigned_abs() {
        fraction += scaled.signum();
    }
    let value = quotient.checked_mul(factor)?.checked_add(fraction)?;
    (-DECIMAL_LIMIT < value && value < DECIMAL_LIMIT).then_some(value)
}

impl GroupsAccumulator for AvgDecimal {
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        groups: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        self.sums.resize(num_groups, 0);
        self.counts.resize(num_groups, 0);
        let array = primitive::<Decimal128Type>(values)?;
        let data = array.values();
        let (sums, counts) = (&mut self.sums, &mut self.counts);
        let mut in_range = true;
        for_each_valid(array, groups, |row, g| {
            in_range &= add_decimal(&mut sums[g], data[row]);
            counts[g] += 1;
        });
        if !in_range {
            return Err(decimal_overflow("avg"));
        }
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.sums.resize(num_groups, 0);
        self.counts.resize(num_groups, 0);
        let out_scale = avg_decimal_scale(self.scale);
        let shift = u32::try_from(out_scale - self.scale).unwrap_or(0);
        let averages = self
            .sums
            .iter()
            .zip(&self.counts)
            .map(|(&s, &c)| {
                if c == 0 {
                    Ok(0)
                } else {
                    divide_decimal(s, c, shift).ok_or_else(|| decimal_overflow("avg"))
                }
            })
            .collect::<Result<Vec<i128>>>()?;
        let seen: Vec<bool> = self.counts.iter().map(|&c| c > 0).collect();
        Ok(Arc::new(
            Decimal128Array::new(averages.into(), validity(&seen))
                .with_precision_and_scale(38, out_scale)?,
        ))
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
        self.counts.resize(num_groups, 0);
        for (g, (&sum, &count)) in other.sums.iter().zip(&other.counts).enumerate() {
            let to = mapping[g];
            if !add_decimal(&mut self.sums[to], sum) {
                return Err(decimal_overflow("avg"));
            }
            self.counts[to] += count;
        }
        Ok(())
    }
}

#[cfg(test)]
mod decimal_tests {
    use super::*;

    #[test]
    fn decimal_average_rounds_half_away_from_zero() {
        // 1.25 + 2.5 at scale 2 is 375; / 2 at 4 more decimals: 1.875000 at scale 6.
        assert_eq!(divide_decimal(375, 2, 4), Some(1_875_000));
        assert_eq!(divide_decimal(1, 3, 6), Some(333_333));
        assert_eq!(divide_decimal(2, 3, 6), Some(666_667));
        assert_eq!(divide_decimal(-2, 3, 6), Some(-666_667));
        assert_eq!(divide_decimal(5, 10, 0), Some(1));
        assert_eq!(divide_decimal(-5, 10, 0), Some(-1));
    }

    #[test]
    fn decimal_sums_in_any_order_are_equal_and_overflow_is_an_error() {
        let mut a = 0i128;
        assert!(add_decimal(&mut a, DECIMAL_LIMIT - 1));
        assert!(!add_decimal(&mut a, 1));
        assert_eq!(a, DECIMAL_LIMIT - 1);
    }
}
