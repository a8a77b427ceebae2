//! `maia docs`: a vault imported as an operator does it, again and again (nothing added
//! twice, what changed updated), stopped midway by a kill or Ctrl-C and resumed (every
//! document whole or not there), listed, removed with its chunks, and re-embedded after
//! the embedding model changed; and `maia check`'s word on knowledge.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::kit::database::count_rows;
use crate::kit::knowledge::{
    bindir_without_pgvector, database_from, pgvector_or_skip, write_vault,
};
use crate::kit::process::{output, text};
use crate::kit::{
    fresh_database, maia, psql, start_ollama, wait_until, Database, FakeOllama, Process, Scratch,
    DEEP_MODEL, MODEL,
};

/// A migrated database (knowledge set up where it can be) and the fake Ollama.
async fn ready() -> Option<(Database, FakeOllama)> {
    let db = fresh_database().await;
    let ollama = start_ollama().await;
    let migrated = output(with(maia(), &db.url, &ollama.url(), &["migrate"])).await;
    assert!(migrated.status.success(), "{}", text(&migrated));
    pgvector_or_skip(&db.url).await.then_some((db, ollama))
}

/// `command` with `args`, against `db_url` and `ollama_url`.
fn with(mut command: Command, db_url: &str, ollama_url: &str, args: &[&str]) -> Command {
    command
        .args(args)
        .env("MAIA_DATABASE__URL", db_url)
        .env("MAIA_OLLAMA__URL", ollama_url)
        .env("MAIA_OLLAMA__MODEL", MODEL);
    command
}

/// `maia docs ARGS`.
fn docs(db: &Database, ollama: &FakeOllama, args: &[&str]) -> Command {
    let mut all = vec!["docs"];
    all.extend_from_slice(args);
    with(maia(), &db.url, &ollama.url(), &all)
}

async fn import(db: &Database, ollama: &FakeOllama, dir: &Scratch) -> Output {
    let path = dir.dir().to_str().unwrap();
    let out = output(docs(db, ollama, &["import", path])).await;
    assert!(out.status.success(), "{}", text(&out));
    out
}

/// The import's summary line, e.g. `5 of 5 file(s): 5 added, 0 updated, 0 unchanged, 0 skipped`.
fn summary(out: &Output) -> String {
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    said.lines()
        .find(|l| l.contains(" file(s): "))
        .unwrap_or_else(|| panic!("no summary: {said}"))
        .to_string()
}

/// Documents with no chunk: a document half-written.
async fn documents_without_chunks(db_url: &str) -> i64 {
    psql(db_url)
        .await
        .query_one(
            "SELECT count(*) FROM documents d \
             WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.document_id = d.id)",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// `docs list --json`: the titles, sorted, and the first document's source.
async fn listed_titles(db: &Database, ollama: &FakeOllama) -> (Vec<String>, String) {
    let listed = output(docs(db, ollama, &["list", "--json"])).await;
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let documents = listed.as_array().unwrap();
    let mut titles: Vec<String> = documents
        .iter()
        .map(|d| d["title"].as_str().unwrap().to_string())
        .collect();
    titles.sort_unstable();
    (titles, documents[0]["source"].as_str().unwrap().to_string())
}

/// How many documents the planner takes there to be: -1 before `documents` is analysed.
async fn documents_estimate(db: &Database) -> f32 {
    psql(&db.url)
        .await
        .query_one(
            "SELECT reltuples FROM pg_class WHERE oid = 'documents'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vault_imported_again_adds_nothing_and_updates_what_changed() {
    let Some((db, ollama)) = ready().await else {
        return;
    };
    let vault = Scratch::new("vault");
    write_vault(vault.dir(), 5);
    std::fs::create_dir_all(vault.path(".obsidian")).unwrap();
    vault.write(".obsidian/workspace.md", "hidden: not a note");
    vault.write("picture.png", "not a note either");
    vault.write("empty.txt", "  \n");

    let first = import(&db, &ollama, &vault).await;
    let analyzed = documents_estimate(&db).await;
    let embedded = ollama.embedded_count();
    let again = import(&db, &ollama, &vault).await;
    std::fs::write(
        vault.path("folder-00000/note-00001.md"),
        "# Note 1\n\nRewritten.",
    )
    .unwrap();
    vault.write("new.txt", "A plain text note.");
    let changed = import(&db, &ollama, &vault).await;

    assert_eq!(
        summary(&first),
        "6 of 6 file(s): 5 added, 0 updated, 0 unchanged, 1 skipped"
    );
    assert!(
        text(&first).contains("empty.txt: document is not valid: content must not be blank"),
        "{}",
        text(&first)
    );
    assert_eq!(analyzed, 5.0, "documents analysed after the import");
    assert_eq!(
        summary(&again),
        "6 of 6 file(s): 0 added, 0 updated, 5 unchanged, 1 skipped"
    );
    assert_eq!(
        embedded + 2,
        ollama.embedded_count(),
        "only what changed was embedded: {}",
        text(&changed)
    );
    assert_eq!(
        summary(&changed),
        "7 of 7 file(s): 1 added, 1 updated, 4 unchanged, 1 skipped"
    );
    assert_eq!(count_rows(&db.url, "documents").await, 6);
    let (titles, source) = listed_titles(&db, &ollama).await;
    let notes = [
        "note-00000",
        "note-00001",
        "note-00002",
        "note-00003",
        "note-00004",
    ];
    assert_eq!(titles[0], "new");
    assert_eq!(titles[1..], notes);
    assert!(
        source.starts_with('/') && source.contains("maia-vault-"),
        "{source}"
    );
}

/// Notes in the vault [`import_under_way`] makes.
const VAULT_NOTES: usize = 300;

/// An import of a vault of [`VAULT_NOTES`] notes, once it said it added `added` of them.
async fn import_under_way(db: &Database, ollama: &FakeOllama, added: usize) -> (Scratch, Process) {
    let vault = Scratch::new("vault-big");
    write_vault(vault.dir(), VAULT_NOTES);
    let path = vault.dir().to_str().unwrap();
    let import = Process::spawn(docs(db, ollama, &["import", path]));
    let started = wait_until(Duration::from_secs(30), || async {
        import.log().matches("added ").count() >= added
    })
    .await;
    assert!(started, "{}", import.log());
    (vault, import)
}

/// Killed midway (nothing can run on SIGKILL), then run again: every document stored is
/// whole, and the second run adds exactly what the first did not.
#[tokio::test(flavor = "multi_thread")]
async fn an_import_killed_midway_resumes_with_nothing_half_written() {
    let Some((db, ollama)) = ready().await else {
        return;
    };
    let (vault, mut first) = import_under_way(&db, &ollama, 20).await;

    first.signal("KILL");
    first
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("killed");
    let kept = count_rows(&db.url, "documents").await;
    let total = VAULT_NOTES;
    assert!((20..total).contains(&kept), "{kept} of {total}");
    assert_eq!(documents_without_chunks(&db.url).await, 0);
    let second = import(&db, &ollama, &vault).await;
    assert_eq!(
        summary(&second),
        format!(
            "{total} of {total} file(s): {} added, 0 updated, {kept} unchanged, 0 skipped",
            total - kept
        )
    );
    assert_eq!(count_rows(&db.url, "documents").await, total);
}

/// Ctrl-C: the document being put is finished, the rest left for the next run; the exit
/// status says it was interrupted.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_an_import_after_the_document_being_put() {
    let Some((db, ollama)) = ready().await else {
        return;
    };
    let (_vault, mut first) = import_under_way(&db, &ollama, 10).await;

    first.signal("INT");
    let status = first
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("it stops");
    let log = first.log();
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(
        log.contains("interrupted: what was imported stays"),
        "{log}"
    );
    let said = log.matches("added ").count();
    assert_eq!(count_rows(&db.url, "documents").await, said, "{log}");
    assert_eq!(documents_without_chunks(&db.url).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn remove_takes_a_document_with_its_chunks_by_id_or_by_path() {
    let Some((db, ollama)) = ready().await else {
        return;
    };
    let vault = Scratch::new("vault-rm");
    let notes = write_vault(vault.dir(), 3);
    import(&db, &ollama, &vault).await;
    let listed = output(docs(&db, &ollama, &["list"])).await;
    let table = String::from_utf8_lossy(&listed.stdout).into_owned();
    // Another note than the one removed by path (the import puts notes concurrently, so
    // any of them may be listed first).
    let id = table
        .lines()
        .skip(1)
        .find(|line| !line.contains("note-00000"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let chunks = count_rows(&db.url, "chunks").await;

    let by_path = notes[0].to_str().unwrap();
    let removed = output(docs(&db, &ollama, &["remove", &id, by_path])).await;
    let unknown = output(docs(&db, &ollama, &["remove", "/no/such/note.md"])).await;

    assert!(removed.status.success(), "{}", text(&removed));
    assert!(table.starts_with("ID "), "{table}");
    assert_eq!(
        count_rows(&db.url, "documents").await,
        1,
        "{}",
        text(&removed)
    );
    assert_eq!(
        count_rows(&db.url, "chunks").await,
        chunks / 3,
        "their chunks went with them (each note has as many)"
    );
    assert_eq!(unknown.status.code(), Some(1), "{}", text(&unknown));
    assert!(text(&unknown).contains("no document /no/such/note.md"));
}

/// Another embedding model configured: knowledge says so (`check` warns in the same
/// words), and `reembed` embeds every chunk with it.
#[tokio::test(flavor = "multi_thread")]
async fn reembed_embeds_every_chunk_with_a_newly_configured_model() {
    let Some((db, ollama)) = ready().await else {
        return;
    };
    let vault = Scratch::new("vault-reembed");
    write_vault(vault.dir(), 40);
    import(&db, &ollama, &vault).await;
    let chunks = count_rows(&db.url, "chunks").await;
    let other = |args: &[&str]| {
        let mut command = docs(&db, &ollama, args);
        command.env("MAIA_KNOWLEDGE__EMBED_MODEL", DEEP_MODEL);
        command
    };
    let mut check = with(maia(), &db.url, &ollama.url(), &["check", "--json"]);
    check.env("MAIA_KNOWLEDGE__EMBED_MODEL", DEEP_MODEL);

    let refused = output(other(&["list"])).await;
    let warned = output(check).await;
    let reembedded = output(other(&["reembed"])).await;
    let listed = output(other(&["list"])).await;

    assert!(!refused.status.success());
    let words = "run `maia docs reembed` to embed every chunk again";
    assert!(text(&refused).contains(words), "{}", text(&refused));
    let report: Value = serde_json::from_slice(&warned.stdout).unwrap();
    let knowledge = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "knowledge")
        .unwrap()
        .clone();
    assert_eq!(
        (&knowledge["ok"], &knowledge["warning"]),
        (&Value::Bool(true), &Value::Bool(true))
    );
    assert!(
        knowledge["detail"].as_str().unwrap().contains(words),
        "{knowledge}"
    );
    assert!(
        warned.status.success(),
        "a warning fails nothing: {}",
        text(&warned)
    );
    assert!(reembedded.status.success(), "{}", text(&reembedded));
    assert!(
        text(&reembedded).contains(&format!("re-embedded {chunks} chunk(s)")),
        "{}",
        text(&reembedded)
    );
    assert!(listed.status.success(), "{}", text(&listed));
    let row = psql(&db.url).await.query_one("SELECT model, (SELECT count(*) FROM chunks WHERE embedding IS NULL) FROM knowledge_embedding", &[]).await.unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, i64>(1)),
        (DEEP_MODEL.to_string(), 0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_pgvector_check_warns_in_the_routes_words_and_docs_refuses() {
    let Some(bindir) = bindir_without_pgvector() else {
        eprintln!("skipped: no PostgreSQL without pgvector on this machine");
        return;
    };
    let (_cluster, db) = database_from(bindir, "no-pgvector-cli").await;
    let ollama = start_ollama().await;
    let migrated = output(with(maia(), &db.url, &ollama.url(), &["migrate"])).await;
    assert!(migrated.status.success(), "{}", text(&migrated));

    let checked = output(with(maia(), &db.url, &ollama.url(), &["check"])).await;
    let listed = output(docs(&db, &ollama, &["list"])).await;

    assert!(checked.status.success(), "{}", text(&checked));
    let line = String::from_utf8_lossy(&checked.stdout)
        .lines()
        .find(|l| l.contains("knowledge"))
        .unwrap()
        .to_string();
    assert!(
        line.starts_with("warn knowledge")
            && line.contains("needs the PostgreSQL extension pgvector"),
        "{line}"
    );
    assert_eq!(listed.status.code(), Some(1));
    assert!(
        text(&listed).contains("needs the PostgreSQL extension pgvector"),
        "{}",
        text(&listed)
    );
}
