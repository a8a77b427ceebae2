//! R9 `export_roundtrip`: export, import into a fresh database, export again: the same
//! bytes. Importing the same file again changes nothing, importing into a database that has
//! rows of its own keeps them, and an import stopped halfway and run again ends with
//! everything (the traces' links to their questions too).

use std::collections::BTreeSet;

use ring::digest::{digest, SHA256};

use crate::kit::export::{database_with_knowledge, export_to, import, row_counts, seed_everything};
use crate::kit::process::text;
use crate::kit::retention::{remaining, seed_conversation, seed_trace};
use crate::kit::{psql, Scratch};

fn sha256_hex(bytes: &[u8]) -> String {
    digest(&SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_imported_into_a_fresh_database_exports_the_same_bytes() {
    let scratch = Scratch::new("export-roundtrip");
    let source = database_with_knowledge().await;
    let seeded = seed_everything(&source).await;
    let first = export_to(&source, &scratch.path("first.ndjson")).await;

    let copy = database_with_knowledge().await;
    let out = import(&copy, &scratch.path("first.ndjson")).await;
    assert!(out.status.success(), "{}", text(&out));
    let second = export_to(&copy, &scratch.path("second.ndjson")).await;

    assert_eq!(
        String::from_utf8_lossy(&second),
        String::from_utf8_lossy(&first)
    );
    assert_eq!(row_counts(&copy).await, row_counts(&source).await);
    assert!(seeded.document.is_some(), "the source has no knowledge");
    eprintln!(
        "R9 export_roundtrip: rows {:?}; {} bytes, {} lines; sha256 first {} second {}",
        row_counts(&copy).await,
        first.len(),
        first.iter().filter(|b| **b == b'\n').count(),
        sha256_hex(&first),
        sha256_hex(&second)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn importing_the_same_file_twice_changes_nothing() {
    let scratch = Scratch::new("export-twice");
    let source = database_with_knowledge().await;
    seed_everything(&source).await;
    let file = scratch.path("export.ndjson");
    let exported = export_to(&source, &file).await;
    let copy = database_with_knowledge().await;
    let first = import(&copy, &file).await;
    assert!(first.status.success(), "{}", text(&first));
    let counts = row_counts(&copy).await;

    let again = import(&copy, &file).await;

    assert!(again.status.success(), "{}", text(&again));
    let summary = String::from_utf8_lossy(&again.stderr);
    for kind in [
        "persona",
        "token",
        "conversation",
        "trace",
        "message",
        "document",
        "chunk",
    ] {
        assert!(
            summary.contains(&format!("{kind}: ")) && !summary.contains(&format!("{kind}: 0 read")),
            "{kind} missing from: {summary}"
        );
    }
    assert_eq!(summary.matches(" 0 written").count(), 7, "{summary}");
    assert!(summary.contains("; 0 link(s) filled"), "{summary}");
    assert_eq!(row_counts(&copy).await, counts);
    assert_eq!(
        export_to(&copy, &scratch.path("again.ndjson")).await,
        exported
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn importing_into_a_database_with_rows_of_its_own_keeps_them() {
    let scratch = Scratch::new("export-merge");
    let source = database_with_knowledge().await;
    seed_everything(&source).await;
    let file = scratch.path("export.ndjson");
    let exported = String::from_utf8(export_to(&source, &file).await).unwrap();
    let target = database_with_knowledge().await;
    let own_trace = seed_trace(&target.url, 2).await;
    let own = seed_conversation(&target.url, 1, 1, 1).await;

    let out = import(&target, &file).await;

    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        remaining(&target.url, "consciousness_traces", &[own_trace])
            .await
            .len(),
        1
    );
    assert_eq!(
        remaining(&target.url, "messages", &own.messages)
            .await
            .len(),
        2
    );
    let merged =
        String::from_utf8(export_to(&target, &scratch.path("merged.ndjson")).await).unwrap();
    for line in exported.lines() {
        assert!(merged.contains(line), "lost in the merge: {line}");
    }
    assert!(merged.contains(&own_trace.to_string()));
    assert!(merged.lines().count() > exported.lines().count());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_stopped_halfway_and_run_again_ends_with_everything() {
    let scratch = Scratch::new("export-stopped");
    let source = database_with_knowledge().await;
    seed_everything(&source).await;
    let file = scratch.path("export.ndjson");
    let exported = String::from_utf8(export_to(&source, &file).await).unwrap();
    // Stopped among the messages: their traces are in, most of the messages are not.
    let lines: Vec<&str> = exported.lines().collect();
    let first_message = lines
        .iter()
        .position(|l| l.starts_with("{\"kind\":\"message\""))
        .unwrap();
    let half = format!("{}\n", lines[..first_message + 300].join("\n"));
    let copy = database_with_knowledge().await;
    let stopped = import(&copy, &scratch.write("half.ndjson", &half)).await;
    assert!(stopped.status.success(), "{}", text(&stopped));

    let again = import(&copy, &file).await;

    assert!(again.status.success(), "{}", text(&again));
    let whole = export_to(&copy, &scratch.path("whole.ndjson")).await;
    assert_eq!(String::from_utf8_lossy(&whole), exported);
}

/// Every column of an exported table is in the file but those left out on purpose: a
/// token's hash and a chunk's embedding (and its words). A column added by a migration and not to the
/// export would be lost on the way, and the round trip above would not see it.
#[tokio::test(flavor = "multi_thread")]
async fn every_column_is_exported_but_a_tokens_hash_and_a_chunks_embedding() {
    let scratch = Scratch::new("export-columns");
    let source = database_with_knowledge().await;
    seed_everything(&source).await;
    let file = export_to(&source, &scratch.path("export.ndjson")).await;
    let lines: Vec<serde_json::Value> = file
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).expect("a JSON line"))
        .collect();
    let client = psql(&source.url).await;
    let tables = [
        ("persona", "personas", &[][..]),
        ("token", "access_tokens", &["hash"][..]),
        ("conversation", "conversations", &[][..]),
        ("trace", "consciousness_traces", &[][..]),
        ("message", "messages", &[][..]),
        ("document", "documents", &[][..]),
        // `tsv` PostgreSQL derives from the text.
        ("chunk", "chunks", &["embedding", "tsv"][..]),
    ];
    for (kind, table, left_out) in tables {
        let line = lines
            .iter()
            .find(|line| line["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} line"));
        let exported: BTreeSet<&str> = line
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .filter(|key| *key != "kind")
            .collect();
        let rows = client
            .query(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1",
                &[&table],
            )
            .await
            .expect("the table's columns");
        let columns: BTreeSet<String> = rows.iter().map(|row| row.get(0)).collect();
        let missing: Vec<&str> = columns
            .iter()
            .map(String::as_str)
            .filter(|column| !exported.contains(column))
            .collect();
        assert_eq!(missing, left_out, "{table}: columns not exported");
    }
}
