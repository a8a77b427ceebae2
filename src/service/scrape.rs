//! What `GET /metrics` answers: the metrics counted as maia works, with the database's
//! pool and schema read at the scrape.

use super::services::Services;
use crate::metrics::PoolState;
use crate::store;

impl Services {
    /// Every metric in the text exposition format. A database that does not answer leaves
    /// the migrations' gauges as last read: the scrape itself must not fail with it.
    pub async fn metrics_text(&self) -> Vec<u8> {
        // Read before the connection below is taken, which would count as in use.
        let pool = self.db.status();
        self.metrics.set_pool(PoolState {
            max: pool.max_size,
            open: pool.size,
            in_use: pool.size.saturating_sub(pool.available),
            waiting: pool.waiting,
        });
        let status = self
            .db
            .bounded(async { store::migration_status(&**self.db.conn().await?).await })
            .await;
        match status {
            Ok(status) => self
                .metrics
                .set_migrations(status.applied.len(), status.pending.len()),
            Err(e) => tracing::debug!(error = %e, "metrics: the migrations could not be read"),
        }
        self.metrics.render()
    }
}
