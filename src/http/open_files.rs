//! The open-files limit the connection caps need. Each connection takes up to three
//! descriptors (its socket, the duplicate that watches for the client leaving, and the one
//! a question being answered watches); the pool, the probes' connection, the calls to
//! Ollama and the server's own take the rest. Below that, accepting fails with "Too many
//! open files" while the caps still allow connections.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

use crate::config::Settings;

/// Descriptors besides connections and the pool: the listener, the runtime's, the log,
/// Ollama's connections, a migration's.
const HEADROOM: u64 = 64;
/// Descriptors a connection may hold: see the top of this file.
const PER_CONNECTION: u64 = 3;

/// How many descriptors `settings` may need at once.
pub fn needed(settings: &Settings) -> u64 {
    let connections = settings.http.max_connections as u64;
    PER_CONNECTION * connections
        + settings.database.pool_size as u64
        + 1
        + settings.ollama.max_concurrent as u64
        + HEADROOM
}

/// The soft limit to raise to, if any: the need, or the hard limit when that is lower.
/// `None` in a limit is "unlimited".
fn raise_to(limit: &Rlimit, needed: u64) -> Option<u64> {
    let current = limit.current.unwrap_or(u64::MAX);
    let target = needed.min(limit.maximum.unwrap_or(u64::MAX));
    (target > current).then_some(target)
}

/// Raises the soft open-files limit to what the settings need, within the hard limit,
/// and warns when that is not enough, saying what to change.
pub fn ensure_enough(settings: &Settings) {
    let needed = needed(settings);
    let limit = getrlimit(Resource::Nofile);
    let mut have = limit.current.unwrap_or(u64::MAX);
    if let Some(target) = raise_to(&limit, needed) {
        let raised = Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                tracing::info!(from = have, to = target, "raised the open-files limit");
                have = target;
            }
            Err(e) => tracing::warn!(error = %e, "cannot raise the open-files limit"),
        }
    }
    if have < needed {
        tracing::warn!(
            "the open-files limit is {have}, below the {needed} that http.max_connections = {} \
             needs (three per connection, plus the pool and Ollama's); raise it (LimitNOFILE, \
             `ulimit -n`, a container's nofile ulimit) or lower http.max_connections",
            settings.http.max_connections
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(current: Option<u64>, maximum: Option<u64>) -> Rlimit {
        Rlimit { current, maximum }
    }

    #[test]
    fn a_low_soft_limit_is_raised_to_the_need_within_the_hard_one() {
        assert_eq!(raise_to(&limit(Some(4096), Some(4096)), 1109), None);
        assert_eq!(raise_to(&limit(None, None), 1109), None);
        assert_eq!(
            raise_to(&limit(Some(1024), Some(524_288)), 1109),
            Some(1109)
        );
        assert_eq!(raise_to(&limit(Some(1024), None), 1109), Some(1109));
        assert_eq!(raise_to(&limit(Some(256), Some(512)), 1109), Some(512));
        assert_eq!(raise_to(&limit(Some(256), Some(256)), 1109), None);
    }

    #[test]
    fn the_defaults_need_three_descriptors_per_connection_and_the_rest() {
        let settings = Settings::default();
        assert_eq!(needed(&settings), 3 * 512 + 16 + 1 + 4 + HEADROOM);
    }
}
