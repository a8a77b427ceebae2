//! Questions being answered. A question leaves this register once its trace is stored (or
//! could not be); one still here when the server has stopped was cut off by the shutdown,
//! and is stored as failed then, so that no question is lost without a word.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use uuid::Uuid;

use super::asked::Asked;

/// A question asked and not yet answered, with what its trace needs.
#[derive(Debug, Clone)]
pub(super) struct Unanswered {
    pub asked: Asked,
    pub started: Instant,
}

/// Questions in flight, by trace id. Bounded by the requests in flight, which the
/// connection caps and the model's queue bound.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    open: Mutex<HashMap<Uuid, Unanswered>>,
}

impl InFlight {
    pub fn register(&self, id: Uuid, question: Unanswered) {
        self.lock().insert(id, question);
    }

    /// Its trace is stored, or storing it failed and was reported: nothing left to do.
    pub fn finish(&self, id: Uuid) {
        self.lock().remove(&id);
    }

    /// Every question left, emptying the register.
    pub fn take_all(&self) -> Vec<(Uuid, Unanswered)> {
        self.lock().drain().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Unanswered>> {
        // A panic elsewhere while holding it leaves a map that is still whole.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}
