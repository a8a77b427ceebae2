use std::time::{Duration, Instant};

use serde_json::json;

use crate::fake_ollama::{Behavior, FakeOllama};
use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_query_is_answered_by_ollama_and_stored() {
    let app = TestApp::spawn().await;
    let (status, body) = app.query(json!({ "query": "What is sovereignty?" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"], "echo: What is sovereignty?");
    assert_eq!(body["model"], MODEL);
    assert_eq!(body["mode"], "fast");
    assert!(body["persona"].is_null());
    assert!(body["latency_ms"].as_i64().unwrap() >= 0);
    assert!(body["created_at"].is_string());

    let rows = app.traces_in_db().await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(
        row.get::<_, uuid::Uuid>("id").to_string(),
        body["id"].as_str().unwrap()
    );
    assert_eq!(row.get::<_, String>("query"), "What is sovereignty?");
    assert_eq!(
        row.get::<_, Option<String>>("response").as_deref(),
        Some("echo: What is sovereignty?")
    );
    assert_eq!(row.get::<_, String>("status"), "ok");
    assert!(row.get::<_, Option<i32>>("prompt_tokens").is_some());
    assert!(row.get::<_, Option<i32>>("completion_tokens").is_some());

    // What Ollama was asked: the configured model, a system prompt, the user's question.
    let sent = &app.ollama.chat_requests()[0];
    assert_eq!(sent["model"], MODEL);
    assert_eq!(sent["stream"], false);
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(
        sent["messages"].as_array().unwrap().last().unwrap()["content"],
        "What is sovereignty?"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deep_mode_uses_the_deep_model_and_a_persona_its_prompt() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .query(json!({ "query": "Is this wise?", "mode": "deep", "persona": "Socratic" }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], DEEP_MODEL);
    assert_eq!(body["mode"], "deep");
    assert_eq!(body["persona"], "socratic");
    let sent = &app.ollama.chat_requests()[0];
    assert_eq!(sent["model"], DEEP_MODEL);
    let system = sent["messages"][0]["content"].as_str().unwrap();
    assert!(system.to_lowercase().contains("socratic"), "{system}");
    let row = &app.traces_in_db().await[0];
    assert_eq!(
        row.get::<_, Option<String>>("persona").as_deref(),
        Some("socratic")
    );
    assert_eq!(row.get::<_, String>("mode"), "deep");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_requested_model_is_used() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .query(json!({ "query": "hi", "model": DEEP_MODEL }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], DEEP_MODEL);
    assert_eq!(app.ollama.chat_requests()[0]["model"], DEEP_MODEL);
    app.stop().await;
}

async fn assert_failed_trace(app: &TestApp, query: &str, error_contains: &str) {
    let rows = app.traces_in_db().await;
    assert_eq!(rows.len(), 1, "the failed query must be stored");
    let row = &rows[0];
    assert_eq!(row.get::<_, String>("query"), query);
    assert_eq!(row.get::<_, String>("status"), "failed");
    assert!(row.get::<_, Option<String>>("response").is_none());
    let error = row.get::<_, Option<String>>("error").unwrap();
    assert!(error.contains(error_contains), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ollama_unreachable_is_503_and_the_query_is_kept() {
    let db = fresh_database().await;
    let ollama = FakeOllama::start(&[MODEL]).await;
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let app = TestApp::spawn_with(settings(&db, &dead), ollama).await;
    let (status, body) = app.query(json!({ "query": "anyone there?" })).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "llm_unavailable");
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "no internals: {body}"
    );
    assert_failed_trace(&app, "anyone there?", "unreachable").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ollama_errors_are_502_and_the_query_is_kept() {
    let app = TestApp::spawn().await;
    app.ollama.set_behavior(Behavior::Error {
        status: 500,
        message: "llama runner process has terminated: exit status 2".into(),
    });
    let (status, body) = app.query(json!({ "query": "crash please" })).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "llm_error");
    assert!(
        !body.to_string().contains("llama runner"),
        "no internals: {body}"
    );
    assert_failed_trace(&app, "crash please", "llama runner process has terminated").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_model_is_502_naming_it_and_kept() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .query(json!({ "query": "hi", "model": "mistral:7b" }))
        .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "model_not_found");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("mistral:7b"));
    assert_failed_trace(&app, "hi", "mistral:7b").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ollama_slower_than_the_timeout_is_504_within_the_timeout_and_kept() {
    let app = TestApp::spawn().await; // ollama.timeout = 2 s
    app.ollama.set_behavior(Behavior::Hang);
    let started = Instant::now();
    let (status, body) = app.query(json!({ "query": "take your time" })).await;
    let took = started.elapsed();
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "llm_timeout");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    assert_failed_trace(&app, "take your time", "did not answer").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_down_is_503_before_ollama_is_asked() {
    let db = fresh_database().await;
    let ollama = FakeOllama::start(&[MODEL]).await;
    let mut s = settings(&db, &ollama.url());
    s.database.url = format!("postgresql://maia@127.0.0.1:{}/x", closed_port()).into();
    s.database.migrate_on_start = false;
    let app = TestApp::spawn_with(s, ollama).await;
    let (status, body) = app.query(json!({ "query": "hello" })).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "database_unavailable");
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "no internals: {body}"
    );
    assert_eq!(app.ollama.chat_count(), 0, "Ollama must not be called");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn traces_survive_an_application_restart() {
    let app = TestApp::spawn().await;
    let (_, body) = app.query(json!({ "query": "remember me" })).await;
    let id = body["id"].as_str().unwrap().to_string();
    let db_url = app.db_url.clone();
    let ollama = app.stop().await;

    let again = TestApp::spawn_with(settings(&db_url, &ollama.url()), ollama).await;
    let (status, trace) = again.get(&format!("/api/traces/{id}")).await;
    assert_eq!(status, 200, "{trace}");
    assert_eq!(trace["query"], "remember me");
    assert_eq!(trace["response"], "echo: remember me");
    again.stop().await;
}
