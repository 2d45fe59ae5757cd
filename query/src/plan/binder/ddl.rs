//! Binding of `CREATE TABLE` into a storage [`TableDef`], and of `ALTER TABLE ... SET (...)`.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema};
use sqlparser::ast as sql;
use strata_storage::{Partition, TableDef, TableOptions};

use super::literal::sql_type;
use super::scope::object_name;
use crate::error::{Error, Result};
use crate::plan::Plan;

/// `CREATE TABLE [IF NOT EXISTS] t (col TYPE [NOT NULL], ...) [WITH (time_column = 'c',
/// partition = 'hour' | 'day', sort_key = 'a, b', ttl = '30 days', indexes = 'a, b')]`. The
/// time column must be a TIMESTAMP and is made NOT NULL. `indexes` names the VARCHAR columns
/// that get a bitmap index (default: every VARCHAR column; `''`: none).
pub(super) fn bind_create_table(create: &sql::CreateTable) -> Result<Plan> {
    if create.or_replace || create.temporary || create.external {
        return Err(Error::unsupported(
            "CREATE OR REPLACE / TEMPORARY / EXTERNAL TABLE",
        ));
    }
    if create.query.is_some() || create.like.is_some() || create.clone.is_some() {
        return Err(Error::unsupported(
            "CREATE TABLE ... AS / LIKE / CLONE; list the columns",
        ));
    }
    if !create.constraints.is_empty() {
        return Err(Error::unsupported(
            "table constraints (PRIMARY KEY, UNIQUE, FOREIGN KEY, CHECK); Strata tables have none",
        ));
    }
    let name = object_name(&create.name)?;
    if create.columns.is_empty() {
        return Err(Error::InvalidArgument {
            message: format!(
                "table \"{name}\" needs at least one column: CREATE TABLE {name} (col TYPE, ...)"
            ),
        });
    }

    let mut options = TableOptions::default();
    let with = match &create.table_options {
        sql::CreateTableOptions::None => &[][..],
        sql::CreateTableOptions::With(options) => options.as_slice(),
        _ => return Err(Error::unsupported("table options other than WITH (...)")),
    };
    for option in with {
        let sql::SqlOption::KeyValue { key, value } = option else {
            return Err(Error::InvalidArgument {
                message: format!("table option {option} must be key = 'value'"),
            });
        };
        let key = key.to_string().to_ascii_lowercase();
        let text = match value {
            sql::Expr::Value(v) => match &v.value {
                sql::Value::SingleQuotedString(s) | sql::Value::DoubleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            sql::Expr::Identifier(ident) => ident.value.clone(),
            other => other.to_string(),
        };
        match key.as_str() {
            "time_column" => options.time_column = Some(text),
            "sort_key" => {
                options.sort_key = text
                    .split(',')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect();
            }
            "indexes" => {
                options.indexes = Some(
                    text.split(',')
                        .map(|c| c.trim().to_string())
                        .filter(|c| !c.is_empty())
                        .collect(),
                );
            }
            "partition" => {
                options.partition =
                    Partition::parse(&text).ok_or_else(|| Error::InvalidArgument {
                        message: format!("partition must be 'hour' or 'day', not '{text}'"),
                    })?;
            }
            "ttl" => {
                options.ttl_ms = Some(strata_storage::catalog::parse_duration_ms(&text).ok_or_else(
                    || Error::InvalidArgument {
                        message: format!(
                            "ttl must be a positive duration such as '3 days' or '12h', not '{text}'"
                        ),
                    },
                )?);
            }
            _ => {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "unknown table option \"{key}\"; supported options: time_column, partition, sort_key, ttl, indexes"
                    ),
                })
            }
        }
    }

    let mut fields = Vec::with_capacity(create.columns.len());
    for column in &create.columns {
        let data_type = sql_type(&column.data_type).map_err(|_| Error::InvalidArgument {
            message: format!(
                "unknown type \"{}\" for column \"{}\"; supported types: BOOLEAN, SMALLINT, INTEGER, BIGINT, REAL, DOUBLE, VARCHAR, DATE, TIMESTAMP",
                column.data_type, column.name.value
            ),
        })?;
        if crate::interval::is_interval(&data_type) {
            return Err(Error::unsupported(format!(
                "an INTERVAL column (\"{}\"); store a duration as a BIGINT of seconds or milliseconds",
                column.name.value
            )));
        }
        let mut nullable = true;
        for option in &column.options {
            match &option.option {
                sql::ColumnOption::NotNull => nullable = false,
                sql::ColumnOption::Null => nullable = true,
                other => {
                    return Err(Error::unsupported(format!(
                        "column option {other} (column \"{}\"); only NULL / NOT NULL",
                        column.name.value
                    )))
                }
            }
        }
        fields.push(Field::new(column.name.value.clone(), data_type, nullable));
    }

    if let Some(time_column) = options.time_column.take() {
        let position = fields
            .iter()
            .position(|f| *f.name() == time_column)
            .or_else(|| {
                fields
                    .iter()
                    .position(|f| f.name().eq_ignore_ascii_case(&time_column))
            });
        let Some(position) = position else {
            return Err(Error::ColumnNotFound {
                name: time_column,
                table: Some(name),
                candidates: fields.iter().map(|f| f.name().clone()).collect(),
            });
        };
        let field = &fields[position];
        if !strata_storage::types::is_time_column_type(field.data_type()) {
            return Err(Error::mismatch(format!(
                "the time column \"{}\" must be TIMESTAMP or DATE, not {}",
                field.name(),
                strata_storage::sql_type_name(field.data_type())
            )));
        }
        options.time_column = Some(field.name().clone());
        fields[position] = field.clone().with_nullable(false);
    }
    for key in options.indexes.iter_mut().flatten() {
        let found = fields
            .iter()
            .find(|f| f.name() == key)
            .or_else(|| fields.iter().find(|f| f.name().eq_ignore_ascii_case(key)));
        let Some(field) = found else {
            return Err(Error::ColumnNotFound {
                name: key.clone(),
                table: Some(name),
                candidates: fields.iter().map(|f| f.name().clone()).collect(),
            });
        };
        if !strata_storage::index::indexable(field.data_type()) {
            return Err(Error::mismatch(format!(
                "indexes: column \"{}\" is {}; only VARCHAR columns have bitmap indexes",
                field.name(),
                strata_storage::sql_type_name(field.data_type())
            )));
        }
        *key = field.name().clone();
    }
    for key in &mut options.sort_key {
        let found = fields
            .iter()
            .find(|f| f.name() == key)
            .or_else(|| fields.iter().find(|f| f.name().eq_ignore_ascii_case(key)));
        let Some(field) = found else {
            return Err(Error::ColumnNotFound {
                name: key.clone(),
                table: Some(name),
                candidates: fields.iter().map(|f| f.name().clone()).collect(),
            });
        };
        *key = field.name().clone();
    }

    let def = TableDef {
        name,
        schema: Arc::new(Schema::new(fields)),
        options,
    };
    Ok(Plan::CreateTable {
        def,
        if_not_exists: create.if_not_exists,
    })
}

/// The text of an option value: `'x'`, `"x"`, an identifier or a literal.
fn option_text(value: &sql::Expr) -> String {
    match value {
        sql::Expr::Value(v) => match &v.value {
            sql::Value::SingleQuotedString(s) | sql::Value::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        sql::Expr::Identifier(ident) => ident.value.clone(),
        other => other.to_string(),
    }
}

/// `ALTER TABLE t SET (ttl = '30 days' | 'none', sort_key = 'a, b')`: options that apply to
/// segments from now on (`ttl` at the next retention pass, `sort_key` at the next persist). The
/// time column and partitioning shape stored data and cannot change.
pub(super) fn bind_alter_table(alter: &sql::AlterTable) -> Result<Plan> {
    let name = object_name(&alter.name)?;
    let how = "ALTER TABLE t SET (ttl = '30 days')";
    let [sql::AlterTableOperation::SetOptionsParens { options }] = alter.operations.as_slice()
    else {
        return Err(Error::unsupported(format!(
            "{}; Strata supports {how}, and sort_key = 'a, b'",
            alter
        )));
    };
    let mut ttl = None;
    let mut sort_key = None;
    for option in options {
        let sql::SqlOption::KeyValue { key, value } = option else {
            return Err(Error::InvalidArgument {
                message: format!("table option {option} must be key = 'value', as in {how}"),
            });
        };
        let key = key.to_string().to_ascii_lowercase();
        let text = option_text(value);
        match key.as_str() {
            "ttl" => {
                ttl = Some(if text.eq_ignore_ascii_case("none") || text.is_empty() {
                    None
                } else {
                    Some(
                        strata_storage::catalog::parse_duration_ms(&text).ok_or_else(|| {
                            Error::InvalidArgument {
                                message: format!(
                                    "ttl must be a positive duration such as '3 days' or '12h' \
                                 (or 'none'), not '{text}'"
                                ),
                            }
                        })?,
                    )
                });
            }
            "sort_key" => {
                sort_key = Some(
                    text.split(',')
                        .map(|c| c.trim().to_string())
                        .filter(|c| !c.is_empty())
                        .collect(),
                );
            }
            "time_column" | "partition" => {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "{key} cannot change once a table exists (it shapes the stored data); \
                         create a new table and INSERT INTO it"
                    ),
                })
            }
            _ => {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "unknown table option \"{key}\" for ALTER TABLE; supported: ttl, sort_key"
                    ),
                })
            }
        }
    }
    Ok(Plan::AlterTable {
        name,
        ttl,
        sort_key,
    })
}
