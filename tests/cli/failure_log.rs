//! How `maia serve` logs a question the model could not answer: once, with its trace.

use std::time::Duration;

use serde_json::json;

use crate::kit::process::serve;
use crate::kit::tokens::{issue_token, ALL_SCOPES};
use crate::kit::{free_port, fresh_database, http_client, maia, wait_for_200};
use crate::kit::{FakeOllama, Process, DEEP_MODEL, MODEL, QUERY_PATH};

/// The model missing from Ollama was logged twice, at warn by the service that stored the
/// failed trace and at error by the HTTP layer that answered 502.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_model_is_logged_once() {
    let db = fresh_database().await;
    let ollama = FakeOllama::start(&[DEEP_MODEL]).await;
    let port = free_port();
    let mut command = serve(maia(), port, &db.url, &ollama.url());
    command.env("MAIA_LOG__FORMAT", "json");
    let mut server = Process::spawn(command);
    let base = format!("http://127.0.0.1:{port}");
    let ready = wait_for_200(&format!("{base}/readyz"), Duration::from_secs(20)).await;
    assert!(ready, "{}", server.log());
    let token = issue_token(&db.url, "asker", ALL_SCOPES).await.token;

    let answer = http_client()
        .post(format!("{base}{QUERY_PATH}"))
        .bearer_auth(&token)
        .header("x-request-id", "missing-model-1")
        .json(&json!({ "query": "anyone there?" }))
        .send()
        .await
        .unwrap();
    server.assert_stops_cleanly(Duration::from_secs(10)).await;

    assert_eq!(answer.status(), 502);
    let log = server.log();
    let complaints: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("missing-model-1"))
        .filter(|line| line.contains(r#""level":"WARN""#) || line.contains(r#""level":"ERROR""#))
        .collect();
    assert_eq!(complaints.len(), 1, "{complaints:#?}");
    assert!(complaints[0].contains(MODEL), "{}", complaints[0]);
    assert!(complaints[0].contains("trace_id"), "{}", complaints[0]);
}
