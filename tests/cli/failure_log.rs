//! How `maia serve` logs a question the model could not answer: once, with its trace.

use std::time::Duration;

use serde_json::json;

use crate::kit::process::serve;
use crate::kit::settings::unreachable_ollama;
use crate::kit::tokens::{issue_token, ALL_SCOPES};
use crate::kit::{free_port, fresh_database, http_client, maia, wait_for_200};
use crate::kit::{FakeOllama, Process, DEEP_MODEL, MODEL, QUERY_PATH};

/// `maia serve` with JSON logs, talking to Ollama at `ollama_url`, asked one question with
/// the request id `request_id`: its status, and the log lines at warn or error about it.
async fn complaints_about_one_query(ollama_url: &str, request_id: &str) -> (u16, Vec<String>) {
    let db = fresh_database().await;
    let port = free_port();
    let mut command = serve(maia(), port, &db.url, ollama_url);
    command.env("MAIA_LOG__FORMAT", "json");
    let mut server = Process::spawn(command);
    let base = format!("http://127.0.0.1:{port}");
    let ready = wait_for_200(&format!("{base}/readyz"), Duration::from_secs(20)).await;
    assert!(ready, "{}", server.log());
    let token = issue_token(&db.url, "asker", ALL_SCOPES).await.token;

    let answer = http_client()
        .post(format!("{base}{QUERY_PATH}"))
        .bearer_auth(&token)
        .header("x-request-id", request_id)
        .json(&json!({ "query": "anyone there?" }))
        .send()
        .await
        .unwrap();
    server.assert_stops_cleanly(Duration::from_secs(10)).await;

    let complaints = server
        .log()
        .lines()
        .filter(|line| line.contains(request_id))
        .filter(|line| line.contains(r#""level":"WARN""#) || line.contains(r#""level":"ERROR""#))
        .map(str::to_string)
        .collect();
    (answer.status().as_u16(), complaints)
}

/// The model missing from Ollama was logged twice, at warn by the service that stored the
/// failed trace and at error by the HTTP layer that answered 502.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_model_is_logged_once() {
    let ollama = FakeOllama::start(&[DEEP_MODEL]).await;

    let (status, complaints) = complaints_about_one_query(&ollama.url(), "missing-model-1").await;

    assert_eq!(status, 502);
    assert_eq!(complaints.len(), 1, "{complaints:#?}");
    assert!(complaints[0].contains(MODEL), "{}", complaints[0]);
    assert!(complaints[0].contains("trace_id"), "{}", complaints[0]);
}

/// Ollama unreachable was logged twice: by the client with the error chain, and by the
/// service. Once is enough, with the chain (the refused connection) in it.
#[tokio::test(flavor = "multi_thread")]
async fn ollama_unreachable_is_logged_once_with_its_cause() {
    let (status, complaints) =
        complaints_about_one_query(&unreachable_ollama(), "no-ollama-1").await;

    assert_eq!(status, 503);
    assert_eq!(complaints.len(), 1, "{complaints:#?}");
    assert!(complaints[0].contains("trace_id"), "{}", complaints[0]);
    assert!(
        complaints[0].to_lowercase().contains("connection refused"),
        "{}",
        complaints[0]
    );
}
