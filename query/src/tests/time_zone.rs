//! Text and dates read in the session time zone reach constant folding and zone-map pruning.

use super::*;

fn in_zone(zone: &str) -> QueryLimits {
    QueryLimits {
        time_zone: crate::parse_time_zone(zone).unwrap(),
        ..QueryLimits::default()
    }
}

fn count(out: &QueryOutput) -> i64 {
    out.batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0)
}

#[test]
fn a_local_day_filter_prunes_by_the_local_midnight_instants() {
    let e = engine("zone-prune");
    e.execute("CREATE TABLE t (ts TIMESTAMP NOT NULL, v INTEGER) WITH (time_column = 'ts', partition = 'day')")
        .unwrap();
    // One segment per UTC day, 2024-03-08 to 2024-03-12, a row every 4 hours. New York's
    // 2024-03-10 (clocks forward at 02:00) runs from 05:00 UTC that day to 04:00 UTC the next:
    // its rows are those at 08:00, 12:00, 16:00, 20:00 on the 10th and 00:00 on the 11th.
    for day in 8..=12 {
        let rows: Vec<String> = (0..6)
            .map(|i| format!("('2024-03-{day:02} {:02}:00:00+00', {day})", i * 4))
            .collect();
        e.execute(&format!("INSERT INTO t VALUES {}", rows.join(", ")))
            .unwrap();
        e.execute("FLUSH TABLE t").unwrap();
    }
    let ny = in_zone("America/New_York");
    for sql in [
        "SELECT count(*) FROM t WHERE ts >= '2024-03-10' AND ts < '2024-03-11'",
        "SELECT count(*) FROM t WHERE ts >= DATE '2024-03-10' AND ts < TIMESTAMP '2024-03-11 00:00'",
        "SELECT count(*) FROM t WHERE ts BETWEEN '2024-03-10 00:00' AND '2024-03-10 23:59:59.999'",
    ] {
        let out = e.execute_with(sql, &ny).unwrap();
        assert_eq!(count(&out), 5, "{sql}");
        assert!(
            out.stats.segments_pruned >= 3,
            "{sql}: pruned {}",
            out.stats.segments_pruned
        );
    }
    // The folded constant is the local midnight's instant, not text read as UTC.
    let explain = e
        .execute_with("EXPLAIN SELECT v FROM t WHERE ts >= '2024-03-10'", &ny)
        .unwrap();
    let text = format!("{:?}", explain.batches);
    assert!(text.contains("2024-03-10T05:00:00"), "{text}");
    // Under UTC nothing changes: the UTC day's six rows.
    let out = e
        .execute("SELECT count(*) FROM t WHERE ts >= '2024-03-10' AND ts < '2024-03-11'")
        .unwrap();
    assert_eq!(count(&out), 6);
    // An IN list is folded while binding, in the zone too.
    let out = e
        .execute_with(
            "SELECT count(*) FROM t WHERE ts IN ('2024-03-10 00:00', '2024-03-10 04:00')",
            &ny,
        )
        .unwrap();
    // 00:00 EST is 05:00 UTC (no row), 04:00 EDT 08:00 UTC (a row); read as UTC, both match.
    assert_eq!(count(&out), 1);
}
