//! The personas a question can be asked with.

use super::error::ServiceError;
use super::services::Services;
use crate::store::{self, Persona};

impl Services {
    pub async fn personas(&self) -> Result<Vec<Persona>, ServiceError> {
        let work = async { store::list_personas(&**self.db.conn().await?).await };
        Ok(self.db.bounded(work).await?)
    }
}
