//! The owner's knowledge: documents cut into chunks, embedded by Ollama, kept in
//! PostgreSQL (pgvector), and searched by meaning and by words at once. Where the database
//! has no pgvector, every knowledge use says so (`ServiceError::KnowledgeUnavailable`) and
//! the rest of maia works as before.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::Caller;
use super::chunking::chunk_markdown;
use super::embedder::{space_of, Embedder};
use super::error::ServiceError;
use super::services::Services;
use crate::config::Settings;
use crate::domain::{DocumentInput, PageCursor, Scope};
use crate::llm::LlmError;
use crate::store::{self, Db, Document, Hit, KnowledgeState, NewChunk, Shelf};

/// Candidates each way of ranking looks at, per hit asked for (at least 40): HNSW's
/// `ef_search`, 240 for ten hits, which the bench's recall@10 at 100,000 chunks needed.
const CANDIDATES_PER_HIT: i64 = 24;
/// The most words of a question the full-text half of a search uses.
const MAX_SEARCH_WORDS: usize = 32;

/// Sets knowledge up where it can be (at each start that migrates, and `maia migrate`),
/// and logs what came of it: never an error for the caller, since maia works without it.
pub async fn set_up_knowledge(settings: &Settings) -> Option<KnowledgeState> {
    let space = space_of(&settings.knowledge);
    match store::set_up_knowledge(&settings.database, &space).await {
        Ok(KnowledgeState::Ready) => {
            tracing::info!(
                model = space.model,
                dimensions = space.dimensions,
                "knowledge is ready"
            );
            Some(KnowledgeState::Ready)
        }
        Ok(state) => {
            tracing::warn!("knowledge is off: {state}");
            Some(state)
        }
        Err(e) => {
            tracing::warn!(error = %e, "knowledge could not be set up; it stays off until the next start");
            None
        }
    }
}

/// What putting a document did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// New.
    Added,
    /// Its source was there with other content: replaced.
    Updated,
    /// Its source was there with the same content: nothing done.
    Unchanged,
}

/// Adds `input` as `token_id`'s (none: the owner's, seen by every token), or, when a
/// document with its source is there, replaces it if its content changed. The chunks are
/// embedded first; then the document and its chunks are written in one transaction, so
/// an interrupted import leaves each document whole or not there.
pub async fn put_document(
    db: &Db,
    embedder: &Embedder,
    token_id: Option<Uuid>,
    input: &DocumentInput,
) -> Result<(Uuid, Outcome), ServiceError> {
    let hash = content_hash(&input.content);
    if let Some(source) = &input.source {
        let work = async { store::find_by_source(&**db.conn().await?, token_id, source).await };
        if let Some((id, stored)) = db.bounded(work).await? {
            if stored == hash {
                return Ok((id, Outcome::Unchanged));
            }
        }
    }
    let texts = chunk_markdown(&input.content);
    let embeddings = embedder
        .embed(&texts)
        .await
        .map_err(ServiceError::Embedding)?;
    let chunks: Vec<NewChunk> = texts
        .into_iter()
        .zip(embeddings)
        .enumerate()
        .map(|(i, (text, embedding))| NewChunk {
            position: i32::try_from(i).unwrap_or(i32::MAX),
            text,
            embedding,
        })
        .collect();
    let work = async {
        let mut conn = db.conn().await?;
        let tx = conn.transaction().await?;
        let existing = match &input.source {
            Some(source) => store::find_by_source(&*tx, token_id, source).await?,
            None => None,
        };
        let mut doc = store::NewDocument {
            id: Uuid::new_v4(),
            token_id,
            title: input.title.as_str(),
            source: input.source.as_deref(),
            content: &input.content,
            content_hash: &hash,
        };
        let outcome = match existing {
            Some((id, _)) => {
                doc.id = id;
                store::replace_document(&*tx, &doc).await?;
                Outcome::Updated
            }
            None => {
                store::insert_document(&*tx, &doc).await?;
                Outcome::Added
            }
        };
        store::insert_chunks(&*tx, doc.id, &chunks).await?;
        tx.commit().await?;
        Ok((doc.id, outcome))
    };
    Ok(db.bounded(work).await?)
}

/// SHA-256 of `content`, hex.
pub fn content_hash(content: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, content.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The words of a question for the full-text half (`plainto_tsquery`: chunks with every
/// word that is not a stop word): letters and digits only, at most [`MAX_SEARCH_WORDS`].
pub fn search_words(question: &str) -> String {
    question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(64).collect::<String>().to_lowercase())
        .take(MAX_SEARCH_WORDS)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whose documents `caller` sees: an admin or a maia without authentication all, a token
/// its own and the owner's.
pub(super) fn shelf(caller: &Caller) -> Shelf {
    match caller.token_id {
        Some(token) if !caller.scopes.contains(Scope::Admin) => Shelf::Token(token),
        _ => Shelf::All,
    }
}

fn not_found(id: Uuid) -> ServiceError {
    ServiceError::NotFound(format!("no document with id {id}"))
}

/// A page of documents and the cursor for the next one (none on the last page).
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentPage {
    pub documents: Vec<Document>,
    /// Give it as `before` for the next page; none on the last.
    #[schema(value_type = Option<String>, pattern = "^[A-Za-z0-9_-]{32}$")]
    pub next_before: Option<PageCursor>,
}

/// One document with its text.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    #[serde(flatten)]
    pub document: Document,
    pub content: String,
}

/// A document put, and what that did.
#[derive(Debug, Serialize, ToSchema)]
pub struct PutDocument {
    #[serde(flatten)]
    pub document: Document,
    pub outcome: Outcome,
}

impl Services {
    /// Ok when knowledge can be used here; otherwise what to install or run.
    pub async fn require_knowledge(&self) -> Result<(), ServiceError> {
        self.knowledge
            .require(&self.db, self.embedder.space())
            .await
    }

    /// Adds (or, by its source, replaces) a document of `caller`'s.
    pub async fn add_document(
        &self,
        caller: &Caller,
        input: DocumentInput,
    ) -> Result<PutDocument, ServiceError> {
        self.require_knowledge().await?;
        let (id, outcome) = {
            let _slot = self.gate.enter().await.map_err(ServiceError::Embedding)?;
            put_document(&self.db, &self.embedder, caller.token_id, &input).await?
        };
        tracing::info!(document_id = %id, ?outcome, "document put");
        let view = self.document(caller, id).await?;
        Ok(PutDocument {
            document: view.document,
            outcome,
        })
    }

    /// `limit` documents `caller` sees, newest first, older than `before`.
    pub async fn documents(
        &self,
        caller: &Caller,
        limit: i64,
        before: Option<PageCursor>,
    ) -> Result<DocumentPage, ServiceError> {
        self.require_knowledge().await?;
        let work = async {
            let db = self.db.conn().await?;
            store::list_documents(&**db, shelf(caller), limit, before.as_ref()).await
        };
        let documents = self.db.bounded(work).await?;
        let next_before = match documents.last() {
            Some(last) if documents.len() as i64 == limit => Some(PageCursor {
                at: last.created_at,
                id: last.id,
            }),
            _ => None,
        };
        Ok(DocumentPage {
            documents,
            next_before,
        })
    }

    /// One document `caller` sees, with its text.
    pub async fn document(&self, caller: &Caller, id: Uuid) -> Result<DocumentView, ServiceError> {
        self.require_knowledge().await?;
        let work =
            async { store::find_document(&**self.db.conn().await?, shelf(caller), id).await };
        let (document, content) = self.db.bounded(work).await?.ok_or_else(|| not_found(id))?;
        Ok(DocumentView { document, content })
    }

    /// Deletes a document of `caller`'s (an admin: any) with its chunks.
    pub async fn remove_document(&self, caller: &Caller, id: Uuid) -> Result<(), ServiceError> {
        self.require_knowledge().await?;
        let token = match shelf(caller) {
            Shelf::All => None,
            Shelf::Token(token) => Some(token),
        };
        let work = async { store::delete_document(&**self.db.conn().await?, id, token).await };
        if self.db.bounded(work).await? {
            tracing::info!(document_id = %id, "document deleted with its chunks");
            Ok(())
        } else {
            Err(not_found(id))
        }
    }

    /// The `k` chunks `caller` sees that best answer `question`.
    pub async fn search(
        &self,
        caller: &Caller,
        question: &str,
        k: i64,
    ) -> Result<Vec<Hit>, ServiceError> {
        self.search_shelf(shelf(caller), question, k).await
    }

    /// The `k` chunks on `shelf` that best answer `question`: embedded (a slot at the
    /// model, as any call to Ollama), then looked for by meaning and by words at once.
    pub(super) async fn search_shelf(
        &self,
        shelf: Shelf,
        question: &str,
        k: i64,
    ) -> Result<Vec<Hit>, ServiceError> {
        self.require_knowledge().await?;
        let embedding = {
            let _slot = self.gate.enter().await.map_err(ServiceError::Embedding)?;
            let mut embedded = self
                .embedder
                .embed(&[question.to_string()])
                .await
                .map_err(ServiceError::Embedding)?;
            embedded.pop().ok_or_else(|| {
                ServiceError::Embedding(LlmError::Upstream("no embedding came back".into()))
            })?
        };
        let query = store::SearchQuery {
            embedding,
            words: search_words(question),
            k,
            candidates: (k * CANDIDATES_PER_HIT).max(40),
        };
        let work = async {
            let mut conn = self.db.conn().await?;
            let tx = conn.transaction().await?;
            store::set_search_breadth(&*tx, query.candidates).await?;
            let hits = store::search(&tx, shelf, &query).await?;
            tx.commit().await?;
            Ok(hits)
        };
        Ok(self.db.bounded(work).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_are_letters_and_digits_only() {
        assert_eq!(
            search_words("When does the backup run? (pg_dump & 'cron')"),
            "when does the backup run pg dump cron"
        );
        assert_eq!(search_words("!!! ::: |&"), "");
        assert_eq!(search_words("Größe über"), "größe über");
    }

    #[test]
    fn the_content_hash_is_sha256_hex() {
        assert_eq!(
            content_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
