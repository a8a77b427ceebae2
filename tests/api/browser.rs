//! What a browser could be made to do: only JSON bodies (a web page's form cannot send one
//! without asking first), no foreign `Origin`, no `Host` maia does not answer to.

use serde_json::json;

use crate::kit::{decode, error_code, fresh_database, settings, start_ollama, TestApp, QUERY_PATH};

async fn post_as(
    app: &TestApp,
    content_type: Option<&str>,
    origin: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut request = app
        .http
        .post(app.url(QUERY_PATH))
        .body(json!({ "query": "from a page" }).to_string());
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    if let Some(o) = origin {
        request = request.header("origin", o);
    }
    decode(request.send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn only_json_bodies_are_read() {
    let app = TestApp::spawn().await;

    let mut statuses = Vec::new();
    for ct in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let (status, body) = post_as(&app, ct, None).await;
        statuses.push((ct, status, error_code(&body).to_string()));
    }
    let (json, _) = post_as(&app, Some("application/json; charset=utf-8"), None).await;
    let (suffixed, _) = post_as(&app, Some("application/vnd.maia+json"), None).await;

    for (ct, status, code) in statuses {
        assert_eq!(
            (status, code.as_str()),
            (415, "unsupported_media_type"),
            "{ct:?}"
        );
    }
    assert_eq!((json, suffixed), (200, 200));
    assert!(
        app.ollama.chat_count() == 2,
        "only the JSON bodies reached Ollama"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_origin_is_refused_and_the_own_or_an_allowed_one_is_served() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let mut s = settings(&db.url, &ollama.url());
    s.http.allowed_origins = vec!["https://app.example".into()];
    let app = TestApp::spawn_with(s, ollama).await;
    let own = app.address.clone();

    let (foreign, body) =
        post_as(&app, Some("application/json"), Some("https://evil.example")).await;
    let (null, _) = post_as(&app, Some("application/json"), Some("null")).await;
    let (same, _) = post_as(&app, Some("application/json"), Some(&own)).await;
    let (allowed, _) = post_as(&app, Some("application/json"), Some("https://app.example")).await;
    let (none, _) = post_as(&app, Some("application/json"), None).await;

    assert_eq!((foreign, error_code(&body)), (403, "origin_not_allowed"));
    assert_eq!(null, 403);
    assert_eq!((same, allowed, none), (200, 200, 200));
    app.stop().await;
}

/// `GET path` with `Host: host`, as `app`'s client.
async fn get_with_host(app: &TestApp, path: &str, host: &str) -> (u16, serde_json::Value) {
    decode(
        app.http
            .get(app.url(path))
            .header("host", host)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn without_authentication_only_loopback_host_names_are_answered() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let mut s = settings(&db.url, &ollama.url());
    s.auth.required = false;
    let app = TestApp::spawn_with(s, ollama).await;

    // DNS rebinding: a page on attacker.example resolves its own name to 127.0.0.1.
    let (rebound, body) = get_with_host(&app, "/api/traces", "attacker.example:8080").await;
    let (probe, _) = get_with_host(&app, "/api/health", "attacker.example:8080").await;
    let mut loopback = Vec::new();
    for host in [
        "localhost:8080",
        "127.0.0.1:8080",
        "[::1]:8080",
        "maia.localhost",
    ] {
        loopback.push(get_with_host(&app, "/api/traces", host).await.0);
    }

    assert_eq!((rebound, error_code(&body)), (421, "host_not_allowed"));
    assert_eq!(probe, 200, "the probes answer any host");
    assert_eq!(loopback, [200, 200, 200, 200]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_authentication_allowed_hosts_pins_the_names_and_empty_means_any() {
    let app = TestApp::spawn().await;
    let (any, _) = get_with_host(&app, "/api/traces", "maia.example.org").await;
    app.stop().await;

    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let mut s = settings(&db.url, &ollama.url());
    s.http.allowed_hosts = vec!["maia.example.org".into()];
    let app = TestApp::spawn_with(s, ollama).await;
    let (pinned, _) = get_with_host(&app, "/api/traces", "MAIA.example.org:443").await;
    let (other, body) = get_with_host(&app, "/api/traces", "other.example.org").await;

    assert_eq!(any, 200);
    assert_eq!(pinned, 200);
    assert_eq!((other, error_code(&body)), (421, "host_not_allowed"));
    app.stop().await;
}
