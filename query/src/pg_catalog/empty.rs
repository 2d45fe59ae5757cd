//! The `pg_catalog` tables that exist without rows: the catalogs of what Strata does not have in
//! PostgreSQL's sense (indexes, constraints, defaults, comments, policies, triggers, inheritance,
//! sequences, enums, functions, publications, ...), so that the catalog queries of psql and the
//! drivers get PostgreSQL's answer "none" rather than an unknown-table error.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use strata_storage::{Storage, VirtualTable};

/// The catalog tables that exist without rows, with their columns: `i` BIGINT (OIDs),
/// `n` INTEGER, `s` SMALLINT, `b` BOOLEAN, `f` REAL, `t` VARCHAR (also arrays and expressions, as
/// text).
pub const EMPTY_TABLES: &[(&str, &[(&str, char)])] = &[
    (
        "pg_index",
        &[
            ("indexrelid", 'i'),
            ("indrelid", 'i'),
            ("indnatts", 's'),
            ("indnkeyatts", 's'),
            ("indisunique", 'b'),
            ("indnullsnotdistinct", 'b'),
            ("indisprimary", 'b'),
            ("indisexclusion", 'b'),
            ("indimmediate", 'b'),
            ("indisclustered", 'b'),
            ("indisvalid", 'b'),
            ("indcheckxmin", 'b'),
            ("indisready", 'b'),
            ("indislive", 'b'),
            ("indisreplident", 'b'),
            ("indkey", 't'),
            ("indcollation", 't'),
            ("indclass", 't'),
            ("indoption", 't'),
            ("indexprs", 't'),
            ("indpred", 't'),
        ],
    ),
    (
        "pg_constraint",
        &[
            ("oid", 'i'),
            ("conname", 't'),
            ("connamespace", 'i'),
            ("contype", 't'),
            ("condeferrable", 'b'),
            ("condeferred", 'b'),
            ("convalidated", 'b'),
            ("conrelid", 'i'),
            ("contypid", 'i'),
            ("conindid", 'i'),
            ("conparentid", 'i'),
            ("confrelid", 'i'),
            ("confupdtype", 't'),
            ("confdeltype", 't'),
            ("confmatchtype", 't'),
            ("conislocal", 'b'),
            ("coninhcount", 's'),
            ("connoinherit", 'b'),
            ("conkey", 't'),
            ("confkey", 't'),
            ("conbin", 't'),
        ],
    ),
    (
        "pg_description",
        &[
            ("objoid", 'i'),
            ("classoid", 'i'),
            ("objsubid", 'n'),
            ("description", 't'),
        ],
    ),
    (
        "pg_attrdef",
        &[
            ("oid", 'i'),
            ("adrelid", 'i'),
            ("adnum", 's'),
            ("adbin", 't'),
        ],
    ),
    (
        "pg_collation",
        &[
            ("oid", 'i'),
            ("collname", 't'),
            ("collnamespace", 'i'),
            ("collowner", 'i'),
            ("collprovider", 't'),
            ("collencoding", 'n'),
            ("collcollate", 't'),
            ("collctype", 't'),
        ],
    ),
    (
        "pg_inherits",
        &[
            ("inhrelid", 'i'),
            ("inhparent", 'i'),
            ("inhseqno", 'n'),
            ("inhdetachpending", 'b'),
        ],
    ),
    (
        "pg_policy",
        &[
            ("oid", 'i'),
            ("polname", 't'),
            ("polrelid", 'i'),
            ("polcmd", 't'),
            ("polpermissive", 'b'),
            ("polroles", 't'),
            ("polqual", 't'),
            ("polwithcheck", 't'),
        ],
    ),
    (
        "pg_statistic_ext",
        &[
            ("oid", 'i'),
            ("stxrelid", 'i'),
            ("stxname", 't'),
            ("stxnamespace", 'i'),
            ("stxowner", 'i'),
            ("stxstattarget", 'n'),
            ("stxkeys", 't'),
            ("stxkind", 't'),
            ("stxexprs", 't'),
        ],
    ),
    (
        "pg_publication",
        &[
            ("oid", 'i'),
            ("pubname", 't'),
            ("pubowner", 'i'),
            ("puballtables", 'b'),
            ("pubinsert", 'b'),
            ("pubupdate", 'b'),
            ("pubdelete", 'b'),
            ("pubtruncate", 'b'),
            ("pubviaroot", 'b'),
        ],
    ),
    (
        "pg_publication_rel",
        &[
            ("oid", 'i'),
            ("prpubid", 'i'),
            ("prrelid", 'i'),
            ("prqual", 't'),
            ("prattrs", 't'),
        ],
    ),
    (
        "pg_publication_namespace",
        &[("oid", 'i'), ("pnpubid", 'i'), ("pnnspid", 'i')],
    ),
    (
        "pg_trigger",
        &[
            ("oid", 'i'),
            ("tgrelid", 'i'),
            ("tgparentid", 'i'),
            ("tgname", 't'),
            ("tgfoid", 'i'),
            ("tgtype", 's'),
            ("tgenabled", 't'),
            ("tgisinternal", 'b'),
            ("tgconstraint", 'i'),
        ],
    ),
    (
        "pg_rewrite",
        &[
            ("oid", 'i'),
            ("rulename", 't'),
            ("ev_class", 'i'),
            ("ev_type", 't'),
            ("ev_enabled", 't'),
            ("is_instead", 'b'),
        ],
    ),
    (
        "pg_enum",
        &[
            ("oid", 'i'),
            ("enumtypid", 'i'),
            ("enumsortorder", 'f'),
            ("enumlabel", 't'),
        ],
    ),
    (
        "pg_sequence",
        &[
            ("seqrelid", 'i'),
            ("seqtypid", 'i'),
            ("seqstart", 'i'),
            ("seqincrement", 'i'),
            ("seqmax", 'i'),
            ("seqmin", 'i'),
            ("seqcache", 'i'),
            ("seqcycle", 'b'),
        ],
    ),
    (
        "pg_proc",
        &[
            ("oid", 'i'),
            ("proname", 't'),
            ("pronamespace", 'i'),
            ("proowner", 'i'),
            ("prokind", 't'),
            ("prorettype", 'i'),
            ("proargtypes", 't'),
        ],
    ),
    (
        "pg_opclass",
        &[
            ("oid", 'i'),
            ("opcmethod", 'i'),
            ("opcname", 't'),
            ("opcnamespace", 'i'),
            ("opcowner", 'i'),
            ("opcfamily", 'i'),
            ("opcintype", 'i'),
            ("opcdefault", 'b'),
            ("opckeytype", 'i'),
        ],
    ),
    (
        "pg_foreign_table",
        &[("ftrelid", 'i'), ("ftserver", 'i'), ("ftoptions", 't')],
    ),
    (
        "pg_partitioned_table",
        &[("partrelid", 'i'), ("partstrat", 't'), ("partnatts", 's')],
    ),
    (
        "pg_auth_members",
        &[
            ("roleid", 'i'),
            ("member", 'i'),
            ("grantor", 'i'),
            ("admin_option", 'b'),
        ],
    ),
];

/// A catalog table without rows (one of [`EMPTY_TABLES`]).
pub(super) struct Empty(pub(super) &'static [(&'static str, char)]);

impl VirtualTable for Empty {
    fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.0
                .iter()
                .map(|(name, ty)| {
                    let ty = match ty {
                        'i' => DataType::Int64,
                        'n' => DataType::Int32,
                        's' => DataType::Int16,
                        'b' => DataType::Boolean,
                        'f' => DataType::Float32,
                        _ => DataType::Utf8,
                    };
                    Field::new(*name, ty, true)
                })
                .collect::<Vec<_>>(),
        ))
    }

    fn batches(&self, _storage: &Storage) -> strata_storage::Result<Vec<RecordBatch>> {
        Ok(vec![RecordBatch::new_empty(self.schema())])
    }
}
