//! The stable smoke run of the `pg_frontend` fuzz target (`docs/fuzzing.md`): every committed
//! seed and regression input of `fuzz/corpus/pg_frontend/` and `fuzz/regressions/pg_frontend/`
//! goes through the same harness (pgwire's frontend decoder driven through the connection
//! states the server's codec goes through). No cargo-fuzz, no nightly: plain `cargo test`.
//!
//! `STRATA_WRITE_FUZZ_SEEDS=1 cargo test -p strata-server --test fuzz_smoke write_seed_corpus` writes the seed
//! files again.

use strata_storage::fuzzing::{committed_inputs, fuzz_dir, inputs_in, panicking, seed_corpus_dir};

include!("../../fuzz/harness/pg_frontend.rs");

#[test]
fn pg_frontend_corpus_and_regressions_replay_without_panic() {
    let inputs =
        committed_inputs("pg_frontend").unwrap_or_else(|e| panic!("reading fuzz/pg_frontend: {e}"));
    assert!(
        !inputs.is_empty(),
        "fuzz/corpus/pg_frontend/ holds no seed input"
    );
    let failed = panicking(&inputs, fuzz_pg_frontend);
    assert!(
        failed.is_empty(),
        "pg_frontend: these inputs panic: {failed:#?}"
    );
}

/// A regular message: its type byte, then a length that counts itself, then the body.
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A startup-phase packet (no type byte): a length that counts itself, then the body.
fn packet(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32 + 4).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn startup(version: u32, params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    packet(&body)
}

fn cstr(s: &str) -> Vec<u8> {
    let mut out = s.as_bytes().to_vec();
    out.push(0);
    out
}

/// The extended-query messages of one prepared statement run with one parameter.
fn extended_query() -> Vec<u8> {
    let mut parse = cstr("s1");
    parse.extend(cstr("SELECT * FROM t WHERE region = $1"));
    parse.extend_from_slice(&1u16.to_be_bytes());
    parse.extend_from_slice(&25u32.to_be_bytes()); // text
    let mut bind = cstr("p1");
    bind.extend(cstr("s1"));
    bind.extend_from_slice(&1u16.to_be_bytes()); // parameter format codes
    bind.extend_from_slice(&0u16.to_be_bytes());
    bind.extend_from_slice(&1u16.to_be_bytes()); // parameters
    bind.extend_from_slice(&2u32.to_be_bytes());
    bind.extend_from_slice(b"eu");
    bind.extend_from_slice(&0u16.to_be_bytes()); // result format codes
    let mut describe = vec![b'P'];
    describe.extend(cstr("p1"));
    let mut execute = cstr("p1");
    execute.extend_from_slice(&100u32.to_be_bytes());
    let mut close = vec![b'S'];
    close.extend(cstr("s1"));
    [
        message(b'P', &parse),
        message(b'B', &bind),
        message(b'D', &describe),
        message(b'E', &execute),
        message(b'H', &[]),
        message(b'C', &close),
        message(b'S', &[]),
    ]
    .concat()
}

/// The pg_frontend seeds, written by code, run through the harness (and written to
/// `fuzz/corpus` with `STRATA_WRITE_FUZZ_SEEDS=1`).
#[test]
fn write_seed_corpus() {
    let corpus = seed_corpus_dir("server");
    let dir = corpus.join("pg_frontend");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let write = |name: &str, parts: &[&[u8]]| {
        std::fs::write(dir.join(name), parts.concat()).unwrap_or_else(|e| panic!("{e}"));
    };
    let v3 = 196_608; // protocol 3.0
    let user = [
        ("user", "alice"),
        ("database", "strata"),
        ("application_name", "psql"),
    ];
    let ssl_request = packet(&80_877_103u32.to_be_bytes());
    let gss_request = packet(&80_877_104u32.to_be_bytes());
    let mut cancel = 80_877_102u32.to_be_bytes().to_vec();
    cancel.extend_from_slice(&1234u32.to_be_bytes());
    cancel.extend_from_slice(&5678u32.to_be_bytes());
    let password = message(b'p', &cstr("secret"));
    let query = message(
        b'Q',
        &cstr("SELECT region, count(*) FROM t GROUP BY region"),
    );
    let terminate = message(b'X', &[]);
    let mut copy_fail = message(b'd', b"1,2\n");
    copy_fail.extend(message(b'c', &[]));
    copy_fail.extend(message(b'f', &cstr("client gave up")));
    // Flags byte: bit 0 the protocol version (3.0 / 3.2), bits 1-2 the starting state
    // (0 a new connection, 1 startup due, 2 authenticated).
    write(
        "ssl-startup-password-query",
        &[
            &[0],
            &ssl_request,
            &startup(v3, &user),
            &password,
            &query,
            &terminate,
        ],
    );
    write(
        "gss-then-startup-3_2",
        &[&[1], &gss_request, &startup(196_610, &user), &password],
    );
    write("no-ssl-startup-only", &[&[0], &startup(v3, &user)]);
    write("cancel-request", &[&[2], &packet(&cancel)]);
    write(
        "authenticated-extended-query",
        &[&[4], &extended_query(), &terminate],
    );
    write("authenticated-copy-data", &[&[4], &copy_fail, &query]);
    let seeds = inputs_in(&corpus, "pg_frontend").unwrap_or_else(|e| panic!("{e}"));
    let failed = panicking(&seeds, fuzz_pg_frontend);
    assert!(
        failed.is_empty(),
        "these pg_frontend seeds panic: {failed:#?}"
    );
    if corpus != fuzz_dir().join("corpus") {
        let _ = std::fs::remove_dir_all(&corpus);
    }
}
