//! A graceful stop of the in-process server. (SIGTERM to `maia serve` with queries in
//! flight is fault test R4, in `tests/faults/sigterm.rs`.)

use std::time::Duration;

use serde_json::json;

use crate::kit::{Behavior, TestApp, QUERY_PATH};

#[tokio::test(flavor = "multi_thread")]
async fn a_graceful_stop_lets_the_request_in_flight_finish() {
    let app = TestApp::spawn().await;
    app.ollama
        .set_behavior(Behavior::Delay(Duration::from_millis(800)));
    let request = app
        .http
        .post(app.url(QUERY_PATH))
        .json(&json!({"query": "slow one"}));
    let in_flight = tokio::spawn(request.send());
    // In flight: Ollama has been asked (a fixed sleep lost the race on a busy machine,
    // stopping the server before it had accepted the connection).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.ollama.chat_count() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the query never reached Ollama"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let handle = app.handle.clone();
    let stopping = tokio::spawn(async move { handle.stop(true).await });
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    stopping.await.unwrap();

    assert_eq!(response.status().as_u16(), 200);
    // New connections are refused once stopped.
    assert!(app.http.get(app.url("/livez")).send().await.is_err());
    assert_eq!(app.traces().await.len(), 1);
    app.stop().await;
}
