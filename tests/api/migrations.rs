//! Migrations through the library: applied once, safe to run concurrently, reported.
//! (`maia migrate` itself is in `tests/cli`.)

use maia::{embedded_migrations, migrate, migration_status, Secret, Settings};

use crate::kit::database::{applied_versions, count_rows, embedded_versions};
use crate::kit::{fresh_database, psql};

fn database_settings(url: &str) -> Settings {
    let mut s = Settings::default();
    s.database.url = Secret::new(url);
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_apply_to_a_fresh_database_then_are_a_no_op() {
    let db = fresh_database().await;
    let s = database_settings(&db.url);

    let applied = migrate(&s.database).await.expect("the first run");
    let again = migrate(&s.database).await.expect("the second run");
    let status = migration_status(&psql(&db.url).await)
        .await
        .expect("status");

    let embedded = embedded_migrations();
    assert!(embedded.len() >= 2);
    assert_eq!(applied, embedded);
    assert!(again.is_empty(), "re-run applied {again:?}");
    assert_eq!(count_rows(&db.url, "consciousness_traces").await, 0);
    assert_eq!(status.applied.len(), embedded.len());
    assert!(status.pending.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_runners_on_an_empty_database_apply_each_migration_once() {
    let db = fresh_database().await;

    let runs: Vec<_> = (0..4)
        .map(|_| {
            let s = database_settings(&db.url);
            tokio::spawn(async move { migrate(&s.database).await.map(|applied| applied.len()) })
        })
        .collect();
    let mut total = 0;
    for run in runs {
        total += run
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("a runner failed: {e}"));
    }

    assert_eq!(
        total,
        embedded_migrations().len(),
        "each migration applied by exactly one runner"
    );
    assert_eq!(applied_versions(&db.url).await, embedded_versions());
}

#[tokio::test(flavor = "multi_thread")]
async fn status_on_an_empty_database_lists_everything_as_pending() {
    let db = fresh_database().await;

    let status = migration_status(&psql(&db.url).await)
        .await
        .expect("status");

    assert!(status.applied.is_empty());
    assert_eq!(status.pending, embedded_migrations());
}

/// The migrations as this test binary embeds them, to stop part way (the same files, so
/// refinery sees the same checksums when maia applies the rest).
mod embedded {
    refinery::embed_migrations!("migrations");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_question_whose_client_left_before_v7_becomes_cancelled() {
    let db = fresh_database().await;
    let mut client = psql(&db.url).await;
    embedded::migrations::runner()
        .set_target(refinery::Target::Version(6))
        .run_async(&mut client)
        .await
        .expect("migrations up to V6");
    client
        .batch_execute(
            "INSERT INTO consciousness_traces \
             (id, query, mode, model, status, error, error_code, latency_ms) VALUES \
             ('00000000-0000-4000-8000-000000000001', 'left', 'fast', 'm', 'failed', \
              'cancelled: the client disconnected before the answer', 'client_closed_request', 5), \
             ('00000000-0000-4000-8000-000000000002', 'timed out', 'fast', 'm', 'failed', \
              'Ollama sent nothing for 1 s', 'llm_timeout', 5)",
        )
        .await
        .expect("traces from before V7");

    let applied = migrate(&database_settings(&db.url).database)
        .await
        .expect("the rest");

    assert_eq!(applied.first().map(|m| m.0), Some(7), "{applied:?}");
    let rows = client
        .query(
            "SELECT query, status FROM consciousness_traces ORDER BY query",
            &[],
        )
        .await
        .unwrap();
    let statuses: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        statuses,
        [
            ("left".to_string(), "cancelled".to_string()),
            ("timed out".to_string(), "failed".to_string())
        ]
    );
}
