//! Health, readiness and liveness, and the request id every response carries.

use std::time::Duration;

use crate::kit::{fresh_database, settings, start_ollama, TestApp};

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

#[tokio::test(flavor = "multi_thread")]
async fn readyz_is_503_while_migrations_are_pending() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let mut s = settings(&db.url, &ollama.url());
    s.database.migrate_on_start = false;
    let app = TestApp::spawn_with(s, ollama).await;

    let (status, body) = app.get("/readyz").await;

    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["migrations"]["pending"],
        maia::embedded_migrations().len()
    );
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
