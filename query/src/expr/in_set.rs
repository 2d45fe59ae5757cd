//! The values of `x IN (...)`: a subquery's answer or a list of literals, hashed once so that a
//! batch is tested with one encoding pass and one lookup per row.

use std::collections::HashSet;

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, SortField};

use crate::error::Result;

/// The values of an `IN (SELECT ...)`, hashed once by their row encoding so that a batch is
/// tested with one encoding pass and one hash lookup per row.
#[derive(Debug)]
pub struct InSet {
    data_type: DataType,
    converter: RowConverter,
    set: HashSet<Box<[u8]>, ahash::RandomState>,
    has_null: bool,
    /// For a list of literals (`x IN (1, 2, 3)`): the values, and the smallest and largest
    /// non-NULL one (one-element arrays), which bitmap indexes and zone maps use.
    literals: Option<Literals>,
}

/// The values of an `IN` list of literals.
#[derive(Debug)]
pub struct Literals {
    /// Every value, in list order (NULLs included).
    pub values: ArrayRef,
    /// The smallest and the largest non-NULL value, as one-element arrays (`None` when every
    /// value is NULL).
    pub bounds: Option<(ArrayRef, ArrayRef)>,
}

impl InSet {
    /// Hashes `values` (any number of rows, NULLs allowed).
    pub fn try_new(values: &ArrayRef) -> Result<Self> {
        let data_type = values.data_type().clone();
        let converter = RowConverter::new(vec![SortField::new(data_type.clone())])?;
        let values = crate::kernel::normalize_zero(values)?;
        let rows = converter.convert_columns(std::slice::from_ref(&values))?;
        let mut set = HashSet::with_hasher(ahash::RandomState::new());
        for (i, row) in rows.iter().enumerate() {
            if values.is_valid(i) {
                set.insert(Box::<[u8]>::from(row.as_ref()));
            }
        }
        Ok(InSet {
            data_type,
            converter,
            set,
            has_null: values.null_count() > 0,
            literals: None,
        })
    }

    /// Hashes the values of an `IN` list of literals, keeping them for indexes and zone maps.
    pub fn from_literals(values: ArrayRef) -> Result<Self> {
        let mut set = InSet::try_new(&values)?;
        let options = arrow::compute::SortOptions {
            descending: false,
            nulls_first: false,
        };
        let sorted = arrow::compute::sort(&values, Some(options))?;
        let valid = sorted.len() - sorted.null_count();
        let bounds = (valid > 0).then(|| (sorted.slice(0, 1), sorted.slice(valid - 1, 1)));
        set.literals = Some(Literals { values, bounds });
        Ok(set)
    }

    /// The list's values when it is a list of literals (not a subquery's answer).
    pub fn literals(&self) -> Option<&Literals> {
        self.literals.as_ref()
    }

    /// True when a NULL is among the values (a value not in the set is then NULL, not false).
    pub fn has_null(&self) -> bool {
        self.has_null
    }

    /// The number of distinct non-NULL values (plus one for NULL).
    pub fn len(&self) -> usize {
        self.set.len() + usize::from(self.has_null)
    }

    /// True when the subquery returned no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The type of the values.
    pub fn data_type(&self) -> &DataType {
        &self.data_type
    }

    /// `value IN (values)` for every row of `value`, with SQL's NULL semantics.
    pub fn contains(&self, value: &ArrayRef, negated: bool) -> Result<BooleanArray> {
        let value = crate::kernel::normalize_zero(value)?;
        let rows = self
            .converter
            .convert_columns(std::slice::from_ref(&value))?;
        let empty = self.is_empty();
        let out: BooleanArray = rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                if empty {
                    Some(negated)
                } else if value.is_null(i) {
                    None
                } else if self.set.contains(row.as_ref()) {
                    Some(!negated)
                } else if self.has_null {
                    None
                } else {
                    Some(negated)
                }
            })
            .collect();
        Ok(out)
    }
}

/// Two subquery sets are equal when they are the same set (they come from one subquery run);
/// two lists of literals when they list the same values.
impl PartialEq for InSet {
    fn eq(&self, other: &Self) -> bool {
        match (&self.literals, &other.literals) {
            (Some(a), Some(b)) => a.values.as_ref() == b.values.as_ref(),
            _ => std::ptr::eq(self, other),
        }
    }
}
