//! `maia migrate`: applies what is pending and reports the status.

use crate::kit::database::record_future_migration;
use crate::kit::process::{output, text};
use crate::kit::{fresh_database, maia};

#[tokio::test(flavor = "multi_thread")]
async fn the_migrate_command_applies_and_reports_status() {
    let db = fresh_database().await;
    let migrate = |args: &[&str]| {
        let mut command = maia();
        command
            .arg("migrate")
            .args(args)
            .env("MAIA_DATABASE__URL", &db.url);
        output(command)
    };

    let before = migrate(&["--status"]).await;
    let applied = migrate(&[]).await;
    let after = migrate(&["--status"]).await;

    assert!(before.status.success(), "{}", text(&before));
    let before = String::from_utf8_lossy(&before.stdout);
    assert!(
        before.contains("pending  V1__consciousness_traces"),
        "{before}"
    );
    assert!(applied.status.success(), "{}", text(&applied));
    let applied = String::from_utf8_lossy(&applied.stdout);
    assert!(applied.contains("applied  V2__personas"), "{applied}");
    let after = String::from_utf8_lossy(&after.stdout);
    assert!(
        after.contains("applied  V1__consciousness_traces") && after.contains("0 pending"),
        "{after}"
    );
}

/// A database a newer maia migrated: every command says so, and none calls it fine.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_newer_than_the_binary_is_named_by_every_command() {
    let db = fresh_database().await;
    let run = |args: &[&str]| {
        let mut command = maia();
        command.args(args).env("MAIA_DATABASE__URL", &db.url);
        output(command)
    };
    assert!(run(&["migrate"]).await.status.success());
    record_future_migration(&db.url).await;

    let newest = maia::embedded_migrations().last().unwrap().0;
    let said = format!("the database is at V999; this maia knows V{newest}; upgrade maia");
    for args in [
        &["migrate", "--status"][..],
        &["migrate"],
        &["check"],
        &["token", "list"],
    ] {
        let out = run(args).await;
        let shown = text(&out);
        assert!(!out.status.success(), "{args:?} succeeded: {shown}");
        assert!(shown.contains(&said), "{args:?}: {shown}");
    }
    let status = text(&run(&["migrate", "--status"]).await);
    assert!(status.contains("unknown  V999"), "{status}");
}

/// refinery creates its history table with `CREATE TABLE IF NOT EXISTS` on every run, and
/// PostgreSQL answers an existing one with a NOTICE that tokio-postgres logs at info: every
/// start said `NOTICE: relation "refinery_schema_history" already exists, skipping`.
#[tokio::test(flavor = "multi_thread")]
async fn migrating_an_up_to_date_database_logs_no_postgresql_notice() {
    let db = fresh_database().await;
    let migrate = || {
        let mut command = maia();
        command
            .arg("migrate")
            .env("MAIA_DATABASE__URL", &db.url)
            .env("MAIA_LOG__LEVEL", "info");
        output(command)
    };

    let first = migrate().await;
    let again = migrate().await;

    assert!(first.status.success(), "{}", text(&first));
    assert!(again.status.success(), "{}", text(&again));
    for run in [&first, &again] {
        let shown = text(run);
        assert!(!shown.contains("NOTICE"), "{shown}");
        assert!(!shown.contains("already exists"), "{shown}");
    }
}
