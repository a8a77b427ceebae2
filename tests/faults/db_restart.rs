//! R1: PostgreSQL stopped and started again, on the same port, under a steady query load.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use maia::Cluster;
use serde_json::{json, Value};

use crate::kit::database::{database_in, own_cluster};
use crate::kit::tokens::client_with;
use crate::kit::traces::has_ok_trace;
use crate::kit::{decode, error_code, settings, start_ollama, stored_traces};
use crate::kit::{wait_for_200, TestApp, QUERY_PATH};

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

/// `CLIENTS` clients querying until stopped, counting the 503s they see.
struct Load {
    stop: Arc<AtomicBool>,
    refusals: Arc<AtomicUsize>,
    clients: Vec<tokio::task::JoinHandle<Vec<Outcome>>>,
}

impl Load {
    fn start(query_url: &str, token: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let refusals = Arc::new(AtomicUsize::new(0));
        let clients = (0..CLIENTS)
            .map(|c| {
                let (stop, refusals) = (stop.clone(), refusals.clone());
                let (url, token) = (query_url.to_string(), token.to_string());
                tokio::spawn(client(c, url, token, stop, refusals))
            })
            .collect();
        Load {
            stop,
            refusals,
            clients,
        }
    }

    fn refusals(&self) -> usize {
        self.refusals.load(Ordering::SeqCst)
    }

    /// Stops the clients; every outcome they saw.
    async fn finish(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::SeqCst);
        let mut outcomes = Vec::new();
        for client in self.clients {
            outcomes.extend(client.await.expect("a client task"));
        }
        outcomes
    }
}

async fn client(
    c: usize,
    url: String,
    token: String,
    stop: Arc<AtomicBool>,
    refusals: Arc<AtomicUsize>,
) -> Vec<Outcome> {
    let http = client_with(&token);
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
        let done = Instant::now();
        outcomes.push(Outcome {
            sent,
            done,
            status,
            body,
        });
        tokio::time::sleep(PAUSE).await;
    }
    outcomes
}

/// Stops PostgreSQL, keeps it down as `REFUSALS_WANTED` and `OUTAGE` say, and starts it
/// again; when it was back.
async fn outage(cluster: &mut Option<Cluster>, load: &Load) -> Instant {
    let mut db = cluster.take().expect("a cluster");
    let mut db = tokio::task::spawn_blocking(move || {
        db.stop().expect("stop PostgreSQL");
        db
    })
    .await
    .unwrap();
    let down_at = Instant::now();
    while down_at.elapsed() < MAX_OUTAGE
        && (down_at.elapsed() < OUTAGE || load.refusals() < REFUSALS_WANTED)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let port = db.port();
    let db = tokio::task::spawn_blocking(move || {
        db.start_again().expect("start PostgreSQL again");
        db
    })
    .await
    .unwrap();
    assert_eq!(db.port(), port, "the database must come back on its port");
    *cluster = Some(db);
    Instant::now()
}

/// The ids of the queries answered 200; panics on any answer but a 200 or a 503 naming
/// the database. Also returns how many were refused.
fn answered_ids(outcomes: &[Outcome]) -> (Vec<uuid::Uuid>, usize) {
    let mut answered = Vec::new();
    let mut refused = 0;
    for o in outcomes {
        match o.status {
            200 => answered.push(
                o.body["id"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("a 200 without an id: {}", o.body)),
            ),
            503 => {
                assert_eq!(error_code(&o.body), "database_unavailable", "{}", o.body);
                refused += 1;
            }
            other => panic!("unexpected {other} during the outage: {}", o.body),
        }
    }
    (answered, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restart_under_load_loses_no_answered_query_and_recovers_by_itself() {
    let mut cluster = Some(own_cluster("r1"));
    let db = database_in(cluster.as_ref().unwrap()).await;
    let ollama = start_ollama().await;
    let app = TestApp::spawn_with(settings(&db.url, &ollama.url()), ollama).await;
    let load = Load::start(&app.url(QUERY_PATH), &app.token);

    tokio::time::sleep(LOAD_BEFORE).await;
    let up_at = outage(&mut cluster, &load).await;
    let ready = wait_for_200(&app.url("/readyz"), RECOVERY).await;
    let ready_after = up_at.elapsed();
    tokio::time::sleep(LOAD_AFTER.saturating_sub(ready_after)).await;
    let outcomes = load.finish().await;

    // Every answer is a 200 or a clear 503 naming the database.
    let (answered, refused) = answered_ids(&outcomes);
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
    let stored = stored_traces(&db.url).await;
    let lost: Vec<_> = answered
        .iter()
        .filter(|id| !has_ok_trace(&stored, **id))
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
    app.stop().await.stop().await;
    let mut cluster = cluster.take().expect("the cluster");
    tokio::task::spawn_blocking(move || cluster.stop().expect("stop PostgreSQL"))
        .await
        .unwrap();
}
