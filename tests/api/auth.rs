//! Authentication: every route but the probes needs a token with the right scope; every
//! refusal is a JSON error with its reason in the code and the headers RFC 6750 asks for.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::kit::tokens::{
    client_with, expire, issue_token, new_token_text, revoke, Token, ALL_SCOPES,
};
use crate::kit::{decode, error_code, fresh_database, settings, start_ollama, TestApp};

/// Every route behind the door, with the scope it needs (the deletions after what they
/// delete).
fn routes(
    trace_id: &str,
    conversation: &str,
    document: &str,
    persona: &str,
) -> Vec<(Method, String, &'static str, Option<Value>)> {
    let conversation = format!("/api/conversations/{conversation}");
    let document = format!("/api/documents/{document}");
    let trace = format!("/api/traces/{trace_id}");
    let mut routes = vec![
        (
            Method::POST,
            "/api/consciousness/query".into(),
            "query",
            Some(json!({"query": "hi"})),
        ),
        (Method::GET, "/api/traces".into(), "read", None),
        (Method::GET, trace.clone(), "read", None),
        (Method::GET, "/api/personas".into(), "read", None),
        (
            Method::POST,
            "/api/conversations".into(),
            "query",
            Some(json!({})),
        ),
        (Method::GET, "/api/conversations".into(), "read", None),
        (Method::GET, conversation.clone(), "read", None),
        (
            Method::PATCH,
            conversation.clone(),
            "query",
            Some(json!({"title": "renamed"})),
        ),
        (
            Method::POST,
            format!("{conversation}/messages"),
            "query",
            Some(json!({"content": "hi"})),
        ),
        (Method::DELETE, trace, "admin", None),
        (
            Method::POST,
            "/api/documents".into(),
            "query",
            Some(json!({"title": "Backups", "content": "Nightly at two."})),
        ),
        (Method::GET, "/api/documents".into(), "read", None),
        (Method::GET, document.clone(), "read", None),
        (Method::GET, "/api/search?q=backups".into(), "read", None),
        (Method::DELETE, conversation, "admin", None),
        (Method::DELETE, document, "query", None),
        (Method::GET, "/v1/models".into(), "query", None),
        (Method::GET, "/metrics".into(), "metrics", None),
        (Method::GET, "/api/export".into(), "admin", None),
        (
            Method::POST,
            "/v1/chat/completions".into(),
            "query",
            Some(
                json!({"model": crate::kit::MODEL, "messages": [{"role": "user", "content": "hi"}]}),
            ),
        ),
    ];
    routes.extend(persona_routes(persona));
    routes
}

/// Adding, rewriting and deleting the persona `name`, in that order.
fn persona_routes(name: &str) -> [(Method, String, &'static str, Option<Value>); 3] {
    let one = format!("/api/personas/{name}");
    let text = json!({"display_name": "M", "description": "", "system_prompt": "m"});
    let mut new = text.clone();
    new["name"] = json!(name);
    [
        (Method::POST, "/api/personas".into(), "admin", Some(new)),
        (Method::PUT, one.clone(), "admin", Some(text)),
        (Method::DELETE, one, "admin", None),
    ]
}

/// What anyone may `GET`: the probes and the API's description.
const OPEN: [&str; 5] = [
    "/livez",
    "/readyz",
    "/api/health",
    "/api/consciousness/health",
    "/api/openapi.json",
];

/// The OpenAPI document lists every route the app serves (`http::routes` holds it to the
/// route table), with the scope it needs: each is in this file's matrix, or open.
#[tokio::test(flavor = "multi_thread")]
async fn the_matrix_covers_every_route_the_document_lists() {
    let app = TestApp::spawn().await;
    let (_, document) = app.get("/api/openapi.json").await;
    let matrix: Vec<(String, String, &str)> = routes("{id}", "{id}", "{id}", "{name}")
        .into_iter()
        .map(|(method, path, scope, _)| {
            let path = path.split('?').next().unwrap_or_default().to_string();
            (method.to_string(), path, scope)
        })
        .collect();

    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            let scopes = &operation["security"][0]["bearer"];
            match scopes.as_array().map(|s| s.as_slice()) {
                // Open: the probes and this document, or signing in.
                None => assert!(
                    OPEN.contains(&path.as_str()) || (method == "POST" && path == "/api/session"),
                    "{method} {path} is open"
                ),
                // Any caller: signing out, tested in session.rs.
                Some([]) => {
                    assert_eq!((method.as_str(), path.as_str()), ("DELETE", "/api/session"))
                }
                Some([scope]) => {
                    let entry = (method.clone(), path.clone(), scope.as_str().unwrap());
                    assert!(matrix.contains(&entry), "{entry:?} is not in the matrix");
                }
                Some(more) => panic!("{method} {path} needs {more:?}"),
            }
        }
    }
    app.stop().await;
}

/// Each credential a request may carry, and what it must get.
enum Case<'a> {
    NoToken,
    Malformed,
    Unknown,
    Revoked(&'a Token),
    Expired(&'a Token),
    WrongScope(&'a Token),
    RightScope(&'a Token),
}

impl Case<'_> {
    fn header(&self) -> Option<String> {
        match self {
            Case::NoToken => None,
            Case::Malformed => Some("Bearer not-a-token".into()),
            Case::Unknown => Some(format!("Bearer {}", new_token_text())),
            Case::Revoked(t) | Case::Expired(t) | Case::WrongScope(t) | Case::RightScope(t) => {
                Some(t.header())
            }
        }
    }

    /// The status and code it must get (none: anything but 401 and 403).
    fn expected(&self) -> Option<(u16, &'static str)> {
        match self {
            Case::NoToken => Some((401, "token_missing")),
            Case::Malformed => Some((401, "token_malformed")),
            Case::Unknown => Some((401, "token_invalid")),
            Case::Revoked(_) => Some((401, "token_revoked")),
            Case::Expired(_) => Some((401, "token_expired")),
            Case::WrongScope(_) => Some((403, "insufficient_scope")),
            Case::RightScope(_) => None,
        }
    }
}

async fn send(
    app: &TestApp,
    method: &Method,
    path: &str,
    body: &Option<Value>,
    header: Option<String>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = app.anonymous.request(method.clone(), app.url(path));
    if let Some(h) = header {
        request = request.header("authorization", h);
    }
    if let Some(b) = body {
        request = request.json(b);
    }
    let response = request.send().await.expect("an answer");
    let headers = response.headers().clone();
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    // JSON, but for the metrics' text.
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body, headers)
}

/// The token a case uses for `scope`: one without it (wrong) or with only it (right).
async fn scoped_tokens(app: &TestApp, scope: &str) -> (Token, Token) {
    let others: Vec<&str> = ALL_SCOPES.iter().copied().filter(|s| *s != scope).collect();
    let wrong = issue_token(&app.db_url, "wrong", &others).await;
    let right = issue_token(&app.db_url, "right", &[scope]).await;
    (wrong, right)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_refuses_each_bad_credential_and_serves_the_right_scope() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let mut s = settings(&db.url, &ollama.url());
    // Every refusal here is meant: none may turn into "too many".
    s.auth.failed_attempts_per_minute = 1000;
    let app = TestApp::spawn_with(s, ollama).await;
    let (_, answered) = app.query(json!({"query": "to read and delete"})).await;
    let trace_id = answered["id"].as_str().unwrap().to_string();
    let conversation = app.start_conversation(json!({})).await;
    // Where the tests' PostgreSQL has no pgvector, the knowledge routes answer 503 to the
    // right scope, which is still neither 401 nor 403.
    let (_, document) = app
        .add_document("Restores", "Test them monthly.", None)
        .await;
    let document = document["id"]
        .as_str()
        .unwrap_or("00000000-0000-0000-0000-000000000000")
        .to_string();
    let revoked = issue_token(&app.db_url, "revoked", ALL_SCOPES).await;
    revoke(&app.db_url, &revoked).await;
    let expired = issue_token(&app.db_url, "expired", ALL_SCOPES).await;
    expire(&app.db_url, &expired).await;

    let mut checked = 0;
    for (method, path, scope, body) in routes(&trace_id, &conversation, &document, "matrix") {
        let (wrong, right) = scoped_tokens(&app, scope).await;
        let cases = [
            Case::NoToken,
            Case::Malformed,
            Case::Unknown,
            Case::Revoked(&revoked),
            Case::Expired(&expired),
            Case::WrongScope(&wrong),
            Case::RightScope(&right),
        ];
        for case in &cases {
            let (status, body, headers) = send(&app, &method, &path, &body, case.header()).await;
            let what = format!(
                "{method} {path} {:?}: {status} {body}",
                case.header().map(|h| h.len())
            );
            match case.expected() {
                Some((want, code)) => {
                    assert_eq!((status, error_code(&body)), (want, code), "{what}");
                    let challenge = headers["www-authenticate"].to_str().unwrap();
                    assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
                    if want == 403 {
                        assert!(
                            challenge.contains(&format!("scope=\"{scope}\"")),
                            "{challenge}"
                        );
                        assert!(body["error"]["message"].as_str().unwrap().contains(scope));
                    }
                }
                None => assert!(![401, 403].contains(&status), "{what}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 161, "23 routes × 7 credentials");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_and_the_api_document_are_open_and_the_health_report_shows_states_only() {
    let app = TestApp::spawn().await;
    for path in OPEN {
        let response = app.anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let (_, health) = app.get("/api/health").await;
    let mut keys: Vec<&String> = health.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "database",
            "migrations",
            "ollama",
            "ollama_hosts",
            "status",
            "version"
        ]
    );
    assert_eq!(
        health["ollama_hosts"],
        serde_json::json!([{"state": "available"}])
    );
    // Unknown paths are behind the door too: nothing is said about what exists.
    let response = app
        .anonymous
        .get(app.url("/api/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_failures_from_one_address_get_429_but_a_valid_token_still_works() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let mut s = settings(&db.url, &ollama.url());
    s.auth.failed_attempts_per_minute = 3;
    let app = TestApp::spawn_with(s, ollama).await;
    let bad = client_with(&new_token_text());

    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..5 {
        let response = bad.get(app.url("/api/personas")).send().await.unwrap();
        retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        statuses.push(response.status().as_u16());
    }
    let (good, body) = app.get("/api/personas").await;

    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    let seconds: u64 = retry_after
        .expect("429 says when to retry")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&seconds), "{seconds}");
    assert_eq!(good, 200, "a valid token is never held back: {body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_trace_records_its_token_and_the_history_filters_by_it() {
    let app = TestApp::spawn().await;
    let other = issue_token(&app.db_url, "other", ALL_SCOPES).await;
    let (_, mine) = app.query(json!({"query": "mine"})).await;
    let (status, theirs) = decode(
        client_with(&other.token)
            .post(app.url("/api/consciousness/query"))
            .json(&json!({"query": "theirs"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{theirs}");

    let (_, page) = app.get(&format!("/api/traces?token_id={}", other.id)).await;
    let traces = page["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 1, "{page}");
    assert_eq!(traces[0]["id"], theirs["id"]);
    assert_eq!(traces[0]["token_id"], json!(other.id));
    let (_, all) = app.get("/api/traces").await;
    assert_eq!(all["traces"].as_array().unwrap().len(), 2);
    let stored = app.traces().await;
    assert!(stored.iter().all(|t| t.token_id.is_some()), "{stored:?}");
    assert_ne!(mine["id"], theirs["id"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_fails_on_another_replica_within_a_second() {
    let first = TestApp::spawn().await;
    let db = first.db_url.clone();
    let ollama = start_ollama().await;
    let second = TestApp::spawn_with(settings(&db, &ollama.url()), ollama).await;
    let token = issue_token(&db, "replicas", ALL_SCOPES).await;
    let client = client_with(&token.token);
    for app in [&first, &second] {
        let status = client
            .get(app.url("/api/personas"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "the token works (and is cached) on both");
    }

    revoke(&db, &token).await;
    let revoked_at = Instant::now();
    let mut refused_after = None;
    while revoked_at.elapsed() < Duration::from_secs(3) {
        let status = client
            .get(second.url("/api/personas"))
            .send()
            .await
            .unwrap()
            .status();
        if status == 401 {
            refused_after = Some(revoked_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let refused_after = refused_after.expect("the revoked token kept working for 3 s");
    assert!(refused_after < Duration::from_secs(1), "{refused_after:?}");
    first.stop().await;
    second.stop().await;
}
