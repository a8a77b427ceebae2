//! R10: two Ollama servers under a steady load of queries, one killed in the middle. The
//! only queries that fail are those its answers were streaming to at the kill (a call that
//! fails mid-answer is not tried again), each stored as failed; every other query is
//! answered, by the survivor once the other is gone.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::kit::{decode, fresh_database, settings, start_ollama, stored_traces};
use crate::kit::{Behavior, FakeOllama, TestApp, QUERY_PATH};

/// Clients, each sending a query as soon as its last one was answered.
const CLIENTS: usize = 8;
/// The pause between two lines of an answer: an answer takes about 100 ms, so that at
/// the kill several are on their way.
const LINE_PAUSE: Duration = Duration::from_millis(20);
const LOAD_BEFORE: Duration = Duration::from_millis(2000);
const LOAD_AFTER: Duration = Duration::from_millis(2000);

/// One query as its client saw it.
struct Sent {
    query: String,
    at: Instant,
    status: u16,
}

/// A client's queries until `until`.
async fn client(c: usize, url: String, http: reqwest::Client, until: Instant) -> Vec<Sent> {
    let mut sent = Vec::new();
    while Instant::now() < until {
        let query = format!("r10 client {c} query {}", sent.len());
        let at = Instant::now();
        let request = http.post(&url).json(&json!({ "query": query.clone() }));
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{query}: no answer: {e}"));
        let (status, body) = decode(response).await;
        assert!(status == 200 || status == 502, "{query}: {status} {body}");
        sent.push(Sent { query, at, status });
    }
    sent
}

#[tokio::test(flavor = "multi_thread")]
async fn r10_one_of_two_ollama_servers_killed_under_load_fails_only_what_it_was_answering() {
    let mut killed = start_ollama().await;
    let survivor = start_ollama().await;
    for fake in [&killed, &survivor] {
        fake.set_behavior(Behavior::Trickle(LINE_PAUSE));
    }
    let db = fresh_database().await;
    let mut s = settings(&db.url, &killed.url());
    s.ollama.urls = vec![killed.url(), survivor.url()];
    s.ollama.timeout = 30;
    // The slots are shared by the servers: enough for every client.
    s.ollama.max_concurrent = CLIENTS;
    let app = TestApp::spawn_with(s, FakeOllama::start(&[]).await).await;
    let until = Instant::now() + LOAD_BEFORE + LOAD_AFTER;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(client(c, app.url(QUERY_PATH), app.http.clone(), until)))
        .collect();

    tokio::time::sleep(LOAD_BEFORE).await;
    let killed_before = killed.chat_count();
    let cut_before = killed.cut_streams().len();
    let killed_at = Instant::now();
    killed.kill().await;
    let survivor_at_kill = survivor.chat_count();
    let mut sent = Vec::new();
    for c in clients {
        sent.extend(c.await.expect("a client"));
    }
    // Its answers cut off by the kill: counted as their connections closed.
    let in_flight = killed.cut_streams().len() - cut_before;

    let failed: Vec<&Sent> = sent.iter().filter(|s| s.status != 200).collect();
    let answered = sent.len() - failed.len();
    println!(
        "R10: {} queries, {answered} answered, {} failed ({in_flight} in flight on the killed \
         host); {killed_before} had reached it before the kill",
        sent.len(),
        failed.len()
    );
    assert!(killed_before > 0 && in_flight > 0, "the load reached both");
    assert_eq!(
        failed.len(),
        in_flight,
        "only what was in flight on it fails"
    );
    assert!(
        failed.iter().all(|f| f.at < killed_at),
        "sent before the kill"
    );
    let after: Vec<&Sent> = sent.iter().filter(|s| s.at > killed_at).collect();
    assert!(!after.is_empty());
    assert!(
        survivor.chat_count() - survivor_at_kill >= after.len(),
        "every query after the kill went to the survivor"
    );
    assert_each_failed_one_is_stored_as_failed(&app.db_url, &sent).await;
    app.stop().await;
}

/// Every query has its trace, and the failed ones, and only they, are stored as failed.
async fn assert_each_failed_one_is_stored_as_failed(db_url: &str, sent: &[Sent]) {
    let traces = stored_traces(db_url).await;
    assert_eq!(traces.len(), sent.len(), "each query is stored");
    let mut stored_failed: Vec<&str> = traces
        .iter()
        .filter(|t| t.status == "failed")
        .map(|t| t.query.as_str())
        .collect();
    let mut failed: Vec<&str> = sent
        .iter()
        .filter(|s| s.status != 200)
        .map(|s| s.query.as_str())
        .collect();
    stored_failed.sort_unstable();
    failed.sort_unstable();
    assert_eq!(stored_failed, failed);
}
