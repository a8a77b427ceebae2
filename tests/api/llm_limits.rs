//! What one client may cost: a bounded number of model calls at once and waiting, no call
//! for a client that left, only the configured models, and a number of requests a minute.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::kit::silent_ollama::SilentOllama;
use crate::kit::tokens::{client_with, issue_token, ALL_SCOPES};
use crate::kit::{
    decode, error_code, fresh_database, settings, start_ollama, Behavior, FakeOllama,
};
use crate::kit::{TestApp, DEEP_MODEL, MODEL, QUERY_PATH};

/// Sends a query on a raw connection and returns the connection, unread.
async fn send_and_leave(app: &TestApp) -> tokio::net::TcpStream {
    let body = json!({ "query": "will anyone read this?" }).to_string();
    let request = format!(
        "POST {QUERY_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        app.token,
        body.len()
    );
    let mut client = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    client.write_all(request.as_bytes()).await.unwrap();
    client
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_is_cancelled_within_a_second_when_its_client_disconnects() {
    let silent = SilentOllama::start().await;
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let mut s = settings(&db.url, &silent.url());
    s.ollama.timeout = 30;
    let app = TestApp::spawn_with(s, ollama).await;

    let client = send_and_leave(&app).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while silent.calls().iter().all(|c| c.asked_at.is_none()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(client);
    let left_at = Instant::now();
    while silent.calls().iter().all(|c| c.closed_at.is_none()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let call = silent
        .calls()
        .into_iter()
        .find(|c| c.asked_at.is_some())
        .expect("Ollama was asked");
    let hung_up = call
        .closed_at
        .expect("maia never hung up on Ollama")
        .duration_since(left_at);
    assert!(
        hung_up < Duration::from_secs(1),
        "Ollama's call ended {hung_up:?} after the client left"
    );
    let traces = app.traces().await;
    assert_eq!(traces.len(), 1, "the question is kept");
    assert_eq!(traces[0].status, "cancelled", "{:?}", traces[0]);
    assert_eq!(
        traces[0].error_code.as_deref(),
        Some("client_closed_request")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_slots_and_the_queue_a_query_is_llm_busy_and_kept() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    ollama.set_behavior(Behavior::Delay(Duration::from_millis(800)));
    let mut s = settings(&db.url, &ollama.url());
    s.ollama.max_concurrent = 1;
    s.ollama.max_queue = 1;
    let app = TestApp::spawn_with(s, ollama).await;

    let requests: Vec<_> = (0..3)
        .map(|i| {
            let request = app
                .http
                .post(app.url(QUERY_PATH))
                .json(&json!({ "query": format!("busy {i}") }));
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect();
    let mut answers = Vec::new();
    for r in requests {
        let response = r.await.unwrap();
        let retry_after = response.headers().get("retry-after").cloned();
        let (status, body) = decode(response).await;
        answers.push((status, body, retry_after));
    }

    answers.sort_by_key(|a| a.0);
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(
        statuses,
        [200, 200, 503],
        "one answered, one queued, one too many"
    );
    let (_, busy, retry_after) = &answers[2];
    assert_eq!(error_code(busy), "llm_busy");
    assert!(retry_after.is_some(), "503 says when to retry");
    let traces = app.traces().await;
    assert_eq!(traces.len(), 3, "the busy one is kept too");
    assert_eq!(traces.iter().filter(|t| t.status == "failed").count(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_configured_and_allowed_models_may_be_named() {
    let db = fresh_database().await;
    let ollama = FakeOllama::start(&[MODEL, DEEP_MODEL, "mistral:7b", "huge:70b"]).await;
    let mut s = settings(&db.url, &ollama.url());
    s.ollama.allowed_models = vec!["mistral:7b".into()];
    let app = TestApp::spawn_with(s, ollama).await;

    let (refused, body) = app
        .query(json!({ "query": "q", "model": "huge:70b" }))
        .await;
    let (allowed, _) = app
        .query(json!({ "query": "q", "model": "mistral:7b" }))
        .await;
    let (deep, _) = app
        .query(json!({ "query": "q", "model": DEEP_MODEL }))
        .await;

    assert_eq!((refused, error_code(&body)), (422, "validation_failed"));
    let message = body["error"]["message"].as_str().unwrap();
    for named in [
        "huge:70b",
        MODEL,
        DEEP_MODEL,
        "mistral:7b",
        "ollama.allowed_models",
    ] {
        assert!(message.contains(named), "{message}");
    }
    assert_eq!((allowed, deep), (200, 200));
    assert_eq!(
        app.ollama.chat_count(),
        2,
        "the refused model was never asked for"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_past_its_requests_per_minute_gets_429_and_others_do_not() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let mut s = settings(&db.url, &ollama.url());
    s.auth.requests_per_minute = 3;
    let app = TestApp::spawn_with(s, ollama).await;
    let other = client_with(&issue_token(&app.db_url, "other", ALL_SCOPES).await.token);

    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        let response = app.http.get(app.url("/api/personas")).send().await.unwrap();
        statuses.push(response.status().as_u16());
        last = Some(response);
    }
    let last = last.unwrap();
    let retry_after = last.headers().get("retry-after").cloned();
    let (_, body) = decode(last).await;
    let others = other
        .get(app.url("/api/personas"))
        .send()
        .await
        .unwrap()
        .status();

    assert_eq!(statuses, [200, 200, 200, 429]);
    assert_eq!(error_code(&body), "rate_limited");
    assert!(retry_after.is_some());
    assert_eq!(others, 200, "the limit is per token");
    app.stop().await;
}
