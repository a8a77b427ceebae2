use maia::settings::Settings;
use secrecy::SecretString;

use crate::helpers::*;

fn db_settings(url: &str) -> Settings {
    let mut s = Settings::default();
    s.database.url = SecretString::from(url.to_string());
    s
}

async fn history(url: &str) -> Vec<i32> {
    psql(url)
        .await
        .query(
            "SELECT version FROM refinery_schema_history ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_apply_to_a_fresh_database_then_are_a_no_op() {
    let url = fresh_database().await;
    let s = db_settings(&url);
    let applied = maia::db::migrate(&s.database).await.unwrap();
    let embedded = maia::db::embedded_migrations();
    assert_eq!(applied, embedded);
    assert!(embedded.len() >= 2);
    let again = maia::db::migrate(&s.database).await.unwrap();
    assert!(again.is_empty(), "re-run applied {again:?}");
    let client = psql(&url).await;
    let count: i64 = client
        .query_one("SELECT COUNT(*) FROM consciousness_traces", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
    let status = maia::db::migration_status(&client).await.unwrap();
    assert_eq!(status.applied.len(), embedded.len());
    assert!(status.pending.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_runners_on_an_empty_database_apply_each_migration_once() {
    let url = fresh_database().await;
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let s = db_settings(&url);
            tokio::spawn(async move { maia::db::migrate(&s.database).await })
        })
        .collect();
    let mut total = 0;
    for run in runs {
        total += run.await.unwrap().expect("every runner succeeds").len();
    }
    let embedded = maia::db::embedded_migrations().len();
    assert_eq!(
        total, embedded,
        "each migration applied by exactly one runner"
    );
    assert_eq!(history(&url).await.len(), embedded);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_on_an_empty_database_lists_everything_as_pending() {
    let url = fresh_database().await;
    let client = psql(&url).await;
    let status = maia::db::migration_status(&client).await.unwrap();
    assert!(status.applied.is_empty());
    assert_eq!(status.pending, maia::db::embedded_migrations());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_migrate_command_applies_and_reports_status() {
    let url = fresh_database().await;
    let out = maia()
        .args(["migrate", "--status"])
        .env("MAIA_DATABASE__URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("pending  V1__consciousness_traces"), "{text}");

    let out = maia()
        .arg("migrate")
        .env("MAIA_DATABASE__URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("applied  V2__personas"));

    let out = maia()
        .args(["migrate", "--status"])
        .env("MAIA_DATABASE__URL", &url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("applied  V1__consciousness_traces") && text.contains("0 pending"),
        "{text}"
    );
}
