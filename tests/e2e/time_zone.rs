//! INTERVAL values and the session time zone through the real server: `date_trunc` and
//! `extract` in the zone, timestamps shown as local time with the offset, text without an
//! offset read as local time (a filter selects the local day), over the PostgreSQL
//! endpoint (`SET TIME ZONE`, the `TimeZone` start-up parameter via psql's `PGTZ`) and over
//! HTTP (the `time_zone` request field); intervals in PostgreSQL's text (and binary) form.

use std::process::Command;

use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::SimpleQueryMessage;

use crate::harness::{Server, TempDir};
use crate::pg::{connect, runtime};

/// An `interval` in PostgreSQL's binary format: (microseconds, days, months).
struct Interval(i64, i32, i32);

impl<'a> FromSql<'a> for Interval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let micros = i64::from_be_bytes(raw[0..8].try_into()?);
        let days = i32::from_be_bytes(raw[8..12].try_into()?);
        let months = i32::from_be_bytes(raw[12..16].try_into()?);
        Ok(Interval(micros, days, months))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

fn raw(server: &Server, body: serde_json::Value) -> (u16, String) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/sql", server.url))
        .json(&body)
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

fn text_rows(messages: &[SimpleQueryMessage]) -> Vec<Vec<String>> {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

#[test]
fn session_time_zone_and_intervals_over_postgresql_and_http() {
    let dir = TempDir::new("time-zone");
    let server = Server::start(dir.path());
    server.sql("CREATE TABLE ev (ts TIMESTAMP NOT NULL, v INTEGER) WITH (time_column = 'ts')");
    server.sql(
        "INSERT INTO ev VALUES ('2024-03-30 23:30:00', 1), ('2024-03-31 01:30:00', 2), \
         ('2024-11-03 05:30:00', 3)",
    );
    let query = "SELECT v, date_trunc('day', ts) AS day, extract(hour FROM ts) AS h, \
                 ts - TIMESTAMP '2024-03-30 00:00:00' AS since FROM ev ORDER BY v";

    // HTTP: UTC by default, exactly as before; a time_zone field makes it local.
    let (status, body) = raw(&server, serde_json::json!({ "query": query }));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("[1,\"2024-03-30T00:00:00.000Z\",23,\"23:30:00\"]"),
        "{body}"
    );
    assert!(body.contains("\"1 day 01:30:00\""), "{body}");
    let (status, body) = raw(
        &server,
        serde_json::json!({ "query": query, "time_zone": "Europe/Paris" }),
    );
    assert_eq!(status, 200, "{body}");
    // The literal is Paris time too: 2024-03-30 00:00 there is 23:00 UTC the day before.
    assert!(
        body.contains("[1,\"2024-03-31T00:00:00.000+01:00\",0,\"1 day 00:30:00\"]"),
        "{body}"
    );
    assert!(
        body.contains("[2,\"2024-03-31T00:00:00.000+01:00\",3,\"1 day 02:30:00\"]"),
        "{body}"
    );
    // Text without an offset in a filter is local time: Paris's 2024-03-31 holds both rows
    // (v1 is 00:30 there), UTC's only v2.
    let day = "SELECT v FROM ev WHERE ts >= '2024-03-31' AND ts < '2024-04-01' ORDER BY v";
    let (status, body) = raw(
        &server,
        serde_json::json!({ "query": day, "time_zone": "Europe/Paris" }),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"rows\":[[1],[2]]"), "{body}");
    let (status, body) = raw(&server, serde_json::json!({ "query": day }));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"rows\":[[2]]"), "{body}");
    let (status, body) = raw(
        &server,
        serde_json::json!({ "query": query, "time_zone": "Mars/Olympus" }),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("INVALID_TIME_ZONE"), "{body}");

    runtime().block_on(async {
        let client = connect(&server).await;
        // UTC: timestamps are `timestamp` (1114), as before.
        let rows = client.query(query, &[]).await.unwrap();
        assert_eq!(rows[0].columns()[1].type_(), &Type::TIMESTAMP);
        assert_eq!(rows[0].columns()[3].type_(), &Type::INTERVAL);
        let since = rows[1].get::<_, Interval>(3);
        assert_eq!((since.0, since.1, since.2), (5_400_000_000, 1, 0));

        client
            .simple_query("SET TIME ZONE 'Europe/Paris'")
            .await
            .unwrap();
        let show = text_rows(&client.simple_query("SHOW TimeZone").await.unwrap());
        assert_eq!(show, vec![vec!["Europe/Paris".to_string()]]);
        let rows = text_rows(&client.simple_query(query).await.unwrap());
        assert_eq!(
            rows,
            vec![
                vec!["1", "2024-03-31 00:00:00+01", "0", "1 day 00:30:00"],
                vec!["2", "2024-03-31 00:00:00+01", "3", "1 day 02:30:00"],
                vec!["3", "2024-11-03 00:00:00+01", "6", "218 days 06:30:00"],
            ]
        );
        // The local day's rows, and local-day buckets, over the PostgreSQL endpoint.
        let rows = text_rows(
            &client
                .simple_query(
                    "SELECT time_bucket(INTERVAL '1 day', ts, 'Europe/Paris') AS day, count(*) \
                     FROM ev WHERE ts >= '2024-03-31' AND ts < TIMESTAMP '2024-04-01 00:00' \
                     GROUP BY day",
                )
                .await
                .unwrap(),
        );
        assert_eq!(rows, vec![vec!["2024-03-31 00:00:00+01", "2"]]);
        let typed = client.query(query, &[]).await.unwrap();
        assert_eq!(typed[0].columns()[1].type_(), &Type::TIMESTAMPTZ);

        client
            .simple_query("SET timezone = 'America/New_York'")
            .await
            .unwrap();
        let rows = text_rows(
            &client
                .simple_query("SELECT date_trunc('day', ts), ts::date FROM ev WHERE v = 3")
                .await
                .unwrap(),
        );
        assert_eq!(rows, vec![vec!["2024-11-03 00:00:00-04", "2024-11-03"]]);

        let err = client
            .simple_query("SET TIME ZONE 'Mars/Olympus'")
            .await
            .unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some("22023"), "{err}");
        let message = err.as_db_error().map(|e| e.message().to_string());
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m.contains("invalid value for parameter \"TimeZone\"")),
            "{message:?}"
        );
    });

    // The start-up parameter: libpq sends PGTZ as `timezone`.
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &server.pg_port().to_string()])
        .args(["-U", "strata", "-d", "strata", "-X", "-A", "-t", "-c"])
        .arg("SELECT date_trunc('day', ts) FROM ev WHERE v = 2")
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGTZ", "Asia/Kolkata")
        .output()
        .expect("run psql (apt-get install postgresql-client)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "2024-03-31 00:00:00+05:30");
}
