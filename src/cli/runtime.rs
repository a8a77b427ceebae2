//! What the commands that are not the server share: a small runtime, and the database.

use anyhow::bail;

use crate::config::Settings;
use crate::store::{self, Db};

/// A small runtime for commands that are not the server.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime can always be built on a supported platform")
}

/// The pool, once the database's schema is known to be this binary's.
pub async fn migrated_database(settings: &Settings) -> anyhow::Result<Db> {
    let client = store::connect(&settings.database).await?;
    let status = store::migration_status(&client).await?;
    if let Some(mismatch) = status.mismatch() {
        bail!("{mismatch}");
    }
    Ok(Db::new(&settings.database)?)
}
