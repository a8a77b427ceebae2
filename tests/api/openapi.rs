//! The OpenAPI document, `GET /api/openapi.json`: open, served whatever the database's
//! state, and true to the routes the app serves. (Inside, `http::routes` checks it against
//! the route table; `tests/cli/openapi.rs` holds it to openapi-spec-validator and
//! schemathesis.)

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::kit::TestApp;

/// Every method the document lists for a path, upper case, with `HEAD` beside `GET` (maia
/// serves one wherever it serves the other).
fn documented_methods(item: &Value) -> BTreeSet<String> {
    let mut methods: BTreeSet<String> = item
        .as_object()
        .unwrap()
        .keys()
        .filter(|key| ["get", "put", "post", "delete", "patch"].contains(&key.as_str()))
        .map(|key| key.to_uppercase())
        .collect();
    if methods.contains("GET") {
        methods.insert("HEAD".into());
    }
    methods
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_is_openapi_3_1_and_open_to_anyone() {
    let app = TestApp::spawn().await;

    let response = app
        .anonymous
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(
        (&schemes["session"]["in"], &schemes["session"]["name"]),
        (&"cookie".into(), &"maia_session".into())
    );
    app.stop().await;
}

/// A method the document does not list gets 405, whose `Allow` names what the path
/// serves: exactly what the document lists. A documented path maia does not serve would
/// get a 404 without `Allow`.
#[tokio::test(flavor = "multi_thread")]
async fn every_documented_path_is_served_with_exactly_its_documented_methods() {
    let app = TestApp::spawn().await;
    let (_, document) = app.get("/api/openapi.json").await;
    let paths = document["paths"].as_object().unwrap();

    for (path, item) in paths {
        let url = app.url(&path.replace("{id}", &uuid::Uuid::new_v4().to_string()));
        let response = app.http.request(Method::OPTIONS, url).send().await.unwrap();

        assert_eq!(response.status(), 405, "OPTIONS {path}");
        let allow = response.headers()["allow"].to_str().unwrap();
        let allowed: BTreeSet<String> = allow.split(", ").map(str::to_string).collect();
        assert_eq!(allowed, documented_methods(item), "{path}");
    }
    assert!(paths.len() >= 10, "{}", paths.len());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_is_served_while_migrations_are_pending() {
    let app = TestApp::spawn_unmigrated().await;

    let response = app
        .anonymous
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(app.get("/api/traces").await.0, 503);
    app.stop().await;
}
