//! Functions about types: `typeof`.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::DataType;

use super::{arg, Call, Definition};
use crate::error::Result;
use crate::expr::coerce::type_name;
use crate::expr::{Expr, ScalarFunction};

/// The type functions of the registry.
pub(super) const FUNCTIONS: &[Definition] = &[Definition {
    names: &["typeof"],
    bind: bind_typeof,
}];

/// `typeof(x)`: the SQL name of the argument's type as VARCHAR, in DuckDB's spelling
/// (`INTEGER`, `DECIMAL(3,2)`, `DOUBLE`; `NULL` for an untyped NULL).
fn bind_typeof(mut call: Call) -> Result<Expr> {
    call.arity(1)?;
    let arg = call.args.remove(0);
    let name = type_name(&arg.data_type()).into_owned();
    Ok(Expr::call(TypeOf { name }, vec![arg]))
}

/// `typeof(x)`: the name is fixed when binding; the argument stays in the call so that
/// `typeof(sum(x))` is still an aggregate query.
#[derive(Debug, PartialEq)]
pub(crate) struct TypeOf {
    name: String,
}

impl ScalarFunction for TypeOf {
    fn name(&self) -> &'static str {
        "typeof"
    }

    fn return_type(&self, _args: &[Expr]) -> DataType {
        DataType::Utf8
    }

    fn invoke(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let rows = arg(args, 0)?.len();
        Ok(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(self.name.as_str(), rows),
        )))
    }
}
