//! Streamed answers (`"stream": true`): server-sent events as the model writes, a `done`
//! once the trace is stored, an `error` if the model fails after the stream began, a
//! heartbeat while it is silent; and ordinary JSON errors for what fails before.

use std::time::Duration;

use serde_json::json;

use crate::kit::sse::{last_is, text_of};
use crate::kit::traces::stored_messages;
use crate::kit::{error_code, fake_ollama, Behavior, TestApp, MODEL, QUERY_PATH};

const LIMIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread")]
async fn a_streamed_query_comes_piece_by_piece_and_ends_with_done_once_stored() {
    let app = TestApp::spawn().await;
    let query = "What is naïve sovereignty? 🌍";

    let mut stream = app
        .stream(QUERY_PATH, &json!({"query": query, "stream": true}))
        .await;
    let events = stream.rest(LIMIT).await;

    let reply = format!("echo: {query}");
    let tokens = events.iter().filter(|e| e.name == "token").count();
    assert_eq!(tokens, fake_ollama::pieces(&reply).len(), "{events:?}");
    assert_eq!(text_of(&events), reply);
    let done = last_is(&events, "done");
    assert_eq!(done["model"], MODEL);
    assert!(done["latency_ms"].as_i64().unwrap() >= 0);
    assert!(done["completion_tokens"].as_i64().unwrap() > 0);
    assert!(
        done.get("message_id").is_none(),
        "a query has no message: {done}"
    );
    let traces = app.traces().await;
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].id.to_string(), done["trace_id"].as_str().unwrap());
    assert!(traces[0].is_ok());
    assert_eq!(traces[0].response.as_deref(), Some(reply.as_str()));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pieces_cut_anywhere_by_ollama_arrive_whole() {
    let app = TestApp::spawn().await;
    app.ollama.set_split_chunks(true);
    let reply = "naïve café — 日本語 🌍 \"quoted\"\nnext line";
    app.ollama.set_behavior(Behavior::ReplyWith(reply.into()));

    let mut stream = app
        .stream(QUERY_PATH, &json!({"query": "cut me", "stream": true}))
        .await;
    let events = stream.rest(LIMIT).await;

    assert_eq!(text_of(&events), reply);
    last_is(&events, "done");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streamed_message_ends_with_its_message_and_is_stored_as_the_answer() {
    let app = TestApp::spawn().await;
    let id = app.start_conversation(json!({})).await;
    let path = format!("/api/conversations/{id}/messages");
    app.post_json(&path, &json!({"content": "first"})).await;

    let mut stream = app
        .stream(&path, &json!({"content": "second", "stream": true}))
        .await;
    let events = stream.rest(LIMIT).await;

    assert_eq!(text_of(&events), "echo: second");
    let done = last_is(&events, "done");
    assert_eq!(done["conversation_id"], json!(id));
    assert_eq!(done["context_messages"], 2);
    assert_eq!(done["title"], "first");
    assert!(
        done.get("content").is_none(),
        "the text came as tokens: {done}"
    );
    let messages = stored_messages(&app.db_url).await;
    let answer = messages.last().unwrap();
    assert_eq!(answer.id.to_string(), done["message_id"].as_str().unwrap());
    assert_eq!(answer.content, "echo: second");
    assert_eq!(
        answer.trace_id.unwrap().to_string(),
        done["trace_id"].as_str().unwrap()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn what_fails_before_the_stream_begins_is_an_ordinary_json_error() {
    let app = TestApp::spawn_configured(|s| {
        s.ollama.max_concurrent = 1;
        s.ollama.max_queue = 0;
    })
    .await;
    app.ollama
        .set_behavior(Behavior::Trickle(Duration::from_millis(300)));
    let mut busy_holder = app
        .stream(
            QUERY_PATH,
            &json!({"query": "holding the slot", "stream": true}),
        )
        .await;
    busy_holder.first_token(LIMIT).await;

    let (invalid, invalid_body) = app.query(json!({"query": " ", "stream": true})).await;
    let (busy, busy_body) = app.query(json!({"query": "me too", "stream": true})).await;

    assert_eq!(
        (invalid, error_code(&invalid_body)),
        (422, "validation_failed")
    );
    assert_eq!((busy, error_code(&busy_body)), (503, "llm_busy"));
    busy_holder.rest(LIMIT).await;
    let traces = app.traces().await;
    assert_eq!(traces.len(), 2, "the busy question is kept too: {traces:?}");
    assert_eq!(traces.iter().filter(|t| t.status == "failed").count(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_down_before_the_stream_is_a_json_503() {
    let app = TestApp::spawn_with_database_down().await;

    let (status, body) = app.query(json!({"query": "hello", "stream": true})).await;

    assert_eq!((status, error_code(&body)), (503, "database_unavailable"));
    assert_eq!(app.ollama.chat_count(), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ollama_failing_mid_answer_ends_the_stream_with_an_error_and_keeps_the_text_so_far() {
    let app = TestApp::spawn().await;
    app.ollama
        .set_behavior(Behavior::MidStreamError("out of memory".into()));
    let query = "one two three four five six";

    let mut stream = app
        .stream(QUERY_PATH, &json!({"query": query, "stream": true}))
        .await;
    let events = stream.rest(LIMIT).await;

    let error = last_is(&events, "error");
    assert_eq!(error_code(error), "llm_error");
    assert!(
        !error.to_string().contains("out of memory"),
        "no upstream words: {error}"
    );
    let so_far = text_of(&events);
    assert!(
        !so_far.is_empty() && format!("echo: {query}").starts_with(&so_far),
        "{so_far}"
    );
    let trace = &app.traces().await[0];
    assert_eq!(trace.status, "failed");
    assert_eq!(trace.response.as_deref(), Some(so_far.as_str()));
    assert!(trace.error.as_deref().unwrap().contains("out of memory"));
    app.stop().await;
}

/// Once the stream has begun, even Ollama being down is told in it: the decision is the
/// route's, not Ollama's.
#[tokio::test(flavor = "multi_thread")]
async fn ollama_down_after_the_stream_began_is_an_error_event_and_a_failed_trace() {
    let app = TestApp::spawn_with_ollama_down().await;

    let mut stream = app
        .stream(QUERY_PATH, &json!({"query": "anyone?", "stream": true}))
        .await;
    let events = stream.rest(LIMIT).await;

    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(error_code(last_is(&events, "error")), "llm_unavailable");
    let trace = &app.traces().await[0];
    assert_eq!(
        (trace.status.as_str(), trace.response.as_deref()),
        ("failed", None)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_model_gets_a_heartbeat_and_the_answer_still_comes() {
    let app = TestApp::spawn_configured(|s| {
        s.http.stream_heartbeat = 1;
        s.ollama.timeout = 10;
    })
    .await;
    app.ollama
        .set_behavior(Behavior::Delay(Duration::from_millis(2500)));

    let mut stream = app
        .stream(
            QUERY_PATH,
            &json!({"query": "take your time", "stream": true}),
        )
        .await;
    let before = stream.first_token(LIMIT).await;
    let heartbeats = stream.comments;
    let rest = stream.rest(LIMIT).await;

    assert_eq!(
        before.len(),
        1,
        "nothing but comments before the answer: {before:?}"
    );
    assert!(
        heartbeats >= 2,
        "{heartbeats} heartbeats in 2.5 s of silence"
    );
    assert_eq!(
        text_of(&[before, rest.clone()].concat()),
        "echo: take your time"
    );
    last_is(&rest, "done");
    app.stop().await;
}
