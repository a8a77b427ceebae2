//! Knowledge's schema, kept apart from the core migrations: it needs the extension pgvector,
//! which many PostgreSQL servers lack, and maia must work on those with knowledge off. Its
//! migrations (`migrations-knowledge/`, history in `refinery_knowledge_history`) are applied
//! at each start or `maia migrate` where the extension is there, so a server that gains
//! pgvector gets knowledge at the next start with no manual step. The embedding column's
//! length and its HNSW index follow the configured model (`knowledge_embedding` records
//! which); another model or length means embedding every chunk again.

use tokio_postgres::error::SqlState;
use tokio_postgres::GenericClient;

use super::error::StoreError;
use super::migrations::{lock_migrations, unlock_migrations, HistoryTable};
use super::pool::connect;
use crate::config::DatabaseSettings;

mod embedded {
    refinery::embed_migrations!("migrations-knowledge");
}

/// Where knowledge's migrations are recorded.
const HISTORY: HistoryTable = HistoryTable("refinery_knowledge_history");

/// The model that embeds, and how many numbers its embeddings have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingSpace {
    pub model: String,
    pub dimensions: i32,
}

/// Whether knowledge can be used on a database, and if not, why: each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KnowledgeState {
    #[error("knowledge is ready")]
    Ready,
    #[error(
        "knowledge needs the PostgreSQL extension pgvector, which this server (PostgreSQL \
         {major}) does not have: install it (Debian/Ubuntu: postgresql-{major}-pgvector; \
         Docker: the image pgvector/pgvector:pg{major}; NixOS: services.postgresql.extensions \
         = ps: [ ps.pgvector ]), then restart maia"
    )]
    NoExtension { major: i32 },
    #[error(
        "knowledge needs the extension pgvector in the database {database:?}, and maia's \
         role may not create it: as a superuser, run `CREATE EXTENSION vector;` in that \
         database, then restart maia"
    )]
    NotEnabled { database: String },
    #[error("knowledge is not set up in this database yet: restart maia or run `maia migrate`")]
    NotSetUp,
    #[error(
        "the documents were embedded with {} ({} dimensions), and knowledge.embed_model is \
         {} ({} dimensions): set the model back, or run `maia docs reembed` to embed every \
         chunk again with the configured one",
        .stored.model, .stored.dimensions, .configured.model, .configured.dimensions
    )]
    OtherSpace {
        stored: EmbeddingSpace,
        configured: EmbeddingSpace,
    },
}

/// What the database says about pgvector.
struct Extension {
    database: String,
    major: i32,
    installed: bool,
    available: bool,
}

async fn extension(db: &impl GenericClient) -> Result<Extension, StoreError> {
    let row = db
        .query_one(
            "SELECT current_database()::text, current_setting('server_version_num')::int / 10000, \
             EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector'), \
             EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')",
            &[],
        )
        .await?;
    Ok(Extension {
        database: row.get(0),
        major: row.get(1),
        installed: row.get(2),
        available: row.get(3),
    })
}

/// Whether knowledge can be used with `space`, read without changing anything.
#[tracing::instrument(skip_all)]
pub async fn knowledge_state(
    db: &impl GenericClient,
    space: &EmbeddingSpace,
) -> Result<KnowledgeState, StoreError> {
    let ext = extension(db).await?;
    if !ext.installed {
        return Ok(if ext.available {
            KnowledgeState::NotEnabled {
                database: ext.database,
            }
        } else {
            KnowledgeState::NoExtension { major: ext.major }
        });
    }
    let applied = HISTORY.applied_versions(db).await?;
    let pending = embedded::migrations::runner()
        .get_migrations()
        .iter()
        .any(|m| !applied.contains(&m.version()));
    if pending {
        return Ok(KnowledgeState::NotSetUp);
    }
    Ok(match stored_space(db).await? {
        None => KnowledgeState::NotSetUp,
        Some(stored) if stored == *space => KnowledgeState::Ready,
        Some(stored) => KnowledgeState::OtherSpace {
            stored,
            configured: space.clone(),
        },
    })
}

async fn stored_space(db: &impl GenericClient) -> Result<Option<EmbeddingSpace>, StoreError> {
    let row = db
        .query_opt("SELECT model, dimensions FROM knowledge_embedding", &[])
        .await?;
    Ok(row.map(|r| EmbeddingSpace {
        model: r.get(0),
        dimensions: r.get(1),
    }))
}

/// Sets knowledge up where it can be, under the migration lock: creates the extension if
/// the server has it and the role may, applies knowledge's migrations, and makes the
/// embedding column and its index for `space` the first time. A database already set up
/// for another space is left as it is (`maia docs reembed` changes it). Then says whether
/// knowledge can be used.
pub async fn set_up_knowledge(
    settings: &DatabaseSettings,
    space: &EmbeddingSpace,
) -> Result<KnowledgeState, StoreError> {
    let mut client = connect(settings).await?;
    lock_migrations(&client).await?;
    let state = set_up(&mut client, space).await;
    let unlock = unlock_migrations(&client).await;
    let state = state?;
    unlock?;
    Ok(state)
}

async fn set_up(
    client: &mut tokio_postgres::Client,
    space: &EmbeddingSpace,
) -> Result<KnowledgeState, StoreError> {
    let ext = extension(client).await?;
    if !ext.installed && ext.available {
        // pgvector is not a trusted extension: only a superuser (or a role an
        // administrator allowed) may create it. Anyone else is told how.
        match client
            .batch_execute("CREATE EXTENSION IF NOT EXISTS vector")
            .await
        {
            Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                return knowledge_state(client, space).await
            }
            other => other?,
        }
    }
    if !ext.installed && !ext.available {
        return knowledge_state(client, space).await;
    }
    HISTORY.run(embedded::migrations::runner(), client).await?;
    let tx = client.transaction().await?;
    let stored = tx
        .query_opt(
            "SELECT model, dimensions FROM knowledge_embedding FOR UPDATE",
            &[],
        )
        .await?;
    if stored.is_none() {
        make_space(&tx, space).await?;
        tracing::info!(
            model = space.model,
            dimensions = space.dimensions,
            "knowledge set up"
        );
    }
    tx.commit().await?;
    knowledge_state(client, space).await
}

/// Sets knowledge up for `space` in place of the one it was set up for, under the migration
/// lock, in one transaction: the embedding column and its index made again, every
/// embedding dropped (they are another model's; `maia docs reembed` makes the new ones).
pub async fn adopt_space(
    settings: &DatabaseSettings,
    space: &EmbeddingSpace,
) -> Result<(), StoreError> {
    let mut client = connect(settings).await?;
    lock_migrations(&client).await?;
    let adopted = async {
        let tx = client.transaction().await?;
        make_space(&tx, space).await?;
        tx.commit().await?;
        Ok::<_, StoreError>(())
    }
    .await;
    let unlock = unlock_migrations(&client).await;
    adopted?;
    unlock?;
    tracing::info!(
        model = space.model,
        dimensions = space.dimensions,
        "knowledge set up for another embedding model; every chunk waits to be embedded again"
    );
    Ok(())
}

/// Makes the embedding column `vector(dimensions)` with its HNSW index (cosine distance;
/// `ef_construction` twice pgvector's default: the graph costs more to build and finds
/// the nearest chunks more often, which the bench's recall@10 needed), and records `space`. Every embedding there was is dropped: they are another space's.
async fn make_space(db: &impl GenericClient, space: &EmbeddingSpace) -> Result<(), StoreError> {
    let dimensions = space.dimensions;
    db.batch_execute(&format!(
        "DROP INDEX IF EXISTS chunks_embedding;\n\
         UPDATE chunks SET embedding = NULL WHERE embedding IS NOT NULL;\n\
         ALTER TABLE chunks ALTER COLUMN embedding TYPE vector({dimensions});\n\
         CREATE INDEX chunks_embedding ON chunks USING hnsw (embedding vector_cosine_ops) \
         WITH (m = 16, ef_construction = 128);"
    ))
    .await?;
    db.execute(
        "INSERT INTO knowledge_embedding (model, dimensions) VALUES ($1, $2) \
         ON CONFLICT (only_row) DO UPDATE SET model = EXCLUDED.model, \
         dimensions = EXCLUDED.dimensions",
        &[&space.model, &space.dimensions],
    )
    .await?;
    Ok(())
}
