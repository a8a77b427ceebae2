//! At most `ollama.max_concurrent` calls to Ollama at once, at most `ollama.max_queue`
//! waiting for a slot, and none waiting longer than the model may stay silent: past that,
//! "busy" at once, rather than a pile of calls that all time out.
//!
//! One gate for all the Ollama servers (`ollama.urls`): which server a call goes to is
//! chosen after it has a slot (`llm::hosts`). A gate per server would let a slow one hold
//! calls that another could answer; the operator raises `ollama.max_concurrent` to what
//! the servers take together.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::llm::LlmError;

pub struct LlmGate {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_queue: usize,
    max_wait: Duration,
}

impl LlmGate {
    pub fn new(max_concurrent: usize, max_queue: usize, max_wait: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_concurrent)),
            waiting: AtomicUsize::new(0),
            max_queue,
            max_wait,
        }
    }

    /// A slot, held until the permit is dropped (a streamed answer's task holds it).
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, LlmError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(LlmError::Busy);
        }
        let permit = tokio::time::timeout(self.max_wait, self.slots.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match permit {
            Ok(Ok(permit)) => Ok(permit),
            // Timed out in the queue, or the semaphore was closed (never done).
            _ => Err(LlmError::Busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_the_slots_and_the_queue_it_is_busy_at_once() {
        let gate = LlmGate::new(2, 1, Duration::from_secs(5));
        let first = gate.enter().await.unwrap();
        let _second = gate.enter().await.unwrap();
        let queued = gate.enter();
        tokio::pin!(queued);
        // The third waits in the queue...
        assert!(tokio::time::timeout(Duration::from_millis(50), &mut queued)
            .await
            .is_err());
        // ...so the fourth finds the queue full.
        assert!(matches!(gate.enter().await, Err(LlmError::Busy)));
        drop(first);
        assert!(queued.await.is_ok(), "a freed slot goes to the queue");
    }

    #[tokio::test]
    async fn nobody_waits_longer_than_the_limit() {
        let gate = LlmGate::new(1, 10, Duration::from_millis(50));
        let _held = gate.enter().await.unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(gate.enter().await, Err(LlmError::Busy)));
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
