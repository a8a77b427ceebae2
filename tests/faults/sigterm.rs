//! R4: SIGTERM to `maia serve` while queries are in flight.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::kit::database::Database;
use crate::kit::process::serve_when_ready;
use crate::kit::tokens::{issue_token, ALL_SCOPES};
use crate::kit::traces::has_ok_trace;
use crate::kit::{decode, fresh_database, http_client, psql, start_ollama};
use crate::kit::{stored_traces, Behavior, FakeOllama, Process, QUERY_PATH};

const IN_FLIGHT: usize = 8;
const OLLAMA_DELAY: Duration = Duration::from_millis(1500);

/// `IN_FLIGHT` queries to `base`, sent at once; each one's status and body.
fn send_queries(base: &str, token: &str) -> Vec<JoinHandle<(u16, Value)>> {
    (0..IN_FLIGHT)
        .map(|i| {
            let request = http_client()
                .post(format!("{base}{QUERY_PATH}"))
                .bearer_auth(token)
                .json(&json!({ "query": format!("r4 in flight {i}") }));
            tokio::spawn(async move {
                decode(request.send().await.expect("answered, not cut off")).await
            })
        })
        .collect()
}

/// Waits (up to 5 s) until every query is at Ollama, waiting for its answer.
async fn wait_until_all_at_ollama(ollama: &FakeOllama) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while ollama.chat_count() < IN_FLIGHT && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        ollama.chat_count(),
        IN_FLIGHT,
        "queries never reached Ollama"
    );
}

/// `maia serve` on `db` and `ollama` with `grace` seconds of shutdown grace, once ready:
/// the process and its base URL.
async fn start_server(db: &Database, ollama: &FakeOllama, grace: u64) -> (Process, String) {
    serve_when_ready(&db.url, &ollama.url(), grace, &[]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_every_query_in_flight_finish_store_its_trace_and_exit_zero() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    ollama.set_behavior(Behavior::Delay(OLLAMA_DELAY));
    let (mut server, base) = start_server(&db, &ollama, 10).await;
    let token = issue_token(&db.url, "r4", ALL_SCOPES).await;
    let requests = send_queries(&base, &token.token);
    wait_until_all_at_ollama(&ollama).await;

    let signalled = Instant::now();
    server.signal("TERM");
    let mut answers = Vec::new();
    for r in requests {
        answers.push(r.await.unwrap());
    }
    let exit = server.wait_exit(Duration::from_secs(10)).await;
    let stopped_after = signalled.elapsed();

    assert!(
        exit.is_some_and(|s| s.success()),
        "after SIGTERM: {exit:?}; its log:\n{}",
        server.log()
    );
    assert!(
        stopped_after < OLLAMA_DELAY + Duration::from_secs(5),
        "took {stopped_after:?} to stop"
    );
    // Once stopped, nothing listens any more.
    assert!(http_client()
        .get(format!("{base}/livez"))
        .send()
        .await
        .is_err());
    let stored = stored_traces(&db.url).await;
    assert_eq!(stored.len(), IN_FLIGHT);
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        let id = body["id"].as_str().and_then(|s| s.parse().ok());
        let id = id.unwrap_or_else(|| panic!("an answer without an id: {body}"));
        assert!(
            has_ok_trace(&stored, id),
            "answered query {id} has no trace"
        );
    }
    ollama.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_still_unanswered_when_the_grace_ends_is_stored_as_failed_and_counted() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    ollama.set_behavior(Behavior::Hang);
    let (mut server, base) = start_server(&db, &ollama, 1).await;
    let token = issue_token(&db.url, "r4-cut", ALL_SCOPES).await;
    let asked = http_client()
        .post(format!("{base}{QUERY_PATH}"))
        .bearer_auth(&token.token)
        .json(&json!({ "query": "cut off by the shutdown" }))
        .send();
    let asked = tokio::spawn(asked);
    let deadline = Instant::now() + Duration::from_secs(5);
    while ollama.chat_count() < 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ollama.chat_count(), 1, "the query never reached Ollama");

    server.assert_stops_cleanly(Duration::from_secs(10)).await;
    let answer = asked.await.unwrap();

    assert!(answer.is_err(), "an answer after the grace: {answer:?}");
    let stored = stored_traces(&db.url).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    let trace = &stored[0];
    assert_eq!(trace.query, "cut off by the shutdown");
    assert_eq!(trace.status, "failed");
    assert_eq!(trace.error_code.as_deref(), Some("shutdown"));
    assert_eq!(trace.token_id, Some(token.id));
    let error = trace.error.as_deref().unwrap_or_default();
    assert!(error.contains("http.shutdown_grace = 1 s"), "{error}");
    let log = server.log();
    assert!(
        log.contains("1 question(s) still unanswered when the shutdown grace ended"),
        "{log}"
    );
    ollama.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_council_cut_off_by_the_shutdown_is_stored_failed_with_each_voice_cut_off() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    ollama.set_behavior(Behavior::Hang);
    let council = [("MAIA_COUNCIL__PERSONAS", "coach, contrarian")];
    let (mut server, base) = serve_when_ready(&db.url, &ollama.url(), 1, &council).await;
    let token = issue_token(&db.url, "r4-council", ALL_SCOPES).await;
    let asked = http_client()
        .post(format!("{base}{QUERY_PATH}"))
        .bearer_auth(&token.token)
        .json(&json!({ "query": "a council cut off", "mode": "council" }))
        .send();
    let asked = tokio::spawn(asked);
    let deadline = Instant::now() + Duration::from_secs(5);
    while ollama.chat_count() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        ollama.chat_count(),
        2,
        "both voices of the council were asked"
    );

    server.assert_stops_cleanly(Duration::from_secs(10)).await;
    let (status, body) = decode(asked.await.unwrap().expect("answered before the end")).await;

    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("shutdown")),
        "{body}"
    );
    let row = psql(&db.url)
        .await
        .query_one(
            "SELECT status, error_code, mode, council FROM consciousness_traces",
            &[],
        )
        .await
        .unwrap();
    let stored: [Option<String>; 3] = [row.get(0), row.get(1), row.get(2)];
    assert_eq!(
        stored,
        [
            Some("failed".into()),
            Some("shutdown".into()),
            Some("council".into())
        ]
    );
    let council: Value = row.get::<_, Option<Value>>(3).expect("the voices kept");
    let voices: Vec<(&str, &str)> = council
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["persona"].as_str().unwrap(),
                v["error_code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(voices, [("coach", "shutdown"), ("contrarian", "shutdown")]);
    ollama.stop().await;
}
