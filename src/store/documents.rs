//! `documents` and `chunks`: the owner's knowledge, and the search over it. One function per
//! statement. Only on a database where knowledge is set up (`super::knowledge`).

use chrono::{DateTime, Utc};
use pgvector::Vector;
use serde::Serialize;
use tokio_postgres::{GenericClient, Row};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::StoreError;
use super::traces::Citation;
use crate::domain::PageCursor;

/// Whose documents a statement may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shelf {
    /// Every document (the admin scope, the command line).
    All,
    /// Those of this token, and those no token added (the owner's, from the command line).
    Token(Uuid),
}

impl Shelf {
    /// `$1` and `$2` of the statements below:
    /// `($1 OR d.token_id IS NULL OR d.token_id = $2)`.
    fn params(self) -> (bool, Option<Uuid>) {
        match self {
            Shelf::All => (true, None),
            Shelf::Token(token) => (false, Some(token)),
        }
    }
}

/// A document as stored, without its content.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Document {
    pub id: Uuid,
    pub title: String,
    /// Where it came from (a path, a URL), if it was said.
    pub source: Option<String>,
    /// SHA-256 of its content, hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub content_hash: String,
    /// The token that added it; none: added from the command line, seen by every token.
    pub token_id: Option<Uuid>,
    /// How many chunks it was cut into.
    pub chunks: i64,
    /// Its content's length in bytes of UTF-8.
    pub bytes: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Row> for Document {
    fn from(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            title: row.get("title"),
            source: row.get("source"),
            content_hash: row.get("content_hash"),
            token_id: row.get("token_id"),
            chunks: row.get("chunks"),
            bytes: row.get("bytes"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        }
    }
}

/// The columns of [`Document`], from `documents d`.
const DOCUMENT_COLUMNS: &str = "d.id, d.title, d.source, d.content_hash, d.token_id, \
     d.created_at, d.updated_at, octet_length(d.content) AS bytes, \
     (SELECT count(*) FROM chunks c WHERE c.document_id = d.id) AS chunks";

const VISIBLE: &str = "($1 OR d.token_id IS NULL OR d.token_id = $2)";

/// A document to be written; its times are the database's clock.
#[derive(Debug, Clone)]
pub struct NewDocument<'a> {
    pub id: Uuid,
    pub token_id: Option<Uuid>,
    pub title: &'a str,
    pub source: Option<&'a str>,
    pub content: &'a str,
    pub content_hash: &'a str,
}

/// One chunk of a document, embedded.
#[derive(Debug, Clone)]
pub struct NewChunk {
    pub position: i32,
    pub text: String,
    pub embedding: Vector,
}

/// A document already stored under a source: its id and content hash. The row is locked
/// until the transaction ends, so two imports of one file do not both replace it.
#[tracing::instrument(skip_all)]
pub async fn find_by_source(
    db: &impl GenericClient,
    token_id: Option<Uuid>,
    source: &str,
) -> Result<Option<(Uuid, String)>, StoreError> {
    let row = db
        .query_opt(
            "SELECT id, content_hash FROM documents \
             WHERE token_id IS NOT DISTINCT FROM $1 AND source = $2 FOR UPDATE",
            &[&token_id, &source],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

#[tracing::instrument(skip_all, fields(document_id = %doc.id))]
pub async fn insert_document(
    db: &impl GenericClient,
    doc: &NewDocument<'_>,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO documents (id, token_id, title, source, content, content_hash) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &doc.id,
            &doc.token_id,
            &doc.title,
            &doc.source,
            &doc.content,
            &doc.content_hash,
        ],
    )
    .await?;
    Ok(())
}

/// Gives document `doc.id` new content and drops its chunks (the caller inserts the new).
#[tracing::instrument(skip_all, fields(document_id = %doc.id))]
pub async fn replace_document(
    db: &impl GenericClient,
    doc: &NewDocument<'_>,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE documents SET title = $2, content = $3, content_hash = $4, updated_at = now() \
         WHERE id = $1",
        &[&doc.id, &doc.title, &doc.content, &doc.content_hash],
    )
    .await?;
    db.execute("DELETE FROM chunks WHERE document_id = $1", &[&doc.id])
        .await?;
    Ok(())
}

/// Inserts `chunks` of document `id`, with one prepared statement.
#[tracing::instrument(skip_all, fields(document_id = %id, chunks = chunks.len()))]
pub async fn insert_chunks(
    db: &impl GenericClient,
    id: Uuid,
    chunks: &[NewChunk],
) -> Result<(), StoreError> {
    let statement = db
        .prepare(
            "INSERT INTO chunks (document_id, position, text, embedding) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    for chunk in chunks {
        db.execute(
            &statement,
            &[&id, &chunk.position, &chunk.text, &chunk.embedding],
        )
        .await?;
    }
    Ok(())
}

/// Newest first, `limit` of them, older than `before`.
#[tracing::instrument(skip_all)]
pub async fn list_documents(
    db: &impl GenericClient,
    shelf: Shelf,
    limit: i64,
    before: Option<&PageCursor>,
) -> Result<Vec<Document>, StoreError> {
    let (all, token) = shelf.params();
    let rows = db
        .query(
            &format!(
                "SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE {VISIBLE} \
                 AND ($3::timestamptz IS NULL OR (d.created_at, d.id) < ($3, $4)) \
                 ORDER BY d.created_at DESC, d.id DESC LIMIT $5"
            ),
            &[
                &all,
                &token,
                &before.map(|c| c.at),
                &before.map(|c| c.id),
                &limit,
            ],
        )
        .await?;
    Ok(rows.iter().map(Document::from).collect())
}

/// One document with its content.
#[tracing::instrument(skip_all)]
pub async fn find_document(
    db: &impl GenericClient,
    shelf: Shelf,
    id: Uuid,
) -> Result<Option<(Document, String)>, StoreError> {
    let (all, token) = shelf.params();
    let row = db
        .query_opt(
            &format!(
                "SELECT {DOCUMENT_COLUMNS}, d.content FROM documents d \
                 WHERE {VISIBLE} AND d.id = $3"
            ),
            &[&all, &token, &id],
        )
        .await?;
    Ok(row.map(|r| (Document::from(&r), r.get("content"))))
}

/// Deletes a document and, by cascade, its chunks. `token` may delete only its own
/// (none: every one). Whether one was deleted.
#[tracing::instrument(skip_all)]
pub async fn delete_document(
    db: &impl GenericClient,
    id: Uuid,
    token: Option<Uuid>,
) -> Result<bool, StoreError> {
    let n = db
        .execute(
            "DELETE FROM documents WHERE id = $1 AND ($2::uuid IS NULL OR token_id = $2)",
            &[&id, &token],
        )
        .await?;
    Ok(n > 0)
}

/// One chunk found by a search.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Hit {
    pub document_id: Uuid,
    /// The document's title.
    pub title: String,
    /// The document's source.
    pub source: Option<String>,
    /// The chunk's place in its document, from 0.
    pub position: i32,
    /// The chunk's text.
    pub chunk: String,
    /// Reciprocal rank fusion of its ranks by meaning and by words: higher is better.
    pub score: f64,
}

impl From<Hit> for Citation {
    fn from(hit: Hit) -> Self {
        Self {
            document_id: hit.document_id,
            title: hit.title,
            chunk: hit.chunk,
            score: hit.score,
        }
    }
}

/// What a search looks for: the question's embedding, its words as a `tsquery` (terms
/// joined by `|`), and how many hits; each way of ranking looks at `candidates`.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub embedding: Vector,
    pub words: String,
    pub k: i64,
    pub candidates: i64,
}

/// The RRF constant: a rank's weight is 1 / (K + rank).
const RRF_K: f64 = 60.0;
/// The most chunks the full-text half ranks: a question whose words are all in more chunks
/// than this ranks this many of them (any), and meaning ranks the rest. Ranking reads
/// every match, so this bounds the work of a question of common words.
const MAX_WORD_MATCHES: i64 = 2_000;

/// Hybrid search: the chunks nearest the question by cosine distance (the HNSW index),
/// and those that best match its words (full text: chunks that have every word, as a web
/// search does), merged by reciprocal rank fusion. Equal distances and scores are
/// ordered by chunk key, so a search answers the same each time. Only the best `k` are
/// joined to their text: joining all 240 candidates (k = 10) took ~1 ms of the ~15.
#[tracing::instrument(skip_all)]
pub async fn search(
    db: &impl deadpool_postgres::GenericClient,
    shelf: Shelf,
    query: &SearchQuery,
) -> Result<Vec<Hit>, StoreError> {
    let (all, token) = shelf.params();
    // Prepared once per connection: planning this statement afresh took about 3 ms.
    let statement = db
        .prepare_cached(&format!(
            "WITH by_meaning AS ( \
                   SELECT c.document_id, c.position, \
                          row_number() OVER (ORDER BY c.distance, c.document_id, c.position) \
                            AS rank \
                   FROM (SELECT c.document_id, c.position, c.embedding <=> $3 AS distance \
                         FROM chunks c \
                         JOIN documents d ON d.id = c.document_id \
                         WHERE {VISIBLE} AND c.embedding IS NOT NULL \
                         ORDER BY c.embedding <=> $3 LIMIT $6) c), \
                 by_words AS ( \
                   SELECT m.document_id, m.position, \
                          row_number() OVER (ORDER BY ts_rank_cd(m.tsv, q) DESC, \
                                             m.document_id, m.position) AS rank \
                   FROM (SELECT c.document_id, c.position, c.tsv \
                         FROM chunks c JOIN documents d ON d.id = c.document_id, \
                              plainto_tsquery('english', $4) q \
                         WHERE {VISIBLE} AND $4 <> '' AND c.tsv @@ q \
                         LIMIT {MAX_WORD_MATCHES}) m, plainto_tsquery('english', $4) q \
                   ORDER BY rank LIMIT $6), \
                 fused AS ( \
                   SELECT document_id, position, sum(1.0 / ({RRF_K} + rank)) AS score \
                   FROM (SELECT * FROM by_meaning UNION ALL SELECT * FROM by_words) r \
                   GROUP BY document_id, position \
                   ORDER BY score DESC, document_id, position LIMIT $5) \
                 SELECT f.document_id, d.title, d.source, f.position, c.text, \
                        f.score::float8 AS score \
                 FROM fused f JOIN chunks c USING (document_id, position) \
                 JOIN documents d ON d.id = f.document_id \
                 ORDER BY f.score DESC, f.document_id, f.position"
        ))
        .await?;
    let rows = db
        .query(
            &statement,
            &[
                &all,
                &token,
                &query.embedding,
                &query.words,
                &query.k,
                &query.candidates,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Hit {
            document_id: r.get(0),
            title: r.get(1),
            source: r.get(2),
            position: r.get(3),
            chunk: r.get(4),
            score: r.get(5),
        })
        .collect())
}

/// How far a search looks, for the rest of the transaction: HNSW's candidate list at least
/// `candidates` (its default is 40), the indexes used (pgvector's cost estimate grows with
/// `ef_search`, and the planner would then read and sort every chunk: exact, but ten times
/// slower at 20,000 chunks), and no NOTICE for a question of stop words only.
#[tracing::instrument(skip_all)]
pub async fn set_search_breadth(
    db: &impl GenericClient,
    candidates: i64,
) -> Result<(), StoreError> {
    let ef_search = candidates.clamp(40, 1000);
    db.batch_execute(&format!(
        "SET LOCAL hnsw.ef_search = {ef_search}; SET LOCAL enable_seqscan = off; \
         SET LOCAL client_min_messages = warning"
    ))
    .await?;
    Ok(())
}

/// Gathers the planner's statistics of `documents` now, not at autovacuum's next round.
/// Without them it takes a token's documents for a handful, and a search by that token
/// sorts all their chunks by distance instead of using the index: 340 ms a search at
/// 100,000 chunks, against 10.
#[tracing::instrument(skip_all)]
pub async fn analyze_documents(db: &impl GenericClient) -> Result<(), StoreError> {
    db.batch_execute("ANALYZE documents").await?;
    Ok(())
}

/// How many chunks there are.
#[tracing::instrument(skip_all)]
pub async fn count_chunks(db: &impl GenericClient) -> Result<i64, StoreError> {
    let row = db.query_one("SELECT count(*) FROM chunks", &[]).await?;
    Ok(row.get(0))
}

/// A chunk's key: its document and its position there.
pub type ChunkKey = (Uuid, i32);

/// Up to `limit` chunks in key order after `after` (from the first without it), with
/// their text.
#[tracing::instrument(skip_all)]
pub async fn chunks_after(
    db: &impl GenericClient,
    after: Option<ChunkKey>,
    limit: i64,
) -> Result<Vec<(ChunkKey, String)>, StoreError> {
    let rows = db
        .query(
            "SELECT document_id, position, text FROM chunks \
             WHERE ($1::uuid IS NULL OR (document_id, position) > ($1, $2)) \
             ORDER BY document_id, position LIMIT $3",
            &[&after.map(|k| k.0), &after.map(|k| k.1), &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect())
}

/// Gives each chunk its embedding, with one prepared statement.
#[tracing::instrument(skip_all, fields(chunks = chunks.len()))]
pub async fn set_embeddings(
    db: &impl GenericClient,
    chunks: &[(ChunkKey, Vector)],
) -> Result<(), StoreError> {
    let statement = db
        .prepare("UPDATE chunks SET embedding = $3 WHERE document_id = $1 AND position = $2")
        .await?;
    for ((document, position), embedding) in chunks {
        db.execute(&statement, &[document, position, embedding])
            .await?;
    }
    Ok(())
}
