//! Numeric functions: `abs`, `floor`, `ceil` / `ceiling`, `round`, `trunc`.

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
    Definition {
        names: &["round", "trunc"],
        bind: bind_round,
    },
];

/// `round(x [, n])`, `trunc(x [, n])`: `x` to `n` decimals (default 0; negative: tens,
/// hundreds, ...), `n` an integer constant. A DECIMAL(p, s) stays exact and becomes
/// DECIMAL(p, min(max(n, 0), s)) (DuckDB's type), rounding half away from zero as
/// PostgreSQL's NUMERIC; a DOUBLE stays DOUBLE (`round(x)` rounds half to even, PostgreSQL's
/// `rint`; `round(x, n)` rounds `x * 10^n` half away from zero, as DuckDB); integers are
/// returned as they are for `n >= 0`.
fn bind_round(mut call: Call) -> Result<Expr> {
    let digits = match call.args.len() {
        1 => None,
        2 => {
            let n = call.args.remove(1);
            let value = match &n {
                Expr::Literal(v) if v.is_valid(0) => match v.data_type() {
                    DataType::Int16 => Some(i64::from(v.as_primitive::<Int16Type>().value(0))),
                    DataType::Int32 => Some(i64::from(v.as_primitive::<Int32Type>().value(0))),
                    DataType::Int64 => Some(v.as_primitive::<Int64Type>().value(0)),
                    _ => None,
                },
                _ => None,
            };
            let n = value
                .filter(|n| (-38..=38).contains(n))
                .ok_or_else(|| Error::InvalidArgument {
                    message: format!(
                        "{}() takes the number of decimals as an integer constant from -38 to 38, not {n}",
                        call.name
                    ),
                })?;
            Some(n as i32)
        }
        _ => call.arity(1).map(|_| None)?,
    };
    let trunc = call.name == "trunc";
    let x = call.args.remove(0);
    let dt = x.data_type();
    call.expect(&x, is_numeric(&dt) || dt == DataType::Null, "a number")?;
    let n = digits.unwrap_or(0);
    Ok(match dt {
        DataType::Decimal128(p, s) if n < i32::from(s) => {
            let scale = n.max(0) as i8;
            Expr::call(
                RoundDecimal {
                    digits: n,
                    mode: DecimalRounding::of(trunc),
                    output: DataType::Decimal128(p, scale),
                },
                vec![x],
            )
        }
        DataType::Decimal128(_, _) => x,
        DataType::Int16 | DataType::Int32 | DataType::Int64 if n >= 0 => x,
        DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            let (p, _) = crate::expr::coerce::decimal_parts(&dt).unwrap_or((19, 0));
            Expr::call(
                RoundDecimal {
                    digits: n,
                    mode: DecimalRounding::of(trunc),
                    output: DataType::Decimal128(p, 0),
                },
                vec![x.cast_to(&DataType::Decimal128(p, 0))],
            )
        }
        _ => Expr::call(
            RoundFloat { digits, trunc },
            vec![x.cast_to(&DataType::Float64)],
        ),
    })
}

/// How a DECIMAL loses its last digits.
#[derive(Debug, PartialEq, Clone, Copy)]
pub(crate) enum DecimalRounding {
    /// `round`: half away from zero (PostgreSQL's numeric rounding).
    HalfAway,
    /// `trunc`: toward zero.
    TowardZero,
    /// `floor`: toward negative infinity.
    Floor,
    /// `ceil`: toward positive infinity.
    Ceil,
}

impl DecimalRounding {
    fn of(trunc: bool) -> Self {
        if trunc {
            DecimalRounding::TowardZero
        } else {
            DecimalRounding::HalfAway
        }
    }
}

/// `round(x, n)` / `trunc(x, n)` of a DECIMAL to fewer decimals than it has; `floor(x)` /
/// `ceil(x)` of a DECIMAL (to no decimals).
#[derive(Debug, PartialEq)]
pub(crate) struct RoundDecimal {
    /// The decimals kept (negative: rounds to tens, hundreds, ...); below the input's scale.
    digits: i32,
    /// Which way the dropped digits go.
    mode: DecimalRounding,
    /// DECIMAL(p, max(digits, 0)).
    output: DataType,
}

impl ScalarFunction for RoundDecimal {
    fn name(&self) -> &'static str {
        match self.mode {
            DecimalRounding::HalfAway => "round",
            DecimalRounding::TowardZero => "trunc",
            DecimalRounding::Floor => "floor",
            DecimalRounding::Ceil => "ceil",
        }
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        self.output.clone()
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let first = arg(args, 0)?;
        let DataType::Decimal128(_, scale) = first.data_type() else {
            return Err(Error::internal(format!("round of {}", first.data_type())));
        };
        let DataType::Decimal128(precision, _) = self.output else {
            return Err(Error::internal("round to a non-decimal"));
        };
        // Divide by 10^(s - n), round, and for a negative n scale back up by 10^-n.
        let shift = (i32::from(*scale) - self.digits) as u32;
        let up = 10i128.pow(self.digits.min(0).unsigned_abs());
        let mode = self.mode;
        let values = first.as_primitive::<Decimal128Type>();
        let rounded: PrimitiveArray<Decimal128Type> = match 10i128.checked_pow(shift) {
            // Every value of 38 digits or fewer rounds to 0 at 10^39 and beyond.
            None => values.unary(|_| 0),
            Some(divisor) => values.unary(|v| {
                let (q, r) = (v / divisor, v % divisor);
                // q is truncated toward zero; r has v's sign.
                let step = match mode {
                    DecimalRounding::HalfAway => {
                        if r.unsigned_abs() * 2 >= divisor.unsigned_abs() {
                            v.signum()
                        } else {
                            0
                        }
                    }
                    DecimalRounding::TowardZero => 0,
                    DecimalRounding::Floor => -i128::from(r < 0),
                    DecimalRounding::Ceil => i128::from(r > 0),
                };
                (q + step).wrapping_mul(up)
            }),
        };
        let rounded = rounded.with_data_type(self.output.clone());
        rounded
            .validate_decimal_precision(precision)
            .map_err(|_| Error::NumericOverflow {
                message: format!(
                    "{}() result does not fit in {}",
                    self.name(),
                    type_name(&self.output)
                ),
            })?;
        Ok(Arc::new(rounded))
    }
}

/// `round(x [, n])` / `trunc(x [, n])` of a DOUBLE.
#[derive(Debug, PartialEq)]
pub(crate) struct RoundFloat {
    /// The decimals kept; `None`: `round(x)`, half to even.
    digits: Option<i32>,
    /// Toward zero.
    trunc: bool,
}

impl ScalarFunction for RoundFloat {
    fn name(&self) -> &'static str {
        if self.trunc {
            "trunc"
        } else {
            "round"
        }
    }

    fn return_type(&self, _: &[Expr]) -> DataType {
        DataType::Float64
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let first = arg(args, 0)?;
        let values = first
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| Error::internal("round of a non-DOUBLE"))?;
        let factor = 10f64.powi(self.digits.unwrap_or(0));
        Ok(Arc::new(match (self.trunc, self.digits) {
            (true, _) => values.unary::<_, Float64Type>(|v| (v * factor).trunc() / factor),
            (false, None) => values.unary::<_, Float64Type>(f64::round_ties_even),
            (false, Some(_)) => values.unary::<_, Float64Type>(|v| (v * factor).round() / factor),
        }))
    }
}

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

/// `floor(x)` / `ceil(x)` of a number: a DECIMAL stays exact (DECIMAL(p, 0), as PostgreSQL's
/// numeric), anything else is DOUBLE (Grafana's `$__timeGroup` is
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
    match dt {
        DataType::Decimal128(_, 0) => Ok(arg),
        DataType::Decimal128(p, _) => {
            let mode = if func.name() == "floor" {
                DecimalRounding::Floor
            } else {
                DecimalRounding::Ceil
            };
            Ok(Expr::call(
                RoundDecimal {
                    digits: 0,
                    mode,
                    output: DataType::Decimal128(p, 0),
                },
                vec![arg],
            ))
        }
        _ => Ok(Expr::call(func, vec![arg.cast_to(&DataType::Float64)])),
    }
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
