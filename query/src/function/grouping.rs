//! `grouping(key, ...)`: which of its arguments (GROUP BY keys) the current row of a
//! `GROUPING SETS` / `ROLLUP` / `CUBE` query is *not* grouped by, as a bit mask (the first
//! argument is the highest bit), as in PostgreSQL. The binder replaces each call by the value
//! for the row's grouping set (`plan/binder/grouping.rs`); a call it has not replaced (outside an
//! aggregate query) is an error when it runs.

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;

use super::{Call, Definition};
use crate::error::{Error, Result};
use crate::expr::{Expr, ScalarFunction};

/// The grouping function of the registry.
pub(super) const FUNCTIONS: &[Definition] = &[Definition {
    names: &["grouping"],
    bind: bind_grouping,
}];

fn bind_grouping(call: Call) -> Result<Expr> {
    if call.args.is_empty() || call.args.len() > 31 {
        return Err(Error::InvalidArgument {
            message: "grouping() takes between 1 and 31 GROUP BY keys".into(),
        });
    }
    Ok(Expr::call(Grouping, call.args))
}

/// A `grouping(...)` call, until the binder replaces it.
#[derive(Debug, PartialEq)]
pub(crate) struct Grouping;

impl ScalarFunction for Grouping {
    fn name(&self) -> &'static str {
        "grouping"
    }

    fn return_type(&self, _args: &[Expr]) -> DataType {
        DataType::Int32
    }

    fn invoke(&self, _args: &[ArrayRef]) -> Result<ArrayRef> {
        Err(Error::InvalidArgument {
            message: "grouping() is allowed only in the select list, HAVING and ORDER BY of a query with GROUP BY".into(),
        })
    }
}
