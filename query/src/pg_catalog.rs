//! What PostgreSQL clients read about the database: the `information_schema` and `pg_catalog`
//! virtual tables, the session functions (`version()`, `current_database()`,
//! `current_setting('...')`, ...) and the default settings.
//!
//! About 800 lines on purpose: one list of catalog tables with their rows, read top to bottom
//! (the catalog tables that are always empty are in `pg_catalog/empty.rs`).
//!
//! Strata has one database (`strata`) and one schema of user tables (`public`); every user table
//! is a `BASE TABLE` / relkind `r`. OIDs: namespaces are PostgreSQL's (`pg_catalog` 11, `public`
//! 2200), types are PostgreSQL's type OIDs, a table's OID is 16384 plus its position among the
//! table names sorted (stable while no table is created or dropped). OID columns are BIGINT.
//!
//! | table | columns |
//! |---|---|
//! | `information_schema.schemata` | catalog_name, schema_name, schema_owner |
//! | `information_schema.tables` | table_catalog, table_schema, table_name, table_type |
//! | `information_schema.columns` | table_catalog, table_schema, table_name, column_name, ordinal_position, column_default, is_nullable, data_type, udt_name |
//! | `pg_catalog.pg_namespace` | oid, nspname, nspowner |
//! | `pg_catalog.pg_class` | oid, relname, relnamespace, relkind, relowner, relhasindex, relpersistence, reltuples, relam, relchecks, relhasrules, relhastriggers, relrowsecurity, relforcerowsecurity, relispartition, reltablespace, reloftype, relreplident, reltoastrelid, relnatts, relpartbound, reloptions, relacl, reltype, relfilenode, relpages |
//! | `pg_catalog.pg_am` | oid, amname (`heap`) |
//! | `pg_catalog.pg_attribute` | attrelid, attname, atttypid, attnum, attnotnull, atttypmod, attisdropped, atthasdef, attidentity, attgenerated, attcollation |
//! | `pg_catalog.pg_type` | oid, typname, typnamespace, typlen, typtype, typarray, typdelim, typrelid, typelem, typbasetype, typnotnull, typtypmod, typcategory, typcollation, typdefault, typowner, typisdefined, typbyval |
//! | `pg_catalog.pg_database` | oid, datname, datdba, encoding, datcollate, datctype, datallowconn, daticulocale, datlocprovider, datacl |
//! | `pg_catalog.pg_extension` | extname, extversion (no rows) |
//! | `pg_catalog.pg_settings` | name, setting |
//! | `pg_catalog.pg_roles` | oid, rolname, rolsuper, ... (one row: `strata`) |
//! | `pg_catalog.pg_tablespace` | oid, spcname, spcowner, spcacl, spcoptions (`pg_default`, `pg_global`) |
//!
//! And, without rows (Strata has no indexes, constraints, defaults, comments, policies,
//! triggers, inheritance, sequences, enums, functions or publications in PostgreSQL's sense), so
//! that the catalog queries of psql and the drivers get PostgreSQL's answer "none":
//! `pg_index`, `pg_constraint`, `pg_description`, `pg_attrdef`, `pg_collation`, `pg_inherits`,
//! `pg_policy`, `pg_statistic_ext`, `pg_publication`, `pg_publication_rel`,
//! `pg_publication_namespace`, `pg_trigger`, `pg_rewrite`, `pg_enum`, `pg_sequence`, `pg_proc`,
//! `pg_opclass`, `pg_foreign_table`, `pg_partitioned_table`, `pg_auth_members`
//! ([`EMPTY_TABLES`]).
//!
//! Any other catalog table is unknown (`TABLE_NOT_FOUND`, SQLSTATE 42P01): a query Strata cannot
//! answer fails, it never answers "nothing" by mistake.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Int16Array, Int32Array, Int64Array, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use strata_storage::{Storage, VirtualTable};

use crate::error::{Error, Result};

/// The version string of `version()`.
pub const VERSION: &str = concat!(
    "PostgreSQL 16.6 (Strata ",
    env!("CARGO_PKG_VERSION"),
    ") on x86_64-pc-linux-gnu, a real-time columnar analytics database"
);

/// The `server_version` setting.
pub const SERVER_VERSION: &str = concat!("16.6 (Strata ", env!("CARGO_PKG_VERSION"), ")");

/// The one database.
pub const DATABASE: &str = "strata";
/// The schema of the user tables.
pub const SCHEMA: &str = "public";
/// The user every session runs as.
pub const USER: &str = "strata";

/// OID of the first user table.
const FIRST_TABLE_OID: i64 = 16384;
const PG_CATALOG_OID: i64 = 11;
const PUBLIC_OID: i64 = 2200;
const INFORMATION_SCHEMA_OID: i64 = 13000;
const SYSTEM_OID: i64 = 13100;

/// Settings and their defaults (`SHOW`, `current_setting`, `pg_settings`), names lower case.
pub const SETTINGS: &[(&str, &str)] = &[
    ("server_version", SERVER_VERSION),
    ("server_version_num", "160006"),
    ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"),
    ("timezone", "UTC"),
    ("datestyle", "ISO, MDY"),
    ("intervalstyle", "postgres"),
    ("search_path", "\"$user\", public"),
    ("standard_conforming_strings", "on"),
    ("integer_datetimes", "on"),
    ("max_identifier_length", "63"),
    ("transaction_isolation", "read committed"),
    ("default_transaction_isolation", "read committed"),
    ("transaction_read_only", "off"),
    ("default_transaction_read_only", "off"),
    ("is_superuser", "on"),
    ("application_name", ""),
    ("extra_float_digits", "1"),
    ("lc_collate", "C"),
    ("lc_ctype", "C"),
    ("statement_timeout", "0"),
    ("lock_timeout", "0"),
    ("idle_in_transaction_session_timeout", "0"),
    ("max_connections", "1024"),
    ("block_size", "8192"),
    ("session_authorization", USER),
    ("default_table_access_method", "heap"),
    ("in_hot_standby", "off"),
];

/// The default of setting `name` (case-insensitive).
pub fn setting(name: &str) -> Option<&'static str> {
    let name = name.trim().to_ascii_lowercase();
    SETTINGS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// The value of a session function that does not depend on the rows (`version()`,
/// `current_database()`, `current_setting('x')`, `pg_backend_pid()`, the visibility and privilege
/// checks, which are always true), as a one-element literal; `None` when `name` is not one.
/// `literal_arg(i)` is argument i when it is a string literal.
pub fn constant_function(
    name: &str,
    args: usize,
    literal_arg: impl Fn(usize) -> Option<String>,
) -> Option<Result<ArrayRef>> {
    let text = |s: &str| -> Option<Result<ArrayRef>> {
        Some(Ok(Arc::new(StringArray::from(vec![s.to_string()]))))
    };
    match name {
        "version" => text(VERSION),
        "current_database" | "current_catalog" => text(DATABASE),
        "current_schema" => text(SCHEMA),
        "current_user" | "session_user" | "user" | "current_role" | "pg_get_userbyid" => text(USER),
        "current_schemas" => text("{pg_catalog,public}"),
        "pg_encoding_to_char" | "getdatabaseencoding" => text("UTF8"),
        "inet_server_addr" | "inet_client_addr" => text("127.0.0.1"),
        "pg_backend_pid" => Some(Ok(Arc::new(Int32Array::from(vec![
            std::process::id() as i32
        ])))),
        "pg_postmaster_start_time" => None,
        "current_setting" => {
            let Some(setting_name) = literal_arg(0) else {
                return Some(Err(Error::unsupported(
                    "current_setting() of a non-literal setting name",
                )));
            };
            match setting(&setting_name) {
                Some(v) => text(v),
                None if args > 1 => Some(Ok(Arc::new(StringArray::from(vec![None::<String>])))),
                None => Some(Err(Error::InvalidArgument {
                    message: format!("unrecognized configuration parameter \"{setting_name}\""),
                })),
            }
        }
        "to_regtype" => match literal_arg(0) {
            Some(name) => Some(Ok(Arc::new(Int64Array::from(vec![type_oid(&name)])))),
            None => Some(Err(Error::unsupported(
                "to_regtype() of anything but a string literal",
            ))),
        },
        "pg_table_is_visible"
        | "pg_type_is_visible"
        | "pg_function_is_visible"
        | "pg_collation_is_visible"
        | "has_table_privilege"
        | "has_schema_privilege"
        | "has_database_privilege"
        | "has_column_privilege"
        | "pg_has_role" => Some(Ok(Arc::new(BooleanArray::from(vec![true])))),
        // The definition of an object: PostgreSQL answers NULL for an OID that names none, and
        // Strata has no constraints, indexes, views, triggers, rules, statistics objects,
        // functions or sequences in PostgreSQL's sense.
        "obj_description"
        | "col_description"
        | "shobj_description"
        | "pg_get_expr"
        | "pg_get_constraintdef"
        | "pg_get_indexdef"
        | "pg_get_viewdef"
        | "pg_get_triggerdef"
        | "pg_get_ruledef"
        | "pg_get_partkeydef"
        | "pg_get_statisticsobjdef_columns"
        | "pg_get_function_result"
        | "pg_get_function_arguments"
        | "pg_get_function_identity_arguments"
        | "pg_get_serial_sequence" => Some(Ok(Arc::new(StringArray::from(vec![None::<String>])))),
        _ => None,
    }
}

/// The PostgreSQL type OID, name (as `format_type` and `information_schema` spell it) and
/// `udt_name` of an Arrow type.
pub fn pg_type_of(dt: &DataType) -> (i64, &'static str, &'static str) {
    match dt {
        DataType::Boolean => (16, "boolean", "bool"),
        DataType::Int8 | DataType::Int16 => (21, "smallint", "int2"),
        DataType::Int32 => (23, "integer", "int4"),
        DataType::Int64 => (20, "bigint", "int8"),
        DataType::Float32 => (700, "real", "float4"),
        DataType::Float64 => (701, "double precision", "float8"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            (1043, "character varying", "varchar")
        }
        DataType::Date32 | DataType::Date64 => (1082, "date", "date"),
        DataType::Timestamp(_, _) => (1114, "timestamp without time zone", "timestamp"),
        DataType::Decimal128(_, _) => (1700, "numeric", "numeric"),
        DataType::List(element) => match pg_type_of(element.data_type()).0 {
            16 => (1000, "boolean[]", "_bool"),
            21 => (1005, "smallint[]", "_int2"),
            23 => (1007, "integer[]", "_int4"),
            20 => (1016, "bigint[]", "_int8"),
            700 => (1021, "real[]", "_float4"),
            701 => (1022, "double precision[]", "_float8"),
            1043 => (1015, "character varying[]", "_varchar"),
            1082 => (1182, "date[]", "_date"),
            1114 => (1115, "timestamp without time zone[]", "_timestamp"),
            1700 => (1231, "numeric[]", "_numeric"),
            _ => (1009, "text[]", "_text"),
        },
        _ => (25, "text", "text"),
    }
}

/// `format_type(oid, typmod)` of the types Strata has, as `(oid, name)`.
pub const FORMAT_TYPES: &[(i64, &str)] = &[
    (16, "boolean"),
    (20, "bigint"),
    (21, "smallint"),
    (23, "integer"),
    (25, "text"),
    (700, "real"),
    (701, "double precision"),
    (1043, "character varying"),
    (1082, "date"),
    (1114, "timestamp without time zone"),
    (1184, "timestamp with time zone"),
    (1700, "numeric"),
];

/// PostgreSQL's OIDs of its catalog tables (`'pg_catalog.pg_constraint'::regclass`, which
/// SQLAlchemy compares with `pg_description.classoid`).
const CATALOG_OIDS: &[(&str, i64)] = &[
    ("pg_type", 1247),
    ("pg_attribute", 1249),
    ("pg_proc", 1255),
    ("pg_class", 1259),
    ("pg_database", 1262),
    ("pg_sequence", 2224),
    ("pg_am", 2601),
    ("pg_attrdef", 2604),
    ("pg_constraint", 2606),
    ("pg_description", 2609),
    ("pg_index", 2610),
    ("pg_inherits", 2611),
    ("pg_namespace", 2615),
    ("pg_rewrite", 2618),
    ("pg_trigger", 2620),
    ("pg_extension", 3079),
    ("pg_policy", 3256),
    ("pg_statistic_ext", 3381),
    ("pg_collation", 3456),
    ("pg_enum", 3501),
    ("pg_publication", 6104),
    ("pg_publication_rel", 6106),
];

/// OID of the first other virtual table (`information_schema.*`, `system.*`, `pg_roles`, ...).
const FIRST_VIRTUAL_OID: i64 = 14000;

/// The OID of the table a client names (`events`, `public.events`, `"events"`, or a catalog
/// table: `pg_catalog.pg_class`, `information_schema.tables`), `None` when there is no such
/// table.
pub fn table_oid(storage: &Storage, name: &str) -> Option<i64> {
    let name = name.trim().replace('"', "");
    let (schema, table) = match name.split_once('.') {
        Some((schema, table)) => (Some(schema.to_ascii_lowercase()), table.to_string()),
        None => (None, name.clone()),
    };
    if schema.is_none() || schema.as_deref() == Some(SCHEMA) {
        if let Some(t) = tables(storage).into_iter().find(|t| t.1 == table) {
            return Some(t.0);
        }
    }
    let schema = schema.unwrap_or_else(|| "pg_catalog".to_string());
    let table = table.to_ascii_lowercase();
    storage.virtual_tables().get(&schema, &table)?;
    if schema == "pg_catalog" {
        if let Some((_, oid)) = CATALOG_OIDS.iter().find(|(n, _)| *n == table) {
            return Some(*oid);
        }
    }
    let position = storage
        .virtual_tables()
        .all()
        .iter()
        .position(|(s, t)| *s == schema && *t == table)?;
    Some(FIRST_VIRTUAL_OID + position as i64)
}

/// The OID of a schema (`pg_catalog`, `public`, `information_schema`, `system`).
pub fn namespace_oid(name: &str) -> Option<i64> {
    let name = name.trim().trim_matches('"');
    NAMESPACES.iter().find(|n| n.1 == name).map(|n| n.0)
}

/// What `oid::regtype::text`, `oid::regclass::text` and `oid::regnamespace::text` show: each
/// OID of that kind with its name (`cast` is `regtype`, `regclass` or `regnamespace`).
pub fn object_names(storage: &Storage, cast: &str) -> Vec<(i64, String)> {
    match cast {
        "regtype" => FORMAT_TYPES
            .iter()
            .map(|(oid, name)| (*oid, name.to_string()))
            .collect(),
        "regclass" => tables(storage)
            .into_iter()
            .map(|(oid, name, _, _)| (oid, name))
            .chain(
                CATALOG_OIDS
                    .iter()
                    .map(|(name, oid)| (*oid, name.to_string())),
            )
            .collect(),
        "regnamespace" => NAMESPACES
            .iter()
            .map(|(oid, name)| (*oid, name.to_string()))
            .collect(),
        _ => vec![],
    }
}

/// The user tables, sorted, with their OIDs and schemas.
pub fn tables(storage: &Storage) -> Vec<(i64, String, SchemaRef, bool)> {
    let mut names = storage.table_names();
    names.sort();
    names
        .into_iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let table = storage.table(&name).ok()?;
            Some((FIRST_TABLE_OID + i as i64, name, table.schema(), true))
        })
        .collect()
}

mod empty;

use empty::Empty;
pub use empty::EMPTY_TABLES;

/// Registers the tables of this module on `storage`.
pub fn register(storage: &Storage) {
    let v = storage.virtual_tables();
    v.register(
        "information_schema",
        "schemata",
        Arc::new(Catalog::Schemata),
    );
    v.register("information_schema", "tables", Arc::new(Catalog::Tables));
    v.register("information_schema", "columns", Arc::new(Catalog::Columns));
    v.register("pg_catalog", "pg_namespace", Arc::new(Catalog::Namespace));
    v.register("pg_catalog", "pg_class", Arc::new(Catalog::Class));
    v.register("pg_catalog", "pg_attribute", Arc::new(Catalog::Attribute));
    v.register("pg_catalog", "pg_type", Arc::new(Catalog::Type));
    v.register("pg_catalog", "pg_database", Arc::new(Catalog::Database));
    v.register("pg_catalog", "pg_extension", Arc::new(Catalog::Extension));
    v.register("pg_catalog", "pg_am", Arc::new(Catalog::Am));
    v.register("pg_catalog", "pg_settings", Arc::new(Catalog::Settings));
    v.register("pg_catalog", "pg_roles", Arc::new(Catalog::Roles));
    v.register("pg_catalog", "pg_tablespace", Arc::new(Catalog::Tablespace));
    for (name, columns) in EMPTY_TABLES {
        v.register("pg_catalog", name, Arc::new(Empty(columns)));
    }
}

/// One catalog table.
#[derive(Debug, Clone, Copy)]
enum Catalog {
    Schemata,
    Tables,
    Columns,
    Namespace,
    Class,
    Attribute,
    Type,
    Database,
    Extension,
    Am,
    Settings,
    Roles,
    Tablespace,
}

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn int64(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}

fn strings(values: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn constant(value: &str, n: usize) -> ArrayRef {
    Arc::new(StringArray::from(vec![value; n]))
}

const NAMESPACES: &[(i64, &str)] = &[
    (PG_CATALOG_OID, "pg_catalog"),
    (PUBLIC_OID, SCHEMA),
    (INFORMATION_SCHEMA_OID, "information_schema"),
    (SYSTEM_OID, "system"),
];

/// A PostgreSQL type Strata has: OID, `typname`, `typlen`, the OID of its array type,
/// `typcategory`.
type PgType = (i64, &'static str, i16, i64, &'static str);

/// The PostgreSQL types Strata has (the rows of `pg_type`).
const TYPES: &[PgType] = &[
    (16, "bool", 1, 1000, "B"),
    (20, "int8", 8, 1016, "N"),
    (21, "int2", 2, 1005, "N"),
    (23, "int4", 4, 1007, "N"),
    (25, "text", -1, 1009, "S"),
    (700, "float4", 4, 1021, "N"),
    (701, "float8", 8, 1022, "N"),
    (1043, "varchar", -1, 1015, "S"),
    (1082, "date", 4, 1182, "D"),
    (1114, "timestamp", 8, 1115, "D"),
    (1184, "timestamptz", 8, 1185, "D"),
    (1700, "numeric", -1, 1231, "N"),
];

/// The OID of the type a client names (`int4`, `integer`, `pg_catalog.varchar`, `character
/// varying`, `"timestamp"`, ...), as `to_regtype` and `'name'::regtype` look it up; `None` for a
/// type Strata does not have.
pub fn type_oid(name: &str) -> Option<i64> {
    let name = name.trim().trim_matches('"').to_ascii_lowercase();
    let name = name
        .strip_prefix("pg_catalog.")
        .unwrap_or(&name)
        .trim_matches('"');
    let alias = match name {
        "boolean" => "bool",
        "bigint" => "int8",
        "smallint" => "int2",
        "integer" | "int" => "int4",
        "real" => "float4",
        "double precision" | "double" => "float8",
        "character varying" => "varchar",
        "timestamp without time zone" => "timestamp",
        "timestamp with time zone" => "timestamptz",
        other => other,
    };
    TYPES.iter().find(|t| t.1 == alias).map(|t| t.0)
}

/// The name `oid::regtype::text` shows for a type OID (`format_type`'s), `None` for an OID that
/// is not a type Strata has.
pub fn type_name(oid: i64) -> Option<&'static str> {
    FORMAT_TYPES.iter().find(|t| t.0 == oid).map(|t| t.1)
}

impl VirtualTable for Catalog {
    fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(match self {
            Catalog::Schemata => vec![
                utf8("catalog_name"),
                utf8("schema_name"),
                utf8("schema_owner"),
            ],
            Catalog::Tables => vec![
                utf8("table_catalog"),
                utf8("table_schema"),
                utf8("table_name"),
                utf8("table_type"),
            ],
            Catalog::Columns => vec![
                utf8("table_catalog"),
                utf8("table_schema"),
                utf8("table_name"),
                utf8("column_name"),
                Field::new("ordinal_position", DataType::Int32, true),
                utf8("column_default"),
                utf8("is_nullable"),
                utf8("data_type"),
                utf8("udt_name"),
            ],
            Catalog::Namespace => vec![int64("oid"), utf8("nspname"), int64("nspowner")],
            Catalog::Class => vec![
                int64("oid"),
                utf8("relname"),
                int64("relnamespace"),
                utf8("relkind"),
                int64("relowner"),
                Field::new("relhasindex", DataType::Boolean, true),
                utf8("relpersistence"),
                Field::new("reltuples", DataType::Float32, true),
                int64("relam"),
                Field::new("relchecks", DataType::Int16, true),
                Field::new("relhasrules", DataType::Boolean, true),
                Field::new("relhastriggers", DataType::Boolean, true),
                Field::new("relrowsecurity", DataType::Boolean, true),
                Field::new("relforcerowsecurity", DataType::Boolean, true),
                Field::new("relispartition", DataType::Boolean, true),
                int64("reltablespace"),
                int64("reloftype"),
                utf8("relreplident"),
                int64("reltoastrelid"),
                Field::new("relnatts", DataType::Int16, true),
                utf8("relpartbound"),
                utf8("reloptions"),
                utf8("relacl"),
                int64("reltype"),
                int64("relfilenode"),
                Field::new("relpages", DataType::Int32, true),
            ],
            Catalog::Attribute => vec![
                int64("attrelid"),
                utf8("attname"),
                int64("atttypid"),
                Field::new("attnum", DataType::Int16, true),
                Field::new("attnotnull", DataType::Boolean, true),
                Field::new("atttypmod", DataType::Int32, true),
                Field::new("attisdropped", DataType::Boolean, true),
                Field::new("atthasdef", DataType::Boolean, true),
                utf8("attidentity"),
                utf8("attgenerated"),
                int64("attcollation"),
            ],
            Catalog::Type => vec![
                int64("oid"),
                utf8("typname"),
                int64("typnamespace"),
                Field::new("typlen", DataType::Int16, true),
                utf8("typtype"),
                int64("typarray"),
                utf8("typdelim"),
                int64("typrelid"),
                int64("typelem"),
                int64("typbasetype"),
                Field::new("typnotnull", DataType::Boolean, true),
                Field::new("typtypmod", DataType::Int32, true),
                utf8("typcategory"),
                int64("typcollation"),
                utf8("typdefault"),
                int64("typowner"),
                Field::new("typisdefined", DataType::Boolean, true),
                Field::new("typbyval", DataType::Boolean, true),
            ],
            Catalog::Database => vec![
                int64("oid"),
                utf8("datname"),
                int64("datdba"),
                Field::new("encoding", DataType::Int32, true),
                utf8("datcollate"),
                utf8("datctype"),
                Field::new("datallowconn", DataType::Boolean, true),
                utf8("daticulocale"),
                utf8("datlocprovider"),
                utf8("datacl"),
            ],
            Catalog::Extension => vec![utf8("extname"), utf8("extversion")],
            Catalog::Am => vec![int64("oid"), utf8("amname")],
            Catalog::Settings => vec![utf8("name"), utf8("setting")],
            Catalog::Roles => vec![
                int64("oid"),
                utf8("rolname"),
                Field::new("rolsuper", DataType::Boolean, true),
                Field::new("rolinherit", DataType::Boolean, true),
                Field::new("rolcreaterole", DataType::Boolean, true),
                Field::new("rolcreatedb", DataType::Boolean, true),
                Field::new("rolcanlogin", DataType::Boolean, true),
                Field::new("rolreplication", DataType::Boolean, true),
                Field::new("rolbypassrls", DataType::Boolean, true),
                Field::new("rolconnlimit", DataType::Int32, true),
                utf8("rolvaliduntil"),
                utf8("rolconfig"),
            ],
            Catalog::Tablespace => vec![
                int64("oid"),
                utf8("spcname"),
                int64("spcowner"),
                utf8("spcacl"),
                utf8("spcoptions"),
            ],
        }))
    }

    fn batches(&self, storage: &Storage) -> strata_storage::Result<Vec<RecordBatch>> {
        let columns: Vec<ArrayRef> = match self {
            Catalog::Schemata => {
                let names: Vec<String> = NAMESPACES.iter().map(|(_, n)| n.to_string()).collect();
                let n = names.len();
                vec![constant(DATABASE, n), strings(names), constant(USER, n)]
            }
            Catalog::Tables => {
                let mut schemas = vec![];
                let mut names = vec![];
                for (_, name, _, _) in tables(storage) {
                    schemas.push(SCHEMA.to_string());
                    names.push(name);
                }
                for (schema, name) in storage.virtual_tables().all() {
                    schemas.push(schema);
                    names.push(name);
                }
                let n = names.len();
                let types: Vec<String> = schemas
                    .iter()
                    .map(|s| {
                        if s == SCHEMA {
                            "BASE TABLE".to_string()
                        } else {
                            "VIEW".to_string()
                        }
                    })
                    .collect();
                vec![
                    constant(DATABASE, n),
                    strings(schemas),
                    strings(names),
                    strings(types),
                ]
            }
            Catalog::Columns => {
                let (mut table, mut column, mut position, mut nullable, mut ty, mut udt) =
                    (vec![], vec![], vec![], vec![], vec![], vec![]);
                for (_, name, schema, _) in tables(storage) {
                    for (i, f) in schema.fields().iter().enumerate() {
                        let (_, type_name, udt_name) = pg_type_of(f.data_type());
                        table.push(name.clone());
                        column.push(f.name().clone());
                        position.push(i as i32 + 1);
                        nullable.push(if f.is_nullable() { "YES" } else { "NO" }.to_string());
                        ty.push(type_name.to_string());
                        udt.push(udt_name.to_string());
                    }
                }
                let n = table.len();
                vec![
                    constant(DATABASE, n),
                    constant(SCHEMA, n),
                    strings(table),
                    strings(column),
                    Arc::new(Int32Array::from(position)),
                    Arc::new(StringArray::from(vec![None::<String>; n])),
                    strings(nullable),
                    strings(ty),
                    strings(udt),
                ]
            }
            Catalog::Namespace => vec![
                Arc::new(Int64Array::from_iter_values(
                    NAMESPACES.iter().map(|(o, _)| *o),
                )),
                strings(NAMESPACES.iter().map(|(_, n)| n.to_string()).collect()),
                Arc::new(Int64Array::from(vec![10; NAMESPACES.len()])),
            ],
            Catalog::Class => {
                let tables = tables(storage);
                let n = tables.len();
                let rows: Vec<f32> = tables
                    .iter()
                    .map(|(_, name, _, _)| {
                        storage
                            .table(name)
                            .map(|t| t.segment_infos().iter().map(|s| s.rows as f32).sum())
                            .unwrap_or(0.0)
                    })
                    .collect();
                vec![
                    Arc::new(Int64Array::from_iter_values(tables.iter().map(|t| t.0))),
                    strings(tables.iter().map(|t| t.1.clone()).collect()),
                    Arc::new(Int64Array::from(vec![PUBLIC_OID; n])),
                    constant("r", n),
                    Arc::new(Int64Array::from(vec![10; n])),
                    Arc::new(BooleanArray::from(vec![false; n])),
                    constant("p", n),
                    Arc::new(Float32Array::from(rows)),
                    Arc::new(Int64Array::from(vec![2; n])),
                    Arc::new(Int16Array::from(vec![0; n])),
                    Arc::new(BooleanArray::from(vec![false; n])),
                    Arc::new(BooleanArray::from(vec![false; n])),
                    Arc::new(BooleanArray::from(vec![false; n])),
                    Arc::new(BooleanArray::from(vec![false; n])),
                    Arc::new(BooleanArray::from(vec![false; n])),
                    Arc::new(Int64Array::from(vec![0; n])),
                    Arc::new(Int64Array::from(vec![0; n])),
                    constant("d", n),
                    Arc::new(Int64Array::from(vec![0; n])),
                    Arc::new(Int16Array::from_iter_values(
                        tables.iter().map(|t| t.2.fields().len() as i16),
                    )),
                    Arc::new(StringArray::from(vec![None::<String>; n])),
                    Arc::new(StringArray::from(vec![None::<String>; n])),
                    Arc::new(StringArray::from(vec![None::<String>; n])),
                    Arc::new(Int64Array::from(vec![0; n])),
                    Arc::new(Int64Array::from_iter_values(tables.iter().map(|t| t.0))),
                    Arc::new(Int32Array::from(vec![0; n])),
                ]
            }
            Catalog::Attribute => {
                let (mut rel, mut name, mut ty, mut num, mut notnull, mut typmod) =
                    (vec![], vec![], vec![], vec![], vec![], vec![]);
                for (oid, _, schema, _) in tables(storage) {
                    for (i, f) in schema.fields().iter().enumerate() {
                        rel.push(oid);
                        name.push(f.name().clone());
                        ty.push(pg_type_of(f.data_type()).0);
                        // PostgreSQL's numeric typmod: ((precision << 16) | scale) + 4.
                        typmod.push(match f.data_type() {
                            DataType::Decimal128(p, s) => {
                                ((i32::from(*p) << 16) | i32::from(*s)) + 4
                            }
                            _ => -1,
                        });
                        num.push(i as i16 + 1);
                        notnull.push(!f.is_nullable());
                    }
                }
                let n = rel.len();
                vec![
                    Arc::new(Int64Array::from(rel)),
                    strings(name),
                    Arc::new(Int64Array::from(ty)),
                    Arc::new(Int16Array::from(num)),
                    Arc::new(BooleanArray::from(notnull)),
                    Arc::new(Int32Array::from(typmod)),
                    Arc::new(BooleanArray::from(vec![false; n])),
                    Arc::new(BooleanArray::from(vec![false; n])),
                    constant("", n),
                    constant("", n),
                    Arc::new(Int64Array::from(vec![0; n])),
                ]
            }
            Catalog::Type => {
                let n = TYPES.len();
                let oids = |f: fn(&PgType) -> i64| -> ArrayRef {
                    Arc::new(Int64Array::from_iter_values(TYPES.iter().map(f)))
                };
                vec![
                    oids(|t| t.0),
                    strings(TYPES.iter().map(|t| t.1.to_string()).collect()),
                    Arc::new(Int64Array::from(vec![PG_CATALOG_OID; n])),
                    Arc::new(Int16Array::from_iter_values(TYPES.iter().map(|t| t.2))),
                    constant("b", n),
                    oids(|t| t.3),
                    constant(",", n),
                    Arc::new(Int64Array::from(vec![0; n])),
                    Arc::new(Int64Array::from(vec![0; n])),
                    Arc::new(Int64Array::from(vec![0; n])),
                    Arc::new(BooleanArray::from(vec![false; n])),
                    Arc::new(Int32Array::from(vec![-1; n])),
                    strings(TYPES.iter().map(|t| t.4.to_string()).collect()),
                    Arc::new(Int64Array::from(vec![0; n])),
                    Arc::new(StringArray::from(vec![None::<String>; n])),
                    Arc::new(Int64Array::from(vec![10; n])),
                    Arc::new(BooleanArray::from(vec![true; n])),
                    Arc::new(BooleanArray::from_iter(
                        TYPES.iter().map(|t| Some(t.2 > 0 && t.2 <= 8)),
                    )),
                ]
            }
            Catalog::Database => vec![
                Arc::new(Int64Array::from(vec![16_000])),
                constant(DATABASE, 1),
                Arc::new(Int64Array::from(vec![10])),
                Arc::new(Int32Array::from(vec![6])),
                constant("C", 1),
                constant("C", 1),
                Arc::new(BooleanArray::from(vec![true])),
                Arc::new(StringArray::from(vec![None::<String>])),
                constant("c", 1),
                Arc::new(StringArray::from(vec![None::<String>])),
            ],
            Catalog::Extension => vec![strings(vec![]), strings(vec![])],
            Catalog::Am => vec![Arc::new(Int64Array::from(vec![2])), constant("heap", 1)],
            Catalog::Settings => vec![
                strings(SETTINGS.iter().map(|s| s.0.to_string()).collect()),
                strings(SETTINGS.iter().map(|s| s.1.to_string()).collect()),
            ],
            Catalog::Roles => vec![
                Arc::new(Int64Array::from(vec![10])),
                constant(USER, 1),
                Arc::new(BooleanArray::from(vec![true])),
                Arc::new(BooleanArray::from(vec![true])),
                Arc::new(BooleanArray::from(vec![true])),
                Arc::new(BooleanArray::from(vec![true])),
                Arc::new(BooleanArray::from(vec![true])),
                Arc::new(BooleanArray::from(vec![false])),
                Arc::new(BooleanArray::from(vec![true])),
                Arc::new(Int32Array::from(vec![-1])),
                Arc::new(StringArray::from(vec![None::<String>])),
                Arc::new(StringArray::from(vec![None::<String>])),
            ],
            Catalog::Tablespace => vec![
                Arc::new(Int64Array::from(vec![1663, 1664])),
                strings(vec!["pg_default".to_string(), "pg_global".to_string()]),
                Arc::new(Int64Array::from(vec![10, 10])),
                Arc::new(StringArray::from(vec![None::<String>; 2])),
                Arc::new(StringArray::from(vec![None::<String>; 2])),
            ],
        };
        Ok(vec![RecordBatch::try_new(self.schema(), columns)?])
    }
}
