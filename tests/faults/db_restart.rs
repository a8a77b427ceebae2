//! R1: PostgreSQL stopped and started again, on the same port, under a steady query load.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use maia::startup::Application;
use serde_json::{json, Value};

use crate::fake_ollama::FakeOllama;
use crate::support::*;

/// Clients sending queries one after another.
const CLIENTS: usize = 4;
/// Pause between two queries of one client.
const PAUSE: Duration = Duration::from_millis(20);
const LOAD_BEFORE: Duration = Duration::from_millis(1000);
/// The database stays down until the clients have seen this many 503s (a fast or a loaded
/// machine sends more or fewer queries in a given time), for at least `OUTAGE`, and for at
/// most `MAX_OUTAGE`.
const REFUSALS_WANTED: usize = 4;
const OUTAGE: Duration = Duration::from_millis(1500);
const MAX_OUTAGE: Duration = Duration::from_secs(10);
const LOAD_AFTER: Duration = Duration::from_millis(3000);
/// How soon after the database returns the server must answer queries again.
const RECOVERY: Duration = Duration::from_secs(2);

struct Outcome {
    sent: Instant,
    done: Instant,
    status: u16,
    body: Value,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restart_under_load_loses_no_answered_query_and_recovers_by_itself() {
    let mut cluster = start_cluster("r1");
    let db = fresh_database(&cluster).await;
    let ollama = FakeOllama::start(&[MODEL]).await;
    let app = Application::build(settings(&db, &ollama.url()))
        .await
        .expect("the app starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let server = tokio::spawn(app.run_until_stopped());

    let stop = Arc::new(AtomicBool::new(false));
    let refusals = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let stop = stop.clone();
            let refusals = refusals.clone();
            let url = format!("{base}{QUERY_PATH}");
            tokio::spawn(async move {
                let http = http();
                let mut outcomes = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let sent = Instant::now();
                    let response = http
                        .post(&url)
                        .json(&json!({ "query": format!("r1 client {c} query {n}") }))
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("query {n} of client {c} got no answer: {e}"));
                    let (status, body) = decode(response).await;
                    if status == 503 {
                        refusals.fetch_add(1, Ordering::SeqCst);
                    }
                    outcomes.push(Outcome {
                        sent,
                        done: Instant::now(),
                        status,
                        body,
                    });
                    tokio::time::sleep(PAUSE).await;
                }
                outcomes
            })
        })
        .collect();

    tokio::time::sleep(LOAD_BEFORE).await;
    let mut cluster = tokio::task::spawn_blocking(move || {
        cluster.stop().expect("stop PostgreSQL");
        cluster
    })
    .await
    .unwrap();
    let down_at = Instant::now();
    while down_at.elapsed() < MAX_OUTAGE
        && (down_at.elapsed() < OUTAGE || refusals.load(Ordering::SeqCst) < REFUSALS_WANTED)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let port = cluster.port();
    let mut cluster = tokio::task::spawn_blocking(move || {
        cluster.start_again().expect("start PostgreSQL again");
        cluster
    })
    .await
    .unwrap();
    let up_at = Instant::now();
    assert_eq!(
        cluster.port(),
        port,
        "the database must come back on its port"
    );
    let ready = wait_for_200(&format!("{base}/readyz"), RECOVERY).await;
    let ready_after = up_at.elapsed();
    tokio::time::sleep(LOAD_AFTER.saturating_sub(ready_after)).await;
    stop.store(true, Ordering::SeqCst);
    let mut outcomes = Vec::new();
    for client in clients {
        outcomes.extend(client.await.expect("a client task"));
    }

    // Every answer is a 200 or a clear 503 naming the database.
    let mut answered = Vec::new();
    let mut refused = 0;
    for o in &outcomes {
        match o.status {
            200 => answered.push(
                o.body["id"]
                    .as_str()
                    .and_then(|s| s.parse::<uuid::Uuid>().ok())
                    .unwrap_or_else(|| panic!("a 200 without an id: {}", o.body)),
            ),
            503 => {
                assert_eq!(error_code(&o.body), "database_unavailable", "{}", o.body);
                refused += 1;
            }
            other => panic!("unexpected {other} during the outage: {}", o.body),
        }
    }
    assert!(
        refused > 0,
        "no request saw the outage ({} answered)",
        answered.len()
    );

    // Recovery: readyz, and queries, within RECOVERY of the database's return.
    assert!(
        ready,
        "/readyz was not 200 within {RECOVERY:?} of PostgreSQL's return"
    );
    let first_ok_after = outcomes
        .iter()
        .filter(|o| o.status == 200 && o.sent >= up_at)
        .map(|o| o.done.duration_since(up_at))
        .min()
        .expect("no query was answered after PostgreSQL came back");
    assert!(
        first_ok_after <= RECOVERY,
        "first answer {first_ok_after:?} after PostgreSQL came back"
    );
    let late_failures = outcomes
        .iter()
        .filter(|o| o.sent >= up_at + RECOVERY && o.status != 200)
        .count();
    assert_eq!(
        late_failures, 0,
        "queries still failing {RECOVERY:?} after PostgreSQL came back"
    );

    // Nothing answered is lost.
    let stored = stored_traces(&db).await;
    let lost: Vec<_> = answered
        .iter()
        .filter(|id| {
            !stored
                .iter()
                .any(|(s, status, _, _)| s == *id && status == "ok")
        })
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered queries have no trace: {lost:?}",
        lost.len(),
        answered.len()
    );
    eprintln!(
        "R1: {} queries, {} answered, {refused} refused with 503; ready {ready_after:?} and answering {first_ok_after:?} after PostgreSQL returned",
        outcomes.len(),
        answered.len()
    );

    handle.stop(true).await;
    let _ = server.await;
    ollama.stop().await;
    tokio::task::spawn_blocking(move || cluster.stop().expect("stop PostgreSQL"))
        .await
        .unwrap();
}
