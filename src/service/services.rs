//! What the use cases share.

use crate::config::Settings;
use crate::domain::Mode;
use crate::llm::Llm;
use crate::store::Db;

/// The database, the model, and which model each mode uses. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub(super) db: Db,
    pub(super) llm: Llm,
    fast_model: String,
    deep_model: String,
    /// The largest response built whole (`http.max_response_bytes`).
    pub(super) max_response_bytes: usize,
}

impl Services {
    pub fn new(db: Db, llm: Llm, settings: &Settings) -> Self {
        Self {
            db,
            llm,
            fast_model: settings.ollama.model.clone(),
            deep_model: settings.deep_model().to_string(),
            max_response_bytes: settings.http.max_response_bytes,
        }
    }

    /// The configured model for a mode (a question may name another).
    pub(super) fn model_for(&self, mode: Mode) -> &str {
        match mode {
            Mode::Fast => &self.fast_model,
            Mode::Deep => &self.deep_model,
        }
    }
}
