//! R6: a database that stops answering instead of refusing (a stopped process, a hung
//! host): every request still ends within a bound, with 503 or 504, and the probes say
//! the database is unavailable; once it answers again, so does maia.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::kit::database::shared_cluster;
use crate::kit::stall_proxy::StallProxy;
use crate::kit::QUERY_PATH;
use crate::kit::{decode, fresh_database, settings, start_ollama, TestApp};

/// The most any request may take while the database is stalled: the statement timeout
/// (1 s here) and maia's own margin (2 s), plus slack for a loaded machine.
const BOUND: Duration = Duration::from_secs(6);

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_database_costs_each_request_a_bounded_wait() {
    let db = fresh_database().await;
    let proxy = StallProxy::start(shared_cluster().port()).await;
    let through_proxy = db.url.replace(
        &format!(":{}/", shared_cluster().port()),
        &format!(":{}/", proxy.port()),
    );
    let ollama = start_ollama().await;
    let mut s = settings(&through_proxy, &ollama.url());
    s.database.statement_timeout = 1;
    let app = TestApp::spawn_with(s, ollama).await;
    let (warm, _) = app.get("/api/traces").await;
    assert_eq!(warm, 200);

    proxy.stall(true);
    let started = Instant::now();
    let asked: Vec<_> = [
        app.http.get(app.url("/api/traces")),
        app.http
            .post(app.url(QUERY_PATH))
            .json(&json!({ "query": "stalled?" })),
        app.http.get(app.url("/api/personas")),
        app.anonymous.get(app.url("/api/health")),
    ]
    .into_iter()
    .map(|request| {
        tokio::spawn(async move {
            let answered = decode(request.send().await.expect("an answer")).await;
            (answered, Instant::now())
        })
    })
    .collect();
    let mut answers = Vec::new();
    for a in asked {
        answers.push(a.await.unwrap());
    }
    proxy.stall(false);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (recovered, _) = app.get("/api/traces").await;

    for ((status, body), at) in &answers {
        let took = at.duration_since(started);
        assert!([503, 504].contains(status), "{status} {body}");
        assert!(took < BOUND, "answered after {took:?}: {body}");
    }
    assert_eq!(recovered, 200, "maia answers again once the database does");
    app.stop().await;
}
