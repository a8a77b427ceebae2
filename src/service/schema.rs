//! Whether the database's schema is this binary's. Every data route needs it: on a
//! database with migrations pending (or a newer maia's), they would fail one by one with
//! errors that say nothing useful. Checked at most once every few seconds, by one request
//! at a time.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use super::error::ServiceError;
use crate::store::{self, Db, SchemaMismatch, StoreError};

/// How long a schema found current is trusted (a newer maia may migrate it meanwhile).
const CURRENT_FOR: Duration = Duration::from_secs(5);
/// How soon a mismatch is looked at again: `maia migrate` should take effect at once.
const MISMATCH_FOR: Duration = Duration::from_secs(1);

type Verdict = Option<SchemaMismatch>;

#[derive(Default)]
pub(super) struct SchemaWatch {
    last: RwLock<Option<(Instant, Verdict)>>,
    checking: tokio::sync::Mutex<()>,
}

impl SchemaWatch {
    fn fresh(&self) -> Option<Verdict> {
        let last = self.last.read().unwrap_or_else(|e| e.into_inner());
        let (at, verdict) = last.as_ref()?;
        let trusted_for = if verdict.is_none() {
            CURRENT_FOR
        } else {
            MISMATCH_FOR
        };
        (at.elapsed() < trusted_for).then(|| verdict.clone())
    }

    fn remember(&self, verdict: Verdict) {
        *self.last.write().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), verdict));
    }
}

impl SchemaWatch {
    /// Ok when the database's schema is exactly this binary's; otherwise what to do about
    /// it. A database that cannot be asked is reported as such.
    pub async fn require_current(&self, db: &Db) -> Result<(), ServiceError> {
        let verdict = match self.fresh() {
            Some(verdict) => verdict,
            None => self.check(db).await?,
        };
        verdict.map_or(Ok(()), |m| Err(StoreError::Schema(m).into()))
    }

    async fn check(&self, db: &Db) -> Result<Verdict, StoreError> {
        let _one_at_a_time = self.checking.lock().await;
        if let Some(verdict) = self.fresh() {
            return Ok(verdict);
        }
        let status = db
            .bounded(async { store::migration_status(&**db.conn().await?).await })
            .await?;
        let verdict = status.mismatch();
        if let Some(mismatch) = &verdict {
            tracing::warn!("{mismatch}");
        }
        self.remember(verdict.clone());
        Ok(verdict)
    }
}
