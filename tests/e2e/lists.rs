//! Lists (`array_agg`) through the real server: JSON arrays over HTTP (JSON, NDJSON), PostgreSQL
//! array text in CSV, and arrays over the PostgreSQL endpoint (`_int8`, `_varchar`, ... in text
//! and binary format, psql's text); `string_agg` next to them.

use tokio_postgres::types::Type;
use tokio_postgres::SimpleQueryMessage;

use crate::harness::{Server, TempDir};
use crate::pg::{connect, psql, runtime, venv_python};

/// The raw body of `/v1/sql` in `format`.
fn raw(server: &Server, query: &str, format: &str) -> (u16, String) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/sql", server.url))
        .json(&serde_json::json!({ "query": query, "format": format }))
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

const QUERY: &str = "SELECT g, array_agg(s ORDER BY i) AS s, array_agg(i ORDER BY i DESC) AS i, \
     array_agg(d ORDER BY i) AS d, string_agg(s, '|' ORDER BY i) AS joined \
     FROM items GROUP BY g ORDER BY g";

#[test]
fn lists_are_json_arrays_over_http_and_arrays_over_postgresql() {
    let dir = TempDir::new("lists");
    let server = Server::start(dir.path());
    server.sql("CREATE TABLE items (g BIGINT, i BIGINT, s VARCHAR, d DOUBLE)");
    server.sql(
        "INSERT INTO items VALUES (1, 1, 'a', 1.5), (1, 2, NULL, NULL), (1, 3, 'b c', -2), \
         (1, 4, 'say \"hi\"', 0.25), (2, 7, '', 3), (2, 8, 'NULL', 4)",
    );

    // HTTP JSON: arrays with nulls, strings escaped.
    let rows = server.rows(QUERY);
    assert_eq!(
        rows[0],
        serde_json::json!([
            1,
            ["a", null, "b c", "say \"hi\""],
            [4, 3, 2, 1],
            [1.5, null, -2, 0.25],
            "a|b c|say \"hi\""
        ])
        .as_array()
        .unwrap()
        .clone()
    );
    assert_eq!(rows[1][1], serde_json::json!(["", "NULL"]));
    let (status, body) = raw(&server, QUERY, "json");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"type\":\"VARCHAR[]\""), "{body}");
    assert!(body.contains("\"type\":\"BIGINT[]\""), "{body}");
    let (status, body) = raw(&server, QUERY, "ndjson");
    assert_eq!(status, 200, "{body}");
    let first: serde_json::Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert_eq!(first["i"], serde_json::json!([4, 3, 2, 1]));
    // CSV: PostgreSQL's array text, quoted as a CSV field where it must be.
    let (status, csv) = raw(
        &server,
        "SELECT g, array_agg(s ORDER BY i) AS s FROM items GROUP BY g ORDER BY g",
        "csv",
    );
    assert_eq!(status, 200, "{csv}");
    assert_eq!(
        csv,
        "g,s\n1,\"{a,NULL,\"\"b c\"\",\"\"say \\\"\"hi\\\"\"\"\"}\"\n2,\"{\"\"\"\",\"\"NULL\"\"}\"\n"
    );
    // An empty input: NULL, not an empty array.
    let empty = server.rows("SELECT array_agg(i) FROM items WHERE g > 5");
    assert_eq!(empty[0][0], serde_json::Value::Null);

    runtime().block_on(async {
        let client = connect(&server).await;
        // Binary format: typed arrays.
        let rows = client.query(QUERY, &[]).await.unwrap();
        let columns = rows[0].columns();
        assert_eq!(columns[1].type_(), &Type::VARCHAR_ARRAY);
        assert_eq!(columns[2].type_(), &Type::INT8_ARRAY);
        assert_eq!(columns[3].type_(), &Type::FLOAT8_ARRAY);
        let s: Vec<Option<String>> = rows[0].get(1);
        assert_eq!(
            s,
            [
                Some("a".into()),
                None,
                Some("b c".into()),
                Some("say \"hi\"".into())
            ]
        );
        let i: Vec<i64> = rows[0].get(2);
        assert_eq!(i, [4, 3, 2, 1]);
        let d: Vec<Option<f64>> = rows[0].get(3);
        assert_eq!(d, [Some(1.5), None, Some(-2.0), Some(0.25)]);
        let s: Vec<String> = rows[1].get(1);
        assert_eq!(s, ["", "NULL"]);
        // Text format: PostgreSQL's array text.
        let text = client.simple_query(QUERY).await.unwrap();
        let rows: Vec<_> = text
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(rows[0].get(1), Some(r#"{a,NULL,"b c","say \"hi\""}"#));
        assert_eq!(rows[0].get(2), Some("{4,3,2,1}"));
        assert_eq!(rows[0].get(3), Some("{1.5,NULL,-2,0.25}"));
        assert_eq!(rows[1].get(1), Some(r#"{"","NULL"}"#));
    });

    let (ok, out, err) = psql(
        &server,
        &[
            "-At",
            "-c",
            "SELECT array_agg(i ORDER BY i), array_agg(s ORDER BY i) FROM items WHERE g = 2",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), r#"{7,8}|{"","NULL"}"#);

    // psycopg reads the arrays as Python lists, in text and in binary format.
    let Some(python) = venv_python() else {
        eprintln!("SKIPPED: psycopg is not installed in bench/.venv");
        return;
    };
    let script = r#"
import json, sys, psycopg
conn = psycopg.connect(host="127.0.0.1", port=int(sys.argv[1]), user="strata", dbname="strata")
out = []
for binary in (False, True):
    with conn.cursor(binary=binary) as cur:
        cur.execute(sys.argv[2])
        out.append([[row[1], row[2], row[3]] for row in cur.fetchall()])
print(json.dumps(out))
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script, &server.pg_port().to_string(), QUERY])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected = serde_json::json!([
        [
            ["a", null, "b c", "say \"hi\""],
            [4, 3, 2, 1],
            [1.5, null, -2.0, 0.25]
        ],
        [["", "NULL"], [8, 7], [3.0, 4.0]]
    ]);
    assert_eq!(got[0], expected, "text format");
    assert_eq!(got[1], expected, "binary format");
}
