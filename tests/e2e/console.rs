//! The console at `/`: its headers, and a real browser using it against a `--demo` server.
//!
//! The browser is Debian's headless Chromium driven through `chromedriver` (W3C WebDriver). The
//! few WebDriver commands the test needs are plain JSON over HTTP, sent with the blocking reqwest
//! client the other end-to-end tests use, so the test adds no dependency and stays synchronous.
//! `.ci/test` installs `chromium` and `chromium-driver` when they are missing.
//!
//! `STRATA_CONSOLE_SCREENSHOT=docs/console.png cargo test -p strata-server --test e2e console`
//! also saves a screenshot (CI does not set it, so the tree stays clean).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{Server, TempDir};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The W3C name of an element reference in WebDriver answers.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Upper bound for anything the test waits for (a guard against hanging, not a measurement).
const WAIT_MAX: Duration = Duration::from_secs(120);

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

#[test]
fn console_is_served_with_types_and_caching_headers() {
    let dir = TempDir::new("console-headers");
    let server = Server::start(dir.path());
    let client = http();
    let page = client.get(format!("{}/", server.url)).send().unwrap();
    assert_eq!(page.status(), 200);
    let h = page.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-cache");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let etag = h["etag"].to_str().unwrap().to_string();
    let html = page.text().unwrap();
    assert!(html.contains("<textarea id=\"editor\""));

    // A reload revalidates and gets 304.
    let again = client
        .get(format!("{}/", server.url))
        .header("if-none-match", &etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), 304);

    // The page names its script and style by content hash; those are cached for a year.
    for (ext, content_type) in [
        ("js", "text/javascript; charset=utf-8"),
        ("css", "text/css; charset=utf-8"),
    ] {
        let end = html.find(&format!(".{ext}\"")).unwrap() + 1 + ext.len();
        let path = &html[html[..end].rfind("/console/app-").unwrap()..end];
        let r = client.get(format!("{}{path}", server.url)).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], content_type);
        assert!(r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable"));
        let plain = client
            .get(format!("{}/console/app.{ext}", server.url))
            .send()
            .unwrap();
        assert_eq!(plain.headers()["cache-control"], "no-cache");
    }
    let missing = client
        .get(format!("{}/console/nope.js", server.url))
        .send()
        .unwrap();
    assert_eq!(missing.status(), 404);
}

/// A running `chromedriver` and one browser session; both ended when dropped.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: reqwest::blocking::Client,
}

impl Browser {
    fn start() -> Browser {
        for path in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: `apt-get install -y chromium chromium-driver` (bash .ci/test does it)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let client = http();
        let deadline = Instant::now() + WAIT_MAX;
        loop {
            let ready = client
                .get(format!("{base}/status"))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == json!(true));
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            client,
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,860",
                         "--force-device-scale-factor=1"]
            }
        }}});
        let answer = browser.call("POST", "/session", caps);
        browser.session = answer["sessionId"].as_str().unwrap().to_string();
        browser
    }

    /// One WebDriver command; returns its `value`, panics with the driver's error.
    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let path = if path == "/session" {
            path.to_string()
        } else {
            format!("/session/{}{path}", self.session)
        };
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.client.get(url),
            "DELETE" => self.client.delete(url),
            _ => self.client.post(url).json(&body),
        };
        let response = request.send().unwrap();
        let status = response.status();
        let value: Value = response.json().unwrap();
        assert!(status.is_success(), "WebDriver {method} {path}: {value}");
        value["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }));
    }

    fn element(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    /// Runs a script in the page and returns what it returns.
    fn eval(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    /// Polls `script` until it returns something other than null/false.
    fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + WAIT_MAX;
        loop {
            let v = self.eval(script);
            if !v.is_null() && v != json!(false) {
                return v;
            }
            if Instant::now() > deadline {
                let page = self.eval("return document.body.innerText");
                panic!("gave up waiting for {what}; the page shows:\n{page}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot_png(&self) -> Vec<u8> {
        let b64 = self.call("GET", "/screenshot", Value::Null);
        base64_decode(b64.as_str().unwrap())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .client
                .delete(format!("{}/session/{}", self.base, self.session))
                .send();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=' && c != b'\n').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c) << (18 - 6 * i);
        }
        let n = chunk.len() * 6 / 8;
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    out
}

#[test]
fn base64_decodes_padded_and_unpadded_input() {
    assert_eq!(base64_decode("aGVsbG8="), b"hello");
    assert_eq!(base64_decode("aGk="), b"hi");
    assert_eq!(base64_decode("YWJj"), b"abc");
}

/// Acceptance 2 of issue 8: a newcomer's first minute, in a real browser.
#[test]
fn console_runs_a_query_on_demo_data_and_draws_the_chart() {
    let screenshot = std::env::var_os("STRATA_CONSOLE_SCREENSHOT");
    let dir = TempDir::new("console-browser");
    let server = Server::start_with(dir.path(), &["--demo", "--demo-rate", "2000"]);

    // The demo feeds `events` with the wall clock; wait until its rows span a few seconds, so
    // that a per-second chart has several points (longer for a screenshot worth looking at).
    let span_s = if screenshot.is_some() { 40 } else { 3 };
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        let (status, body) = server
            .sql_raw("SELECT COUNT(DISTINCT time_bucket(INTERVAL '1 second', time)) FROM events");
        if status == 200 && body["rows"][0][0].as_i64().unwrap_or(0) > span_s {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not fill events: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let browser = Browser::start();
    browser.goto(&format!("{}/", server.url));
    // The table browser lists the demo table; opening it shows its columns.
    browser.wait_for(
        "the events table in the table browser",
        "return document.querySelector('#tables details[data-table=\"events\"]') !== null",
    );
    browser.eval("document.querySelector('#tables details[data-table=\"events\"]').open = true");
    let columns = browser.wait_for(
        "the columns of events",
        "const li = document.querySelectorAll('#tables details[data-table=\"events\"] li'); \
         return li.length ? [...li].map(l => l.innerText) : null",
    );
    let columns = columns.to_string();
    assert!(
        columns.contains("latency_ms") && columns.contains("DOUBLE"),
        "{columns}"
    );
    browser.wait_for(
        "the segments panel",
        "return document.querySelector('#segments table') !== null",
    );

    // Type a query into the editor and run it with the keyboard.
    let query = "SELECT time_bucket(INTERVAL '1 second', time) AS t, device, COUNT(*) AS events, \
                 AVG(latency_ms) AS latency FROM events GROUP BY t, device ORDER BY t";
    let editor = browser.element("#editor");
    browser.call("POST", &format!("/element/{editor}/clear"), json!({}));
    browser.call(
        "POST",
        &format!("/element/{editor}/value"),
        json!({ "text": query }),
    );
    // Control down, Enter, release all modifiers.
    browser.call(
        "POST",
        &format!("/element/{editor}/value"),
        json!({ "text": "\u{E009}\u{E007}\u{E000}" }),
    );

    let outcome = browser.wait_for(
        "the result",
        "const e = document.getElementById('error'); \
         if (!e.hidden) return {error: e.innerText}; \
         const rows = document.querySelectorAll('#results tbody tr').length; \
         const lines = document.querySelectorAll('#chart svg polyline.series').length; \
         return rows > 0 && lines > 0 ? {rows, lines} : null",
    );
    assert!(
        outcome.get("error").is_none(),
        "the query failed: {outcome}"
    );
    assert!(outcome["rows"].as_u64().unwrap() >= 2, "{outcome}");
    // One line per device (the text column splits the first numeric column into series).
    assert!(outcome["lines"].as_u64().unwrap() >= 1, "{outcome}");

    let headers = browser.eval(
        "return [...document.querySelectorAll('#results thead th')].map(th => th.firstChild.textContent)",
    );
    assert_eq!(headers, json!(["t", "device", "events", "latency"]));
    let first = browser.eval(
        "return [...document.querySelector('#results tbody tr').cells].map(td => td.textContent)",
    );
    let first: Vec<String> = serde_json::from_value(first).unwrap();
    assert!(
        first[0].ends_with('Z') && first[0].contains('T'),
        "{first:?}"
    );
    assert!(
        ["desktop", "mobile", "tablet", "tv", "bot"].contains(&first[1].as_str()),
        "{first:?}"
    );
    assert!(first[2].parse::<u64>().unwrap() >= 1, "{first:?}");
    let legend = browser.eval("return document.getElementById('legend').innerText");
    assert!(legend.as_str().unwrap().contains("desktop"), "{legend}");
    let points = browser.eval(
        "return document.querySelector('#chart svg polyline.series').getAttribute('points').split(' ').length",
    );
    assert!(points.as_u64().unwrap() >= 2, "{points}");

    // The query went into the history.
    let history = browser.eval("return document.querySelector('#history li').title");
    assert_eq!(history, json!(query));

    // Auto-refresh re-runs the query (the demo keeps adding rows), then is switched off.
    browser.eval(
        "const r = document.getElementById('refresh'); r.value = '1000'; \
         r.dispatchEvent(new Event('change'))",
    );
    browser.wait_for(
        "an auto-refresh",
        "return document.getElementById('status').textContent.startsWith('refreshed')",
    );
    browser.eval(
        "const r = document.getElementById('refresh'); r.value = '0'; \
         r.dispatchEvent(new Event('change'))",
    );

    // An error is shown, not swallowed.
    browser.call("POST", &format!("/element/{editor}/clear"), json!({}));
    browser.call(
        "POST",
        &format!("/element/{editor}/value"),
        json!({ "text": "SELECT nope FROM events\u{E009}\u{E007}\u{E000}" }),
    );
    let error = browser.wait_for(
        "the error box",
        "const e = document.getElementById('error'); return e.hidden ? null : e.innerText",
    );
    assert!(error.as_str().unwrap().contains("nope"), "{error}");

    if let Some(path) = screenshot {
        // Back to the chart for the picture.
        browser.eval("document.querySelector('#history li:first-child').click()");
        browser.call(
            "POST",
            &format!("/element/{editor}/value"),
            json!({ "text": "\u{E009}\u{E007}\u{E000}" }),
        );
        browser.wait_for(
            "the chart again",
            "return document.getElementById('error').hidden && \
             document.querySelectorAll('#chart svg polyline.series').length > 0",
        );
        let png = browser.screenshot_png();
        assert_eq!(&png[1..4], b"PNG");
        std::fs::write(&path, png).unwrap();
        eprintln!("saved {}", std::path::Path::new(&path).display());
    }
}

/// `--demo` on a data directory whose `events` table has another shape refuses to start and says
/// why, rather than appending rows the table cannot take.
#[test]
fn demo_refuses_an_events_table_of_another_shape() {
    let dir = TempDir::new("demo-shape");
    {
        let server = Server::start(dir.path());
        server.sql(
            "CREATE TABLE events (time TIMESTAMP NOT NULL, country BIGINT) \
             WITH (time_column = 'time')",
        );
    }
    let output = Command::new(crate::harness::strata_bin())
        .args([
            "serve",
            "--demo",
            "--http-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("STRATA_HTTP_ADDR")
        .env_remove("STRATA_DATA_DIR")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"events\" has no country column of type VARCHAR"),
        "{stderr}"
    );
}
