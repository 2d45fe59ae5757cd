//! Group accumulators: the state of one aggregate call for every group, updated a batch at a
//! time (DataFusion's `GroupsAccumulator` idea).
//!
//! [`create_accumulator`] dispatches on the argument type once per query; the returned
//! accumulator then runs one tight loop per batch over the values and the group-index vector.
//! State is plain per-group vectors (sums, counts, current minimum, ...), so two partial states
//! of the same aggregate (built by two workers over different batches) combine group by group
//! ([`GroupsAccumulator::merge`]).

use std::any::Any;
use std::collections::HashSet;

/// A set of encoded values, hashed with a fast non-cryptographic hasher.
type ValueSet = HashSet<Box<[u8]>, ahash::RandomState>;
use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, Float64Array, Int64Array,
    PrimitiveArray, StringArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    DataType, Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, TimeUnit,
    TimestampMillisecondType,
};
use arrow::row::{RowConverter, SortField};

use crate::error::{Error, Result};
use crate::expr::{AggregateExpr, AggregateFunction};

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

/// Builds the accumulator for `aggregate`, choosing the loop by argument type.
pub fn create_accumulator(aggregate: &AggregateExpr) -> Result<Box<dyn GroupsAccumulator>> {
    let arg_type = aggregate.arg.as_ref().map(|a| a.data_type());
    let unsupported = |dt: &DataType| {
        Err(Error::unsupported(format!(
            "{}() of {}",
            aggregate.func.name(),
            strata_storage::sql_type_name(dt)
        )))
    };
    if aggregate.distinct {
        return match (aggregate.func, &arg_type) {
            (AggregateFunction::Count, Some(dt)) => Ok(match dt {
                DataType::Int16 => Box::new(CountDistinctInt::<Int16Type>::default()),
                DataType::Int32 => Box::new(CountDistinctInt::<Int32Type>::default()),
                DataType::Int64 => Box::new(CountDistinctInt::<Int64Type>::default()),
                DataType::Date32 => Box::new(CountDistinctInt::<Date32Type>::default()),
                DataType::Timestamp(TimeUnit::Millisecond, None) => {
                    Box::new(CountDistinctInt::<TimestampMillisecondType>::default())
                }
                DataType::Utf8 => Box::new(CountDistinctString::default()),
                _ => Box::new(CountDistinct::try_new(dt.clone())?),
            }),
            (AggregateFunction::Min | AggregateFunction::Max | AggregateFunction::AnyValue, _) => {
                create_accumulator(&AggregateExpr {
                    distinct: false,
                    ..aggregate.clone()
                })
            }
            (_, Some(dt)) => {
                let inner = create_accumulator(&AggregateExpr {
                    distinct: false,
                    ..aggregate.clone()
                })?;
                Ok(Box::new(Distinct::try_new(dt.clone(), inner)?))
            }
            (_, None) => Err(Error::internal(format!(
                "{}(DISTINCT) without argument",
                aggregate.func.name()
            ))),
        };
    }
    let Some(dt) = arg_type else {
        return Ok(Box::new(Count::default()));
    };
    Ok(match aggregate.func {
        AggregateFunction::Count => Box::new(Count::default()),
        AggregateFunction::Sum => match dt {
            DataType::Int16 => Box::new(SumInt::<Int16Type>::default()),
            DataType::Int32 => Box::new(SumInt::<Int32Type>::default()),
            DataType::Int64 => Box::new(SumInt::<Int64Type>::default()),
            DataType::Float32 => Box::new(SumFloat::<Float32Type>::default()),
            DataType::Float64 => Box::new(SumFloat::<Float64Type>::default()),
            other => return unsupported(&other),
        },
        AggregateFunction::Avg => match dt {
            DataType::Int16 => Box::new(Avg::<Int16Type>::default()),
            DataType::Int32 => Box::new(Avg::<Int32Type>::default()),
            DataType::Int64 => Box::new(Avg::<Int64Type>::default()),
            DataType::Float32 => Box::new(Avg::<Float32Type>::default()),
            DataType::Float64 => Box::new(Avg::<Float64Type>::default()),
            other => return unsupported(&other),
        },
        // Any value will do: the smallest is as good as the first and needs no new kernel.
        AggregateFunction::Min | AggregateFunction::AnyValue => min_max::<true>(dt)?,
        AggregateFunction::Max => min_max::<false>(dt)?,
        AggregateFunction::ApproxCountDistinct => {
            Box::new(super::sketch::ApproxCountDistinct::try_new(dt)?)
        }
        AggregateFunction::ApproxPercentile | AggregateFunction::PercentileCont => {
            let fraction = aggregate.fraction.ok_or_else(|| {
                Error::internal(format!("{}() without a fraction", aggregate.func.name()))
            })?;
            if aggregate.func == AggregateFunction::ApproxPercentile {
                Box::new(super::sketch::ApproxPercentile::new(fraction))
            } else {
                Box::new(super::sketch::Percentile::new(fraction))
            }
        }
        AggregateFunction::StddevSamp
        | AggregateFunction::StddevPop
        | AggregateFunction::VarSamp
        | AggregateFunction::VarPop => {
            let kind = match aggregate.func {
                AggregateFunction::StddevSamp => Spread::StddevSamp,
                AggregateFunction::StddevPop => Spread::StddevPop,
                AggregateFunction::VarSamp => Spread::VarSamp,
                _ => Spread::VarPop,
            };
            match dt {
                DataType::Int16 => Box::new(Variance::<Int16Type>::new(kind)),
                DataType::Int32 => Box::new(Variance::<Int32Type>::new(kind)),
                DataType::Int64 => Box::new(Variance::<Int64Type>::new(kind)),
                DataType::Float32 => Box::new(Variance::<Float32Type>::new(kind)),
                DataType::Float64 => Box::new(Variance::<Float64Type>::new(kind)),
                other => return unsupported(&other),
            }
        }
    })
}

fn min_max<const MIN: bool>(dt: DataType) -> Result<Box<dyn GroupsAccumulator>> {
    Ok(match dt {
        DataType::Int16 => Box::new(MinMax::<Int16Type, MIN>::default()),
        DataType::Int32 => Box::new(MinMax::<Int32Type, MIN>::default()),
        DataType::Int64 => Box::new(MinMax::<Int64Type, MIN>::default()),
        DataType::Float32 => Box::new(MinMax::<Float32Type, MIN>::default()),
        DataType::Float64 => Box::new(MinMax::<Float64Type, MIN>::default()),
        DataType::Date32 => Box::new(MinMax::<Date32Type, MIN>::default()),
        DataType::Timestamp(TimeUnit::Millisecond, None) => {
            Box::new(MinMax::<TimestampMillisecondType, MIN>::default())
        }
        DataType::Utf8 => Box::new(MinMaxString::<MIN>::default()),
        DataType::Boolean => Box::new(MinMaxBool::<MIN>::default()),
        other => {
            return Err(Error::unsupported(format!(
                "{}() of {}",
                if MIN { "min" } else { "max" },
                strata_storage::sql_type_name(&other)
            )))
        }
    })
}

/// Calls `f(row, group)` for every row whose value is not NULL.
#[inline]
fn for_each_valid(values: &dyn Array, groups: &[usize], mut f: impl FnMut(usize, usize)) {
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
fn validity(seen: &[bool]) -> Option<NullBuffer> {
    if seen.iter().all(|&s| s) {
        None
    } else {
        Some(NullBuffer::from(seen.to_vec()))
    }
}

fn primitive<T: ArrowPrimitiveType>(values: Option<&ArrayRef>) -> Result<&PrimitiveArray<T>> {
    values
        .and_then(|v| v.as_primitive_opt::<T>())
        .ok_or_else(|| Error::internal(format!("aggregate input is not {}", T::DATA_TYPE)))
}

/// `COUNT(*)` and `COUNT(x)`.
#[derive(Debug, Default)]
struct Count {
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

/// Numbers that sum into an i64 or an f64.
trait Number: Copy {
    fn to_i64(self) -> i64;
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

/// `SUM` of integers: BIGINT, overflow is an error.
#[derive(Debug)]
struct SumInt<T> {
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
struct SumFloat<T> {
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
struct Avg<T> {
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

/// `MIN` / `MAX` of numbers, dates and timestamps.
#[derive(Debug)]
struct MinMax<T: ArrowPrimitiveType, const MIN: bool> {
    values: Vec<T::Native>,
    seen: Vec<bool>,
}

impl<T: ArrowPrimitiveType, const MIN: bool> Default for MinMax<T, MIN> {
    fn default() -> Self {
        MinMax {
            values: vec![],
            seen: vec![],
        }
    }
}

impl<T: ArrowPrimitiveType + std::fmt::Debug, const MIN: bool> GroupsAccumulator for MinMax<T, MIN>
where
    T::Native: PartialOrd,
{
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        groups: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        self.values.resize(num_groups, T::Native::default());
        self.seen.resize(num_groups, false);
        let array = primitive::<T>(values)?;
        let data = array.values();
        let (current, seen) = (&mut self.values, &mut self.seen);
        for_each_valid(array, groups, |row, g| {
            let v = data[row];
            let better = if MIN { v < current[g] } else { v > current[g] };
            if !seen[g] || better {
                current[g] = v;
                seen[g] = true;
            }
        });
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.values.resize(num_groups, T::Native::default());
        self.seen.resize(num_groups, false);
        let nulls = validity(&self.seen);
        Ok(Arc::new(PrimitiveArray::<T>::new(
            std::mem::take(&mut self.values).into(),
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
        self.values.resize(num_groups, T::Native::default());
        self.seen.resize(num_groups, false);
        for (g, (&v, &seen)) in other.values.iter().zip(&other.seen).enumerate() {
            let to = mapping[g];
            let better = if MIN {
                v < self.values[to]
            } else {
                v > self.values[to]
            };
            if seen && (!self.seen[to] || better) {
                self.values[to] = v;
                self.seen[to] = true;
            }
        }
        Ok(())
    }
}

/// `MIN` / `MAX` of strings (byte order, like PostgreSQL's C collation).
#[derive(Debug, Default)]
struct MinMaxString<const MIN: bool> {
    values: Vec<Option<String>>,
}

impl<const MIN: bool> GroupsAccumulator for MinMaxString<MIN> {
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        groups: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        self.values.resize(num_groups, None);
        let array = values
            .and_then(|v| v.as_string_opt::<i32>())
            .ok_or_else(|| Error::internal("min/max input is not VARCHAR"))?;
        let current = &mut self.values;
        for_each_valid(array, groups, |row, g| {
            let v = array.value(row);
            let replace = match &current[g] {
                None => true,
                Some(c) => {
                    if MIN {
                        v < c.as_str()
                    } else {
                        v > c.as_str()
                    }
                }
            };
            if replace {
                // Allocates only when the group's extreme changes.
                current[g] = Some(v.to_string());
            }
        });
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.values.resize(num_groups, None);
        Ok(Arc::new(StringArray::from(std::mem::take(
            &mut self.values,
        ))))
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
        self.values.resize(num_groups, None);
        for (g, v) in other.values.into_iter().enumerate() {
            let Some(v) = v else { continue };
            let current = &mut self.values[mapping[g]];
            let replace = match current {
                None => true,
                Some(c) => {
                    if MIN {
                        v < *c
                    } else {
                        v > *c
                    }
                }
            };
            if replace {
                *current = Some(v);
            }
        }
        Ok(())
    }
}

/// `MIN` / `MAX` of booleans (false < true).
#[derive(Debug, Default)]
struct MinMaxBool<const MIN: bool> {
    values: Vec<Option<bool>>,
}

impl<const MIN: bool> GroupsAccumulator for MinMaxBool<MIN> {
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        groups: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        self.values.resize(num_groups, None);
        let array = values
            .and_then(|v| v.as_boolean_opt())
            .ok_or_else(|| Error::internal("min/max input is not BOOLEAN"))?;
        let current = &mut self.values;
        for_each_valid(array, groups, |row, g| {
            let v = array.value(row);
            current[g] = Some(match current[g] {
                None => v,
                Some(c) => {
                    if MIN {
                        c && v
                    } else {
                        c || v
                    }
                }
            });
        });
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.values.resize(num_groups, None);
        Ok(Arc::new(BooleanArray::from(std::mem::take(
            &mut self.values,
        ))))
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
        self.values.resize(num_groups, None);
        for (g, v) in other.values.iter().enumerate() {
            let Some(v) = *v else { continue };
            let current = &mut self.values[mapping[g]];
            *current = Some(match *current {
                None => v,
                Some(c) if MIN => c && v,
                Some(c) => c || v,
            });
        }
        Ok(())
    }
}

/// Which spread statistic a [`Variance`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spread {
    StddevSamp,
    StddevPop,
    VarSamp,
    VarPop,
}

/// `VAR_SAMP`, `VAR_POP`, `STDDEV_SAMP`, `STDDEV_POP`: DOUBLE. Welford's online update per group
/// (count, mean, sum of squared deviations), numerically stable; two partial states combine
/// with Chan's formula. The sample statistics are NULL below two values, the population ones
/// without values.
#[derive(Debug)]
struct Variance<T> {
    kind: Spread,
    counts: Vec<u64>,
    means: Vec<f64>,
    m2s: Vec<f64>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Variance<T> {
    fn new(kind: Spread) -> Self {
        Variance {
            kind,
            counts: vec![],
            means: vec![],
            m2s: vec![],
            _type: PhantomData,
        }
    }

    fn resize(&mut self, num_groups: usize) {
        self.counts.resize(num_groups, 0);
        self.means.resize(num_groups, 0.0);
        self.m2s.resize(num_groups, 0.0);
    }
}

impl<T> GroupsAccumulator for Variance<T>
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
        self.resize(num_groups);
        let array = primitive::<T>(values)?;
        let data = array.values();
        let (counts, means, m2s) = (&mut self.counts, &mut self.means, &mut self.m2s);
        for_each_valid(array, groups, |row, g| {
            let x = data[row].to_f64();
            counts[g] += 1;
            let delta = x - means[g];
            means[g] += delta / counts[g] as f64;
            m2s[g] += delta * (x - means[g]);
        });
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.resize(num_groups);
        let sample = matches!(self.kind, Spread::StddevSamp | Spread::VarSamp);
        let root = matches!(self.kind, Spread::StddevSamp | Spread::StddevPop);
        let minimum = if sample { 2 } else { 1 };
        let results: Vec<f64> = self
            .counts
            .iter()
            .zip(&self.m2s)
            .map(|(&n, &m2)| {
                if n < minimum {
                    return 0.0;
                }
                let variance = m2 / (n - u64::from(sample)) as f64;
                if root {
                    variance.sqrt()
                } else {
                    variance
                }
            })
            .collect();
        let seen: Vec<bool> = self.counts.iter().map(|&n| n >= minimum).collect();
        Ok(Arc::new(Float64Array::new(results.into(), validity(&seen))))
    }

    fn supports_merge(&self) -> bool {
        true
    }

    /// Chan et al.'s pairwise combination of (count, mean, M2).
    fn merge(
        &mut self,
        other: Box<dyn GroupsAccumulator>,
        mapping: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<Self>(other)?;
        self.resize(num_groups);
        for (g, &to) in mapping.iter().enumerate().take(other.counts.len()) {
            let nb = other.counts[g];
            if nb == 0 {
                continue;
            }
            let na = self.counts[to];
            let n = na + nb;
            let delta = other.means[g] - self.means[to];
            self.means[to] += delta * nb as f64 / n as f64;
            self.m2s[to] += other.m2s[g] + delta * delta * (na as f64 * nb as f64 / n as f64);
            self.counts[to] = n;
        }
        Ok(())
    }
}

/// `agg(DISTINCT x)` for aggregates other than COUNT: feeds each group's first occurrence of
/// every value (row-encoded, kept in a per-group set) to the plain accumulator.
struct Distinct {
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
    fn try_new(data_type: DataType, inner: Box<dyn GroupsAccumulator>) -> Result<Self> {
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
struct CountDistinct {
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
    fn try_new(data_type: DataType) -> Result<Self> {
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
struct CountDistinctInt<T> {
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
struct CountDistinctString {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Expr;
    use arrow::array::Int32Array;

    fn accumulator(
        func: AggregateFunction,
        data_type: DataType,
        distinct: bool,
    ) -> Box<dyn GroupsAccumulator> {
        let arg = Some(Expr::column(0, "x", DataType::Int32));
        create_accumulator(&AggregateExpr {
            func,
            arg,
            distinct,
            filter: None,
            data_type,
            fraction: None,
        })
        .unwrap()
    }

    /// Per-group results against a naive per-row computation.
    #[test]
    fn grouped_kernels_match_a_per_row_loop() {
        let values: ArrayRef = Arc::new(Int32Array::from(vec![
            Some(5),
            None,
            Some(-3),
            Some(5),
            Some(7),
            None,
        ]));
        let groups = [0, 1, 0, 0, 2, 2];
        let run = |func, dt, distinct| {
            let mut acc = accumulator(func, dt, distinct);
            // Two batches, as two segments would feed it.
            acc.update_batch(Some(&values.slice(0, 3)), &groups[..3], 2)
                .unwrap();
            acc.update_batch(Some(&values.slice(3, 3)), &groups[3..], 3)
                .unwrap();
            acc.evaluate(4).unwrap()
        };
        let count = run(AggregateFunction::Count, DataType::Int64, false);
        assert_eq!(
            count.as_primitive::<Int64Type>().iter().collect::<Vec<_>>(),
            [Some(3), Some(0), Some(1), Some(0)]
        );
        let sum = run(AggregateFunction::Sum, DataType::Int64, false);
        assert_eq!(
            sum.as_primitive::<Int64Type>().iter().collect::<Vec<_>>(),
            [Some(7), None, Some(7), None]
        );
        let min = run(AggregateFunction::Min, DataType::Int32, false);
        assert_eq!(
            min.as_primitive::<Int32Type>().iter().collect::<Vec<_>>(),
            [Some(-3), None, Some(7), None]
        );
        let max = run(AggregateFunction::Max, DataType::Int32, false);
        assert_eq!(
            max.as_primitive::<Int32Type>().iter().collect::<Vec<_>>(),
            [Some(5), None, Some(7), None]
        );
        let avg = run(AggregateFunction::Avg, DataType::Float64, false);
        let avg: Vec<_> = avg.as_primitive::<Float64Type>().iter().collect();
        assert_eq!(avg[1], None);
        assert!((avg[0].unwrap() - 7.0 / 3.0).abs() < 1e-12);
        let distinct = run(AggregateFunction::Count, DataType::Int64, true);
        assert_eq!(
            distinct
                .as_primitive::<Int64Type>()
                .iter()
                .collect::<Vec<_>>(),
            [Some(2), Some(0), Some(1), Some(0)]
        );
    }

    /// Welford's update against the two-pass formula, over two batches; DISTINCT sums once.
    #[test]
    fn variance_matches_the_two_pass_formula_and_distinct_sums_once() {
        let data = [4, 7, 13, 16, 7];
        let values: ArrayRef = Arc::new(Int32Array::from(data.to_vec()));
        let groups = [0usize; 5];
        let n = data.len() as f64;
        let mean = data.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let m2: f64 = data.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum();
        for (func, expected) in [
            (AggregateFunction::VarSamp, m2 / (n - 1.0)),
            (AggregateFunction::VarPop, m2 / n),
            (AggregateFunction::StddevSamp, (m2 / (n - 1.0)).sqrt()),
            (AggregateFunction::StddevPop, (m2 / n).sqrt()),
        ] {
            let mut acc = accumulator(func, DataType::Float64, false);
            acc.update_batch(Some(&values.slice(0, 2)), &groups[..2], 1)
                .unwrap();
            acc.update_batch(Some(&values.slice(2, 3)), &groups[2..], 2)
                .unwrap();
            let result = acc.evaluate(2).unwrap();
            let result = result.as_primitive::<Float64Type>();
            assert!((result.value(0) - expected).abs() < 1e-9, "{func:?}");
            assert!(result.is_null(1), "{func:?} of no values is NULL");
        }
        let mut sum = accumulator(AggregateFunction::Sum, DataType::Int64, true);
        sum.update_batch(Some(&values), &groups, 1).unwrap();
        let result = sum.evaluate(1).unwrap();
        assert_eq!(result.as_primitive::<Int64Type>().value(0), 40);
    }

    /// Two partial states over halves of the rows, merged with a group remapping, evaluate like
    /// one state over all rows, for every aggregate that merges.
    #[test]
    fn merged_partial_states_equal_one_state() {
        let data: Vec<Option<i32>> = (0..40)
            .map(|i| (i % 7 != 3).then_some((i * 37 % 23) - 11))
            .collect();
        let groups: Vec<usize> = (0..40).map(|i| (i * 5 % 6) as usize).collect();
        let values: ArrayRef = Arc::new(Int32Array::from(data));
        // The second worker saw the groups in another order: its group g is group (g + 2) % 6.
        let mapping: Vec<usize> = (0..6).map(|g| (g + 2) % 6).collect();
        let inverse: Vec<usize> = (0..6).map(|g| (g + 4) % 6).collect();
        let cases = [
            (AggregateFunction::Count, DataType::Int64, false),
            (AggregateFunction::Count, DataType::Int64, true),
            (AggregateFunction::Sum, DataType::Int64, false),
            (AggregateFunction::Avg, DataType::Float64, false),
            (AggregateFunction::Min, DataType::Int32, false),
            (AggregateFunction::Max, DataType::Int32, false),
            (AggregateFunction::VarSamp, DataType::Float64, false),
            (AggregateFunction::StddevPop, DataType::Float64, false),
        ];
        for (func, dt, distinct) in cases {
            let mut whole = accumulator(func, dt.clone(), distinct);
            assert!(whole.supports_merge(), "{func:?}");
            whole.update_batch(Some(&values), &groups, 6).unwrap();
            let expected = whole.evaluate(6).unwrap();

            let mut first = accumulator(func, dt.clone(), distinct);
            first
                .update_batch(Some(&values.slice(0, 25)), &groups[..25], 6)
                .unwrap();
            let mut second = accumulator(func, dt.clone(), distinct);
            let theirs: Vec<usize> = groups[25..].iter().map(|&g| inverse[g]).collect();
            second
                .update_batch(Some(&values.slice(25, 15)), &theirs, 6)
                .unwrap();
            first.merge(second, &mapping, 6).unwrap();
            let merged = first.evaluate(6).unwrap();
            if dt == DataType::Float64 {
                let (a, b) = (
                    expected.as_primitive::<Float64Type>(),
                    merged.as_primitive::<Float64Type>(),
                );
                for g in 0..6 {
                    assert_eq!(a.is_null(g), b.is_null(g), "{func:?} group {g}");
                    assert!((a.value(g) - b.value(g)).abs() < 1e-9, "{func:?} group {g}");
                }
            } else {
                assert_eq!(&expected, &merged, "{func:?} distinct={distinct}");
            }
        }
    }

    #[test]
    fn sum_of_bigints_that_overflows_is_an_error() {
        let mut acc = create_accumulator(&AggregateExpr {
            func: AggregateFunction::Sum,
            arg: Some(Expr::column(0, "x", DataType::Int64)),
            distinct: false,
            filter: None,
            data_type: DataType::Int64,
            fraction: None,
        })
        .unwrap();
        let values: ArrayRef = Arc::new(Int64Array::from(vec![i64::MAX, 1]));
        let err = acc.update_batch(Some(&values), &[0, 0], 1).unwrap_err();
        assert_eq!(err.code(), "NUMERIC_OVERFLOW");
    }
}
