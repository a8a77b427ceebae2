//! Queries: answered by Ollama and stored, in each mode, with a persona or a model; and
//! the failures that come from the request or the database. (Ollama down, erroring or too
//! slow is fault test R2, in `tests/faults/ollama.rs`.)

use serde_json::json;

use crate::kit::{error_code, fresh_database, settings, start_ollama, TestApp, DEEP_MODEL, MODEL};

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
    let traces = app.traces().await;
    assert_eq!(traces.len(), 1);
    let trace = &traces[0];
    assert_eq!(trace.id.to_string(), body["id"].as_str().unwrap());
    assert_eq!(trace.query, "What is sovereignty?");
    assert_eq!(
        trace.response.as_deref(),
        Some("echo: What is sovereignty?")
    );
    assert!(trace.is_ok());
    assert!(trace.prompt_tokens.is_some());
    assert!(trace.completion_tokens.is_some());
    // What Ollama was asked: the configured model, a system prompt, the user's question.
    let sent = &app.ollama.chat_requests()[0];
    assert_eq!(sent["model"], MODEL);
    // Streamed, so that ollama.timeout measures silence, not the whole answer.
    assert_eq!(sent["stream"], true);
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
    let trace = &app.traces().await[0];
    assert_eq!(trace.persona.as_deref(), Some("socratic"));
    assert_eq!(trace.mode, "deep");
    assert_eq!(trace.model, DEEP_MODEL);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn modes_are_read_in_any_case_and_kept_in_lowercase() {
    let app = TestApp::spawn().await;

    let (deep, deep_body) = app.query(json!({ "query": "a", "mode": "Deep" })).await;
    let (fast, fast_body) = app.query(json!({ "query": "b", "mode": "FAST" })).await;

    assert_eq!(deep, 200, "{deep_body}");
    assert_eq!(fast, 200, "{fast_body}");
    assert_eq!(
        (&deep_body["mode"], &deep_body["model"]),
        (&json!("deep"), &json!(DEEP_MODEL))
    );
    assert_eq!(
        (&fast_body["mode"], &fast_body["model"]),
        (&json!("fast"), &json!(MODEL))
    );
    let modes: Vec<String> = app.traces().await.into_iter().map(|t| t.mode).collect();
    assert_eq!(modes, ["fast", "deep"], "newest first");
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

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_model_is_502_naming_it_and_kept() {
    // Allowed here, but Ollama does not have it.
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let mut s = settings(&db.url, &ollama.url());
    s.ollama.allowed_models = vec!["mistral:7b".into()];
    let app = TestApp::spawn_with(s, ollama).await;

    let (status, body) = app
        .query(json!({ "query": "hi", "model": "mistral:7b" }))
        .await;

    assert_eq!(status, 502, "{body}");
    assert_eq!(error_code(&body), "model_not_found");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("mistral:7b"));
    let traces = app.traces().await;
    assert_eq!(traces.len(), 1, "the failed query must be stored");
    let trace = &traces[0];
    assert_eq!(trace.query, "hi");
    assert_eq!(trace.status, "failed");
    assert!(trace.response.is_none());
    let error = trace.error.as_deref().unwrap_or_default();
    assert!(error.contains("mistral:7b"), "{error}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_down_is_503_before_ollama_is_asked() {
    let app = TestApp::spawn_with_database_down().await;

    let (status, body) = app.query(json!({ "query": "hello" })).await;

    assert_eq!(status, 503, "{body}");
    assert_eq!(error_code(&body), "database_unavailable");
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
