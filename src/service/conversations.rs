//! Conversations: kept per token (a token sees its own, `admin` sees all), each question
//! asked with the persona's prompt and the earlier messages as context, each answer
//! stored as a message, and every exchange as a trace.

use std::future::Future;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::answer::{AnswerEvents, Exchange, Finished, Reply};
use super::asked::Asked;
use super::auth::Caller;
use super::error::ServiceError;
use super::services::Services;
use super::sources::Retrieval;
use crate::domain::{
    Consult, ConversationChange, Mode, ModelName, NewConversation, PageCursor, PersonaName, Query,
    Scope, Title,
};
use crate::llm::chat::{Message, Role};
use crate::store::{self, Conversation, ConversationRow, ConversationUpdate, Owner};
use crate::store::{MessageBudget, NewMessage, StoredMessage};

/// What a message costs a response beyond its text (ids, times, JSON).
const MESSAGE_OVERHEAD_BYTES: i32 = 256;
/// What a message costs a model's context beyond its text (its role, the chat template),
/// in bytes, at four bytes a token.
const MESSAGE_OVERHEAD_CONTEXT_BYTES: i32 = 16;
/// Bytes of text per token, for the context's estimate.
const BYTES_PER_TOKEN: i64 = 4;

/// A page of conversations and the cursor for the next one (none on the last page).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage {
    pub conversations: Vec<Conversation>,
    /// Where this page ended: pass it unchanged as `before` for the next one. Null on the
    /// last page.
    #[schema(value_type = Option<String>, pattern = "^[A-Za-z0-9_-]{32}$")]
    pub next_before: Option<PageCursor>,
}

/// A conversation with its messages, oldest first: the newest that fit in a response
/// (`message_count` says how many there are).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationView {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub messages: Vec<StoredMessage>,
}

/// A question asked in a conversation: its text, whether it draws on the owner's
/// documents, and its mode when it is not the conversation's.
#[derive(Debug)]
pub struct Asking {
    pub content: Query,
    pub knowledge: Option<Consult>,
    /// This question's mode; none: the conversation's.
    pub mode: Option<Mode>,
}

/// A question taken into a conversation: what its answer belongs to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TurnInfo {
    pub conversation_id: Uuid,
    /// The question's message.
    pub question_id: Uuid,
    /// The conversation's title, made from its first question if it had none.
    pub title: Option<String>,
    /// How many earlier messages went with the question (the oldest beyond
    /// `chat.context_messages` and `chat.context_tokens` were left out).
    pub context_messages: usize,
}

/// A question taken, and its answer as it is written.
pub struct Turn {
    pub info: TurnInfo,
    pub events: AnswerEvents,
}

/// An answer to a conversation's question, stored: what `done` says, and the whole
/// answer's text when it was not streamed.
#[derive(Debug, Serialize, ToSchema)]
pub struct TurnDone {
    #[serde(flatten)]
    pub turn: TurnInfo,
    #[serde(flatten)]
    pub finished: Finished,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// The conversations `caller` may see and change.
fn owner(caller: &Caller) -> Owner {
    if caller.scopes.contains(Scope::Admin) {
        Owner::Anyone
    } else {
        Owner::Token(caller.token_id)
    }
}

fn not_found(id: Uuid) -> ServiceError {
    ServiceError::NotFound(format!("no conversation with id {id}"))
}

impl Services {
    /// A new conversation of `caller`'s; its persona must exist and its model be allowed.
    pub async fn start_conversation(
        &self,
        caller: &Caller,
        new: NewConversation,
    ) -> Result<Conversation, ServiceError> {
        self.model_for(new.mode, new.model.as_ref())?;
        // Also shows the database is there.
        self.system_prompt(new.persona.as_ref(), new.mode).await?;
        let row = ConversationRow {
            id: Uuid::new_v4(),
            token_id: caller.token_id,
            title: new.title.as_ref().map(Title::as_str),
            persona: new.persona.as_ref().map(PersonaName::as_str),
            model: new.model.as_ref().map(ModelName::as_str),
            mode: new.mode,
        };
        let work = async { store::insert_conversation(&**self.db.conn().await?, &row).await };
        Ok(self.db.bounded(work).await?)
    }

    /// `limit` conversations of `caller`'s, newest activity first, older than `before`.
    pub async fn conversations(
        &self,
        caller: &Caller,
        limit: i64,
        before: Option<PageCursor>,
    ) -> Result<ConversationPage, ServiceError> {
        let work = async {
            let db = self.db.conn().await?;
            store::list_conversations(&**db, owner(caller), limit, before.as_ref()).await
        };
        let conversations = self.db.bounded(work).await?;
        let next_before = match conversations.last() {
            Some(last) if conversations.len() as i64 == limit => Some(PageCursor {
                at: last.last_activity_at,
                id: last.id,
            }),
            _ => None,
        };
        Ok(ConversationPage {
            conversations,
            next_before,
        })
    }

    /// One conversation of `caller`'s with its newest messages.
    pub async fn conversation(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<ConversationView, ServiceError> {
        let max_bytes = i64::try_from(self.max_response_bytes).unwrap_or(i64::MAX);
        let work = async {
            let db = self.db.conn().await?;
            let Some(conversation) = store::find_conversation(&**db, id, owner(caller)).await?
            else {
                return Ok(None);
            };
            let budget = MessageBudget {
                messages: i64::MAX,
                bytes: max_bytes,
                overhead: MESSAGE_OVERHEAD_BYTES,
                citations: true,
                at_least_one: true,
            };
            let messages = store::recent_messages(&**db, id, budget).await?;
            Ok(Some(ConversationView {
                conversation,
                messages,
            }))
        };
        self.db.bounded(work).await?.ok_or_else(|| not_found(id))
    }

    /// Changes the title, persona (which must exist), model (which must be allowed) or
    /// mode of a conversation of `caller`'s.
    pub async fn change_conversation(
        &self,
        caller: &Caller,
        id: Uuid,
        change: ConversationChange,
    ) -> Result<Conversation, ServiceError> {
        if let Some(Some(model)) = &change.model {
            self.model_for(Mode::Fast, Some(model))?;
        }
        if let Some(Some(persona)) = &change.persona {
            self.system_prompt(Some(persona), Mode::Fast).await?;
        }
        let update = ConversationUpdate {
            title: change.title.as_ref().map(|t| t.as_ref().map(Title::as_str)),
            persona: change
                .persona
                .as_ref()
                .map(|p| p.as_ref().map(PersonaName::as_str)),
            model: change
                .model
                .as_ref()
                .map(|m| m.as_ref().map(ModelName::as_str)),
            mode: change.mode,
        };
        let work = async {
            let db = self.db.conn().await?;
            store::update_conversation(&**db, id, owner(caller), &update).await
        };
        self.db.bounded(work).await?.ok_or_else(|| not_found(id))
    }

    /// Deletes a conversation of `caller`'s, its messages and the traces of its
    /// exchanges, all in one transaction.
    pub async fn forget_conversation(&self, caller: &Caller, id: Uuid) -> Result<(), ServiceError> {
        let owner = owner(caller);
        let work = async {
            let mut conn = self.db.conn().await?;
            let tx = conn.transaction().await?;
            let traces = store::delete_conversation_traces(&*tx, &[id], owner).await?;
            let deleted = store::delete_conversations(&*tx, &[id], owner).await? > 0;
            tx.commit().await?;
            Ok((deleted, traces))
        };
        match self.db.bounded(work).await? {
            (true, traces) => {
                tracing::info!(conversation_id = %id, traces, "conversation deleted with its messages and traces");
                Ok(())
            }
            (false, _) => Err(not_found(id)),
        }
    }

    /// Asks `asking` in a conversation of `caller`'s: the question is stored, then asked
    /// with the persona's prompt and the earlier messages as context (and, with
    /// `knowledge`, the sources found for it); its answer streams from the result and is
    /// stored as a message once whole.
    pub async fn converse(
        &self,
        caller: &Caller,
        id: Uuid,
        asking: Asking,
        client_gone: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Turn, ServiceError> {
        let Asking {
            content,
            knowledge,
            mode,
        } = asking;
        let work = async {
            let db = self.db.conn().await?;
            let Some(conversation) = store::find_conversation(&**db, id, owner(caller)).await?
            else {
                return Ok(None);
            };
            let context = self.context(&**db, id).await?;
            Ok(Some((conversation, context)))
        };
        // Each step boxed: inline, their futures (large, as database calls are) would make
        // this one their size for as long as the question is in flight, a thousand at once.
        let (conversation, context) = Box::pin(self.db.bounded(work))
            .await?
            .ok_or_else(|| not_found(id))?;
        let (mode, persona, model) = self.settings_of(&conversation, mode)?;
        // In council mode the conversation's persona waits: the council's voices, then
        // its synthesizer, each bring their own prompt.
        let (system_prompt, council) = if mode == Mode::Council {
            (None, Some(Box::new(Box::pin(self.council()).await?)))
        } else {
            let prompt = Box::pin(self.system_prompt(persona.as_ref(), mode)).await?;
            (Some(prompt), None)
        };
        let question_id = Uuid::new_v4();
        let title = Box::pin(self.take_question(&conversation, question_id, &content)).await?;
        let info = TurnInfo {
            conversation_id: id,
            question_id,
            title,
            context_messages: context.len(),
        };
        let exchange = Exchange {
            asked: Asked {
                query: content.as_str().to_string(),
                mode,
                persona: council
                    .is_none()
                    .then(|| conversation.persona.clone())
                    .flatten(),
                model,
                token_id: caller.token_id,
                message_id: Some(question_id),
            },
            messages: chat(system_prompt, &context, &content),
            options: None,
            reply: Some(Reply {
                conversation_id: id,
                message_id: Uuid::new_v4(),
            }),
            knowledge: Retrieval::of(knowledge, caller),
            citations: None,
            council,
        };
        let events = Box::pin(self.answer(exchange, client_gone)).await?;
        Ok(Turn { info, events })
    }

    /// [`Services::converse`], the answer collected whole.
    pub async fn converse_whole(
        &self,
        caller: &Caller,
        id: Uuid,
        asking: Asking,
        client_gone: impl Future<Output = ()> + Send + 'static,
    ) -> Result<TurnDone, ServiceError> {
        let turn = self.converse(caller, id, asking, client_gone).await?;
        let (text, finished) = turn.events.collect().await?;
        Ok(TurnDone {
            turn: turn.info,
            finished,
            content: Some(text),
        })
    }

    /// The earlier messages that go with a new question, within the budget.
    async fn context(
        &self,
        db: &impl tokio_postgres::GenericClient,
        id: Uuid,
    ) -> Result<Vec<StoredMessage>, store::StoreError> {
        let budget = MessageBudget {
            messages: i64::try_from(self.context.messages).unwrap_or(i64::MAX),
            bytes: i64::try_from(self.context.tokens)
                .unwrap_or(i64::MAX)
                .saturating_mul(BYTES_PER_TOKEN),
            overhead: MESSAGE_OVERHEAD_CONTEXT_BYTES,
            // The model reads an answer's text, not its citations.
            citations: false,
            at_least_one: false,
        };
        store::recent_messages(db, id, budget).await
    }

    /// The conversation's mode (or the question's own), persona and model, as a question
    /// is asked with them now.
    fn settings_of(
        &self,
        conversation: &Conversation,
        mode: Option<Mode>,
    ) -> Result<(Mode, Option<PersonaName>, String), ServiceError> {
        let mode = match mode {
            Some(mode) => mode,
            None => Mode::parse(&conversation.mode)?,
        };
        let persona = conversation
            .persona
            .as_deref()
            .map(PersonaName::parse)
            .transpose()?;
        let named = conversation
            .model
            .as_deref()
            .map(ModelName::parse)
            .transpose()?;
        Ok((mode, persona, self.model_for(mode, named.as_ref())?))
    }

    /// Stores the question as a message (an untitled conversation gets its title from
    /// it), in one transaction; the conversation's title afterwards.
    async fn take_question(
        &self,
        conversation: &Conversation,
        question_id: Uuid,
        content: &Query,
    ) -> Result<Option<String>, ServiceError> {
        let message = NewMessage {
            id: question_id,
            conversation_id: conversation.id,
            role: "user",
            content: content.as_str(),
            trace_id: None,
            citations: None,
        };
        let title = Title::from_question(content);
        let work = async {
            let mut conn = self.db.conn().await?;
            let tx = conn.transaction().await?;
            store::insert_message(&*tx, &message).await?;
            let title =
                store::note_activity(&*tx, conversation.id, title.as_ref().map(Title::as_str))
                    .await?;
            tx.commit().await?;
            Ok(title)
        };
        Ok(self.db.bounded(work).await?)
    }
}

/// The chat Ollama is asked: the system prompt (a council's voices bring their own), the
/// earlier messages, the question.
fn chat(
    system_prompt: Option<String>,
    context: &[StoredMessage],
    question: &Query,
) -> Vec<Message> {
    let mut messages = Vec::with_capacity(context.len() + 2);
    if let Some(prompt) = system_prompt {
        messages.push(Message::new(Role::System, prompt));
    }
    for earlier in context {
        let role = match earlier.role.as_str() {
            "assistant" => Role::Assistant,
            _ => Role::User,
        };
        messages.push(Message::new(role, earlier.content.clone()));
    }
    messages.push(Message::new(Role::User, question.as_str()));
    messages
}
