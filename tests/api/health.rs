//! Health, readiness and liveness, and the request id every response carries.

use std::time::Duration;

use serde_json::json;

use crate::kit::database::record_future_migration;
use crate::kit::tokens::{client_with, issue_token};
use maia::{Secret, Settings};

use crate::kit::{error_code, wait_until, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn health_is_healthy_with_database_and_ollama_up() {
    let app = TestApp::spawn().await;

    let (status, body) = app.get("/api/health").await;
    let (alias_status, alias) = app.get("/api/consciousness/health").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["database"], "connected");
    assert_eq!(body["ollama"], "available");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        body["migrations"]["applied"],
        maia::embedded_migrations().len()
    );
    assert_eq!(body["migrations"]["pending"], 0);
    assert_eq!((alias_status, &alias["status"]), (200, &body["status"]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_degraded_but_200_when_ollama_is_down() {
    let app = TestApp::spawn_with_ollama_down().await;

    let (status, body) = app.get("/api/health").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["ollama"], "unavailable");
    // Ready for traffic: readiness is about the database and migrations.
    assert_eq!(app.get("/readyz").await.0, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_503_unhealthy_when_the_database_is_unreachable() {
    let app = TestApp::spawn_with_database_down().await;

    let (status, body) = app.get("/api/health").await;

    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["database"], "unavailable");
    assert_eq!(app.get("/readyz").await.0, 503);
    assert_eq!(app.get("/livez").await.0, 200);
    app.stop().await;
}

/// Migrations pending (`migrate_on_start = false`): unhealthy, not ready, and every data
/// route says what to run instead of failing on a missing table; once migrated, it serves.
#[tokio::test(flavor = "multi_thread")]
async fn pending_migrations_are_unhealthy_and_data_routes_say_what_to_run() {
    let app = TestApp::spawn_unmigrated().await;

    let (ready, ready_body) = app.get("/readyz").await;
    let (health, health_body) = app.get("/api/health").await;
    let (traces, traces_body) = app.get("/api/traces").await;
    let (query, query_body) = app.query(json!({ "query": "anyone?" })).await;

    assert_eq!(ready, 503, "{ready_body}");
    let all = maia::embedded_migrations().len();
    assert_eq!(ready_body["migrations"]["pending"], all);
    assert_eq!((health, &health_body["status"]), (503, &json!("unhealthy")));
    let problem = health_body["problem"].as_str().unwrap_or_default();
    assert!(problem.contains("run `maia migrate`"), "{health_body}");
    for (status, body) in [(traces, traces_body), (query, query_body)] {
        assert_eq!(status, 503, "{body}");
        assert_eq!(error_code(&body), "migrations_pending");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maia migrate"));
    }

    let mut s = Settings::default();
    s.database.url = Secret::new(app.db_url.as_str());
    maia::migrate(&s.database).await.expect("migrate");
    let token = issue_token(&app.db_url, "after", &["read"]).await;
    let reader = client_with(&token.token);
    let serving = wait_until(Duration::from_secs(3), || async {
        let r = reader.get(app.url("/api/traces")).send().await.unwrap();
        r.status().as_u16() == 200
    })
    .await;
    assert!(serving, "still refusing after migrating");
    assert_eq!(app.get("/readyz").await.0, 200);
    app.stop().await;
}

/// A database migrated by a newer maia: this one says so everywhere rather than run on a
/// schema it does not know.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_newer_than_the_binary_is_unhealthy_and_says_upgrade() {
    let app = TestApp::spawn().await;
    record_future_migration(&app.db_url).await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // the health cache

    let (health, health_body) = app.get("/api/health").await;
    let newest = maia::embedded_migrations().last().unwrap().0;
    let said = format!("the database is at V999; this maia knows V{newest}; upgrade maia");
    assert_eq!(health, 503, "{health_body}");
    assert_eq!(health_body["problem"], said.as_str());
    assert_eq!(health_body["migrations"]["unknown"], 1);
    assert_eq!(app.get("/readyz").await.0, 503);
    let refused = wait_until(Duration::from_secs(7), || async {
        let (status, body) = app.get("/api/traces").await;
        status == 503 && error_code(&body) == "schema_newer" && body["error"]["message"] == said
    })
    .await;
    assert!(refused, "a data route kept serving on a newer schema");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_results_are_cached_so_load_does_not_reach_ollama() {
    let app = TestApp::spawn().await;
    let probes_before = app.ollama.request_count();

    for _ in 0..50 {
        assert_eq!(app.get("/api/health").await.0, 200);
    }
    let probes = app.ollama.request_count() - probes_before;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.get("/api/health").await;

    assert!(
        probes <= 2,
        "50 health requests made {probes} Ollama probes"
    );
    assert!(
        app.ollama.request_count() > probes_before + probes,
        "the cache never expires"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_carries_a_request_id_echoed_when_given() {
    let app = TestApp::spawn().await;
    let get = |path: &str, id: Option<&str>| {
        let mut request = app.http.get(app.url(path));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        async move { request.send().await.expect("GET") }
    };

    let generated = get("/livez", None).await;
    let echoed = get("/livez", Some("abc-123")).await;

    assert!(!generated.headers()["x-request-id"].is_empty());
    assert_eq!(echoed.headers()["x-request-id"], "abc-123");
    // Probes and other routes go through different paths of the middleware.
    for path in ["/api/health", "/api/personas", "/no/such/route"] {
        let r = get(path, Some("id-42")).await;
        assert_eq!(r.headers()["x-request-id"], "id-42", "{path}");
        assert_eq!(r.headers()["content-type"], "application/json", "{path}");
    }
    app.stop().await;
}
