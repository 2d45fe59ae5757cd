//! Functions of lists (`array_agg`'s arrays): `cardinality`, `array_length` and the subscript
//! `a[i]` (1-based, as in PostgreSQL).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, ListArray, UInt32Array};
use arrow::datatypes::{DataType, Int64Type};

use super::{arg, Call, Definition};
use crate::error::{Error, Result};
use crate::expr::coerce::type_name;
use crate::expr::{Expr, ScalarFunction};

/// The list functions of the registry.
pub(super) const FUNCTIONS: &[Definition] = &[
    Definition {
        names: &["cardinality"],
        bind: bind_cardinality,
    },
    Definition {
        names: &["array_length"],
        bind: bind_array_length,
    },
];

fn is_list(e: &Expr) -> bool {
    matches!(e.data_type(), DataType::List(_))
}

/// `cardinality(a)`: the number of elements, INTEGER.
fn bind_cardinality(mut call: Call) -> Result<Expr> {
    call.arity(1)?;
    let list = call.args.remove(0);
    call.expect(&list, is_list(&list), "an array")?;
    Ok(Expr::call(Length { dimension: false }, vec![list]))
}

/// `array_length(a, dimension)`: the number of elements along `dimension` (INTEGER); NULL for
/// an empty array and for any dimension but 1 (lists have one).
fn bind_array_length(mut call: Call) -> Result<Expr> {
    call.arity(2)?;
    let dimension = call.args.remove(1);
    let list = call.args.remove(0);
    call.expect(&list, is_list(&list), "an array")?;
    let integer = matches!(
        dimension.data_type(),
        DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Null
    );
    call.expect(&dimension, integer, "an integer dimension")?;
    Ok(Expr::call(
        Length { dimension: true },
        vec![list, dimension.cast_to(&DataType::Int64)],
    ))
}

/// The list of argument `i`.
fn list(args: &[ArrayRef], i: usize) -> Result<&ListArray> {
    arg(args, i)?
        .as_list_opt::<i32>()
        .ok_or_else(|| Error::internal("a list function of a non-list"))
}

/// `cardinality(a)`, or `array_length(a, d)` when `dimension`.
#[derive(Debug, PartialEq)]
pub(crate) struct Length {
    dimension: bool,
}

impl ScalarFunction for Length {
    fn name(&self) -> &'static str {
        if self.dimension {
            "array_length"
        } else {
            "cardinality"
        }
    }

    fn return_type(&self, _args: &[Expr]) -> DataType {
        DataType::Int32
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let lists = list(args, 0)?;
        let offsets = lists.value_offsets();
        let lengths = (0..lists.len()).map(|row| offsets[row + 1] - offsets[row]);
        let out: Int32Array = if self.dimension {
            let dimensions = arg(args, 1)?
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(|| Error::internal("array_length() dimension is not BIGINT"))?;
            lengths
                .enumerate()
                .map(|(row, n)| {
                    let valid = lists.is_valid(row)
                        && dimensions.is_valid(row)
                        && dimensions.value(row) == 1;
                    (valid && n > 0).then_some(n)
                })
                .collect()
        } else {
            lengths
                .enumerate()
                .map(|(row, n)| lists.is_valid(row).then_some(n))
                .collect()
        };
        Ok(Arc::new(out))
    }
}

/// `a[i]`: the element at 1-based position `i` of the list `a` (of its element type), NULL
/// when `i` is NULL or outside the list.
pub(crate) fn subscript(list: Expr, index: Expr) -> Result<Expr> {
    if !is_list(&list) {
        return Err(Error::mismatch(format!(
            "cannot subscript {} ({list}): it is not an array",
            type_name(&list.data_type())
        )));
    }
    let integer = matches!(
        index.data_type(),
        DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Null
    );
    if !integer {
        return Err(Error::mismatch(format!(
            "an array subscript must be an integer, not {} ({index})",
            type_name(&index.data_type())
        )));
    }
    Ok(Expr::call(
        Element,
        vec![list, index.cast_to(&DataType::Int64)],
    ))
}

/// The subscript `a[i]` (see [`subscript`]).
#[derive(Debug, PartialEq)]
pub(crate) struct Element;

impl ScalarFunction for Element {
    fn name(&self) -> &'static str {
        "array_element"
    }

    fn return_type(&self, args: &[Expr]) -> DataType {
        match args.first().map(Expr::data_type) {
            Some(DataType::List(element)) => element.data_type().clone(),
            _ => DataType::Null,
        }
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let lists = list(args, 0)?;
        let index = arg(args, 1)?
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| Error::internal("an array subscript is not BIGINT"))?;
        let offsets = lists.value_offsets();
        let picks: UInt32Array = (0..lists.len())
            .map(|row| {
                if lists.is_null(row) || index.is_null(row) {
                    return None;
                }
                let (start, end) = (i64::from(offsets[row]), i64::from(offsets[row + 1]));
                let at = start.checked_add(index.value(row))?.checked_sub(1)?;
                (index.value(row) >= 1 && at < end).then(|| u32::try_from(at).ok())?
            })
            .collect();
        Ok(arrow::compute::take(lists.values().as_ref(), &picks, None)?)
    }

    fn fmt_call(&self, args: &[String], f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match args {
            [list, index] => write!(f, "({list})[{index}]"),
            _ => write!(f, "array_element({})", args.join(", ")),
        }
    }
}
