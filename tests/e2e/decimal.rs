//! Exact DECIMAL through the real server: the HTTP JSON and CSV results and the PostgreSQL
//! endpoint (text and binary `numeric`) give every digit, with the column's scale; the values
//! survive a restart (write-ahead log, catalog) and a flush to Parquet.

use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::SimpleQueryMessage;

use crate::harness::{Server, TempDir};
use crate::pg::{connect, psql, runtime};

/// A `numeric` in PostgreSQL's binary format, decoded to its text.
struct Numeric(String);

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let word = |i: usize| i16::from_be_bytes([raw[2 * i], raw[2 * i + 1]]);
        let (ndigits, weight, sign, dscale) = (
            word(0) as usize,
            word(1) as i32,
            word(2) as u16,
            word(3) as usize,
        );
        let digit = |i: i32| {
            if i >= 0 && (i as usize) < ndigits {
                word(4 + i as usize) as i32
            } else {
                0
            }
        };
        let mut text = String::new();
        if sign == 0x4000 {
            text.push('-');
        }
        if weight < 0 {
            text.push('0');
        } else {
            for i in 0..=weight {
                if i == 0 {
                    text.push_str(&digit(i).to_string());
                } else {
                    text.push_str(&format!("{:04}", digit(i)));
                }
            }
        }
        if dscale > 0 {
            let mut fraction = String::new();
            for j in 1..=dscale.div_ceil(4) as i32 {
                fraction.push_str(&format!("{:04}", digit(weight + j)));
            }
            text.push('.');
            text.push_str(&fraction[..dscale]);
        }
        Ok(Numeric(text))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// The raw body of `/v1/sql` in `format` (the JSON client would read decimals as doubles).
fn raw(server: &Server, query: &str, format: &str) -> (u16, String) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/sql", server.url))
        .json(&serde_json::json!({ "query": query, "format": format }))
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

const ROWS: [(&str, &str, &str); 4] = [
    ("1", "0.07", "12345678901234567890.0123456789"),
    ("2", "-1.50", "-0.0000000001"),
    ("3", "", "0.0000000000"),
    ("4", "99999.99", "10000.0000000000"),
];

#[test]
fn decimals_are_exact_over_http_and_postgresql_text_and_binary() {
    let dir = TempDir::new("decimal");
    let mut server = Server::start(dir.path());
    server.sql("CREATE TABLE money (id INTEGER, amount DECIMAL(12, 2), big DECIMAL(38, 10))");
    server.sql(
        "INSERT INTO money VALUES (1, 0.07, 12345678901234567890.0123456789), \
         (2, -1.5, -0.0000000001), (3, NULL, 0), (4, 99999.99, 10000)",
    );
    for round in 0..2 {
        let (status, body) = raw(
            &server,
            "SELECT id, amount, big FROM money ORDER BY id",
            "json",
        );
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("[1,0.07,12345678901234567890.0123456789]")
                && body.contains("[2,-1.50,-0.0000000001]")
                && body.contains("[3,null,0.0000000000]"),
            "{body}"
        );
        assert!(body.contains("\"type\":\"DECIMAL(12,2)\""), "{body}");
        runtime().block_on(async {
            let client = connect(&server).await;
            let rows = client
                .query("SELECT id, amount, big FROM money ORDER BY id", &[])
                .await
                .unwrap();
            assert_eq!(rows[0].columns()[1].type_(), &Type::NUMERIC);
            for (row, (id, amount, big)) in rows.iter().zip(ROWS) {
                assert_eq!(row.get::<_, i32>(0).to_string(), id);
                let got = row.get::<_, Option<Numeric>>(1).map(|n| n.0);
                assert_eq!(got.unwrap_or_default(), amount, "binary amount of row {id}");
                assert_eq!(row.get::<_, Numeric>(2).0, big, "binary big of row {id}");
            }
            let text = client
                .simple_query("SELECT id, amount, big FROM money ORDER BY id")
                .await
                .unwrap();
            let rows: Vec<_> = text
                .iter()
                .filter_map(|m| match m {
                    SimpleQueryMessage::Row(r) => Some(r),
                    _ => None,
                })
                .collect();
            for (row, (id, amount, big)) in rows.iter().zip(ROWS) {
                assert_eq!(row.get(1).unwrap_or(""), amount, "text amount of row {id}");
                assert_eq!(row.get(2), Some(big), "text big of row {id}");
            }
            let sum = client
                .query_one("SELECT sum(amount), 0.06 + 0.01 FROM money", &[])
                .await
                .unwrap();
            assert_eq!(sum.get::<_, Numeric>(0).0, "99998.56");
            assert_eq!(sum.get::<_, Numeric>(1).0, "0.07");
        });
        if round == 0 {
            // The rows come back the same from the log after a restart, then from Parquet.
            server.kill();
            server = Server::start(dir.path());
            server.sql("FLUSH TABLE money");
        }
    }
    let (ok, out, err) = psql(&server, &["-c", "\\d money"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("numeric(12,2)") && out.contains("numeric(38,10)"),
        "{out}"
    );
    let (status, csv) = raw(&server, "SELECT amount FROM money ORDER BY id", "csv");
    assert_eq!(status, 200, "{csv}");
    assert_eq!(csv, "amount\n0.07\n-1.50\n\n99999.99\n");
}
