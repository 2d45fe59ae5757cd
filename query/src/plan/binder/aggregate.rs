//! The type of an aggregate call: which argument types each aggregate accepts and what it
//! returns (PostgreSQL's: `SUM` of integers is BIGINT, `AVG` is DOUBLE, ...; DECIMAL: `SUM` is
//! DECIMAL(38, s) as in DuckDB, `AVG` DECIMAL(38, max(s, 6))), and how the arguments, the
//! `ORDER BY` inside the call and `WITHIN GROUP` of one are bound ([`bind_aggregate`]).

use std::sync::Arc;

use arrow::array::{Array, Float64Array};
use arrow::datatypes::{DataType, Field};
use sqlparser::ast as sql;

use super::literal::sort_options;
use crate::error::{Error, Result};
use crate::expr::coerce::{avg_decimal_scale, is_numeric, is_temporal, type_name};
use crate::expr::{AggregateExpr, AggregateFunction, Expr, SortKey};

/// Binds an expression of the call's scope.
pub(super) type Bind<'a> = &'a dyn Fn(&sql::Expr) -> Result<Expr>;

/// Binds the arguments, the `ORDER BY` inside the parentheses and the `WITHIN GROUP` of a call
/// of the aggregate `func` (whose `FILTER` is bound), and types it with [`aggregate_call`].
/// `bind` binds an argument, `constant` a constant (a percentile's fraction).
pub(super) fn bind_aggregate(
    func: AggregateFunction,
    function: &sql::Function,
    filter: Option<Expr>,
    bind: Bind<'_>,
    constant: Bind<'_>,
) -> Result<Expr> {
    use AggregateFunction as F;
    let name = func.name();
    let invalid = |message: String| Error::InvalidArgument { message };
    let sql::FunctionArguments::List(list) = &function.args else {
        return Err(invalid(format!("{name}() needs an argument list")));
    };
    // DuckDB's `median(x)`, `quantile_cont(x, p)`, `quantile_disc(x, p)`:
    // `percentile_cont(0.5)`, `percentile_cont(p)`, `percentile_disc(p)` WITHIN GROUP (ORDER BY x).
    let spelled = function.name.to_string().to_ascii_lowercase();
    let median = func == F::PercentileCont && spelled == "median";
    let quantile = matches!(spelled.as_str(), "quantile_cont" | "quantile_disc");
    if (median || quantile) && !function.within_group.is_empty() {
        return Err(invalid(format!("{spelled}() does not take WITHIN GROUP")));
    }
    let ordered_set =
        matches!(func, F::PercentileCont | F::PercentileDisc | F::Mode) && !median && !quantile;
    // DuckDB's `mode(x)`: `mode() WITHIN GROUP (ORDER BY x)`.
    let mode_shorthand = func == F::Mode && function.within_group.is_empty();
    if ordered_set && !mode_shorthand && function.within_group.len() != 1 {
        return Err(invalid(format!(
            "{}(p) needs WITHIN GROUP (ORDER BY x) with one key: {}",
            name,
            ordered_set_example(func)
        )));
    }
    if !ordered_set && !function.within_group.is_empty() {
        return Err(invalid(format!("{name}() does not take WITHIN GROUP")));
    }
    let distinct = matches!(
        list.duplicate_treatment,
        Some(sql::DuplicateTreatment::Distinct)
    );
    if distinct && ordered_set {
        return Err(invalid(format!(
            "{name}() cannot use DISTINCT with WITHIN GROUP"
        )));
    }
    let sort_key = |key: &sql::OrderByExpr| -> Result<SortKey> {
        let (descending, nulls_first) = sort_options(key)?;
        Ok(SortKey {
            expr: bind(&key.expr)?,
            descending,
            nulls_first,
        })
    };
    let mut order_by = vec![];
    for clause in &list.clauses {
        match clause {
            sql::FunctionArgumentClause::OrderBy(keys) if !ordered_set => {
                for key in keys {
                    order_by.push(sort_key(key)?);
                }
            }
            other => {
                return Err(Error::unsupported(format!("{other} inside {name}()")));
            }
        }
    }
    fn plain(arg: &sql::FunctionArg) -> Result<&sql::Expr> {
        match arg {
            sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(e)) => Ok(e),
            other => Err(Error::InvalidArgument {
                message: format!("unexpected aggregate argument {other}"),
            }),
        }
    }
    let mut extra_args = vec![];
    let (arg, fraction) = match (func, list.args.as_slice()) {
        (F::Count, [sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Wildcard)]) if !distinct => {
            (None, None)
        }
        (F::PercentileCont, [x]) if median => (Some(bind(plain(x)?)?), Some(0.5)),
        (F::PercentileCont, _) if median => {
            return Err(invalid("median() takes one argument: median(x)".into()))
        }
        (F::PercentileCont, [x, p]) if quantile => {
            let p = fraction_arg(plain(p)?, &spelled, constant)?;
            (Some(bind(plain(x)?)?), Some(p))
        }
        (F::PercentileDisc, [x, p]) if quantile => {
            let p = fraction_arg(plain(p)?, &spelled, constant)?;
            let x = bind(plain(x)?)?;
            order_by.push(SortKey {
                expr: x.clone(),
                descending: false,
                nulls_first: false,
            });
            (Some(x), Some(p))
        }
        (F::PercentileCont | F::PercentileDisc, _) if quantile => {
            return Err(invalid(format!(
                "{spelled}() takes a value and a fraction: {spelled}(x, 0.5)"
            )))
        }
        (F::PercentileCont | F::PercentileDisc, [p]) => {
            let key = sort_key(&function.within_group[0])?;
            let p = fraction_arg(plain(p)?, name, constant)?;
            if func == F::PercentileCont {
                let p = if key.descending { 1.0 - p } else { p };
                (Some(key.expr), Some(p))
            } else {
                let arg = key.expr.clone();
                order_by.push(key);
                (Some(arg), Some(p))
            }
        }
        (F::Mode, []) if !mode_shorthand => {
            let key = sort_key(&function.within_group[0])?;
            let arg = key.expr.clone();
            order_by.push(key);
            (Some(arg), None)
        }
        (F::Mode, [x]) if mode_shorthand => {
            let x = bind(plain(x)?)?;
            order_by.push(SortKey {
                expr: x.clone(),
                descending: false,
                nulls_first: false,
            });
            (Some(x), None)
        }
        (F::ApproxPercentile, [x, p]) => {
            let p = fraction_arg(plain(p)?, name, constant)?;
            (Some(bind(plain(x)?)?), Some(p))
        }
        (F::StringAgg, [x, separator]) => {
            extra_args.push(bind(plain(separator)?)?);
            (Some(bind(plain(x)?)?), None)
        }
        (F::PercentileCont | F::PercentileDisc | F::Mode, _) => {
            return Err(invalid(format!(
                "{name}() takes {}: {}",
                if func == F::Mode {
                    "no argument"
                } else {
                    "one fraction"
                },
                ordered_set_example(func)
            )))
        }
        (F::ApproxPercentile, _) => {
            return Err(invalid(
                "approx_percentile() takes a value and a fraction: approx_percentile(x, 0.5)"
                    .into(),
            ))
        }
        (F::StringAgg, _) => {
            return Err(invalid(
                "string_agg() takes a value and a separator: string_agg(x, ',' [ORDER BY ...])"
                    .into(),
            ))
        }
        (_, [a]) => (Some(bind(plain(a)?)?), None),
        _ => {
            return Err(invalid(format!(
                "{name}() takes exactly one argument (or * for count)"
            )))
        }
    };
    let probe = AggregateExpr::simple(func, None, DataType::Null);
    if !probe.is_ordered() {
        // `sum(x ORDER BY y)`: the order changes nothing.
        order_by.clear();
    } else if distinct {
        // PostgreSQL's rule: with DISTINCT the order is one of the argument; without ORDER BY
        // the distinct values come in ascending order.
        if order_by.iter().any(|k| Some(&k.expr) != arg.as_ref()) {
            return Err(invalid(format!(
                "in {name}(DISTINCT ...), the ORDER BY expressions must be the argument"
            )));
        }
        if order_by.is_empty() {
            if let Some(arg) = &arg {
                order_by.push(SortKey {
                    expr: arg.clone(),
                    descending: false,
                    nulls_first: false,
                });
            }
        }
    }
    aggregate_call(AggregateExpr {
        func,
        arg,
        distinct,
        filter,
        data_type: DataType::Null,
        fraction,
        extra_args,
        order_by,
    })
}

/// How an ordered-set aggregate is called, for error messages.
fn ordered_set_example(func: AggregateFunction) -> &'static str {
    match func {
        AggregateFunction::Mode => "mode() WITHIN GROUP (ORDER BY x)",
        AggregateFunction::PercentileDisc => "percentile_disc(0.5) WITHIN GROUP (ORDER BY x)",
        _ => "percentile_cont(0.5) WITHIN GROUP (ORDER BY x)",
    }
}

/// The constant fraction of a percentile, in [0, 1].
fn fraction_arg(e: &sql::Expr, name: &str, constant: Bind<'_>) -> Result<f64> {
    let wrong = || Error::InvalidArgument {
        message: format!("the fraction of {name}() must be a constant between 0 and 1, not {e}"),
    };
    let bound = crate::eval::fold_constants(constant(e)?)?;
    let value = match &bound {
        Expr::Literal(v) if is_numeric(v.data_type()) && v.is_valid(0) => {
            crate::kernel::cast(v, &DataType::Float64)?
                .as_any()
                .downcast_ref::<Float64Array>()
                .map(|a| a.value(0))
        }
        _ => None,
    };
    match value {
        Some(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(wrong()),
    }
}

/// Types a bound call (`call.data_type` is not set yet): picks the result type, gives a NULL
/// argument a real type, and makes the percentiles sort DOUBLEs.
fn aggregate_call(call: AggregateExpr) -> Result<Expr> {
    let AggregateExpr {
        func,
        arg,
        distinct,
        filter,
        fraction,
        mut extra_args,
        mut order_by,
        ..
    } = call;
    let arg_type = arg.as_ref().map(Expr::data_type).unwrap_or(DataType::Null);
    let data_type = match func {
        AggregateFunction::Count => DataType::Int64,
        AggregateFunction::Sum => match arg_type {
            DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Null => DataType::Int64,
            DataType::Float32 | DataType::Float64 => DataType::Float64,
            DataType::Decimal128(_, s) => DataType::Decimal128(38, s),
            other => return Err(agg_mismatch(func, &other)),
        },
        AggregateFunction::ApproxCountDistinct => match arg_type {
            dt if is_numeric(&dt)
                || is_temporal(&dt)
                || dt == DataType::Utf8
                || dt == DataType::Boolean
                || dt == DataType::Null =>
            {
                DataType::Int64
            }
            other => return Err(agg_mismatch(func, &other)),
        },
        AggregateFunction::Avg => match arg_type {
            DataType::Decimal128(_, s) => DataType::Decimal128(38, avg_decimal_scale(s)),
            dt if is_numeric(&dt) || dt == DataType::Null => DataType::Float64,
            other => return Err(agg_mismatch(func, &other)),
        },
        AggregateFunction::ApproxPercentile
        | AggregateFunction::PercentileCont
        | AggregateFunction::StddevSamp
        | AggregateFunction::StddevPop
        | AggregateFunction::VarSamp
        | AggregateFunction::VarPop => match arg_type {
            dt if is_numeric(&dt) || dt == DataType::Null => DataType::Float64,
            other => return Err(agg_mismatch(func, &other)),
        },
        AggregateFunction::BoolAnd | AggregateFunction::BoolOr => match arg_type {
            DataType::Boolean | DataType::Null => DataType::Boolean,
            other => return Err(agg_mismatch(func, &other)),
        },
        AggregateFunction::StringAgg => match arg_type {
            DataType::Utf8 | DataType::Null => DataType::Utf8,
            other => return Err(agg_mismatch(func, &other)),
        },
        AggregateFunction::ArrayAgg => match arg_type {
            // PostgreSQL cannot type `array_agg(NULL)`; DuckDB makes it a list of NULLs.
            DataType::Null => list_of(DataType::Utf8),
            dt if is_numeric(&dt)
                || is_temporal(&dt)
                || dt == DataType::Utf8
                || dt == DataType::Boolean =>
            {
                list_of(dt)
            }
            other => return Err(agg_mismatch(func, &other)),
        },
        AggregateFunction::Min
        | AggregateFunction::Max
        | AggregateFunction::AnyValue
        | AggregateFunction::Mode
        | AggregateFunction::PercentileDisc => {
            match arg_type {
                // PostgreSQL resolves an untyped NULL to text.
                DataType::Null => DataType::Utf8,
                dt if is_numeric(&dt)
                    || is_temporal(&dt)
                    || crate::interval::is_interval(&dt)
                    || dt == DataType::Utf8
                    || dt == DataType::Boolean =>
                {
                    dt
                }
                other => return Err(agg_mismatch(func, &other)),
            }
        }
    };
    // A NULL literal argument gets a real type (the result's, or BIGINT for COUNT, SUM and the
    // DOUBLE aggregates), so that the kernels see one.
    let arg = arg.map(|a| {
        if a.data_type() != DataType::Null {
            a
        } else if matches!(
            func,
            AggregateFunction::Min
                | AggregateFunction::Max
                | AggregateFunction::AnyValue
                | AggregateFunction::Mode
                | AggregateFunction::PercentileDisc
                | AggregateFunction::StringAgg
                | AggregateFunction::BoolAnd
                | AggregateFunction::BoolOr
        ) {
            a.cast_to(&data_type)
        } else if func == AggregateFunction::ArrayAgg {
            a.cast_to(&DataType::Utf8)
        } else {
            a.cast_to(&DataType::Int64)
        }
    });
    // The percentiles sort DOUBLEs; the variances of decimals run on DOUBLEs.
    let arg = match func {
        AggregateFunction::ApproxPercentile | AggregateFunction::PercentileCont => {
            arg.map(|a| a.cast_to(&DataType::Float64))
        }
        AggregateFunction::StddevSamp
        | AggregateFunction::StddevPop
        | AggregateFunction::VarSamp
        | AggregateFunction::VarPop => arg.map(|a| match a.data_type() {
            DataType::Decimal128(_, _) => a.cast_to(&DataType::Float64),
            _ => a,
        }),
        _ => arg,
    };
    if func == AggregateFunction::StringAgg {
        for separator in &mut extra_args {
            *separator = match separator.data_type() {
                DataType::Utf8 => continue,
                DataType::Null => separator.clone().cast_to(&DataType::Utf8),
                other => {
                    return Err(Error::mismatch(format!(
                        "the separator of string_agg() must be text, not {}",
                        type_name(&other)
                    )))
                }
            };
        }
    }
    // The WITHIN GROUP key of percentile_disc and mode is the (typed) argument.
    if matches!(
        func,
        AggregateFunction::PercentileDisc | AggregateFunction::Mode
    ) {
        if let (Some(key), Some(arg)) = (order_by.first_mut(), &arg) {
            key.expr = arg.clone();
        }
    }
    // DISTINCT's order is the argument's (see bind_aggregate).
    if distinct {
        for key in &mut order_by {
            if let Some(arg) = &arg {
                key.expr = arg.clone();
            }
        }
    }
    Ok(Expr::Aggregate(Box::new(AggregateExpr {
        func,
        arg,
        distinct,
        filter,
        data_type,
        fraction,
        extra_args,
        order_by,
    })))
}

/// A list of `element` values (`array_agg`'s result).
pub(crate) fn list_of(element: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", element, true)))
}

fn agg_mismatch(func: AggregateFunction, dt: &DataType) -> Error {
    Error::mismatch(format!(
        "{}() cannot be applied to {}{}",
        func.name(),
        type_name(dt),
        if !matches!(
            func,
            AggregateFunction::Count
                | AggregateFunction::Min
                | AggregateFunction::Max
                | AggregateFunction::AnyValue
                | AggregateFunction::Mode
                | AggregateFunction::PercentileDisc
                | AggregateFunction::ArrayAgg
        ) {
            if func == AggregateFunction::StringAgg {
                "; it needs text (cast the value: x::text)"
            } else if matches!(func, AggregateFunction::BoolAnd | AggregateFunction::BoolOr) {
                "; it needs booleans"
            } else {
                "; it needs numbers"
            }
        } else {
            ""
        }
    ))
}
