//! The owner's documents from the command line (`maia docs`): put by no token (so every
//! token sees them), listed and removed whoever added them, and every chunk embedded
//! again with the configured model.

use uuid::Uuid;

use super::embedder::{space_of, Embedder};
use super::error::ServiceError;
use super::knowledge::{put_document, Outcome};
use crate::config::Settings;
use crate::domain::DocumentInput;
use crate::llm::Llm;
use crate::store::{self, ChunkKey, Db, Document, EmbeddingSpace, KnowledgeState, Shelf};

/// Chunks embedded and stored at a time by `reembed`: one call to Ollama (its batch), one
/// transaction.
const REEMBED_BATCH: i64 = 32;
/// Documents read at a time by `list`.
const LIST_PAGE: i64 = 500;

/// The documents of one database, and the model that embeds them.
pub struct Library {
    db: Db,
    embedder: Embedder,
    settings: Settings,
}

/// How far `reembed` is: chunks embedded, of how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

impl Library {
    pub fn new(db: Db, llm: Llm, settings: &Settings) -> Self {
        Self {
            db,
            embedder: Embedder::new(llm, &settings.knowledge),
            settings: settings.clone(),
        }
    }

    /// The model and length the configuration names.
    pub fn space(&self) -> &EmbeddingSpace {
        self.embedder.space()
    }

    /// Whether knowledge can be used: an error in the words the knowledge routes use
    /// (`knowledge_unavailable`) if not.
    pub async fn require_ready(&self) -> Result<(), ServiceError> {
        match self.state().await? {
            KnowledgeState::Ready => Ok(()),
            other => Err(ServiceError::KnowledgeUnavailable(other)),
        }
    }

    async fn state(&self) -> Result<KnowledgeState, ServiceError> {
        let space = space_of(&self.settings.knowledge);
        let work = async { store::knowledge_state(&**self.db.conn().await?, &space).await };
        Ok(self.db.bounded(work).await?)
    }

    /// Adds `input` as the owner's, or replaces the document with its source if its
    /// content changed: embedded first, then written in one transaction.
    pub async fn put(&self, input: &DocumentInput) -> Result<(Uuid, Outcome), ServiceError> {
        put_document(&self.db, &self.embedder, None, input).await
    }

    /// Every document, newest first.
    pub async fn list(&self) -> Result<Vec<Document>, ServiceError> {
        let mut all: Vec<Document> = Vec::new();
        loop {
            let before = all.last().map(|d| crate::domain::PageCursor {
                at: d.created_at,
                id: d.id,
            });
            let work = async {
                let db = self.db.conn().await?;
                store::list_documents(&**db, Shelf::All, LIST_PAGE, before.as_ref()).await
            };
            let page = self.db.bounded(work).await?;
            let last = (page.len() as i64) < LIST_PAGE;
            all.extend(page);
            if last {
                return Ok(all);
            }
        }
    }

    /// The owner's document with this source, if there is one.
    pub async fn find_source(&self, source: &str) -> Result<Option<Uuid>, ServiceError> {
        let work = async { store::find_by_source(&**self.db.conn().await?, None, source).await };
        Ok(self.db.bounded(work).await?.map(|(id, _)| id))
    }

    /// Brings the planner's figures up to date after many documents were put (see
    /// `store::analyze_documents`).
    pub async fn analyze(&self) -> Result<(), ServiceError> {
        let work = async { store::analyze_documents(&**self.db.conn().await?).await };
        Ok(self.db.bounded(work).await?)
    }

    /// Deletes a document (whoever added it) and its chunks; whether there was one.
    pub async fn remove(&self, id: Uuid) -> Result<bool, ServiceError> {
        let work = async { store::delete_document(&**self.db.conn().await?, id, None).await };
        Ok(self.db.bounded(work).await?)
    }

    /// Embeds every chunk again with the configured model, `progress` told after each
    /// batch. Where the documents were embedded with another model (or length), knowledge
    /// is first set up for this one, which drops the old embeddings: a search then finds
    /// by words only the chunks not yet embedded again, until this is done. Interrupted,
    /// it can be run again. How many chunks it embedded.
    pub async fn reembed(&self, mut progress: impl FnMut(Progress)) -> Result<u64, ServiceError> {
        match self.state().await? {
            KnowledgeState::Ready => {}
            KnowledgeState::OtherSpace { .. } => {
                store::adopt_space(&self.settings.database, self.space()).await?;
            }
            other => return Err(ServiceError::KnowledgeUnavailable(other)),
        }
        let work = async { store::count_chunks(&**self.db.conn().await?).await };
        let total = self.db.bounded(work).await?;
        let mut at = Progress {
            done: 0,
            total: u64::try_from(total).unwrap_or(0),
        };
        progress(at);
        let mut after: Option<ChunkKey> = None;
        loop {
            let work = async {
                let db = self.db.conn().await?;
                store::chunks_after(&**db, after, REEMBED_BATCH).await
            };
            let batch = self.db.bounded(work).await?;
            let Some((last, _)) = batch.last() else {
                return Ok(at.done);
            };
            after = Some(*last);
            let embedded = batch.len() as u64;
            self.embed_again(batch).await?;
            // Chunks added meanwhile are embedded too: the total grows with them.
            at.done += embedded;
            at.total = at.total.max(at.done);
            progress(at);
        }
    }

    /// One batch of chunks embedded, and stored in one transaction.
    async fn embed_again(&self, batch: Vec<(ChunkKey, String)>) -> Result<(), ServiceError> {
        let (keys, texts): (Vec<ChunkKey>, Vec<String>) = batch.into_iter().unzip();
        let embeddings = self
            .embedder
            .embed(&texts)
            .await
            .map_err(ServiceError::Embedding)?;
        let chunks: Vec<_> = keys.into_iter().zip(embeddings).collect();
        let work = async {
            let mut conn = self.db.conn().await?;
            let tx = conn.transaction().await?;
            store::set_embeddings(&*tx, &chunks).await?;
            tx.commit().await?;
            Ok(())
        };
        Ok(self.db.bounded(work).await?)
    }
}
