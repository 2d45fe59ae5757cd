//! `MIN`, `MAX` (and `ANY_VALUE`, which takes the smallest): the current extreme per group.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, PrimitiveArray, StringArray,
};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, TimeUnit, TimestampMillisecondType,
};

use super::accumulator::{downcast, for_each_valid, primitive, validity, GroupsAccumulator};
use crate::error::{Error, Result};

pub(super) fn min_max<const MIN: bool>(dt: DataType) -> Result<Box<dyn GroupsAccumulator>> {
    Ok(match dt {
        DataType::Int16 => Box::new(MinMax::<Int16Type, MIN>::default()),
        DataType::Int32 => Box::new(MinMax::<Int32Type, MIN>::default()),
        DataType::Int64 => Box::new(MinMax::<Int64Type, MIN>::default()),
        DataType::Float32 => Box::new(MinMax::<Float32Type, MIN>::default()),
        DataType::Float64 => Box::new(MinMax::<Float64Type, MIN>::default()),
        DataType::Decimal128(_, _) => Box::new(MinMax::<Decimal128Type, MIN> {
            data_type: dt,
            ..Default::default()
        }),
        DataType::Date32 => Box::new(MinMax::<Date32Type, MIN>::default()),
        DataType::Timestamp(TimeUnit::Millisecond, None) => {
            Box::new(MinMax::<TimestampMillisecondType, MIN>::default())
        }
        DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano) => {
            Box::new(MinMaxInterval::<MIN>::default())
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

/// `MIN` / `MAX` of numbers, dates and timestamps.
#[derive(Debug)]
pub(super) struct MinMax<T: ArrowPrimitiveType, const MIN: bool> {
    values: Vec<T::Native>,
    seen: Vec<bool>,
    /// The result's type: `T`'s, or a decimal's precision and scale.
    data_type: DataType,
}

impl<T: ArrowPrimitiveType, const MIN: bool> Default for MinMax<T, MIN> {
    fn default() -> Self {
        MinMax {
            values: vec![],
            seen: vec![],
            data_type: T::DATA_TYPE,
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
        Ok(Arc::new(
            PrimitiveArray::<T>::new(std::mem::take(&mut self.values).into(), nulls)
                .with_data_type(self.data_type.clone()),
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

/// `MIN` / `MAX` of intervals, ordered as PostgreSQL compares them (30-day months, 24-hour
/// days: [`crate::interval::comparable`]).
#[derive(Debug, Default)]
pub(super) struct MinMaxInterval<const MIN: bool> {
    values: Vec<arrow::datatypes::IntervalMonthDayNano>,
    keys: Vec<i128>,
    seen: Vec<bool>,
}

impl<const MIN: bool> MinMaxInterval<MIN> {
    fn offer(&mut self, g: usize, v: arrow::datatypes::IntervalMonthDayNano) {
        let key = (i128::from(v.months) * 30 + i128::from(v.days)) * 86_400_000_000_000
            + i128::from(v.nanoseconds);
        let better = if MIN {
            key < self.keys[g]
        } else {
            key > self.keys[g]
        };
        if !self.seen[g] || better {
            self.values[g] = v;
            self.keys[g] = key;
            self.seen[g] = true;
        }
    }

    fn resize(&mut self, num_groups: usize) {
        self.values.resize(
            num_groups,
            arrow::datatypes::IntervalMonthDayNano::default(),
        );
        self.keys.resize(num_groups, 0);
        self.seen.resize(num_groups, false);
    }
}

impl<const MIN: bool> GroupsAccumulator for MinMaxInterval<MIN> {
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        groups: &[usize],
        num_groups: usize,
    ) -> Result<()> {
        self.resize(num_groups);
        let array = primitive::<arrow::datatypes::IntervalMonthDayNanoType>(values)?;
        let data = array.values();
        for_each_valid(array, groups, |row, g| self.offer(g, data[row]));
        Ok(())
    }

    fn evaluate(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.resize(num_groups);
        let nulls = validity(&self.seen);
        Ok(Arc::new(PrimitiveArray::<
            arrow::datatypes::IntervalMonthDayNanoType,
        >::new(
            std::mem::take(&mut self.values).into(), nulls
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
        self.resize(num_groups);
        for (g, (&v, &seen)) in other.values.iter().zip(&other.seen).enumerate() {
            if seen {
                self.offer(mapping[g], v);
            }
        }
        Ok(())
    }
}

/// `MIN` / `MAX` of strings (byte order, like PostgreSQL's C collation).
#[derive(Debug, Default)]
pub(super) struct MinMaxString<const MIN: bool> {
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
pub(super) struct MinMaxBool<const MIN: bool> {
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
