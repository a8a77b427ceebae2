//! Several Ollama servers (`ollama.urls`): health lists each, a call goes to a server that
//! has its model, one that refuses before any token leaves the call to another, and one
//! that dies mid-answer is not replaced (the text so far is kept).

use std::time::Duration;

use serde_json::json;

use crate::kit::embeddings::EMBED_MODEL;
use crate::kit::fake_ollama::VERSION;
use crate::kit::knowledge::pgvector_or_skip;
use crate::kit::settings::unreachable_ollama;
use crate::kit::sse::{last_is, text_of};
use crate::kit::{error_code, fresh_database, settings, start_ollama};
use crate::kit::{Behavior, FakeOllama, TestApp, MODEL, QUERY_PATH};

const LIMIT: Duration = Duration::from_secs(10);

/// An app whose Ollama servers are `urls` (the first is also `ollama.url`), holding an
/// unused fake.
async fn app_on(urls: &[String]) -> TestApp {
    app_on_with(urls, |_| {}).await
}

async fn app_on_with(urls: &[String], change: impl FnOnce(&mut maia::Settings)) -> TestApp {
    let db = fresh_database().await;
    let mut s = settings(&db.url, &urls[0]);
    s.ollama.urls = urls.to_vec();
    s.ollama.timeout = 30;
    change(&mut s);
    TestApp::spawn_with(s, start_ollama().await).await
}

#[tokio::test(flavor = "multi_thread")]
async fn health_lists_each_server_and_is_healthy_while_one_answers() {
    let up = start_ollama().await;
    let down = unreachable_ollama();
    let app = app_on(&[up.url(), down.clone()]).await;

    let (status, body) = app.get("/api/health").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "healthy", "{body}");
    assert_eq!(body["ollama"], "available", "{body}");
    // States only, in the configured order: the report is open.
    assert_eq!(
        body["ollama_hosts"],
        json!([
            {"state": "available"},
            {"state": "unavailable", "error": "llm_unavailable"}
        ]),
        "{body}"
    );
    let shown = body.to_string();
    assert!(
        !shown.contains(&down) && !shown.contains(VERSION),
        "{shown}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_only_one_server_has_is_asked_of_that_one_and_others_are_shared() {
    let without_deep = FakeOllama::start(&[MODEL, EMBED_MODEL]).await;
    let with_deep = start_ollama().await;
    let app = app_on(&[without_deep.url(), with_deep.url()]).await;
    // The health probe reads each server's models.
    assert_eq!(app.get("/api/health").await.0, 200);

    for i in 0..3 {
        let (status, body) = app
            .query(json!({"query": format!("deep {i}"), "mode": "deep"}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    for i in 0..4 {
        let (status, body) = app.query(json!({"query": format!("fast {i}")})).await;
        assert_eq!(status, 200, "{body}");
    }

    let deep = |fake: &FakeOllama| {
        let chats = fake.chat_requests();
        chats.iter().filter(|c| c["model"] != MODEL).count()
    };
    assert_eq!(deep(&without_deep), 0);
    assert_eq!(deep(&with_deep), 3);
    // Calls one at a time, both idle: they take turns.
    assert!(without_deep.chat_count() >= 1, "the fast ones are shared");
    assert!(with_deep.chat_count() > 3, "the fast ones are shared");
    assert_eq!(without_deep.chat_count() + with_deep.chat_count(), 7);
    assert!(app.traces().await.iter().all(|t| t.is_ok()));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_refuses_leaves_the_question_to_another_and_it_is_answered() {
    let up = start_ollama().await;
    // The first choice: the refusing one comes first, and no call has been made yet.
    let app = app_on(&[unreachable_ollama(), up.url()]).await;

    let (status, body) = app.query(json!({"query": "first"})).await;
    let (second_status, second) = app.query(json!({"query": "second"})).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"], "echo: first", "{body}");
    assert_eq!(second_status, 200, "{second}");
    assert_eq!(up.chat_count(), 2);
    let traces = app.traces().await;
    assert_eq!(traces.len(), 2);
    assert!(traces.iter().all(|t| t.is_ok()), "{traces:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_dying_mid_answer_is_not_replaced_and_the_text_so_far_is_kept() {
    let a = start_ollama().await;
    let b = start_ollama().await;
    for fake in [&a, &b] {
        fake.set_behavior(Behavior::StallAfter(2));
    }
    let app = app_on(&[a.url(), b.url()]).await;
    let mut stream = app
        .stream(
            QUERY_PATH,
            &json!({"query": "hosts one two three", "stream": true}),
        )
        .await;
    let mut events = stream.first_token(LIMIT).await;
    events.push(stream.next(LIMIT).await.expect("the second piece"));

    let (dying, other) = if a.chat_count() == 1 { (a, b) } else { (b, a) };
    dying.stop().await;
    events.extend(stream.rest(LIMIT).await);
    let stored = app.traces().await;

    assert_eq!(other.chat_count(), 0, "not tried again elsewhere");
    assert_eq!(text_of(&events), "echo: hosts");
    let error = last_is(&events, "error");
    assert_eq!(error_code(error), "llm_error", "{error}");
    let (status, kept) = (&stored[0].status, stored[0].response.as_deref());
    assert_eq!((status.as_str(), kept), ("failed", Some("echo: hosts")));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_document_is_embedded_by_a_server_that_answers_when_the_first_refuses() {
    let up = start_ollama().await;
    let app = app_on(&[unreachable_ollama(), up.url()]).await;
    if !pgvector_or_skip(&app.db_url).await {
        return;
    }

    let (status, body) = app
        .add_document(
            "Hosts",
            "# Hosts\n\nTwo GPU boxes share the questions.",
            None,
        )
        .await;

    assert_eq!(status, 201, "{body}");
    assert!(up.embedded_count() > 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_no_server_has_is_asked_of_two_and_is_model_not_found() {
    let a = start_ollama().await;
    let b = start_ollama().await;
    let app = app_on_with(&[a.url(), b.url()], |s| {
        s.ollama.allowed_models = vec!["mistral:7b".into()];
    })
    .await;

    let (status, body) = app
        .query(json!({ "query": "hi", "model": "mistral:7b" }))
        .await;

    assert_eq!(status, 502, "{body}");
    assert_eq!(error_code(&body), "model_not_found", "{body}");
    assert_eq!((a.chat_count(), b.chat_count()), (1, 1), "once on another");
    assert_eq!(app.traces().await[0].status, "failed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_silent_past_the_timeout_fails_that_question_and_is_skipped_after() {
    let hung = start_ollama().await;
    hung.set_behavior(Behavior::Hang);
    let up = start_ollama().await;
    let app = app_on_with(&[hung.url(), up.url()], |s| s.ollama.timeout = 1).await;

    // The first choice: the hung one comes first, and no call has been made yet.
    let (first_status, first) = app.query(json!({"query": "first"})).await;
    // Two more: turns alternate between idle servers, so one would be the hung one's.
    let mut next = Vec::new();
    for query in ["second", "third"] {
        next.push(app.query(json!({ "query": query })).await);
    }

    assert_eq!(first_status, 504, "not tried elsewhere: {first}");
    assert_eq!(error_code(&first), "llm_timeout");
    for (status, body) in &next {
        assert_eq!(*status, 200, "{body}");
    }
    assert_eq!((hung.chat_count(), up.chat_count()), (1, 2));
    app.stop().await;
}
