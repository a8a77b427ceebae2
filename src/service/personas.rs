//! The personas a question can be asked with.

use super::error::ServiceError;
use super::services::Services;
use crate::store::{self, Persona};

impl Services {
    pub async fn personas(&self) -> Result<Vec<Persona>, ServiceError> {
        let db = self.db.conn().await?;
        Ok(store::list_personas(&**db).await?)
    }
}
