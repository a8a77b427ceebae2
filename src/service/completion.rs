//! A chat completion, for the OpenAI-compatible routes: the client's messages (after a
//! persona's prompt, for a persona's model), answered as every other question is
//! ([`Services::answer`]): streamed, with its trace kept `ok`, `failed` or `cancelled`.

use std::future::Future;

use super::answer::{AnswerEvents, Exchange};
use super::asked::Asked;
use super::auth::Caller;
use super::error::ServiceError;
use super::services::Services;
use super::sources::Retrieval;
use crate::domain::{Completion, Mode, PersonaName, Sampling, Speaker, Turn};
use crate::llm::chat::{ChatOptions, Message, Role};
use crate::llm::model_present;
use crate::store::{self, Persona};

/// A persona's model is named this and the persona's name: `maia-socratic`.
pub const PERSONA_MODEL_PREFIX: &str = "maia-";

/// A model a client may name, and the persona it stands for (if any).
#[derive(Debug, Clone)]
pub struct CompletionModel {
    pub id: String,
    pub persona: Option<String>,
}

/// The Ollama model that answers, and the persona whose prompt goes first.
struct Resolved {
    model: String,
    persona: Option<Persona>,
}

impl Services {
    /// The models the OpenAI-compatible routes offer: the allowed ones, then one per
    /// persona (on `ollama.model`).
    pub async fn completion_models(&self) -> Result<Vec<CompletionModel>, ServiceError> {
        let personas = self.personas().await?;
        let plain = self.allowed_models.iter().map(|m| CompletionModel {
            id: m.clone(),
            persona: None,
        });
        let personas = personas.into_iter().map(|p| CompletionModel {
            id: format!("{PERSONA_MODEL_PREFIX}{}", p.name),
            persona: Some(p.name),
        });
        Ok(plain.chain(personas).collect())
    }

    /// Starts answering `completion`, asked by `caller`, once a slot at the model is
    /// free; `client_gone` resolves if the client disconnects. An unknown model, or the
    /// database down, is an error before Ollama is asked.
    pub async fn complete(
        &self,
        completion: Completion,
        caller: &Caller,
        client_gone: impl Future<Output = ()> + Send + 'static,
    ) -> Result<AnswerEvents, ServiceError> {
        // Boxed, as `converse`'s database steps are.
        let resolved = Box::pin(self.resolve(&completion.model)).await?;
        let asked = Asked {
            query: completion.question.as_str().to_string(),
            // No deep prompt is added here: the client's messages are the prompt.
            mode: Mode::Fast,
            persona: resolved.persona.as_ref().map(|p| p.name.clone()),
            model: resolved.model.clone(),
            token_id: caller.token_id,
            message_id: None,
        };
        let options = options(&completion.sampling);
        // None set: the model's own defaults, and no `options` at all.
        let options = (options != ChatOptions::default()).then_some(options);
        let exchange = Exchange {
            asked,
            messages: messages(resolved.persona.as_ref(), &completion.turns),
            options,
            reply: None,
            knowledge: Retrieval::of(completion.knowledge, caller),
            citations: None,
            council: None,
        };
        self.answer(exchange, client_gone).await
    }

    /// Which model answers: an allowed one as named, or `maia-<persona>` on `ollama.model`.
    /// The database is asked either way, first: if it is down the call could not be kept,
    /// so Ollama is not asked.
    async fn resolve(&self, model: &str) -> Result<Resolved, ServiceError> {
        let persona_name = model
            .strip_prefix(PERSONA_MODEL_PREFIX)
            .and_then(|name| PersonaName::parse(name).ok());
        let persona = self
            .db
            .bounded(async {
                let db = self.db.conn().await?;
                match &persona_name {
                    Some(name) => store::find_persona(&**db, name.as_str()).await,
                    None => Ok(None),
                }
            })
            .await?;
        if model_present(&self.allowed_models, model) {
            return Ok(Resolved {
                model: model.to_string(),
                persona: None,
            });
        }
        match persona {
            Some(persona) => Ok(Resolved {
                model: self.fast_model.clone(),
                persona: Some(persona),
            }),
            None => Err(ServiceError::NoSuchModel {
                model: model.to_string(),
                available: self
                    .allowed_models
                    .iter()
                    .map(|m| format!("{m:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

/// The persona's prompt first, then the client's messages as sent (its own system
/// messages included: both apply).
fn messages(persona: Option<&Persona>, turns: &[Turn]) -> Vec<Message> {
    let persona = persona.map(|p| Message::new(Role::System, p.system_prompt.clone()));
    persona
        .into_iter()
        .chain(turns.iter().map(message))
        .collect()
}

fn message(turn: &Turn) -> Message {
    let role = match turn.speaker {
        Speaker::System => Role::System,
        Speaker::User => Role::User,
        Speaker::Assistant => Role::Assistant,
    };
    Message::new(role, turn.content.clone())
}

fn options(sampling: &Sampling) -> ChatOptions {
    ChatOptions {
        temperature: sampling.temperature,
        top_p: sampling.top_p,
        num_predict: sampling.max_tokens,
        stop: sampling.stop.clone(),
        seed: sampling.seed,
        frequency_penalty: sampling.frequency_penalty,
        presence_penalty: sampling.presence_penalty,
    }
}
