//! `personas`: the system prompts a question can be asked with.

use serde::Serialize;
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
