//! What the use cases share.

use std::sync::Arc;
use std::time::Duration;

use super::embedder::{Embedder, KnowledgeWatch};
use super::error::ServiceError;
use super::gate::LlmGate;
use super::in_flight::InFlight;
use super::retention::Retention;
use super::schema::SchemaWatch;
use super::shutdown::StreamsEnd;
use crate::config::{RetentionSettings, Settings};
use crate::domain::{Mode, ModelName, PersonaName, ValidationError};
use crate::llm::{model_present, Llm};
use crate::metrics::Metrics;
use crate::store::Db;

/// The database, the model, and which model each mode uses. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub(super) db: Db,
    pub(super) llm: Llm,
    pub(super) fast_model: String,
    deep_model: String,
    /// The largest response built whole (`http.max_response_bytes`).
    pub(super) max_response_bytes: usize,
    /// The models a question may name.
    pub(super) allowed_models: Vec<String>,
    pub(super) gate: Arc<LlmGate>,
    pub(super) schema: Arc<SchemaWatch>,
    pub(super) in_flight: Arc<InFlight>,
    /// `http.shutdown_grace`, named in the trace of a question the shutdown cut off.
    pub(super) shutdown_grace: u64,
    /// When answers still streaming must end, once the server stops.
    pub(super) streams_end: Arc<StreamsEnd>,
    /// `chat.context_messages` and `chat.context_tokens`: a conversation's context.
    pub(super) context: ContextBudget,
    /// The embedding model (`knowledge.embed_model`).
    pub(super) embedder: Embedder,
    /// Whether knowledge can be used on this database.
    pub(super) knowledge: Arc<KnowledgeWatch>,
    /// What `GET /metrics` reports; traces are counted as they are stored.
    pub(super) metrics: Metrics,
    /// `council.personas`, as persona names: the voices of a council.
    pub(super) council_personas: Arc<[String]>,
    /// `council.synthesizer`: the persona that merges a council's answers.
    pub(super) council_synthesizer: String,
}

/// How much of a conversation goes with a new question: at most this many earlier
/// messages, of at most this many estimated tokens together.
#[derive(Debug, Clone, Copy)]
pub(super) struct ContextBudget {
    pub messages: usize,
    pub tokens: usize,
}

impl Services {
    pub fn new(db: Db, llm: Llm, settings: &Settings, metrics: Metrics) -> Self {
        Self {
            embedder: Embedder::new(llm.clone(), &settings.knowledge),
            db,
            llm,
            fast_model: settings.ollama.model.clone(),
            deep_model: settings.deep_model().to_string(),
            max_response_bytes: settings.http.max_response_bytes,
            allowed_models: allowed_models(settings),
            gate: Arc::new(LlmGate::new(
                settings.ollama.max_concurrent,
                settings.ollama.max_queue,
                Duration::from_secs(settings.ollama.timeout),
            )),
            schema: Arc::default(),
            in_flight: Arc::default(),
            shutdown_grace: settings.http.shutdown_grace,
            streams_end: Arc::default(),
            context: ContextBudget {
                messages: settings.chat.context_messages,
                tokens: settings.chat.context_tokens,
            },
            knowledge: Arc::default(),
            metrics,
            // Checked by `Settings::validate`; a name as a request's persona is normalised.
            council_personas: settings
                .council
                .personas
                .iter()
                .filter_map(|name| PersonaName::parse(name).ok())
                .map(|name| name.as_str().to_string())
                .collect(),
            council_synthesizer: PersonaName::parse(&settings.council.synthesizer)
                .map(|name| name.as_str().to_string())
                .unwrap_or_else(|_| settings.council.synthesizer.clone()),
        }
    }

    /// The server is stopping: answers still streaming end shortly before the grace does
    /// (`shutdown::STREAM_WIND_DOWN`), each with its trace stored.
    pub fn begin_shutdown(&self) {
        self.streams_end
            .begin(Duration::from_secs(self.shutdown_grace));
    }

    /// Retention on this database, as `settings` set it.
    pub fn retention(&self, settings: &RetentionSettings) -> Retention {
        Retention::new(self.db.clone(), settings)
    }

    /// Everything, as `maia export` writes it (see [`super::export`]).
    pub fn export(
        &self,
        since: Option<crate::domain::Since>,
    ) -> impl futures_util::Stream<Item = Result<String, ServiceError>> + Send + 'static {
        super::export::export(self.db.clone(), since)
    }

    /// Ok when the database's schema is exactly this binary's; otherwise what to do about
    /// it (`StoreError::Schema`), or that the database cannot be asked.
    pub async fn require_current_schema(&self) -> Result<(), ServiceError> {
        self.schema.require_current(&self.db).await
    }

    /// The model a question gets: the one it names, if allowed, else its mode's (a
    /// council's is `ollama.model`: it makes several calls, each of them fast). Any model
    /// Ollama has is not enough: a large one would be loaded and evict the configured one.
    pub(super) fn model_for(
        &self,
        mode: Mode,
        named: Option<&ModelName>,
    ) -> Result<String, ValidationError> {
        match named {
            None => Ok(match mode {
                Mode::Fast | Mode::Council => self.fast_model.clone(),
                Mode::Deep => self.deep_model.clone(),
            }),
            Some(name) if model_present(&self.allowed_models, name.as_str()) => {
                Ok(name.as_str().to_string())
            }
            Some(name) => Err(ValidationError::ModelNotAllowed(
                name.as_str().to_string(),
                self.allowed_models
                    .iter()
                    .map(|m| format!("{m:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
        }
    }
}

fn allowed_models(settings: &Settings) -> Vec<String> {
    let mut models = vec![
        settings.ollama.model.clone(),
        settings.deep_model().to_string(),
    ];
    models.extend(settings.ollama.allowed_models.iter().cloned());
    models.sort();
    models.dedup();
    models
}
