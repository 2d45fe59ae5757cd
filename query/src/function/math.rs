//! Numeric functions: `abs`, `floor`, `ceil` / `ceiling`.

use std::sync::Arc;

use arrow::array::{ArrayRef, ArrowPrimitiveType, AsArray, PrimitiveArray};
use arrow::datatypes::{
    DataType, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
};

use super::{arg, Call, Definition};
use crate::error::{Error, Result};
use crate::expr::coerce::{is_numeric, type_name};
use crate::expr::{Expr, ScalarFunction};

/// The numeric functions of the registry.
pub(super) const FUNCTIONS: &[Definition] = &[
    Definition {
        names: &["abs"],
        bind: bind_abs,
    },
    Definition {
        names: &["floor", "ceil", "ceiling"],
        bind: bind_rounding,
    },
];

/// `abs(x)`: a NULL literal becomes an INTEGER NULL.
fn bind_abs(mut call: Call) -> Result<Expr> {
    call.arity(1)?;
    let dt = call.args[0].data_type();
    call.expect(
        &call.args[0],
        is_numeric(&dt) || dt == DataType::Null,
        "a number",
    )?;
    let mut x = call.args.remove(0);
    if dt == DataType::Null {
        x = x.cast_to(&DataType::Int32);
    }
    Ok(Expr::call(Abs, vec![x]))
}

/// `floor(x)`, `ceil(x)`, `ceiling(x)`.
fn bind_rounding(mut call: Call) -> Result<Expr> {
    call.arity(1)?;
    let x = call.args.remove(0);
    if call.name == "floor" {
        rounding(Floor, x)
    } else {
        rounding(Ceil, x)
    }
}

/// `floor(x)` / `ceil(x)` of a number, as DOUBLE (Grafana's `$__timeGroup` is
/// `floor(extract(epoch from ts)/300)*300`).
pub(crate) fn rounding(func: impl ScalarFunction, arg: Expr) -> Result<Expr> {
    let dt = arg.data_type();
    if !(is_numeric(&dt) || dt == DataType::Null) {
        return Err(Error::mismatch(format!(
            "{}() needs a number, not {} ({arg})",
            func.name(),
            type_name(&dt)
        )));
    }
    Ok(Expr::call(func, vec![arg.cast_to(&DataType::Float64)]))
}

/// `abs(x)` (overflow is an error).
#[derive(Debug, PartialEq)]
pub(crate) struct Abs;

impl ScalarFunction for Abs {
    fn name(&self) -> &'static str {
        "abs"
    }

    fn return_type(&self, args: &[Expr]) -> DataType {
        args.first().map(Expr::data_type).unwrap_or(DataType::Null)
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let first = arg(args, 0)?;
        match first.data_type() {
            DataType::Int16 => abs_int::<Int16Type>(first, |v| v.checked_abs()),
            DataType::Int32 => abs_int::<Int32Type>(first, |v| v.checked_abs()),
            DataType::Int64 => abs_int::<Int64Type>(first, |v| v.checked_abs()),
            DataType::Float32 => Ok(Arc::new(
                first
                    .as_primitive::<Float32Type>()
                    .unary::<_, Float32Type>(f32::abs),
            )),
            DataType::Float64 => Ok(Arc::new(
                first
                    .as_primitive::<Float64Type>()
                    .unary::<_, Float64Type>(f64::abs),
            )),
            // A decimal's magnitude stays within its precision (at most 38 digits).
            dt @ DataType::Decimal128(_, _) => Ok(Arc::new(
                first
                    .as_primitive::<Decimal128Type>()
                    .unary::<_, Decimal128Type>(i128::wrapping_abs)
                    .with_data_type(dt.clone()),
            )),
            other => Err(Error::internal(format!("abs of {other}"))),
        }
    }
}

fn abs_int<T: ArrowPrimitiveType>(
    array: &ArrayRef,
    abs: impl Fn(T::Native) -> Option<T::Native>,
) -> Result<ArrayRef> {
    let result: PrimitiveArray<T> = array.as_primitive::<T>().try_unary(|v| {
        abs(v).ok_or_else(|| {
            arrow::error::ArrowError::ArithmeticOverflow("abs() is out of range".into())
        })
    })?;
    Ok(Arc::new(result))
}

/// `floor(x)`: DOUBLE (the argument is cast to DOUBLE).
#[derive(Debug, PartialEq)]
pub(crate) struct Floor;

impl ScalarFunction for Floor {
    fn name(&self) -> &'static str {
        "floor"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        DataType::Float64
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        round(arg(args, 0)?, f64::floor)
    }
}

/// `ceil(x)` / `ceiling(x)`: DOUBLE.
#[derive(Debug, PartialEq)]
pub(crate) struct Ceil;

impl ScalarFunction for Ceil {
    fn name(&self) -> &'static str {
        "ceil"
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        DataType::Float64
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        round(arg(args, 0)?, f64::ceil)
    }
}

/// `op` over every value of a DOUBLE array.
fn round(first: &ArrayRef, op: fn(f64) -> f64) -> Result<ArrayRef> {
    let values = first
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| Error::internal("floor/ceil of a non-DOUBLE"))?;
    Ok(Arc::new(values.unary::<_, Float64Type>(op)))
}
