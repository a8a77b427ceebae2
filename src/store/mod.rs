//! PostgreSQL: every statement maia runs is here, one function each, with the pool, TLS,
//! migrations and the one database error.

mod conversations;
mod documents;
mod error;
mod export;
mod knowledge;
mod migrations;
mod personas;
mod pool;
mod retention;
mod tls;
mod tokens;
mod traces;

pub use conversations::{
    delete_conversation_traces, delete_conversations, find_conversation, insert_conversation,
    insert_message, list_conversations, note_activity, recent_messages, update_conversation,
    Conversation, ConversationRow, ConversationUpdate, MessageBudget, NewMessage, Owner,
    StoredMessage,
};
pub use documents::{
    analyze_documents, chunks_after, count_chunks, delete_document, find_by_source, find_document,
    insert_chunks, insert_document, list_documents, replace_document, search, set_embeddings,
    set_search_breadth, ChunkKey, Document, Hit, NewChunk, NewDocument, SearchQuery, Shelf,
};
pub use error::StoreError;
pub use export::{
    export_page, fill_references, has_knowledge_tables, import_rows, live_name_clash, Table, TABLES,
};
pub use knowledge::{
    adopt_space, knowledge_state, set_up_knowledge, EmbeddingSpace, KnowledgeState,
};
pub use migrations::{
    embedded_migrations, migrate, migrate_when_ready, migration_status, Migration, MigrationStatus,
    SchemaMismatch, READY_WAIT,
};
pub use personas::{
    delete_persona, find_persona, insert_persona, list_personas, replace_persona, restore_persona,
    Persona,
};
pub use pool::{connect, Db};
pub use retention::{count_expiring, delete_traces_before, lock_idle_conversations, Expiring};
pub use tokens::{
    delete_session, find_session, find_token, insert_session, insert_token, list_tokens,
    live_token_hash, revoke_token, touch_token, Grant, NewToken, TokenRecord,
};
pub use traces::{
    delete_trace, get_trace, insert_trace, list_traces, Citation, CouncilVoice, NewTrace, Trace,
    TraceStatus,
};
