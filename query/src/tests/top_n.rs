//! `ORDER BY ... LIMIT n`: the top-N keeps n rows in rounds and its bound skips scan blocks
//! whose zone maps cannot beat it; answers equal the full sort's.

use super::*;

/// 40 blocks of 1,000 rows (one per INSERT), `ts` rising with `id`, `v` NULL every 7th row.
fn blocks(tag: &str) -> QueryEngine {
    let e = engine(tag);
    query(
        &e,
        "CREATE TABLE m (id BIGINT, ts TIMESTAMP NOT NULL, v BIGINT) WITH (time_column = 'ts', partition = 'day')",
    );
    for k in 0..40 {
        query(
            &e,
            &format!(
                "INSERT INTO m SELECT {k} * 1000 + x, to_timestamp(1704067200 + {k} * 1000 + x), \
                 CASE WHEN x % 7 = 0 THEN NULL ELSE ({k} * 1000 + x) % 977 END \
                 FROM generate_series(0, 999) AS g(x)"
            ),
        );
    }
    e
}

#[test]
fn the_latest_rows_are_read_from_the_newest_blocks_only() {
    let e = blocks("topn-latest");
    let out = e
        .execute("SELECT id FROM m ORDER BY ts DESC LIMIT 3")
        .unwrap();
    assert_eq!(rows(&out), ["39999", "39998", "39997"]);
    assert!(
        out.stats.rows_scanned <= 3_000,
        "read {} rows of 40000",
        out.stats.rows_scanned
    );
    let out = e
        .execute("SELECT id, ts FROM m ORDER BY ts LIMIT 2")
        .unwrap();
    assert_eq!(rows(&out).len(), 2);
    assert!(rows(&out)[0].starts_with("0|"), "{:?}", rows(&out));
    // The oldest block (the live segment merges its first batches into one) is read, no other.
    assert!(
        out.stats.rows_scanned < 40_000,
        "{}",
        out.stats.rows_scanned
    );
    let text = query(&e, "EXPLAIN SELECT id FROM m ORDER BY ts DESC LIMIT 3").join("\n");
    assert!(text.contains("top-n bound on ts DESC"), "{text}");
}

#[test]
fn top_n_answers_equal_the_full_sort_with_nulls_ties_and_offsets() {
    let e = blocks("topn-equal");
    for (order, n) in [
        ("v DESC, id", 25),
        ("v DESC NULLS LAST, id DESC", 25),
        ("v NULLS FIRST, id", 5000),
        ("v, id", 9000),
        ("id % 10, ts DESC", 17),
    ] {
        let full = query(&e, &format!("SELECT id, v FROM m ORDER BY {order}"));
        let top = query(
            &e,
            &format!("SELECT id, v FROM m ORDER BY {order} LIMIT {n}"),
        );
        assert_eq!(top, full[..n], "ORDER BY {order} LIMIT {n}");
        let offset = query(
            &e,
            &format!("SELECT id, v FROM m ORDER BY {order} LIMIT 10 OFFSET {n}"),
        );
        assert_eq!(offset, full[n..n + 10], "ORDER BY {order} OFFSET {n}");
    }
}
