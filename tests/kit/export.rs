//! Export and import: a database holding one of every kind of row, and `maia export` /
//! `maia import` run against a database.

use std::path::Path;
use std::process::Output;

use uuid::Uuid;

use super::database::{fresh_database, psql, Database};
use super::process::{maia, output, text};
use super::retention::{seed_conversation, seed_trace};
use super::tokens::{issue_token, revoke, Token};

/// A fresh database migrated by `maia migrate`, which also sets knowledge up where the
/// tests' PostgreSQL has pgvector.
pub async fn database_with_knowledge() -> Database {
    let db = fresh_database().await;
    let mut command = maia();
    command.arg("migrate").env("MAIA_DATABASE__URL", &db.url);
    let out = output(command).await;
    assert!(out.status.success(), "maia migrate: {}", text(&out));
    db
}

/// What [`seed_everything`] wrote.
pub struct Seeded {
    pub token: Token,
    pub revoked: Token,
    pub conversation: Uuid,
    pub trace: Uuid,
    pub document: Option<Uuid>,
}

/// One of every kind: a live and a revoked token, a persona added and a shipped one
/// rewritten, a conversation of two exchanges (traces and messages naming each other), a
/// trace of the token's with citations, a council and text that needs escaping, more rows than a page
/// ([`seed_many`]), and (with knowledge) documents with their chunks.
pub async fn seed_everything(db: &Database) -> Seeded {
    let token = issue_token(&db.url, "laptop", &["query", "read"]).await;
    let revoked = issue_token(&db.url, "old", &["admin"]).await;
    revoke(&db.url, &revoked).await;
    let conversation = seed_conversation(&db.url, 1, 2, 1).await.id;
    let trace = seed_trace(&db.url, 3).await;
    let client = psql(&db.url).await;
    client
        .batch_execute(
            "INSERT INTO personas (name, display_name, description, system_prompt) \
             VALUES ('pirate', 'Pirate', 'Arr.', 'Speak as a pirate.'); \
             UPDATE personas SET system_prompt = 'Ask, never tell.' WHERE name = 'socratic';",
        )
        .await
        .expect("seed personas");
    client
        .execute(
            "UPDATE consciousness_traces SET token_id = $1, \
             query = E'quote \" backslash \\\\ tab \\t newline \\n é ✓', \
             citations = '[{\"document_id\": \"x\", \"title\": \"T\", \"chunk\": 0, \"score\": 0.5}]', \
             mode = 'council', council = '[{\"persona\": \"socratic\", \"model\": \"m\", \"answer\": \"Why?\", \
             \"prompt_tokens\": 3, \"completion_tokens\": 1}, {\"persona\": \"pragmatist\", \"model\": \"m\", \
             \"error_code\": \"llm_timeout\"}]', \
             created_at = created_at + interval '0.000123 seconds' WHERE id = $2",
            &[&token.id, &trace],
        )
        .await
        .expect("give the trace a token and citations");
    seed_many(db).await;
    let document = seed_document(db).await;
    Seeded {
        token,
        revoked,
        conversation,
        trace,
        document,
    }
}

/// More rows than a page of the export (500) and a batch of the import (1,000): a
/// conversation of 1,100 questions, each with the trace that points at it.
async fn seed_many(db: &Database) {
    psql(&db.url)
        .await
        .batch_execute(
            "INSERT INTO conversations (id, mode, title) \
             VALUES ('00000000-0000-4000-8000-0000000000c2', 'deep', 'Long'); \
             INSERT INTO messages (id, conversation_id, role, content) \
             SELECT md5('m' || n)::uuid, '00000000-0000-4000-8000-0000000000c2', 'user', \
             'bulk question ' || n FROM generate_series(1, 1100) n; \
             INSERT INTO consciousness_traces \
             (id, query, response, mode, model, status, latency_ms, message_id) \
             SELECT md5('t' || n)::uuid, 'bulk question ' || n, 'bulk answer', 'fast', \
             'seed', 'ok', n, md5('m' || n)::uuid FROM generate_series(1, 1100) n;",
        )
        .await
        .expect("seed many rows");
}

/// A document with two chunks, and one of 600, where knowledge's tables are there.
async fn seed_document(db: &Database) -> Option<Uuid> {
    let client = psql(&db.url).await;
    let has: bool = client
        .query_one("SELECT to_regclass('documents') IS NOT NULL", &[])
        .await
        .expect("ask for knowledge")
        .get(0);
    if !has {
        return None;
    }
    let id = Uuid::new_v4();
    client
        .execute(
            "INSERT INTO documents (id, title, source, content, content_hash) \
             VALUES ($1, 'Notes', '/vault/notes.md', 'first part. second part.', 'abc')",
            &[&id],
        )
        .await
        .expect("seed a document");
    client
        .execute(
            "INSERT INTO chunks (document_id, position, text) \
             VALUES ($1, 0, 'first part.'), ($1, 1, 'second part.')",
            &[&id],
        )
        .await
        .expect("seed its chunks");
    client
        .batch_execute(
            "INSERT INTO documents (id, title, content, content_hash) \
             VALUES ('00000000-0000-4000-8000-0000000000d2', 'Long', 'many parts', 'def'); \
             INSERT INTO chunks (document_id, position, text) \
             SELECT '00000000-0000-4000-8000-0000000000d2', n, 'part ' || n \
             FROM generate_series(0, 599) n;",
        )
        .await
        .expect("seed a long document");
    Some(id)
}

/// `maia export ARGS` against `db`.
pub async fn export(db: &Database, args: &[&str]) -> Output {
    let mut command = maia();
    command
        .arg("export")
        .args(args)
        .env("MAIA_DATABASE__URL", &db.url);
    output(command).await
}

/// `maia export --output FILE` against `db`, which must succeed; the file's bytes.
pub async fn export_to(db: &Database, file: &Path) -> Vec<u8> {
    let out = export(db, &["--output", &file.to_string_lossy()]).await;
    assert!(out.status.success(), "maia export: {}", text(&out));
    std::fs::read(file).expect("read the export")
}

/// `maia import FILE` against `db`.
pub async fn import(db: &Database, file: &Path) -> Output {
    let mut command = maia();
    command
        .arg("import")
        .arg(file)
        .env("MAIA_DATABASE__URL", &db.url);
    output(command).await
}

/// How many rows each table the export holds has.
pub async fn row_counts(db: &Database) -> Vec<(String, i64)> {
    let client = psql(&db.url).await;
    let mut counts = Vec::new();
    for table in [
        "personas",
        "access_tokens",
        "conversations",
        "consciousness_traces",
        "messages",
        "documents",
        "chunks",
    ] {
        let count = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .map(|r| r.get(0))
            .unwrap_or(-1);
        counts.push((table.to_string(), count));
    }
    counts
}
