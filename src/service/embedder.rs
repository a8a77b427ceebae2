//! The embedding model as configured, and whether knowledge can be used on the database:
//! what `Services` holds for knowledge (`super::knowledge` uses them).

use std::sync::RwLock;
use std::time::{Duration, Instant};

use pgvector::Vector;

use super::error::ServiceError;
use crate::config::KnowledgeSettings;
use crate::llm::{Llm, LlmError};
use crate::store::{self, Db, EmbeddingSpace, KnowledgeState};

/// How long a verdict on knowledge is trusted.
const STATE_FOR: Duration = Duration::from_secs(5);

/// The embedding model, as configured, and the Ollama it runs on.
#[derive(Clone)]
pub struct Embedder {
    llm: Llm,
    space: EmbeddingSpace,
}

impl Embedder {
    pub fn new(llm: Llm, settings: &KnowledgeSettings) -> Self {
        Self {
            llm,
            space: space_of(settings),
        }
    }

    pub fn space(&self) -> &EmbeddingSpace {
        &self.space
    }

    /// One embedding per text, in order.
    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Vector>, LlmError> {
        let dimensions = usize::try_from(self.space.dimensions).unwrap_or(0);
        let embeddings = self.llm.embed(&self.space.model, texts, dimensions).await?;
        Ok(embeddings.into_iter().map(Vector::from).collect())
    }
}

/// The embedding space the configuration names.
pub fn space_of(settings: &KnowledgeSettings) -> EmbeddingSpace {
    EmbeddingSpace {
        model: settings.embed_model.clone(),
        dimensions: i32::try_from(settings.embed_dimensions).unwrap_or(i32::MAX),
    }
}

/// Whether knowledge can be used, looked at no more than every few seconds.
#[derive(Default)]
pub(super) struct KnowledgeWatch {
    last: RwLock<Option<(Instant, KnowledgeState)>>,
}

impl KnowledgeWatch {
    pub(super) async fn require(
        &self,
        db: &Db,
        space: &EmbeddingSpace,
    ) -> Result<(), ServiceError> {
        let fresh = {
            let last = self.last.read().unwrap_or_else(|e| e.into_inner());
            last.as_ref()
                .filter(|(at, _)| at.elapsed() < STATE_FOR)
                .map(|(_, state)| state.clone())
        };
        let state = match fresh {
            Some(state) => state,
            None => {
                let work = async { store::knowledge_state(&**db.conn().await?, space).await };
                let state = db.bounded(work).await?;
                *self.last.write().unwrap_or_else(|e| e.into_inner()) =
                    Some((Instant::now(), state.clone()));
                state
            }
        };
        match state {
            KnowledgeState::Ready => Ok(()),
            other => Err(ServiceError::KnowledgeUnavailable(other)),
        }
    }
}
