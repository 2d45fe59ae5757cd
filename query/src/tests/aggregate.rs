//! Aggregates and GROUP BY: counts, sums, DISTINCT, grouping by position or alias, against
//! a naive reference and across parallel workers.

use super::*;

#[test]
fn count_star_counts_every_row_of_every_batch() {
    let e = events("count");
    let out = e.execute("SELECT count(*) FROM events").unwrap();
    assert_eq!(rows(&out), ["6"]);
    assert_eq!(column_names(&out), ["count"]);
    assert_eq!(out.stats.rows_scanned, 6);
    assert_eq!(
        *out.schema.field(0).data_type(),
        arrow::datatypes::DataType::Int64
    );
}

#[test]
fn count_column_skips_nulls() {
    let e = events("countcol");
    assert_eq!(
        query(
            &e,
            "SELECT count(region), count(amount), count(*) FROM events"
        ),
        ["5|5|6"]
    );
}

#[test]
fn aggregates_over_no_rows_give_one_row() {
    let e = events("empty");
    assert_eq!(
        query(
            &e,
            "SELECT count(*), sum(id), min(region), avg(amount) FROM events WHERE id > 100"
        ),
        ["0|NULL|NULL|NULL"]
    );
    assert!(query(
        &e,
        "SELECT region, count(*) FROM events WHERE id > 100 GROUP BY region"
    )
    .is_empty());
}

#[test]
fn group_by_having_order_by_limit_offset() {
    let e = events("groupby");
    let sql = "SELECT region, count(*) AS n, sum(amount) FROM events GROUP BY region \
               HAVING count(*) >= 1 ORDER BY n DESC, region LIMIT 3 OFFSET 1";
    // Groups: eu 3, us 1, NULL 1, asia 1; ordered n DESC then region ASC (NULL last).
    assert_eq!(query(&e, sql), ["asia|1|5.0", "us|1|2.5", "NULL|1|4.0"]);
    let having = "SELECT region, count(*) FROM events GROUP BY region HAVING count(*) > 1";
    assert_eq!(query(&e, having), ["eu|3"]);
}

#[test]
fn group_by_position_resolves_to_select_item() {
    let e = events("grouppos");
    assert_eq!(
        query(&e, "SELECT user_id % 20 AS bucket, count(*) FROM events WHERE user_id IS NOT NULL GROUP BY 1 ORDER BY 1"),
        ["0|2", "10|3"]
    );
}

#[test]
fn group_by_select_alias_and_expression() {
    let e = events("groupalias");
    assert_eq!(
        query(
            &e,
            "SELECT id % 2 AS parity, count(*) AS n FROM events GROUP BY parity ORDER BY parity"
        ),
        ["0|3", "1|3"]
    );
    assert_eq!(
        query(
            &e,
            "SELECT id % 2 + 1, sum(id) FROM events GROUP BY id % 2 ORDER BY 2 DESC"
        ),
        ["1|12", "2|9"]
    );
}

#[test]
fn filtered_aggregate_via_where() {
    let e = events("filtered");
    assert_eq!(
        query(
            &e,
            "SELECT sum(amount), max(id) FROM events WHERE region = 'eu'"
        ),
        ["7.5|6"]
    );
}

#[test]
fn sum_of_integers_is_bigint_and_avg_is_double() {
    let e = events("types");
    let out = e
        .execute("SELECT sum(id), avg(id), sum(amount) FROM events")
        .unwrap();
    assert_eq!(rows(&out), ["21|3.5|19.0"]);
    let types: Vec<_> = out
        .schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    use arrow::datatypes::DataType::*;
    assert_eq!(types, [Int64, Float64, Float64]);
}

#[test]
fn sum_overflow_is_an_error() {
    let e = events("sumoverflow");
    let err = error(&e, "SELECT sum(user_id * 1000000000000000000) FROM events");
    assert_eq!(err.code(), "NUMERIC_OVERFLOW", "{err}");
}

#[test]
fn min_max_of_strings() {
    let e = events("minmaxstr");
    assert_eq!(
        query(&e, "SELECT min(region), max(region) FROM events"),
        ["asia|us"]
    );
}

#[test]
fn count_distinct_ignores_nulls_and_duplicates() {
    let e = events("distinct");
    assert_eq!(
        query(
            &e,
            "SELECT count(DISTINCT user_id), count(DISTINCT region) FROM events"
        ),
        ["3|3"]
    );
    assert_eq!(
        query(
            &e,
            "SELECT region, count(DISTINCT user_id) FROM events GROUP BY region ORDER BY region"
        ),
        ["asia|0", "eu|2", "us|1", "NULL|1"]
    );
}

#[test]
fn ungrouped_column_is_an_error() {
    let e = events("notgrouped");
    let err = error(&e, "SELECT region, id FROM events GROUP BY region");
    assert_eq!(
        err.to_string(),
        "column \"id\" must appear in the GROUP BY clause or be used in an aggregate function"
    );
    assert_eq!(
        error(&e, "SELECT id, count(*) FROM events").code(),
        "NOT_GROUPED"
    );
    assert_eq!(
        error(&e, "SELECT id FROM events WHERE count(*) > 1").code(),
        "INVALID_ARGUMENT"
    );
}

#[test]
fn select_distinct_removes_duplicates() {
    let e = events("selectdistinct");
    assert_eq!(
        query(&e, "SELECT DISTINCT region FROM events ORDER BY region"),
        ["asia", "eu", "us", "NULL"]
    );
}

#[test]
fn order_by_aggregate_not_in_select_list() {
    let e = events("orderagg");
    assert_eq!(
        query(
            &e,
            "SELECT region FROM events GROUP BY region ORDER BY count(*) DESC, region LIMIT 2"
        ),
        ["eu", "asia"]
    );
}

/// count, sum, min, max of one group.
type GroupStats = (i64, i64, Option<i64>, Option<i64>);

/// Hash GROUP BY over several batches against a naive per-row computation (seeded).
#[test]
fn group_by_matches_a_naive_reference_on_random_data() {
    use std::collections::BTreeMap;
    let e = engine("randomgroups");
    e.execute("CREATE TABLE r (k VARCHAR, g INTEGER, v BIGINT)")
        .unwrap();
    let table = e.storage.table("r").unwrap();
    let schema = table.def().schema;
    let seed = 0x5eed_u64;
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let mut reference: BTreeMap<(Option<String>, i32), GroupStats> = BTreeMap::new();
    for _ in 0..5 {
        let (mut ks, mut gs, mut vs) = (vec![], vec![], vec![]);
        for _ in 0..2000 {
            let k = match next() % 7 {
                0 => None,
                n => Some(format!("key{n}")),
            };
            let g = (next() % 3) as i32;
            let v = if next() % 10 == 0 {
                None
            } else {
                Some(next() as i64 % 1000 - 500)
            };
            let entry = reference
                .entry((k.clone(), g))
                .or_insert((0, 0, None, None));
            entry.0 += 1;
            if let Some(v) = v {
                entry.1 += v;
                entry.2 = Some(entry.2.map_or(v, |m| m.min(v)));
                entry.3 = Some(entry.3.map_or(v, |m| m.max(v)));
            }
            ks.push(k);
            gs.push(g);
            vs.push(v);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(ks)),
            Arc::new(Int32Array::from(gs)),
            Arc::new(Int64Array::from(vs)),
        ];
        table
            .append(RecordBatch::try_new(schema.clone(), columns).unwrap())
            .unwrap();
    }
    let got = query(&e, "SELECT k, g, count(*), coalesce(sum(v), 0), min(v), max(v) FROM r GROUP BY k, g ORDER BY k, g");
    // The reference orders None first; SQL orders NULL last.
    let expected: Vec<String> = reference
        .iter()
        .filter(|((k, _), _)| k.is_some())
        .chain(reference.iter().filter(|((k, _), _)| k.is_none()))
        .map(|((k, g), (count, sum, min, max))| {
            let opt = |v: &Option<i64>| v.map_or("NULL".to_string(), |v| v.to_string());
            format!(
                "{}|{g}|{count}|{sum}|{}|{}",
                k.as_deref().unwrap_or("NULL"),
                opt(min),
                opt(max)
            )
        })
        .collect();
    assert_eq!(got, expected, "seed {seed:#x}");
}

/// Aggregation on several workers (partial states merged) answers like one worker: many
/// batches, many groups, every mergeable aggregate, a grand total, NULL keys and values.
#[test]
fn parallel_aggregation_equals_single_threaded() {
    let e = engine("parallel-agg");
    e.execute("CREATE TABLE p (k BIGINT, s VARCHAR, v INTEGER, f DOUBLE)")
        .unwrap();
    let table = e.storage.table("p").unwrap();
    let schema = table.def().schema;
    // Batches above the live segment's coalescing size, so that the aggregation sees 16.
    for b in 0..16i64 {
        let n = 5000i64;
        let rows = b * n..(b + 1) * n;
        let k: Vec<Option<i64>> = rows
            .clone()
            .map(|i| (i % 101 != 0).then_some(i * 7919 % 3001))
            .collect();
        let s: Vec<Option<String>> = rows
            .clone()
            .map(|i| (i % 13 != 0).then(|| format!("s{}", i * 31 % 17)))
            .collect();
        let v: Vec<Option<i32>> = rows
            .clone()
            .map(|i| (i % 9 != 0).then_some((i * 104729 % 2001 - 1000) as i32))
            .collect();
        let f: Vec<Option<f64>> = rows.map(|i| Some((i % 97) as f64 / 8.0)).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(k)),
                Arc::new(StringArray::from(s)),
                Arc::new(Int32Array::from(v)),
                Arc::new(Float64Array::from(f)),
            ],
        )
        .unwrap();
        table.append(batch).unwrap();
    }
    let queries = [
        "SELECT k, COUNT(*), COUNT(v), SUM(v), MIN(v), MAX(v), MIN(s), MAX(s), COUNT(DISTINCT s) \
         FROM p GROUP BY k ORDER BY k",
        "SELECT s, COUNT(*), SUM(v), AVG(f), VAR_SAMP(v), STDDEV_POP(f) FROM p GROUP BY s \
         ORDER BY s",
        "SELECT COUNT(*), SUM(v), AVG(v), MIN(s), COUNT(DISTINCT k), VAR_POP(f) FROM p",
        "SELECT k % 7, s, SUM(f), COUNT(*) FILTER (WHERE v > 0) FROM p GROUP BY 1, 2 \
         ORDER BY 1, 2",
    ];
    let limits = |threads| QueryLimits {
        threads: Some(threads),
        ..QueryLimits::default()
    };
    for q in queries {
        let one = e.execute_with(q, &limits(1)).unwrap();
        let four = e.execute_with(q, &limits(4)).unwrap();
        let round = |out: &QueryOutput| -> Vec<String> {
            rows(out)
                .iter()
                .map(|l| {
                    l.split('|')
                        .map(|v| match v.parse::<f64>() {
                            Ok(x) if v.contains('.') => format!("{x:.6}"),
                            _ => v.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect()
        };
        assert_eq!(round(&one), round(&four), "{q}");
        assert!(one.num_rows() >= 1, "{q}");
    }
    // Floating-point sums of many batches come out bit for bit the same on every run with the
    // same number of workers (batches are dealt to workers in a fixed order): a CTE read twice
    // agrees with itself.
    let sums = "SELECT SUM(f * 1.1), AVG(f / 3.0), VAR_SAMP(f) FROM p";
    let first = rows(&e.execute_with(sums, &limits(4)).unwrap());
    for _ in 0..10 {
        assert_eq!(rows(&e.execute_with(sums, &limits(4)).unwrap()), first);
    }
    let cte = "WITH t AS (SELECT k % 5 AS g, SUM(f * 1.1) AS total FROM p GROUP BY 1) \
               SELECT count(*) FROM t WHERE total = (SELECT max(total) FROM t)";
    for _ in 0..5 {
        assert_eq!(rows(&e.execute_with(cte, &limits(4)).unwrap()), ["1"]);
    }
}

/// `SUM(x + c)` is computed as `SUM(x) + c * COUNT(x)` (one SUM and one COUNT for any number of
/// offsets), with the same answers, NULL for a group without values.
#[test]
fn sums_of_offsets_share_one_sum_and_count() {
    let e = events("sum-offsets");
    let sql = "SELECT region, SUM(user_id + 1), SUM(user_id - 2), SUM(3 + user_id), SUM(user_id), \
               COUNT(*) FROM events GROUP BY region ORDER BY region";
    assert_eq!(
        query(&e, sql),
        [
            "asia|NULL|NULL|NULL|NULL|1",
            "eu|43|34|49|40|3",
            "us|21|18|23|20|1",
            "NULL|31|28|33|30|1",
        ]
    );
    let plan = query(&e, &format!("EXPLAIN {sql}")).join("\n");
    assert!(
        plan.contains("AggregateExec: group_by=[region#0] aggregates=[sum(user_id#1), count(user_id#1), count(*)]"),
        "{plan}"
    );
    let total = query(&e, "SELECT SUM(id + 10) FROM events WHERE region = 'eu'");
    assert_eq!(total, ["40"]);
}

/// SUM and AVG over DECIMAL are exact: the same digits on 1 and 4 workers, in every run, and
/// equal to an i128 sum computed row by row (a DOUBLE sum of the same cents is not).
#[test]
fn decimal_sums_are_exact_and_the_same_on_any_number_of_workers() {
    let e = engine("decimal-sum");
    e.execute("CREATE TABLE m (k BIGINT, v DECIMAL(12, 2))")
        .unwrap();
    let table = e.storage.table("m").unwrap();
    let schema = table.def().schema;
    let mut expected = std::collections::BTreeMap::<i64, i128>::new();
    for b in 0..16i64 {
        let rows = b * 5000..(b + 1) * 5000;
        let k: Vec<i64> = rows.clone().map(|i| i % 5).collect();
        let v: Vec<Option<i128>> = rows
            .map(|i| (i % 11 != 0).then_some((i * 7919 % 200_003) as i128 - 100_000))
            .collect();
        for (key, value) in k.iter().zip(&v) {
            *expected.entry(*key).or_default() += value.unwrap_or(0);
        }
        let v = arrow::array::Decimal128Array::from(v)
            .with_precision_and_scale(12, 2)
            .unwrap();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(k)), Arc::new(v)],
        )
        .unwrap();
        table.append(batch).unwrap();
    }
    let want: Vec<String> = expected
        .iter()
        .map(|(k, cents)| {
            let sign = if *cents < 0 { "-" } else { "" };
            let abs = cents.unsigned_abs();
            format!("{k}|{sign}{}.{:02}", abs / 100, abs % 100)
        })
        .collect();
    let sql = "SELECT k, sum(v) FROM m GROUP BY k ORDER BY k";
    for threads in [1, 4, 4, 2, 4] {
        let limits = QueryLimits {
            threads: Some(threads),
            ..QueryLimits::default()
        };
        let out = e.execute_with(sql, &limits).unwrap();
        assert_eq!(rows(&out), want, "{threads} workers");
    }
}

/// Ordered aggregates (string_agg, array_agg with ORDER BY, mode, percentile_disc) over many
/// batches answer the same on 1, 2 and 4 workers and on every run: ties in the ORDER BY keep
/// the input order; string_agg without ORDER BY is the input order; the keys, NULLs
/// included, order as asked. Their collected rows count against the memory limit.
#[test]
fn ordered_aggregates_are_the_same_on_any_number_of_workers() {
    let e = engine("ordered-agg");
    e.execute("CREATE TABLE o (k BIGINT, s VARCHAR, v INTEGER)")
        .unwrap();
    let table = e.storage.table("o").unwrap();
    let schema = table.def().schema;
    // Batches above the live segment's coalescing size: the aggregation sees 12.
    let n = 9000i64;
    for b in 0..12i64 {
        let rows = b * n..(b + 1) * n;
        let k: Vec<i64> = rows.clone().map(|i| i % 7).collect();
        let s: Vec<Option<String>> = rows
            .clone()
            .map(|i| (i % 11 != 0).then(|| format!("{i}")))
            .collect();
        let v: Vec<Option<i32>> = rows
            .map(|i| (i % 13 != 0).then_some((i * 7919 % 50) as i32))
            .collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(k)),
                Arc::new(StringArray::from(s)),
                Arc::new(Int32Array::from(v)),
            ],
        )
        .unwrap();
        table.append(batch).unwrap();
    }
    let limits = |threads| QueryLimits {
        threads: Some(threads),
        ..QueryLimits::default()
    };
    let query_with = |e: &QueryEngine, sql: &str, limits: &QueryLimits| -> Vec<String> {
        rows(&e.execute_with(sql, limits).unwrap())
    };
    // Input order: the values in row order (every 11th is NULL, skipped).
    let expected: Vec<String> = (0..7)
        .map(|k| {
            let joined: Vec<String> = (0..12 * n)
                .filter(|i| i % 7 == k && i % 11 != 0)
                .map(|i| i.to_string())
                .collect();
            format!("{k}|{}", joined.join(","))
        })
        .collect();
    let plain = "SELECT k, string_agg(s, ',') FROM o GROUP BY k ORDER BY k";
    for threads in [1, 4, 2] {
        assert_eq!(
            query_with(&e, plain, &limits(threads)),
            expected,
            "{threads} workers"
        );
    }
    let queries = [
        "SELECT k, string_agg(s, ',' ORDER BY v DESC NULLS FIRST) FROM o GROUP BY k ORDER BY k",
        "SELECT string_agg(s, ';' ORDER BY v, k DESC) FILTER (WHERE v > 10) FROM o",
        "SELECT k, array_agg(v ORDER BY s) FROM o GROUP BY k ORDER BY k",
        "SELECT k, array_agg(DISTINCT v), string_agg(DISTINCT s, ',') FROM o GROUP BY k ORDER BY k",
        "SELECT k, mode() WITHIN GROUP (ORDER BY v), percentile_disc(0.3) WITHIN GROUP (ORDER BY v DESC), \
         mode(s) FROM o GROUP BY k ORDER BY k",
    ];
    for q in queries {
        let one = query_with(&e, q, &limits(1));
        assert!(!one.is_empty(), "{q}");
        for threads in [4, 2, 4] {
            assert_eq!(query_with(&e, q, &limits(threads)), one, "{q} on {threads}");
        }
    }
    let plan = query(
        &e,
        "EXPLAIN SELECT string_agg(s, ',' ORDER BY v DESC) FILTER (WHERE v > 3), \
         percentile_disc(0.5) WITHIN GROUP (ORDER BY v), mode(s) FROM o",
    )
    .join("\n");
    assert!(
        plan.contains(
            "aggregates=[string_agg(s#0, ',' ORDER BY v#1 DESC NULLS FIRST) FILTER (WHERE (v#1 > 3)), \
             percentile_disc(0.5) WITHIN GROUP (ORDER BY v#1 ASC NULLS LAST), \
             mode() WITHIN GROUP (ORDER BY s#0 ASC NULLS LAST)]"
        ),
        "{plan}"
    );
    let memory = QueryLimits {
        memory_limit_bytes: Some(64 << 10),
        ..QueryLimits::default()
    };
    let err = e
        .execute_with("SELECT string_agg(s, ',' ORDER BY v) FROM o", &memory)
        .unwrap_err();
    assert_eq!(err.code(), "MEMORY_LIMIT_EXCEEDED", "{err}");
}
