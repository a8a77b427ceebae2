//! Retention in a running server: its purge, every `retention.interval_seconds`, takes
//! what expired and leaves a kept conversation whole.

use std::time::Duration;

use serde_json::json;

use crate::kit::database::count_rows;
use crate::kit::retention::age_everything;
use crate::kit::{wait_until, TestApp};

/// An app purging every second with these retentions, and a conversation in it where
/// `question` was answered: its id.
async fn app_with_a_conversation(
    traces_days: i64,
    conversations_days: i64,
    question: &str,
) -> (TestApp, String) {
    let app = TestApp::spawn_configured(|s| {
        s.retention.traces_days = traces_days;
        s.retention.conversations_days = conversations_days;
        s.retention.interval_seconds = 1;
    })
    .await;
    let id = app.start_conversation(json!({})).await;
    let path = format!("/api/conversations/{id}/messages");
    let (asked, answer) = app.post_json(&path, &json!({ "content": question })).await;
    assert_eq!(asked, 200, "{answer}");
    (app, id)
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_traces_go_and_a_kept_conversation_still_shows_its_messages() {
    let (app, id) = app_with_a_conversation(1, 0, "Kept?").await;
    let (queried, _) = app.query(json!({"query": "One-off"})).await;
    assert_eq!(queried, 200);
    age_everything(&app.db_url, 2).await;

    let purged = wait_until(Duration::from_secs(20), || async {
        count_rows(&app.db_url, "consciousness_traces").await == 0
    })
    .await;
    let (status, view) = app.get(&format!("/api/conversations/{id}")).await;

    assert!(purged, "the traces are still there");
    assert_eq!(status, 200, "{view}");
    let messages = view["messages"].as_array().expect("messages");
    let contents: Vec<&str> = messages
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["Kept?", "echo: Kept?"]);
    assert!(messages.iter().all(|m| m["trace_id"].is_null()), "{view}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recent_rows_stay_through_the_purges() {
    let (app, _) = app_with_a_conversation(1, 1, "Recent").await;

    // The first purge comes a second after start, the next a second later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let kept = (
        count_rows(&app.db_url, "consciousness_traces").await,
        count_rows(&app.db_url, "messages").await,
    );
    age_everything(&app.db_url, 2).await;
    let purged = wait_until(Duration::from_secs(20), || async {
        count_rows(&app.db_url, "conversations").await == 0
    })
    .await;

    assert_eq!(kept, (1, 2));
    assert!(purged, "the conversation is still there");
    assert_eq!(count_rows(&app.db_url, "consciousness_traces").await, 0);
    assert_eq!(count_rows(&app.db_url, "messages").await, 0);
    app.stop().await;
}
