//! `maia purge [--dry-run]` and `maia serve`'s purge: retention against rows of known age.

use std::collections::BTreeSet;
use std::process::Output;
use std::time::Duration;

use crate::kit::database::count_rows;
use crate::kit::process::{output, serve_when_ready, text};
use crate::kit::retention::{remaining, seed_conversation, seed_trace};
use crate::kit::{maia, migrated_database, psql, wait_until, Database, FakeOllama, Process};

/// `maia purge ARGS` against `db` with `env` (retention's settings).
async fn purge(db: &Database, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = maia();
    command
        .arg("purge")
        .args(args)
        .env("MAIA_DATABASE__URL", &db.url)
        .envs(env.iter().copied());
    output(command).await
}

/// Its standard output, once it succeeded.
fn report(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const THIRTY_AND_NINETY_DAYS: &[(&str, &str)] = &[
    ("MAIA_RETENTION__TRACES_DAYS", "30"),
    ("MAIA_RETENTION__CONVERSATIONS_DAYS", "90"),
];

#[tokio::test(flavor = "multi_thread")]
async fn old_traces_and_idle_conversations_go_and_recent_ones_stay() {
    let db = migrated_database().await;
    let old_trace = seed_trace(&db.url, 31).await;
    let recent_trace = seed_trace(&db.url, 29).await;
    let idle = seed_conversation(&db.url, 91, 2, 1).await;
    let active = seed_conversation(&db.url, 89, 1, 1).await;

    let out = report(&purge(&db, &[], THIRTY_AND_NINETY_DAYS).await);

    assert!(
        out.contains("deleted 1 conversation(s) with 4 message(s), and 3 trace(s)"),
        "{out}"
    );
    assert!(
        out.contains("retention.traces_days = 30: traces made before"),
        "{out}"
    );
    let traces = [
        vec![old_trace, recent_trace],
        idle.traces,
        active.traces.clone(),
    ]
    .concat();
    let kept_traces = BTreeSet::from([recent_trace, active.traces[0]]);
    assert_eq!(
        remaining(&db.url, "consciousness_traces", &traces).await,
        kept_traces
    );
    assert_eq!(
        remaining(&db.url, "conversations", &[idle.id, active.id]).await,
        BTreeSet::from([active.id])
    );
    assert_eq!(count_rows(&db.url, "messages").await, active.messages.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kept_conversation_keeps_its_messages_when_their_traces_expire() {
    let db = migrated_database().await;
    let kept = seed_conversation(&db.url, 1, 2, 40).await;

    let out = report(&purge(&db, &[], THIRTY_AND_NINETY_DAYS).await);

    assert!(
        out.contains("deleted 0 conversation(s) with 0 message(s), and 2 trace(s)"),
        "{out}"
    );
    assert!(remaining(&db.url, "consciousness_traces", &kept.traces)
        .await
        .is_empty());
    assert_eq!(
        remaining(&db.url, "conversations", &[kept.id]).await,
        BTreeSet::from([kept.id])
    );
    let messages = crate::kit::traces::stored_messages(&db.url).await;
    let contents: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        contents,
        ["question 0", "answer 0", "question 1", "answer 1"]
    );
    assert!(
        messages.iter().all(|m| m.trace_id.is_none()),
        "{messages:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn more_rows_than_a_batch_take_several_batches_and_all_go() {
    let db = migrated_database().await;
    for _ in 0..7 {
        seed_trace(&db.url, 40).await;
    }
    for _ in 0..4 {
        seed_conversation(&db.url, 100, 1, 1).await;
    }
    let batches_of_three = [
        THIRTY_AND_NINETY_DAYS,
        &[("MAIA_RETENTION__BATCH_SIZE", "3")],
    ]
    .concat();

    let out = report(&purge(&db, &[], &batches_of_three).await);

    // Conversations: 3, 1; traces: 3, 3, 1.
    assert!(
        out.contains(
            "deleted 4 conversation(s) with 8 message(s), and 11 trace(s), in 5 batch(es)"
        ),
        "{out}"
    );
    assert_eq!(count_rows(&db.url, "consciousness_traces").await, 0);
    assert_eq!(count_rows(&db.url, "conversations").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_counts_what_would_go_and_deletes_nothing() {
    let db = migrated_database().await;
    seed_trace(&db.url, 31).await;
    seed_trace(&db.url, 1).await;
    seed_conversation(&db.url, 91, 3, 95).await;
    seed_conversation(&db.url, 1, 1, 35).await;

    let dry = report(&purge(&db, &["--dry-run"], THIRTY_AND_NINETY_DAYS).await);
    let rows_after_dry_run = count_rows(&db.url, "consciousness_traces").await;
    let done = report(&purge(&db, &[], THIRTY_AND_NINETY_DAYS).await);

    assert!(
        dry.contains("would delete 1 conversation(s) with 6 message(s), and 5 trace(s)")
            && dry.contains("nothing was deleted"),
        "{dry}"
    );
    assert!(
        dry.contains("retention.conversations_days = 90: conversations last active before"),
        "{dry}"
    );
    assert_eq!(rows_after_dry_run, 6);
    assert!(
        done.contains("deleted 1 conversation(s) with 6 message(s), and 5 trace(s)"),
        "{done}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_retention_nothing_is_set_to_expire() {
    let db = migrated_database().await;
    seed_trace(&db.url, 10_000).await;
    let only_traces = [("MAIA_RETENTION__TRACES_DAYS", "30")];

    let unset = report(&purge(&db, &["--dry-run"], &[]).await);
    let unset_purge = report(&purge(&db, &[], &[]).await);
    let half = report(&purge(&db, &["--dry-run"], &only_traces).await);

    for out in [&unset, &unset_purge] {
        assert!(out.contains("nothing is set to expire"), "{out}");
    }
    assert_eq!(count_rows(&db.url, "consciousness_traces").await, 1);
    assert!(
        half.contains("retention.conversations_days = 0: kept forever"),
        "{half}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nonsense_retention_is_a_configuration_error() {
    let db = migrated_database().await;
    for (var, value, said) in [
        (
            "MAIA_RETENTION__TRACES_DAYS",
            "-1",
            "retention.traces_days must be between 0",
        ),
        (
            "MAIA_RETENTION__CONVERSATIONS_DAYS",
            "100000",
            "between 0 (keep forever) and 36500",
        ),
        (
            "MAIA_RETENTION__BATCH_SIZE",
            "0",
            "retention.batch_size must be between 1",
        ),
        (
            "MAIA_RETENTION__INTERVAL_SECONDS",
            "0",
            "retention.interval_seconds must be",
        ),
    ] {
        let out = purge(&db, &["--dry-run"], &[(var, value)]).await;
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {}", text(&out));
        assert!(text(&out).contains(said), "{var}={value}: {}", text(&out));
    }
}

/// `maia serve` on `db`, keeping traces 30 days and purging every second, once ready (with
/// the fake Ollama it was given, held while it serves).
async fn purging_server(db: &Database) -> (Process, FakeOllama) {
    let ollama = crate::kit::start_ollama().await;
    let env = [
        THIRTY_AND_NINETY_DAYS,
        &[("MAIA_RETENTION__INTERVAL_SECONDS", "1")],
    ]
    .concat();
    let (server, _) = serve_when_ready(&db.url, &ollama.url(), 10, &env).await;
    (server, ollama)
}

/// Whether `server` logs `line` within 20 s.
async fn logs(server: &Process, line: &str) -> bool {
    wait_until(Duration::from_secs(20), || async {
        server.log().contains(line)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_server_purges_on_its_interval_logs_it_and_stops_promptly() {
    let db = migrated_database().await;
    let old = seed_trace(&db.url, 31).await;
    let recent = seed_trace(&db.url, 1).await;

    let (mut server, _ollama) = purging_server(&db).await;
    let purged = logs(&server, "retention: purged").await;

    assert!(purged, "no purge logged: {}", server.log());
    assert!(
        server
            .log()
            .contains("purged 0 conversation(s) with 0 message(s), and 1 trace(s)"),
        "{}",
        server.log()
    );
    assert_eq!(
        remaining(&db.url, "consciousness_traces", &[old, recent]).await,
        BTreeSet::from([recent])
    );
    server.assert_stops_cleanly(Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_purge_that_fails_is_logged_and_the_next_one_runs() {
    let db = migrated_database().await;
    let (server, _ollama) = purging_server(&db).await;
    let rename = |from: &str, to: &str| format!("ALTER TABLE {from} RENAME TO {to}");
    let sql = psql(&db.url).await;

    sql.batch_execute(&rename("consciousness_traces", "traces_away"))
        .await
        .unwrap();
    let failed = logs(&server, "retention: the purge failed").await;
    sql.batch_execute(&rename("traces_away", "consciousness_traces"))
        .await
        .unwrap();
    seed_trace(&db.url, 31).await;
    let purged_after = logs(&server, "and 1 trace(s)").await;

    assert!(failed, "no failure logged: {}", server.log());
    assert!(purged_after, "no purge after the failure: {}", server.log());
    assert_eq!(count_rows(&db.url, "consciousness_traces").await, 0);
}
