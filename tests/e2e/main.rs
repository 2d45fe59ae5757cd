//! End-to-end tests: the real `strata` binary, started on 127.0.0.1 with port 0 and a temporary
//! data directory, driven over real sockets by a real HTTP client.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod bad_input;
mod cli;
mod clickbench;
mod console;
mod crash;
mod decimal;
mod delete;
mod disk_full;
mod guard_rails;
mod harness;
mod hostile_input;
mod http_api;
mod idempotency;
mod ingest_query;
mod kafka;
mod lists;
mod openapi;
mod pg;
mod pg_clients;
mod pg_stream;
mod segments;
mod time_zone;
