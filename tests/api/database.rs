//! A database that is busy, not gone: a table locked elsewhere or every pooled connection
//! taken. The probes keep answering on a connection of their own, and requests get a quick
//! 503 `database_busy`, not "unavailable" and not a wait without end.

use std::time::{Duration, Instant};

use crate::kit::{decode, error_code, fresh_database, psql, settings, start_ollama, TestApp};

/// `/api/health` and `/readyz`, every 200 ms for `how_long`: their statuses and times.
async fn probe_for(app: &TestApp, how_long: Duration) -> Vec<(u16, u16, Duration)> {
    let started = Instant::now();
    let mut probes = Vec::new();
    while started.elapsed() < how_long {
        let asked = Instant::now();
        let health = app
            .anonymous
            .get(app.url("/api/health"))
            .send()
            .await
            .unwrap();
        let ready = app.anonymous.get(app.url("/readyz")).send().await.unwrap();
        probes.push((
            health.status().as_u16(),
            ready.status().as_u16(),
            asked.elapsed(),
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    probes
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_table_is_busy_for_requests_while_the_probes_answer() {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let mut s = settings(&db.url, &ollama.url());
    s.database.statement_timeout = 1;
    s.database.pool_size = 2;
    let app = TestApp::spawn_with(s, ollama).await;
    let locker = psql(&db.url).await;
    locker
        .batch_execute("BEGIN; LOCK TABLE consciousness_traces IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    let started = Instant::now();
    let requests: Vec<_> = (0..4)
        .map(|_| {
            let request = app.http.get(app.url("/api/traces")).send();
            tokio::spawn(async move { decode(request.await.unwrap()).await })
        })
        .collect();
    let probes = probe_for(&app, Duration::from_millis(2500)).await;
    let mut answers = Vec::new();
    for r in requests {
        answers.push(r.await.unwrap());
    }
    let took = started.elapsed();
    locker.batch_execute("ROLLBACK").await.unwrap();
    let (after, _) = app.get("/api/traces").await;

    for (status, body) in &answers {
        assert_eq!(
            (*status, error_code(body)),
            (503, "database_busy"),
            "{body}"
        );
    }
    assert!(
        took < Duration::from_secs(6),
        "the busy answers took {took:?}"
    );
    for (health, ready, took) in probes {
        assert_eq!(
            (health, ready),
            (200, 200),
            "the probes say the database is there"
        );
        assert!(took < Duration::from_secs(1), "a probe took {took:?}");
    }
    assert_eq!(after, 200, "served again once the lock is gone");
    app.stop().await;
}
