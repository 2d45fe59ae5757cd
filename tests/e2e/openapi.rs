//! `docs/openapi.json` against the running server: the server serves it, every `$ref` in it
//! resolves, and every documented path and method is routed (answers neither 405 nor the
//! unknown-endpoint 404) with a status the document lists, when called with the document's own
//! examples.

use serde_json::Value;

use crate::harness::{Server, TempDir};

const DOC: &str = include_str!("../../docs/openapi.json");

/// Operations documented ahead of the branches that add them (HTTP API: GET /v1/sql and
/// /metrics; Kafka: sources). The test fails once one of them is routed, so that this list gets
/// shortened when they land; it must end up empty.
const PENDING: &[(&str, &str)] = &[];

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Follows a local `$ref` (`#/components/...`), once or repeatedly.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("non-local $ref {r}"));
        v = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("$ref {r} resolves to nothing"));
    }
    v
}

fn check_refs(doc: &Value, v: &Value) {
    match v {
        Value::Object(map) => {
            if map.contains_key("$ref") {
                resolve(doc, v);
            }
            map.values().for_each(|x| check_refs(doc, x));
        }
        Value::Array(items) => items.iter().for_each(|x| check_refs(doc, x)),
        _ => {}
    }
}

#[test]
fn openapi_document_matches_the_running_server() {
    let doc: Value = serde_json::from_str(DOC).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    check_refs(&doc, &doc);

    let dir = TempDir::new("openapi");
    let server = Server::start(dir.path());
    let client = reqwest::blocking::Client::new();

    let served: Value = client
        .get(format!("{}/v1/openapi.json", server.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(served, doc, "GET /v1/openapi.json is not docs/openapi.json");

    let mut checked = 0;
    let mut failures = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let mut url = path.clone();
            let mut query = Vec::new();
            let mut request_headers = Vec::new();
            let params = item
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .chain(op.get("parameters").and_then(Value::as_array))
                .flatten();
            for p in params {
                let p = resolve(&doc, p);
                let name = p["name"].as_str().unwrap();
                let required = p["required"].as_bool().unwrap_or(false);
                match (p["in"].as_str().unwrap(), p.get("example")) {
                    ("path", Some(example)) => {
                        url = url.replace(&format!("{{{name}}}"), example.as_str().unwrap());
                    }
                    ("path", None) => {
                        panic!("{method} {path}: path parameter {name} has no example")
                    }
                    ("query", Some(example)) if required => {
                        query.push((name.to_string(), example.as_str().unwrap().to_string()))
                    }
                    ("query", None) if required => {
                        panic!("{method} {path}: required parameter {name} has no example")
                    }
                    ("header", Some(example)) if required => request_headers
                        .push((name.to_string(), example.as_str().unwrap().to_string())),
                    _ => {}
                }
            }
            let mut target = reqwest::Url::parse(&format!("{}{url}", server.url)).unwrap();
            for (name, value) in &query {
                target.query_pairs_mut().append_pair(name, value);
            }
            let mut request = match method {
                "get" => client.get(target),
                "post" => client.post(target),
                "put" => client.put(target),
                "patch" => client.patch(target),
                _ => client.delete(target),
            };
            for (name, value) in request_headers {
                request = request.header(name, value);
            }
            if let Some(body) = op.get("requestBody") {
                let content = resolve(&doc, body)["content"].as_object().unwrap();
                let (media, example) = content
                    .iter()
                    .find_map(|(media, c)| c.get("example").map(|e| (media, e)))
                    .unwrap_or_else(|| panic!("{method} {path}: the request body has no example"));
                let bytes = match example {
                    Value::String(s) => s.clone().into_bytes(),
                    other => other.to_string().into_bytes(),
                };
                request = request.header("content-type", media.as_str()).body(bytes);
            }
            let response = request.send().unwrap();
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').next().unwrap_or("").trim().to_string());
            let text = response.text().unwrap_or_default();
            let routed = status != 405 && !(status == 404 && text.contains("NO_SUCH_ENDPOINT"));
            let pending = PENDING.contains(&(method, path.as_str()));
            if pending {
                if routed {
                    failures.push(format!(
                        "{} {path} is routed now: remove it from PENDING in tests/e2e/openapi.rs",
                        method.to_uppercase()
                    ));
                }
                continue;
            }
            checked += 1;
            if !routed {
                failures.push(format!(
                    "{} {url}: documented but not routed ({status} {text})",
                    method.to_uppercase()
                ));
                continue;
            }
            let responses = op["responses"].as_object().unwrap();
            let Some(documented) = responses
                .get(&status.to_string())
                .or_else(|| responses.get("default"))
            else {
                failures.push(format!(
                    "{} {url}: answered {status}, which the document does not list ({text})",
                    method.to_uppercase()
                ));
                continue;
            };
            // The body has a documented media type, and a JSON body the documented
            // required fields.
            let documented = resolve(&doc, documented);
            if let (Some(content), Some(ct)) = (documented.get("content"), &content_type) {
                match content.get(ct.as_str()) {
                    None => failures.push(format!(
                        "{} {url}: {status} with Content-Type {ct}, which the document does not list",
                        method.to_uppercase()
                    )),
                    Some(media) if ct == "application/json" => {
                        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        let schema = media.get("schema").map(|s| resolve(&doc, s));
                        let required = schema
                            .and_then(|s| s.get("required"))
                            .and_then(Value::as_array);
                        for field in required.into_iter().flatten() {
                            let field = field.as_str().unwrap();
                            if body.get(field).is_none() {
                                failures.push(format!(
                                    "{} {url}: the {status} body lacks \"{field}\": {text}",
                                    method.to_uppercase()
                                ));
                            }
                        }
                    }
                    Some(_) => {}
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 7, "only {checked} operations checked");

    // And what is not documented is not there.
    let r = client
        .get(format!("{}/v1/no-such-endpoint", server.url))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().unwrap();
    assert_eq!(body["error"]["code"], "NO_SUCH_ENDPOINT");
}
