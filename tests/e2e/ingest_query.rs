//! Ingest 100,000 NDJSON rows in 10 requests into a table created from the data, and check
//! aggregates against values computed here.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::harness::{Server, TempDir};

const ROWS: usize = 100_000;
const REQUESTS: usize = 10;
const COUNTRIES: [&str; 7] = ["de", "fr", "us", "jp", "br", "in", "ng"];

struct Row {
    time_ms: i64,
    user: String,
    country: &'static str,
    amount: f64,
    n: i64,
}

fn row(i: usize) -> Row {
    Row {
        time_ms: 1_704_067_200_000 + i as i64 * 1000,
        user: format!("u{}", (i * 7919) % 1013),
        country: COUNTRIES[(i * 31 + i / 7) % COUNTRIES.len()],
        amount: ((i * 37) % 1000) as f64 / 4.0,
        n: (i % 13) as i64 - 3,
    }
}

fn ndjson(range: std::ops::Range<usize>) -> String {
    let mut out = String::new();
    for i in range {
        let r = row(i);
        // Alternate timestamp spellings: RFC 3339 strings and epoch milliseconds.
        let time = if i % 2 == 0 {
            json!(chrono_like(r.time_ms))
        } else {
            json!(r.time_ms)
        };
        let line = json!({"time": time, "user": r.user, "country": r.country, "amount": r.amount, "n": r.n});
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// RFC 3339 for epoch milliseconds, computed without a date library (days-from-civil inverse).
fn chrono_like(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

fn as_f64(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn hundred_thousand_rows_in_ten_requests_answer_aggregates_exactly() {
    let dir = TempDir::new("ingest-query");
    let server = Server::start(dir.path());
    let per = ROWS / REQUESTS;
    for r in 0..REQUESTS {
        let n = server.ingest_ok("events", &ndjson(r * per..(r + 1) * per));
        assert_eq!(n as usize, per);
    }
    let rows: Vec<Row> = (0..ROWS).map(row).collect();

    // COUNT(*)
    assert_eq!(server.scalar("SELECT COUNT(*) FROM events"), json!(ROWS));

    // The inferred schema, with `time` as the NOT NULL time column.
    let describe = server.rows("DESCRIBE events");
    let types: BTreeMap<String, String> = describe
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_string(),
                r[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(types["time"], "TIMESTAMP");
    assert_eq!(types["user"], "VARCHAR");
    assert_eq!(types["amount"], "DOUBLE");
    assert_eq!(types["n"], "BIGINT");

    // GROUP BY with COUNT, SUM and AVG, ordered.
    let mut expected: BTreeMap<&str, (i64, i64, f64)> = BTreeMap::new();
    for r in &rows {
        let e = expected.entry(r.country).or_default();
        e.0 += 1;
        e.1 += r.n;
        e.2 += r.amount;
    }
    let got = server.rows(
        "SELECT country, COUNT(*) AS c, SUM(n) AS s, AVG(amount) AS a FROM events \
         GROUP BY country ORDER BY country",
    );
    assert_eq!(got.len(), expected.len());
    for (g, (country, (c, s, sum_amount))) in got.iter().zip(&expected) {
        assert_eq!(g[0], json!(country));
        assert_eq!(g[1], json!(c), "count for {country}");
        assert_eq!(g[2], json!(s), "sum for {country}");
        let avg = sum_amount / *c as f64;
        assert!(
            (as_f64(&g[3]) - avg).abs() < 1e-9 * avg.abs().max(1.0),
            "avg for {country}"
        );
    }

    // A filtered aggregate, with a time range and COUNT(DISTINCT).
    let lo = 1_704_067_200_000 + 20_000 * 1000;
    let hi = 1_704_067_200_000 + 70_000 * 1000;
    let selected: Vec<&Row> = rows
        .iter()
        .filter(|r| r.country == "de" && r.n > 2 && r.time_ms >= lo && r.time_ms < hi)
        .collect();
    let distinct_users: std::collections::HashSet<&str> =
        selected.iter().map(|r| r.user.as_str()).collect();
    let min_amount = selected
        .iter()
        .map(|r| r.amount)
        .fold(f64::INFINITY, f64::min);
    let max_amount = selected
        .iter()
        .map(|r| r.amount)
        .fold(f64::NEG_INFINITY, f64::max);
    let got = server.rows(&format!(
        "SELECT COUNT(*), SUM(n), MIN(amount), MAX(amount), COUNT(DISTINCT user) FROM events \
         WHERE country = 'de' AND n > 2 AND time >= TIMESTAMP '{}' AND time < TIMESTAMP '{}'",
        chrono_like(lo).trim_end_matches('Z').replace('T', " "),
        chrono_like(hi).trim_end_matches('Z').replace('T', " "),
    ));
    assert!(!selected.is_empty());
    assert_eq!(got[0][0], json!(selected.len()));
    assert_eq!(got[0][1], json!(selected.iter().map(|r| r.n).sum::<i64>()));
    assert_eq!(as_f64(&got[0][2]), min_amount);
    assert_eq!(as_f64(&got[0][3]), max_amount);
    assert_eq!(got[0][4], json!(distinct_users.len()));

    // Top-N with HAVING and LIMIT.
    let mut per_user: BTreeMap<&str, i64> = BTreeMap::new();
    for r in &rows {
        *per_user.entry(r.user.as_str()).or_default() += 1;
    }
    let mut top: Vec<(&str, i64)> = per_user.into_iter().filter(|(_, c)| *c > 90).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    top.truncate(5);
    let got = server.rows(
        "SELECT user, COUNT(*) AS c FROM events GROUP BY 1 HAVING COUNT(*) > 90 \
         ORDER BY c DESC, user LIMIT 5",
    );
    let got: Vec<(String, i64)> = got
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_i64().unwrap()))
        .collect();
    let top: Vec<(String, i64)> = top.into_iter().map(|(u, c)| (u.to_string(), c)).collect();
    assert_eq!(got, top);

    // Timestamps come back as ISO-8601 strings.
    assert_eq!(
        server.scalar("SELECT MIN(time) FROM events"),
        json!("2024-01-01T00:00:00.000Z")
    );
}

#[test]
fn declared_table_coerces_values_and_survives_restart() {
    let dir = TempDir::new("declared");
    let mut server = Server::start(dir.path());
    server.sql(
        "CREATE TABLE metrics (ts TIMESTAMP NOT NULL, host VARCHAR, cpu DOUBLE, cores INTEGER, \
         up BOOLEAN, day DATE, big BIGINT) WITH (time_column = 'ts', partition = 'hour')",
    );
    let (status, body) = server.sql_raw("CREATE TABLE metrics (a BIGINT)");
    assert_eq!(status, 400, "{body}");
    server.sql("CREATE TABLE IF NOT EXISTS metrics (a BIGINT)");
    let body = "{\"ts\": \"2024-03-01 10:00:00\", \"host\": \"a\", \"cpu\": \"0.5\", \"cores\": 8, \"up\": true, \"day\": \"2024-03-01\", \"big\": 9007199254740993}\n\
                {\"ts\": 1709287200000, \"host\": \"b\", \"cpu\": 1, \"cores\": \"16\", \"up\": false, \"big\": -9223372036854775808}\n";
    assert_eq!(server.ingest_ok("metrics", body), 2);
    let csv = "ts,host,cpu\n2024-03-01T11:00:00Z,c,2.5\n";
    let (status, out) = server.ingest("metrics", "text/csv", csv);
    assert_eq!(status, 200, "{out}");
    let check = |server: &Server| {
        let rows =
            server.rows("SELECT host, cpu, cores, up, day, big, ts FROM metrics ORDER BY ts");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0][0], json!("a"));
        assert_eq!(rows[0][1], json!(0.5));
        assert_eq!(rows[0][3], json!(true));
        assert_eq!(rows[0][4], json!("2024-03-01"));
        // BIGINTs beyond 2^53 are written exactly.
        assert_eq!(rows[0][5].to_string(), "9007199254740993");
        assert_eq!(rows[1][5].to_string(), "-9223372036854775808");
        assert_eq!(rows[1][2], json!(16));
        assert_eq!(rows[1][6], json!("2024-03-01T10:00:00.000Z"));
        assert_eq!(rows[2][0], json!("c"));
        assert_eq!(rows[2][4], Value::Null);
    };
    check(&server);
    let tables = server.rows("SHOW TABLES");
    assert_eq!(tables, vec![vec![json!("metrics")]]);
    server.kill();
    let server = Server::start(dir.path());
    check(&server);
    server.sql("DROP TABLE metrics");
    assert_eq!(server.rows("SHOW TABLES").len(), 0);
    server.sql("DROP TABLE IF EXISTS metrics");
}

#[test]
fn later_json_fields_add_nullable_columns() {
    let dir = TempDir::new("evolve");
    let server = Server::start(dir.path());
    server.ingest_ok("logs", "{\"time\": 1, \"msg\": \"a\"}\n");
    server.ingest_ok(
        "logs",
        "{\"time\": 2, \"msg\": \"b\", \"level\": \"warn\", \"code\": 7}\n",
    );
    let rows = server.rows("SELECT msg, level, code FROM logs ORDER BY time");
    assert_eq!(
        rows,
        vec![
            vec![json!("a"), Value::Null, Value::Null],
            vec![json!("b"), json!("warn"), json!(7)]
        ]
    );
    assert_eq!(server.scalar("SELECT COUNT(level) FROM logs"), json!(1));
}

#[test]
fn nested_json_is_kept_as_text_and_read_with_json_operators() {
    let dir = TempDir::new("nested");
    let server = Server::start(dir.path());
    server.ingest_ok(
        "clicks",
        "{\"time\": 1, \"page\": \"/a\", \"ctx\": {\"user\": {\"id\": 7, \"plan\": \"pro\"}, \"tags\": [\"x\", \"y\"]}}\n\
         {\"time\": 2, \"page\": \"/b\", \"ctx\": {\"user\": {\"id\": 8}}}\n\
         {\"time\": 3, \"page\": \"/a\"}\n",
    );
    // The column is VARCHAR and holds the value's text exactly as sent.
    let columns = server.rows("DESCRIBE clicks");
    let ctx = columns
        .iter()
        .find(|c| c[0] == json!("ctx"))
        .expect("a ctx column");
    assert_eq!(ctx[1], json!("VARCHAR"), "{columns:?}");
    assert_eq!(
        server.scalar("SELECT ctx FROM clicks WHERE time = TIMESTAMP '1970-01-01 00:00:00.002'"),
        json!("{\"user\": {\"id\": 8}}")
    );
    let rows = server.rows(
        "SELECT page, ctx -> 'user' ->> 'id', ctx ->> 'tags', json_extract_string(ctx, '$.tags[1]') \
         FROM clicks ORDER BY time",
    );
    assert_eq!(
        rows,
        vec![
            vec![json!("/a"), json!("7"), json!("[\"x\",\"y\"]"), json!("y")],
            vec![json!("/b"), json!("8"), Value::Null, Value::Null],
            vec![json!("/a"), Value::Null, Value::Null, Value::Null],
        ]
    );
    // Into an existing VARCHAR column too; a later body survives a restart like any row.
    server.ingest_ok(
        "clicks",
        "{\"time\": 4, \"page\": \"/c\", \"ctx\": [1, {\"k\": null}]}\n",
    );
    drop(server);
    let server = Server::start(dir.path());
    assert_eq!(
        server.scalar("SELECT ctx -> 1 FROM clicks WHERE page = '/c'"),
        json!("{\"k\":null}")
    );
}

#[test]
fn a_date_time_column_takes_daily_rows_over_http_and_survives_restart() {
    let dir = TempDir::new("daily");
    let mut server = Server::start(dir.path());
    server.sql(
        "CREATE TABLE daily (day DATE NOT NULL, shop VARCHAR, sales DOUBLE) \
         WITH (time_column = 'day', partition = 'day', ttl = '36500 days')",
    );
    let body = "{\"day\": \"2024-03-01\", \"shop\": \"a\", \"sales\": 1.5}\n\
                {\"day\": \"2024-03-02\", \"shop\": \"a\", \"sales\": 2}\n\
                {\"day\": \"2024-03-02\", \"shop\": \"b\", \"sales\": 4}\n";
    assert_eq!(server.ingest_ok("daily", body), 3);
    server.sql("FLUSH TABLE daily");
    let check = |server: &Server| {
        let rows = server.rows("SELECT day, sum(sales) FROM daily GROUP BY day ORDER BY day");
        assert_eq!(
            rows,
            vec![
                vec![json!("2024-03-01"), json!(1.5)],
                vec![json!("2024-03-02"), json!(6)]
            ]
        );
        let segments = server.rows(
            "SELECT count(*), min(min_time) FROM system.segments WHERE \"table\" = 'daily' AND state = 'persisted'",
        );
        assert_eq!(segments[0][0], json!(2), "{segments:?}");
        assert_eq!(
            segments[0][1],
            json!("2024-03-01T00:00:00.000Z"),
            "{segments:?}"
        );
    };
    check(&server);
    server.kill();
    let server = Server::start(dir.path());
    check(&server);
}
