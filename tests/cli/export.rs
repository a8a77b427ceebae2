//! `maia export` and `maia import`: files that are not exports, `--since`, tokens. The round
//! trip itself is fault test R9 (`tests/faults/export_roundtrip.rs`).

use std::process::Output;

use crate::kit::database::count_rows;
use crate::kit::export::{database_with_knowledge, export, export_to, import, seed_everything};
use crate::kit::knowledge::{bindir_without_pgvector, database_from};
use crate::kit::process::text;
use crate::kit::tokens::{issue_token, sha256};
use crate::kit::{fresh_database, psql, Scratch};

/// Its standard error, once it failed.
fn failure(out: &Output) -> String {
    assert!(!out.status.success(), "it succeeded: {}", text(out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn header() -> String {
    let schema = crate::kit::database::embedded_versions()
        .into_iter()
        .max()
        .unwrap();
    format!("{{\"kind\":\"maia-export\",\"format\":1,\"schema\":{schema}}}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_is_not_an_export_or_of_an_unknown_format_is_refused() {
    let scratch = Scratch::new("import-refused");
    let db = database_with_knowledge().await;
    let newer = "{\"kind\":\"maia-export\",\"format\":1,\"schema\":9999}\n".to_string();
    let cases = [
        (
            "notes.ndjson",
            "hello\n".to_string(),
            "line 1: not a maia export",
        ),
        ("empty.ndjson", String::new(), "the file is empty"),
        (
            "format2.ndjson",
            "{\"kind\":\"maia-export\",\"format\":2,\"schema\":11}\n".into(),
            "format is 2, and this maia reads format 1 only",
        ),
        ("newer.ndjson", newer, "made by a newer maia (schema V9999"),
    ];
    for (name, contents, expected) in cases {
        let out = import(&db, &scratch.write(name, &contents)).await;
        let error = failure(&out);
        assert!(error.contains(expected), "{name}: {error}");
    }
    let out = import(&db, &scratch.path("missing.ndjson")).await;
    assert!(failure(&out).contains("cannot read"));
    let unmigrated = fresh_database().await;
    let file = scratch.write("ok.ndjson", &format!("{}\n", header()));
    let error = failure(&import(&unmigrated, &file).await);
    assert!(error.contains("run `maia migrate`"), "{error}");
    assert!(failure(&export(&unmigrated, &[]).await).contains("run `maia migrate`"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_line_stops_the_import_naming_it_and_its_batch_is_not_written() {
    let scratch = Scratch::new("import-malformed");
    let db = database_with_knowledge().await;
    let trace = |n: u32| {
        format!(
            "{{\"kind\":\"trace\",\"id\":\"00000000-0000-4000-8000-00000000000{n}\",\
             \"query\":\"q\",\"response\":\"a\",\"mode\":\"fast\",\"model\":\"m\",\
             \"status\":\"ok\",\"latency_ms\":1,\"created_at\":\"2026-12-01T00:00:00.000000Z\"}}"
        )
    };
    let cases = [
        (
            format!("{}\n{}\n{{not json\n", header(), trace(1)),
            "line 3: not a JSON object",
        ),
        (
            format!("{}\n{}\n{{\"kind\":\"spaceship\"}}\n", header(), trace(1)),
            "line 3: unknown kind \"spaceship\"",
        ),
        (
            format!("{}\n{}\n{{\"kind\":\"trace\"}}\n", header(), trace(1)),
            "line 3: a trace without its \"id\"",
        ),
        (
            format!(
                "{}\n{}\n{{\"kind\":\"token\",\"id\":\"x\"}}\n",
                header(),
                trace(1)
            ),
            "line 3: a token after the traces",
        ),
        (
            format!(
                "{}\n{}\n{}\n",
                header(),
                trace(1),
                trace(2).replace("\"fast\"", "\"slow\"")
            ),
            "lines 2 to 3 (trace): the database refused them: new row for relation \
             \"consciousness_traces\" violates check constraint \
             \"consciousness_traces_mode_check\"",
        ),
    ];
    for (n, (contents, expected)) in cases.into_iter().enumerate() {
        let out = import(&db, &scratch.write(&format!("{n}.ndjson"), &contents)).await;
        let error = failure(&out);
        assert!(error.contains(expected), "case {n}: {error}");
        assert_eq!(
            count_rows(&db.url, "consciousness_traces").await,
            0,
            "case {n}"
        );
    }
    let long = format!("{}\n{}\n", header(), "x".repeat(9 << 20));
    let out = import(&db, &scratch.write("long.ndjson", &long)).await;
    assert!(failure(&out).contains("line 2: longer than 8388608 bytes"));
}

#[tokio::test(flavor = "multi_thread")]
async fn since_keeps_newer_rows_and_every_persona_and_token_and_a_bad_date_is_refused() {
    let scratch = Scratch::new("export-since");
    let db = database_with_knowledge().await;
    let seeded = seed_everything(&db).await;
    psql(&db.url)
        .await
        .execute(
            "UPDATE consciousness_traces SET created_at = '2020-01-01Z' WHERE id = $1",
            &[&seeded.trace],
        )
        .await
        .unwrap();

    let since = export(&db, &["--since", "2021-06-01"]).await;
    let all = String::from_utf8(export_to(&db, &scratch.path("all.ndjson")).await).unwrap();

    assert!(since.status.success(), "{}", text(&since));
    let since = String::from_utf8(since.stdout).unwrap();
    assert!(all.contains(&seeded.trace.to_string()));
    assert!(!since.contains(&seeded.trace.to_string()), "{since}");
    let kinds = |file: &str, kind: &str| file.matches(&format!("{{\"kind\":\"{kind}\"")).count();
    for kind in [
        "persona",
        "token",
        "conversation",
        "message",
        "document",
        "chunk",
    ] {
        assert_eq!(kinds(&since, kind), kinds(&all, kind), "{kind}");
    }
    assert_eq!(kinds(&since, "trace"), kinds(&all, "trace") - 1);
    let copy = database_with_knowledge().await;
    let out = import(&copy, &scratch.write("since.ndjson", &since)).await;
    assert!(out.status.success(), "{}", text(&out));
    let bad = export(&db, &["--since", "last tuesday"]).await;
    assert!(failure(&bad).contains("\"last tuesday\" is not a date"));
}

#[tokio::test(flavor = "multi_thread")]
async fn imported_tokens_cannot_sign_in_and_a_live_name_taken_here_is_refused() {
    let scratch = Scratch::new("import-tokens");
    let source = database_with_knowledge().await;
    let seeded = seed_everything(&source).await;
    let file = scratch.path("export.ndjson");
    let exported = String::from_utf8(export_to(&source, &file).await).unwrap();
    let copy = database_with_knowledge().await;
    let out = import(&copy, &file).await;
    assert!(out.status.success(), "{}", text(&out));
    let hash: Vec<u8> = psql(&copy.url)
        .await
        .query_one(
            "SELECT hash FROM access_tokens WHERE id = $1",
            &[&seeded.token.id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(hash.len(), 32);
    assert_ne!(
        hash,
        sha256(&seeded.token.token),
        "the token would still sign in"
    );
    assert!(!exported.contains("\"hash\""));

    let other = database_with_knowledge().await;
    let taken = issue_token(&other.url, "x", &["read"]).await;
    psql(&other.url)
        .await
        .execute(
            "UPDATE access_tokens SET name = $1 WHERE id = $2",
            &[&seeded.token.name, &taken.id],
        )
        .await
        .unwrap();
    let out = import(&other, &file).await;
    let error = failure(&out);
    assert!(
        error.contains(&format!("the token {:?}", seeded.token.name))
            && error.contains("is live here under another id")
            && error.contains(&taken.id.to_string()),
        "{error}"
    );
    assert_eq!(count_rows(&other.url, "access_tokens").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_pgvector_the_export_has_no_documents_and_an_import_of_some_says_why() {
    let Some(bindir) = bindir_without_pgvector() else {
        eprintln!("skipped: no PostgreSQL without pgvector on this machine");
        return;
    };
    let scratch = Scratch::new("export-no-pgvector");
    let source = database_with_knowledge().await;
    seed_everything(&source).await;
    let file = scratch.path("export.ndjson");
    let exported = String::from_utf8(export_to(&source, &file).await).unwrap();
    let (_cluster, plain) = database_from(bindir, "export-no-pgvector").await;
    let mut migrate = crate::kit::maia();
    migrate.arg("migrate").env("MAIA_DATABASE__URL", &plain.url);
    let migrated = crate::kit::process::output(migrate).await;
    assert!(migrated.status.success(), "{}", text(&migrated));

    let error = failure(&import(&plain, &file).await);

    let first_document = exported
        .lines()
        .position(|l| l.starts_with("{\"kind\":\"document\""))
        .unwrap()
        + 1;
    assert!(
        error.contains(&format!(
            "line {first_document}: a document, and this database has no knowledge tables"
        )),
        "{error}"
    );
    let copied = String::from_utf8(export_to(&plain, &scratch.path("plain.ndjson")).await).unwrap();
    let without_knowledge: Vec<&str> = exported
        .lines()
        .filter(|l| {
            !l.starts_with("{\"kind\":\"document\"") && !l.starts_with("{\"kind\":\"chunk\"")
        })
        .collect();
    let copied: Vec<&str> = copied.lines().collect();
    let differ = copied.iter().zip(&without_knowledge).find(|(a, b)| a != b);
    assert_eq!(differ, None, "the first line that differs");
    assert_eq!(copied.len(), without_knowledge.len());
}
