//! The server's configuration: built and validated once from the command line and the
//! environment ([`ServeArgs`]), then shared read-only as `Arc<Config>` by every endpoint (HTTP,
//! PostgreSQL, the sources) instead of copied field by field.
//!
//! Adding a setting is three edits: a clap field on [`ServeArgs`] (with a `STRATA_*` env name, a
//! default and a doc comment), a field in the group of [`Config`] it belongs to (`storage`,
//! `query`, ...), and one line in [`Config::from_args`], which is also where a check of the
//! value against the others goes (invalid combinations fail at start-up with a message that
//! says what to change).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use strata_storage::StorageConfig;

use crate::auth::{Auth, Tokens};
use crate::ServeArgs;

/// The validated configuration of `strata serve`.
pub struct Config {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The HTTP listen address.
    pub http_addr: SocketAddr,
    /// The PostgreSQL listen address (`None`: off).
    pub pg_addr: Option<SocketAddr>,
    /// The largest request body accepted, in bytes (decompressed).
    pub body_bytes_max: usize,
    /// Storage: the log's fsync policy, segment limits, the read cache.
    pub storage: StorageConfig,
    /// Statements: their limits and admission.
    pub query: QueryConfig,
    /// Ingest requests: their admission.
    pub ingest: IngestConfig,
    /// The demo generator's rate in rows per second (`None`: no demo).
    pub demo_rate: Option<u64>,
    /// Tokens and roles (off when no token is configured).
    pub auth: Auth,
    /// TLS for HTTPS and PostgreSQL (`--tls-cert`/`--tls-key`).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// The admission of ingest requests (HTTP; Kafka sources are paced by the storage budgets).
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// The most ingest requests running at once (at least 1).
    pub concurrency_max: usize,
    /// The shape limits of a body or a Kafka message.
    pub limits: strata_ingest::Limits,
}

/// The limits and admission of statements, the same for HTTP and PostgreSQL.
#[derive(Debug, Clone)]
pub struct QueryConfig {
    /// A statement's default time limit.
    pub timeout_ms: u64,
    /// A statement's default memory limit.
    pub memory_limit_bytes: usize,
    /// Threads a statement's scan may use (0: one per core).
    pub threads: usize,
    /// The most rows a JSON result may have.
    pub result_rows_max: usize,
    /// The most statements running at once, over both protocols.
    pub concurrent_max: usize,
    /// How long a statement waits for a free slot before it is refused.
    pub queue_wait: Duration,
    /// Statement text size and expression depth.
    pub sql: strata_query::SqlLimits,
}

impl Config {
    /// Checks `args` and loads what they name (the tokens file, the TLS certificate): every
    /// error a configuration can have is reported here, before anything is opened or bound.
    pub fn from_args(args: &ServeArgs) -> anyhow::Result<Config> {
        let mut tokens = match &args.auth_file {
            Some(path) => Tokens::from_file(path)?,
            None => Tokens::default(),
        };
        if let Some(list) = &args.tokens {
            tokens.add_list(list)?;
        }
        if !tokens.is_empty() {
            tracing::info!(tokens = tokens.len(), "authentication on");
        }
        let public = std::iter::once(args.http_addr)
            .chain(args.pg_addr.0)
            .find(|a| !a.ip().is_loopback());
        if let Some(public) = public {
            if tokens.is_empty() && !args.insecure_no_auth {
                anyhow::bail!(
                    "refusing to listen on {public} without authentication: configure tokens \
                     (--auth-file or STRATA_TOKENS=token:role,...), listen on a loopback \
                     address, or pass --insecure-no-auth"
                );
            }
        }
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
            (None, None) => None,
            _ => anyhow::bail!("--tls-cert and --tls-key go together"),
        };
        if args.query_concurrency_max == 0 {
            anyhow::bail!(
                "--query-concurrency-max must be at least 1 (it bounds the statements running \
                 at once over HTTP and PostgreSQL)"
            );
        }
        if args.ingest_concurrency_max == 0 {
            anyhow::bail!(
                "--ingest-concurrency-max must be at least 1 (it bounds the ingest requests \
                 running at once)"
            );
        }
        if args.idempotency_window_ms == 0 {
            anyhow::bail!(
                "--idempotency-window-ms must be at least 1 (it is how long a retried ingest \
                 request's Idempotency-Key is recognised; the default is 86400000, 24 h)"
            );
        }
        if args.query_timeout_ms == 0 {
            anyhow::bail!("--query-timeout-ms must be at least 1");
        }
        Ok(Config {
            data_dir: args.data_dir.clone(),
            http_addr: args.http_addr,
            pg_addr: args.pg_addr.0,
            body_bytes_max: args.body_bytes_max,
            storage: StorageConfig {
                fsync: args.fsync,
                segment_rows_max: args.segment_rows_max.max(1),
                segment_age_max: Duration::from_secs(args.segment_age_max_s),
                cache_bytes: args.cache_bytes,
                live_bytes_max: args.live_bytes_max,
                wal_bytes_max: args.wal_bytes_max,
                table_columns_max: args.table_columns_max.max(1),
                idempotency_window_ms: args.idempotency_window_ms,
                idempotency_keys_max: args.idempotency_keys_max.max(1),
                ..StorageConfig::default()
            },
            query: QueryConfig {
                timeout_ms: args.query_timeout_ms,
                memory_limit_bytes: args.query_memory_limit_bytes,
                threads: args.query_threads,
                result_rows_max: args.result_rows_max,
                concurrent_max: args.query_concurrency_max,
                queue_wait: Duration::from_millis(args.query_queue_wait_ms),
                sql: strata_query::SqlLimits {
                    max_query_bytes: args.query_bytes_max,
                    max_expression_depth: args.expression_depth_max.max(1),
                },
            },
            ingest: IngestConfig {
                concurrency_max: args.ingest_concurrency_max,
                limits: strata_ingest::Limits {
                    row_fields_max: args.row_fields_max.max(1),
                    row_bytes_max: args.row_bytes_max.max(1),
                    nesting_depth_max: args.nesting_depth_max.max(1),
                    decoded_bytes_max: args.decoded_bytes_max.max(1),
                },
            },
            demo_rate: args.demo.then_some(args.demo_rate),
            auth: Auth::new(tokens),
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn config(args: &[&str]) -> anyhow::Result<Config> {
        let parsed = Args::try_parse_from(std::iter::once("strata").chain(args.iter().copied()))?;
        Config::from_args(&parsed.serve)
    }

    #[test]
    fn defaults_are_valid() {
        let c = config(&[]).unwrap();
        assert!(c.query.concurrent_max >= 1);
        assert!(!c.auth.enabled());
        assert!(c.tls.is_none());
    }

    #[test]
    fn a_certificate_without_its_key_is_refused() {
        let e = config(&["--tls-cert", "/nonexistent.pem"]).err().unwrap();
        assert!(e.to_string().contains("go together"), "{e}");
    }

    #[test]
    fn a_public_address_needs_tokens() {
        let e = config(&["--http-addr", "0.0.0.0:0", "--pg-addr", "off"])
            .err()
            .unwrap();
        assert!(e.to_string().contains("without authentication"), "{e}");
        assert!(config(&["--http-addr", "0.0.0.0:0", "--insecure-no-auth"]).is_ok());
        assert!(config(&["--http-addr", "0.0.0.0:0", "--tokens", "a-long-token:read"]).is_ok());
    }

    #[test]
    fn the_idempotency_window_is_configurable_but_not_zero() {
        let c = config(&["--idempotency-window-ms", "5000"]).unwrap();
        assert_eq!(c.storage.idempotency_window_ms, 5000);
        assert_eq!(
            config(&[]).unwrap().storage.idempotency_window_ms,
            24 * 3_600_000
        );
        let e = config(&["--idempotency-window-ms", "0"]).err().unwrap();
        assert!(e.to_string().contains("at least 1"), "{e}");
    }

    #[test]
    fn zero_concurrent_queries_is_refused() {
        let e = config(&["--query-concurrency-max", "0"]).err().unwrap();
        assert!(e.to_string().contains("at least 1"), "{e}");
        // The name before the qualifier-last rename still works.
        let e = config(&["--max-concurrent-queries", "0"]).err().unwrap();
        assert!(e.to_string().contains("at least 1"), "{e}");
    }
}
