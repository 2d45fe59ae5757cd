//! Group tables: map each row's group key to a dense group index.
//!
//! - [`FixedGroups`]: keys made of integer-like columns (integers, dates, timestamps) whose
//!   widths plus one NULL bit each fit in 128 bits are packed into one `u128` per row, a column
//!   at a time (one typed loop per column and batch), and looked up in a hash map of `u128`s: no
//!   allocation per group, no byte comparisons. ClickBench's `GROUP BY WatchID, ClientIP`,
//!   `GROUP BY UserID`, `GROUP BY RegionID` take this path.
//! - [`StringGroups`]: a single VARCHAR key, looked up by its bytes (no row encoding).
//! - [`RowGroups`]: any other key, encoded with Arrow's [`RowConverter`] (one comparable byte
//!   string per row).

use std::collections::HashMap;
use std::sync::Arc;

use ahash::RandomState;
use arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, PrimitiveArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    DataType, Date32Type, Int16Type, Int32Type, Int64Type, Int8Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow::row::{Row, RowConverter, RowParser, Rows, SortField};

use crate::error::{Error, Result};
use crate::expr::Expr;

/// The group keys seen so far.
pub(super) enum GroupTable {
    /// Integer-like keys packed into 128 bits.
    Fixed(FixedGroups),
    /// One VARCHAR key.
    String(StringGroups),
    /// Any keys, row-encoded.
    Rows(RowGroups),
}

impl GroupTable {
    /// A table for keys of the types of `group_by`.
    pub(super) fn try_new(group_by: &[Expr]) -> Result<GroupTable> {
        let types: Vec<DataType> = group_by.iter().map(Expr::data_type).collect();
        if let Some(fixed) = FixedGroups::new(&types) {
            return Ok(GroupTable::Fixed(fixed));
        }
        if types == [DataType::Utf8] {
            return Ok(GroupTable::String(StringGroups::default()));
        }
        Ok(GroupTable::Rows(RowGroups::try_new(&types)?))
    }

    /// Fills `groups` with the group index of every row, creating groups for new keys.
    pub(super) fn intern(&mut self, columns: &[ArrayRef], groups: &mut Vec<usize>) -> Result<()> {
        match self {
            GroupTable::Fixed(t) => t.intern(columns, groups),
            GroupTable::String(t) => t.intern(columns, groups),
            GroupTable::Rows(t) => t.intern(columns, groups),
        }
    }

    /// Adds the groups of `other` (built for the same keys); returns, for each of `other`'s
    /// groups, its index here.
    pub(super) fn merge(&mut self, other: GroupTable) -> Result<Vec<usize>> {
        match (self, other) {
            (GroupTable::Fixed(t), GroupTable::Fixed(o)) => Ok(t.merge(o)),
            (GroupTable::String(t), GroupTable::String(o)) => Ok(t.merge(o)),
            (GroupTable::Rows(t), GroupTable::Rows(o)) => Ok(t.merge(&o.keys)),
            _ => Err(Error::internal("merging group tables of different kinds")),
        }
    }

    /// The number of groups.
    pub(super) fn num_groups(&self) -> usize {
        match self {
            GroupTable::Fixed(t) => t.keys.len(),
            GroupTable::String(t) => t.groups,
            GroupTable::Rows(t) => t.keys.num_rows(),
        }
    }

    /// Approximate bytes held (keys and hash map).
    pub(super) fn size_bytes(&self) -> usize {
        match self {
            // The key, its copy in the map, the group index, hash map overhead.
            GroupTable::Fixed(t) => t.keys.len() * 48,
            // The string bytes plus the map's per-key overhead.
            GroupTable::String(t) => t.bytes + t.groups * 64,
            // Key bytes twice (the rows and the map's copy) plus per-group overhead.
            GroupTable::Rows(t) => 2 * t.keys.size() + t.keys.num_rows() * 48,
        }
    }

    /// The key columns, in group order.
    pub(super) fn into_columns(self) -> Result<Vec<ArrayRef>> {
        match self {
            GroupTable::Fixed(t) => t.into_columns(),
            GroupTable::String(t) => Ok(vec![t.into_column()]),
            GroupTable::Rows(t) => Ok(t.converter.convert_rows(&t.keys)?),
        }
    }
}

/// One VARCHAR key, by its bytes; NULL is a group of its own.
#[derive(Default)]
pub(super) struct StringGroups {
    /// Key bytes -> group index (each key is stored once, here).
    index: HashMap<Box<[u8]>, usize, RandomState>,
    /// The number of groups, the NULL group included.
    groups: usize,
    null_group: Option<usize>,
    /// Bytes of all keys.
    bytes: usize,
}

impl StringGroups {
    fn group_of(&mut self, key: Option<&[u8]>) -> usize {
        let next = self.groups;
        let group = match key {
            None => *self.null_group.get_or_insert(next),
            Some(bytes) => match self.index.get(bytes) {
                Some(&group) => group,
                None => {
                    self.bytes += bytes.len();
                    self.index.insert(bytes.into(), next);
                    next
                }
            },
        };
        if group == next {
            self.groups += 1;
        }
        group
    }

    fn intern(&mut self, columns: &[ArrayRef], groups: &mut Vec<usize>) -> Result<()> {
        let array = columns
            .first()
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| Error::internal("group key is not VARCHAR"))?;
        groups.clear();
        groups.reserve(array.len());
        match array.logical_nulls() {
            None => {
                for i in 0..array.len() {
                    groups.push(self.group_of(Some(array.value(i).as_bytes())));
                }
            }
            Some(nulls) => {
                for i in 0..array.len() {
                    let key = nulls.is_valid(i).then(|| array.value(i).as_bytes());
                    groups.push(self.group_of(key));
                }
            }
        }
        Ok(())
    }

    fn merge(&mut self, other: StringGroups) -> Vec<usize> {
        let mut mapping = vec![0; other.groups];
        if let Some(g) = other.null_group {
            mapping[g] = self.group_of(None);
        }
        for (key, &g) in &other.index {
            mapping[g] = self.group_of(Some(key));
        }
        mapping
    }

    /// The key of every group, in group order (`None`: the NULL group).
    fn keys(&self) -> Vec<Option<&[u8]>> {
        let mut keys = vec![None; self.groups];
        for (key, &g) in &self.index {
            keys[g] = Some(key.as_ref());
        }
        keys
    }

    fn into_column(self) -> ArrayRef {
        let mut builder = arrow::array::StringBuilder::with_capacity(self.groups, self.bytes);
        for key in self.keys() {
            match key {
                // The bytes came from a valid UTF-8 array.
                Some(bytes) => builder.append_value(String::from_utf8_lossy(bytes)),
                None => builder.append_null(),
            }
        }
        Arc::new(builder.finish())
    }
}

/// Row-encoded keys.
pub(super) struct RowGroups {
    converter: RowConverter,
    /// Parses key bytes as rows of `converter` (`Rows::push` accepts only its own rows).
    parser: RowParser,
    /// Key bytes -> group index.
    index: HashMap<Box<[u8]>, usize, RandomState>,
    /// The key of every group, in group-index order.
    keys: Rows,
}

impl RowGroups {
    fn try_new(types: &[DataType]) -> Result<Self> {
        let fields = types.iter().map(|t| SortField::new(t.clone())).collect();
        let converter = RowConverter::new(fields)?;
        let keys = converter.empty_rows(0, 0);
        Ok(RowGroups {
            parser: converter.parser(),
            converter,
            index: HashMap::with_hasher(RandomState::new()),
            keys,
        })
    }

    fn intern(&mut self, columns: &[ArrayRef], groups: &mut Vec<usize>) -> Result<()> {
        // -0.0 and 0.0 are one group.
        let columns = columns
            .iter()
            .map(crate::kernel::normalize_zero)
            .collect::<Result<Vec<_>>>()?;
        let rows = self.converter.convert_columns(&columns)?;
        groups.clear();
        groups.extend(rows.iter().map(|row| self.group_of(row)));
        Ok(())
    }

    /// The group of `row` (encoded by an identically configured converter), created when new.
    fn group_of(&mut self, row: Row<'_>) -> usize {
        if let Some(&group) = self.index.get(row.as_ref()) {
            return group;
        }
        let group = self.keys.num_rows();
        self.index.insert(row.as_ref().into(), group);
        self.keys.push(self.parser.parse(row.as_ref()));
        group
    }

    /// Interns `keys` (rows of an identically configured converter).
    fn merge(&mut self, keys: &Rows) -> Vec<usize> {
        keys.iter().map(|row| self.group_of(row)).collect()
    }
}

/// Bits of an integer-like native value, and back (sign-extended for signed types).
trait Packable: Copy {
    fn to_bits(self) -> u64;
    fn from_bits(bits: u64) -> Self;
}

macro_rules! packable {
    ($($t:ty => $u:ty),*) => {$(
        impl Packable for $t {
            #[inline]
            fn to_bits(self) -> u64 {
                self as $u as u64
            }
            #[inline]
            fn from_bits(bits: u64) -> Self {
                bits as $u as $t
            }
        }
    )*};
}
packable!(i8 => u8, i16 => u16, i32 => u32, i64 => u64, u8 => u8, u16 => u16, u32 => u32, u64 => u64);

/// The value width in bits of a type [`FixedGroups`] can pack.
fn fixed_width(data_type: &DataType) -> Option<u32> {
    Some(match data_type {
        DataType::Int8 | DataType::UInt8 => 8,
        DataType::Int16 | DataType::UInt16 => 16,
        DataType::Int32 | DataType::UInt32 | DataType::Date32 => 32,
        DataType::Int64 | DataType::UInt64 | DataType::Timestamp(_, _) => 64,
        _ => return None,
    })
}

/// Calls `$body` with `$T` bound to the Arrow primitive type of `$dt` (one of [`fixed_width`]'s).
macro_rules! with_primitive {
    ($dt:expr, $T:ident, $body:expr) => {
        match $dt {
            DataType::Int8 => {
                type $T = Int8Type;
                $body
            }
            DataType::Int16 => {
                type $T = Int16Type;
                $body
            }
            DataType::Int32 => {
                type $T = Int32Type;
                $body
            }
            DataType::Int64 => {
                type $T = Int64Type;
                $body
            }
            DataType::UInt8 => {
                type $T = UInt8Type;
                $body
            }
            DataType::UInt16 => {
                type $T = UInt16Type;
                $body
            }
            DataType::UInt32 => {
                type $T = UInt32Type;
                $body
            }
            DataType::UInt64 => {
                type $T = UInt64Type;
                $body
            }
            DataType::Date32 => {
                type $T = Date32Type;
                $body
            }
            DataType::Timestamp(TimeUnit::Second, _) => {
                type $T = TimestampSecondType;
                $body
            }
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                type $T = TimestampMillisecondType;
                $body
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                type $T = TimestampMicrosecondType;
                $body
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                type $T = TimestampNanosecondType;
                $body
            }
            other => Err(Error::internal(format!(
                "{other} is not a packable group key"
            ))),
        }
    };
}

/// Integer-like keys packed into a `u128` per row: per column, its value bits, then one NULL
/// bit.
pub(super) struct FixedGroups {
    types: Vec<DataType>,
    widths: Vec<u32>,
    index: HashMap<u128, usize, RandomState>,
    keys: Vec<u128>,
    /// Scratch: the packed key of every row of the current batch.
    packed: Vec<u128>,
}

impl FixedGroups {
    /// A table for keys of `types`, if they all pack into 128 bits.
    fn new(types: &[DataType]) -> Option<FixedGroups> {
        let widths = types
            .iter()
            .map(fixed_width)
            .collect::<Option<Vec<u32>>>()?;
        if widths.iter().map(|w| w + 1).sum::<u32>() > 128 {
            return None;
        }
        Some(FixedGroups {
            types: types.to_vec(),
            widths,
            index: HashMap::with_hasher(RandomState::new()),
            keys: vec![],
            packed: vec![],
        })
    }

    fn intern(&mut self, columns: &[ArrayRef], groups: &mut Vec<usize>) -> Result<()> {
        let rows = columns.first().map_or(0, |c| c.len());
        self.packed.clear();
        self.packed.resize(rows, 0);
        let mut shift = 0;
        for ((column, data_type), &width) in columns.iter().zip(&self.types).zip(&self.widths) {
            with_primitive!(data_type, T, {
                pack::<T>(column.as_ref(), shift, width, &mut self.packed)
            })?;
            shift += width + 1;
        }
        groups.clear();
        groups.reserve(rows);
        let packed = std::mem::take(&mut self.packed);
        groups.extend(packed.iter().map(|&key| self.group_of(key)));
        self.packed = packed;
        Ok(())
    }

    /// The group of `key`, created when new.
    fn group_of(&mut self, key: u128) -> usize {
        let next = self.keys.len();
        let group = *self.index.entry(key).or_insert(next);
        if group == next {
            self.keys.push(key);
        }
        group
    }

    fn merge(&mut self, other: FixedGroups) -> Vec<usize> {
        other.keys.iter().map(|&key| self.group_of(key)).collect()
    }

    fn into_columns(self) -> Result<Vec<ArrayRef>> {
        let mut shift = 0;
        let mut out = Vec::with_capacity(self.types.len());
        for (data_type, &width) in self.types.iter().zip(&self.widths) {
            let column = with_primitive!(data_type, T, {
                unpack::<T>(&self.keys, shift, width, data_type)
            })?;
            out.push(column);
            shift += width + 1;
        }
        Ok(out)
    }
}

fn mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

/// ORs `column`'s values (and NULL bits) into `packed` at bit `shift`.
fn pack<T>(column: &dyn Array, shift: u32, width: u32, packed: &mut [u128]) -> Result<()>
where
    T: ArrowPrimitiveType,
    T::Native: Packable,
{
    let array = column
        .as_primitive_opt::<T>()
        .ok_or_else(|| Error::internal("group key column of an unexpected type"))?;
    let m = mask(width);
    for (p, v) in packed.iter_mut().zip(array.values().iter()) {
        *p |= u128::from(v.to_bits() & m) << shift;
    }
    if let Some(nulls) = array.logical_nulls() {
        let value_bits = u128::from(m) << shift;
        let null_bit = 1u128 << (shift + width);
        for (i, p) in packed.iter_mut().enumerate() {
            if nulls.is_null(i) {
                *p = (*p & !value_bits) | null_bit;
            }
        }
    }
    Ok(())
}

/// The column at bit `shift` of `keys`.
fn unpack<T>(keys: &[u128], shift: u32, width: u32, data_type: &DataType) -> Result<ArrayRef>
where
    T: ArrowPrimitiveType,
    T::Native: Packable,
{
    let m = mask(width);
    let values: Vec<T::Native> = keys
        .iter()
        .map(|&k| T::Native::from_bits((k >> shift) as u64 & m))
        .collect();
    let null_bit = 1u128 << (shift + width);
    let nulls = keys
        .iter()
        .any(|&k| k & null_bit != 0)
        .then(|| NullBuffer::from_iter(keys.iter().map(|&k| k & null_bit == 0)));
    let array = PrimitiveArray::<T>::new(values.into(), nulls).with_data_type(data_type.clone());
    Ok(Arc::new(array))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int16Array, Int32Array, Int64Array, StringArray};

    fn intern_all(table: &mut GroupTable, batches: &[Vec<ArrayRef>]) -> Vec<usize> {
        let mut all = vec![];
        let mut groups = vec![];
        for columns in batches {
            table.intern(columns, &mut groups).unwrap();
            all.extend_from_slice(&groups);
        }
        all
    }

    /// Packed keys group like row-encoded keys (NULLs, negatives, extremes) and come back out
    /// unchanged; merged tables map groups consistently.
    #[test]
    fn fixed_keys_group_like_row_keys() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(i64::MIN),
            Some(-1),
            None,
            Some(i64::MAX),
            Some(-1),
            None,
            Some(0),
        ]));
        let b: ArrayRef = Arc::new(Int32Array::from(vec![
            Some(7),
            None,
            Some(0),
            Some(-7),
            None,
            Some(0),
            None,
        ]));
        let c: ArrayRef = Arc::new(Int16Array::from(vec![1, 2, 3, 1, 2, 3, 1]));
        let batch = vec![a, b, c];
        let types: Vec<DataType> = batch.iter().map(|c| c.data_type().clone()).collect();
        let mut fixed = GroupTable::Fixed(FixedGroups::new(&types).unwrap());
        let mut rows = GroupTable::Rows(RowGroups::try_new(&types).unwrap());
        let fixed_groups = intern_all(&mut fixed, std::slice::from_ref(&batch));
        let row_groups = intern_all(&mut rows, std::slice::from_ref(&batch));
        assert_eq!(fixed_groups, row_groups);
        assert_eq!(fixed_groups, [0, 1, 2, 3, 1, 2, 4]);
        let keys = fixed.into_columns().unwrap();
        let expected = rows.into_columns().unwrap();
        assert_eq!(keys, expected);

        // Two workers' tables merge into one mapping.
        let mut first = GroupTable::Fixed(FixedGroups::new(&types).unwrap());
        let mut second = GroupTable::Fixed(FixedGroups::new(&types).unwrap());
        let head: Vec<ArrayRef> = batch.iter().map(|c| c.slice(0, 4)).collect();
        let tail: Vec<ArrayRef> = batch.iter().map(|c| c.slice(4, 3)).collect();
        intern_all(&mut first, &[head]);
        intern_all(&mut second, &[tail]);
        let mapping = first.merge(second).unwrap();
        assert_eq!(mapping, [1, 2, 4]);
        assert_eq!(first.num_groups(), 5);
    }

    #[test]
    fn wide_or_non_integer_keys_use_rows() {
        let four_bigints = vec![DataType::Int64; 2];
        assert!(
            FixedGroups::new(&four_bigints).is_none(),
            "2 x 65 bits > 128"
        );
        assert!(FixedGroups::new(&[DataType::Int64, DataType::Int32]).is_some());
        let strings: Vec<ArrayRef> = vec![Arc::new(StringArray::from(vec!["a", "b", "a"]))];
        let mut t = GroupTable::try_new(&[
            Expr::column(0, "s", DataType::Utf8),
            Expr::column(1, "t", DataType::Utf8),
        ])
        .unwrap();
        assert!(matches!(t, GroupTable::Rows(_)));
        assert_eq!(
            intern_all(&mut t, &[vec![strings[0].clone(), strings[0].clone()]]),
            [0, 1, 0]
        );
        let mut t = GroupTable::try_new(&[Expr::column(0, "s", DataType::Utf8)]).unwrap();
        assert!(matches!(t, GroupTable::String(_)));
        let with_null: ArrayRef = Arc::new(StringArray::from(vec![Some("b"), None, Some("")]));
        assert_eq!(
            intern_all(&mut t, &[strings, vec![with_null.clone()]]),
            [0, 1, 0, 1, 2, 3]
        );
        let mut other = GroupTable::try_new(&[Expr::column(0, "s", DataType::Utf8)]).unwrap();
        intern_all(&mut other, &[vec![with_null]]);
        assert_eq!(t.merge(other).unwrap(), [1, 2, 3]);
        let keys = t.into_columns().unwrap();
        let expected: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            Some("b"),
            None,
            Some(""),
        ]));
        assert_eq!(&keys[0], &expected);
    }
}
