//! How maia reads Ollama's answer stream: whatever the chunking, with Ollama's habit of
//! leaving zero counts out, and what it says when the peer is not Ollama at all.

use serde_json::json;

use crate::kit::fake_ollama;
use crate::kit::{error_code, fresh_database, settings, start_ollama, Behavior, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_cut_anywhere_across_reads_is_put_back_together_exactly() {
    let app = TestApp::spawn().await;
    // Lines cut mid-JSON, and every multi-byte character cut in two.
    app.ollama.set_split_chunks(true);
    let reply = "naïve café — 日本語 🌍 \"quoted\"\nnext line";
    app.ollama.set_behavior(Behavior::ReplyWith(reply.into()));

    let (status, body) = app.query(json!({ "query": "cut me" })).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"], reply);
    let trace = &app.traces().await[0];
    assert_eq!(trace.response.as_deref(), Some(reply));
    // The fake counts one token per piece; the count is the final line's.
    let pieces = fake_ollama::pieces(reply).len() as i32;
    assert_eq!(trace.completion_tokens, Some(pieces));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn counts_ollama_leaves_out_are_zero_not_unknown() {
    let app = TestApp::spawn().await;
    // A cached prompt: Ollama omits prompt_eval_count when it is zero.
    app.ollama.set_omit_zero_metrics(true);

    let (status, body) = app.query(json!({ "query": "cached" })).await;

    assert_eq!(status, 200, "{body}");
    let trace = &app.traces().await[0];
    assert_eq!(trace.prompt_tokens, Some(0));
    assert!(trace.completion_tokens.unwrap_or(0) > 0, "{trace:?}");
    app.stop().await;
}

/// An answer read to its end leaves its connection open for the next call; only the first
/// pays for a connect (and the few the drain of the body's end was too late for).
#[tokio::test(flavor = "multi_thread")]
async fn answers_one_after_another_share_a_connection_to_ollama() {
    let app = TestApp::spawn().await;
    for n in 0..6 {
        let (status, body) = app.query(json!({ "query": format!("question {n}") })).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(app.ollama.chat_count(), 6);
    let connections = app.ollama.chat_connections();
    assert!(
        connections <= 2,
        "6 answers came on {connections} connections"
    );
    app.stop().await;
}

/// An `ollama.url` that reaches an HTTP server answering 404 in plain text (a wrong path,
/// another service) is an upstream error saying so, not a missing model.
#[tokio::test(flavor = "multi_thread")]
async fn a_peer_that_is_not_ollamas_chat_is_an_upstream_error_saying_what_it_answered() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let wrong_path = format!("{}/not-ollama/", ollama.url());
    let app = TestApp::spawn_with(settings(&db.url, &wrong_path), ollama).await;

    let (status, body) = app.query(json!({ "query": "anyone there?" })).await;

    assert_eq!(status, 502, "{body}");
    assert_eq!(error_code(&body), "llm_error", "{body}");
    let error = app.traces().await[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("404 Not Found: 404 page not found"),
        "{error}"
    );
    app.stop().await;
}
