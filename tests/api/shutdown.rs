use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use crate::fake_ollama::{Behavior, FakeOllama};
use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_graceful_stop_lets_the_request_in_flight_finish() {
    let app = TestApp::spawn().await;
    app.ollama
        .set_behavior(Behavior::Delay(Duration::from_millis(800)));
    let http = app.http.clone();
    let url = app.url("/api/consciousness/query");
    let in_flight = tokio::spawn(async move {
        http.post(url)
            .json(&json!({"query": "slow one"}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let handle = app.handle.clone();
    let stopping = tokio::spawn(async move { handle.stop(true).await });

    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(response.status().as_u16(), 200);
    stopping.await.unwrap();
    // New connections are refused once stopped.
    assert!(app.http.get(app.url("/livez")).send().await.is_err());
    assert_eq!(app.traces_in_db().await.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_in_flight_requests_and_exits_zero() {
    let db = fresh_database().await;
    let ollama = FakeOllama::start(&[MODEL]).await;
    ollama.set_behavior(Behavior::Delay(Duration::from_millis(1000)));
    let port = closed_port();
    let child = maia()
        .arg("serve")
        .env("MAIA_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("MAIA_DATABASE__URL", &db)
        .env("MAIA_OLLAMA__URL", ollama.url())
        .env("MAIA_OLLAMA__MODEL", MODEL)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Process(child);
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_for_200(&format!("{base}/readyz"), Duration::from_secs(20)).await);

    let requests: Vec<_> = (0..3)
        .map(|i| {
            let url = format!("{base}/api/consciousness/query");
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .json(&json!({"query": format!("in flight {i}")}))
                    .send()
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&child.0, "TERM");
    for r in requests {
        let r = r.await.unwrap().expect("answered, not cut off");
        assert_eq!(r.status().as_u16(), 200);
    }
    let status = wait_exit(&mut child.0, Duration::from_secs(10))
        .await
        .expect("exits");
    assert!(status.success(), "{status}");
    let stored: i64 = psql(&db)
        .await
        .query_one(
            "SELECT COUNT(*) FROM consciousness_traces WHERE status = 'ok'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 3);
}
