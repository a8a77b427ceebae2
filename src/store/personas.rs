//! `personas`: the system prompts a question can be asked with.

use serde::Serialize;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};
use utoipa::ToSchema;

use super::error::StoreError;

/// A way of answering: a system prompt under a name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Persona {
    /// What a question names as its `persona`.
    #[schema(example = "socratic")]
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub system_prompt: String,
}

impl From<&Row> for Persona {
    fn from(row: &Row) -> Self {
        Self {
            name: row.get("name"),
            display_name: row.get("display_name"),
            description: row.get("description"),
            system_prompt: row.get("system_prompt"),
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn list_personas(db: &impl GenericClient) -> Result<Vec<Persona>, StoreError> {
    let rows = db
        .query(
            "SELECT name, display_name, description, system_prompt FROM personas ORDER BY name",
            &[],
        )
        .await?;
    Ok(rows.iter().map(Persona::from).collect())
}

#[tracing::instrument(skip_all)]
pub async fn find_persona(
    db: &impl GenericClient,
    name: &str,
) -> Result<Option<Persona>, StoreError> {
    let row = db
        .query_opt(
            "SELECT name, display_name, description, system_prompt FROM personas WHERE name = $1",
            &[&name],
        )
        .await?;
    Ok(row.as_ref().map(Persona::from))
}

/// `persona`'s columns, in the order each statement below names them.
fn columns(persona: &Persona) -> [&(dyn ToSql + Sync); 4] {
    [
        &persona.name,
        &persona.display_name,
        &persona.description,
        &persona.system_prompt,
    ]
}

/// Adds `persona`; false when one of its name exists already.
#[tracing::instrument(skip_all)]
pub async fn insert_persona(
    db: &impl GenericClient,
    persona: &Persona,
) -> Result<bool, StoreError> {
    let row = db
        .query_opt(
            "INSERT INTO personas (name, display_name, description, system_prompt) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING RETURNING name",
            &columns(persona),
        )
        .await?;
    Ok(row.is_some())
}

/// Gives the persona of `persona.name` its text; false when there is none of that name.
#[tracing::instrument(skip_all)]
pub async fn replace_persona(
    db: &impl GenericClient,
    persona: &Persona,
) -> Result<bool, StoreError> {
    let n = db
        .execute(
            "UPDATE personas SET display_name = $2, description = $3, system_prompt = $4 \
             WHERE name = $1",
            &columns(persona),
        )
        .await?;
    Ok(n > 0)
}

/// Returns whether a persona was deleted. Traces and conversations name their persona
/// as text, with no foreign key: they keep the name.
#[tracing::instrument(skip_all)]
pub async fn delete_persona(db: &impl GenericClient, name: &str) -> Result<bool, StoreError> {
    let n = db
        .execute("DELETE FROM personas WHERE name = $1", &[&name])
        .await?;
    Ok(n > 0)
}

/// Makes the persona of `persona.name` exactly `persona`, adding it if it is gone; true
/// when that changed anything.
#[tracing::instrument(skip_all)]
pub async fn restore_persona(
    db: &impl GenericClient,
    persona: &Persona,
) -> Result<bool, StoreError> {
    let row = db
        .query_opt(
            "INSERT INTO personas (name, display_name, description, system_prompt) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET display_name = EXCLUDED.display_name, \
             description = EXCLUDED.description, system_prompt = EXCLUDED.system_prompt \
             WHERE (personas.display_name, personas.description, personas.system_prompt) \
             IS DISTINCT FROM \
             (EXCLUDED.display_name, EXCLUDED.description, EXCLUDED.system_prompt) \
             RETURNING name",
            &columns(persona),
        )
        .await?;
    Ok(row.is_some())
}
