//! Retention: traces older than `retention.traces_days` and conversations idle for longer
//! than `retention.conversations_days` are deleted, in batches of one short transaction
//! each, by `maia serve` every `retention.interval_seconds` and by `maia purge`.
//!
//! A conversation goes as `DELETE /api/conversations/{id}` takes it: its messages and the
//! traces of its exchanges with it. A trace that expires while its conversation is kept
//! leaves the conversation whole: its answer's message keeps its text, only the link to
//! the trace (and so the answer's status) goes.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::RetentionSettings;
use crate::store::{self, Db, Expiring, Owner, StoreError};

/// The longest one purge runs; what is left goes at the next.
pub const RUN_BUDGET: Duration = Duration::from_secs(120);
/// How long after start the first purge of `maia serve` comes (sooner if the interval is
/// shorter): not in the middle of a start, nor never for a server restarted every hour.
pub const FIRST_RUN_AFTER: Duration = Duration::from_secs(60);

/// What retention keeps, and how it purges.
#[derive(Clone)]
pub struct Retention {
    db: Db,
    /// Validated by the settings: 0 (forever) to 36500.
    traces_days: i64,
    conversations_days: i64,
    /// At least 1.
    batch_size: i64,
    interval: Duration,
}

/// The moments before which things go (none: kept forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    pub traces: Option<DateTime<Utc>>,
    pub conversations: Option<DateTime<Utc>>,
}

/// What one purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub conversations: u64,
    pub messages: u64,
    /// Those made before their cutoff, and those of the conversations that went.
    pub traces: u64,
    /// Transactions it took.
    pub batches: u64,
    /// Whether it got to the end within [`RUN_BUDGET`].
    pub complete: bool,
}

impl Retention {
    pub fn new(db: Db, settings: &RetentionSettings) -> Self {
        Self {
            db,
            traces_days: settings.traces_days,
            conversations_days: settings.conversations_days,
            batch_size: settings.batch_size.max(1),
            interval: Duration::from_secs(settings.interval_seconds.unsigned_abs().max(1)),
        }
    }

    /// Whether anything expires at all.
    pub fn is_set(&self) -> bool {
        self.traces_days > 0 || self.conversations_days > 0
    }

    /// The cutoffs as of `now`.
    pub fn cutoffs(&self, now: DateTime<Utc>) -> Cutoffs {
        let before = |days: i64| (days > 0).then(|| now - chrono::Duration::days(days));
        Cutoffs {
            traces: before(self.traces_days),
            conversations: before(self.conversations_days),
        }
    }

    /// What a purge would delete now, deleting nothing.
    pub async fn expiring(&self) -> Result<(Cutoffs, Expiring), StoreError> {
        let cutoffs = self.cutoffs(Utc::now());
        let work = async {
            let db = self.db.conn().await?;
            store::count_expiring(&**db, cutoffs.traces, cutoffs.conversations).await
        };
        Ok((cutoffs, self.db.bounded(work).await?))
    }

    /// Deletes what has expired, batch by batch, for at most [`RUN_BUDGET`]: conversations
    /// first (with their traces), then the remaining old traces.
    pub async fn purge(&self) -> Result<(Cutoffs, Purged), StoreError> {
        let cutoffs = self.cutoffs(Utc::now());
        let deadline = Instant::now() + RUN_BUDGET;
        let mut purged = Purged::default();
        let mut complete = true;
        if let Some(cutoff) = cutoffs.conversations {
            complete &= self
                .purge_conversations(cutoff, deadline, &mut purged)
                .await?;
        }
        if let Some(cutoff) = cutoffs.traces {
            complete &= self.purge_traces(cutoff, deadline, &mut purged).await?;
        }
        purged.complete = complete;
        Ok((cutoffs, purged))
    }

    /// Whether every idle conversation went before `deadline`.
    async fn purge_conversations(
        &self,
        cutoff: DateTime<Utc>,
        deadline: Instant,
        purged: &mut Purged,
    ) -> Result<bool, StoreError> {
        while Instant::now() < deadline {
            let (conversations, messages, traces) =
                self.db.bounded(self.conversation_batch(cutoff)).await?;
            purged.conversations += conversations;
            purged.messages += messages;
            purged.traces += traces;
            purged.batches += 1;
            if conversations < self.batch_size.unsigned_abs() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// One batch of idle conversations, deleted with their messages and traces in one
    /// transaction, as `DELETE /api/conversations/{id}` does: how many of each.
    async fn conversation_batch(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<(u64, u64, u64), StoreError> {
        let mut conn = self.db.conn().await?;
        let tx = conn.transaction().await?;
        let idle = store::lock_idle_conversations(&*tx, cutoff, self.batch_size).await?;
        let traces = store::delete_conversation_traces(&*tx, &idle.ids, Owner::Anyone).await?;
        let conversations = store::delete_conversations(&*tx, &idle.ids, Owner::Anyone).await?;
        tx.commit().await?;
        Ok((conversations, idle.messages, traces))
    }

    /// Whether every old trace went before `deadline`.
    async fn purge_traces(
        &self,
        cutoff: DateTime<Utc>,
        deadline: Instant,
        purged: &mut Purged,
    ) -> Result<bool, StoreError> {
        while Instant::now() < deadline {
            let work = async {
                let db = self.db.conn().await?;
                store::delete_traces_before(&**db, cutoff, self.batch_size).await
            };
            let traces = self.db.bounded(work).await?;
            purged.traces += traces;
            purged.batches += 1;
            if traces < self.batch_size.unsigned_abs() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Purges every interval, the first time [`FIRST_RUN_AFTER`] start (or one interval,
    /// if shorter), until stopped; nothing when nothing expires. A failed purge is logged
    /// and tried again at the next interval.
    pub fn spawn(self) -> RetentionJob {
        let (stop, mut stopped) = watch::channel(false);
        let stop = Arc::new(stop);
        let task = tokio::spawn(async move {
            if !self.is_set() {
                return;
            }
            let mut next = Instant::now() + FIRST_RUN_AFTER.min(self.interval);
            loop {
                tokio::select! {
                    _ = stopped.wait_for(|stop| *stop) => return,
                    () = self.run_at(next) => {}
                }
                next = Instant::now() + self.interval;
            }
        });
        RetentionJob { stop, task }
    }

    /// Waits for `at`, purges, and logs what went.
    async fn run_at(&self, at: Instant) {
        tokio::time::sleep_until(at).await;
        match self.purge().await {
            Ok((_, purged)) => log_purged(&purged),
            Err(e) => tracing::warn!(
                error = %e,
                "retention: the purge failed; it is tried again in {} s",
                self.interval.as_secs()
            ),
        }
    }
}

/// The log line of a purge: counts per kind. A purge that found nothing says so at debug,
/// not every hour at info.
fn log_purged(purged: &Purged) {
    if purged.conversations == 0 && purged.traces == 0 {
        tracing::debug!(batches = purged.batches, "retention: nothing to purge");
        return;
    }
    tracing::info!(
        conversations = purged.conversations,
        messages = purged.messages,
        traces = purged.traces,
        batches = purged.batches,
        complete = purged.complete,
        "retention: purged {} conversation(s) with {} message(s), and {} trace(s)",
        purged.conversations,
        purged.messages,
        purged.traces
    );
}

/// The purge of a running server; [`RetentionJob::stop`] ends it, a batch in progress
/// rolled back.
pub struct RetentionJob {
    stop: Arc<watch::Sender<bool>>,
    task: JoinHandle<()>,
}

impl RetentionJob {
    /// Stops the job from elsewhere (a signal's handler), without waiting for it.
    pub fn stopper(&self) -> impl Fn() + Send + Sync + 'static {
        let stop = Arc::clone(&self.stop);
        move || {
            stop.send_replace(true);
        }
    }

    /// Stops the job and waits for it to end.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}
