//! R4: SIGTERM to `maia serve` while queries are in flight.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::fake_ollama::{Behavior, FakeOllama};
use crate::support::*;

const IN_FLIGHT: usize = 8;
const OLLAMA_DELAY: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_every_query_in_flight_finish_store_its_trace_and_exit_zero() {
    let db = fresh_database(shared_cluster()).await;
    let ollama = FakeOllama::start(&[MODEL]).await;
    ollama.set_behavior(Behavior::Delay(OLLAMA_DELAY));
    let port = free_port();
    let mut server = serve(port, &db, &ollama.url());
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        wait_for_200(&format!("{base}/readyz"), Duration::from_secs(20)).await,
        "never ready; log:\n{}",
        server.log_text()
    );

    let requests: Vec<_> = (0..IN_FLIGHT)
        .map(|i| {
            let url = format!("{base}{QUERY_PATH}");
            tokio::spawn(async move {
                let response = http()
                    .post(url)
                    .json(&json!({ "query": format!("r4 in flight {i}") }))
                    .send()
                    .await
                    .expect("answered, not cut off");
                decode(response).await
            })
        })
        .collect();
    // Every query is at Ollama, waiting for its answer, when the signal comes.
    let deadline = Instant::now() + Duration::from_secs(5);
    while ollama.chat_count() < IN_FLIGHT && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        ollama.chat_count(),
        IN_FLIGHT,
        "queries never reached Ollama"
    );
    let signalled = Instant::now();
    server.signal("TERM");

    let mut ids = Vec::new();
    for r in requests {
        let (status, body) = r.await.unwrap();
        assert_eq!(status, 200, "{body}");
        ids.push(
            body["id"]
                .as_str()
                .expect("an id")
                .parse::<uuid::Uuid>()
                .unwrap(),
        );
    }
    let status = server
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("maia serve exits after SIGTERM");
    assert!(status.success(), "{status}; log:\n{}", server.log_text());
    assert!(
        signalled.elapsed() < OLLAMA_DELAY + Duration::from_secs(5),
        "took {:?} to stop",
        signalled.elapsed()
    );
    // Once stopped, nothing listens any more.
    assert!(http().get(format!("{base}/livez")).send().await.is_err());

    let stored = stored_traces(&db).await;
    for id in &ids {
        assert!(
            stored
                .iter()
                .any(|(s, status, _, _)| s == id && status == "ok"),
            "answered query {id} has no trace"
        );
    }
    assert_eq!(stored.len(), IN_FLIGHT);
    ollama.stop().await;
}
