//! The console at `/` and the API description at `/v1/openapi.json`: static files embedded in the
//! binary, so that the server loads nothing from outside (users run behind firewalls).
//!
//! The console is three hand-written files in `console/` (no framework, no build step): the page,
//! its script and its style. It talks to the server only through the public API (`POST /v1/sql`),
//! like any other client. Caching: the page is `no-cache` with an `ETag` (a reload revalidates, a
//! new binary is seen at once); the script and style are served under names that carry a hash of
//! their content (`/console/app-3f2a….js`) and may be cached for a year. The page's
//! `Content-Security-Policy` lets it load only from this server.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;

const INDEX_HTML: &str = include_str!("console/index.html");
const APP_JS: &str = include_str!("console/app.js");
const APP_CSS: &str = include_str!("console/app.css");
/// The OpenAPI 3 description of the HTTP API (`docs/openapi.json`).
const OPENAPI_JSON: &str = include_str!("../../docs/openapi.json");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The routes of the console and the API description. They take no state, so they merge into
/// the API's router whatever its state type.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/console/{file}", get(asset))
        .route("/v1/openapi.json", get(openapi))
}

/// The page with the hashed asset names filled in, and its ETag; built once.
struct Assets {
    index: String,
    index_etag: String,
    js_name: String,
    css_name: String,
}

fn assets() -> &'static Assets {
    static ASSETS: OnceLock<Assets> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let js_name = format!("app-{:016x}.js", fnv1a(APP_JS.as_bytes()));
        let css_name = format!("app-{:016x}.css", fnv1a(APP_CSS.as_bytes()));
        let index = INDEX_HTML
            .replace("{{APP_JS}}", &format!("/console/{js_name}"))
            .replace("{{APP_CSS}}", &format!("/console/{css_name}"))
            .replace("{{VERSION}}", env!("CARGO_PKG_VERSION"));
        let index_etag = format!("\"{:016x}\"", fnv1a(index.as_bytes()));
        Assets {
            index,
            index_etag,
            js_name,
            css_name,
        }
    })
}

/// FNV-1a, 64 bits: a content hash for cache busting (not a security boundary).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

async fn index(headers: HeaderMap) -> Response {
    let a = assets();
    let etag = HeaderValue::from_str(&a.index_etag).unwrap_or(HeaderValue::from_static("\"0\""));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, etag),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        a.index.clone(),
    )
        .into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    let a = assets();
    // The hashed names never change content: cache them for a year. The plain names (for
    // people and scripts) revalidate.
    const FOREVER: &str = "public, max-age=31536000, immutable";
    let (content_type, body, cache) = match file.as_str() {
        f if f == a.js_name => ("text/javascript; charset=utf-8", APP_JS, FOREVER),
        f if f == a.css_name => ("text/css; charset=utf-8", APP_CSS, FOREVER),
        "app.js" => ("text/javascript; charset=utf-8", APP_JS, "no-cache"),
        "app.css" => ("text/css; charset=utf-8", APP_CSS, "no-cache"),
        _ => return ApiError::NoRoute(format!("/console/{file}")).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn openapi() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        OPENAPI_JSON,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_names_hashed_assets_and_loads_nothing_from_outside() {
        let a = assets();
        assert!(a.index.contains(&format!("/console/{}", a.js_name)));
        assert!(a.index.contains(&format!("/console/{}", a.css_name)));
        assert!(!a.index.contains("{{"));
        for text in [INDEX_HTML, APP_JS, APP_CSS] {
            // The SVG namespace is a name, not something loaded.
            let text = text.replace("http://www.w3.org/2000/svg", "");
            assert!(!text.contains("http://") && !text.contains("https://"));
            assert!(!text.contains("//cdn") && !text.contains("@import"));
        }
    }

    #[test]
    fn openapi_document_is_json() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    }
}
