//! The personas a question can be asked with: listed, added, rewritten and deleted by the
//! owner, and the shipped ones restored (`maia personas reset`).

use super::error::ServiceError;
use super::services::Services;
use crate::domain::{NewPersona, PersonaName, PersonaText, ShippedPersona, SHIPPED_PERSONAS};
use crate::store::{self, Db, Persona};

impl Services {
    pub async fn personas(&self) -> Result<Vec<Persona>, ServiceError> {
        let work = async { store::list_personas(&**self.db.conn().await?).await };
        Ok(self.db.bounded(work).await?)
    }

    /// Adds a persona; its name must be free.
    pub async fn create_persona(&self, new: NewPersona) -> Result<Persona, ServiceError> {
        let persona = row(&new.name, new.text);
        let work = async { store::insert_persona(&**self.db.conn().await?, &persona).await };
        if self.db.bounded(work).await? {
            tracing::info!(persona = %persona.name, "persona added");
            Ok(persona)
        } else {
            Err(ServiceError::Conflict(format!(
                "a persona named {:?} exists already; change it with PUT /api/personas/{}",
                persona.name, persona.name
            )))
        }
    }

    /// Gives a persona (a shipped one too) new text.
    pub async fn replace_persona(
        &self,
        name: &PersonaName,
        text: PersonaText,
    ) -> Result<Persona, ServiceError> {
        let persona = row(name, text);
        let work = async { store::replace_persona(&**self.db.conn().await?, &persona).await };
        if self.db.bounded(work).await? {
            tracing::info!(persona = %persona.name, "persona rewritten");
            Ok(persona)
        } else {
            Err(no_such_persona(name))
        }
    }

    /// Deletes a persona. The traces and conversations that name it keep its name: the
    /// history reads as it was, and a conversation asked again must first be given
    /// another persona (until then its questions are refused as naming an unknown one).
    pub async fn delete_persona(&self, name: &PersonaName) -> Result<(), ServiceError> {
        let work = async { store::delete_persona(&**self.db.conn().await?, name.as_str()).await };
        if self.db.bounded(work).await? {
            tracing::info!(persona = name.as_str(), "persona deleted");
            Ok(())
        } else {
            Err(no_such_persona(name))
        }
    }
}

/// Restores the shipped personas to their shipped text, adding back those deleted, in one
/// transaction; other personas stay as they are. The names of those it changed.
pub async fn reset_shipped_personas(db: &Db) -> Result<Vec<&'static str>, ServiceError> {
    let work = async {
        let mut conn = db.conn().await?;
        let tx = conn.transaction().await?;
        let mut restored = Vec::new();
        for shipped in &SHIPPED_PERSONAS {
            if store::restore_persona(&*tx, &shipped_row(shipped)).await? {
                restored.push(shipped.name);
            }
        }
        tx.commit().await?;
        Ok(restored)
    };
    Ok(db.bounded(work).await?)
}

fn row(name: &PersonaName, text: PersonaText) -> Persona {
    Persona {
        name: name.as_str().to_string(),
        display_name: text.display_name,
        description: text.description,
        system_prompt: text.system_prompt,
    }
}

fn shipped_row(shipped: &ShippedPersona) -> Persona {
    Persona {
        name: shipped.name.to_string(),
        display_name: shipped.display_name.to_string(),
        description: shipped.description.to_string(),
        system_prompt: shipped.system_prompt.to_string(),
    }
}

fn no_such_persona(name: &PersonaName) -> ServiceError {
    ServiceError::NotFound(format!(
        "no persona named {:?} (GET /api/personas lists them)",
        name.as_str()
    ))
}
