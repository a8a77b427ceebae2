//! `maia migrate`: applies what is pending and reports the status.

use std::time::{Duration, Instant};

use crate::kit::database::{
    applied_versions, embedded_versions, record_future_migration, shared_cluster,
};
use crate::kit::process::{output, text};
use crate::kit::stall_proxy::StallProxy;
use crate::kit::{free_port, fresh_database, maia};

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

/// A migration job started with its database: it waits as `serve` does, unless told not to.
#[tokio::test(flavor = "multi_thread")]
async fn migrate_waits_for_a_database_that_is_not_up_yet_unless_told_not_to() {
    let db = fresh_database().await;
    let cluster_port = shared_cluster().port();
    let port = free_port();
    let url = db
        .url
        .replace(&format!(":{cluster_port}/"), &format!(":{port}/"));
    assert_ne!(url, db.url);
    let migrate = |args: &[&str]| {
        let mut command = maia();
        command
            .arg("migrate")
            .args(args)
            .env("MAIA_DATABASE__URL", &url);
        output(command)
    };

    let started = Instant::now();
    let impatient = migrate(&["--no-wait"]).await;
    let gave_up_after = started.elapsed();
    let patient = tokio::spawn(migrate(&[]));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _database_up = StallProxy::start_at(port, cluster_port).await;
    let patient = patient.await.unwrap();

    assert_eq!(impatient.status.code(), Some(1), "{}", text(&impatient));
    assert!(
        gave_up_after < Duration::from_secs(5),
        "--no-wait took {gave_up_after:?}"
    );
    assert!(patient.status.success(), "{}", text(&patient));
    assert_eq!(applied_versions(&db.url).await, embedded_versions());
}
